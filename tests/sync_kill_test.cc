// A sync killed with SIGKILL at random points, many times, then run to the end, leaves the store
// equal to the sandbox (ids and versions, deletions included) with no duplicate. Each attempt is
// a forked child syncing over loopback HTTP into the same SQLite file; the sandbox changes
// between attempts.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "http_page_source.h"
#include "sandbox_test_server.h"
#include "store/sqlite.h"
#include "sync/engine.h"
#include "sync/store_sync_sink.h"
#include "sync_test_support.h"

namespace fhirbridge::testing {
namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kTypes = {"Patient", "Observation", "Condition"};

class NoProgress : public sync::ProgressObserver {
 public:
  void OnEvent(const sync::ProgressEvent&) override {}
};

// Runs the plan into `path` to the end; returns whether every type succeeded.
bool SyncInto(const std::string& path, const std::string& base,
              const std::vector<sync::TypePlan>& plan) {
  // "sqlite:" because the timing run's file name does not end in .db.
  auto sink = sync::StoreSyncSink::Open({"sqlite:" + path, {}}, "open-lab");
  if (!sink) return false;
  sync::HttpPageSource source;
  NoProgress progress;
  sync::SyncOptions options;
  options.site = "open-lab";
  options.base_url = base;
  options.page_size = 20;
  sync::SyncEngine engine(source, **sink, progress, options);
  return engine.Run(plan).succeeded();
}

void RemoveStore(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

class SyncKillTest : public ::testing::TestWithParam<sync::Strategy> {};

TEST_P(SyncKillTest, KilledAtRandomPointsThenResumedEndsEqualToTheSandboxWithoutDuplicates) {
  SandboxTestServer sandbox;
  const std::string base = sandbox.origin() + "/open-lab/api/FHIR/R4";
  const std::vector<std::string> patients = SeedPatients(base, 40, 4);
  const auto plan = PlanFromSandbox(base, kTypes, {}, GetParam());
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("fhirbridge-sync-kill-" + std::to_string(::getpid()) + "-" +
                             std::string(sync::StrategyName(GetParam())) + ".db"))
                               .string();
  RemoveStore(path);

  // How long a whole sync takes, so that kills land anywhere within one.
  const auto started = Clock::now();
  ASSERT_TRUE(SyncInto(path + "-timing", base, plan));
  const auto full = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  RemoveStore(path + "-timing");

  std::mt19937 random(20261203);
  std::uniform_int_distribution<int> delay(0, static_cast<int>(full.count()));
  constexpr int kKills = 16;
  int killed = 0;
  for (int attempt = 0; attempt < kKills; ++attempt) {
    if (attempt == kKills / 2) {
      // The site changes while runs keep being killed: creates, updates and deletes.
      SeedPatients(base, 3, 2);
      UpdateResource(base, "Patient", patients.at(0));
      DeleteResource(base, "Patient", patients.at(1));
      const auto observations = SandboxIds(base, "Observation");
      UpdateResource(base, "Observation", observations.at(2));
      DeleteResource(base, "Observation", observations.at(4));
    }
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(SyncInto(path, base, plan) ? 0 : 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(random)));
    if (::kill(child, SIGKILL) == 0) ++killed;
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    if (WIFEXITED(status)) {
      EXPECT_EQ(WEXITSTATUS(status), 0) << "attempt " << attempt;
    }
  }
  EXPECT_GT(killed, kKills / 2);

  ASSERT_TRUE(SyncInto(path, base, plan));
  auto sink = sync::StoreSyncSink::Open({path, {}}, "open-lab");
  ASSERT_TRUE(sink);
  auto rows = (*sink)->LiveRows();
  ASSERT_TRUE(rows);
  std::map<std::pair<std::string, std::string>, std::int64_t> stored;
  for (const auto& row : *rows) {
    EXPECT_TRUE(stored.emplace(std::pair(row.type, row.id), row.version).second)
        << "duplicate " << row.type;
  }
  EXPECT_EQ(stored, SandboxState(base, kTypes));

  auto database = store::Database::Open(path);
  ASSERT_TRUE(database);
  auto integrity = database->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(integrity->Step().value_or(false));
  EXPECT_EQ(integrity->ColumnText(0), "ok");
  RemoveStore(path);
}

INSTANTIATE_TEST_SUITE_P(Strategies, SyncKillTest,
                         ::testing::Values(sync::Strategy::kLastUpdatedWindows,
                                           sync::Strategy::kHistorySince),
                         [](const ::testing::TestParamInfo<sync::Strategy>& strategy) {
                           return strategy.param == sync::Strategy::kHistorySince ? "History"
                                                                                  : "LastUpdated";
                         });

}  // namespace
}  // namespace fhirbridge::testing
