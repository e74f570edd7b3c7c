// The smoke suite against the real sandbox on loopback: the standard journey passes on the
// Epic-like tenants with a real backend-services token; a grant narrowed by scope, and a type the
// CapabilityStatement does not offer, make steps "skipped" with their reason; an injected fault
// makes failures that carry the request id the sandbox logged; the `fhirbridge smoke` command
// writes reports that parse (JUnit through libxml2) and exits non-zero on failure; no report
// holds a patient's name, birth date or identifier.

#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/embedded_files.h"
#include "http/client.h"
#include "jose/jose.h"
#include "sandbox_test_server.h"
#include "verify/known_patients.h"
#include "verify/requester.h"
#include "verify/smoke_report.h"
#include "verify/smoke_runner.h"

namespace fhirbridge::testing {
namespace {

using fhir::Json;
using verify::StepOutcome;

constexpr std::string_view kLegalSex =
    "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex";
constexpr std::string_view kAllScopes =
    "system/Patient.rs system/Observation.rs system/Condition.rs system/AllergyIntolerance.rs "
    "system/MedicationRequest.rs system/MedicationStatement.rs system/Encounter.rs";

const jose::PrivateKey& Key() {
  static const jose::PrivateKey key = *jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  return key;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

// Backend services against the sandbox's token endpoint: a signed client assertion for each new
// token, the token kept until invalidated. Counts the tokens it obtained.
class BackendTokenSource final : public auth::TokenSource {
 public:
  BackendTokenSource(std::string token_url, std::string client_id)
      : token_url_(std::move(token_url)), client_id_(std::move(client_id)) {}

  base::Result<std::string> AccessToken() override {
    std::lock_guard lock(mutex_);
    if (!token_.empty()) return token_;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string assertion = *jose::SignJwt({{"iss", client_id_},
                                                  {"sub", client_id_},
                                                  {"aud", token_url_},
                                                  {"exp", now + 240},
                                                  {"jti", client_id_ + std::to_string(++issued_)}},
                                                 Key(), jose::Algorithm::kRS384, {{"kid", "k1"}});
    http::Client client;
    auto response =
        client.Send({"POST",
                     token_url_,
                     {{"Content-Type", "application/x-www-form-urlencoded"}},
                     "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%"
                     "3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
                         assertion});
    if (!response || response->status != 200) {
      return base::Fail(base::ErrorCode::kTokenRequestFailed, "the token endpoint refused");
    }
    const Json body = Json::parse(response->body);
    token_ = body.value("access_token", "");
    granted_ = body.value("scope", "");
    return token_;
  }

  void Invalidate(std::string_view rejected) override {
    std::lock_guard lock(mutex_);
    if (rejected == token_) token_.clear();
  }

  std::string granted() {
    std::lock_guard lock(mutex_);
    return granted_;
  }

 private:
  std::mutex mutex_;
  std::string token_url_;
  std::string client_id_;
  std::string token_;
  std::string granted_;
  int issued_ = 0;
};

// A value a report must never contain. Names and address lines are matched as whole words (the
// name "Pat" is not in "Patient"); ids, birth dates, identifiers and phone numbers anywhere, even
// inside an encoded URL ("%7C900001").
struct PatientValue {
  std::string text;
  bool whole_word = false;
};

// Every name part, birth date, identifier value, phone number and address line of `patient`,
// and its id.
void AddPatientValues(const Json& patient, std::vector<PatientValue>& values) {
  const auto add = [&](const Json& value, bool whole_word) {
    if (value.is_string() && value.get<std::string>().size() >= 3) {
      values.push_back({value.get<std::string>(), whole_word});
    }
  };
  add(patient["id"], false);
  add(patient.value("birthDate", Json()), false);
  for (const Json& human_name : patient.value("name", Json::array())) {
    add(human_name.value("text", Json()), true);
    add(human_name.value("family", Json()), true);
    for (const Json& given : human_name.value("given", Json::array())) add(given, true);
  }
  for (const Json& identifier : patient.value("identifier", Json::array())) {
    add(identifier.value("value", Json()), false);
  }
  for (const Json& telecom : patient.value("telecom", Json::array())) {
    add(telecom.value("value", Json()), false);
  }
  for (const Json& address : patient.value("address", Json::array())) {
    for (const Json& line : address.value("line", Json::array())) add(line, true);
  }
}

std::vector<PatientValue> BaselinePatientValues() {
  std::vector<PatientValue> values;
  for (const auto& [name, content] : base::EmbeddedFiles()) {
    if (!name.starts_with("sandbox/baseline/default/patient-")) continue;
    const Json bundle = Json::parse(content);
    for (const Json& entry : bundle["entry"]) {
      if (entry["resource"]["resourceType"] == "Patient") {
        AddPatientValues(entry["resource"], values);
      }
    }
  }
  return values;
}

// Whether `value` occurs in `text` as a whole word (a name "Pat" is not in "Patient").
bool ContainsWord(const std::string& text, const std::string& value) {
  const auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (std::size_t at = text.find(value); at != std::string::npos; at = text.find(value, at + 1)) {
    const bool starts = at == 0 || !is_word(text[at - 1]);
    const bool ends = at + value.size() == text.size() || !is_word(text[at + value.size()]);
    if (starts && ends) return true;
  }
  return false;
}

void ExpectNoPatientData(const std::string& report, std::string_view what,
                         const std::vector<PatientValue>& values) {
  ASSERT_GT(values.size(), 10u);
  for (const auto& value : values) {
    const bool found = value.whole_word ? ContainsWord(report, value.text)
                                        : report.find(value.text) != std::string::npos;
    EXPECT_FALSE(found) << what << " holds a patient's data";
  }
}

void ExpectNoPatientData(const std::string& report, std::string_view what) {
  static const std::vector<PatientValue> values = BaselinePatientValues();
  ExpectNoPatientData(report, what, values);
}

// The JUnit document's structure, read with libxml2: per testsuite its name, its testcase count
// and how many have <failure> and <skipped> children.
struct JunitSuite {
  std::string name;
  int testcases = 0;
  int failures = 0;
  int skipped = 0;
  std::string tests_attribute;
};

std::vector<JunitSuite> ParseJunit(const std::string& xml, bool& well_formed) {
  std::vector<JunitSuite> suites;
  xmlDocPtr document = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "report.xml",
                                     "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR);
  well_formed = document != nullptr;
  if (document == nullptr) return suites;
  const auto name_is = [](xmlNodePtr node, const char* name) {
    return node->type == XML_ELEMENT_NODE &&
           xmlStrcmp(node->name, reinterpret_cast<const xmlChar*>(name)) == 0;
  };
  const auto attribute = [](xmlNodePtr node, const char* name) {
    xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
    std::string text = value == nullptr ? "" : reinterpret_cast<const char*>(value);
    xmlFree(value);
    return text;
  };
  xmlNodePtr root = xmlDocGetRootElement(document);
  if (root == nullptr || !name_is(root, "testsuites")) well_formed = false;
  for (xmlNodePtr suite = root == nullptr ? nullptr : root->children; suite != nullptr;
       suite = suite->next) {
    if (!name_is(suite, "testsuite")) continue;
    JunitSuite parsed{attribute(suite, "name"), 0, 0, 0, attribute(suite, "tests")};
    for (xmlNodePtr testcase = suite->children; testcase != nullptr; testcase = testcase->next) {
      if (!name_is(testcase, "testcase")) continue;
      ++parsed.testcases;
      for (xmlNodePtr child = testcase->children; child != nullptr; child = child->next) {
        if (name_is(child, "failure")) ++parsed.failures;
        if (name_is(child, "skipped")) ++parsed.skipped;
      }
    }
    suites.push_back(parsed);
  }
  xmlFreeDoc(document);
  return suites;
}

class SmokeSuiteTest : public ::testing::Test {
 protected:
  std::string Base(std::string_view tenant) const {
    return sandbox_.origin() + "/" + std::string(tenant) + "/api/FHIR/R4";
  }

  int Admin(const std::string& method, const std::string& path, const Json& body) {
    http::Client client;
    auto response = client.Send(
        {method, sandbox_.origin() + path, {{"Content-Type", "application/json"}}, body.dump()});
    return response ? response->status : 0;
  }

  std::unique_ptr<BackendTokenSource> RegisterBackendApp(const std::string& tenant,
                                                         const std::string& client_id,
                                                         std::string_view scopes) {
    EXPECT_EQ(Admin("POST", "/admin/tenants/" + tenant + "/apps",
                    {{"client_id", client_id},
                     {"type", "confidential-asymmetric"},
                     {"scopes", scopes},
                     {"jwks", {{"keys", {Key().Public().ToJwk("k1", jose::Algorithm::kRS384)}}}}}),
              201);
    return std::make_unique<BackendTokenSource>(sandbox_.origin() + "/" + tenant + "/oauth2/token",
                                                client_id);
  }

  verify::SmokeSite Site(std::string_view tenant) const {
    verify::SmokeSite site;
    site.name = std::string(tenant);
    site.fhir_base = Base(tenant);
    site.patients = *verify::SandboxBaselinePatients();
    site.expected_extensions["Patient"] = {std::string(kLegalSex)};
    return site;
  }

  verify::SiteReport Run(const verify::SmokeSite& site, auth::TokenSource* token_source,
                         verify::CapabilityCheck capability = {}) {
    verify::HttpRequester requester(token_source);
    verify::SmokeDependencies dependencies{&requester, token_source, std::move(capability)};
    return verify::RunSmoke(verify::DefaultJourney(), site, dependencies);
  }

  static const verify::StepResult* Find(const verify::SiteReport& report, std::string_view name,
                                        std::string_view patient) {
    for (const auto& step : report.steps) {
      if (step.name == name && step.patient_label == patient) return &step;
    }
    return nullptr;
  }

  SandboxTestServer sandbox_;
};

TEST_F(SmokeSuiteTest, EveryStepPassesOnTheEpicLikeTenantWithABackendToken) {
  auto token_source = RegisterBackendApp("alpine-health", "smoke-full", kAllScopes);
  const verify::SiteReport report = Run(Site("alpine-health"), token_source.get());

  // Three site steps, then eight per baseline patient.
  ASSERT_EQ(report.steps.size(), 3u + 3u * 8u);
  for (const auto& step : report.steps) {
    EXPECT_EQ(step.outcome, StepOutcome::kPassed)
        << step.DisplayName() << ": " << (step.failures.empty() ? "" : step.failures.front());
  }
  EXPECT_TRUE(report.Passed());
  EXPECT_EQ(report.Latency().count, report.steps.size() - 1) << "every step but the token's";

  // Every request was sent with its own X-Request-Id, which the sandbox logged.
  const std::string logs = sandbox_.Logs();
  std::set<std::string> request_ids;
  for (const auto& step : report.steps) {
    if (step.name == "token") continue;
    ASSERT_TRUE(step.request_id.starts_with("smoke-")) << step.DisplayName();
    EXPECT_NE(logs.find(step.request_id), std::string::npos) << step.DisplayName();
    request_ids.insert(step.request_id);
  }
  EXPECT_EQ(request_ids.size(), report.steps.size() - 1);

  // Coded orders and free-text statements are told apart.
  const auto* orders = Find(report, "medication-requests", "baseline-1");
  const auto* statements = Find(report, "medication-statements", "baseline-1");
  ASSERT_NE(orders, nullptr);
  ASSERT_NE(statements, nullptr);
  EXPECT_EQ(orders->notes.back(), "medications: coded 1, by reference 1, free text 0, none 0");
  EXPECT_EQ(statements->notes.back(), "medications: coded 0, by reference 0, free text 1, none 0");

  // The third patient has no statements: Epic's empty-result warning is surfaced, not a failure.
  const auto* empty = Find(report, "medication-statements", "baseline-3");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->matches, 0u);
  ASSERT_EQ(empty->warnings.size(), 1u);
  EXPECT_EQ(empty->warnings[0].detail_code, "4101");
}

TEST_F(SmokeSuiteTest, AMissingExpectedExtensionFailsTheReadAndNamesTheUrl) {
  verify::SmokeSite site = Site("open-lab");
  site.expected_extensions["Patient"].push_back(
      "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race");
  const verify::SiteReport report = Run(site, nullptr);

  const auto* read = Find(report, "patient-read", "baseline-2");
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->outcome, StepOutcome::kFailed);
  ASSERT_EQ(read->failures.size(), 1u);
  EXPECT_EQ(read->failures[0],
            "Patient lacks the expected extension "
            "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race");
  EXPECT_EQ(Find(report, "conditions", "baseline-2")->outcome, StepOutcome::kPassed);
  EXPECT_FALSE(report.Passed());
}

TEST_F(SmokeSuiteTest, AStepTheGrantLacksIsSkippedWithItsReasonNotFailed) {
  auto token_source = RegisterBackendApp(
      "alpine-health", "smoke-narrow",
      "system/Patient.rs system/Observation.rs system/Condition.rs system/MedicationRequest.rs "
      "system/MedicationStatement.rs system/Encounter.rs");
  ASSERT_TRUE(token_source->AccessToken().has_value());
  const std::string granted = token_source->granted();
  ASSERT_EQ(granted.find("AllergyIntolerance"), std::string::npos);

  const verify::SiteReport report =
      Run(Site("alpine-health"), token_source.get(), verify::GrantedScopesCapability(granted));
  for (const auto& step : report.steps) {
    if (step.name == "allergies") {
      EXPECT_EQ(step.outcome, StepOutcome::kSkipped);
      EXPECT_EQ(step.skip_reason,
                "not granted: the token's scopes lack system/AllergyIntolerance.s");
      EXPECT_TRUE(step.request_id.empty()) << "a skipped step sends nothing";
    } else {
      EXPECT_EQ(step.outcome, StepOutcome::kPassed) << step.DisplayName();
    }
  }
  EXPECT_EQ(report.Count(StepOutcome::kSkipped), 3u);
  EXPECT_TRUE(report.Passed());

  // Without the capability callback the same grant is a failure: the site answers 403.
  const verify::SiteReport unguarded = Run(Site("alpine-health"), token_source.get());
  const auto* allergies = Find(unguarded, "allergies", "baseline-1");
  ASSERT_NE(allergies, nullptr);
  EXPECT_EQ(allergies->outcome, StepOutcome::kFailed);
  EXPECT_EQ(allergies->http_status, 403);
  EXPECT_FALSE(unguarded.Passed());
}

TEST_F(SmokeSuiteTest, TypesTheCapabilityStatementDoesNotOfferAreSkipped) {
  const verify::SiteReport report = Run(Site("bayside-medical"), nullptr);
  for (const auto& step : report.steps) {
    if (step.name == "medication-statements") {
      EXPECT_EQ(step.outcome, StepOutcome::kSkipped);
      EXPECT_EQ(step.skip_reason,
                "the site's CapabilityStatement does not offer search-type on "
                "MedicationStatement");
    } else if (step.name == "token") {
      EXPECT_EQ(step.outcome, StepOutcome::kSkipped);
      EXPECT_NE(step.skip_reason.find("no token source"), std::string::npos);
    } else {
      EXPECT_EQ(step.outcome, StepOutcome::kPassed) << step.DisplayName();
    }
  }
  EXPECT_TRUE(report.Passed());
}

TEST_F(SmokeSuiteTest, AnInjectedFaultIsAFailureCarryingTheRequestIdTheSiteLogged) {
  ASSERT_EQ(Admin("PUT", "/admin/tenants/alpine-health/faults",
                  {{"seed", 7}, {"error_rates", {{"503", 1.0}}}}),
            200);
  verify::SmokeReport smoke{"standard", "2026-12-03T00:00:00.000Z", {}};
  smoke.sites.push_back(Run(Site("alpine-health"), nullptr));
  const verify::SiteReport& report = smoke.sites[0];
  EXPECT_FALSE(report.Passed());

  const auto* metadata = Find(report, "discovery-metadata", "");
  ASSERT_NE(metadata, nullptr);
  EXPECT_EQ(metadata->outcome, StepOutcome::kFailed);
  EXPECT_EQ(metadata->http_status, 503);
  ASSERT_FALSE(metadata->failures.empty());
  EXPECT_TRUE(metadata->failures[0].starts_with("expected HTTP 200, got 503"))
      << metadata->failures[0];
  EXPECT_NE(metadata->failures[0].find("sandbox fault injected"), std::string::npos);
  EXPECT_NE(sandbox_.Logs().find(metadata->request_id), std::string::npos);

  // The patient search failed, so the steps that need its id are skipped, and say why.
  const auto* read = Find(report, "patient-read", "baseline-1");
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->outcome, StepOutcome::kSkipped);
  EXPECT_EQ(read->skip_reason, "needs the patient's id, which patient-search did not find");

  // The Markdown report lists each failure with its request id.
  const std::string markdown = verify::RenderMarkdown(smoke);
  EXPECT_NE(markdown.find("## alpine-health: FAILED"), std::string::npos);
  for (const auto& step : report.steps) {
    if (step.outcome != StepOutcome::kFailed) continue;
    EXPECT_NE(markdown.find("**" + step.DisplayName() + "** (`" + step.request + "`, request id `" +
                            step.request_id + "`)"),
              std::string::npos)
        << step.DisplayName();
  }
  bool well_formed = false;
  const auto suites = ParseJunit(verify::RenderJunitXml(smoke), well_formed);
  ASSERT_TRUE(well_formed);
  ASSERT_EQ(suites.size(), 1u);
  EXPECT_EQ(static_cast<std::size_t>(suites[0].failures), report.Count(StepOutcome::kFailed));
  EXPECT_EQ(static_cast<std::size_t>(suites[0].skipped), report.Count(StepOutcome::kSkipped));
}

TEST_F(SmokeSuiteTest, TheNamedSyntheticSetIsFoundByIdentifierAndPassesOnAnOpenServer) {
  // Load the named set into open-lab as one transaction of updates (ids kept).
  Json bundle = {{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", Json::array()}};
  const std::filesystem::path directory =
      std::filesystem::path(FHIRBRIDGE_SOURCE_DIR) / "data/synth/named-set";
  for (const auto& file : std::filesystem::directory_iterator(directory)) {
    if (file.path().filename() == "manifest.ndjson") continue;
    std::istringstream lines(ReadFile(file.path()));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      Json resource = Json::parse(line);
      const std::string url =
          resource["resourceType"].get<std::string>() + "/" + resource["id"].get<std::string>();
      bundle["entry"].push_back(
          {{"resource", std::move(resource)}, {"request", {{"method", "PUT"}, {"url", url}}}});
    }
  }
  http::Client client;
  auto posted = client.Send(
      {"POST", Base("open-lab"), {{"Content-Type", "application/fhir+json"}}, bundle.dump()});
  ASSERT_TRUE(posted.has_value());
  ASSERT_EQ(posted->status, 200) << posted->body.substr(0, 300);

  verify::SmokeSite site = Site("open-lab");
  site.patients = *verify::LoadKnownPatients((directory / "Patient.ndjson").string(), "named");
  ASSERT_EQ(site.patients.size(), 10u);
  verify::SmokeReport smoke{"standard", "2026-12-03T00:00:00.000Z", {Run(site, nullptr)}};
  const verify::SiteReport& report = smoke.sites[0];
  ASSERT_EQ(report.steps.size(), 3u + 10u * 8u);
  for (const auto& step : report.steps) {
    if (step.name == "token") continue;
    EXPECT_EQ(step.outcome, StepOutcome::kPassed)
        << step.DisplayName() << ": " << (step.failures.empty() ? "" : step.failures.front());
  }

  // The named set's names (some with non-ASCII letters), birth dates and MRNs stay out.
  std::vector<PatientValue> values;
  std::istringstream patients(ReadFile(directory / "Patient.ndjson"));
  for (std::string line; std::getline(patients, line);) {
    if (!line.empty()) AddPatientValues(Json::parse(line), values);
  }
  ExpectNoPatientData(verify::RenderMarkdown(smoke), "the Markdown report", values);
  ExpectNoPatientData(verify::RenderJson(smoke).dump(), "the JSON report", values);
  ExpectNoPatientData(verify::RenderJunitXml(smoke), "the JUnit report", values);
}

// The command, as CI runs it: files, exit codes, parseable JUnit, and no patient data.
class SmokeCommandTest : public SmokeSuiteTest {
 protected:
  SmokeCommandTest() {
    out_ = std::filesystem::temp_directory_path() /
           ("fhirbridge-smoke-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(out_);
  }
  ~SmokeCommandTest() override { std::filesystem::remove_all(out_); }

  int Command(const std::string& arguments) {
    const std::string command = std::string(FHIRBRIDGE_BINARY) + " smoke " + arguments + " >" +
                                (out_.string() + ".stdout") + " 2>" + (out_.string() + ".stderr");
    const int status = std::system(command.c_str());
    std::filesystem::remove(out_.string() + ".stdout");
    stderr_ = ReadFile(out_.string() + ".stderr");
    std::filesystem::remove(out_.string() + ".stderr");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Arguments(std::string_view tenant) const {
    return "--fhir-base " + Base(tenant) + " --site " + std::string(tenant) + " --out " +
           out_.string() + " --expect-extension Patient=" + std::string(kLegalSex);
  }

  void CheckReports(bool expect_pass) {
    const std::string markdown = ReadFile(out_ / "smoke-report.md");
    const std::string json = ReadFile(out_ / "smoke-report.json");
    const std::string xml = ReadFile(out_ / "smoke-report.xml");
    ASSERT_FALSE(markdown.empty());
    ExpectNoPatientData(markdown, "the Markdown report");
    ExpectNoPatientData(json, "the JSON report");
    ExpectNoPatientData(xml, "the JUnit report");

    const Json document = Json::parse(json);
    EXPECT_EQ(document["passed"], expect_pass);
    ASSERT_EQ(document["sites"].size(), 1u);
    const Json& site = document["sites"][0];
    EXPECT_EQ(site["steps"].size(), 27u);

    bool well_formed = false;
    const auto suites = ParseJunit(xml, well_formed);
    ASSERT_TRUE(well_formed) << xml.substr(0, 400);
    ASSERT_EQ(suites.size(), 1u);
    EXPECT_EQ(suites[0].name, site["site"]);
    EXPECT_EQ(suites[0].testcases, 27);
    EXPECT_EQ(suites[0].tests_attribute, "27");
    EXPECT_EQ(suites[0].failures, site["counts"]["failed"].get<int>());
    EXPECT_EQ(suites[0].skipped, site["counts"]["skipped"].get<int>());
    EXPECT_EQ(suites[0].failures == 0, expect_pass);
  }

  std::filesystem::path out_;
  std::string stderr_;
};

TEST_F(SmokeCommandTest, APassingRunExitsZeroAndWritesThreeReports) {
  EXPECT_EQ(Command(Arguments("alpine-health")), 0) << stderr_;
  CheckReports(/*expect_pass=*/true);
}

TEST_F(SmokeCommandTest, AFailingRunExitsOneAndTheReportsShowTheFailures) {
  ASSERT_EQ(Admin("PUT", "/admin/tenants/alpine-health/faults", {{"error_rates", {{"500", 1.0}}}}),
            200);
  EXPECT_EQ(Command(Arguments("alpine-health")), 1) << stderr_;
  CheckReports(/*expect_pass=*/false);
  const std::string markdown = ReadFile(out_ / "smoke-report.md");
  EXPECT_NE(markdown.find("### Failures"), std::string::npos);
  // Through the site connection a 500 is retried within the site's retry budget; the retries open
  // the site's circuit breaker, so later steps fail fast, and the report names the last answer.
  EXPECT_NE(markdown.find("(last: HTTP 500)"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("circuit breaker is open"), std::string::npos) << markdown;
}

TEST_F(SmokeCommandTest, BadOptionsAndBadPatientFilesHaveTheirOwnExitCodes) {
  EXPECT_EQ(Command(Arguments("alpine-health") + " --format md,pdf"), 2);
  EXPECT_NE(stderr_.find("--format"), std::string::npos);
  EXPECT_EQ(Command(Arguments("alpine-health") + " --patient no-bar"), 2);
  EXPECT_EQ(Command("--fhir-base ftp://example.org --out " + out_.string()), 2);
  EXPECT_EQ(Command(Arguments("alpine-health") + " --patients-file /nonexistent/patients.ndjson"),
            3);
  EXPECT_NE(stderr_.find("/nonexistent/patients.ndjson"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out_)) << "nothing is written when the options are wrong";
}

}  // namespace
}  // namespace fhirbridge::testing
