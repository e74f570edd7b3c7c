#include "traffic/adaptive_throttle.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace fhirbridge::traffic {
namespace {

using Duration = base::Clock::Duration;
using TimePoint = base::Clock::TimePoint;

// Moving-average weights: the recent average follows about the last 5 responses, the baseline
// about the last 100.
constexpr double kRecentWeight = 0.2;
constexpr double kBaselineWeight = 0.01;
// Latency is judged only after this many responses, so that a cold start sets no baseline.
constexpr std::uint64_t kLatencyWarmup = 10;
// The background bucket holds at most this many tokens, so a quiet spell never lets background
// work burst past interactive requests when the site is busy.
constexpr double kBackgroundCapacity = 1;

double Seconds(Duration duration) { return std::chrono::duration<double>(duration).count(); }

Duration FromSeconds(double seconds) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

double ThrottleSettings::Capacity() const {
  if (burst > 0) return burst;
  return std::max(1.0, requests_per_second);
}

base::Status ValidateThrottleSettings(const ThrottleSettings& settings) {
  auto invalid = [](const char* what) {
    return base::Fail(base::ErrorCode::kInvalidParameter, what);
  };
  if (!(settings.requests_per_second > 0) || !std::isfinite(settings.requests_per_second)) {
    return invalid("requests_per_second must be a positive number.");
  }
  if (!(settings.burst >= 0) || !std::isfinite(settings.burst)) {
    return invalid("burst must be 0 (one second's worth) or a positive number.");
  }
  if (!(settings.minimum_rate_fraction > 0 && settings.minimum_rate_fraction <= 1)) {
    return invalid("minimum_rate_fraction must be above 0 and at most 1.");
  }
  if (!(settings.decrease_on_refusal > 0 && settings.decrease_on_refusal <= 1) ||
      !(settings.decrease_on_latency > 0 && settings.decrease_on_latency <= 1)) {
    return invalid("decrease_on_refusal and decrease_on_latency must be above 0 and at most 1.");
  }
  if (!(settings.recovery_per_second > 0) || !std::isfinite(settings.recovery_per_second)) {
    return invalid("recovery_per_second must be a positive number.");
  }
  if (settings.decrease_interval.count() < 0 || settings.latency_rise_floor.count() < 0) {
    return invalid("decrease_interval and latency_rise_floor cannot be negative.");
  }
  if (!(settings.latency_rise_factor >= 1) || !std::isfinite(settings.latency_rise_factor)) {
    return invalid("latency_rise_factor must be at least 1.");
  }
  if (!(settings.background_share_when_busy > 0 && settings.background_share_when_busy <= 1)) {
    return invalid("background_share_when_busy must be above 0 and at most 1.");
  }
  if (settings.busy_period.count() < 0) return invalid("busy_period cannot be negative.");
  return {};
}

AdaptiveThrottle::AdaptiveThrottle(ThrottleSettings settings, base::Clock& clock)
    : settings_(settings),
      clock_(clock),
      rate_(settings.requests_per_second),
      tokens_(settings.Capacity()),
      background_tokens_(kBackgroundCapacity),
      last_refill_(clock.Now()) {
  assert(ValidateThrottleSettings(settings_).has_value() && "throttle settings out of range");
}

void AdaptiveThrottle::Advance(TimePoint now) {
  // Tokens do not accrue during a Retry-After pause: the site asked for silence, not for a
  // burst when it ends.
  const TimePoint from = std::max(last_refill_, paused_until_);
  last_refill_ = std::max(last_refill_, now);
  if (now <= from) return;
  const double elapsed = Seconds(now - from);

  // Additive increase, once the last decrease is a decrease_interval old.
  const double configured = settings_.requests_per_second;
  if (rate_ < configured) {
    const TimePoint recovering_from =
        last_decrease_ ? *last_decrease_ + settings_.decrease_interval : now;
    const double recovery_time = std::min(elapsed, std::max(0.0, Seconds(now - recovering_from)));
    rate_ =
        std::min(configured, rate_ + settings_.recovery_per_second * configured * recovery_time);
  }

  tokens_ = std::min(settings_.Capacity(), tokens_ + rate_ * elapsed);
  background_tokens_ =
      std::min(kBackgroundCapacity,
               background_tokens_ + settings_.background_share_when_busy * rate_ * elapsed);
}

bool AdaptiveThrottle::BusyLocked(TimePoint now) const {
  if (last_refusal_ && now - *last_refusal_ < settings_.busy_period) return true;
  if (latency_samples_ < kLatencyWarmup) return false;
  return latency_recent_ > latency_baseline_ * settings_.latency_rise_factor &&
         latency_recent_ - latency_baseline_ > Seconds(settings_.latency_rise_floor);
}

Duration AdaptiveThrottle::WaitFor(Priority priority, TimePoint now) const {
  Duration pause = Duration::zero();
  if (now < paused_until_) pause = paused_until_ - now;

  // Interactive requests need one token; a background one needs a token left after every
  // interactive request waiting has taken its own.
  const double needed =
      priority == Priority::kInteractive ? 1.0 : 1.0 + static_cast<double>(interactive_waiting_);
  // During a pause the bucket stays as it is; it refills from the pause's end.
  double wait = std::max(0.0, (needed - tokens_) / rate_);
  if (priority == Priority::kBackground && BusyLocked(now)) {
    const double background_rate = settings_.background_share_when_busy * rate_;
    wait = std::max(wait, std::max(0.0, (1.0 - background_tokens_) / background_rate));
  }
  if (pause == Duration::zero() && wait <= 0) return Duration::zero();
  // At least one tick, so that a caller never spins on a rounding error.
  return pause + std::max(FromSeconds(wait), Duration(1));
}

void AdaptiveThrottle::TakeLocked(Priority priority, TimePoint now) {
  tokens_ -= 1;
  if (priority == Priority::kBackground && BusyLocked(now)) background_tokens_ -= 1;
}

std::optional<Duration> AdaptiveThrottle::TryAcquire(Priority priority) {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_.Now();
  Advance(now);
  const Duration wait = WaitFor(priority, now);
  if (wait > Duration::zero()) return wait;
  TakeLocked(priority, now);
  return std::nullopt;
}

Admission AdaptiveThrottle::AcquireUntil(Priority priority, TimePoint deadline) {
  const TimePoint started = clock_.Now();
  std::unique_lock lock(mutex_);
  bool counted = false;
  while (true) {
    const TimePoint now = clock_.Now();
    Advance(now);
    const Duration wait = WaitFor(priority, now);
    if (wait == Duration::zero()) {
      TakeLocked(priority, now);
      if (counted) --interactive_waiting_;
      return Admission{true, now - started, now};
    }
    if (now + wait > deadline) {
      if (counted) --interactive_waiting_;
      return Admission{false, now - started, now + wait};
    }
    if (priority == Priority::kInteractive && !counted) {
      ++interactive_waiting_;
      counted = true;
    }
    // Another thread may take the token first; then this one computes its wait again.
    lock.unlock();
    clock_.SleepFor(wait);
    lock.lock();
  }
}

void AdaptiveThrottle::DecreaseLocked(double factor, TimePoint now) {
  if (last_decrease_ && now - *last_decrease_ < settings_.decrease_interval) return;
  last_decrease_ = now;
  ++decreases_;
  const double floor = settings_.minimum_rate_fraction * settings_.requests_per_second;
  rate_ = std::max(floor, rate_ * factor);
  // Tokens gathered at the old rate would let a burst through at once.
  tokens_ = std::min(tokens_, std::max(1.0, rate_ * Seconds(settings_.decrease_interval)));
}

void AdaptiveThrottle::Record(SiteSignal signal, Duration latency) {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_.Now();
  Advance(now);
  if (signal == SiteSignal::kRefused) {
    last_refusal_ = now;
    DecreaseLocked(settings_.decrease_on_refusal, now);
  }
  if (signal == SiteSignal::kNoResponse || signal == SiteSignal::kRefused) return;

  // Refusals are answered fast and would drag the averages down; only real answers count.
  const double sample = Seconds(latency);
  if (latency_samples_ == 0) {
    latency_recent_ = sample;
    latency_baseline_ = sample;
  } else {
    latency_recent_ += kRecentWeight * (sample - latency_recent_);
    // The baseline moves a step of kBaselineWeight toward the sample, capped at the level that
    // would count as a rise, so a rise is judged against the latency before it; a lasting one
    // still becomes the new normal after a few hundred responses. It follows improvements at
    // the pace of the recent average.
    const double rise_level = std::max(latency_baseline_ * settings_.latency_rise_factor,
                                       latency_baseline_ + Seconds(settings_.latency_rise_floor));
    const double capped = std::min(sample, rise_level);
    latency_baseline_ += kBaselineWeight * (capped - latency_baseline_);
    latency_baseline_ = std::min(latency_baseline_, latency_recent_);
  }
  ++latency_samples_;
  if (latency_samples_ >= kLatencyWarmup &&
      latency_recent_ > latency_baseline_ * settings_.latency_rise_factor &&
      latency_recent_ - latency_baseline_ > Seconds(settings_.latency_rise_floor)) {
    DecreaseLocked(settings_.decrease_on_latency, now);
  }
}

void AdaptiveThrottle::PauseUntil(TimePoint until) {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_.Now();
  Advance(now);
  if (until <= paused_until_ || until <= now) return;
  paused_until_ = until;
  tokens_ = std::min(tokens_, 1.0);
}

ThrottleSnapshot AdaptiveThrottle::Snapshot() {
  std::lock_guard lock(mutex_);
  Advance(clock_.Now());
  ThrottleSnapshot snapshot;
  snapshot.configured_rate = settings_.requests_per_second;
  snapshot.current_rate = rate_;
  snapshot.tokens = tokens_;
  snapshot.busy = BusyLocked(clock_.Now());
  if (clock_.Now() < paused_until_) snapshot.paused_until = paused_until_;
  if (latency_samples_ > 0) {
    snapshot.latency_baseline = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double>(latency_baseline_));
    snapshot.latency_recent = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double>(latency_recent_));
  }
  snapshot.decreases = decreases_;
  return snapshot;
}

}  // namespace fhirbridge::traffic
