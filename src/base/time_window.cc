#include "base/time_window.h"

#include <algorithm>
#include <cctype>

namespace fhirbridge::base {
namespace {

using std::string_view_literals::operator""sv;

constexpr std::size_t kMaxWindowText = 100;
constexpr std::array kDayNames = {"sun"sv, "mon"sv, "tue"sv, "wed"sv, "thu"sv, "fri"sv, "sat"sv};

std::optional<int> ParseClock(std::string_view text, int max_hour) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (const std::size_t i : {0u, 1u, 3u, 4u}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (minutes > 59 || hours > max_hour || (hours == 24 && minutes != 0)) return std::nullopt;
  return hours * 60 + minutes;
}

std::optional<std::size_t> ParseDay(std::string_view text) {
  if (text.size() != 3) return std::nullopt;
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto found = std::ranges::find(kDayNames, lower);
  if (found == kDayNames.end()) return std::nullopt;
  return static_cast<std::size_t>(found - kDayNames.begin());
}

// "daily", "Sun", "Mon-Fri", "Fri-Mon" (wrapping), "Sat,Sun", "Mon-Wed,Fri".
bool ParseDays(std::string_view text, std::array<bool, 7>& days) {
  if (text == "daily" || text == "*") {
    days.fill(true);
    return true;
  }
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) return false;

    const std::size_t dash = item.find('-');
    const auto first = ParseDay(item.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : ParseDay(item.substr(dash + 1));
    if (!first || !last) return false;
    for (std::size_t day = *first;; day = (day + 1) % 7) {
      days[day] = true;
      if (day == *last) break;
    }
  }
  return std::ranges::any_of(days, [](bool day) { return day; });
}

}  // namespace

Result<TimeWindow> TimeWindow::Parse(std::string_view text) {
  const auto fail = [](std::string what) {
    return Fail(ErrorCode::kConfigInvalid, std::move(what));
  };
  if (text.size() > kMaxWindowText) {
    return fail("is too long for a time window (at most 100 characters)");
  }
  TimeWindow window;
  window.text_ = std::string(text);

  if (const std::size_t slash = text.find('/'); slash != std::string_view::npos) {
    const auto from = ParseInstant(text.substr(0, slash));
    const auto until = ParseInstant(text.substr(slash + 1));
    if (!from || !until) {
      return fail(
          "must be two FHIR instants joined by '/', such as "
          "\"2026-05-01T10:00:00Z/2026-05-01T12:00:00Z\"");
    }
    if (*until <= *from) return fail("ends before it starts");
    window.from_ = *from;
    window.until_ = *until;
    return window;
  }

  std::string_view days = "daily";
  std::string_view times = text;
  if (const std::size_t space = text.find(' '); space != std::string_view::npos) {
    days = text.substr(0, space);
    times = text.substr(space + 1);
  }
  if (!ParseDays(days, window.days_)) {
    return fail(
        "the days must be \"daily\" or day names such as \"Sun\", \"Mon-Fri\" or \"Sat,Sun\"");
  }
  const std::size_t dash = times.find('-');
  const auto start = ParseClock(times.substr(0, dash), 23);
  const auto end =
      dash == std::string_view::npos ? std::nullopt : ParseClock(times.substr(dash + 1), 24);
  if (!start || !end) {
    return fail(
        "must be a time range in UTC such as \"Sun 02:00-04:00\", or two instants joined by "
        "'/'");
  }
  if (*start == *end) {
    return fail("starts and ends at the same time; write 00:00-24:00 for a whole day");
  }
  window.weekly_ = true;
  window.start_ = std::chrono::minutes(*start);
  window.end_ = std::chrono::minutes(*end);
  return window;
}

std::optional<SystemTime> TimeWindow::EndIfActive(SystemTime now) const {
  if (!weekly_) {
    if (now >= from_ && now < until_) return until_;
    return std::nullopt;
  }
  const auto midnight = std::chrono::floor<std::chrono::days>(now);
  const auto since_midnight = now - midnight;
  const unsigned today = std::chrono::weekday(midnight).c_encoding();
  const unsigned yesterday = (today + 6) % 7;
  if (end_ > start_) {
    if (days_[today] && since_midnight >= start_ && since_midnight < end_) return midnight + end_;
    return std::nullopt;
  }
  // The window crosses midnight: it may have started today or yesterday.
  if (days_[today] && since_midnight >= start_) return midnight + std::chrono::days(1) + end_;
  if (days_[yesterday] && since_midnight < end_) return midnight + end_;
  return std::nullopt;
}

}  // namespace fhirbridge::base
