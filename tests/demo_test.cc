// `fhirbridge demo` end to end: the real binary in a temporary folder, run twice (JSON, then the
// text summary). Checks the summary, the replica store against the sandbox tenants' own stores,
// the narrowed scope's reason, the faults met, retried and survived, that the second run is
// incremental, and that no log line or output of either run names a synced patient.

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

  // Runs the demo with `extra` arguments; returns its exit code and its standard output. Both
  // outputs are kept for the scan for patient data.
  int RunDemo(const std::string& extra, std::string& output) {
    const fs::path out = folder_.string() + ".stdout";
    const fs::path err = folder_.string() + ".stderr";
    const std::string command = std::string(FHIRBRIDGE_BINARY) + " demo --dir " + folder_.string() +
                                " --patients 8 --port 0 " + extra + " >" + out.string() + " 2>" +
                                err.string();
    const int status = std::system(command.c_str());
    output = ReadText(out);
    stderr_ = ReadText(err);
    outputs_.push_back(output);
    outputs_.push_back(stderr_);
    fs::remove(out);
    fs::remove(err);
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

  // Every synced patient's names, identifier values and birth dates, from the replica store.
  // `patients` receives how many Patient rows there are.
  std::set<std::string> PatientDetails(std::int64_t& patients) {
    std::set<std::string> details;
    patients = 0;
    auto database = store::Database::Open((folder_ / "store.sqlite").string());
    EXPECT_TRUE(database.has_value());
    auto statement = database->Prepare("SELECT raw FROM resources WHERE resource_type = 'Patient'");
    EXPECT_TRUE(statement.has_value());
    while (true) {
      auto row = statement->Step();
      if (!row || !*row) break;
      ++patients;
      const auto patient = nlohmann::json::parse(statement->ColumnText(0));
      for (const auto& name : patient.value("name", nlohmann::json::array())) {
        if (name.contains("family")) details.insert(name["family"].get<std::string>());
        for (const auto& given : name.value("given", nlohmann::json::array())) {
          details.insert(given.get<std::string>());
        }
        if (name.contains("text")) details.insert(name["text"].get<std::string>());
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

  // Fails for each place in `text` that holds one of `details`. A birth date may occur only as
  // the date of an instant ("2026-12-04T...": log timestamps).
  static void ExpectNoDetail(const std::string& text, const std::set<std::string>& details,
                             const std::string& where) {
    for (const std::string& detail : details) {
      const bool date = detail.size() == 10 && detail[4] == '-' && detail[7] == '-';
      for (std::size_t at = text.find(detail); at != std::string::npos;
           at = text.find(detail, at + 1)) {
        const bool instant =
            date && at + detail.size() < text.size() && text[at + detail.size()] == 'T';
        EXPECT_TRUE(instant) << where << " holds a seeded patient's detail";
      }
    }
  }

  fs::path folder_;
  std::string stderr_;
  std::vector<std::string> outputs_;
};

// The number that follows the first `label` in `block`; -1 when there is none.
std::int64_t NumberAfter(const std::string& block, const std::string& label) {
  const std::size_t at = block.find(label);
  if (at == std::string::npos) return -1;
  return std::stoll(block.substr(at + label.size()));
}

TEST_F(DemoCommandTest, RunsTwiceIncrementallyAndLogsNoPatientData) {
  std::string first_text;
  ASSERT_EQ(RunDemo("--fresh --json", first_text), 0) << stderr_ << first_text;
  const nlohmann::json first = nlohmann::json::parse(first_text, nullptr, false);
  ASSERT_TRUE(first.is_object()) << first_text;
  ASSERT_EQ(first["sites"].size(), 3u);
  EXPECT_TRUE(first["succeeded"].get<bool>());

  std::map<std::string, nlohmann::json> sites;
  for (const auto& site : first["sites"]) sites[site["site"].get<std::string>()] = site;
  ASSERT_TRUE(sites.contains("demo-narrow-scopes"));
  ASSERT_TRUE(sites.contains("demo-rate-limited"));
  ASSERT_TRUE(sites.contains("demo-epic-faults"));

  std::int64_t sandbox_patients = 0;
  for (const auto& [name, site] : sites) {
    SCOPED_TRACE(name);
    EXPECT_GT(site["seeded_created"].get<std::int64_t>(), 0);
    EXPECT_TRUE(site["sync_failures"].empty()) << site["sync_failures"].dump();
    EXPECT_EQ(site["smoke"]["failed"].get<int>(), 0);
    EXPECT_GT(site["smoke"]["passed"].get<int>(), 0);
    EXPECT_GT(site["latency_ms"]["p99"].get<double>(), 0);
    EXPECT_GE(site["http_exchanges"].get<std::int64_t>(),
              site["sync_requests"].get<std::int64_t>());

    // Every synced type holds exactly what the tenant holds, counted independently, and every
    // type the tenant holds was either synced or reported unavailable with a reason.
    const auto stored = StoreCounts(name);
    const auto served = SandboxCounts(name);
    sandbox_patients += served.contains("Patient") ? served.at("Patient") : 0;
    ASSERT_FALSE(site["synced"].empty());
    for (const auto& [type, counts] : site["synced"].items()) {
      const auto in_store = stored.contains(type) ? stored.at(type) : 0;
      const auto in_sandbox = served.contains(type) ? served.at(type) : 0;
      EXPECT_EQ(in_store, in_sandbox) << type;
      EXPECT_EQ(counts["sandbox"].get<std::int64_t>(), in_sandbox) << type;
      EXPECT_EQ(counts["live"].get<std::int64_t>(), in_store) << type;
      EXPECT_EQ(counts["created"].get<std::int64_t>(), in_store) << type;
    }
    std::map<std::string, std::string> unavailable;
    for (const auto& entry : site["unavailable"]) {
      unavailable[entry["type"].get<std::string>()] = entry["reason"].get<std::string>();
    }
    for (const auto& [type, count] : served) {
      if (count == 0 || site["synced"].contains(type)) continue;
      ASSERT_TRUE(unavailable.contains(type)) << type << " is neither synced nor unavailable";
      EXPECT_FALSE(unavailable[type].empty()) << type;
    }
    for (const auto& [type, count] : stored) {
      EXPECT_TRUE(site["synced"].contains(type)) << type << " is stored but not reported";
    }
    for (const auto& report : site["reports"]) {
      EXPECT_TRUE(fs::exists(report.get<std::string>()));
    }
    EXPECT_TRUE(fs::exists(folder_ / "sites" / (name + ".toml")));
  }

  // The narrowed grant: what it leaves out is unavailable, with the missing scope as the reason,
  // and smoke skips the steps it refuses.
  const auto& narrow = sites["demo-narrow-scopes"];
  EXPECT_EQ(narrow["granted_scopes"].get<std::string>().find("system/*"), std::string::npos);
  EXPECT_EQ(narrow["granted_scopes"].get<std::string>().find("MedicationRequest"),
            std::string::npos);
  bool medication_reason = false;
  for (const auto& entry : narrow["unavailable"]) {
    if (entry["type"] == "MedicationRequest") {
      medication_reason =
          entry["reason"].get<std::string>().find("system/MedicationRequest") != std::string::npos;
    }
  }
  EXPECT_TRUE(medication_reason) << narrow["unavailable"].dump(2);
  EXPECT_FALSE(narrow["synced"].contains("MedicationRequest"));
  EXPECT_TRUE(narrow["synced"].contains("Patient"));
  EXPECT_GT(narrow["smoke"]["skipped"].get<int>(), 0);
  // The wider grants sync MedicationRequest.
  EXPECT_TRUE(sites["demo-rate-limited"]["synced"].contains("MedicationRequest"));

  // Faults were met and survived: the sandbox injected them, and the site client retried each
  // retry it counts because of one (a 5xx or 429 comes only from an injected fault or the limit).
  const auto& faulty = sites["demo-epic-faults"];
  std::int64_t injected = 0;
  for (const auto& [kind, count] : faulty["faults_met"].items()) {
    injected += count.get<std::int64_t>();
  }
  EXPECT_GT(injected, 0);
  std::int64_t retried = 0;
  for (const std::string status : {"500", "503"}) {
    const std::int64_t retries = faulty["retries"].value(status, std::int64_t{0});
    EXPECT_LE(retries, faulty["faults_met"].value("error_" + status, std::int64_t{0})) << status;
    retried += retries;
  }
  EXPECT_GT(retried, 0) << faulty["retries"].dump();
  EXPECT_TRUE(faulty["survived"].get<bool>());
  const auto& limited = sites["demo-rate-limited"];
  EXPECT_TRUE(limited["faults_met"].contains("rate_limited_429")) << limited["faults_met"].dump();
  EXPECT_GT(limited["retries"].value("429", std::int64_t{0}), 0) << limited["retries"].dump();
  EXPECT_LE(limited["retries"].value("429", std::int64_t{0}),
            limited["faults_met"].value("rate_limited_429", std::int64_t{0}));
  EXPECT_FALSE(limited["maintenance_windows"].empty());
  // Its unannounced maintenance: answered 503 with Retry-After, waited out and retried.
  EXPECT_GT(limited["faults_met"].value("maintenance", std::int64_t{0}), 0)
      << limited["faults_met"].dump();
  EXPECT_GT(limited["retries"].value("503", std::int64_t{0}), 0) << limited["retries"].dump();
  EXPECT_TRUE(limited["survived"].get<bool>());

  // The second run reuses the folder: nothing seeded or stored anew, fewer requests. It prints
  // the text summary, read here as a person would.
  std::string second;
  ASSERT_EQ(RunDemo("", second), 0) << stderr_ << second;
  std::int64_t first_requests = 0, second_requests = 0;
  for (const auto& site : first["sites"]) {
    first_requests += site["sync_requests"].get<std::int64_t>();
  }
  for (const auto& [name, site] : sites) {
    SCOPED_TRACE(name);
    const std::size_t start = second.find("\n" + name + " - ");
    ASSERT_NE(start, std::string::npos) << second;
    const std::size_t end = second.find("\n\n", start + 1);
    const std::string block = second.substr(start, end - start);
    EXPECT_EQ(NumberAfter(block, "seeded: "), 0) << block;
    EXPECT_NE(block.find("this run 0 new, 0 updated, 0 deleted"), std::string::npos) << block;
    EXPECT_NE(block.find(" - survived"), std::string::npos) << block;
    EXPECT_NE(block.find("latency: p50 "), std::string::npos) << block;
    EXPECT_NE(block.find("smoke: "), std::string::npos) << block;
    const std::int64_t requests = NumberAfter(block, "synced (");
    EXPECT_GT(requests, 0) << block;
    second_requests += requests;
    // The store still equals the sandbox.
    const auto stored = StoreCounts(name);
    const auto served = SandboxCounts(name);
    for (const auto& [type, counts] : site["synced"].items()) {
      EXPECT_EQ(stored.contains(type) ? stored.at(type) : 0,
                served.contains(type) ? served.at(type) : 0)
          << type;
    }
  }
  // Types refused for the same reason share a line; the narrowed grant's line names the scope.
  bool medication_line = false;
  std::istringstream summary_lines(second);
  for (std::string line; std::getline(summary_lines, line);) {
    medication_line |= line.starts_with("  unavailable: ") &&
                       line.find("MedicationRequest") != std::string::npos &&
                       line.find("the site did not grant system/{type}") != std::string::npos;
  }
  EXPECT_TRUE(medication_line) << second;
  EXPECT_NE(second.find("Done in "), std::string::npos) << second;
  EXPECT_LT(second_requests, first_requests);

  // No log line of either run, and nothing either run printed, names a synced patient.
  std::int64_t patients = 0;
  const std::set<std::string> details = PatientDetails(patients);
  EXPECT_EQ(patients, sandbox_patients);
  ASSERT_GT(details.size(), 20u);
  std::size_t lines = 0;
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(folder_ / "logs")) {
    ++files;
    std::ifstream log(entry.path());
    std::string line;
    while (std::getline(log, line)) {
      ++lines;
      ExpectNoDetail(line, details, "a log line of " + entry.path().filename().string());
    }
  }
  EXPECT_EQ(files, 2u);
  EXPECT_GT(lines, 10u);
  for (const std::string& output : outputs_) ExpectNoDetail(output, details, "the demo's output");
}

}  // namespace
}  // namespace fhirbridge
