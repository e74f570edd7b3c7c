#include "traffic/adaptive_throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace fhirbridge::traffic {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ThrottleSettings Rate(double per_second, double burst) {
  ThrottleSettings settings;
  settings.requests_per_second = per_second;
  settings.burst = burst;
  return settings;
}

// Sends `count` background requests as fast as the throttle allows and returns the time taken.
base::Clock::Duration Drain(AdaptiveThrottle& throttle, base::ManualClock& clock, int count,
                            Priority priority = Priority::kBackground) {
  const auto start = clock.Now();
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(throttle.AcquireUntil(priority, clock.Now() + seconds(3600)).granted);
  }
  return clock.Now() - start;
}

TEST(ThrottleTest, BurstGoesAtOnceThenTheConfiguredRate) {
  base::ManualClock clock;
  AdaptiveThrottle throttle(Rate(10, 5), clock);
  EXPECT_EQ(Drain(throttle, clock, 5), base::Clock::Duration::zero());
  // 100 more at 10/s take 10 s.
  const auto taken = Drain(throttle, clock, 100);
  EXPECT_NEAR(std::chrono::duration<double>(taken).count(), 10.0, 0.01);
  EXPECT_EQ(throttle.Snapshot().decreases, 0u);
}

TEST(ThrottleTest, TryAcquireSaysHowLongToWait) {
  base::ManualClock clock;
  AdaptiveThrottle throttle(Rate(4, 1), clock);
  EXPECT_FALSE(throttle.TryAcquire(Priority::kInteractive).has_value());
  const auto wait = throttle.TryAcquire(Priority::kInteractive);
  ASSERT_TRUE(wait.has_value());
  EXPECT_NEAR(std::chrono::duration<double>(*wait).count(), 0.25, 1e-6);
  clock.Advance(*wait);
  EXPECT_FALSE(throttle.TryAcquire(Priority::kInteractive).has_value());
}

TEST(ThrottleTest, DefaultBurstIsOneSecondsWorth) {
  EXPECT_EQ(Rate(200, 0).Capacity(), 200);
  EXPECT_EQ(Rate(0.5, 0).Capacity(), 1);
}

TEST(ThrottleTest, RefusalHalvesTheRateOncePerIntervalAndRecoversAdditively) {
  base::ManualClock clock;
  AdaptiveThrottle throttle(Rate(100, 10), clock);
  throttle.Record(SiteSignal::kRefused, milliseconds(5));
  EXPECT_DOUBLE_EQ(throttle.Snapshot().current_rate, 50);
  // Refusals already in flight within the decrease interval count once.
  throttle.Record(SiteSignal::kRefused, milliseconds(5));
  throttle.Record(SiteSignal::kRefused, milliseconds(5));
  EXPECT_DOUBLE_EQ(throttle.Snapshot().current_rate, 50);
  EXPECT_TRUE(throttle.Snapshot().busy);

  // Recovery starts a decrease interval (1 s) after the decrease, at 5% of 100/s per second.
  clock.Advance(seconds(1));
  EXPECT_DOUBLE_EQ(throttle.Snapshot().current_rate, 50);
  clock.Advance(seconds(4));
  EXPECT_NEAR(throttle.Snapshot().current_rate, 70, 1e-9);
  // A new refusal now halves again.
  throttle.Record(SiteSignal::kRefused, milliseconds(5));
  EXPECT_NEAR(throttle.Snapshot().current_rate, 35, 1e-9);
  clock.Advance(seconds(60));
  EXPECT_DOUBLE_EQ(throttle.Snapshot().current_rate, 100) << "never above the configured rate";
  EXPECT_FALSE(throttle.Snapshot().busy);
  EXPECT_EQ(throttle.Snapshot().decreases, 2u);
}

TEST(ThrottleTest, RateNeverFallsBelowItsFloor) {
  base::ManualClock clock;
  AdaptiveThrottle throttle(Rate(100, 10), clock);
  for (int i = 0; i < 50; ++i) {
    throttle.Record(SiteSignal::kRefused, milliseconds(1));
    clock.Advance(milliseconds(1000));
  }
  EXPECT_GE(throttle.Snapshot().current_rate, 2.0);
  EXPECT_LT(throttle.Snapshot().current_rate, 3.5);
}

TEST(ThrottleTest, ADecreasedRateSlowsRequestsDown) {
  base::ManualClock clock;
  ThrottleSettings settings = Rate(10, 1);
  settings.recovery_per_second = 0.0001;  // effectively no recovery during the measurement
  AdaptiveThrottle throttle(settings, clock);
  throttle.Record(SiteSignal::kRefused, milliseconds(1));
  const auto taken = Drain(throttle, clock, 20, Priority::kInteractive);
  // 5/s: 20 requests, the first from the bucket, take about 3.8 s.
  EXPECT_NEAR(std::chrono::duration<double>(taken).count(), 3.8, 0.05);
}

TEST(ThrottleTest, RisingLatencyBacksOffButNoiseDoesNot) {
  base::ManualClock clock;
  AdaptiveThrottle throttle(Rate(100, 10), clock);
  for (int i = 0; i < 50; ++i) {
    throttle.Record(SiteSignal::kOk, milliseconds(20));
    clock.Advance(milliseconds(10));
  }
  // Doubling a 20 ms latency stays within the 100 ms floor: noise, not strain.
  for (int i = 0; i < 20; ++i) {
    throttle.Record(SiteSignal::kOk, milliseconds(45));
    clock.Advance(milliseconds(10));
  }
  EXPECT_EQ(throttle.Snapshot().decreases, 0u);
  EXPECT_DOUBLE_EQ(throttle.Snapshot().current_rate, 100);

  for (int i = 0; i < 20; ++i) {
    throttle.Record(SiteSignal::kOk, milliseconds(400));
    clock.Advance(milliseconds(10));
  }
  const ThrottleSnapshot snapshot = throttle.Snapshot();
  EXPECT_EQ(snapshot.decreases, 1u) << "once per decrease interval";
  EXPECT_DOUBLE_EQ(snapshot.current_rate, 80);
  EXPECT_TRUE(snapshot.busy);
  ASSERT_TRUE(snapshot.latency_baseline.has_value());
  EXPECT_LT(*snapshot.latency_baseline, milliseconds(60));
  EXPECT_GT(*snapshot.latency_recent, milliseconds(300));
}

TEST(ThrottleTest, RetryAfterPausesEveryPriorityAndRestartsWithOneToken) {
  base::ManualClock clock;
  AdaptiveThrottle throttle(Rate(100, 50), clock);
  throttle.PauseUntil(clock.Now() + seconds(2));
  throttle.PauseUntil(clock.Now() + seconds(1));  // an earlier end changes nothing
  ASSERT_TRUE(throttle.Snapshot().paused_until.has_value());

  const auto wait = throttle.TryAcquire(Priority::kInteractive);
  ASSERT_TRUE(wait.has_value());
  EXPECT_GE(*wait, seconds(2));
  EXPECT_TRUE(throttle.TryAcquire(Priority::kBackground).has_value());

  const Admission admission =
      throttle.AcquireUntil(Priority::kInteractive, clock.Now() + seconds(10));
  EXPECT_TRUE(admission.granted);
  EXPECT_GE(admission.waited, seconds(2));
  // The bucket held 50 tokens before the pause; after it, the next request waits for a refill.
  EXPECT_TRUE(throttle.TryAcquire(Priority::kInteractive).has_value());
}

TEST(ThrottleTest, GivesUpAtOnceWhenTheDeadlineComesFirst) {
  base::ManualClock clock;
  AdaptiveThrottle throttle(Rate(100, 10), clock);
  throttle.PauseUntil(clock.Now() + seconds(60));
  const Admission admission =
      throttle.AcquireUntil(Priority::kInteractive, clock.Now() + seconds(5));
  EXPECT_FALSE(admission.granted);
  EXPECT_EQ(clock.TotalSlept(), base::Clock::Duration::zero()) << "no pointless wait";
  EXPECT_GE(admission.available_at - clock.Now(), seconds(60));
}

TEST(ThrottleTest, InteractiveGoesFirstWhenBothWaitAtOnce) {
  // Real threads on the real clock: a background request that arrives first still lets an
  // interactive request waiting beside it take the next token.
  AdaptiveThrottle throttle(Rate(5, 1), base::Clock::Real());
  ASSERT_FALSE(throttle.TryAcquire(Priority::kInteractive).has_value());
  std::atomic<int> order{0};
  int interactive_rank = 0, background_rank = 0;
  std::thread background([&] {
    throttle.AcquireUntil(Priority::kBackground, base::Clock::Real().Now() + seconds(5));
    background_rank = ++order;
  });
  std::this_thread::sleep_for(milliseconds(20));
  std::thread interactive([&] {
    throttle.AcquireUntil(Priority::kInteractive, base::Clock::Real().Now() + seconds(5));
    interactive_rank = ++order;
  });
  background.join();
  interactive.join();
  EXPECT_EQ(interactive_rank, 1);
  EXPECT_EQ(background_rank, 2);
}

TEST(ThrottleTest, BackgroundGetsASmallerShareWhileTheSiteIsBusy) {
  base::ManualClock clock;
  ThrottleSettings settings = Rate(100, 1);
  settings.recovery_per_second = 0.0001;
  AdaptiveThrottle throttle(settings, clock);
  throttle.Record(SiteSignal::kRefused, milliseconds(1));  // 50/s, busy
  ASSERT_TRUE(throttle.Snapshot().busy);
  // Background alone goes at half the current rate: 25/s, so 50 take about 2 s.
  const auto background = Drain(throttle, clock, 50, Priority::kBackground);
  EXPECT_NEAR(std::chrono::duration<double>(background).count(), 2.0, 0.1);
  // Interactive uses the whole current rate: 50 take about 1 s.
  const auto interactive = Drain(throttle, clock, 50, Priority::kInteractive);
  EXPECT_NEAR(std::chrono::duration<double>(interactive).count(), 1.0, 0.1);

  // Five seconds after the refusal the site is no longer busy, though the rate has not
  // recovered: background work has the whole current rate again.
  clock.Advance(std::chrono::seconds(3));
  ASSERT_FALSE(throttle.Snapshot().busy);
  Drain(throttle, clock, 1, Priority::kBackground);
  const auto quiet = Drain(throttle, clock, 50, Priority::kBackground);
  EXPECT_NEAR(std::chrono::duration<double>(quiet).count(), 1.0, 0.1);
}

TEST(ThrottleTest, SettingsOutOfRangeAreNamed) {
  ThrottleSettings settings;
  settings.requests_per_second = 0;
  auto status = ValidateThrottleSettings(settings);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().diagnostic.find("requests_per_second"), std::string::npos);
  settings.requests_per_second = 5;
  settings.decrease_on_refusal = 1.5;
  status = ValidateThrottleSettings(settings);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().diagnostic.find("decrease_on_refusal"), std::string::npos);
  EXPECT_TRUE(ValidateThrottleSettings(ThrottleSettings{}));
}

}  // namespace
}  // namespace fhirbridge::traffic
