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

std::string RandomSchemaName() {
  std::random_device device;
  std::uniform_int_distribution<std::uint32_t> digits(0, 0xffffff);
  char text[16];
  std::snprintf(text, sizeof text, "sync_%06x", digits(device));
  return text;
}

class SyncPostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* skip = std::getenv("FHIRBRIDGE_SKIP_POSTGRES");
    if (skip != nullptr && std::string(skip) == "1") GTEST_SKIP() << "FHIRBRIDGE_SKIP_POSTGRES=1";
    const char* dsn = std::getenv("FHIRBRIDGE_TEST_POSTGRES_DSN");
    ASSERT_TRUE(dsn != nullptr && *dsn != '\0')
        << "FHIRBRIDGE_TEST_POSTGRES_DSN is not set; run through ctest (postgres fixture) or "
           "eval \"$(scripts/postgres.sh start)\"";
    dsn_ = dsn;
    schema_ = RandomSchemaName();
    base_ = sandbox_.origin() + "/open-lab/api/FHIR/R4";
    auto sink = sync::StoreSyncSink::Open({dsn_, schema_}, "open-lab");
    ASSERT_TRUE(sink) << sink.error().ToString();
    sink_ = std::move(*sink);
  }

  void TearDown() override {
    sink_.reset();
    if (dsn_.empty()) return;
    auto connection = store::PgConnection::Connect(dsn_, "");
    ASSERT_TRUE(connection) << connection.error().diagnostic;
    auto dropped = connection->Execute(
        "DROP SCHEMA IF EXISTS " + connection->QuoteIdentifier(schema_) + " CASCADE",
        "drop a test schema");
    EXPECT_TRUE(dropped) << dropped.error().diagnostic;
  }

  sync::SyncOptions Options() {
    sync::SyncOptions options;
    options.site = "open-lab";
    options.base_url = base_;
    options.page_size = 25;
    options.overlap = std::chrono::milliseconds(200);
    return options;
  }

  SyncState Stored() {
    SyncState stored;
    auto rows = sink_->LiveRows();
    EXPECT_TRUE(rows) << rows.error().ToString();
    if (rows) {
      for (const auto& row : *rows) stored[{row.type, row.id}] = row.version;
    }
    return stored;
  }

  static void ExpectSucceeded(const sync::SyncReport& report) {
    for (const sync::TypeOutcome& outcome : report.types) {
      EXPECT_TRUE(outcome.succeeded)
          << outcome.type << ": " << (outcome.error ? outcome.error->ToString() : "");
    }
  }

  // Two new patients with theirs, two updates, one deletion of each type.
  void ChangeSandbox(const std::vector<std::string>& patients) {
    SeedPatients(base_, 2, 2);
    const std::vector<std::string> observations = SandboxIds(base_, "Observation");
    const std::vector<std::string> conditions = SandboxIds(base_, "Condition");
    UpdateResource(base_, "Observation", observations.at(3));
    UpdateResource(base_, "Patient", patients.at(1));
    DeleteResource(base_, "Observation", observations.at(5));
    DeleteResource(base_, "Condition", conditions.at(0));
    DeleteResource(base_, "Patient", patients.at(2));
  }

  SandboxTestServer sandbox_;
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
  ChangeSandbox(patients);
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
