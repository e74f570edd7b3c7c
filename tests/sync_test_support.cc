#include "sync_test_support.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/client.h"

namespace fhirbridge::testing {

namespace {

using nlohmann::json;

http::ClientResponse Send(const std::string& method, const std::string& url,
                          const std::string& body = {}, const std::string& token = {}) {
  http::Client client;
  http::ClientRequest request;
  request.method = method;
  request.url = url;
  request.body = body;
  request.headers = {{"Content-Type", "application/fhir+json"},
                     {"Accept", "application/fhir+json"}};
  if (!token.empty()) request.headers.push_back({"Authorization", "Bearer " + token});
  auto response = client.Send(request);
  EXPECT_TRUE(response) << response.error().ToString();
  if (!response) return {};
  return std::move(*response);
}

// Every page of a search, as parsed Bundles.
std::vector<json> SearchAll(const std::string& url, const std::string& token = {}) {
  std::vector<json> pages;
  std::string next = url;
  while (!next.empty()) {
    const http::ClientResponse response = Send("GET", next, {}, token);
    EXPECT_EQ(response.status, 200) << response.body.substr(0, 300);
    if (response.status != 200) break;
    pages.push_back(json::parse(response.body));
    next.clear();
    for (const json& link : pages.back().value("link", json::array())) {
      if (link.value("relation", "") == "next") next = link.value("url", "");
    }
  }
  return pages;
}

}  // namespace

std::map<std::pair<std::string, std::string>, std::int64_t> SandboxState(
    const std::string& base, const std::vector<std::string>& types, const std::string& token) {
  std::map<std::pair<std::string, std::string>, std::int64_t> state;
  for (const std::string& type : types) {
    for (const json& page : SearchAll(base + "/" + type + "?_count=1000", token)) {
      for (const json& entry : page.value("entry", json::array())) {
        const json& resource = entry["resource"];
        state[{type, resource["id"].get<std::string>()}] =
            std::stoll(resource["meta"]["versionId"].get<std::string>());
      }
    }
  }
  return state;
}

std::string DescribeDifference(const SyncState& stored, const SyncState& sandbox) {
  std::string text;
  for (const auto& [key, version] : stored) {
    const auto other = sandbox.find(key);
    if (other == sandbox.end()) {
      text += "only in store: " + key.first + "/" + key.second + "; ";
    } else if (other->second != version) {
      text += "version differs: " + key.first + "/" + key.second + " " + std::to_string(version) +
              " vs " + std::to_string(other->second) + "; ";
    }
  }
  for (const auto& [key, version] : sandbox) {
    if (!stored.contains(key)) text += "only in sandbox: " + key.first + "/" + key.second + "; ";
  }
  return text;
}

std::vector<std::string> SandboxIds(const std::string& base, const std::string& type) {
  std::vector<std::string> ids;
  for (const auto& [key, version] : SandboxState(base, {type})) ids.push_back(key.second);
  return ids;
}

std::vector<std::string> SeedPatients(const std::string& base, int patients,
                                      int observations_each) {
  json entries = json::array();
  for (int p = 0; p < patients; ++p) {
    const std::string patient_url =
        "urn:uuid:00000000-0000-4000-8000-" + std::to_string(100000000000 + p);
    entries.push_back({{"fullUrl", patient_url},
                       {"resource",
                        {{"resourceType", "Patient"},
                         {"active", true},
                         {"gender", p % 2 == 0 ? "female" : "male"}}},
                       {"request", {{"method", "POST"}, {"url", "Patient"}}}});
    for (int o = 0; o < observations_each; ++o) {
      entries.push_back(
          {{"resource",
            {{"resourceType", "Observation"},
             {"status", "final"},
             {"category",
              {{{"coding",
                 {{{"system", "http://terminology.hl7.org/CodeSystem/observation-category"},
                   {"code", "vital-signs"}}}}}}},
             {"code", {{"coding", {{{"system", "http://loinc.org"}, {"code", "8867-4"}}}}}},
             {"subject", {{"reference", patient_url}}},
             {"valueQuantity", {{"value", 60 + o}, {"unit", "/min"}}}}},
           {"request", {{"method", "POST"}, {"url", "Observation"}}}});
    }
    entries.push_back({{"resource",
                        {{"resourceType", "Condition"},
                         {"code", {{"text", "seeded"}}},
                         {"subject", {{"reference", patient_url}}}}},
                       {"request", {{"method", "POST"}, {"url", "Condition"}}}});
  }
  const json bundle = {{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}};
  const http::ClientResponse response = Send("POST", base, bundle.dump());
  EXPECT_EQ(response.status, 200) << response.body.substr(0, 500);
  std::vector<std::string> ids;
  if (response.status != 200) return ids;
  const json answer = json::parse(response.body);
  for (const json& entry : answer["entry"]) {
    std::string location = entry["response"].value("location", "");
    if (location.starts_with(base + "/")) location = location.substr(base.size() + 1);
    if (location.starts_with("Patient/")) {
      ids.push_back(location.substr(8, location.find('/', 8) - 8));
    }
  }
  return ids;
}

void UpdateResource(const std::string& base, const std::string& type, const std::string& id) {
  const http::ClientResponse read = Send("GET", base + "/" + type + "/" + id);
  ASSERT_EQ(read.status, 200);
  json resource = json::parse(read.body);
  resource.erase("meta");
  resource["language"] = resource.value("language", "") == "en" ? "de" : "en";
  const http::ClientResponse written = Send("PUT", base + "/" + type + "/" + id, resource.dump());
  ASSERT_TRUE(written.status == 200 || written.status == 201) << written.body.substr(0, 300);
}

void DeleteResource(const std::string& base, const std::string& type, const std::string& id) {
  const http::ClientResponse deleted = Send("DELETE", base + "/" + type + "/" + id);
  ASSERT_TRUE(deleted.status == 200 || deleted.status == 204) << deleted.body.substr(0, 300);
}

void SetFaults(const std::string& origin, const std::string& tenant, const std::string& body) {
  const http::ClientResponse response =
      Send("PUT", origin + "/admin/tenants/" + tenant + "/faults", body);
  ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
}

void SetTraffic(const std::string& origin, const std::string& tenant, const std::string& body) {
  const http::ClientResponse response =
      Send("PUT", origin + "/admin/tenants/" + tenant + "/traffic", body);
  ASSERT_EQ(response.status, 200) << response.body.substr(0, 300);
}

std::vector<sync::TypePlan> PlanFromSandbox(const std::string& base,
                                            const std::vector<std::string>& types,
                                            std::vector<std::string> cohort,
                                            std::optional<sync::Strategy> forced) {
  const http::ClientResponse metadata = Send("GET", base + "/metadata");
  EXPECT_EQ(metadata.status, 200);
  auto capabilities = sync::ParseCapabilityStatement(metadata.body);
  EXPECT_TRUE(capabilities) << capabilities.error().ToString();
  sync::PlanInputs inputs;
  inputs.types = types;
  if (capabilities) inputs.capabilities = std::move(*capabilities);
  inputs.patient_cohort = std::move(cohort);
  inputs.forced = forced;
  return sync::PlanSync(inputs);
}

SyncState StoredState(sync::StoreSyncSink& sink) {
  SyncState stored;
  auto rows = sink.LiveRows();
  EXPECT_TRUE(rows) << rows.error().ToString();
  if (!rows) return stored;
  for (const auto& row : *rows) {
    EXPECT_TRUE(stored.emplace(std::pair(row.type, row.id), row.version).second)
        << "held twice: " << row.type;
  }
  return stored;
}

void ExpectSucceeded(const sync::SyncReport& report) {
  for (const sync::TypeOutcome& outcome : report.types) {
    EXPECT_TRUE(outcome.succeeded)
        << outcome.type << ": " << (outcome.error ? outcome.error->ToString() : "");
  }
}

void ChangeSandboxSlightly(const std::string& base, const std::vector<std::string>& patients) {
  // Chosen before the new ones exist: a random new id can sort first, and changing a resource
  // the store never saw would not test a change.
  const std::vector<std::string> observations = SandboxIds(base, "Observation");
  const std::vector<std::string> conditions = SandboxIds(base, "Condition");
  SeedPatients(base, 2, 2);
  UpdateResource(base, "Observation", observations.at(3));
  UpdateResource(base, "Patient", patients.at(1));
  DeleteResource(base, "Observation", observations.at(5));
  DeleteResource(base, "Condition", conditions.at(0));
  DeleteResource(base, "Patient", patients.at(2));
}

}  // namespace fhirbridge::testing
