#include "synth/calendar.h"

#include <cassert>

namespace fhirbridge::synth {
namespace {

// Floor division and modulo, for days and seconds before 1970.
std::int64_t FloorDiv(std::int64_t value, std::int64_t divisor) {
  std::int64_t quotient = value / divisor;
  if ((value % divisor != 0) && ((value < 0) != (divisor < 0))) --quotient;
  return quotient;
}

std::int64_t FloorMod(std::int64_t value, std::int64_t divisor) {
  return value - FloorDiv(value, divisor) * divisor;
}

// 0 = Sunday. 1970-01-01 was a Thursday.
int Weekday(std::int64_t day) { return static_cast<int>(FloorMod(day + 4, 7)); }

// The day of the `nth` (1-based) Sunday of `month` in `year`.
std::int64_t NthSunday(int year, int month, int nth) {
  const std::int64_t first = DaysFromCivil(year, month, 1);
  const int offset = (7 - Weekday(first)) % 7;
  return first + offset + 7 * (nth - 1);
}

void AppendDigits(std::string& out, std::int64_t value, int width) {
  char buffer[12];
  for (int i = width - 1; i >= 0; --i) {
    buffer[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buffer, static_cast<std::size_t>(width));
}

}  // namespace

// Howard Hinnant's days_from_civil.
std::int64_t DaysFromCivil(int year, int month, int day) {
  const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
  const std::int64_t era = FloorDiv(y, 400);
  const std::int64_t year_of_era = y - era * 400;
  const std::int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

CivilDate CivilFromDays(std::int64_t days) {
  days += 719468;
  const std::int64_t era = FloorDiv(days, 146097);
  const std::int64_t day_of_era = days - era * 146097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t month_index = (5 * day_of_year + 2) / 153;
  CivilDate date;
  date.day = static_cast<int>(day_of_year - (153 * month_index + 2) / 5 + 1);
  date.month = static_cast<int>(month_index < 10 ? month_index + 3 : month_index - 9);
  date.year = static_cast<int>(year_of_era + era * 400 + (date.month <= 2 ? 1 : 0));
  return date;
}

int OffsetMinutesAt(const TimeZone& zone, std::int64_t instant) {
  if (!zone.daylight_saving) return zone.standard_offset_minutes;
  const std::int64_t standard_offset = zone.standard_offset_minutes * 60LL;
  const std::int64_t local_standard = instant + standard_offset;
  const int year = CivilFromDays(FloorDiv(local_standard, kSecondsPerDay)).year;
  // Both changes happen at 02:00 on the wall clock: 02:00 standard time in March and 02:00
  // daylight time (01:00 standard) in November.
  const std::int64_t starts = NthSunday(year, 3, 2) * kSecondsPerDay + 2 * 3600;
  const std::int64_t ends = NthSunday(year, 11, 1) * kSecondsPerDay + 1 * 3600;
  const bool daylight = local_standard >= starts && local_standard < ends;
  return zone.standard_offset_minutes + (daylight ? 60 : 0);
}

std::int64_t LocalToInstant(const TimeZone& zone, std::int64_t day, std::int64_t seconds_of_day) {
  const std::int64_t wall = day * kSecondsPerDay + seconds_of_day;
  const std::int64_t guess = wall - zone.standard_offset_minutes * 60LL;
  return wall - OffsetMinutesAt(zone, guess) * 60LL;
}

std::int64_t LocalDay(const TimeZone& zone, std::int64_t instant) {
  return FloorDiv(instant + OffsetMinutesAt(zone, instant) * 60LL, kSecondsPerDay);
}

void AppendDate(std::string& out, std::int64_t day) {
  const CivilDate date = CivilFromDays(day);
  AppendDigits(out, date.year, 4);
  out.push_back('-');
  AppendDigits(out, date.month, 2);
  out.push_back('-');
  AppendDigits(out, date.day, 2);
}

void AppendYearMonth(std::string& out, std::int64_t day) {
  const CivilDate date = CivilFromDays(day);
  AppendDigits(out, date.year, 4);
  out.push_back('-');
  AppendDigits(out, date.month, 2);
}

void AppendYear(std::string& out, std::int64_t day) {
  AppendDigits(out, CivilFromDays(day).year, 4);
}

void AppendLocalDateTime(std::string& out, const TimeZone& zone, std::int64_t instant,
                         bool with_zone) {
  const int offset = OffsetMinutesAt(zone, instant);
  const std::int64_t wall = instant + offset * 60LL;
  const std::int64_t day = FloorDiv(wall, kSecondsPerDay);
  const std::int64_t seconds = FloorMod(wall, kSecondsPerDay);
  AppendDate(out, day);
  out.push_back('T');
  AppendDigits(out, seconds / 3600, 2);
  out.push_back(':');
  AppendDigits(out, seconds / 60 % 60, 2);
  out.push_back(':');
  AppendDigits(out, seconds % 60, 2);
  if (!with_zone) return;
  out.push_back(offset < 0 ? '-' : '+');
  const int magnitude = offset < 0 ? -offset : offset;
  AppendDigits(out, magnitude / 60, 2);
  out.push_back(':');
  AppendDigits(out, magnitude % 60, 2);
}

void AppendUtcInstant(std::string& out, std::int64_t instant, int milliseconds) {
  assert(milliseconds >= 0 && milliseconds < 1000 && "milliseconds are 0 to 999");
  const std::int64_t day = FloorDiv(instant, kSecondsPerDay);
  const std::int64_t seconds = FloorMod(instant, kSecondsPerDay);
  AppendDate(out, day);
  out.push_back('T');
  AppendDigits(out, seconds / 3600, 2);
  out.push_back(':');
  AppendDigits(out, seconds / 60 % 60, 2);
  out.push_back(':');
  AppendDigits(out, seconds % 60, 2);
  out.push_back('.');
  AppendDigits(out, milliseconds, 3);
  out.push_back('Z');
}

}  // namespace fhirbridge::synth
