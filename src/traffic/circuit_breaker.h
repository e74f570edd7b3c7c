#pragma once

// The circuit breaker of one site: after repeated failures it stops sending for a cool-down,
// then lets one probe through and closes again if the probe succeeds.
//
// closed -> open: after consecutive_failures failures in a row, or when at least failure_rate
//                 of the last rate_window outcomes failed (once that many were seen).
// open -> half-open: cool_down after opening; Allow() then admits one probe at a time.
// half-open -> closed on the probe's success; -> open (a fresh cool-down) on its failure.
//
// A failure is what says the site is down: no response, or 500, 502, 503 without Retry-After,
// 504. Every other answer, 4xx included, is a success: the site is up and talking. Throttling
// (429, 503 with Retry-After) is neither; the throttle handles it.
//
// Thread safety: every method may be called from any thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace fhirbridge::traffic {

struct BreakerSettings {
  int consecutive_failures = 5;
  double failure_rate = 0.5;
  int rate_window = 20;
  std::chrono::milliseconds cool_down{30000};
};

// kInvalidParameter naming the first setting out of range.
base::Status ValidateBreakerSettings(const BreakerSettings& settings);

enum class BreakerState { kClosed, kOpen, kHalfOpen };

std::string_view BreakerStateName(BreakerState state);  // "closed", "open", "half-open"

class CircuitBreaker {
 public:
  // `settings` must pass ValidateBreakerSettings (asserted). `clock` must outlive the breaker.
  CircuitBreaker(BreakerSettings settings, base::Clock& clock);

  // Asks to send one request. kCircuitOpen, whose diagnostic says in how many seconds the next
  // probe goes, while open or while a half-open probe is out. Every admitted request must be
  // followed by exactly one Record* call, or by Release() if it was never sent.
  base::Status Allow();

  void RecordSuccess();
  void RecordFailure();
  // Undoes Allow() for a request that was not sent after all (the throttle gave up, say).
  void Release();

  BreakerState state();
  // When the open breaker lets its next probe through; meaningful only while open.
  base::Clock::TimePoint RetryAt();
  // Transitions so far into the open state.
  std::uint64_t times_opened();

 private:
  void OpenLocked(base::Clock::TimePoint now);
  void ObserveTimeLocked(base::Clock::TimePoint now);

  const BreakerSettings settings_;
  base::Clock& clock_;

  std::mutex mutex_;
  BreakerState state_ = BreakerState::kClosed;
  int consecutive_failures_ = 0;
  std::deque<bool> window_;  // true: failed; the most recent last
  int window_failures_ = 0;
  base::Clock::TimePoint open_until_{};
  bool probe_out_ = false;
  std::uint64_t times_opened_ = 0;
};

}  // namespace fhirbridge::traffic
