// Bulk Data $export over real HTTP against the sandbox: kick-off, polling that honours
// Retry-After, parallel download of every file and counts checked against the store, a snapshot
// that later writes do not leak into, _since with deletions, Group and Patient cohorts,
// cancellation, expiry, _since refused by an Epic-like level, scope enforcement, and injected
// faults met while polling.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "http/client.h"
#include "jose/jose.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

using fhir::Json;
using namespace std::chrono_literals;

// Every type of the default baseline, with the interactions the tests need.
constexpr std::string_view kConfig = R"(
[build_levels.bulk]
update_as_create = true
[build_levels.bulk.resources]
Patient = ["read", "create", "update", "delete", "search-type"]
Observation = ["read", "create", "update", "delete", "search-type"]
Condition = ["read", "search-type"]
Encounter = ["read", "search-type"]
AllergyIntolerance = ["read", "search-type"]
MedicationRequest = ["read", "search-type"]
MedicationStatement = ["read", "search-type"]
Medication = ["read"]
Practitioner = ["read"]
PractitionerRole = ["read"]
Organization = ["read"]
Location = ["read"]
Group = ["read", "create"]
[build_levels.bulk.bulk_export]
levels = ["system", "patient", "group"]
since = true
max_resources_per_file = 4
job_duration_ms = 1200
expire_after_ms = 1500

[build_levels.epic-like]
[build_levels.epic-like.resources]
Patient = ["read"]
Observation = ["read"]
Group = ["read"]
[build_levels.epic-like.bulk_export]
levels = ["group"]
since = false
max_resources_per_file = 4
[build_levels.epic-like.search]
epic_codes = true

[[tenants]]
name = "open"
build_level = "bulk"
id_style = "sequential"

[[tenants]]
name = "secure"
build_level = "bulk"
[tenants.auth]
required = true

[[tenants]]
name = "epic"
build_level = "epic-like"
)";

constexpr std::string_view kGroupId = "e3iabhmS8rsueyz7vaimuiaSmfGvi.QwjVXJANlPOgR83";
const std::set<std::string> kGroupMembers = {"Patient/e86izff4laD1mVsXVTNHrrl3",
                                             "Patient/eygGzVjJLQB0.8WMY5leCJS3"};

const jose::PrivateKey& Key() {
  static const jose::PrivateKey key = *jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  return key;
}

// A manifest and the files it lists, downloaded.
struct Export {
  Json manifest;
  std::map<std::string, std::vector<Json>> output;  // resources by type
  std::vector<Json> deleted;                        // the Bundles of the deleted files
  std::vector<Json> errors;                         // the OperationOutcomes of the error files
};

class SandboxBulkExportTest : public ::testing::Test {
 protected:
  SandboxBulkExportTest() : sandbox_(kConfig) {}

  std::string Base(std::string_view tenant) const {
    return sandbox_.origin() + "/" + std::string(tenant) + "/api/FHIR/R4";
  }

  http::ClientResponse Send(http::ClientRequest request, const std::string& token = "") {
    if (!token.empty()) request.headers.push_back({"Authorization", "Bearer " + token});
    auto response = client_.Send(request);
    EXPECT_TRUE(response.has_value()) << response.error().ToString();
    return response ? *response : http::ClientResponse{};
  }

  http::ClientResponse KickOff(const std::string& url, const std::string& token = "",
                               std::vector<http::Header> extra = {}) {
    http::ClientRequest request{
        "GET", url, {{"Accept", "application/fhir+json"}, {"Prefer", "respond-async"}}, {}};
    for (auto& header : extra) request.headers.push_back(std::move(header));
    return Send(request, token);
  }

  // Polls `status_url` until it is no longer 202, sleeping as Retry-After says; returns the
  // final answer and counts the polls.
  http::ClientResponse PollUntilDone(const std::string& status_url, const std::string& token = "",
                                     int* polls = nullptr) {
    for (int attempt = 0; attempt < 60; ++attempt) {
      http::ClientResponse response =
          Send({"GET", status_url, {{"Accept", "application/json"}}, {}}, token);
      if (polls != nullptr) ++*polls;
      if (response.status != 202) return response;
      const std::string* retry_after = response.FindHeader("retry-after");
      EXPECT_NE(retry_after, nullptr) << "an in-progress poll says when to come back";
      EXPECT_NE(response.FindHeader("x-progress"), nullptr);
      const int seconds = retry_after == nullptr ? 1 : std::stoi(*retry_after);
      EXPECT_GE(seconds, 1);
      EXPECT_LE(seconds, 5);
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
    ADD_FAILURE() << "the export never completed";
    return {};
  }

  // Downloads every file of `manifest`, each on its own thread and connection.
  Export Download(const Json& manifest, const std::string& token = "") {
    Export result;
    result.manifest = manifest;
    struct Item {
      std::string kind;
      Json entry;
      http::ClientResponse response;
    };
    std::vector<Item> items;
    for (const char* kind : {"output", "deleted", "error"}) {
      for (const Json& entry : manifest.value(kind, Json::array()))
        items.push_back({kind, entry, {}});
    }
    std::vector<std::thread> threads;
    for (Item& item : items) {
      threads.emplace_back([&item, &token] {
        http::Client client;
        http::ClientRequest request{"GET",
                                    item.entry["url"].get<std::string>(),
                                    {{"Accept", "application/fhir+ndjson"}},
                                    {}};
        if (!token.empty()) request.headers.push_back({"Authorization", "Bearer " + token});
        auto response = client.Send(request);
        if (response) item.response = std::move(*response);
      });
    }
    for (std::thread& thread : threads) thread.join();

    for (const Item& item : items) {
      EXPECT_EQ(item.response.status, 200) << item.response.body;
      const std::string* content_type = item.response.FindHeader("content-type");
      EXPECT_TRUE(content_type != nullptr && *content_type == "application/fhir+ndjson");
      std::istringstream lines(item.response.body);
      std::int64_t count = 0;
      for (std::string line; std::getline(lines, line);) {
        Json resource = Json::parse(line);
        EXPECT_EQ(resource["resourceType"], item.entry["type"]) << "one type per file";
        ++count;
        if (item.kind == "output") {
          result.output[item.entry["type"].get<std::string>()].push_back(std::move(resource));
        } else if (item.kind == "deleted") {
          result.deleted.push_back(std::move(resource));
        } else {
          result.errors.push_back(std::move(resource));
        }
      }
      EXPECT_EQ(count, item.entry["count"].get<std::int64_t>()) << "the manifest's count";
      EXPECT_LE(count, 4) << "max_resources_per_file";
    }
    return result;
  }

  // Kick-off, poll and download in one; fails the test on any step that goes wrong.
  Export Run(const std::string& kick_off_url, const std::string& token = "") {
    const http::ClientResponse accepted = KickOff(kick_off_url, token);
    EXPECT_EQ(accepted.status, 202) << accepted.body;
    const std::string* location = accepted.FindHeader("content-location");
    if (location == nullptr) {
      ADD_FAILURE() << "no Content-Location";
      return {};
    }
    const http::ClientResponse done = PollUntilDone(*location, token);
    EXPECT_EQ(done.status, 200) << done.body;
    if (done.status != 200) return {};
    EXPECT_NE(done.FindHeader("expires"), nullptr);
    return Download(Json::parse(done.body), token);
  }

  std::map<std::string, std::int64_t> StoreCounts(std::string_view tenant) {
    auto counts = sandbox_.server().FindTenant(tenant)->store().CountByType();
    EXPECT_TRUE(counts.has_value());
    return counts.value_or(std::map<std::string, std::int64_t>{});
  }

  void RegisterBackend(const std::string& client_id, const std::string& scopes) {
    const Json app = {{"client_id", client_id},
                      {"type", "confidential-asymmetric"},
                      {"scopes", scopes},
                      {"jwks", {{"keys", {Key().Public().ToJwk("k1", jose::Algorithm::kRS384)}}}}};
    ASSERT_EQ(Send({"POST",
                    sandbox_.origin() + "/admin/tenants/secure/apps",
                    {{"Content-Type", "application/json"}},
                    app.dump()})
                  .status,
              201);
  }

  std::string BackendToken(const std::string& client_id) {
    const std::string token_url = sandbox_.origin() + "/secure/oauth2/token";
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string assertion = *jose::SignJwt({{"iss", client_id},
                                                  {"sub", client_id},
                                                  {"aud", token_url},
                                                  {"exp", now + 240},
                                                  {"jti", client_id + std::to_string(++jti_)}},
                                                 Key(), jose::Algorithm::kRS384, {{"kid", "k1"}});
    const http::ClientResponse response =
        Send({"POST",
              token_url,
              {{"Content-Type", "application/x-www-form-urlencoded"}},
              "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%"
              "3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
                  assertion});
    EXPECT_EQ(response.status, 200) << response.body;
    return Json::parse(response.body).value("access_token", "");
  }

  SandboxTestServer sandbox_;
  http::Client client_;
  int jti_ = 0;
};

TEST_F(SandboxBulkExportTest, SystemExportDeliversTheStoreAsOfItsKickOff) {
  const std::map<std::string, std::int64_t> counts = StoreCounts("open");
  const http::ClientResponse accepted = KickOff(Base("open") + "/$export");
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const std::string status_url = *accepted.FindHeader("content-location");
  EXPECT_TRUE(status_url.starts_with(Base("open") + "/bulkstatus/")) << status_url;

  // Written after the kick-off: the snapshot must not see it.
  const Json late = {{"resourceType", "Patient"}, {"name", {{{"family", "Later"}}}}};
  ASSERT_EQ(Send({"POST",
                  Base("open") + "/Patient",
                  {{"Content-Type", "application/fhir+json"}},
                  late.dump()})
                .status,
            201);

  int polls = 0;
  const auto started = std::chrono::steady_clock::now();
  const http::ClientResponse done = PollUntilDone(status_url, "", &polls);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_GE(polls, 2) << "job_duration_ms makes the first poll answer 202";
  EXPECT_GE(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(*done.FindHeader("content-type"), "application/json");
  const Json manifest = Json::parse(done.body);
  EXPECT_EQ(manifest["requiresAccessToken"], false);
  EXPECT_EQ(manifest["request"], Base("open") + "/$export");
  EXPECT_TRUE(manifest["transactionTime"].is_string());
  EXPECT_EQ(manifest["error"], Json::array());

  const Export exported = Download(manifest);
  std::map<std::string, std::int64_t> exported_counts;
  for (const auto& [type, resources] : exported.output) {
    exported_counts[type] = static_cast<std::int64_t>(resources.size());
  }
  EXPECT_EQ(exported_counts, counts);
  EXPECT_GT(manifest["output"].size(), counts.size()) << "types above 4 resources span files";
  for (const Json& patient : exported.output.at("Patient")) {
    EXPECT_EQ(patient.dump().find("Later"), std::string::npos);
  }
}

TEST_F(SandboxBulkExportTest, SinceExportsChangesAndListsDeletions) {
  const Export first = Run(Base("open") + "/$export?_type=Patient,Observation");
  ASSERT_FALSE(first.output.empty());
  const std::string since = first.manifest["transactionTime"];

  Json patient = first.output.at("Patient").front();
  patient["gender"] = "unknown";
  const std::string patient_id = patient["id"];
  ASSERT_EQ(Send({"PUT",
                  Base("open") + "/Patient/" + patient_id,
                  {{"Content-Type", "application/fhir+json"}},
                  patient.dump()})
                .status,
            200);
  const std::string removed = first.output.at("Observation").front()["id"];
  ASSERT_EQ(Send({"DELETE", Base("open") + "/Observation/" + removed, {}, {}}).status, 200);

  const Export second = Run(Base("open") + "/$export?_type=Patient,Observation&_since=" + since);
  ASSERT_EQ(second.output.size(), 1u) << second.manifest.dump();
  ASSERT_EQ(second.output.at("Patient").size(), 1u);
  EXPECT_EQ(second.output.at("Patient")[0]["id"], patient_id);
  EXPECT_EQ(second.output.at("Patient")[0]["gender"], "unknown");
  ASSERT_EQ(second.deleted.size(), 1u);
  EXPECT_EQ(second.deleted[0]["type"], "transaction");
  EXPECT_EQ(second.deleted[0]["entry"][0]["request"]["method"], "DELETE");
  EXPECT_EQ(second.deleted[0]["entry"][0]["request"]["url"], "Observation/" + removed);

  // Passing each transactionTime on loses and repeats nothing.
  const Export third = Run(
      Base("open") + "/$export?_since=" + second.manifest["transactionTime"].get<std::string>());
  EXPECT_TRUE(third.output.empty()) << third.manifest.dump();
  EXPECT_TRUE(third.deleted.empty());
}

TEST_F(SandboxBulkExportTest, GroupAndPatientExportsKeepTheirCohortsCompartments) {
  const Export group = Run(Base("open") + "/Group/" + std::string(kGroupId) + "/$export");
  std::set<std::string> patients;
  for (const Json& patient : group.output.at("Patient")) {
    patients.insert("Patient/" + patient["id"].get<std::string>());
  }
  EXPECT_EQ(patients, kGroupMembers) << "the inactive member is left out";
  ASSERT_TRUE(group.output.contains("Observation"));
  for (const Json& observation : group.output.at("Observation")) {
    EXPECT_TRUE(kGroupMembers.contains(observation["subject"]["reference"].get<std::string>()));
  }
  EXPECT_FALSE(group.output.contains("Practitioner")) << "outside the patient compartment";
  EXPECT_FALSE(group.output.contains("Group"));

  const Export all_patients = Run(Base("open") + "/Patient/$export");
  EXPECT_EQ(all_patients.output.at("Patient").size(),
            static_cast<std::size_t>(StoreCounts("open").at("Patient")));
  EXPECT_GT(all_patients.output.at("Observation").size(), group.output.at("Observation").size());
  EXPECT_FALSE(all_patients.output.contains("Organization"));

  EXPECT_EQ(KickOff(Base("open") + "/Group/no-such-group/$export").status, 404);
  EXPECT_EQ(KickOff(Base("open") + "/Patient/$export?_type=Practitioner").status, 400);
  const http::ClientResponse lenient =
      KickOff(Base("open") + "/Patient/$export?_type=Practitioner,Patient&_typeFilter=x", "",
              {{"Prefer", "handling=lenient"}});
  EXPECT_EQ(lenient.status, 202) << lenient.body;
}

TEST_F(SandboxBulkExportTest, CancelledAndExpiredJobsAnswer404) {
  const http::ClientResponse accepted = KickOff(Base("open") + "/$export");
  ASSERT_EQ(accepted.status, 202);
  const std::string status_url = *accepted.FindHeader("content-location");
  EXPECT_EQ(Send({"DELETE", status_url, {}, {}}).status, 202);
  EXPECT_EQ(Send({"GET", status_url, {}, {}}).status, 404);
  EXPECT_EQ(Send({"DELETE", status_url, {}, {}}).status, 404);

  const http::ClientResponse second = KickOff(Base("open") + "/$export?_type=Patient");
  ASSERT_EQ(second.status, 202);
  const std::string second_url = *second.FindHeader("content-location");
  const http::ClientResponse done = PollUntilDone(second_url);
  ASSERT_EQ(done.status, 200);
  const std::string file_url = Json::parse(done.body)["output"][0]["url"];
  EXPECT_EQ(Send({"GET", file_url, {}, {}}).status, 200);
  std::this_thread::sleep_for(1700ms);  // expire_after_ms = 1500
  const http::ClientResponse expired = Send({"GET", second_url, {}, {}});
  EXPECT_EQ(expired.status, 404);
  EXPECT_EQ(Json::parse(expired.body)["resourceType"], "OperationOutcome");
  EXPECT_EQ(Send({"GET", file_url, {}, {}}).status, 404);
}

TEST_F(SandboxBulkExportTest, AnEpicLikeLevelOffersGroupExportWithoutSince) {
  const std::string group = Base("epic") + "/Group/" + std::string(kGroupId) + "/$export";
  const http::ClientResponse refused = KickOff(group + "?_since=2020-01-01T00:00:00Z");
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("_since"), std::string::npos);
  EXPECT_NE(refused.body.find("4100"), std::string::npos) << "Epic's code for the refusal";
  EXPECT_EQ(KickOff(Base("epic") + "/$export").status, 405);
  EXPECT_EQ(KickOff(Base("epic") + "/Patient/$export").status, 405);

  // Lenient: _since is ignored, the whole cohort comes back, and the manifest says so.
  const http::ClientResponse lenient =
      KickOff(group + "?_since=2020-01-01T00:00:00Z", "", {{"Prefer", "handling=lenient"}});
  ASSERT_EQ(lenient.status, 202);
  const http::ClientResponse done = PollUntilDone(*lenient.FindHeader("content-location"));
  ASSERT_EQ(done.status, 200);
  const Export exported = Download(Json::parse(done.body));
  EXPECT_EQ(exported.output.at("Patient").size(), kGroupMembers.size());
  ASSERT_EQ(exported.errors.size(), 1u);
  EXPECT_NE(exported.errors[0].dump().find("_since"), std::string::npos);
  EXPECT_EQ(exported.errors[0]["issue"][0]["severity"], "warning");

  const Json metadata = Json::parse(Send({"GET", Base("epic") + "/metadata", {}, {}}).body);
  EXPECT_FALSE(metadata["rest"][0].contains("operation")) << "no system-level $export";
  bool group_export_listed = false;
  for (const Json& resource : metadata["rest"][0]["resource"]) {
    group_export_listed |= resource["type"] == "Group" && resource.contains("operation");
  }
  EXPECT_TRUE(group_export_listed);
}

TEST_F(SandboxBulkExportTest, ScopesDecideWhatIsExportedAndWhoMayPoll) {
  RegisterBackend("exporter", "system/Patient.rs system/Observation.rs");
  RegisterBackend("other", "system/Patient.rs system/Observation.rs");
  const std::string token = BackendToken("exporter");
  const std::string other = BackendToken("other");

  EXPECT_EQ(KickOff(Base("secure") + "/$export").status, 401);
  const http::ClientResponse beyond =
      KickOff(Base("secure") + "/$export?_type=Patient,Condition", token);
  EXPECT_EQ(beyond.status, 403);
  EXPECT_NE(beyond.body.find("system/Condition.r"), std::string::npos) << beyond.body;

  // Without _type: what the token may read, and a warning for each type left out.
  const http::ClientResponse accepted = KickOff(Base("secure") + "/$export", token);
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const std::string status_url = *accepted.FindHeader("content-location");
  EXPECT_EQ(Send({"GET", status_url, {}, {}}).status, 401);
  EXPECT_EQ(Send({"GET", status_url, {}, {}}, other).status, 403);
  const http::ClientResponse done = PollUntilDone(status_url, token);
  ASSERT_EQ(done.status, 200);
  const Json manifest = Json::parse(done.body);
  EXPECT_EQ(manifest["requiresAccessToken"], true);
  EXPECT_EQ(Send({"GET", manifest["output"][0]["url"], {}, {}}).status, 401);
  const Export exported = Download(manifest, token);
  std::set<std::string> types;
  for (const auto& [type, resources] : exported.output) types.insert(type);
  EXPECT_EQ(types, (std::set<std::string>{"Observation", "Patient"}));
  EXPECT_EQ(exported.output.at("Observation").size(),
            static_cast<std::size_t>(StoreCounts("secure").at("Observation")));
  bool condition_reported = false;
  for (const Json& outcome : exported.errors) {
    condition_reported |= outcome.dump().find("Condition was not exported") != std::string::npos;
  }
  EXPECT_TRUE(condition_reported);
}

TEST_F(SandboxBulkExportTest, PollingMeetsTheTenantsFaultsAndRecovers) {
  const http::ClientResponse accepted = KickOff(Base("open") + "/$export?_type=Patient");
  ASSERT_EQ(accepted.status, 202);
  const std::string status_url = *accepted.FindHeader("content-location");

  const std::string faults_url = sandbox_.origin() + "/admin/tenants/open/faults";
  ASSERT_EQ(Send({"PUT",
                  faults_url,
                  {{"Content-Type", "application/json"}},
                  R"({"error_rates": {"503": 1}})"})
                .status,
            200);
  const http::ClientResponse unavailable = Send({"GET", status_url, {}, {}});
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(Json::parse(unavailable.body)["issue"][0]["code"], "transient");
  ASSERT_NE(unavailable.FindHeader("x-fhirbridge-injected-fault"), nullptr);

  ASSERT_EQ(Send({"PUT", faults_url, {{"Content-Type", "application/json"}}, "{}"}).status, 200);
  const http::ClientResponse done = PollUntilDone(status_url);
  ASSERT_EQ(done.status, 200) << "the job survived the failed poll";
  EXPECT_EQ(Download(Json::parse(done.body)).output.at("Patient").size(),
            static_cast<std::size_t>(StoreCounts("open").at("Patient")));
}

}  // namespace
}  // namespace fhirbridge::testing
