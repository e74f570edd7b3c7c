#include "traffic/retry_policy.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>

namespace fhirbridge::traffic {
namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

bool HasHeader(const std::vector<http::Header>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [name](const http::Header& header) {
    return EqualsIgnoringCase(header.name, name) && !header.value.empty();
  });
}

}  // namespace

base::Status ValidateRetrySettings(const RetrySettings& settings) {
  if (settings.max_attempts < 1 || settings.max_attempts > 100) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "max_attempts must be 1 to 100.");
  }
  if (settings.initial_backoff.count() < 0 || settings.max_backoff < settings.initial_backoff) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "initial_backoff cannot be negative or above max_backoff.");
  }
  if (settings.max_total.count() <= 0) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "max_total must be positive.");
  }
  return {};
}

bool IsSafeToRepeat(std::string_view method, std::string_view path,
                    const std::vector<http::Header>& headers, bool marked_idempotent) {
  if (marked_idempotent) return true;
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") return true;
  // A search sent as a form is a read.
  if (method == "POST" && path.ends_with("/_search")) return true;
  // A conditional create makes nothing new when it finds its match.
  if (method == "POST" && HasHeader(headers, "if-none-exist")) return true;
  // A versioned update or delete fails with 412 when repeated after it took effect.
  if ((method == "PUT" || method == "DELETE" || method == "PATCH") &&
      HasHeader(headers, "if-match")) {
    return true;
  }
  return false;
}

bool IsRetryableStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<base::Clock::Duration> ParseRetryAfter(std::string_view value, base::SystemTime now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::uint64_t seconds = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    // A value too large to hold is as good as "much later"; a day is more than any retry budget.
    constexpr std::uint64_t kDay = 86400;
    if (error == std::errc::result_out_of_range)
      seconds = kDay;
    else if (error != std::errc() || end != value.data() + value.size())
      return std::nullopt;
    return std::chrono::seconds(std::min(seconds, kDay));
  }
  const std::optional<base::SystemTime> date = base::ParseHttpDate(value);
  if (!date) return std::nullopt;
  if (*date <= now) return base::Clock::Duration::zero();
  return std::chrono::duration_cast<base::Clock::Duration>(*date - now);
}

RetryPolicy::RetryPolicy(RetrySettings settings, std::optional<std::uint64_t> seed)
    : settings_(settings), random_(seed ? *seed : std::random_device{}()) {
  assert(ValidateRetrySettings(settings_).has_value() && "retry settings out of range");
}

base::Clock::Duration RetryPolicy::Backoff(int next_attempt) {
  const int exponent = std::clamp(next_attempt - 2, 0, 40);
  const double ceiling =
      std::min(static_cast<double>(settings_.max_backoff.count()),
               static_cast<double>(settings_.initial_backoff.count()) * std::ldexp(1.0, exponent));
  std::lock_guard lock(mutex_);
  std::uniform_real_distribution<double> draw(0.0, ceiling);
  return std::chrono::duration_cast<base::Clock::Duration>(
      std::chrono::duration<double, std::milli>(draw(random_)));
}

std::optional<base::Clock::Duration> RetryPolicy::NextDelay(
    int next_attempt, base::Clock::Duration elapsed,
    std::optional<base::Clock::Duration> retry_after) {
  if (next_attempt > settings_.max_attempts) return std::nullopt;
  const base::Clock::Duration delay = retry_after ? *retry_after : Backoff(next_attempt);
  if (elapsed + delay >= settings_.max_total) return std::nullopt;
  return delay;
}

}  // namespace fhirbridge::traffic
