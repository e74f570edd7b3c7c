#include "base/clock.h"

#include <gtest/gtest.h>

namespace fhirbridge::base {
namespace {

TEST(ClockTest, InstantRoundTripsWithMilliseconds) {
  const auto parsed = ParseInstant("2026-12-03T15:52:57.123Z");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(FormatInstant(*parsed), "2026-12-03T15:52:57.123Z");
}

TEST(ClockTest, ParsesZoneOffsetsIntoUtc) {
  const auto parsed = ParseInstant("2026-12-03T16:52:57+01:00");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(FormatInstant(*parsed), "2026-12-03T15:52:57.000Z");
}

TEST(ClockTest, DateAloneMeansMidnightUtc) {
  const auto parsed = ParseInstant("2026-12-03");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(FormatInstant(*parsed), "2026-12-03T00:00:00.000Z");
}

TEST(ClockTest, RejectsTimesWithoutZoneAndGarbage) {
  EXPECT_FALSE(ParseInstant("2026-12-03T15:52:57").has_value());
  EXPECT_FALSE(ParseInstant("2026-13-03").has_value());
  EXPECT_FALSE(ParseInstant("yesterday").has_value());
  EXPECT_FALSE(ParseInstant("2026-12-03T15:52:57Zjunk").has_value());
  EXPECT_FALSE(ParseInstant("2999-01-01T00:00:00Z").has_value()) << "beyond the clock's range";
}

TEST(ClockTest, FormatsHttpDates) {
  const auto parsed = ParseInstant("2026-12-03T15:52:57Z");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(FormatHttpDate(*parsed), "Thu, 03 Dec 2026 15:52:57 GMT");
}

TEST(ClockTest, ParsesHttpDatesItFormats) {
  const auto instant = ParseInstant("2026-12-03T15:52:57Z");
  ASSERT_TRUE(instant.has_value());
  EXPECT_EQ(ParseHttpDate("Thu, 03 Dec 2026 15:52:57 GMT"), instant);
  EXPECT_EQ(ParseHttpDate(FormatHttpDate(*instant)), instant);
  EXPECT_FALSE(ParseHttpDate("Thu, 03 Dec 2026 15:52:57 UTC").has_value());
  EXPECT_FALSE(ParseHttpDate("Thu, 03 Foo 2026 15:52:57 GMT").has_value());
  EXPECT_FALSE(ParseHttpDate("Thu, 32 Dec 2026 15:52:57 GMT").has_value());
  EXPECT_FALSE(ParseHttpDate("Thu, 03 Dec 2026 25:52:57 GMT").has_value());
  EXPECT_FALSE(ParseHttpDate("Thursday, 03-Dec-26 15:52:57 GMT").has_value());
  EXPECT_FALSE(ParseHttpDate("").has_value());
}

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock;
  const Clock::TimePoint start = clock.Now();
  const SystemTime wall = clock.WallNow();
  EXPECT_EQ(clock.Now(), start);
  clock.SleepFor(std::chrono::seconds(3));
  clock.Advance(std::chrono::milliseconds(500));
  clock.SleepFor(std::chrono::seconds(-1));
  EXPECT_EQ(clock.Now() - start, std::chrono::milliseconds(3500));
  EXPECT_EQ(clock.WallNow() - wall, std::chrono::milliseconds(3500));
  EXPECT_EQ(clock.TotalSlept(), std::chrono::seconds(3));
}

TEST(ClockTest, RealClockSleeps) {
  Clock& clock = Clock::Real();
  const Clock::TimePoint start = clock.Now();
  clock.SleepFor(std::chrono::milliseconds(20));
  EXPECT_GE(clock.Now() - start, std::chrono::milliseconds(20));
}

}  // namespace
}  // namespace fhirbridge::base
