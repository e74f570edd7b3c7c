#pragma once

// Civil dates and local times for the synthetic data, in integer arithmetic so that output is
// identical everywhere (no time zone database, no clock). Days count from 1970-01-01 in the
// proleptic Gregorian calendar; instants are seconds since 1970-01-01T00:00:00Z.

#include <cstdint>
#include <string>

namespace fhirbridge::synth {

inline constexpr std::int64_t kSecondsPerDay = 86400;

struct CivilDate {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
};

std::int64_t DaysFromCivil(int year, int month, int day);
CivilDate CivilFromDays(std::int64_t days);

// A US-style time zone: a fixed standard offset, with or without daylight saving time by the
// rules in force since 2007 (second Sunday of March to first Sunday of November, at 02:00).
// Limitation: earlier US rules are not modelled, so times before 2007 in March, April, October
// and November may carry an offset an hour off what the clock on the wall showed then.
struct TimeZone {
  int standard_offset_minutes = -360;
  bool daylight_saving = true;
};

// The UTC offset in minutes that applies at `instant` in `zone`.
int OffsetMinutesAt(const TimeZone& zone, std::int64_t instant);

// The instant at which the wall clock in `zone` shows `seconds_of_day` on `day`.
std::int64_t LocalToInstant(const TimeZone& zone, std::int64_t day, std::int64_t seconds_of_day);

// The civil day on the wall clock in `zone` at `instant`.
std::int64_t LocalDay(const TimeZone& zone, std::int64_t instant);

// Appends "YYYY-MM-DD".
void AppendDate(std::string& out, std::int64_t day);
// Appends "YYYY-MM".
void AppendYearMonth(std::string& out, std::int64_t day);
// Appends "YYYY".
void AppendYear(std::string& out, std::int64_t day);
// Appends "YYYY-MM-DDThh:mm:ss+hh:mm" in `zone`, or without the offset when `with_zone` is false
// (which FHIR forbids; the generator uses it only to inject that defect).
void AppendLocalDateTime(std::string& out, const TimeZone& zone, std::int64_t instant,
                         bool with_zone = true);
// Appends "YYYY-MM-DDThh:mm:ss.mmmZ" with the given milliseconds (0..999).
void AppendUtcInstant(std::string& out, std::int64_t instant, int milliseconds);

}  // namespace fhirbridge::synth
