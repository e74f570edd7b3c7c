#include "traffic/retry_policy.h"

#include <gtest/gtest.h>

#include <chrono>

namespace fhirbridge::traffic {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RetryPolicyTest, OnlyRequestsSafeToRepeatAreRetried) {
  EXPECT_TRUE(IsSafeToRepeat("GET", "/r4/Patient/1", {}, false));
  EXPECT_TRUE(IsSafeToRepeat("HEAD", "/r4/Patient/1", {}, false));
  EXPECT_TRUE(IsSafeToRepeat("POST", "/r4/Patient/_search", {}, false));
  EXPECT_FALSE(IsSafeToRepeat("POST", "/r4/Patient", {}, false));
  EXPECT_TRUE(IsSafeToRepeat("POST", "/r4/Patient", {{"If-None-Exist", "identifier=a|1"}}, false));
  EXPECT_FALSE(IsSafeToRepeat("POST", "/r4/Patient", {{"If-None-Exist", ""}}, false));
  EXPECT_FALSE(IsSafeToRepeat("PUT", "/r4/Patient/1", {}, false));
  EXPECT_TRUE(IsSafeToRepeat("PUT", "/r4/Patient/1", {{"if-match", "W/\"3\""}}, false));
  EXPECT_TRUE(IsSafeToRepeat("DELETE", "/r4/Patient/1", {{"If-Match", "W/\"3\""}}, false));
  EXPECT_FALSE(IsSafeToRepeat("DELETE", "/r4/Patient/1", {}, false));
  EXPECT_TRUE(IsSafeToRepeat("POST", "/r4/Patient", {}, true)) << "marked idempotent";
}

TEST(RetryPolicyTest, OnlyStatusesARepeatCanCureAreRetried) {
  for (const int status : {429, 500, 502, 503, 504}) EXPECT_TRUE(IsRetryableStatus(status));
  for (const int status : {200, 201, 304, 400, 401, 403, 404, 409, 410, 412, 422, 501, 505}) {
    EXPECT_FALSE(IsRetryableStatus(status)) << status;
  }
}

TEST(RetryPolicyTest, RetryAfterIsReadAsSecondsOrAsAnHttpDate) {
  const base::SystemTime now = *base::ParseInstant("2026-12-03T15:52:00Z");
  EXPECT_EQ(ParseRetryAfter("120", now), seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), seconds(0));
  EXPECT_EQ(ParseRetryAfter("Thu, 03 Dec 2026 15:52:57 GMT", now), seconds(57));
  EXPECT_EQ(ParseRetryAfter("Thu, 03 Dec 2026 15:50:00 GMT", now), seconds(0)) << "in the past";
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", now), seconds(86400)) << "capped at a day";
  EXPECT_FALSE(ParseRetryAfter("", now));
  EXPECT_FALSE(ParseRetryAfter("-5", now));
  EXPECT_FALSE(ParseRetryAfter("1.5", now));
  EXPECT_FALSE(ParseRetryAfter("soon", now));
  EXPECT_FALSE(ParseRetryAfter("Xyz, 03 Dec 2026 15:52:57 GMT", now));
}

TEST(RetryPolicyTest, BackoffIsFullJitterUnderAnExponentialCeiling) {
  RetryPolicy policy({.max_attempts = 10,
                      .initial_backoff = milliseconds(100),
                      .max_backoff = milliseconds(1000),
                      .max_total = seconds(60)},
                     /*seed=*/7);
  for (int attempt = 2; attempt <= 8; ++attempt) {
    const double ceiling = std::min(1000.0, 100.0 * (1 << (attempt - 2)));
    double lowest = ceiling, highest = 0, sum = 0;
    constexpr int kDraws = 2000;
    for (int i = 0; i < kDraws; ++i) {
      const double drawn =
          std::chrono::duration<double, std::milli>(policy.Backoff(attempt)).count();
      lowest = std::min(lowest, drawn);
      highest = std::max(highest, drawn);
      sum += drawn;
    }
    EXPECT_GE(lowest, 0);
    EXPECT_LT(lowest, ceiling * 0.05) << "full jitter reaches down to zero";
    EXPECT_LE(highest, ceiling);
    EXPECT_GT(highest, ceiling * 0.95);
    EXPECT_NEAR(sum / kDraws, ceiling / 2, ceiling * 0.05) << "uniform, not clustered";
  }
}

TEST(RetryPolicyTest, TheSameSeedGivesTheSameWaits) {
  RetryPolicy a(RetrySettings{}, 42), b(RetrySettings{}, 42);
  for (int attempt = 2; attempt < 6; ++attempt) EXPECT_EQ(a.Backoff(attempt), b.Backoff(attempt));
}

TEST(RetryPolicyTest, AttemptsAndTotalTimeAreBounded) {
  RetryPolicy policy({.max_attempts = 3,
                      .initial_backoff = milliseconds(100),
                      .max_backoff = milliseconds(1000),
                      .max_total = seconds(10)},
                     1);
  EXPECT_TRUE(policy.NextDelay(2, seconds(0), std::nullopt));
  EXPECT_TRUE(policy.NextDelay(3, seconds(0), std::nullopt));
  EXPECT_FALSE(policy.NextDelay(4, seconds(0), std::nullopt)) << "three attempts in all";
  // Retry-After is honoured exactly, but not beyond the total time.
  EXPECT_EQ(policy.NextDelay(2, seconds(1), seconds(5)), seconds(5));
  EXPECT_FALSE(policy.NextDelay(2, seconds(6), seconds(5)));
  EXPECT_FALSE(policy.NextDelay(2, seconds(10), std::nullopt));
}

TEST(RetryPolicyTest, SettingsOutOfRangeAreRefused) {
  EXPECT_FALSE(ValidateRetrySettings({.max_attempts = 0}));
  EXPECT_FALSE(ValidateRetrySettings(
      {.initial_backoff = milliseconds(500), .max_backoff = milliseconds(100)}));
  EXPECT_FALSE(ValidateRetrySettings({.max_total = milliseconds(0)}));
  EXPECT_TRUE(ValidateRetrySettings(RetrySettings{}));
}

}  // namespace
}  // namespace fhirbridge::traffic
