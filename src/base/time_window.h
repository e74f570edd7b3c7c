#pragma once

// A recurring or fixed period of time, written as text in configuration: a sandbox tenant's
// maintenance windows, a site's maintenance and read-only windows. Either a weekly schedule in
// UTC ("Sun 02:00-04:00", "Mon-Fri 23:30-00:30", "Sat,Sun 00:00-24:00", "daily 03:00-03:15", or
// just "03:00-03:15"; an end at or before the start is on the next day), or a fixed interval
// between two FHIR instants ("2026-05-01T10:00:00Z/2026-05-01T12:00:00Z").

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace fhirbridge::base {

class TimeWindow {
 public:
  // Fails with kConfigInvalid; the diagnostic says what is wrong without repeating the text.
  static Result<TimeWindow> Parse(std::string_view text);

  // The instant the window ends, if `now` is inside it.
  std::optional<SystemTime> EndIfActive(SystemTime now) const;
  // The text it was parsed from.
  const std::string& text() const { return text_; }

 private:
  TimeWindow() = default;

  std::string text_;
  bool weekly_ = false;
  std::array<bool, 7> days_{};     // by weekday, 0 = Sunday
  std::chrono::minutes start_{0};  // after midnight UTC
  std::chrono::minutes end_{0};    // after midnight UTC; at or before start_: on the next day
  SystemTime from_{};
  SystemTime until_{};
};

}  // namespace fhirbridge::base
