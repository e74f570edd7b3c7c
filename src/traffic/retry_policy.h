#pragma once

// When to repeat a request to a site, and after how long.
//
// Only requests that are safe to repeat are retried: reads (GET, HEAD, a search by POST to
// _search) and writes made idempotent (a conditional create with If-None-Exist, an update or
// delete with If-Match, or any request the caller marks idempotent). Only failures that a repeat
// can cure are retried: no response (refused, reset, cut off, timed out) and 429, 500, 502, 503,
// 504. The wait is exponential back-off with full jitter (a uniform draw between zero and the
// exponential ceiling), or the site's Retry-After when it gave one; attempts and the total time
// are both bounded.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "http/message.h"

namespace fhirbridge::traffic {

struct RetrySettings {
  int max_attempts = 4;  // first attempt included; 1 turns retries off
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10000};
  // The most time a request may take, waits and attempts together, from its first attempt.
  std::chrono::milliseconds max_total{30000};
};

// kInvalidParameter naming the first setting out of range.
base::Status ValidateRetrySettings(const RetrySettings& settings);

// True for a request that may be sent twice without a second effect. `path` is the URL path
// (no query); `marked_idempotent` is the caller's word that a repeat is harmless.
bool IsSafeToRepeat(std::string_view method, std::string_view path,
                    const std::vector<http::Header>& headers, bool marked_idempotent);

// True for the statuses a repeat can cure: 429, 500, 502, 503, 504.
bool IsRetryableStatus(int status);

// The wait a Retry-After value asks for, from `now`: delta-seconds ("120") or an HTTP date.
// A date in the past gives zero. Nothing for a value that is neither.
std::optional<base::Clock::Duration> ParseRetryAfter(std::string_view value, base::SystemTime now);

class RetryPolicy {
 public:
  // `settings` must pass ValidateRetrySettings (asserted). A fixed `seed` makes the jitter
  // repeatable (tests); otherwise it is seeded from the system's random source.
  explicit RetryPolicy(RetrySettings settings, std::optional<std::uint64_t> seed = std::nullopt);

  // The full-jitter wait before attempt `next_attempt` (2 for the first retry): uniform in
  // [0, min(max_backoff, initial_backoff * 2^(next_attempt - 2))].
  base::Clock::Duration Backoff(int next_attempt);

  // The wait before attempt `next_attempt`, or nothing when the request must not be tried again:
  // attempts used up, or the wait (Retry-After if given, else Backoff) would end after the
  // total time allowed, counted from the first attempt's start (`elapsed` is the time since).
  std::optional<base::Clock::Duration> NextDelay(int next_attempt, base::Clock::Duration elapsed,
                                                 std::optional<base::Clock::Duration> retry_after);

  const RetrySettings& settings() const { return settings_; }

 private:
  const RetrySettings settings_;
  std::mutex mutex_;
  std::mt19937_64 random_;
};

}  // namespace fhirbridge::traffic
