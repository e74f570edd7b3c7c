// The seeder against the real sandbox over loopback HTTP: seeding twice creates nothing, a reset
// followed by a seed restores the same graph with every reference resolving, refused patients
// are isolated and reported, 429 answers are waited out, the bulk-load route loads the same
// counts and refuses malformed NDJSON with its line number and nothing stored, and the app the
// tests authenticate as is registered.

#include "synth/seeder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "http/client.h"
#include "sandbox/bulk_load.h"
#include "sandbox/id_generator.h"
#include "sandbox_test_server.h"
#include "synth/output.h"
#include "synth/sandbox_admin.h"

namespace fhirbridge::testing {
namespace {

using fhir::Json;

class SeederTest : public ::testing::Test {
 public:
  http::ClientResponse Get(const std::string& url) { return Send("GET", url); }

 protected:
  std::string Base(std::string_view tenant) const {
    return sandbox_.origin() + "/" + std::string(tenant) + "/api/FHIR/R4";
  }

  http::ClientResponse Send(const std::string& method, const std::string& url,
                            std::string body = {}) {
    http::ClientRequest request{method, url, {{"Content-Type", "application/json"}}, body};
    auto response = client_.Send(request);
    EXPECT_TRUE(response.has_value()) << response.error().ToString();
    return response ? *response : http::ClientResponse{};
  }

  // Resources per type in the tenant's store.
  std::map<std::string, std::int64_t> Counts(std::string_view tenant) {
    const auto answer = Send("GET", sandbox_.origin() + "/admin/tenants/" + std::string(tenant));
    EXPECT_EQ(answer.status, 200);
    const Json body = Json::parse(answer.body);
    std::map<std::string, std::int64_t> counts;
    for (const auto& [type, count] : body["resources"]["by_type"].items()) {
      counts[type] = count.get<std::int64_t>();
    }
    return counts;
  }

  // Every current resource of `types` in the tenant, through search pages.
  std::vector<Json> ReadAll(std::string_view tenant, const std::set<std::string>& types) {
    std::vector<Json> resources;
    for (const std::string& type : types) {
      std::string url = Base(tenant) + "/" + type + "?_count=1000";
      while (!url.empty()) {
        const auto page = Send("GET", url);
        EXPECT_EQ(page.status, 200) << type;
        const Json bundle = Json::parse(page.body);
        for (const Json& entry : bundle.value("entry", Json::array())) {
          resources.push_back(entry["resource"]);
        }
        url.clear();
        for (const Json& link : bundle.value("link", Json::array())) {
          if (link.value("relation", "") == "next") url = link["url"].get<std::string>();
        }
      }
    }
    return resources;
  }

  static std::string Key(const Json& resource) {
    return resource["resourceType"].get<std::string>() + "/" + resource["id"].get<std::string>();
  }

  // The references of `resources` (except those named in `skipped`) that name no resource among
  // them.
  static std::vector<std::string> UnresolvedReferences(const std::vector<Json>& resources,
                                                       const std::set<std::string>& skipped) {
    std::set<std::string> present;
    for (const Json& resource : resources) present.insert(Key(resource));
    std::vector<std::string> unresolved;
    std::function<void(const Json&)> walk = [&](const Json& value) {
      if (value.is_object()) {
        for (const auto& [key, member] : value.items()) {
          if (key == "reference" && member.is_string()) {
            if (!present.contains(member.get<std::string>())) {
              unresolved.push_back(member.get<std::string>());
            }
          } else {
            walk(member);
          }
        }
      } else if (value.is_array()) {
        for (const Json& element : value) walk(element);
      }
    };
    for (const Json& resource : resources) {
      if (!skipped.contains(Key(resource))) walk(resource);
    }
    return unresolved;
  }

  static synth::SeedOptions Options(std::uint64_t patients) {
    synth::SeedOptions options;
    options.synth.patients = patients;
    options.synth.seed = 11;
    options.synth.rates = synth::DefectRates::ForProfile(synth::Profile::kRealistic);
    options.entries_per_request = 150;
    options.first_backoff = std::chrono::milliseconds(10);
    return options;
  }

  // What the generator makes for `options`, per type.
  static synth::SynthSummary Generated(const synth::SeedOptions& options) {
    synth::MemoryOutput output;
    auto summary = synth::Generate(options.synth, output);
    EXPECT_TRUE(summary.has_value());
    return summary ? *summary : synth::SynthSummary{};
  }

  static std::map<std::string, std::int64_t> Difference(
      const std::map<std::string, std::int64_t>& after,
      const std::map<std::string, std::int64_t>& before) {
    std::map<std::string, std::int64_t> difference;
    for (const auto& [type, count] : after) {
      const auto found = before.find(type);
      const std::int64_t delta = count - (found == before.end() ? 0 : found->second);
      if (delta != 0) difference[type] = delta;
    }
    return difference;
  }

  static std::map<std::string, std::int64_t> Created(const synth::SeedReport& report) {
    std::map<std::string, std::int64_t> created;
    for (const auto& [type, counts] : report.by_type) {
      if (counts.created > 0) created[type] = static_cast<std::int64_t>(counts.created);
    }
    return created;
  }

  static std::map<std::string, std::int64_t> AsSigned(
      const std::map<std::string, std::uint64_t>& counts) {
    std::map<std::string, std::int64_t> converted;
    for (const auto& [type, count] : counts) converted[type] = static_cast<std::int64_t>(count);
    return converted;
  }

  SandboxTestServer sandbox_;
  http::Client client_;
};

TEST_F(SeederTest, SeedingTwiceCreatesNothingAndAResetRestoresTheGraph) {
  const synth::SeedOptions options = Options(6);
  const synth::SynthSummary generated = Generated(options);
  const auto before = Counts("open-lab");

  auto first = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->Failed(), 0u);
  EXPECT_EQ(first->AlreadyPresent(), 0u);
  EXPECT_EQ(Created(*first), AsSigned(generated.resources_by_type));
  EXPECT_GT(first->requests, 2u) << "several patients per request, but more than one request";
  const auto after_first = Counts("open-lab");
  EXPECT_EQ(Difference(after_first, before), AsSigned(generated.resources_by_type));

  auto second = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->Created(), 0u);
  EXPECT_EQ(second->Failed(), 0u);
  EXPECT_EQ(second->AlreadyPresent(), generated.resources);
  EXPECT_EQ(Counts("open-lab"), after_first);

  ASSERT_EQ(Send("POST", sandbox_.origin() + "/admin/tenants/open-lab/reset").status, 200);
  EXPECT_EQ(Counts("open-lab"), before);
  auto restored = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  ASSERT_TRUE(restored.has_value()) << restored.error().ToString();
  EXPECT_EQ(Created(*restored), AsSigned(generated.resources_by_type));
  EXPECT_EQ(Counts("open-lab"), after_first);
}

TEST_F(SeederTest, ReferencesBetweenSeededResourcesResolve) {
  synth::SeedOptions options = Options(4);
  options.synth.rates = synth::DefectRates::ForProfile(synth::Profile::kClean);
  std::set<std::string> baseline;
  std::set<std::string> types;
  for (const auto& [type, count] : Counts("open-lab")) types.insert(type);
  for (const Json& resource : ReadAll("open-lab", types)) baseline.insert(Key(resource));

  auto seeded = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  ASSERT_TRUE(seeded.has_value()) << seeded.error().ToString();
  for (const auto& [type, count] : Counts("open-lab")) types.insert(type);
  const std::vector<Json> resources = ReadAll("open-lab", types);
  EXPECT_EQ(resources.size(), baseline.size() + seeded->Created());
  EXPECT_EQ(UnresolvedReferences(resources, baseline), std::vector<std::string>{});
  for (const Json& resource : resources) {
    EXPECT_EQ(resource.dump().find("urn:uuid:"), std::string::npos)
        << resource["resourceType"] << " kept a urn:uuid reference";
  }
}

TEST_F(SeederTest, ARefusedPatientFailsAloneWithTheServersDiagnostics) {
  const synth::SeedOptions options = Options(5);
  // Two resources already carry the MRN of one generated patient: its conditional create
  // matches both, so the server refuses that patient's transaction (412).
  synth::MemoryOutput output;
  synth::SynthOptions ndjson = options.synth;
  ASSERT_TRUE(synth::Generate(ndjson, output).has_value());
  const std::string& patients = output.streams().at("Patient");
  const Json patient = Json::parse(patients.substr(0, patients.find('\n')));
  const Json identifier = patient["identifier"][0];
  for (int copy = 0; copy < 2; ++copy) {
    const Json clash = {{"resourceType", "Patient"}, {"identifier", Json::array({identifier})}};
    http::ClientRequest request{"POST",
                                Base("open-lab") + "/Patient",
                                {{"Content-Type", "application/fhir+json"}},
                                clash.dump()};
    auto created = client_.Send(request);
    ASSERT_TRUE(created.has_value());
    ASSERT_EQ(created->status, 201);
  }

  auto report = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  ASSERT_EQ(report->failures.size(), 1u);
  EXPECT_EQ(report->failures[0].status, 412);
  EXPECT_NE(report->failures[0].diagnostics.find("matches 2"), std::string::npos)
      << report->failures[0].diagnostics;
  EXPECT_EQ(report->by_type.at("Patient").failed, 1u);
  EXPECT_GT(report->by_type.at("Patient").created, 0u) << "the other patients were seeded";
  EXPECT_EQ(report->Failed() + report->Created(), Generated(options).resources);
}

TEST_F(SeederTest, WaitsOutRateLimitsWithRetryAfter) {
  ASSERT_EQ(Send("PUT", sandbox_.origin() + "/admin/tenants/open-lab/traffic",
                 R"({"requests_per_second": 2, "burst": 1})")
                .status,
            200);
  synth::SeedOptions options = Options(3);
  options.entries_per_request = 60;
  auto report = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_GT(report->retries, 0u) << "the limit was hit";
  EXPECT_EQ(report->Failed(), 0u);
  EXPECT_EQ(report->Created(), Generated(options).resources);
}

TEST_F(SeederTest, ServerWithoutTransactionsStopsSeedingWithItsDiagnostics) {
  auto report = synth::SeedFhirServer(Options(1), Base("bayside-medical"), nullptr);
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code, base::ErrorCode::kRemoteRejected);
  EXPECT_NE(report.error().diagnostic.find("HTTP"), std::string::npos);
}

TEST_F(SeederTest, BulkLoadStoresTheGeneratedCountsOnceAndIsIdempotent) {
  synth::SeedOptions options = Options(6);
  options.bulk_request_bytes = 64 * 1024;  // several requests
  const synth::SynthSummary generated = Generated(options);
  const auto before = Counts("bayside-medical");

  auto first = synth::BulkLoadSandbox(options, sandbox_.origin(), "bayside-medical");
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(Created(*first), AsSigned(generated.resources_by_type));
  EXPECT_GT(first->requests, 3u);
  EXPECT_EQ(Difference(Counts("bayside-medical"), before), AsSigned(generated.resources_by_type));

  auto second = synth::BulkLoadSandbox(options, sandbox_.origin(), "bayside-medical");
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->Created(), 0u);
  EXPECT_EQ(second->AlreadyPresent(), generated.resources);
}

// What a set of searches answers on the open-lab tenant: per query, the matches and included
// resources, each named by its type and first identifier (ids differ between the two ways of
// seeding: a transaction's conditional creates get ids from the server, a bulk load keeps the
// generator's). The searches cover every kind of index row (token, token text, string, date,
// quantity, reference, the patient compartment) and _include.
std::map<std::string, std::vector<std::string>> SearchAnswers(SeederTest& test,
                                                              const std::string& base,
                                                              const std::string& ndjson_patients) {
  const auto name = [](const Json& resource) {
    std::string key = resource["resourceType"].get<std::string>() + " ";
    // Most types hold a list of identifiers; QuestionnaireResponse holds one.
    Json identifier = resource.value("identifier", Json());
    if (identifier.is_array() && !identifier.empty()) identifier = identifier[0];
    if (identifier.is_object()) {
      return key + identifier.value("system", "") + "|" + identifier.value("value", "");
    }
    return key + "id " + resource["id"].get<std::string>();
  };
  const auto answer = [&](std::string url) {
    std::vector<std::string> keys;
    while (!url.empty()) {
      const auto page = test.Get(url);
      EXPECT_EQ(page.status, 200) << url << ": " << page.body;
      if (page.status != 200) break;
      const Json bundle = Json::parse(page.body);
      for (const Json& entry : bundle.value("entry", Json::array())) {
        keys.push_back(entry["search"].value("mode", "") + " " + name(entry["resource"]));
      }
      url.clear();
      for (const Json& link : bundle.value("link", Json::array())) {
        if (link.value("relation", "") == "next") url = link["url"].get<std::string>();
      }
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  };

  std::vector<std::string> queries = {
      "Patient?gender=female",
      "Patient?birthdate=lt1970-01-01",
      "Patient?name=pro",
      "Patient?address-city=sandbox",
      "Patient?address-state=IA",
      "Observation?category=vital-signs",
      "Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
      "Observation?code=http://loinc.org|8867-4",
      "Observation?code:text=blood",
      "Observation?value-quantity=gt100",
      "Observation?date=ge2022-01-01",
      "Observation?status=final&_include=Observation:patient",
      "Condition?clinical-status=active",
      "Condition?onset-date=lt2015",
      "Encounter?class=AMB",
      "Encounter?date=ge2023",
      "MedicationRequest?status=active&_include=MedicationRequest:requester",
      "MedicationRequest?authoredon=ge2020",
      "AllergyIntolerance?criticality=high",
      "MedicationStatement?status=active",
      "QuestionnaireResponse?status=completed",
      "Practitioner?name=a",
  };
  // The compartments of the first three generated patients whose MRN names one patient.
  std::string_view lines = ndjson_patients;
  for (int patients = 0; patients < 3 && !lines.empty();) {
    const Json generated = Json::parse(lines.substr(0, lines.find('\n')));
    lines.remove_prefix(std::min(lines.size(), lines.find('\n') + 1));
    const Json identifiers = generated.value("identifier", Json::array());
    if (!identifiers.is_array() || identifiers.empty() || !identifiers[0].is_object()) continue;
    const std::string identifier =
        identifiers[0].value("system", "") + "|" + identifiers[0].value("value", "");
    const Json found = Json::parse(test.Get(base + "/Patient?identifier=" + identifier).body);
    if (found.value("entry", Json::array()).size() != 1) continue;
    ++patients;
    const std::string id = found["entry"][0]["resource"]["id"].get<std::string>();
    for (const char* type :
         {"Observation", "Condition", "Encounter", "MedicationRequest", "AllergyIntolerance",
          "MedicationStatement", "QuestionnaireResponse"}) {
      queries.push_back(std::string(type) + "?patient=" + id);
    }
    queries.push_back("Observation?patient=" + id + "&category=vital-signs");
    queries.push_back("Observation?subject=Patient/" + id + "&_include=Observation:encounter");
  }

  std::map<std::string, std::vector<std::string>> answers;
  for (const std::string& query : queries) {
    // Patient ids differ between the two loads: a compartment is named by its position.
    const bool compartment =
        query.find("patient=") != std::string::npos || query.find("subject=") != std::string::npos;
    const std::string label = compartment ? std::to_string(answers.size()) + " compartment " +
                                                query.substr(0, query.find('?'))
                                          : query;
    answers[label] = answer(base + "/" + query + "&_count=200");
  }
  return answers;
}

TEST_F(SeederTest, BulkLoadAnswersSearchesAsSeedingOverHttpDoes) {
  const synth::SeedOptions options = Options(8);
  synth::MemoryOutput output;
  ASSERT_TRUE(synth::Generate(options.synth, output).has_value());
  const std::string& patients = output.streams().at("Patient");

  auto seeded = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  ASSERT_TRUE(seeded.has_value()) << seeded.error().ToString();
  ASSERT_EQ(seeded->Failed(), 0u);
  const auto over_http = SearchAnswers(*this, Base("open-lab"), patients);

  ASSERT_EQ(Send("POST", sandbox_.origin() + "/admin/tenants/open-lab/reset").status, 200);
  auto loaded = synth::BulkLoadSandbox(options, sandbox_.origin(), "open-lab");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  EXPECT_EQ(loaded->Created(), seeded->Created());
  const auto bulk = SearchAnswers(*this, Base("open-lab"), patients);

  ASSERT_EQ(bulk.size(), over_http.size());
  for (const auto& [query, keys] : over_http) {
    EXPECT_EQ(bulk.at(query), keys) << query;
    // The comparison means something only if the searches find something; a patient may have
    // no resource of some type.
    if (keys.empty() && query.find("compartment") == std::string::npos) {
      ADD_FAILURE() << "no matches (pick another value): " << query;
    }
  }
}

TEST_F(SeederTest, MalformedNdjsonIsRefusedWithItsLineAndNothingIsStored) {
  const auto before = Counts("bayside-medical");
  const std::string url = sandbox_.origin() + "/admin/tenants/bayside-medical/bulk-load";
  const struct {
    std::string body;
    std::string expected;
  } cases[] = {
      {"{\"resourceType\":\"Patient\",\"id\":\"bulk-a\"}\n{\"resourceType\":\"Patient\",\"id\":"
       "\"bulk-b\"}\n{\"resourceType\":\"Patient\",\"id\":\"bulk-c\"\n",
       "line 3, column"},
      {"{\"resourceType\":\"Patient\",\"id\":\"bulk-a\"}\n\n{\"resourceType\":\"Patient\"}\n",
       "line 3: the resource needs an id"},
      {"{\"resourceType\":\"Patient\",\"id\":\"bulk-a\"}\n[1,2]\n", "line 2: the line is not"},
      {"{\"resourceType\":\"Unicorn\",\"id\":\"bulk-a\"}\n", "line 1: the resource has no"},
      {"{\"resourceType\":\"Patient\",\"id\":\"bad id\"}\n", "line 1: the resource needs an id"},
  };
  for (const auto& test : cases) {
    const auto answer = Send("POST", url, test.body);
    EXPECT_EQ(answer.status, 400) << test.expected;
    const Json outcome = Json::parse(answer.body);
    EXPECT_EQ(outcome["resourceType"], "OperationOutcome");
    EXPECT_NE(outcome["issue"][0]["diagnostics"].get<std::string>().find(test.expected),
              std::string::npos)
        << outcome.dump();
  }
  EXPECT_EQ(Counts("bayside-medical"), before) << "nothing of a refused request is stored";
  EXPECT_EQ(Send("GET", Base("bayside-medical") + "/Patient/bulk-a").status, 404);
  EXPECT_EQ(Send("GET", url).status, 405);
}

TEST_F(SeederTest, RegistersTheBackendAppWithItsPublicKeys) {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() /
      ("fhirbridge-seeder-keys-" +
       std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::remove_all(folder);
  synth::BackendAppOptions app;
  app.client_id = "seeded-backend";
  app.key_folder = folder;
  auto first = synth::RegisterBackendApp(sandbox_.origin(), "open-lab", app);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_TRUE(first->created_keys);
  auto again = synth::RegisterBackendApp(sandbox_.origin(), "open-lab", app);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_FALSE(again->created_keys);
  EXPECT_EQ(again->kid, first->kid);

  const Json apps =
      Json::parse(Send("GET", sandbox_.origin() + "/admin/tenants/open-lab/apps").body);
  int found = 0;
  for (const Json& registered : apps["apps"]) {
    if (registered.value("client_id", "") != "seeded-backend") continue;
    ++found;
    EXPECT_EQ(registered.value("type", ""), "confidential-asymmetric");
    EXPECT_NE(registered.dump().find(first->kid), std::string::npos) << registered.dump();
  }
  EXPECT_EQ(found, 1);

  auto unknown = synth::RegisterBackendApp(sandbox_.origin(), "no-such-tenant", app);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, base::ErrorCode::kRemoteRejected);
  std::filesystem::remove_all(folder);
}

TEST(BulkLoaderTest, CommitsPerBatchInProcessAndRollsBackTheBatchOfABadLine) {
  auto store = sandbox::ResourceStore::Open(":memory:",
                                            sandbox::MakeIdGenerator(sandbox::IdStyle::kUuid, 36));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  synth::MemoryOutput output;
  synth::SynthOptions options;
  options.patients = 3;
  auto summary = synth::Generate(options, output);
  ASSERT_TRUE(summary.has_value());

  sandbox::BulkLoader loader(**store, 100);
  for (const auto& [name, lines] : output.streams()) {
    if (name == "manifest") continue;
    ASSERT_TRUE(loader.Add(lines).has_value()) << name;
  }
  ASSERT_TRUE(loader.Finish().has_value());
  EXPECT_EQ(loader.counts().created, static_cast<std::int64_t>(summary->resources));
  auto counts = (*store)->CountByType();
  ASSERT_TRUE(counts.has_value());
  std::int64_t stored = 0;
  for (const auto& [type, count] : *counts) stored += count;
  EXPECT_EQ(stored, static_cast<std::int64_t>(summary->resources));

  // A bad line rolls back the open batch only; committed batches stay.
  sandbox::BulkLoader failing(**store, 2);
  const auto added = failing.Add(
      "{\"resourceType\":\"Patient\",\"id\":\"x1\"}\n{\"resourceType\":\"Patient\",\"id\":\"x2\"}\n"
      "{\"resourceType\":\"Patient\",\"id\":\"x3\"}\nnot json\n");
  ASSERT_FALSE(added.has_value());
  EXPECT_NE(added.error().diagnostic.find("line 4"), std::string::npos);
  EXPECT_TRUE((*store)->Read("Patient", "x2").has_value());
  EXPECT_FALSE((*store)->Read("Patient", "x3").has_value());
  EXPECT_FALSE(failing.Add("{\"resourceType\":\"Patient\",\"id\":\"x5\"}\n").has_value());
}

// Lines are prepared in batches on another thread: numbering, counts and the all-or-nothing
// rule must hold across batch boundaries.
TEST(BulkLoaderTest, LinesAreNumberedAcrossBatchesAndABadLineInALaterBatchStoresNothing) {
  auto store = sandbox::ResourceStore::Open(":memory:",
                                            sandbox::MakeIdGenerator(sandbox::IdStyle::kUuid, 36));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  std::string ndjson;
  std::int64_t resources = 0;
  for (int line = 1; line <= 1000; ++line) {
    if (line % 7 == 0) {
      ndjson += " \r\n";  // blank
      continue;
    }
    ndjson += R"({"resourceType":"Patient","id":"n)" + std::to_string(line) + "\"}\n";
    ++resources;
  }

  const std::string bad = ndjson + "{\"resourceType\":\"Patient\",\"id\":\"late\"\n";
  const auto refused = sandbox::BulkLoadNdjson(**store, bad);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().diagnostic.find("line 1001, column"), std::string::npos)
      << refused.error().diagnostic;
  EXPECT_TRUE((*store)->CountByType()->empty()) << "nothing of a refused load is stored";

  const std::string wrong_type = ndjson + "{\"resourceType\":\"Unicorn\",\"id\":\"u\"}\n";
  const auto unknown = sandbox::BulkLoadNdjson(**store, wrong_type);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().diagnostic.find("line 1001: "), std::string::npos)
      << unknown.error().diagnostic;

  const auto loaded = sandbox::BulkLoadNdjson(**store, ndjson);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  EXPECT_EQ(loaded->lines, 1000);
  EXPECT_EQ(loaded->created, resources);
  EXPECT_EQ((*store)->CountByType()->at("Patient"), resources);
  EXPECT_TRUE((*store)->Read("Patient", "n999").has_value());
  const auto again = sandbox::BulkLoadNdjson(**store, ndjson);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->created, 0);
  EXPECT_EQ(again->already_present, resources);
}

}  // namespace
}  // namespace fhirbridge::testing
