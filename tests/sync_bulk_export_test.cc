// The bulk export sync strategy against the real sandbox over loopback HTTP, into a real SQLite
// file: the planner's choice and its reason; a full system export equals the sandbox; an
// incremental export with _since catches up with creates, updates and deletes (deleted files);
// a Group export on an Epic-like level without _since detects changes by content hash and
// deletions by absence; 429 and 503 answers while polling and downloading are survived; a run
// killed with SIGKILL mid-download resumes the same job without a second kick-off.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "http/client.h"
#include "http_page_source.h"
#include "sandbox_test_server.h"
#include "sync/engine.h"
#include "sync/store_sync_sink.h"
#include "sync_test_support.h"

namespace fhirbridge::testing {
namespace {

using sync::Strategy;
using namespace std::chrono_literals;

const std::vector<std::string> kTypes = {"Patient", "Observation", "Condition"};

// An Epic-like level: Group export only, _since refused, no _lastUpdated or history, no
// versions in meta; updates and deletes
// allowed so the test can change the site.
constexpr std::string_view kEpicConfig = R"(
[build_levels.epic-like]
update_as_create = true
[build_levels.epic-like.resources]
Patient = ["read", "search-type"]
Observation = ["read", "update", "delete", "search-type"]
Group = ["read"]
[build_levels.epic-like.bulk_export]
levels = ["group"]
since = false
max_resources_per_file = 4
job_duration_ms = 300
[build_levels.epic-like.search]
last_updated = false
strict_meta = true
[build_levels.epic-like.search.parameters]
Patient = ["_id"]
Observation = ["_id", "patient", "subject"]

[[tenants]]
name = "epic"
build_level = "epic-like"
)";

constexpr std::string_view kGroupId = "e3iabhmS8rsueyz7vaimuiaSmfGvi.QwjVXJANlPOgR83";
const std::vector<std::string> kGroupMembers = {"e86izff4laD1mVsXVTNHrrl3",
                                                "eygGzVjJLQB0.8WMY5leCJS3"};

class CountingProgress : public sync::ProgressObserver {
 public:
  void OnEvent(const sync::ProgressEvent& event) override {
    std::lock_guard lock(mutex_);
    if (event.kind == sync::ProgressEvent::Kind::kExportPolled) {
      ++polls_;
      if (!event.export_progress.empty()) ++polls_with_progress_;
    }
  }
  int polls() {
    std::lock_guard lock(mutex_);
    return polls_;
  }
  int polls_with_progress() {
    std::lock_guard lock(mutex_);
    return polls_with_progress_;
  }

 private:
  std::mutex mutex_;
  int polls_ = 0;
  int polls_with_progress_ = 0;
};

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("fhirbridge-syncbulk-" + std::to_string(::getpid()) + "-" + name + ".db"))
      .string();
}

void RemoveStore(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

sync::ServerCapabilities Capabilities(const std::string& base) {
  sync::HttpPageSource source;
  auto metadata = source.Get({base + "/metadata", {}});
  EXPECT_TRUE(metadata && metadata->status == 200);
  if (!metadata) return {};
  auto capabilities = sync::ParseCapabilityStatement(metadata->body);
  EXPECT_TRUE(capabilities) << capabilities.error().ToString();
  return capabilities ? *capabilities : sync::ServerCapabilities{};
}

sync::SyncOptions ExportOptions(const std::string& site, const std::string& base) {
  sync::SyncOptions options;
  options.site = site;
  options.base_url = base;
  options.page_size = 3;  // several commits per file, so file positions are exercised
  options.export_min_poll = 50ms;
  options.export_max_poll = 1500ms;
  options.download_sources = [] { return std::make_unique<sync::HttpPageSource>(); };
  options.export_parallel_downloads = 3;
  return options;
}

class SyncBulkExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = sandbox_.origin() + "/open-lab/api/FHIR/R4";
    path_ = TempPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    RemoveStore(path_);
    auto sink = sync::StoreSyncSink::Open({path_, {}}, "open-lab");
    ASSERT_TRUE(sink) << sink.error().ToString();
    sink_ = std::move(*sink);
  }
  void TearDown() override {
    sink_.reset();
    RemoveStore(path_);
  }

  std::vector<sync::TypePlan> ExportPlan(const std::vector<std::string>& types) {
    sync::PlanInputs inputs;
    inputs.types = types;
    inputs.capabilities = Capabilities(base_);
    inputs.forced = Strategy::kBulkExport;
    return sync::PlanSync(inputs);
  }

  sync::SyncReport RunSync(const std::vector<sync::TypePlan>& plan) {
    sync::HttpPageSource source;
    sync::SyncEngine engine(source, *sink_, progress_, ExportOptions("open-lab", base_));
    return engine.Run(plan);
  }

  nlohmann::json Checkpoint(const std::string& type) {
    auto value = sink_->ReadCheckpoint({"open-lab", type, ""});
    EXPECT_TRUE(value && *value);
    return value && *value ? nlohmann::json::parse(**value) : nlohmann::json::object();
  }

  SandboxTestServer sandbox_;
  std::string base_;
  std::string path_;
  std::unique_ptr<sync::StoreSyncSink> sink_;
  CountingProgress progress_;
};

TEST_F(SyncBulkExportTest, PlannerPicksExportWhereItBeatsPerPatientRefreshAndSaysWhy) {
  // open-lab searches by _lastUpdated, which stays first; $export is the next choice when forced
  // and is explained.
  sync::PlanInputs open;
  open.types = {"Observation"};
  open.capabilities = Capabilities(base_);
  EXPECT_TRUE(open.capabilities.system_export);
  EXPECT_EQ(sync::PlanSync(open)[0].strategy, Strategy::kLastUpdatedWindows);
  open.forced = Strategy::kBulkExport;
  const auto forced = sync::PlanSync(open);
  EXPECT_EQ(forced[0].strategy, Strategy::kBulkExport);
  EXPECT_EQ(forced[0].export_group, "");
  EXPECT_NE(sync::FormatPlan(forced).find("bulk-export  system-level $export"), std::string::npos)
      << sync::FormatPlan(forced);

  // An Epic-like level: only Group export. With a configured group it beats per-patient refresh;
  // without one the plan says why it fell back; without read permission export is refused.
  SandboxTestServer epic(kEpicConfig);
  sync::PlanInputs inputs;
  inputs.types = {"Patient", "Observation"};
  inputs.capabilities = Capabilities(epic.origin() + "/epic/api/FHIR/R4");
  EXPECT_FALSE(inputs.capabilities.system_export);
  EXPECT_TRUE(inputs.capabilities.group_export);
  inputs.patient_cohort = kGroupMembers;
  auto plan = sync::PlanSync(inputs);
  EXPECT_EQ(plan[1].strategy, Strategy::kPerPatientRefresh);
  EXPECT_NE(plan[1].reason.find("no export group configured"), std::string::npos) << plan[1].reason;

  inputs.export_group_id = std::string(kGroupId);
  plan = sync::PlanSync(inputs);
  for (const auto& entry : plan) {
    EXPECT_EQ(entry.strategy, Strategy::kBulkExport) << entry.type << ": " << entry.reason;
    EXPECT_EQ(entry.export_group, kGroupId);
    EXPECT_NE(entry.reason.find("Group $export"), std::string::npos) << entry.reason;
  }

  inputs.permissions["Observation"] = {true, false, false, "scope system/Observation.r missing"};
  plan = sync::PlanSync(inputs);
  EXPECT_EQ(plan[1].strategy, Strategy::kPerPatientRefresh);
  EXPECT_NE(plan[1].reason.find("not bulk-export: read not permitted"), std::string::npos)
      << plan[1].reason;
}

TEST_F(SyncBulkExportTest, FullThenIncrementalSinceExportEqualsTheSandbox) {
  const std::vector<std::string> patients = SeedPatients(base_, 12, 3);
  const auto plan = ExportPlan(kTypes);
  for (const auto& entry : plan) ASSERT_EQ(entry.strategy, Strategy::kBulkExport) << entry.reason;

  const sync::SyncReport first = RunSync(plan);
  ExpectSucceeded(first);
  EXPECT_EQ(StoredState(*sink_), SandboxState(base_, kTypes))
      << DescribeDifference(StoredState(*sink_), SandboxState(base_, kTypes));
  for (const auto& outcome : first.types) {
    EXPECT_TRUE(outcome.export_kicked_off);
    EXPECT_FALSE(outcome.export_resumed);
    EXPECT_EQ(outcome.deletion_check, "absence");
    EXPECT_TRUE(outcome.warnings.empty()) << outcome.warnings.front();
  }
  EXPECT_GT(progress_.polls(), 0);
  EXPECT_GT(progress_.polls_with_progress(), 0);
  // The job is done and deleted; transactionTime is the next _since.
  const nlohmann::json checkpoint = Checkpoint("Observation");
  EXPECT_FALSE(checkpoint.contains("job"));
  const std::string since = checkpoint.value("since", "");
  EXPECT_FALSE(since.empty());

  // Creates, updates and deletes, then an export with _since.
  ChangeSandboxSlightly(base_, patients);

  const std::int64_t written_before = sink_->resources_written();
  const sync::SyncReport second = RunSync(plan);
  ExpectSucceeded(second);
  for (const auto& outcome : second.types) {
    EXPECT_EQ(outcome.deletion_check, "deleted-files") << outcome.type;
    EXPECT_EQ(outcome.tombstones_received, 1) << outcome.type;
  }
  EXPECT_EQ(StoredState(*sink_), SandboxState(base_, kTypes))
      << DescribeDifference(StoredState(*sink_), SandboxState(base_, kTypes));
  // Only what changed was exported: the new patients' resources and the updates.
  EXPECT_LT(sink_->resources_written() - written_before, 20);
  EXPECT_GT(Checkpoint("Observation").value("since", ""), since);
}

TEST_F(SyncBulkExportTest, SurvivesRateLimitsAndServiceUnavailableWhilePollingAndDownloading) {
  SeedPatients(base_, 10, 3);
  const auto plan = ExportPlan(kTypes);
  SetTraffic(sandbox_.origin(), "open-lab", R"({"requests_per_second": 15, "burst": 3})");
  SetFaults(sandbox_.origin(), "open-lab", R"({"seed": 7, "error_rates": {"503": 0.2}})");
  const sync::SyncReport report = RunSync(plan);
  SetFaults(sandbox_.origin(), "open-lab", "{}");
  SetTraffic(sandbox_.origin(), "open-lab", "{}");
  ExpectSucceeded(report);
  EXPECT_EQ(StoredState(*sink_), SandboxState(base_, kTypes))
      << DescribeDifference(StoredState(*sink_), SandboxState(base_, kTypes));
}

// Ids of `type` in the compartments of the group's members, read by search.
std::set<std::string> CompartmentIds(const std::string& base, const std::string& type) {
  std::set<std::string> ids;
  http::Client client;
  for (const std::string& patient : kGroupMembers) {
    const std::string url = type == "Patient"
                                ? base + "/Patient?_id=" + patient
                                : base + "/" + type + "?patient=" + patient + "&_count=1000";
    auto response = client.Send({"GET", url, {{"Accept", "application/fhir+json"}}, {}});
    EXPECT_TRUE(response && response->status == 200) << url;
    if (!response) continue;
    const auto bundle = nlohmann::json::parse(response->body);
    for (const auto& link : bundle.value("link", nlohmann::json::array())) {
      EXPECT_NE(link.value("relation", ""), "next") << "the compartment needs more than one page";
    }
    for (const auto& entry : bundle.value("entry", nlohmann::json::array())) {
      ids.insert(entry["resource"]["id"].get<std::string>());
    }
  }
  return ids;
}

TEST(SyncBulkExportEpicTest, GroupExportWithoutSinceComparesHashesAndFindsDeletionsByAbsence) {
  SandboxTestServer sandbox(kEpicConfig);
  const std::string base = sandbox.origin() + "/epic/api/FHIR/R4";
  const std::string path = TempPath("epic");
  RemoveStore(path);
  auto opened = sync::StoreSyncSink::Open({path, {}}, "epic");
  ASSERT_TRUE(opened);
  sync::StoreSyncSink& sink = **opened;

  sync::PlanInputs inputs;
  inputs.types = {"Patient", "Observation"};
  inputs.capabilities = Capabilities(base);
  inputs.export_group_id = std::string(kGroupId);
  const auto plan = sync::PlanSync(inputs);
  for (const auto& entry : plan) ASSERT_EQ(entry.strategy, Strategy::kBulkExport) << entry.reason;

  CountingProgress progress;
  const auto run = [&] {
    sync::HttpPageSource source;
    sync::SyncEngine engine(source, sink, progress, ExportOptions("epic", base));
    return engine.Run(plan);
  };
  const auto stored_ids = [&](const std::string& type) {
    std::set<std::string> ids;
    for (const auto& [key, version] : StoredState(sink)) {
      if (key.first == type) ids.insert(key.second);
    }
    return ids;
  };

  ExpectSucceeded(run());
  const std::set<std::string> observations = CompartmentIds(base, "Observation");
  ASSERT_GT(observations.size(), 4U);
  EXPECT_EQ(stored_ids("Observation"), observations);
  EXPECT_EQ(stored_ids("Patient"),
            std::set<std::string>(kGroupMembers.begin(), kGroupMembers.end()));

  // Unchanged: the second full export writes nothing (content hashes agree), even though the
  // kick-off with _since is refused and retried without.
  const std::int64_t written = sink.resources_written();
  const sync::SyncReport unchanged = run();
  ExpectSucceeded(unchanged);
  EXPECT_EQ(sink.resources_written(), written);
  auto checkpoint = sink.ReadCheckpoint({"epic", "Observation", ""});
  ASSERT_TRUE(checkpoint && *checkpoint);
  EXPECT_TRUE(nlohmann::json::parse(**checkpoint).value("since_refused", false));

  // One Observation deleted, one changed: a tombstone by absence and one write.
  const std::string gone = *observations.begin();
  const std::string changed = *std::next(observations.begin());
  DeleteResource(base, "Observation", gone);
  UpdateResource(base, "Observation", changed);
  const sync::SyncReport after = run();
  ExpectSucceeded(after);
  EXPECT_EQ(after.types[1].deletion_check, "absence");
  EXPECT_EQ(after.types[1].tombstones_received, 1);
  EXPECT_EQ(sink.resources_written(), written + 1);
  EXPECT_EQ(stored_ids("Observation"), CompartmentIds(base, "Observation"));
  EXPECT_FALSE(stored_ids("Observation").contains(gone));
  opened->reset();
  RemoveStore(path);
}

TEST(SyncBulkExportKillTest, KilledMidDownloadResumesTheSameJobWithoutASecondKickOff) {
  SandboxTestServer sandbox;
  const std::string base = sandbox.origin() + "/open-lab/api/FHIR/R4";
  SeedPatients(base, 25, 4);
  sync::PlanInputs inputs;
  inputs.types = {"Observation"};
  inputs.capabilities = Capabilities(base);
  inputs.forced = Strategy::kBulkExport;
  const auto plan = sync::PlanSync(inputs);
  ASSERT_EQ(plan[0].strategy, Strategy::kBulkExport);
  const std::string path = TempPath("kill");
  RemoveStore(path);
  {
    auto created = sync::StoreSyncSink::Open({path, {}}, "open-lab");
    ASSERT_TRUE(created);
  }
  // Slow enough that the kill lands among the downloads.
  SetTraffic(sandbox.origin(), "open-lab", R"({"requests_per_second": 12, "burst": 2})");

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto sink = sync::StoreSyncSink::Open({path, {}}, "open-lab");
    if (!sink) ::_exit(2);
    sync::HttpPageSource source;
    CountingProgress progress;
    sync::SyncEngine engine(source, **sink, progress, ExportOptions("open-lab", base));
    ::_exit(engine.Run(plan).succeeded() ? 0 : 1);
  }
  // Wait for the first committed file position, then kill.
  auto watcher = sync::StoreSyncSink::Open({path, {}}, "open-lab");
  ASSERT_TRUE(watcher);
  std::string job;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < give_up) {
    auto value = (*watcher)->ReadCheckpoint({"open-lab", "Observation", ""});
    if (value && *value) {
      const auto checkpoint = nlohmann::json::parse(**value);
      if (checkpoint.contains("files") && !checkpoint["files"].empty()) {
        job = checkpoint.value("job", "");
        break;
      }
    }
    std::this_thread::sleep_for(2ms);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished before it was killed";
  ASSERT_FALSE(job.empty());
  SetTraffic(sandbox.origin(), "open-lab", "{}");

  sync::HttpPageSource source;
  CountingProgress progress;
  sync::SyncEngine engine(source, **watcher, progress, ExportOptions("open-lab", base));
  const sync::SyncReport resumed = engine.Run(plan);
  ExpectSucceeded(resumed);
  EXPECT_TRUE(resumed.types[0].export_resumed);
  EXPECT_FALSE(resumed.types[0].export_kicked_off);
  EXPECT_EQ(StoredState(**watcher), SandboxState(base, {"Observation"}))
      << DescribeDifference(StoredState(**watcher), SandboxState(base, {"Observation"}));
  // The files committed before the kill were not committed again.
  EXPECT_LT(resumed.types[0].resources_received,
            static_cast<std::int64_t>(SandboxState(base, {"Observation"}).size()));

  // The job was deleted after the resumed run stored everything.
  http::Client client;
  auto gone = client.Send({"GET", job, {{"Accept", "application/fhir+json"}}, {}});
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  watcher->reset();
  RemoveStore(path);
}

}  // namespace
}  // namespace fhirbridge::testing
