#include "sandbox/concurrency_limiter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fhirbridge::sandbox {
namespace {

using Admission = ConcurrencyLimiter::Admission;

TEST(ConcurrencyLimiterTest, WithoutLimitsAdmitsEveryoneAndCountsThem) {
  ConcurrencyLimiter limiter;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.Acquire([] {}).admission, Admission::kAdmitted);
  EXPECT_EQ(limiter.in_flight(), 5u);
  for (int i = 0; i < 5; ++i) limiter.Release();
  EXPECT_EQ(limiter.in_flight(), 0u);
}

TEST(ConcurrencyLimiterTest, QueuesBeyondTheLimitAndAdmitsInArrivalOrder) {
  ConcurrencyLimiter limiter;
  limiter.SetLimits(1, 2);
  std::vector<std::string> admitted;
  EXPECT_EQ(limiter.Acquire([] {}).admission, Admission::kAdmitted);
  EXPECT_EQ(limiter.Acquire([&] { admitted.push_back("b"); }).admission, Admission::kQueued);
  EXPECT_EQ(limiter.Acquire([&] { admitted.push_back("c"); }).admission, Admission::kQueued);
  EXPECT_EQ(limiter.Acquire([&] { admitted.push_back("d"); }).admission, Admission::kQueueFull);
  EXPECT_EQ(limiter.waiting(), 2u);

  limiter.Release();
  EXPECT_EQ(admitted, (std::vector<std::string>{"b"}));
  EXPECT_EQ(limiter.in_flight(), 1u);
  limiter.Release();
  EXPECT_EQ(admitted, (std::vector<std::string>{"b", "c"}));
  limiter.Release();
  EXPECT_EQ(limiter.in_flight(), 0u);
  EXPECT_EQ(limiter.waiting(), 0u);
}

TEST(ConcurrencyLimiterTest, NewcomersDoNotOvertakeTheQueue) {
  ConcurrencyLimiter limiter;
  limiter.SetLimits(1, 5);
  std::vector<std::string> admitted;
  ASSERT_EQ(limiter.Acquire([] {}).admission, Admission::kAdmitted);
  ASSERT_EQ(limiter.Acquire([&] { admitted.push_back("waiting"); }).admission, Admission::kQueued);
  // Raising the limit admits the one waiting; the next newcomer queues behind nobody.
  limiter.SetLimits(2, 5);
  EXPECT_EQ(admitted, (std::vector<std::string>{"waiting"}));
  EXPECT_EQ(limiter.Acquire([] {}).admission, Admission::kQueued);
}

TEST(ConcurrencyLimiterTest, AWithdrawnRequestNeverRuns) {
  ConcurrencyLimiter limiter;
  limiter.SetLimits(1, 2);
  bool ran = false;
  ASSERT_EQ(limiter.Acquire([] {}).admission, Admission::kAdmitted);
  const auto ticket = limiter.Acquire([&] { ran = true; });
  ASSERT_EQ(ticket.admission, Admission::kQueued);
  EXPECT_TRUE(limiter.Withdraw(ticket.waiter));
  EXPECT_FALSE(limiter.Withdraw(ticket.waiter)) << "only once";
  limiter.Release();
  EXPECT_FALSE(ran);
  EXPECT_EQ(limiter.in_flight(), 0u);
}

TEST(ConcurrencyLimiterTest, AnAdmittedRequestCannotBeWithdrawn) {
  ConcurrencyLimiter limiter;
  limiter.SetLimits(1, 1);
  ASSERT_EQ(limiter.Acquire([] {}).admission, Admission::kAdmitted);
  const auto ticket = limiter.Acquire([] {});
  limiter.Release();
  EXPECT_FALSE(limiter.Withdraw(ticket.waiter));
  EXPECT_EQ(limiter.in_flight(), 1u);
}

TEST(ConcurrencyLimiterTest, DropWaitingForgetsTheQueueWithoutRunningIt) {
  ConcurrencyLimiter limiter;
  limiter.SetLimits(1, 3);
  bool ran = false;
  ASSERT_EQ(limiter.Acquire([] {}).admission, Admission::kAdmitted);
  const auto ticket = limiter.Acquire([&] { ran = true; });
  limiter.DropWaiting();
  EXPECT_EQ(limiter.waiting(), 0u);
  EXPECT_FALSE(limiter.Withdraw(ticket.waiter));
  limiter.Release();
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace fhirbridge::sandbox
