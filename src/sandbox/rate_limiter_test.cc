#include "sandbox/rate_limiter.h"

#include <gtest/gtest.h>

namespace fhirbridge::sandbox {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(RateLimiterTest, AllowsABurstThenRefusesWithTheWaitForTheNextToken) {
  RateLimiter limiter;
  const Clock::time_point start{};
  EXPECT_TRUE(limiter.Take("a", 0.5, 2, start).allowed);
  EXPECT_TRUE(limiter.Take("a", 0.5, 2, start).allowed);
  const auto refused = limiter.Take("a", 0.5, 2, start);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after.count(), 2) << "a token every 2 s";
}

TEST(RateLimiterTest, RefillsOverTimeUpToItsCapacity) {
  RateLimiter limiter;
  const Clock::time_point start{};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("a", 10, 3, start).allowed);
  EXPECT_FALSE(limiter.Take("a", 10, 3, start).allowed);
  EXPECT_FALSE(limiter.Take("a", 10, 3, start + milliseconds(50)).allowed);
  EXPECT_TRUE(limiter.Take("a", 10, 3, start + milliseconds(100)).allowed);

  // After a long pause the bucket is full again, but no fuller.
  const auto later = start + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("a", 10, 3, later).allowed);
  EXPECT_FALSE(limiter.Take("a", 10, 3, later).allowed);
}

TEST(RateLimiterTest, KeepsOneBucketPerClient) {
  RateLimiter limiter;
  const Clock::time_point start{};
  EXPECT_TRUE(limiter.Take("a", 1, 1, start).allowed);
  EXPECT_FALSE(limiter.Take("a", 1, 1, start).allowed);
  EXPECT_TRUE(limiter.Take("b", 1, 1, start).allowed);
  EXPECT_EQ(limiter.client_count(), 2u);
}

TEST(RateLimiterTest, RetryAfterIsAtLeastOneSecond) {
  RateLimiter limiter;
  const Clock::time_point start{};
  EXPECT_TRUE(limiter.Take("a", 1000, 1, start).allowed);
  const auto refused = limiter.Take("a", 1000, 1, start);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after.count(), 1);
}

TEST(RateLimiterTest, ForgetsRefilledClientsWhenItHoldsTooMany) {
  RateLimiter limiter;
  const Clock::time_point start{};
  for (std::size_t i = 0; i < RateLimiter::kMaxClients; ++i) {
    limiter.Take("client-" + std::to_string(i), 1, 1, start);
  }
  EXPECT_EQ(limiter.client_count(), RateLimiter::kMaxClients);
  // A second later every bucket has refilled, so they can all go.
  EXPECT_TRUE(limiter.Take("newcomer", 1, 1, start + std::chrono::seconds(1)).allowed);
  EXPECT_EQ(limiter.client_count(), 1u);
}

}  // namespace
}  // namespace fhirbridge::sandbox
