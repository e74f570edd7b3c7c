#pragma once

// Time helpers. FHIR instants are written in UTC with millisecond precision
// ("2026-12-03T15:52:57.123Z") so that they sort as text.

#include <chrono>
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

}  // namespace fhirbridge::base
