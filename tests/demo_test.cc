// `fhirbridge demo` end to end: the real binary in a temporary folder, run twice. Checks the
// summary, the synced store against the sandbox tenants' own stores, the narrowed scope's
// reason, the faults met and survived, that the second run is incremental, and that no log line
// of either run names a seeded patient.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sandbox/id_generator.h"
#include "sandbox/resource_store.h"
#include "store/sqlite.h"

namespace fhirbridge {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class DemoCommandTest : public ::testing::Test {
 protected:
  DemoCommandTest()
      : folder_(fs::temp_directory_path() /
                ("fhirbridge-demo-test-" + std::to_string(::getpid()))) {
    fs::remove_all(folder_);
  }
  ~DemoCommandTest() override { fs::remove_all(folder_); }

  // Runs the demo; returns its exit code and parses its --json summary into `summary`.
  int RunDemo(const std::string& extra, nlohmann::json& summary) {
    const fs::path out = folder_.string() + ".stdout";
    const std::string command = std::string(FHIRBRIDGE_BINARY) + " demo --dir " + folder_.string() +
                                " --patients 8 --port 0 --json " + extra + " >" + out.string() +
                                " 2>" + folder_.string() + ".stderr";
    const int status = std::system(command.c_str());
    const std::string text = ReadText(out);
    stderr_ = ReadText(folder_.string() + ".stderr");
    fs::remove(out);
    fs::remove(folder_.string() + ".stderr");
    summary = nlohmann::json::parse(text, nullptr, false);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Live resources per type in the replica store for `site`, counted with SQL on its schema
  // (store/sqlite_replica_store.cc), not through the store's own API.
  std::map<std::string, std::int64_t> StoreCounts(const std::string& site) {
    std::map<std::string, std::int64_t> counts;
    auto database = store::Database::Open((folder_ / "store.sqlite").string());
    EXPECT_TRUE(database.has_value());
    auto statement = database->Prepare(
        "SELECT resource_type, COUNT(*) FROM resources WHERE site = ?1 AND deleted = 0 "
        "GROUP BY resource_type");
    EXPECT_TRUE(statement.has_value());
    EXPECT_TRUE(statement->BindText(1, site).has_value());
    while (true) {
      auto row = statement->Step();
      EXPECT_TRUE(row.has_value());
      if (!row || !*row) break;
      counts[statement->ColumnText(0)] = statement->ColumnInt64(1);
    }
    return counts;
  }

  // Resources per type in the sandbox tenant's own store file.
  std::map<std::string, std::int64_t> SandboxCounts(const std::string& tenant) {
    auto store =
        sandbox::ResourceStore::Open((folder_ / "sandbox" / (tenant + ".sqlite")).string(),
                                     sandbox::MakeIdGenerator(sandbox::IdStyle::kUuid, 36));
    EXPECT_TRUE(store.has_value());
    auto counts = (*store)->CountByType();
    EXPECT_TRUE(counts.has_value());
    return *counts;
  }

  // Every seeded patient's names, identifier values and birth dates, from the replica store.
  std::set<std::string> PatientDetails() {
    std::set<std::string> details;
    auto database = store::Database::Open((folder_ / "store.sqlite").string());
    EXPECT_TRUE(database.has_value());
    auto statement = database->Prepare("SELECT raw FROM resources WHERE resource_type = 'Patient'");
    EXPECT_TRUE(statement.has_value());
    while (true) {
      auto row = statement->Step();
      if (!row || !*row) break;
      const auto patient = nlohmann::json::parse(statement->ColumnText(0));
      for (const auto& name : patient.value("name", nlohmann::json::array())) {
        if (name.contains("family")) details.insert(name["family"].get<std::string>());
        for (const auto& given : name.value("given", nlohmann::json::array())) {
          details.insert(given.get<std::string>());
        }
      }
      for (const auto& identifier : patient.value("identifier", nlohmann::json::array())) {
        if (identifier.contains("value")) details.insert(identifier["value"].get<std::string>());
      }
      if (patient.contains("birthDate")) details.insert(patient["birthDate"].get<std::string>());
    }
    // Very short strings ("Al", "7") and bare years or small numbers occur in any text; they
    // identify no one on their own.
    std::erase_if(details, [](const std::string& detail) {
      const bool numeric = detail.find_first_not_of("0123456789") == std::string::npos;
      return detail.size() < 4 || (numeric && detail.size() < 6);
    });
    return details;
  }

  fs::path folder_;
  std::string stderr_;
};

TEST_F(DemoCommandTest, RunsTwiceIncrementallyAndLogsNoPatientData) {
  nlohmann::json first;
  ASSERT_EQ(RunDemo("--fresh", first), 0) << stderr_ << first.dump(2);
  ASSERT_TRUE(first.is_object());
  ASSERT_EQ(first["sites"].size(), 3u);
  EXPECT_TRUE(first["succeeded"].get<bool>());

  std::map<std::string, nlohmann::json> sites;
  for (const auto& site : first["sites"]) sites[site["site"].get<std::string>()] = site;
  ASSERT_TRUE(sites.contains("demo-narrow-scopes"));
  ASSERT_TRUE(sites.contains("demo-rate-limited"));
  ASSERT_TRUE(sites.contains("demo-epic-faults"));

  for (const auto& [name, site] : sites) {
    SCOPED_TRACE(name);
    EXPECT_GT(site["seeded_created"].get<std::int64_t>(), 0);
    EXPECT_TRUE(site["sync_failures"].empty()) << site["sync_failures"].dump();
    EXPECT_EQ(site["smoke"]["failed"].get<int>(), 0);
    EXPECT_GT(site["smoke"]["passed"].get<int>(), 0);
    EXPECT_GT(site["latency_ms"]["p99"].get<double>(), 0);
    // Every synced type holds exactly what the tenant holds, counted independently.
    const auto stored = StoreCounts(name);
    const auto served = SandboxCounts(name);
    ASSERT_FALSE(site["synced"].empty());
    for (const auto& [type, counts] : site["synced"].items()) {
      const auto in_store = stored.contains(type) ? stored.at(type) : 0;
      const auto in_sandbox = served.contains(type) ? served.at(type) : 0;
      EXPECT_EQ(in_store, in_sandbox) << type;
      EXPECT_EQ(counts["created"].get<std::int64_t>(), in_store) << type;
    }
    for (const auto& report : site["reports"]) {
      EXPECT_TRUE(fs::exists(report.get<std::string>()));
    }
    EXPECT_TRUE(fs::exists(folder_ / "sites" / (name + ".toml")));
  }

  // The narrowed grant: what it leaves out is unavailable, with the scope as the reason.
  const auto& narrow = sites["demo-narrow-scopes"];
  EXPECT_EQ(narrow["granted_scopes"].get<std::string>().find("system/*"), std::string::npos);
  bool medication_reason = false;
  for (const auto& entry : narrow["unavailable"]) {
    if (entry["type"] == "MedicationRequest") {
      medication_reason =
          entry["reason"].get<std::string>().find("system/MedicationRequest") != std::string::npos;
    }
  }
  EXPECT_TRUE(medication_reason) << narrow["unavailable"].dump(2);
  EXPECT_FALSE(narrow["synced"].contains("MedicationRequest"));
  EXPECT_GT(narrow["smoke"]["skipped"].get<int>(), 0);

  // Faults were met and survived.
  const auto& faulty = sites["demo-epic-faults"];
  std::int64_t injected = 0;
  for (const auto& [kind, count] : faulty["faults_met"].items())
    injected += count.get<std::int64_t>();
  EXPECT_GT(injected, 0);
  EXPECT_TRUE(faulty["survived"].get<bool>());
  EXPECT_TRUE(sites["demo-rate-limited"]["faults_met"].contains("rate_limited_429"))
      << sites["demo-rate-limited"]["faults_met"].dump();

  // The second run reuses the folder: nothing seeded or stored anew, fewer requests overall.
  nlohmann::json second;
  ASSERT_EQ(RunDemo("", second), 0) << stderr_ << second.dump(2);
  std::int64_t first_requests = 0, second_requests = 0;
  for (const auto& site : first["sites"])
    first_requests += site["sync_requests"].get<std::int64_t>();
  for (const auto& site : second["sites"]) {
    SCOPED_TRACE(site["site"].get<std::string>());
    second_requests += site["sync_requests"].get<std::int64_t>();
    EXPECT_EQ(site["seeded_created"].get<std::int64_t>(), 0);
    EXPECT_GT(site["seeded_present"].get<std::int64_t>(), 0);
    for (const auto& [type, counts] : site["synced"].items()) {
      EXPECT_EQ(counts["created"].get<std::int64_t>(), 0) << type;
      EXPECT_EQ(counts["deleted"].get<std::int64_t>(), 0) << type;
    }
  }
  EXPECT_LT(second_requests, first_requests);

  // No log line of either run names a seeded patient.
  const std::set<std::string> details = PatientDetails();
  ASSERT_GT(details.size(), 20u);
  std::size_t lines = 0;
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(folder_ / "logs")) {
    ++files;
    std::ifstream log(entry.path());
    std::string line;
    while (std::getline(log, line)) {
      ++lines;
      for (const std::string& detail : details) {
        // Birth dates would collide with timestamps only as part of an instant ("...T").
        const std::size_t at = line.find(detail);
        if (at == std::string::npos) continue;
        const bool date = detail.size() == 10 && detail[4] == '-' && detail[7] == '-';
        const bool instant =
            date && at + detail.size() < line.size() && line[at + detail.size()] == 'T';
        EXPECT_TRUE(instant) << "a log line of " << entry.path().filename()
                             << " holds a seeded patient's detail";
      }
    }
  }
  EXPECT_EQ(files, 2u);
  EXPECT_GT(lines, 10u);
}

}  // namespace
}  // namespace fhirbridge
