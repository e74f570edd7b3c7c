#pragma once

// The client-side throttle of one site: a token bucket at the site's configured rate that backs
// off when the site shows strain and recovers when it stops.
//
// - Multiplicative decrease: a 429 or 503 halves the current rate (decrease_on_refusal), a
//   latency rise above the site's baseline cuts it by a fifth (decrease_on_latency); at most one
//   decrease per decrease_interval, so a burst of refusals already in flight counts once.
// - Additive increase: after a decrease, the rate climbs back by recovery_per_second of the
//   configured rate for each second without a new one, never above the configured rate.
// - Retry-After: PauseUntil stops every request to the site until the instant given, whichever
//   thread saw it; the bucket then restarts with a single token, so the queue does not rush in.
// - Priorities: interactive requests go before background ones waiting at the same time. While
//   the site is busy (it refused a request within busy_period, or latency is raised), background
//   requests also pass a second bucket at background_share_when_busy of the current rate, which
//   leaves the rest to interactive work.
//
// Latency: a fast moving average (about the last 5 responses) is compared with a slow baseline
// that climbs only a little per response (so a lasting rise becomes the new normal after a few
// hundred responses) and follows improvements; a rise counts when the fast average is both
// latency_rise_factor times the baseline and latency_rise_floor above it, so loopback noise of a
// few milliseconds never slows a site down. Refusals and lost connections are not samples.
//
// Thread safety: every method may be called from any thread. Time comes from the Clock given,
// so tests drive it with base::ManualClock.
//
// Limitation: the budget is this process's; several worker processes sharing one site each
// need their share configured (the fleet-wide budget belongs to the store that leases work).
// Limitation: requests of one priority waiting at once are not served strictly in arrival
// order; each wakes when a token should be there and the first to ask takes it.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

#include "base/clock.h"
#include "base/result.h"

namespace fhirbridge::traffic {

enum class Priority { kInteractive, kBackground };

struct ThrottleSettings {
  double requests_per_second = 10;      // the site's configured rate; > 0
  double burst = 0;                     // bucket capacity; 0: one second's worth, at least 1
  double minimum_rate_fraction = 0.02;  // the rate never falls below this share of the configured
  double decrease_on_refusal = 0.5;     // rate multiplier on a 429 or 503
  double decrease_on_latency = 0.8;     // rate multiplier on a latency rise
  double recovery_per_second = 0.05;    // share of the configured rate regained per second
  std::chrono::milliseconds decrease_interval{1000};
  double latency_rise_factor = 2.0;
  std::chrono::milliseconds latency_rise_floor{100};
  double background_share_when_busy = 0.5;
  std::chrono::milliseconds busy_period{5000};  // how long a refusal makes the site count as busy

  // The bucket capacity in effect.
  double Capacity() const;
};

// kInvalidParameter naming the first setting out of range.
base::Status ValidateThrottleSettings(const ThrottleSettings& settings);

// What a response tells the throttle about the site.
enum class SiteSignal {
  kOk,           // any answer that is not one of the below
  kRefused,      // 429, or 503 (busy or in maintenance)
  kServerError,  // 500, 502, 504: counted for latency only; the circuit breaker handles them
  kNoResponse,   // connection failed or cut off: no latency sample
};

// What AcquireUntil decided.
struct Admission {
  bool granted = false;
  base::Clock::Duration waited{};  // time spent waiting for a token or a pause
  // When not granted: the earliest instant a token could be had, which lies beyond the deadline.
  base::Clock::TimePoint available_at{};
};

struct ThrottleSnapshot {
  double configured_rate = 0;
  double current_rate = 0;
  double tokens = 0;
  bool busy = false;
  std::optional<base::Clock::TimePoint> paused_until;  // set while a Retry-After pause lasts
  std::optional<std::chrono::microseconds> latency_baseline;
  std::optional<std::chrono::microseconds> latency_recent;
  std::uint64_t decreases = 0;
};

class AdaptiveThrottle {
 public:
  // `settings` must pass ValidateThrottleSettings (asserted). `clock` must outlive the throttle.
  AdaptiveThrottle(ThrottleSettings settings, base::Clock& clock);

  // Waits (on the clock) until a request of `priority` may be sent, and takes its token. Gives
  // up without taking one when it could not be granted before `deadline`; then it returns at
  // once, without waiting for nothing.
  Admission AcquireUntil(Priority priority, base::Clock::TimePoint deadline);

  // Takes a token if a request of `priority` may go now; otherwise returns how long until it
  // could (assuming nothing else changes). Never waits.
  std::optional<base::Clock::Duration> TryAcquire(Priority priority);

  // Reports how the site answered a request, with the time it took (ignored for kNoResponse).
  void Record(SiteSignal signal, base::Clock::Duration latency);

  // Stops all requests to the site until `until` (Retry-After). A later pause extends it; an
  // earlier one changes nothing.
  void PauseUntil(base::Clock::TimePoint until);

  // The state now (the rate includes the recovery since the last request).
  ThrottleSnapshot Snapshot();
  const ThrottleSettings& settings() const { return settings_; }

 private:
  // Brings the buckets and the rate up to `now`. Requires mutex_.
  void Advance(base::Clock::TimePoint now);
  // Time from `now` until a request of `priority` could take a token, counting the other
  // requests that go before it. Zero when it may go now. Requires mutex_.
  base::Clock::Duration WaitFor(Priority priority, base::Clock::TimePoint now) const;
  void TakeLocked(Priority priority, base::Clock::TimePoint now);
  bool BusyLocked(base::Clock::TimePoint now) const;
  void DecreaseLocked(double factor, base::Clock::TimePoint now);

  const ThrottleSettings settings_;
  base::Clock& clock_;

  std::mutex mutex_;
  double rate_;
  double tokens_;
  double background_tokens_;
  base::Clock::TimePoint last_refill_;
  std::optional<base::Clock::TimePoint> last_decrease_;
  std::optional<base::Clock::TimePoint> last_refusal_;
  base::Clock::TimePoint paused_until_{};
  // Interactive requests waiting now; background requests let them go first.
  std::uint64_t interactive_waiting_ = 0;
  // Latency averages in seconds; negative until the first sample.
  double latency_recent_ = -1;
  double latency_baseline_ = -1;
  std::uint64_t latency_samples_ = 0;
  std::uint64_t decreases_ = 0;
};

}  // namespace fhirbridge::traffic
