#pragma once

// The slots for the FHIR requests one tenant handles at once, and a bounded first-in, first-out
// queue of requests waiting for a slot, as in Microsoft's FHIR server: a request beyond the limit
// waits in the queue, and is refused when the queue is full or its wait expires.
//
// Nothing here blocks: a queued request is represented by a callback, run when a slot is handed
// to it. Thread-safe; callbacks run outside the limiter's lock, on the thread that freed the slot.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

namespace fhirbridge::sandbox {

class ConcurrencyLimiter {
 public:
  class Waiter;

  enum class Admission {
    kAdmitted,   // the caller holds a slot and must Release it
    kQueued,     // the callback runs once the request holds a slot; Withdraw gives up waiting
    kQueueFull,  // nothing is held and the callback is dropped
  };

  struct Ticket {
    Admission admission = Admission::kAdmitted;
    std::shared_ptr<Waiter> waiter;  // set when queued
  };

  // Limits start at 0: no limit on concurrent requests, and no queue.
  ConcurrencyLimiter() = default;
  ConcurrencyLimiter(const ConcurrencyLimiter&) = delete;
  ConcurrencyLimiter& operator=(const ConcurrencyLimiter&) = delete;

  Ticket Acquire(std::function<void()> on_admitted);

  // Frees a slot; the longest-waiting request, if any, gets it.
  void Release();

  // Takes a queued request out of the queue. True if it was still waiting (its callback will
  // never run); false if it already holds a slot.
  bool Withdraw(const std::shared_ptr<Waiter>& waiter);

  // `max_concurrent` 0 means no limit. Requests already waiting that now fit are admitted; a
  // smaller queue refuses newcomers until it has drained below its size.
  void SetLimits(std::uint32_t max_concurrent, std::uint32_t queue_size);

  // Forgets every waiting request without running it, at shutdown: their callbacks hold
  // connections that must close while the server's I/O is still there.
  void DropWaiting();

  std::size_t in_flight() const;
  std::size_t waiting() const;

 private:
  bool HasFreeSlot() const;
  // Moves as many waiters as there are free slots out of the queue; the caller runs them.
  std::vector<std::function<void()>> AdmitWaiting();

  mutable std::mutex mutex_;
  std::uint32_t max_concurrent_ = 0;
  std::uint32_t queue_size_ = 0;
  std::size_t in_flight_ = 0;
  std::list<std::shared_ptr<Waiter>> queue_;
};

}  // namespace fhirbridge::sandbox
