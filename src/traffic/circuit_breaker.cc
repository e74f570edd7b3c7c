#include "traffic/circuit_breaker.h"

#include <cassert>
#include <cstdio>
#include <string>

namespace fhirbridge::traffic {

base::Status ValidateBreakerSettings(const BreakerSettings& settings) {
  if (settings.consecutive_failures < 1) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "consecutive_failures must be at least 1.");
  }
  if (!(settings.failure_rate > 0 && settings.failure_rate <= 1)) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "failure_rate must be above 0 and at most 1.");
  }
  if (settings.rate_window < 1 || settings.rate_window > 10000) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "rate_window must be 1 to 10000.");
  }
  if (settings.cool_down.count() <= 0) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "cool_down must be positive.");
  }
  return {};
}

std::string_view BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(BreakerSettings settings, base::Clock& clock)
    : settings_(settings), clock_(clock) {
  assert(ValidateBreakerSettings(settings_).has_value() && "breaker settings out of range");
}

void CircuitBreaker::ObserveTimeLocked(base::Clock::TimePoint now) {
  if (state_ == BreakerState::kOpen && now >= open_until_) {
    state_ = BreakerState::kHalfOpen;
    probe_out_ = false;
  }
}

void CircuitBreaker::OpenLocked(base::Clock::TimePoint now) {
  state_ = BreakerState::kOpen;
  open_until_ = now + settings_.cool_down;
  probe_out_ = false;
  consecutive_failures_ = 0;
  window_.clear();
  window_failures_ = 0;
  ++times_opened_;
}

base::Status CircuitBreaker::Allow() {
  std::lock_guard lock(mutex_);
  const base::Clock::TimePoint now = clock_.Now();
  ObserveTimeLocked(now);
  if (state_ == BreakerState::kClosed) return {};
  if (state_ == BreakerState::kHalfOpen && !probe_out_) {
    probe_out_ = true;
    return {};
  }
  if (state_ == BreakerState::kHalfOpen) {
    return base::Fail(base::ErrorCode::kCircuitOpen,
                      "The site failed repeatedly; its circuit breaker is testing it with one "
                      "request now; try again when that one has been answered.");
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f",
                std::chrono::duration<double>(open_until_ - now).count());
  std::string diagnostic =
      "The site failed repeatedly; its circuit breaker is open and lets the next request through "
      "in " +
      std::string(seconds) + " s.";
  return base::Fail(base::ErrorCode::kCircuitOpen, std::move(diagnostic));
}

void CircuitBreaker::RecordSuccess() {
  std::lock_guard lock(mutex_);
  ObserveTimeLocked(clock_.Now());
  if (state_ == BreakerState::kHalfOpen) {
    state_ = BreakerState::kClosed;
    probe_out_ = false;
    consecutive_failures_ = 0;
    window_.clear();
    window_failures_ = 0;
    return;
  }
  if (state_ == BreakerState::kOpen) return;
  consecutive_failures_ = 0;
  window_.push_back(false);
  if (static_cast<int>(window_.size()) > settings_.rate_window) {
    window_failures_ -= window_.front() ? 1 : 0;
    window_.pop_front();
  }
}

void CircuitBreaker::RecordFailure() {
  std::lock_guard lock(mutex_);
  const base::Clock::TimePoint now = clock_.Now();
  ObserveTimeLocked(now);
  if (state_ == BreakerState::kHalfOpen) return OpenLocked(now);
  if (state_ == BreakerState::kOpen) return;
  ++consecutive_failures_;
  window_.push_back(true);
  ++window_failures_;
  if (static_cast<int>(window_.size()) > settings_.rate_window) {
    window_failures_ -= window_.front() ? 1 : 0;
    window_.pop_front();
  }
  const bool window_full = static_cast<int>(window_.size()) >= settings_.rate_window;
  if (consecutive_failures_ >= settings_.consecutive_failures ||
      (window_full && window_failures_ >= settings_.failure_rate * settings_.rate_window)) {
    OpenLocked(now);
  }
}

void CircuitBreaker::Release() {
  std::lock_guard lock(mutex_);
  if (state_ == BreakerState::kHalfOpen) probe_out_ = false;
}

BreakerState CircuitBreaker::state() {
  std::lock_guard lock(mutex_);
  ObserveTimeLocked(clock_.Now());
  return state_;
}

base::Clock::TimePoint CircuitBreaker::RetryAt() {
  std::lock_guard lock(mutex_);
  return open_until_;
}

std::uint64_t CircuitBreaker::times_opened() {
  std::lock_guard lock(mutex_);
  return times_opened_;
}

}  // namespace fhirbridge::traffic
