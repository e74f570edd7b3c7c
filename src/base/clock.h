#pragma once

// Time helpers. FHIR instants are written in UTC with millisecond precision
// ("2026-12-03T15:52:57.123Z") so that they sort as text.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fhirbridge::base {

using SystemTime = std::chrono::system_clock::time_point;

// Formats `time` as a FHIR instant in UTC with milliseconds.
std::string FormatInstant(SystemTime time);

// Formats `time` as an RFC 7231 HTTP date ("Thu, 03 Dec 2026 15:52:57 GMT").
std::string FormatHttpDate(SystemTime time);

// Parses a FHIR instant or dateTime with a time zone ("2026-12-03T15:52:57Z",
// "2026-12-03T16:52:57.5+01:00"); a date alone ("2026-12-03") means its first instant in UTC.
// Returns nothing for any other text, and for years outside 1700..2200 (the range the clock
// can represent, with margin).
std::optional<SystemTime> ParseInstant(std::string_view text);

// Parses an RFC 7231 HTTP date in its preferred form ("Thu, 03 Dec 2026 15:52:57 GMT").
std::optional<SystemTime> ParseHttpDate(std::string_view text);

// Where code that waits or measures time gets it from, so that tests can replace time with a
// clock they move by hand. Thread safety: implementations may be called from any thread.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  // Monotonic time, for intervals and deadlines.
  virtual TimePoint Now() const = 0;
  // Calendar time, for HTTP dates such as Retry-After.
  virtual SystemTime WallNow() const = 0;
  // Blocks the calling thread for `duration` (nothing when it is zero or negative).
  virtual void SleepFor(Duration duration) = 0;

  // The process's real clock.
  static Clock& Real();
};

// A clock that moves only when told: SleepFor advances it instead of blocking, so code that
// waits runs instantly and deterministically in tests. Starts at an arbitrary fixed instant.
class ManualClock final : public Clock {
 public:
  TimePoint Now() const override;
  SystemTime WallNow() const override;
  void SleepFor(Duration duration) override;
  void Advance(Duration duration);
  // Everything slept so far through SleepFor.
  Duration TotalSlept() const;

 private:
  std::atomic<std::int64_t> elapsed_nanoseconds_{0};
  std::atomic<std::int64_t> slept_nanoseconds_{0};
};

}  // namespace fhirbridge::base
