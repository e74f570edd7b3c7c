#pragma once

// A fleet worker: leases one work item (site x resource type x cohort) at a time from the
// shared store, keeps the lease alive with heartbeats on its own thread, runs the item, and
// completes or fails it. Several workers, in one process or on several machines, share one
// PostgreSQL store; the store's Lease (FOR UPDATE SKIP LOCKED with a lease token) guarantees
// that two workers never hold the same item at once, and an item whose worker died is leased
// again once its lease expires.
//
// Failures: an item that fails is retried up to `max_attempts` leases in all (counted by the
// store, so attempts by a dead worker count too). Between attempts the worker waits a back-off
// (doubling from `first_backoff`) while still holding the lease, so no other worker retries the
// item early, then releases it as pending. Limitation: the store has no "not before" time, so
// the back-off holds this worker; an item past `max_attempts` is marked failed.
//
// Stopping: RequestStop() (safe from a signal handler) lets the item in hand finish; a runner
// that watches LeaseGuard::should_stop() may return kCancelled instead, and the item is then
// released as pending for another worker. A lost lease (the heartbeat got kLeaseLost) sets
// LeaseGuard::lost(); the worker then never completes or fails the item, and FencedSyncSink
// refuses further commits of it.
//
// Thread safety: one FleetWorker runs on one thread (plus its heartbeat thread); RequestStop()
// may be called from any thread or a signal handler.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "base/result.h"
#include "store/replica_store.h"

namespace fhirbridge::fleet {

struct WorkerOptions {
  std::string worker_id;  // names the holder in the store; unique per worker
  std::chrono::milliseconds lease_duration{30'000};
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{1'000};
  std::chrono::milliseconds max_backoff{60'000};
  // How long to wait before asking again when no item is available (without `once`).
  std::chrono::milliseconds idle_poll{2'000};
  bool once = false;  // return when no item is available instead of waiting for more
};

// What a running item sees of its lease.
class LeaseGuard {
 public:
  LeaseGuard(store::ReplicaStore& store, store::WorkLease lease, std::chrono::milliseconds duration,
             const std::atomic<bool>& stop_requested);

  // The lease as last extended.
  store::WorkLease lease() const;
  // The lease was taken over or expired: stop work on the item at once.
  bool lost() const { return lost_.load(); }
  // The worker was asked to stop.
  bool stop_requested() const { return stop_requested_.load(); }
  bool should_stop() const { return lost() || stop_requested(); }

  // Extends the lease now (the heartbeat thread and a commit both call it). kLeaseLost, and
  // lost() from then on, when it expired or was taken over; other errors (the database
  // unreachable) leave lost() as it is.
  base::Status Extend();

 private:
  store::ReplicaStore& store_;
  std::chrono::milliseconds duration_;
  const std::atomic<bool>& stop_requested_;
  mutable std::mutex mutex_;
  store::WorkLease lease_;
  std::atomic<bool> lost_{false};
};

// Runs one leased item to its end; returns an error when the item failed (its diagnostic must
// be PHI-free: it is stored with the item).
using ItemRunner = std::function<base::Status(LeaseGuard& guard)>;

struct WorkerStats {
  std::int64_t completed = 0;
  std::int64_t retried = 0;   // failed, released as pending for another attempt
  std::int64_t failed = 0;    // failed for good after max_attempts
  std::int64_t released = 0;  // given back at a stop request
  std::int64_t lost = 0;      // lease lost while running
};

class FleetWorker {
 public:
  // kInvalidParameter from Run/RunOne for an empty worker id, a lease under 30 ms or
  // max_attempts under 1.
  FleetWorker(store::ReplicaStore& store, ItemRunner runner, WorkerOptions options);

  // Leases and runs items until RequestStop(), or, with `once`, until none is available.
  // Fails only when the store does (leasing, completing); an item's own failure is recorded
  // with the item.
  base::Result<WorkerStats> Run();

  // Leases and runs one item; false when none was available.
  base::Result<bool> RunOne();

  void RequestStop() { stop_requested_.store(true); }
  const WorkerStats& stats() const { return stats_; }

 private:
  base::Status CheckOptions() const;
  std::chrono::milliseconds Backoff(std::int64_t attempts) const;
  // Waits up to `duration`, returning early at a stop request or a lost lease.
  void Wait(std::chrono::milliseconds duration, const LeaseGuard* guard) const;

  store::ReplicaStore& store_;
  ItemRunner runner_;
  WorkerOptions options_;
  std::atomic<bool> stop_requested_{false};
  WorkerStats stats_;
};

}  // namespace fhirbridge::fleet
