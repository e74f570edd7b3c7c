#include "sandbox/tenant_traffic.h"

#include <gtest/gtest.h>

#include <vector>

namespace fhirbridge::sandbox {
namespace {

FaultSettings Seeded(std::uint64_t seed) {
  FaultSettings faults;
  faults.seed = seed;
  faults.error_rates = {0.2, 0.1, 0.1, 0.1};
  faults.latency_jitter = std::chrono::milliseconds(100);
  return faults;
}

std::vector<int> Decisions(TenantTraffic& traffic) {
  std::vector<int> decisions;
  const auto faults = traffic.faults();
  for (int i = 0; i < 50; ++i) {
    decisions.push_back(traffic.RollInjectedError(*faults).value_or(200));
    decisions.push_back(static_cast<int>(traffic.RollLatency(*faults).count()));
    decisions.push_back(traffic.Roll(0.5));
  }
  return decisions;
}

TEST(TenantTrafficTest, TheSameSeedGivesTheSameDecisions) {
  TenantTraffic first({}, Seeded(7));
  TenantTraffic second({}, Seeded(7));
  const std::vector<int> decisions = Decisions(first);
  EXPECT_EQ(decisions, Decisions(second));
  // Setting the faults again starts the sequence again.
  first.SetFaults(Seeded(7));
  EXPECT_EQ(Decisions(first), decisions);
  first.SetFaults(Seeded(8));
  EXPECT_NE(Decisions(first), decisions);
}

TEST(TenantTrafficTest, InjectedErrorsFollowTheirRates) {
  FaultSettings faults = Seeded(1);
  faults.error_rates = {0, 0, 0.25, 0};
  TenantTraffic traffic({}, faults);
  int unavailable = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto status = traffic.RollInjectedError(faults);
    if (status) {
      EXPECT_EQ(*status, 503);
      ++unavailable;
    }
  }
  EXPECT_GT(unavailable, 400);
  EXPECT_LT(unavailable, 600);
}

TEST(TenantTrafficTest, RatesOfZeroAndOneAreCertain) {
  TenantTraffic traffic({}, Seeded(3));
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(traffic.Roll(0));
    EXPECT_TRUE(traffic.Roll(1));
  }
  FaultSettings always;
  always.error_rates = {0, 1, 0, 0};
  EXPECT_EQ(traffic.RollInjectedError(always), 502);
  EXPECT_EQ(traffic.RollInjectedError(FaultSettings{}), std::nullopt);
}

TEST(TenantTrafficTest, LatencyStaysWithinItsJitter) {
  FaultSettings faults;
  faults.latency = std::chrono::milliseconds(50);
  faults.latency_jitter = std::chrono::milliseconds(20);
  TenantTraffic traffic({}, faults);
  for (int i = 0; i < 200; ++i) {
    const auto latency = traffic.RollLatency(faults).count();
    EXPECT_GE(latency, 50);
    EXPECT_LE(latency, 70);
  }
}

TEST(TenantTrafficTest, MaintenanceStartedNowEndsOnTimeOrWhenEnded) {
  TenantTraffic traffic({}, {});
  const auto now = std::chrono::system_clock::now();
  EXPECT_FALSE(traffic.MaintenanceEnd(now).has_value());
  const auto end = traffic.StartMaintenance(now, std::chrono::seconds(30));
  EXPECT_EQ(traffic.MaintenanceEnd(now), end);
  EXPECT_FALSE(traffic.MaintenanceEnd(end).has_value());
  traffic.EndMaintenance();
  EXPECT_FALSE(traffic.MaintenanceEnd(now).has_value());
}

TEST(TenantTrafficTest, SetFaultsTellsTheListenerItsGeneration) {
  TenantTraffic traffic({}, {});
  std::vector<std::uint64_t> generations;
  const std::uint64_t start = traffic.SetFaultsListener(
      [&](std::uint64_t generation) { generations.push_back(generation); });
  traffic.SetFaults({});
  traffic.SetFaults({});
  EXPECT_EQ(generations, (std::vector<std::uint64_t>{start + 1, start + 2}));
  EXPECT_EQ(traffic.faults_generation(), start + 2);
}

TEST(TenantTrafficTest, RaisingTheLimitAdmitsWaitingRequests) {
  TenantTraffic traffic({.max_concurrent = 1, .queue_size = 1}, {});
  bool admitted = false;
  ASSERT_EQ(traffic.concurrency().Acquire([] {}).admission,
            ConcurrencyLimiter::Admission::kAdmitted);
  ASSERT_EQ(traffic.concurrency().Acquire([&] { admitted = true; }).admission,
            ConcurrencyLimiter::Admission::kQueued);
  traffic.SetTraffic({.max_concurrent = 2, .queue_size = 1});
  EXPECT_TRUE(admitted);
}

TEST(TenantTrafficTest, RateLimitClientPrefersTheTokenThenTheClientIdThenTheAddress) {
  http::Request request;
  request.remote_address = "127.0.0.1";
  const std::string by_address = RateLimitClient(request);
  request.headers.push_back({"epic-client-id", "app-1"});
  const std::string by_epic_client = RateLimitClient(request);
  request.headers.push_back({"x-client-id", "app-1"});
  EXPECT_EQ(RateLimitClient(request), by_epic_client) << "either header names the same client";
  request.headers.push_back({"authorization", "bearer secret-token"});
  const std::string by_token = RateLimitClient(request);
  EXPECT_NE(by_address, by_epic_client);
  EXPECT_NE(by_token, by_epic_client);
  EXPECT_TRUE(by_token.starts_with("token:"));
  EXPECT_EQ(by_token.find("secret"), std::string::npos) << "tokens are kept only as a hash";
}

}  // namespace
}  // namespace fhirbridge::sandbox
