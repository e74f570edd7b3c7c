// Fleet mode on the real PostgreSQL store (ctest's postgres fixture) and the real sandbox over
// loopback: workers in threads, each with its own database connection, lease work items, keep
// them alive with heartbeats, and run them; an expired lease is taken over and its old holder
// is fenced out; failures are retried with back-off; a stop request releases the item in hand;
// the request budget of a site holds for the fleet together; and several workers syncing
// several sites leave each site's store equal to the sandbox.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "fleet/budgeted_page_source.h"
#include "fleet/fenced_sync_sink.h"
#include "fleet/sync_item.h"
#include "fleet/work_planning.h"
#include "fleet/worker.h"
#include "http_page_source.h"
#include "postgres_test_schema.h"
#include "sandbox_test_server.h"
#include "store/postgres.h"
#include "store/postgres_replica_store.h"
#include "sync/store_sync_sink.h"
#include "sync_test_support.h"
#include "synth/sandbox_admin.h"

namespace fhirbridge::testing {
namespace {

using namespace std::chrono_literals;
using fleet::FleetWorker;
using fleet::LeaseGuard;
using fleet::WorkerOptions;

std::string RandomSuffix() {
  std::random_device device;
  std::uniform_int_distribution<unsigned long long> distribution;
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", distribution(device));
  return text;
}

class NoProgress : public sync::ProgressObserver {
 public:
  void OnEvent(const sync::ProgressEvent&) override {}
};

// A PostgreSQL schema of its own per test; every Open() is a new connection to it.
class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    postgres_.Name("fleet");
    if (IsSkipped() || HasFatalFailure()) return;
    dsn_ = postgres_.dsn();
    schema_ = postgres_.schema();
    store_ = Open();
  }

  void TearDown() override { postgres_.Drop(); }

  std::unique_ptr<store::ReplicaStore> Open() {
    auto opened = store::OpenPostgresReplicaStore(dsn_, schema_);
    EXPECT_TRUE(opened) << opened.error().ToString();
    return opened ? std::move(*opened) : nullptr;
  }

  // Runs SQL in the test's schema on a connection of its own.
  void Sql(const std::string& sql) {
    auto connection = store::PgConnection::Connect(dsn_, schema_);
    ASSERT_TRUE(connection) << connection.error().diagnostic;
    auto done = connection->Execute(sql, "test statement");
    ASSERT_TRUE(done) << done.error().diagnostic;
  }

  std::int64_t Add(const store::WorkItemKey& key) {
    auto id = store_->AddWorkItem(key);
    EXPECT_TRUE(id) << id.error().ToString();
    return id ? *id : 0;
  }

  store::WorkItem Item(std::int64_t id) {
    auto item = store_->GetWorkItem(id);
    EXPECT_TRUE(item && item->has_value());
    return item && item->has_value() ? **item : store::WorkItem{};
  }

  static WorkerOptions Options(std::string id) {
    WorkerOptions options;
    options.worker_id = std::move(id);
    options.lease_duration = 600ms;
    options.first_backoff = 20ms;
    options.max_backoff = 200ms;
    options.idle_poll = 20ms;
    options.once = true;
    return options;
  }

  PostgresTestSchema postgres_;
  std::string dsn_;
  std::string schema_;
  std::unique_ptr<store::ReplicaStore> store_;
};

// Records, per item, how many runners hold it at once and how often it ran.
class Exclusivity {
 public:
  void Enter(std::int64_t item) {
    std::lock_guard lock(mutex_);
    if (++active_[item] > 1) ++overlaps_;
    ++runs_[item];
  }
  void Leave(std::int64_t item) {
    std::lock_guard lock(mutex_);
    --active_[item];
  }
  int overlaps() const {
    std::lock_guard lock(mutex_);
    return overlaps_;
  }
  std::map<std::int64_t, int> runs() const {
    std::lock_guard lock(mutex_);
    return runs_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::int64_t, int> active_;
  std::map<std::int64_t, int> runs_;
  int overlaps_ = 0;
};

TEST_F(FleetTest, ThreeWorkersRunEveryItemOnceAndNeverTogether) {
  std::set<std::int64_t> ids;
  for (const char* site : {"site-a", "site-b", "site-c"}) {
    for (const char* type : {"Patient", "Observation", "Condition", "Encounter"}) {
      ids.insert(Add({site, type, ""}));
    }
  }
  Exclusivity exclusivity;
  std::vector<fleet::WorkerStats> stats(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      auto store = Open();
      ASSERT_TRUE(store);
      FleetWorker worker(
          *store,
          [&](LeaseGuard& guard) -> base::Status {
            const std::int64_t item = guard.lease().item_id;
            exclusivity.Enter(item);
            std::this_thread::sleep_for(30ms);
            exclusivity.Leave(item);
            return {};
          },
          Options("worker-" + std::to_string(i)));
      auto ran = worker.Run();
      ASSERT_TRUE(ran) << ran.error().ToString();
      stats[i] = *ran;
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(exclusivity.overlaps(), 0);
  std::int64_t completed = 0;
  int workers_with_work = 0;
  for (const fleet::WorkerStats& s : stats) {
    completed += s.completed;
    if (s.completed > 0) ++workers_with_work;
  }
  EXPECT_EQ(completed, 12);
  EXPECT_GE(workers_with_work, 2) << "the items should have been shared out";
  for (std::int64_t id : ids) {
    EXPECT_EQ(exclusivity.runs()[id], 1) << "item " << id;
    EXPECT_EQ(Item(id).state, store::WorkItemState::kDone);
  }
}

TEST_F(FleetTest, HeartbeatsKeepALongItemFromBeingTakenOver) {
  const std::int64_t id = Add({"site-a", "Observation", ""});
  std::atomic<bool> running{false};
  auto store = Open();
  ASSERT_TRUE(store);
  WorkerOptions options = Options("slow");
  options.lease_duration = 150ms;
  FleetWorker slow(
      *store,
      [&](LeaseGuard&) -> base::Status {
        running = true;
        std::this_thread::sleep_for(700ms);  // more than four lease durations
        return {};
      },
      options);
  std::thread thread([&] { ASSERT_TRUE(slow.RunOne()); });
  while (!running) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(400ms);

  bool ran_by_other = false;
  FleetWorker other(
      *store_,
      [&](LeaseGuard&) -> base::Status {
        ran_by_other = true;
        return {};
      },
      Options("other"));
  auto leased = other.RunOne();
  ASSERT_TRUE(leased) << leased.error().ToString();
  EXPECT_FALSE(*leased);
  thread.join();
  EXPECT_FALSE(ran_by_other);
  EXPECT_EQ(slow.stats().completed, 1);
  EXPECT_EQ(Item(id).state, store::WorkItemState::kDone);
  EXPECT_EQ(Item(id).holder, "slow");
}

TEST_F(FleetTest, AnExpiredLeaseIsTakenOverAndItsOldHolderIsFencedOut) {
  const std::int64_t id = Add({"site-a", "Condition", ""});
  // A worker that leased the item and then died (never heartbeats).
  auto dead_lease = store_->Lease("dead", 200ms);
  ASSERT_TRUE(dead_lease && dead_lease->has_value());
  std::atomic<bool> no_stop{false};
  LeaseGuard dead(*store_, **dead_lease, 200ms, no_stop);
  std::this_thread::sleep_for(300ms);

  int runs = 0;
  FleetWorker survivor(
      *store_,
      [&](LeaseGuard& guard) -> base::Status {
        ++runs;
        EXPECT_GT(guard.lease().token, dead.lease().token);
        return {};
      },
      Options("survivor"));
  auto stats = survivor.Run();
  ASSERT_TRUE(stats) << stats.error().ToString();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(Item(id).state, store::WorkItemState::kDone);
  EXPECT_EQ(Item(id).holder, "survivor");
  EXPECT_EQ(Item(id).attempts, 2);

  // The dead worker wakes up: its commits are refused and nothing is written.
  const std::string path =
      (std::filesystem::temp_directory_path() / ("fhirbridge-fleet-" + RandomSuffix() + ".db"))
          .string();
  {
    auto sink = sync::StoreSyncSink::Open({path, {}}, "site-a");
    ASSERT_TRUE(sink) << sink.error().ToString();
    fleet::FencedSyncSink fenced(**sink, dead);
    sync::PageWrite page;
    page.key = {"site-a", "Condition", ""};
    page.resources.push_back({"Condition", "c1", 1, "2024-01-01T00:00:00Z",
                              R"({"resourceType":"Condition","id":"c1"})", "00", "", "",
                              std::nullopt});
    page.checkpoint = R"({"since":"2024-01-01T00:00:00Z"})";
    auto committed = fenced.CommitPage(page);
    ASSERT_FALSE(committed);
    EXPECT_EQ(committed.error().code, base::ErrorCode::kLeaseLost);
    EXPECT_TRUE(dead.lost());
    EXPECT_EQ((*sink)->resources_written(), 0);
    auto checkpoint = (*sink)->ReadCheckpoint(page.key);
    ASSERT_TRUE(checkpoint);
    EXPECT_FALSE(checkpoint->has_value());
    auto completed = store_->CompleteWorkItem(dead.lease());
    ASSERT_FALSE(completed);
    EXPECT_EQ(completed.error().code, base::ErrorCode::kLeaseLost);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

TEST_F(FleetTest, ALostLeaseStopsTheItemAndLeavesItToItsNewHolder) {
  const std::int64_t id = Add({"site-a", "Patient", ""});
  auto store = Open();
  ASSERT_TRUE(store);
  WorkerOptions options = Options("partitioned");
  options.lease_duration = 90ms;  // heartbeats every 30 ms
  std::atomic<bool> running{false};
  bool saw_lost = false;
  FleetWorker worker(
      *store,
      [&](LeaseGuard& guard) -> base::Status {
        running = true;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!guard.lost() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(5ms);
        }
        saw_lost = guard.lost();
        return {};
      },
      options);
  std::thread thread([&] { ASSERT_TRUE(worker.RunOne()); });
  while (!running) std::this_thread::sleep_for(5ms);
  // Another worker takes the item over (as after a network partition): a new token.
  Sql("UPDATE work_items SET lease_token = lease_token + 1, holder = 'other' WHERE id = " +
      std::to_string(id));
  thread.join();
  EXPECT_TRUE(saw_lost);
  EXPECT_EQ(worker.stats().lost, 1);
  EXPECT_EQ(worker.stats().completed, 0);
  EXPECT_EQ(Item(id).state, store::WorkItemState::kLeased);
  EXPECT_EQ(Item(id).holder, "other");
}

TEST_F(FleetTest, FailuresAreRetriedWithBackoffUpToMaxAttempts) {
  const std::int64_t flaky = Add({"site-a", "Observation", ""});
  std::map<std::int64_t, int> runs;
  std::vector<std::chrono::steady_clock::time_point> flaky_starts;
  WorkerOptions options = Options("retrier");
  options.max_attempts = 3;
  FleetWorker worker(
      *store_,
      [&](LeaseGuard& guard) -> base::Status {
        const std::int64_t item = guard.lease().item_id;
        ++runs[item];
        if (item == flaky) {
          flaky_starts.push_back(std::chrono::steady_clock::now());
          if (runs[item] < 2) {
            return base::Fail(base::ErrorCode::kRemoteRejected, "HTTP 503", "test");
          }
          return {};
        }
        return base::Fail(base::ErrorCode::kRemoteRejected, "HTTP 400", "test");
      },
      options);
  auto first = worker.Run();
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(runs[flaky], 2);
  EXPECT_EQ(Item(flaky).state, store::WorkItemState::kDone);
  ASSERT_EQ(flaky_starts.size(), 2u);
  EXPECT_GE(flaky_starts[1] - flaky_starts[0], 20ms);

  const std::int64_t broken = Add({"site-a", "Condition", ""});
  const auto started = std::chrono::steady_clock::now();
  auto second = worker.Run();
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(runs[broken], 3);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 60ms);  // 20 ms + 40 ms of back-off
  store::WorkItem item = Item(broken);
  EXPECT_EQ(item.state, store::WorkItemState::kFailed);
  EXPECT_EQ(item.attempts, 3);
  EXPECT_NE(item.last_error.find("HTTP 400"), std::string::npos) << item.last_error;
  EXPECT_EQ(worker.stats().failed, 1);
  EXPECT_EQ(worker.stats().retried, 3);
  EXPECT_EQ(worker.stats().completed, 1);
}

TEST_F(FleetTest, AStopRequestReleasesTheItemInHand) {
  const std::int64_t id = Add({"site-a", "Encounter", ""});
  std::atomic<bool> running{false};
  FleetWorker worker(
      *store_,
      [&](LeaseGuard& guard) -> base::Status {
        running = true;
        while (!guard.should_stop()) std::this_thread::sleep_for(5ms);
        return base::Fail(base::ErrorCode::kCancelled, "stopped", "test");
      },
      Options("stopping"));
  std::thread thread([&] {
    auto ran = worker.Run();
    ASSERT_TRUE(ran) << ran.error().ToString();
  });
  while (!running) std::this_thread::sleep_for(5ms);
  worker.RequestStop();
  thread.join();
  EXPECT_EQ(worker.stats().released, 1);
  EXPECT_EQ(Item(id).state, store::WorkItemState::kPending);
  auto again = store_->Lease("next", 1s);
  ASSERT_TRUE(again && again->has_value());
  EXPECT_EQ((*again)->item_id, id);
}

TEST_F(FleetTest, BadWorkerOptionsAreRefused) {
  WorkerOptions options = Options("");
  FleetWorker worker(
      *store_, [](LeaseGuard&) -> base::Status { return {}; }, options);
  auto ran = worker.Run();
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().code, base::ErrorCode::kInvalidParameter);
}

sites::SiteConfig Site(std::string name, std::vector<std::string> types, double rate = 5) {
  sites::SiteConfig site;
  site.name = std::move(name);
  site.sync_resource_types = std::move(types);
  site.requests_per_second = rate;
  site.burst = 3;
  return site;
}

TEST_F(FleetTest, PlanningEnqueuesSiteTypeCohortItemsAndBudgetsOnce) {
  std::vector<sites::SiteConfig> sites = {Site("site-a", {"Patient", "Observation"}),
                                          Site("site-b", {"Condition"}, 0)};
  sites[1].patient_cohort = "group:g1";
  auto summary = fleet::EnqueueFleetWork(*store_, sites);
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_EQ(summary->items, 3);
  EXPECT_EQ(summary->budgets, 1);
  EXPECT_EQ(Item(summary->item_ids[0]).key.resource_type, "Patient");
  EXPECT_EQ(Item(summary->item_ids[0]).key.cohort, "");
  EXPECT_EQ(Item(summary->item_ids[2]).key.cohort, "group:g1");
  // The budget holds burst 3 tokens; site-b has no shared limit.
  int taken = 0;
  while (*store_->TryAcquireBudget("site-a", 1) && taken < 10) ++taken;
  EXPECT_GE(taken, 3);
  EXPECT_LE(taken, 4);
  auto none = store_->TryAcquireBudget("site-b", 1);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, base::ErrorCode::kNotFound);

  auto again = fleet::EnqueueFleetWork(*store_, sites);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->item_ids, summary->item_ids);  // the same items, not new ones

  std::vector<sites::SiteConfig> bad = {Site("site-c", {"Patient"}), Site("site-d", {})};
  auto refused = fleet::EnqueueFleetWork(*store_, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kConfigInvalid);
  auto lease_all = [&] {
    int count = 0;
    while (true) {
      auto lease = store_->Lease("counter", 10s);
      if (!lease || !lease->has_value()) return count;
      ++count;
    }
  };
  EXPECT_EQ(lease_all(), 3) << "nothing of site-c may be enqueued";
}

// The sandbox, shared by the HTTP tests of this file.
class FleetSandboxTest : public FleetTest {
 protected:
  static void SetUpTestSuite() { sandbox_ = new SandboxTestServer(); }
  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
  }
  std::string Base() const { return sandbox_->origin() + "/open-lab/api/FHIR/R4"; }
  static inline SandboxTestServer* sandbox_ = nullptr;
};

TEST_F(FleetSandboxTest, TwoWorkersTogetherStayWithinTheSitesSharedBudget) {
  constexpr double kRate = 5;
  constexpr double kBurst = 2;
  ASSERT_TRUE(store_->ConfigureSiteBudget("site-a", kBurst, kRate));
  std::atomic<bool> stop{false};
  std::vector<std::int64_t> requests(2, 0);
  std::vector<std::chrono::milliseconds> waited(2, 0ms);
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      auto store = Open();
      ASSERT_TRUE(store);
      sync::HttpPageSource http;
      fleet::BudgetedPageSource budgeted(http, *store, "site-a", kRate,
                                         [&] { return stop.load(); });
      while (!stop) {
        auto response = budgeted.Get({Base() + "/metadata", {}});
        if (!response && response.error().code == base::ErrorCode::kCancelled) break;
        ASSERT_TRUE(response) << response.error().ToString();
        EXPECT_EQ(response->status, 200);
      }
      requests[i] = http.attempts();  // every request that reached the sandbox
      waited[i] = budgeted.waited();
    });
  }
  std::this_thread::sleep_for(3000ms);
  stop = true;
  for (std::thread& thread : threads) thread.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::int64_t total = requests[0] + requests[1];
  const double allowed = kBurst + kRate * seconds;
  EXPECT_LE(total, allowed + 1) << "seconds " << seconds;
  RecordProperty("requests_total", std::to_string(total));
  RecordProperty("requests_allowed", std::to_string(allowed));
  // The budget, not the machine, was the limit: the workers spent time waiting for tokens.
  EXPECT_GT(waited[0] + waited[1], 500ms);
  EXPECT_GE(total, 5);
  EXPECT_GT(requests[0], 0);
  EXPECT_GT(requests[1], 0);
}

TEST_F(FleetSandboxTest, ThreeWorkersSyncTwoSitesIntoStoresEqualToTheSandbox) {
  const std::vector<std::string> types = {"Patient", "Observation", "Condition"};
  SeedPatients(Base(), 8, 3);
  std::vector<sites::SiteConfig> sites = {Site("site-a", types, 200), Site("site-b", types, 200)};
  auto summary = fleet::EnqueueFleetWork(*store_, sites);
  ASSERT_TRUE(summary) << summary.error().ToString();
  ASSERT_EQ(summary->items, 6);

  // The data goes where the work items are, as with `fhirbridge worker` (the fence is checked
  // there): one sink per site on the shared schema, shared by the workers (it serialises its
  // callers).
  std::map<std::string, std::unique_ptr<sync::StoreSyncSink>> sinks;
  for (const sites::SiteConfig& site : sites) {
    auto sink = sync::StoreSyncSink::Open({dsn_, schema_}, site.name);
    ASSERT_TRUE(sink) << sink.error().ToString();
    sinks[site.name] = std::move(*sink);
  }

  Exclusivity exclusivity;
  std::vector<std::thread> threads;
  std::atomic<std::int64_t> completed{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      auto store = Open();
      ASSERT_TRUE(store);
      NoProgress progress;
      FleetWorker worker(
          *store,
          [&](LeaseGuard& guard) -> base::Status {
            const store::WorkLease lease = guard.lease();
            exclusivity.Enter(lease.item_id);
            sync::HttpPageSource http;
            sync::SyncOptions options;
            options.site = lease.key.site;
            options.base_url = Base();
            options.page_size = 20;
            options.overlap = 200ms;
            fleet::SyncItemContext context{
                http, *sinks.at(lease.key.site), progress, *store, options, 200, {}};
            auto result = fleet::RunSyncItem(guard, context);
            exclusivity.Leave(lease.item_id);
            if (!result) return std::unexpected(result.error());
            EXPECT_EQ(result->budgeted_requests, result->outcome.requests + 1);
            return {};
          },
          Options("syncer-" + std::to_string(i)));
      auto ran = worker.Run();
      ASSERT_TRUE(ran) << ran.error().ToString();
      completed += ran->completed;
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(completed, 6);
  EXPECT_EQ(exclusivity.overlaps(), 0);
  for (std::int64_t id : summary->item_ids) {
    EXPECT_EQ(exclusivity.runs()[id], 1);
    EXPECT_EQ(Item(id).state, store::WorkItemState::kDone) << Item(id).last_error;
  }
  const SyncState sandbox = SandboxState(Base(), types);
  for (const sites::SiteConfig& site : sites) {
    auto rows = sinks.at(site.name)->LiveRows();
    ASSERT_TRUE(rows) << rows.error().ToString();
    SyncState stored;
    for (const auto& row : *rows) stored[{row.type, row.id}] = row.version;
    EXPECT_EQ(stored, sandbox) << site.name << ": " << DescribeDifference(stored, sandbox);
  }
}

TEST_F(FleetSandboxTest, AWorkerKilledMidItemIsTakenOverAndFinishedWithoutDuplicates) {
  const std::vector<std::string> types = {"Observation"};
  SeedPatients(Base(), 30, 4);
  const std::int64_t id = Add({"site-a", "Observation", ""});
  ASSERT_TRUE(store_->ConfigureSiteBudget("site-a", 2, 40));
  const store::StoreLocation shared{dsn_, schema_};
  constexpr auto kLease = 400ms;

  // Runs the leased item into the shared store, slowly (small pages, 40 requests/s).
  auto run_item = [&](store::ReplicaStore& store, sync::StoreSyncSink& sink,
                      std::int64_t* requests) {
    return [&, requests](LeaseGuard& guard) -> base::Status {
      NoProgress progress;
      sync::HttpPageSource http;
      sync::SyncOptions options;
      options.site = "site-a";
      options.base_url = Base();
      options.page_size = 5;
      options.overlap = 200ms;
      fleet::SyncItemContext context{http, sink, progress, store, options, 40, {}};
      auto result = fleet::RunSyncItem(guard, context);
      if (!result) return std::unexpected(result.error());
      if (requests != nullptr) *requests = result->outcome.requests;
      return {};
    };
  };

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The doomed worker: its own connections, opened after the fork.
    auto store = store::OpenPostgresReplicaStore(dsn_, schema_);
    auto sink = sync::StoreSyncSink::Open(shared, "site-a");
    if (!store || !sink) ::_exit(3);
    WorkerOptions options = Options("doomed");
    options.lease_duration = kLease;
    FleetWorker worker(**store, run_item(**store, **sink, nullptr), options);
    ::_exit(worker.Run() ? 0 : 1);
  }
  // Kill it once it has committed some pages of the item, but not all.
  bool checkpointed = false;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!checkpointed && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    auto sink = sync::StoreSyncSink::Open(shared, "site-a");
    if (!sink) continue;
    auto checkpoint = (*sink)->ReadCheckpoint({"site-a", "Observation", ""});
    checkpointed = checkpoint && checkpoint->has_value();
  }
  ASSERT_TRUE(checkpointed) << "the doomed worker never committed a page";
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the doomed worker finished before it was killed";
  EXPECT_EQ(Item(id).state, store::WorkItemState::kLeased);
  EXPECT_EQ(Item(id).holder, "doomed");

  // A survivor takes the item over once the dead worker's lease has expired.
  std::this_thread::sleep_for(kLease + 100ms);
  auto sink = sync::StoreSyncSink::Open(shared, "site-a");
  ASSERT_TRUE(sink) << sink.error().ToString();
  std::int64_t survivor_requests = 0;
  FleetWorker survivor(*store_, run_item(*store_, **sink, &survivor_requests), Options("survivor"));
  auto ran = survivor.Run();
  ASSERT_TRUE(ran) << ran.error().ToString();
  EXPECT_EQ(ran->completed, 1);
  store::WorkItem item = Item(id);
  EXPECT_EQ(item.state, store::WorkItemState::kDone);
  EXPECT_EQ(item.holder, "survivor");
  EXPECT_EQ(item.attempts, 2);

  auto rows = (*sink)->LiveRows();
  ASSERT_TRUE(rows);
  SyncState stored;
  for (const auto& row : *rows) {
    EXPECT_TRUE(stored.emplace(std::pair(row.type, row.id), row.version).second) << "duplicate";
  }
  const SyncState sandbox = SandboxState(Base(), types);
  EXPECT_EQ(stored, sandbox) << DescribeDifference(stored, sandbox);
  // Resuming from the dead worker's checkpoint is the engine's guarantee (sync_kill_test); a
  // seed gives every resource one timestamp, so here the overlap window reads them all again
  // and the request count shows nothing. What matters here: taken over, no duplicate, equal.
  RecordProperty("survivor_requests", std::to_string(survivor_requests));
}

// The commands, as operators run them: `fleet plan` by site name, then two `worker --once`
// processes at once, then a worker stopped by SIGTERM.
TEST_F(FleetSandboxTest, FleetPlanAndTwoWorkerProcessesSyncASiteByName) {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / ("fhirbridge-fleet-cli-" + RandomSuffix());
  std::filesystem::create_directories(folder / "sites");
  std::filesystem::create_directories(folder / "home");
  // A real backend-services app: the workers take a token and read the grant like any site.
  synth::BackendAppOptions app;
  app.client_id = "fleet";
  app.key_folder = folder / "keys";
  auto registered = synth::RegisterBackendApp(sandbox_->origin(), "open-lab", app);
  ASSERT_TRUE(registered) << registered.error().ToString();
  std::ofstream(folder / "sites" / "open.toml")
      << "[site]\nenvironment = \"sandbox\"\nbase_url = \"" << Base()
      << "\"\n\n[auth]\nmode = \"backend-services\"\nclient_id = \"fleet\"\n"
         "key = \"file:"
      << app.key_folder.string()
      << "\"\n\n[traffic]\nallow_plain_http = true\n"
         "requests_per_second = 100\nburst = 5\n\n[sync]\n"
         "resource_types = [\"Patient\", \"Observation\", \"Condition\"]\n";
  const std::string common = " --store '" + dsn_ + "' --store-schema " + schema_ + " --sites " +
                             (folder / "sites").string();
  const std::string out = (folder / "out").string();
  auto run = [&](const std::string& arguments) {
    const int status = std::system(
        (std::string(FHIRBRIDGE_BINARY) + " " + arguments + " >>" + out + " 2>>" + out + ".err")
            .c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  ASSERT_EQ(run("fleet plan open --json" + common), 0);
  ASSERT_EQ(run("fleet plan missing" + common), 3);

  const std::string worker = std::string(FHIRBRIDGE_BINARY) +
                             " worker --once --json --page-size 20 --log-level error" + common +
                             " --home " + (folder / "home").string();
  const int status = std::system(("(" + worker + " --worker-id one >>" + out + " & " + worker +
                                  " --worker-id two >>" + out + " & wait) 2>>" + out + ".err")
                                     .c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (std::int64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(Item(id).state, store::WorkItemState::kDone) << Item(id).last_error;
  }
  {
    // The workers kept the site's data in the shared store, beside the work queue.
    auto sink = sync::StoreSyncSink::Open({dsn_, schema_}, "open");
    ASSERT_TRUE(sink) << sink.error().ToString();
    auto rows = (*sink)->LiveRows();
    ASSERT_TRUE(rows);
    SyncState stored;
    for (const auto& row : *rows) stored[{row.type, row.id}] = row.version;
    const SyncState sandbox = SandboxState(Base(), {"Patient", "Observation", "Condition"});
    EXPECT_EQ(stored, sandbox) << DescribeDifference(stored, sandbox);
  }
  std::ifstream printed(out);
  std::string text((std::istreambuf_iterator<char>(printed)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"worker_id\": \"one\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"worker_id\": \"two\""), std::string::npos) << text;

  // A worker waiting for work stops at SIGTERM and exits 0.
  const auto started = std::chrono::steady_clock::now();
  const int stopped =
      std::system(("timeout --preserve-status -s TERM 1 " + std::string(FHIRBRIDGE_BINARY) +
                   " worker --log-level error" + common + " --home " + (folder / "home").string() +
                   " >>" + out + " 2>>" + out + ".err")
                      .c_str());
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace fhirbridge::testing
