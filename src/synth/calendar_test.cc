#include "synth/calendar.h"

#include <gtest/gtest.h>

namespace fhirbridge::synth {
namespace {

constexpr TimeZone kCentral{-360, true};

std::string Local(std::int64_t instant, bool with_zone = true) {
  std::string out;
  AppendLocalDateTime(out, kCentral, instant, with_zone);
  return out;
}

TEST(SynthCalendarTest, CivilDatesRoundTripAcrossCenturies) {
  for (std::int64_t day = -60000; day < 60000; day += 37) {
    const CivilDate date = CivilFromDays(day);
    ASSERT_EQ(DaysFromCivil(date.year, date.month, date.day), day);
  }
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  const CivilDate leap = CivilFromDays(DaysFromCivil(2024, 2, 29));
  EXPECT_EQ(leap.month, 2);
  EXPECT_EQ(leap.day, 29);
}

TEST(SynthCalendarTest, UsDaylightSavingTimeSwitchesOnTheRightSundays) {
  // 2025: daylight time from 9 March 02:00 to 2 November 02:00.
  EXPECT_EQ(Local(LocalToInstant(kCentral, DaysFromCivil(2025, 3, 8), 12 * 3600)),
            "2025-03-08T12:00:00-06:00");
  EXPECT_EQ(Local(LocalToInstant(kCentral, DaysFromCivil(2025, 3, 14), 9 * 3600)),
            "2025-03-14T09:00:00-05:00");
  EXPECT_EQ(Local(LocalToInstant(kCentral, DaysFromCivil(2025, 11, 1), 12 * 3600)),
            "2025-11-01T12:00:00-05:00");
  EXPECT_EQ(Local(LocalToInstant(kCentral, DaysFromCivil(2025, 11, 28), 16 * 3600 + 1800)),
            "2025-11-28T16:30:00-06:00");
}

TEST(SynthCalendarTest, FormatsDatesYearMonthsYearsAndInstants) {
  const std::int64_t day = DaysFromCivil(1978, 4, 12);
  std::string out;
  AppendDate(out, day);
  out += " ";
  AppendYearMonth(out, day);
  out += " ";
  AppendYear(out, day);
  out += " ";
  AppendUtcInstant(out, day * kSecondsPerDay + 3661, 5);
  EXPECT_EQ(out, "1978-04-12 1978-04 1978 1978-04-12T01:01:01.005Z");
  EXPECT_EQ(Local(LocalToInstant(kCentral, day, 3600), false), "1978-04-12T01:00:00");
}

TEST(SynthCalendarTest, LocalDayFollowsTheWallClock) {
  const std::int64_t day = DaysFromCivil(2026, 1, 15);
  EXPECT_EQ(LocalDay(kCentral, LocalToInstant(kCentral, day, 23 * 3600 + 59 * 60)), day);
  EXPECT_EQ(LocalDay(kCentral, LocalToInstant(kCentral, day, 0)), day);
}

}  // namespace
}  // namespace fhirbridge::synth
