#include "fleet/worker.h"

#include <algorithm>
#include <condition_variable>
#include <thread>
#include <utility>

#include "observe/log.h"

namespace fhirbridge::fleet {
namespace {

void LogItem(observe::LogLevel level, observe::Literal event, observe::Literal message,
             const store::WorkLease& lease, std::optional<base::Error> error = std::nullopt) {
  observe::LogEvent entry;
  entry.level = level;
  entry.event = event;
  entry.subsystem = "fleet.worker";
  entry.message = message;
  entry.site = lease.key.site;
  entry.error = std::move(error);
  observe::Log(entry);
}

// Extends the lease every third of its duration until told to stop or the lease is lost.
class Heartbeat {
 public:
  Heartbeat(LeaseGuard& guard, std::chrono::milliseconds duration)
      : thread_([this, &guard, duration] { Loop(guard, duration / 3); }) {}
  ~Heartbeat() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void Loop(LeaseGuard& guard, std::chrono::milliseconds interval) {
    std::unique_lock lock(mutex_);
    while (!done_) {
      if (wake_.wait_for(lock, interval, [this] { return done_; })) return;
      lock.unlock();
      base::Status extended = guard.Extend();
      lock.lock();
      if (!extended && extended.error().code == base::ErrorCode::kLeaseLost) return;
      // Another error (the database briefly unreachable) is tried again at the next beat; the
      // lease expires on its own if the database stays away.
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;  // last: started after the members it uses
};

}  // namespace

LeaseGuard::LeaseGuard(store::ReplicaStore& store, store::WorkLease lease,
                       std::chrono::milliseconds duration, const std::atomic<bool>& stop_requested)
    : store_(store),
      duration_(duration),
      stop_requested_(stop_requested),
      lease_(std::move(lease)) {}

store::WorkLease LeaseGuard::lease() const {
  std::lock_guard lock(mutex_);
  return lease_;
}

base::Status LeaseGuard::Extend() {
  if (lost()) {
    return base::Fail(base::ErrorCode::kLeaseLost, "the work item's lease was lost", "fleet");
  }
  std::lock_guard lock(mutex_);
  auto extended = store_.Heartbeat(lease_, duration_);
  if (!extended) {
    if (extended.error().code == base::ErrorCode::kLeaseLost) lost_.store(true);
    return std::unexpected(extended.error());
  }
  lease_ = std::move(*extended);
  return {};
}

FleetWorker::FleetWorker(store::ReplicaStore& store, ItemRunner runner, WorkerOptions options)
    : store_(store), runner_(std::move(runner)), options_(std::move(options)) {}

base::Status FleetWorker::CheckOptions() const {
  if (options_.worker_id.empty()) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "a worker needs a worker id",
                      "worker-id");
  }
  if (options_.lease_duration < std::chrono::milliseconds(30)) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "the lease duration must be at least 30 ms", "lease");
  }
  if (options_.max_attempts < 1) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "max attempts must be at least 1",
                      "max-attempts");
  }
  return {};
}

std::chrono::milliseconds FleetWorker::Backoff(std::int64_t attempts) const {
  std::chrono::milliseconds wait = options_.first_backoff;
  for (std::int64_t i = 1; i < attempts && wait < options_.max_backoff; ++i) wait *= 2;
  return std::min(wait, options_.max_backoff);
}

void FleetWorker::Wait(std::chrono::milliseconds duration, const LeaseGuard* guard) const {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    if (stop_requested_.load() || (guard != nullptr && guard->lost())) return;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    std::this_thread::sleep_for(
        std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(20)));
  }
}

base::Result<bool> FleetWorker::RunOne() {
  if (auto checked = CheckOptions(); !checked) return std::unexpected(checked.error());
  auto leased = store_.Lease(options_.worker_id, options_.lease_duration);
  if (!leased) return std::unexpected(leased.error());
  if (!leased->has_value()) return false;

  LeaseGuard guard(store_, std::move(**leased), options_.lease_duration, stop_requested_);
  const store::WorkLease lease = guard.lease();
  LogItem(observe::LogLevel::kInfo, "fleet.item_leased", "leased a work item", lease);

  base::Status outcome;
  {
    Heartbeat heartbeat(guard, options_.lease_duration);
    outcome = runner_(guard);
    if (!outcome && !guard.lost() && !stop_requested_.load()) {
      auto item = store_.GetWorkItem(lease.item_id);
      if (!item) return std::unexpected(item.error());
      const std::int64_t attempts = item->has_value() ? (*item)->attempts : 1;
      if (attempts < options_.max_attempts) Wait(Backoff(attempts), &guard);
    }
  }  // the heartbeat stops here

  base::Status ended;
  if (guard.lost()) {
    ++stats_.lost;
    LogItem(observe::LogLevel::kWarning, "fleet.lease_lost",
            "lost the lease of a work item; another worker has it now", lease);
    return true;
  }
  if (outcome) {
    ended = store_.CompleteWorkItem(guard.lease());
    if (ended) {
      ++stats_.completed;
      LogItem(observe::LogLevel::kInfo, "fleet.item_done", "completed a work item", lease);
    }
  } else if (outcome.error().code == base::ErrorCode::kCancelled && stop_requested_.load()) {
    ended = store_.FailWorkItem(guard.lease(), "released at a stop request", true);
    if (ended) {
      ++stats_.released;
      LogItem(observe::LogLevel::kInfo, "fleet.item_released",
              "released a work item at a stop request", lease);
    }
  } else {
    auto item = store_.GetWorkItem(lease.item_id);
    if (!item) return std::unexpected(item.error());
    const std::int64_t attempts = item->has_value() ? (*item)->attempts : options_.max_attempts;
    const bool retry = attempts < options_.max_attempts;
    ended = store_.FailWorkItem(guard.lease(), outcome.error().ToString(), retry);
    if (ended) {
      ++(retry ? stats_.retried : stats_.failed);
      LogItem(observe::LogLevel::kWarning, "fleet.item_failed",
              retry ? observe::Literal("a work item failed; it will be tried again")
                    : observe::Literal("a work item failed for good after its last attempt"),
              lease, outcome.error());
    }
  }
  if (!ended) {
    if (ended.error().code == base::ErrorCode::kLeaseLost) {
      ++stats_.lost;
      LogItem(observe::LogLevel::kWarning, "fleet.lease_lost",
              "lost the lease of a work item; another worker has it now", lease);
      return true;
    }
    return std::unexpected(ended.error());
  }
  return true;
}

base::Result<WorkerStats> FleetWorker::Run() {
  if (auto checked = CheckOptions(); !checked) return std::unexpected(checked.error());
  while (!stop_requested_.load()) {
    auto ran = RunOne();
    if (!ran) return std::unexpected(ran.error());
    if (*ran) continue;
    if (options_.once) break;
    Wait(options_.idle_poll, nullptr);
  }
  return stats_;
}

}  // namespace fhirbridge::fleet
