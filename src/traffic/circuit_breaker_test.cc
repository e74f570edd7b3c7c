#include "traffic/circuit_breaker.h"

#include <gtest/gtest.h>

#include <chrono>

namespace fhirbridge::traffic {
namespace {

using std::chrono::seconds;

BreakerSettings Settings() {
  return {
      .consecutive_failures = 3, .failure_rate = 0.5, .rate_window = 10, .cool_down = seconds(30)};
}

void Fail(CircuitBreaker& breaker, int times) {
  for (int i = 0; i < times; ++i) {
    ASSERT_TRUE(breaker.Allow());
    breaker.RecordFailure();
  }
}

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailuresAndSaysWhenItRetries) {
  base::ManualClock clock;
  CircuitBreaker breaker(Settings(), clock);
  Fail(breaker, 2);
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordSuccess();  // a success breaks the run
  Fail(breaker, 2);
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  Fail(breaker, 1);
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  EXPECT_EQ(breaker.times_opened(), 1u);

  clock.Advance(seconds(10));
  const auto refused = breaker.Allow();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kCircuitOpen);
  EXPECT_NE(refused.error().diagnostic.find("in 20.0 s"), std::string::npos)
      << refused.error().diagnostic;
  EXPECT_EQ(breaker.RetryAt(), clock.Now() + seconds(20));
}

TEST(CircuitBreakerTest, OpensOnAFailureRateWithoutARun) {
  base::ManualClock clock;
  CircuitBreaker breaker(Settings(), clock);
  // Fail, fail, succeed: never three in a row, but two thirds of the window.
  for (int i = 0; i < 3; ++i) {
    Fail(breaker, 2);
    ASSERT_TRUE(breaker.Allow());
    breaker.RecordSuccess();
  }
  EXPECT_EQ(breaker.state(), BreakerState::kClosed) << "the window is not full yet";
  Fail(breaker, 1);
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, HalfOpenLetsOneProbeThroughAndClosesOnItsSuccess) {
  base::ManualClock clock;
  CircuitBreaker breaker(Settings(), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(30));
  EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
  ASSERT_TRUE(breaker.Allow());
  const auto second = breaker.Allow();
  ASSERT_FALSE(second) << "one probe at a time";
  EXPECT_EQ(second.error().code, base::ErrorCode::kCircuitOpen);
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker.Allow());
  breaker.RecordSuccess();
}

TEST(CircuitBreakerTest, AFailedProbeOpensAgainForAFreshCoolDown) {
  base::ManualClock clock;
  CircuitBreaker breaker(Settings(), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(31));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  EXPECT_EQ(breaker.RetryAt(), clock.Now() + seconds(30));
  EXPECT_EQ(breaker.times_opened(), 2u);
}

TEST(CircuitBreakerTest, AProbeNeverSentFreesTheSlot) {
  base::ManualClock clock;
  CircuitBreaker breaker(Settings(), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(30));
  ASSERT_TRUE(breaker.Allow());
  breaker.Release();
  EXPECT_TRUE(breaker.Allow());
}

TEST(CircuitBreakerTest, SettingsOutOfRangeAreRefused) {
  EXPECT_FALSE(ValidateBreakerSettings({.consecutive_failures = 0}));
  EXPECT_FALSE(ValidateBreakerSettings({.failure_rate = 0}));
  EXPECT_FALSE(ValidateBreakerSettings({.rate_window = 0}));
  EXPECT_FALSE(ValidateBreakerSettings({.cool_down = std::chrono::milliseconds(0)}));
  EXPECT_TRUE(ValidateBreakerSettings(BreakerSettings{}));
}

}  // namespace
}  // namespace fhirbridge::traffic
