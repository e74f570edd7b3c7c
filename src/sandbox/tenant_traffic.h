#pragma once

// The run-time traffic state of one tenant: its current traffic and fault settings, a token
// bucket per client, the concurrency limiter and its queue, the random generator behind every
// injected fault, and the maintenance window started from the admin API.
//
// Thread-safe: settings may be replaced while requests are in flight; a request works from the
// fault settings it took when it arrived.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "http/message.h"
#include "sandbox/concurrency_limiter.h"
#include "sandbox/rate_limiter.h"
#include "sandbox/traffic_config.h"

namespace fhirbridge::sandbox {

// Whom a rate limit counts a request against: the bearer token when there is one, else the
// X-Client-Id or Epic-Client-ID header, else the peer's address. The sandbox does not check
// tokens, so a client can choose its own bucket; the key is a hash, so no token is kept.
std::string RateLimitClient(const http::Request& request);

class TenantTraffic {
 public:
  TenantTraffic(const TrafficSettings& traffic, const FaultSettings& faults);
  TenantTraffic(const TenantTraffic&) = delete;
  TenantTraffic& operator=(const TenantTraffic&) = delete;

  TrafficSettings traffic() const;
  std::shared_ptr<const FaultSettings> faults() const;

  // Replaces the traffic settings; requests waiting in the queue that now fit are admitted.
  void SetTraffic(const TrafficSettings& settings);
  // Replaces the fault settings and restarts the random generator from the new seed (or a random
  // one), so the same settings give the same decisions for the same requests. Then calls the
  // listener, outside any lock, with the new generation.
  void SetFaults(FaultSettings settings);
  // Called after each SetFaults with its generation (which increases with every change). Returns
  // the current generation, so a schedule started now can tell when it has been superseded.
  std::uint64_t SetFaultsListener(std::function<void(std::uint64_t generation)> listener);
  std::uint64_t faults_generation() const;

  // The end of the maintenance window `now` falls in, whether scheduled or started from the admin
  // API; the later end when both apply.
  std::optional<base::SystemTime> MaintenanceEnd(base::SystemTime now) const;
  // Starts a window now (replacing one started earlier); returns its end.
  base::SystemTime StartMaintenance(base::SystemTime now, std::chrono::seconds duration);
  // Ends a window started from the admin API; scheduled windows are unaffected.
  void EndMaintenance();

  RateLimiter::Decision TakeToken(std::string_view client,
                                  std::chrono::steady_clock::time_point now);
  ConcurrencyLimiter& concurrency() { return concurrency_; }
  const ConcurrencyLimiter& concurrency() const { return concurrency_; }

  // True with probability `rate`. Draws from the generator only when 0 < rate < 1, so faults set
  // to 0 or 1 leave the sequence of the others unchanged. Limitation: the sequence repeats for
  // requests made one after another; concurrent requests draw in the order they happen to arrive.
  bool Roll(double rate);
  // The status of an injected error drawn from `faults.error_rates`, if any.
  std::optional<int> RollInjectedError(const FaultSettings& faults);
  // The injected latency: fixed plus uniformly random jitter.
  std::chrono::milliseconds RollLatency(const FaultSettings& faults);

  void CountScheduledReset() { scheduled_resets_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t scheduled_resets() const {
    return scheduled_resets_.load(std::memory_order_relaxed);
  }

 private:
  double Draw();  // uniform in [0, 1)

  mutable std::mutex mutex_;
  TrafficSettings traffic_;
  std::shared_ptr<const FaultSettings> faults_;
  std::uint64_t generation_ = 0;
  std::function<void(std::uint64_t)> listener_;
  std::optional<base::SystemTime> manual_maintenance_end_;
  std::mt19937_64 generator_;

  RateLimiter rate_limiter_;
  ConcurrencyLimiter concurrency_;
  std::atomic<std::uint64_t> scheduled_resets_{0};
};

}  // namespace fhirbridge::sandbox
