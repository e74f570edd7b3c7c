// SiteClient against the real sandbox on loopback: every fault the sandbox injects handled as the
// traffic layer promises (429 and maintenance Retry-After, injected 5xx, dropped connections, an
// open circuit that recovers, a refused token renewed once), warnings surfaced, paging followed
// and checked, correlation headers sent, and logs that keep query values and tokens out.

#include "traffic/site_client.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "http/server.h"
#include "jose/jose.h"
#include "observe/log.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

using fhir::Json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using traffic::Priority;
using traffic::SiteClient;
using traffic::SitePolicy;
using traffic::SiteRequest;
using traffic::SiteResponse;

constexpr std::string_view kPatientId = "e86izff4laD1mVsXVTNHrrl3";

// A policy for tenant `tenant` of `sandbox` that retries quickly, so tests stay short.
SitePolicy FastPolicy(const SandboxTestServer& sandbox, std::string_view tenant) {
  SitePolicy policy;
  policy.site = std::string(tenant);
  policy.base_url = sandbox.origin() + "/" + std::string(tenant) + "/api/FHIR/R4";
  policy.throttle.requests_per_second = 1000;
  policy.retry.max_attempts = 8;
  policy.retry.initial_backoff = milliseconds(5);
  policy.retry.max_backoff = milliseconds(40);
  policy.retry.max_total = seconds(10);
  policy.breaker.consecutive_failures = 1000;
  policy.breaker.failure_rate = 1.0;
  policy.breaker.rate_window = 10000;
  return policy;
}

std::unique_ptr<SiteClient> MakeClient(SitePolicy policy, observe::MetricsRegistry& metrics,
                                       auth::TokenSource* tokens = nullptr) {
  auto client = SiteClient::Create(std::move(policy), tokens, metrics, base::Clock::Real(), 11);
  EXPECT_TRUE(client.has_value()) << client.error().ToString();
  return client ? std::move(*client) : nullptr;
}

void Admin(const SandboxTestServer& sandbox, const std::string& method, const std::string& path,
           const Json& body) {
  http::Client client;
  auto response = client.Send(
      {method, sandbox.origin() + path, {{"Content-Type", "application/json"}}, body.dump()});
  ASSERT_TRUE(response.has_value());
  ASSERT_LT(response->status, 300) << path << ": " << response->body;
}

void SetFaults(const SandboxTestServer& sandbox, std::string_view tenant, const Json& faults) {
  Admin(sandbox, "PUT", "/admin/tenants/" + std::string(tenant) + "/faults", faults);
}

std::uint64_t CounterValue(observe::MetricsRegistry& metrics, std::string_view name,
                           const observe::Labels& labels) {
  return metrics.GetCounter(name, "", labels).Value();
}

SiteRequest Read(std::string target) {
  SiteRequest request;
  request.target = std::move(target);
  return request;
}

TEST(SiteClientTest, RefusesPlainHttpToAHostThatIsNotLoopback) {
  observe::MetricsRegistry metrics;
  SitePolicy policy;
  policy.site = "remote";
  policy.base_url = "http://fhir.example.org/api/FHIR/R4";
  auto refused = SiteClient::Create(policy, nullptr, metrics);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kInsecureTransport);
  policy.allow_plain_http = true;
  EXPECT_TRUE(SiteClient::Create(policy, nullptr, metrics)) << "allowed explicitly";

  policy.site = "bad name with spaces";
  EXPECT_FALSE(SiteClient::Create(policy, nullptr, metrics));
}

TEST(SiteClientTest, SendsARequestIdKeptAcrossRetriesAndATraceparentPerAttempt) {
  // A plain server that records what arrives: two 503s, then 200.
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> seen;  // request id, traceparent
  std::atomic<int> calls{0};
  auto server = http::Server::Start(
      {},
      [&](const http::Request& request) {
        std::lock_guard lock(mutex);
        const std::string* id = request.FindHeader("x-request-id");
        const std::string* trace = request.FindHeader("traceparent");
        seen.emplace_back(id ? *id : "", trace ? *trace : "");
        http::Response response;
        response.status = ++calls <= 2 ? 503 : 200;
        response.SetHeader("X-Request-Id", id ? *id : "none");
        response.body = R"({"resourceType": "Patient", "id": "1"})";
        return response;
      },
      [](const base::Error&) { return http::Response{}; });
  ASSERT_TRUE(server.has_value());
  observe::MetricsRegistry metrics;
  SitePolicy policy;
  policy.site = "recorder";
  policy.base_url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/r4";
  policy.retry.initial_backoff = milliseconds(1);
  policy.retry.max_backoff = milliseconds(5);
  auto client = MakeClient(policy, metrics);

  auto response = client->Send(Read("Patient/1"));
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status(), 200);
  EXPECT_EQ(response->attempts, 3);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_TRUE(std::regex_match(response->request_id, std::regex("[0-9a-f]{32}")));
  EXPECT_EQ(response->echoed_request_id, response->request_id);
  const std::regex traceparent("00-([0-9a-f]{32})-([0-9a-f]{16})-01");
  std::set<std::string> spans;
  for (const auto& [id, trace] : seen) {
    EXPECT_EQ(id, response->request_id) << "one id for the logical request";
    std::smatch parts;
    ASSERT_TRUE(std::regex_match(trace, parts, traceparent)) << trace;
    EXPECT_EQ(parts[1].str(), response->trace_id);
    spans.insert(parts[2].str());
  }
  EXPECT_EQ(spans.size(), 3u) << "a span per attempt";

  // A second logical request gets a new id.
  auto again = client->Send(Read("Patient/1"));
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(again->request_id, response->request_id);
  EXPECT_EQ(CounterValue(metrics, "fhirbridge_site_retries_total",
                         {{"site", "recorder"}, {"reason", "503"}}),
            2u);
}

TEST(SiteClientTest, HonoursRetryAfterOn429AndBacksOff) {
  SandboxTestServer sandbox;
  Admin(sandbox, "PUT", "/admin/tenants/open-lab/traffic",
        {{"requests_per_second", 2}, {"burst", 1}});
  observe::MetricsRegistry metrics;
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);
  const std::string patient = "Patient/" + std::string(kPatientId);

  auto first = client->Send(Read(patient));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status(), 200);
  auto second = client->Send(Read(patient));
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->status(), 200);
  EXPECT_EQ(second->attempts, 2);
  // The sandbox answered 429 with Retry-After: 1; the retry waited for it.
  EXPECT_GE(second->elapsed, milliseconds(950));
  EXPECT_GE(second->throttle_wait, milliseconds(900)) << "the pause is the throttle's";
  EXPECT_EQ(CounterValue(metrics, "fhirbridge_site_retries_total",
                         {{"site", "open-lab"}, {"reason", "429"}}),
            1u);
  EXPECT_EQ(
      CounterValue(metrics, "fhirbridge_site_retry_after_pauses_total", {{"site", "open-lab"}}),
      1u);
  EXPECT_LT(client->throttle().Snapshot().current_rate, 1000) << "backed off";
}

TEST(SiteClientTest, WaitsOutAShortMaintenanceWindowAndReportsALongOneAtOnce) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  const std::string patient = "Patient/" + std::string(kPatientId);

  Admin(sandbox, "POST", "/admin/tenants/open-lab/maintenance", {{"seconds", 1}});
  auto short_wait = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);
  auto waited = short_wait->Send(Read(patient));
  ASSERT_TRUE(waited.has_value()) << waited.error().ToString();
  EXPECT_EQ(waited->status(), 200);
  EXPECT_GE(waited->attempts, 2);
  EXPECT_GE(waited->elapsed, milliseconds(500));

  Admin(sandbox, "POST", "/admin/tenants/open-lab/maintenance", {{"seconds", 600}});
  SitePolicy policy = FastPolicy(sandbox, "open-lab");
  policy.site = "open-lab-long";
  auto long_wait = MakeClient(policy, metrics);
  const auto started = std::chrono::steady_clock::now();
  auto reported = long_wait->Send(Read(patient));
  ASSERT_FALSE(reported.has_value());
  EXPECT_EQ(reported.error().code, base::ErrorCode::kRetriesExhausted);
  EXPECT_NE(reported.error().diagnostic.find("HTTP 503"), std::string::npos)
      << reported.error().diagnostic;
  EXPECT_NE(reported.error().diagnostic.find("Retry-After"), std::string::npos);
  // The next request does not even reach the site: the pause outlasts its budget.
  auto next = long_wait->Send(Read(patient));
  ASSERT_FALSE(next.has_value());
  EXPECT_EQ(next.error().code, base::ErrorCode::kRetriesExhausted);
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(2)) << "reported, not waited";
  EXPECT_EQ(CounterValue(metrics, "fhirbridge_site_requests_total",
                         {{"site", "open-lab-long"}, {"class", "5xx"}}),
            1u);
}

TEST(SiteClientTest, InjectedServerErrorsAreRetriedForReadsButNotForAPlainCreate) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);
  const std::string patient = "Patient/" + std::string(kPatientId);

  for (const int status : {500, 502, 504}) {
    const std::string code = std::to_string(status);
    SCOPED_TRACE(code);
    // Almost a third of the requests fail: every read still succeeds, through retries.
    SetFaults(sandbox, "open-lab", {{"seed", 5}, {"error_rates", {{code, 0.3}}}});
    for (int i = 0; i < 10; ++i) {
      auto read = client->Send(Read(patient));
      ASSERT_TRUE(read.has_value()) << read.error().ToString();
      EXPECT_EQ(read->status(), 200);
    }
    EXPECT_GT(CounterValue(metrics, "fhirbridge_site_retries_total",
                           {{"site", "open-lab"}, {"reason", code}}),
              0u);

    // Every request fails: a plain create is answered as it came, once.
    SetFaults(sandbox, "open-lab", {{"error_rates", {{code, 1.0}}}});
    SiteRequest create;
    create.method = "POST";
    create.target = "Patient";
    create.headers = {{"Content-Type", "application/fhir+json"}};
    create.body = R"({"resourceType": "Patient"})";
    auto created = client->Send(create);
    ASSERT_TRUE(created.has_value());
    EXPECT_EQ(created->status(), status);
    EXPECT_EQ(created->attempts, 1);

    // A conditional create is safe to repeat, and is repeated until the budget is spent.
    create.headers.push_back({"If-None-Exist", "identifier=urn:example:mrn|42"});
    auto conditional = client->Send(create);
    ASSERT_FALSE(conditional.has_value());
    EXPECT_EQ(conditional.error().code, base::ErrorCode::kRetriesExhausted);
    EXPECT_NE(conditional.error().diagnostic.find("8 attempts"), std::string::npos)
        << conditional.error().diagnostic;
  }
}

TEST(SiteClientTest, ADroppedConnectionIsRetriedForAReadButNotForAPlainCreate) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);

  SetFaults(sandbox, "open-lab", {{"seed", 3}, {"drop_connection_rate", 0.3}});
  for (int i = 0; i < 10; ++i) {
    auto read = client->Send(Read("Patient/" + std::string(kPatientId)));
    ASSERT_TRUE(read.has_value()) << read.error().ToString();
    EXPECT_EQ(read->status(), 200);
  }
  EXPECT_GT(CounterValue(metrics, "fhirbridge_site_retries_total",
                         {{"site", "open-lab"}, {"reason", "no_response"}}),
            0u);

  SetFaults(sandbox, "open-lab", {{"drop_connection_rate", 1.0}});
  SiteRequest create;
  create.method = "POST";
  create.target = "Patient";
  create.headers = {{"Content-Type", "application/fhir+json"}};
  create.body = R"({"resourceType": "Patient"})";
  auto created = client->Send(create);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code, base::ErrorCode::kIoFailure);
  EXPECT_NE(created.error().diagnostic.find("not retried"), std::string::npos);
}

TEST(SiteClientTest, TheCircuitOpensAfterRepeatedFailuresAndRecovers) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  SitePolicy policy = FastPolicy(sandbox, "open-lab");
  policy.retry.max_attempts = 1;
  policy.breaker.consecutive_failures = 3;
  policy.breaker.cool_down = milliseconds(300);
  auto client = MakeClient(policy, metrics);
  const SiteRequest read = Read("Patient/" + std::string(kPatientId));

  SetFaults(sandbox, "open-lab", {{"error_rates", {{"502", 1.0}}}});
  for (int i = 0; i < 3; ++i) {
    auto failed = client->Send(read);
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().code, base::ErrorCode::kRetriesExhausted);
  }
  auto refused = client->Send(read);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kCircuitOpen);
  EXPECT_NE(refused.error().diagnostic.find(" s."), std::string::npos);
  EXPECT_EQ(CounterValue(metrics, "fhirbridge_site_requests_total",
                         {{"site", "open-lab"}, {"class", "5xx"}}),
            3u)
      << "nothing sent while open";
  EXPECT_EQ(metrics.GetGauge("fhirbridge_site_breaker_state", "", {{"site", "open-lab"}}).Value(),
            2);

  SetFaults(sandbox, "open-lab", Json::object());
  std::this_thread::sleep_for(milliseconds(350));
  auto probe = client->Send(read);
  ASSERT_TRUE(probe.has_value()) << probe.error().ToString();
  EXPECT_EQ(probe->status(), 200);
  EXPECT_EQ(client->breaker().state(), traffic::BreakerState::kClosed);
  EXPECT_EQ(metrics.GetGauge("fhirbridge_site_breaker_state", "", {{"site", "open-lab"}}).Value(),
            0);
  EXPECT_NE(sandbox.Logs().find("\"event\":\"site.breaker\""), std::string::npos);
}

// Hands out a token the site does not know first; after the site refuses it, obtains a real
// one through backend services. Counts what it is asked.
class CountingTokenSource final : public auth::TokenSource {
 public:
  explicit CountingTokenSource(std::function<std::string()> fetch) : fetch_(std::move(fetch)) {}

  base::Result<std::string> AccessToken() override {
    std::lock_guard lock(mutex_);
    ++asked;
    return current_;
  }
  void Invalidate(std::string_view rejected) override {
    std::lock_guard lock(mutex_);
    ++invalidated;
    if (rejected == current_) current_ = fetch_();
  }

  int asked = 0;
  int invalidated = 0;

 private:
  std::mutex mutex_;
  std::function<std::string()> fetch_;
  std::string current_ = "stale-token-the-site-never-issued";
};

std::string BackendToken(const SandboxTestServer& sandbox) {
  static const jose::PrivateKey key = *jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  const std::string token_url = sandbox.origin() + "/open-lab/oauth2/token";
  http::Client client;
  auto registered =
      client.Send({"POST",
                   sandbox.origin() + "/admin/tenants/open-lab/apps",
                   {{"Content-Type", "application/json"}},
                   Json{{"client_id", "traffic-backend"},
                        {"type", "confidential-asymmetric"},
                        {"scopes", "system/Patient.rs"},
                        {"jwks", {{"keys", {key.Public().ToJwk("k1", jose::Algorithm::kRS384)}}}}}
                       .dump()});
  EXPECT_TRUE(registered && registered->status == 201);
  const auto now =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string assertion = *jose::SignJwt({{"iss", "traffic-backend"},
                                                {"sub", "traffic-backend"},
                                                {"aud", token_url},
                                                {"exp", now + 240},
                                                {"jti", "traffic-" + std::to_string(now)}},
                                               key, jose::Algorithm::kRS384, {{"kid", "k1"}});
  auto response = client.Send(
      {"POST",
       token_url,
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%"
       "3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
           assertion});
  EXPECT_TRUE(response && response->status == 200);
  return response ? Json::parse(response->body).value("access_token", "") : "";
}

TEST(SiteClientTest, A401InvalidatesTheTokenAndRetriesOnceWithANewOne) {
  SandboxTestServer sandbox;
  observe::SetMinimumLogLevel(observe::LogLevel::kDebug);
  observe::MetricsRegistry metrics;
  CountingTokenSource tokens([&sandbox] { return BackendToken(sandbox); });
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics, &tokens);

  auto response = client->Send(Read("Patient/" + std::string(kPatientId)));
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status(), 200);
  EXPECT_EQ(response->attempts, 2);
  EXPECT_EQ(tokens.asked, 2);
  EXPECT_EQ(tokens.invalidated, 1);
  EXPECT_EQ(CounterValue(metrics, "fhirbridge_site_token_renewals_total", {{"site", "open-lab"}}),
            1u);
  const std::string logs = sandbox.Logs();
  EXPECT_NE(logs.find("\"event\":\"site.token_renewal\""), std::string::npos);
  EXPECT_EQ(logs.find("stale-token"), std::string::npos) << "tokens never logged";
  observe::SetMinimumLogLevel(observe::LogLevel::kInfo);
}

TEST(SiteClientTest, AFixedTokenTheSiteRefusesIsReportedAfterOneAttempt) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  auth::FixedTokenSource tokens("a-token-the-site-never-issued");
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics, &tokens);
  auto response = client->Send(Read("Patient/" + std::string(kPatientId)));
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, base::ErrorCode::kTokenRequestFailed);
  EXPECT_EQ(CounterValue(metrics, "fhirbridge_site_requests_total",
                         {{"site", "open-lab"}, {"class", "4xx"}}),
            1u);
}

TEST(SiteClientTest, SurfacesEpicSearchOutcomeWarningsAndOperationOutcomeInformation) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  auto epic = MakeClient(FastPolicy(sandbox, "alpine-health"), metrics);
  auto search = epic->Send(
      Read("Observation?patient=" + std::string(kPatientId) + "&code=0000-0&shoe-size=42"));
  ASSERT_TRUE(search.has_value()) << search.error().ToString();
  EXPECT_EQ(search->status(), 200);
  ASSERT_EQ(search->warnings.size(), 2u);
  EXPECT_EQ(search->warnings[0].source, traffic::OutcomeWarning::Source::kSearchOutcomeEntry);
  EXPECT_EQ(search->warnings[0].severity, "warning");
  EXPECT_EQ(search->warnings[0].details_code, "4122");
  EXPECT_NE(search->warnings[0].diagnostics.find("shoe-size"), std::string::npos);
  EXPECT_EQ(search->warnings[1].details_code, "4101");

  auto open = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);
  SiteRequest create;
  create.method = "POST";
  create.target = "Patient";
  create.headers = {{"Content-Type", "application/fhir+json"},
                    {"Prefer", "return=OperationOutcome"}};
  create.body = R"({"resourceType": "Patient"})";
  auto created = open->Send(create);
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->status(), 201);
  ASSERT_EQ(created->warnings.size(), 1u);
  EXPECT_EQ(created->warnings[0].source, traffic::OutcomeWarning::Source::kOperationOutcome);
  EXPECT_EQ(created->warnings[0].severity, "information");
  EXPECT_EQ(
      CounterValue(metrics, "fhirbridge_site_outcome_warnings_total", {{"site", "alpine-health"}}),
      2u);
}

TEST(SiteClientTest, FollowsNextLinksAndNoticesALostOne) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);
  SiteRequest search = Read("Observation?patient=" + std::string(kPatientId) + "&_count=2");
  search.priority = Priority::kBackground;

  std::size_t pages = 0, resources = 0, total = 0;
  auto paged = client->ForEachPage(search, [&](const SiteResponse& page) -> base::Result<bool> {
    const Json bundle = Json::parse(page.http.body);
    ++pages;
    resources += bundle.value("entry", Json::array()).size();
    total = bundle.value("total", 0);
    return true;
  });
  ASSERT_TRUE(paged.has_value()) << paged.error().ToString();
  EXPECT_GE(total, 3u);
  EXPECT_EQ(resources, total);
  EXPECT_EQ(pages, (total + 1) / 2);

  std::size_t stopped_after = 0;
  ASSERT_TRUE(client->ForEachPage(
      search, [&](const SiteResponse&) -> base::Result<bool> { return ++stopped_after < 1; }));
  EXPECT_EQ(stopped_after, 1u) << "the callback can stop early";

  SetFaults(sandbox, "open-lab", {{"missing_next_link_rate", 1.0}});
  auto lost = client->ForEachPage(search, [](const SiteResponse&) { return true; });
  ASSERT_FALSE(lost.has_value());
  EXPECT_EQ(lost.error().code, base::ErrorCode::kMalformedResponse);
  EXPECT_NE(lost.error().diagnostic.find("ended paging after 2 of"), std::string::npos)
      << lost.error().diagnostic;
}

TEST(SiteClientTest, AnAbsoluteUrlOutsideTheBaseIsRefused) {
  SandboxTestServer sandbox;
  observe::MetricsRegistry metrics;
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);
  auto elsewhere = client->Send(Read(sandbox.origin() + "/alpine-health/api/FHIR/R4/Patient"));
  ASSERT_FALSE(elsewhere.has_value());
  EXPECT_EQ(elsewhere.error().code, base::ErrorCode::kInvalidParameter);
  auto prefix_trick = client->Send(Read(sandbox.origin() + "/open-lab/api/FHIR/R4evil/Patient"));
  ASSERT_FALSE(prefix_trick.has_value());
}

TEST(SiteClientTest, LogsRouteTemplatesAndRedactedQueriesOnly) {
  SandboxTestServer sandbox;
  observe::SetMinimumLogLevel(observe::LogLevel::kDebug);
  observe::MetricsRegistry metrics;
  auto client = MakeClient(FastPolicy(sandbox, "open-lab"), metrics);
  auto response = client->Send(Read("Patient?family=Zebulonovich&_count=5"));
  ASSERT_TRUE(response.has_value());
  auto read = client->Send(Read("Patient/" + std::string(kPatientId)));
  ASSERT_TRUE(read.has_value());
  observe::SetMinimumLogLevel(observe::LogLevel::kInfo);

  std::istringstream lines(sandbox.Logs());
  int attempts = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"event\":\"site.attempt\"") == std::string::npos) continue;
    ++attempts;
    EXPECT_EQ(line.find("Zebulonovich"), std::string::npos) << line;
    EXPECT_NE(line.find("\"site\":\"open-lab\""), std::string::npos) << line;
    EXPECT_NE(line.find("echoed_request_id"), std::string::npos) << line;
    if (line.find("family") != std::string::npos) {
      EXPECT_NE(line.find("family=[redacted]&_count=5"), std::string::npos) << line;
    } else {
      EXPECT_NE(line.find("[base]/Patient/{id}"), std::string::npos) << line;
      // The id appears only in the sandbox's own lines, not in the client's.
      EXPECT_EQ(line.find(std::string(kPatientId)), std::string::npos) << line;
    }
  }
  EXPECT_EQ(attempts, 2);
}

TEST(SiteClientTest, RouteTemplatesKeepTypesAndOperationsOnly) {
  EXPECT_EQ(traffic::RouteTemplate("Observation/abc/_history/2"),
            "/Observation/{id}/_history/{id}");
  EXPECT_EQ(traffic::RouteTemplate("/Patient/$everything"), "/Patient/$everything");
  EXPECT_EQ(traffic::RouteTemplate("Patient/_search"), "/Patient/_search");
  EXPECT_EQ(traffic::RouteTemplate("metadata"), "/metadata");
  EXPECT_EQ(traffic::RouteTemplate(""), "/");
  EXPECT_EQ(traffic::RouteTemplate("Patient/Smith"), "/Patient/{id}") << "an id like a type";
}

}  // namespace
}  // namespace fhirbridge::testing
