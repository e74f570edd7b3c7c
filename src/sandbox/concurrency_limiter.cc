#include "sandbox/concurrency_limiter.h"

#include <cassert>
#include <vector>

namespace fhirbridge::sandbox {

class ConcurrencyLimiter::Waiter {
 public:
  explicit Waiter(std::function<void()> on_admitted) : on_admitted_(std::move(on_admitted)) {}

 private:
  friend class ConcurrencyLimiter;
  std::function<void()> on_admitted_;
  bool waiting_ = true;
  std::list<std::shared_ptr<Waiter>>::iterator position_;
};

ConcurrencyLimiter::Ticket ConcurrencyLimiter::Acquire(std::function<void()> on_admitted) {
  const std::lock_guard lock(mutex_);
  // Newcomers never overtake requests already waiting.
  if (queue_.empty() && HasFreeSlot()) {
    ++in_flight_;
    return {Admission::kAdmitted, nullptr};
  }
  if (queue_.size() >= queue_size_) return {Admission::kQueueFull, nullptr};
  auto waiter = std::make_shared<Waiter>(std::move(on_admitted));
  waiter->position_ = queue_.insert(queue_.end(), waiter);
  return {Admission::kQueued, std::move(waiter)};
}

void ConcurrencyLimiter::Release() {
  std::vector<std::function<void()>> admitted;
  {
    const std::lock_guard lock(mutex_);
    assert(in_flight_ > 0 && "Release without a slot");
    --in_flight_;
    admitted = AdmitWaiting();
  }
  for (auto& run : admitted) run();
}

bool ConcurrencyLimiter::Withdraw(const std::shared_ptr<Waiter>& waiter) {
  const std::lock_guard lock(mutex_);
  if (!waiter->waiting_) return false;
  waiter->waiting_ = false;
  queue_.erase(waiter->position_);
  return true;
}

void ConcurrencyLimiter::SetLimits(std::uint32_t max_concurrent, std::uint32_t queue_size) {
  std::vector<std::function<void()>> admitted;
  {
    const std::lock_guard lock(mutex_);
    max_concurrent_ = max_concurrent;
    queue_size_ = queue_size;
    admitted = AdmitWaiting();
  }
  for (auto& run : admitted) run();
}

void ConcurrencyLimiter::DropWaiting() {
  std::list<std::shared_ptr<Waiter>> dropped;
  {
    const std::lock_guard lock(mutex_);
    for (const auto& waiter : queue_) waiter->waiting_ = false;
    dropped.swap(queue_);
  }
  // The callbacks are destroyed here, outside the lock, unless a timeout still holds the waiter.
  for (const auto& waiter : dropped) waiter->on_admitted_ = nullptr;
}

std::size_t ConcurrencyLimiter::in_flight() const {
  const std::lock_guard lock(mutex_);
  return in_flight_;
}

std::size_t ConcurrencyLimiter::waiting() const {
  const std::lock_guard lock(mutex_);
  return queue_.size();
}

bool ConcurrencyLimiter::HasFreeSlot() const {
  return max_concurrent_ == 0 || in_flight_ < max_concurrent_;
}

std::vector<std::function<void()>> ConcurrencyLimiter::AdmitWaiting() {
  std::vector<std::function<void()>> admitted;
  while (!queue_.empty() && HasFreeSlot()) {
    Waiter& waiter = *queue_.front();
    waiter.waiting_ = false;
    admitted.push_back(std::move(waiter.on_admitted_));
    // A timeout may still hold the waiter; it must not keep the request's state alive as well.
    waiter.on_admitted_ = nullptr;
    queue_.pop_front();
    ++in_flight_;
  }
  return admitted;
}

}  // namespace fhirbridge::sandbox
