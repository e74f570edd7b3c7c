#include "base/clock.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <thread>

namespace fhirbridge::base {
namespace {

constexpr int kFirstYear = 1700;
constexpr int kLastYear = 2200;

std::tm BrokenDownUtc(SystemTime time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return parts;
}

// Reads exactly `width` digits at `pos`, advancing it; fails on anything else.
bool ReadDigits(std::string_view text, std::size_t& pos, std::size_t width, int& out) {
  if (pos + width > text.size()) return false;
  const char* begin = text.data() + pos;
  const auto [end, error] = std::from_chars(begin, begin + width, out);
  if (error != std::errc() || end != begin + width) return false;
  pos += width;
  return true;
}

bool Expect(std::string_view text, std::size_t& pos, char wanted) {
  if (pos >= text.size() || text[pos] != wanted) return false;
  ++pos;
  return true;
}

}  // namespace

std::string FormatInstant(SystemTime time) {
  const std::tm parts = BrokenDownUtc(time);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()) % 1000;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(millis.count()));
  return buffer;
}

std::string FormatHttpDate(SystemTime time) {
  const std::tm parts = BrokenDownUtc(time);
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &parts);
  return buffer;
}

std::optional<SystemTime> ParseInstant(std::string_view text) {
  std::size_t pos = 0;
  std::tm parts{};
  int year = 0, month = 0, day = 0;
  if (!ReadDigits(text, pos, 4, year) || !Expect(text, pos, '-') ||
      !ReadDigits(text, pos, 2, month) || !Expect(text, pos, '-') ||
      !ReadDigits(text, pos, 2, day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits, which ends in 2262; years beyond kLastYear are
  // refused rather than wrapped around.
  if (year < kFirstYear || year > kLastYear) return std::nullopt;
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;

  std::chrono::milliseconds fraction{0};
  std::chrono::seconds offset{0};
  if (pos < text.size()) {
    int hour = 0, minute = 0, second = 0;
    if (!Expect(text, pos, 'T') || !ReadDigits(text, pos, 2, hour) || !Expect(text, pos, ':') ||
        !ReadDigits(text, pos, 2, minute) || !Expect(text, pos, ':') ||
        !ReadDigits(text, pos, 2, second)) {
      return std::nullopt;
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    parts.tm_hour = hour;
    parts.tm_min = minute;
    parts.tm_sec = second;

    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      int scale = 100;
      int millis = 0;
      std::size_t digits = 0;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (scale > 0) millis += (text[pos] - '0') * scale;
        scale /= 10;
        ++pos;
        ++digits;
      }
      if (digits == 0) return std::nullopt;
      fraction = std::chrono::milliseconds(millis);
    }

    // A time without a zone is ambiguous; FHIR requires one on instants.
    if (pos >= text.size()) return std::nullopt;
    if (text[pos] == 'Z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      const int sign = text[pos] == '-' ? -1 : 1;
      ++pos;
      int zone_hours = 0, zone_minutes = 0;
      if (!ReadDigits(text, pos, 2, zone_hours) || !Expect(text, pos, ':') ||
          !ReadDigits(text, pos, 2, zone_minutes)) {
        return std::nullopt;
      }
      offset = std::chrono::seconds(sign * (zone_hours * 3600 + zone_minutes * 60));
    } else {
      return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;
  }

  // Calendar arithmetic rather than timegm, which goes through the C library's time zone state
  // on every call (a cost per stored resource). A day past the month's end and a leap second
  // roll over as timegm rolls them.
  const std::chrono::sys_days date =
      std::chrono::sys_days(std::chrono::year(year) / month / 1) + std::chrono::days(day - 1);
  const std::chrono::sys_seconds time = date + std::chrono::hours(parts.tm_hour) +
                                        std::chrono::minutes(parts.tm_min) +
                                        std::chrono::seconds(parts.tm_sec);
  return std::chrono::time_point_cast<SystemTime::duration>(time) - offset + fraction;
}

std::optional<SystemTime> ParseHttpDate(std::string_view text) {
  // "Thu, 03 Dec 2026 15:52:57 GMT": exactly 29 characters.
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  bool known_day = false;
  for (const std::string_view day : kDays) known_day = known_day || text.substr(0, 3) == day;
  if (!known_day) return std::nullopt;

  std::size_t pos = 5;
  std::tm parts{};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, pos, 2, day) || !Expect(text, pos, ' ')) return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (text.substr(pos, 3) == kMonths[i]) month = i;
  }
  if (month < 0) return std::nullopt;
  pos += 3;
  if (!Expect(text, pos, ' ') || !ReadDigits(text, pos, 4, year) || !Expect(text, pos, ' ') ||
      !ReadDigits(text, pos, 2, hour) || !Expect(text, pos, ':') ||
      !ReadDigits(text, pos, 2, minute) || !Expect(text, pos, ':') ||
      !ReadDigits(text, pos, 2, second)) {
    return std::nullopt;
  }
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  if (year < kFirstYear || year > kLastYear) return std::nullopt;
  parts.tm_year = year - 1900;
  parts.tm_mon = month;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const std::time_t seconds = timegm(&parts);
  if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(seconds);
}

namespace {

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  SystemTime WallNow() const override { return std::chrono::system_clock::now(); }
  void SleepFor(Duration duration) override {
    if (duration > Duration::zero()) std::this_thread::sleep_for(duration);
  }
};

// Far enough from the epoch that subtracting an interval never goes below it.
constexpr std::chrono::hours kManualClockStart{24 * 365};
// 2026-01-01T00:00:00Z, so that wall-clock arithmetic in tests is readable.
constexpr std::chrono::seconds kManualWallStart{1767225600};

}  // namespace

Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

Clock::TimePoint ManualClock::Now() const {
  return TimePoint(kManualClockStart) + std::chrono::nanoseconds(elapsed_nanoseconds_.load());
}

SystemTime ManualClock::WallNow() const {
  return SystemTime(kManualWallStart) + std::chrono::duration_cast<SystemTime::duration>(
                                            std::chrono::nanoseconds(elapsed_nanoseconds_.load()));
}

void ManualClock::SleepFor(Duration duration) {
  if (duration <= Duration::zero()) return;
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
  slept_nanoseconds_.fetch_add(nanoseconds);
  elapsed_nanoseconds_.fetch_add(nanoseconds);
}

void ManualClock::Advance(Duration duration) {
  elapsed_nanoseconds_.fetch_add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count());
}

Clock::Duration ManualClock::TotalSlept() const {
  return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(slept_nanoseconds_.load()));
}

}  // namespace fhirbridge::base
