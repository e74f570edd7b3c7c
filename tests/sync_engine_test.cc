// The sync engine against the real sandbox over loopback HTTP, into a real SQLite file: a full
// sync equals the sandbox; an incremental sync catches up with creates, updates and deletes; a
// second sync with nothing changed makes only the requests its strategy needs; injected 429s,
// 5xx, dropped connections and expired paging sessions are survived; a malformed page is
// quarantined without moving the checkpoint; per-patient refresh on an Epic-like tenant.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/client.h"
#include "http_page_source.h"
#include "sandbox_test_server.h"
#include "store/replica_store.h"
#include "store/sqlite.h"
#include "sync/engine.h"
#include "sync/store_sync_sink.h"
#include "sync_test_support.h"

namespace fhirbridge::testing {
namespace {

using sync::Strategy;

const std::vector<std::string> kTypes = {"Patient", "Observation", "Condition"};

class NoProgress : public sync::ProgressObserver {
 public:
  void OnEvent(const sync::ProgressEvent&) override {}
};

// A fresh SQLite file per test, removed afterwards.
class TempStore {
 public:
  TempStore() {
    path_ =
        (std::filesystem::temp_directory_path() / ("fhirbridge-sync-" + std::to_string(::getpid()) +
                                                   "-" + std::to_string(counter_++) + ".db"))
            .string();
    Remove();
  }
  ~TempStore() { Remove(); }
  const std::string& path() const { return path_; }

 private:
  void Remove() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  static inline int counter_ = 0;
  std::string path_;
};

class SyncEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = sandbox_.origin() + "/open-lab/api/FHIR/R4";
    FreshStore();
  }

  // A new, empty store file and sink.
  void FreshStore() {
    sink_.reset();
    store_ = std::make_unique<TempStore>();
    auto sink = sync::StoreSyncSink::Open({store_->path(), {}}, "open-lab");
    ASSERT_TRUE(sink) << sink.error().ToString();
    sink_ = std::move(*sink);
  }

  // Seeds, then lets the overlap window pass and changes one resource per type, so that the
  // checkpoints after a sync sit on a lone resource as they do on a site with history (a seed
  // gives thousands of resources one timestamp, all of which an overlap window reads again).
  std::vector<std::string> SeedAndSettle(int patients, int observations_each) {
    std::vector<std::string> ids = SeedPatients(base_, patients, observations_each);
    std::this_thread::sleep_for(Options().overlap + std::chrono::milliseconds(50));
    for (const std::string& type : kTypes)
      UpdateResource(base_, type, SandboxIds(base_, type).at(0));
    return ids;
  }

  sync::SyncOptions Options() {
    sync::SyncOptions options;
    options.site = "open-lab";
    options.base_url = base_;
    options.page_size = 25;
    options.overlap = std::chrono::milliseconds(200);
    return options;
  }

  sync::SyncReport RunSync(const std::vector<sync::TypePlan>& plan, sync::HttpPageSource& source) {
    sync::SyncEngine engine(source, *sink_, progress_, Options());
    return engine.Run(plan);
  }

  sync::SyncReport RunSync(const std::vector<sync::TypePlan>& plan) {
    sync::HttpPageSource source;
    return RunSync(plan, source);
  }

  SyncState Stored() { return StoredState(*sink_); }

  // The usual change, then a second update of the same Observation and a second deletion.
  void ChangeSandbox(const std::vector<std::string>& patients) {
    const std::vector<std::string> observations = SandboxIds(base_, "Observation");
    ChangeSandboxSlightly(base_, patients);
    UpdateResource(base_, "Observation", observations.at(3));
    DeleteResource(base_, "Observation", observations.at(7));
  }

  // A rate limit the sync runs into, 5xx answers, connections cut midway and expired paging
  // sessions; Reliable() turns them off.
  void Unreliable(int seed) {
    SetTraffic(sandbox_.origin(), "open-lab", R"({"requests_per_second": 15, "burst": 3})");
    SetFaults(sandbox_.origin(), "open-lab",
              R"({"seed": )" + std::to_string(seed) +
                  R"(, "error_rates": {"500": 0.05, "502": 0.05, "503": 0.05},
                  "drop_connection_rate": 0.05, "expired_page_rate": 0.15})");
  }
  void Reliable() {
    SetFaults(sandbox_.origin(), "open-lab", "{}");
    SetTraffic(sandbox_.origin(), "open-lab", "{}");
  }

  SandboxTestServer sandbox_;
  std::string base_;
  std::unique_ptr<TempStore> store_;
  std::unique_ptr<sync::StoreSyncSink> sink_;
  NoProgress progress_;
};

TEST_F(SyncEngineTest, FullSyncByLastUpdatedEqualsTheSandbox) {
  SeedPatients(base_, 40, 3);
  const auto plan = PlanFromSandbox(base_, kTypes);
  for (const auto& entry : plan) EXPECT_EQ(entry.strategy, Strategy::kLastUpdatedWindows);

  const sync::SyncReport report = RunSync(plan);
  ExpectSucceeded(report);
  const auto expected = SandboxState(base_, kTypes);
  EXPECT_GT(expected.size(), 200u);
  EXPECT_EQ(Stored(), expected);
}

TEST_F(SyncEngineTest, IncrementalLastUpdatedSyncCatchesUpWithChangesAndDeletions) {
  const std::vector<std::string> patients = SeedPatients(base_, 30, 3);
  const auto plan = PlanFromSandbox(base_, kTypes);
  ExpectSucceeded(RunSync(plan));

  ChangeSandbox(patients);
  const sync::SyncReport report = RunSync(plan);
  ExpectSucceeded(report);
  EXPECT_EQ(Stored(), SandboxState(base_, kTypes));
  for (const auto& outcome : report.types) {
    EXPECT_EQ(outcome.deletion_check, "history") << outcome.type;
  }
  EXPECT_EQ(sink_->tombstones_written(), 4);
}

TEST_F(SyncEngineTest, WithoutHistoryDeletionsAreFoundBySweepingIds) {
  const std::vector<std::string> patients = SeedPatients(base_, 30, 3);
  auto plan = PlanFromSandbox(base_, kTypes);
  for (auto& entry : plan) entry.history_for_deletions = false;
  ExpectSucceeded(RunSync(plan));

  ChangeSandbox(patients);
  const sync::SyncReport report = RunSync(plan);
  ExpectSucceeded(report);
  EXPECT_EQ(Stored(), SandboxState(base_, kTypes));
  for (const auto& outcome : report.types) {
    EXPECT_EQ(outcome.deletion_check, "sweep") << outcome.type;
  }
  EXPECT_EQ(sink_->tombstones_written(), 4);
}

TEST_F(SyncEngineTest, IncrementalHistorySyncCatchesUpWithChangesAndDeletions) {
  const std::vector<std::string> patients = SeedPatients(base_, 30, 3);
  const auto plan = PlanFromSandbox(base_, kTypes, {}, Strategy::kHistorySince);
  for (const auto& entry : plan) EXPECT_EQ(entry.strategy, Strategy::kHistorySince);
  ExpectSucceeded(RunSync(plan));
  EXPECT_EQ(Stored(), SandboxState(base_, kTypes));

  ChangeSandbox(patients);
  ExpectSucceeded(RunSync(plan));
  EXPECT_EQ(Stored(), SandboxState(base_, kTypes));
  EXPECT_EQ(sink_->tombstones_written(), 4);
}

TEST_F(SyncEngineTest, SecondLastUpdatedSyncWithNothingChangedMakesOneRequestPerType) {
  SeedAndSettle(30, 3);
  const auto plan = PlanFromSandbox(base_, kTypes);
  ExpectSucceeded(RunSync(plan));
  const std::int64_t written = sink_->resources_written();

  sync::HttpPageSource source;
  const sync::SyncReport report = RunSync(plan, source);
  ExpectSucceeded(report);
  // Type history since the checkpoint (which re-reads only the overlap) answers the run: it
  // would hold changes and deletions alike.
  EXPECT_EQ(source.attempts(), static_cast<std::int64_t>(kTypes.size()));
  for (const auto& outcome : report.types) {
    EXPECT_EQ(outcome.deletion_check, "history") << outcome.type;
  }
  EXPECT_EQ(sink_->resources_written(), written);
  EXPECT_EQ(sink_->tombstones_written(), 0);
}

TEST_F(SyncEngineTest, SecondLastUpdatedSyncWithoutHistoryMakesTwoRequestsPerType) {
  SeedAndSettle(30, 3);
  auto plan = PlanFromSandbox(base_, kTypes);
  for (auto& entry : plan) entry.history_for_deletions = false;
  ExpectSucceeded(RunSync(plan));
  const std::int64_t written = sink_->resources_written();

  sync::HttpPageSource source;
  const sync::SyncReport report = RunSync(plan, source);
  ExpectSucceeded(report);
  // A deletion leaves no trace in a search: one window from the checkpoint, and one count.
  EXPECT_EQ(source.attempts(), 2 * static_cast<std::int64_t>(kTypes.size()));
  for (const auto& outcome : report.types) EXPECT_EQ(outcome.deletion_check, "") << outcome.type;
  EXPECT_EQ(sink_->resources_written(), written);
}

TEST_F(SyncEngineTest, IncrementalLastUpdatedSyncLeavesALongHistoryToTheWindows) {
  SeedAndSettle(30, 3);
  const auto plan = PlanFromSandbox(base_, kTypes);
  ExpectSucceeded(RunSync(plan));

  // 12 pages of new Observations (pages of 25): longer than one history read may be without
  // moving the checkpoint. 30 new Patients and Conditions fit in two pages each.
  SeedPatients(base_, 30, 10);
  DeleteResource(base_, "Observation", SandboxIds(base_, "Observation").at(2));
  const sync::SyncReport report = RunSync(plan);
  ExpectSucceeded(report);
  EXPECT_EQ(Stored(), SandboxState(base_, kTypes));
  EXPECT_EQ(sink_->tombstones_written(), 1);
  for (const auto& outcome : report.types) {
    if (outcome.type == "Observation") {
      // The first history page, then 13 pages of windows and 13 of history for deletions.
      EXPECT_GE(outcome.requests, 1 + 13 + 13);
    } else {
      EXPECT_EQ(outcome.requests, 2) << outcome.type;
    }
  }
}

TEST_F(SyncEngineTest, SecondHistorySyncWithNothingChangedMakesOneRequestPerType) {
  SeedAndSettle(30, 3);
  const auto plan = PlanFromSandbox(base_, kTypes, {}, Strategy::kHistorySince);
  ExpectSucceeded(RunSync(plan));
  const std::int64_t written = sink_->resources_written();

  sync::HttpPageSource source;
  ExpectSucceeded(RunSync(plan, source));
  EXPECT_EQ(source.attempts(), static_cast<std::int64_t>(kTypes.size()));
  EXPECT_EQ(sink_->resources_written(), written);
}

TEST_F(SyncEngineTest, SurvivesRateLimitsServerErrorsDroppedConnectionsAndExpiredPages) {
  const std::vector<std::string> patients = SeedPatients(base_, 30, 3);
  for (const Strategy strategy : {Strategy::kLastUpdatedWindows, Strategy::kHistorySince}) {
    SCOPED_TRACE(std::string(sync::StrategyName(strategy)));
    FreshStore();
    const auto plan = PlanFromSandbox(base_, kTypes, {}, strategy);
    sync::HttpPageSourceOptions retry;
    retry.max_attempts = 30;
    retry.max_retry_wait = std::chrono::milliseconds(100);
    sync::HttpPageSource source(retry);
    Unreliable(7);
    const sync::SyncReport full = RunSync(plan, source);
    ExpectSucceeded(full);
    Reliable();
    ChangeSandbox(patients);
    Unreliable(8);
    const sync::SyncReport report = RunSync(plan, source);
    ExpectSucceeded(report);
    int restarts = 0;
    for (const auto& outcome : full.types) restarts += outcome.restarts;
    for (const auto& outcome : report.types) restarts += outcome.restarts;
    EXPECT_GT(restarts, 0) << "no paging session expired";

    Reliable();
    EXPECT_EQ(Stored(), SandboxState(base_, kTypes));
    EXPECT_GT(source.attempts(), source.calls()) << "no fault was injected";
    const std::string logs = sandbox_.Logs();
    EXPECT_NE(logs.find("expired_page"), std::string::npos);
    EXPECT_NE(logs.find("\"status\":429"), std::string::npos);
  }
}

// Wraps the real source and replaces the body of the `which`-th page of one type.
class CorruptingSource : public sync::PageSource {
 public:
  CorruptingSource(std::string type, int which, std::string body)
      : type_(std::move(type)), which_(which), body_(std::move(body)) {}

  base::Result<sync::FetchResponse> Get(const sync::FetchRequest& request) override {
    auto response = real_.Get(request);
    if (response && request.url.find("/" + type_ + "?") != std::string::npos && ++seen_ == which_) {
      response->body = body_;
      corrupted_url_ = request.url;
    }
    return response;
  }

  const std::string& corrupted_url() const { return corrupted_url_; }

 private:
  sync::HttpPageSource real_;
  std::string type_;
  int which_;
  int seen_ = 0;
  std::string body_;
  std::string corrupted_url_;
};

std::string CheckpointOf(store::ReplicaStore& store, const std::string& type) {
  auto checkpoint = store.GetCheckpoint({"open-lab", type, ""});
  EXPECT_TRUE(checkpoint) << checkpoint.error().ToString();
  return checkpoint && *checkpoint ? (*checkpoint)->state : "";
}

TEST_F(SyncEngineTest, MalformedPagesAreQuarantinedWithoutMovingTheCheckpoint) {
  SeedPatients(base_, 30, 3);
  const auto plan = PlanFromSandbox(base_, kTypes);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad JSON", R"({"resourceType":"Bundle","type":"searchset","entry":[{)"},
      {"wrong resourceType", R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":)"
                             R"({"resourceType":"Patient","id":"x"},"search":{"mode":"match"}}]})"},
      {"no entries but a next link",
       R"({"resourceType":"Bundle","type":"searchset","link":[{"relation":"next",)"
       R"("url":"http://127.0.0.1:1/next"}]})"},
  };
  for (const auto& [name, body] : cases) {
    SCOPED_TRACE(name);
    FreshStore();
    // The first read of a type is a probe for the newest lastUpdated, then pages in the
    // server's order: the fourth request is the third page.
    CorruptingSource source("Observation", 4, body);
    sync::SyncEngine engine(source, *sink_, progress_, Options());
    const sync::SyncReport report = engine.Run(plan);

    ASSERT_EQ(report.types.size(), 3u);
    EXPECT_TRUE(report.types[0].succeeded);
    EXPECT_FALSE(report.types[1].succeeded);
    EXPECT_TRUE(report.types[2].succeeded);
    ASSERT_TRUE(report.types[1].error);
    EXPECT_EQ(report.types[1].error->code, base::ErrorCode::kMalformedResponse);

    // Two pages were stored; the checkpoint names the refused page as the one to read next.
    const auto stored = Stored();
    std::size_t observations = 0;
    for (const auto& [key, version] : stored) observations += key.first == "Observation";
    EXPECT_EQ(observations, 50u);
    const auto checkpoint = nlohmann::json::parse(CheckpointOf(sink_->store(), "Observation"));
    EXPECT_EQ(checkpoint["initial"]["next"], source.corrupted_url());
    auto quarantined = sink_->store().ListQuarantinedPages("open-lab");
    ASSERT_TRUE(quarantined) << quarantined.error().ToString();
    ASSERT_EQ(quarantined->size(), 1u);
    const store::QuarantinedPage& page = quarantined->front();
    EXPECT_EQ(page.site, "open-lab");
    EXPECT_EQ(page.resource_type, "Observation");
    EXPECT_FALSE(page.correlation_id.empty());
    EXPECT_NE(page.position.find("page=4"), std::string::npos);
    EXPECT_EQ(page.body, body);
    // One run per type; the Observation one failed.
    int failed_runs = 0;
    for (std::int64_t id = 1; id <= 3; ++id) {
      auto run = sink_->store().GetSyncRun(id);
      ASSERT_TRUE(run && *run) << "run " << id;
      failed_runs += (*run)->status == store::SyncRunStatus::kFailed;
    }
    EXPECT_EQ(failed_runs, 1);

    // The next run, with a healthy site, resumes and catches up.
    ExpectSucceeded(RunSync(plan));
    EXPECT_EQ(Stored(), SandboxState(base_, kTypes));
  }
}

TEST_F(SyncEngineTest, PerPatientRefreshDetectsChangesByContentHashAndDeletionsByAbsence) {
  const auto baseline = SandboxState(base_, kTypes);
  const std::vector<std::string> patients = SeedPatients(base_, 12, 3);
  const auto plan = PlanFromSandbox(base_, kTypes, patients, Strategy::kPerPatientRefresh);
  for (const auto& entry : plan) EXPECT_EQ(entry.strategy, Strategy::kPerPatientRefresh);
  sync::SyncOptions options = Options();
  options.patient_cohort = patients;
  // The seeded Conditions carry no category; the open tenant needs no filter.
  options.per_patient_filters.clear();
  const auto compartments = [&] {
    auto state = SandboxState(base_, kTypes);
    std::set<std::string> cohort(patients.begin(), patients.end());
    std::map<std::pair<std::string, std::string>, std::int64_t> expected;
    // The seeded resources all belong to the cohort; the baseline's belong to other patients.
    for (const auto& [key, version] : state) {
      if (key.first == "Patient" ? cohort.contains(key.second) : !baseline.contains(key)) {
        expected[key] = version;
      }
    }
    return expected;
  };

  sync::HttpPageSource first_source;
  sync::SyncEngine first(first_source, *sink_, progress_, options);
  ExpectSucceeded(first.Run(plan));
  EXPECT_EQ(Stored(), compartments()) << DescribeDifference(Stored(), compartments());

  // Second pass, nothing changed: Patients answer 304; nothing is written.
  const std::int64_t written = sink_->resources_written();
  sync::HttpPageSource second_source;
  sync::SyncEngine second(second_source, *sink_, progress_, options);
  ExpectSucceeded(second.Run(plan));
  EXPECT_EQ(sink_->resources_written(), written);
  EXPECT_EQ(second_source.attempts(), static_cast<std::int64_t>(3 * patients.size()));

  // Changes within the cohort's compartments.
  UpdateResource(base_, "Patient", patients[0]);
  DeleteResource(base_, "Patient", patients[1]);
  sync::HttpPageSource third_source;
  sync::SyncEngine third(third_source, *sink_, progress_, options);
  auto state = SandboxState(base_, {"Observation"});
  std::string changed;
  for (const auto& [key, version] : state) changed = key.second;
  UpdateResource(base_, "Observation", changed);
  ExpectSucceeded(third.Run(plan));
  EXPECT_EQ(Stored(), compartments()) << DescribeDifference(Stored(), compartments());
  EXPECT_EQ(sink_->tombstones_written(), 1);
}

TEST_F(SyncEngineTest, PerPatientRefreshOnAnEpicLikeTenantWithoutVersions) {
  const std::string epic = sandbox_.origin() + "/alpine-health/api/FHIR/R4";
  const std::vector<std::string> patients = {"e86izff4laD1mVsXVTNHrrl3"};
  const std::vector<std::string> types = {"Patient", "Observation", "Condition",
                                          "AllergyIntolerance"};
  const auto plan = PlanFromSandbox(epic, types, patients);
  for (const auto& entry : plan) {
    EXPECT_EQ(entry.strategy, Strategy::kPerPatientRefresh) << entry.type << entry.reason;
  }
  auto sink =
      sync::StoreSyncSink::Open({"sqlite:" + store_->path() + "-epic", {}}, "alpine-health");
  ASSERT_TRUE(sink);
  sync::SyncOptions options;
  options.site = "alpine-health";
  options.base_url = epic;
  options.patient_cohort = patients;
  sync::HttpPageSource source;
  sync::SyncEngine engine(source, **sink, progress_, options);
  ExpectSucceeded(engine.Run(plan));
  auto rows = (*sink)->LiveRows();
  ASSERT_TRUE(rows);
  std::map<std::string, int> per_type;
  for (const auto& row : *rows) ++per_type[row.type];
  EXPECT_EQ(per_type["Patient"], 1);
  EXPECT_GT(per_type["Observation"], 0);

  // Nothing changed: nothing written, and the Patient read answers 304.
  const std::int64_t written = (*sink)->resources_written();
  sync::SyncEngine again(source, **sink, progress_, options);
  ExpectSucceeded(again.Run(plan));
  EXPECT_EQ((*sink)->resources_written(), written);
  for (const char* suffix : {"-epic", "-epic-wal", "-epic-shm"}) {
    std::filesystem::remove(store_->path() + suffix);
  }
}

}  // namespace
}  // namespace fhirbridge::testing
