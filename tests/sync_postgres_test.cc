// The sync guarantees on the PostgreSQL backend of the replica store: the same engine and sink
// as the SQLite tests (sync_engine_test.cc), but every page, checkpoint and tombstone lands in a
// PostgreSQL schema of its own (FHIRBRIDGE_TEST_POSTGRES_DSN, from ctest's postgres fixture).
// One test goes through the runtime's own path (SiteConnection, SitePageSource) with faults.

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "http_page_source.h"
#include "postgres_test_schema.h"
#include "sandbox_test_server.h"
#include "sites/site_connection.h"
#include "store/postgres.h"
#include "sync/engine.h"
#include "sync/site_page_source.h"
#include "sync/site_sync.h"
#include "sync/store_sync_sink.h"
#include "sync_test_support.h"

namespace fhirbridge::testing {
namespace {

using sync::Strategy;

const std::vector<std::string> kTypes = {"Patient", "Observation", "Condition"};

class SilentProgress : public sync::ProgressObserver {
 public:
  void OnEvent(const sync::ProgressEvent&) override {}
};

class SyncPostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    postgres_.Name("sync");
    if (IsSkipped() || HasFatalFailure()) return;
    dsn_ = postgres_.dsn();
    schema_ = postgres_.schema();
    base_ = sandbox_.origin() + "/open-lab/api/FHIR/R4";
    auto sink = sync::StoreSyncSink::Open({dsn_, schema_}, "open-lab");
    ASSERT_TRUE(sink) << sink.error().ToString();
    sink_ = std::move(*sink);
  }

  void TearDown() override {
    sink_.reset();
    postgres_.Drop();
  }

  sync::SyncOptions Options() {
    sync::SyncOptions options;
    options.site = "open-lab";
    options.base_url = base_;
    options.page_size = 25;
    options.overlap = std::chrono::milliseconds(200);
    return options;
  }

  SyncState Stored() { return StoredState(*sink_); }

  SandboxTestServer sandbox_;
  PostgresTestSchema postgres_;
  std::string dsn_;
  std::string schema_;
  std::string base_;
  std::unique_ptr<sync::StoreSyncSink> sink_;
  SilentProgress progress_;
};

TEST_F(SyncPostgresTest, SearchAndHistoryStrategiesKeepTheStoreEqualToTheSandbox) {
  const std::vector<std::string> patients = SeedPatients(base_, 20, 3);
  for (const Strategy strategy : {Strategy::kLastUpdatedWindows, Strategy::kHistorySince}) {
    SCOPED_TRACE(std::string(sync::StrategyName(strategy)));
    const auto plan = PlanFromSandbox(base_, kTypes, {}, strategy);
    for (const auto& entry : plan) ASSERT_EQ(entry.strategy, strategy);
    sync::HttpPageSource source;
    sync::SyncEngine engine(source, *sink_, progress_, Options());
    ExpectSucceeded(engine.Run(plan));
    const SyncState sandbox = SandboxState(base_, kTypes);
    EXPECT_EQ(Stored(), sandbox) << DescribeDifference(Stored(), sandbox);
  }

  // Changes, then each strategy catches up with them, deletions included; applying the same
  // pages again (the second strategy re-reads what the first stored) changes nothing.
  ChangeSandboxSlightly(base_, patients);
  for (const Strategy strategy : {Strategy::kLastUpdatedWindows, Strategy::kHistorySince}) {
    SCOPED_TRACE(std::string(sync::StrategyName(strategy)));
    const auto plan = PlanFromSandbox(base_, kTypes, {}, strategy);
    sync::HttpPageSource source;
    sync::SyncEngine engine(source, *sink_, progress_, Options());
    ExpectSucceeded(engine.Run(plan));
    const SyncState sandbox = SandboxState(base_, kTypes);
    EXPECT_EQ(Stored(), sandbox) << DescribeDifference(Stored(), sandbox);
  }
  EXPECT_EQ(sink_->tombstones_written(), 3);
}

TEST_F(SyncPostgresTest, PerPatientRefreshComparesContentHashesStoredInPostgres) {
  const std::vector<std::string> patients = SeedPatients(base_, 6, 2);
  const auto plan = PlanFromSandbox(base_, kTypes, patients, Strategy::kPerPatientRefresh);
  for (const auto& entry : plan) ASSERT_EQ(entry.strategy, Strategy::kPerPatientRefresh);
  sync::SyncOptions options = Options();
  options.patient_cohort = patients;
  options.per_patient_filters.clear();  // the seeded Conditions carry no category

  sync::HttpPageSource first_source;
  ExpectSucceeded(sync::SyncEngine(first_source, *sink_, progress_, options).Run(plan));
  const std::int64_t written = sink_->resources_written();
  ASSERT_GT(written, 0);

  // Nothing changed: every hash agrees with PostgreSQL's copy and nothing is written.
  sync::HttpPageSource second_source;
  ExpectSucceeded(sync::SyncEngine(second_source, *sink_, progress_, options).Run(plan));
  EXPECT_EQ(sink_->resources_written(), written);

  // One patient changed and one deleted: one write, one tombstone.
  UpdateResource(base_, "Patient", patients[0]);
  DeleteResource(base_, "Patient", patients[1]);
  sync::HttpPageSource third_source;
  ExpectSucceeded(sync::SyncEngine(third_source, *sink_, progress_, options).Run(plan));
  EXPECT_EQ(sink_->resources_written(), written + 1);
  EXPECT_EQ(sink_->tombstones_written(), 1);
  const SyncState stored = Stored();
  EXPECT_FALSE(stored.contains({"Patient", patients[1]}));
  EXPECT_EQ(stored.at({"Patient", patients[0]}),
            SandboxState(base_, {"Patient"}).at({"Patient", patients[0]}));
}

// The runtime's path into PostgreSQL: the site connection's throttle, retries and Retry-After
// through a rate limit and occasional 503s.
TEST_F(SyncPostgresTest, ThroughTheSiteConnectionUnderARateLimitAndServerErrors) {
  SeedPatients(base_, 20, 3);
  SetTraffic(sandbox_.origin(), "open-lab", R"({"requests_per_second": 20, "burst": 4})");
  SetFaults(sandbox_.origin(), "open-lab", R"({"seed": 7, "error_rates": {"503": 0.05}})");

  sites::SiteConfig config;
  config.name = "open-lab";
  config.base_url = base_;
  config.allow_plain_http = true;
  config.requests_per_second = 0;  // no limit of its own: the site's 429s teach the throttle
  auto connection = sites::SiteConnection::WithTokens(config, nullptr, {});
  ASSERT_TRUE(connection) << connection.error().ToString();
  sync::SitePageSource source(**connection, sites::MaintenanceMode::kWait);
  const auto plan = PlanFromSandbox(base_, kTypes);
  sync::SyncOptions options = sync::SiteSyncOptions(**connection, {});
  options.page_size = 25;
  options.overlap = std::chrono::milliseconds(200);
  ExpectSucceeded(sync::SyncEngine(source, *sink_, progress_, options).Run(plan));
  EXPECT_GT(source.attempts(), source.calls()) << "the faults should have cost retries";

  SetFaults(sandbox_.origin(), "open-lab", "{}");
  SetTraffic(sandbox_.origin(), "open-lab", "{}");
  const SyncState sandbox = SandboxState(base_, kTypes);
  EXPECT_EQ(Stored(), sandbox) << DescribeDifference(Stored(), sandbox);
}

}  // namespace
}  // namespace fhirbridge::testing
