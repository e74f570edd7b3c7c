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

}  // namespace
}  // namespace fhirbridge::base
