// The runtime's SMART client against the real sandbox on loopback: discovery (and its fallback
// to the CapabilityStatement), backend services with RS384 and ES384, one renewal for many
// threads, renewal ahead of expiry, 401 recovery, standalone and EHR launch completed through the
// redirect listener by posting the sandbox's login form and patient picker, refresh token
// rotation, a revoked refresh token, and private_key_jwt authentication of the code exchange.

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "auth/authorized_request.h"
#include "auth/backend_services.h"
#include "auth/key_ring.h"
#include "auth/launch.h"
#include "auth/redirect_listener.h"
#include "auth/refreshing_token_source.h"
#include "auth/smart_discovery.h"
#include "http/client.h"
#include "http/server.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

using base::ErrorCode;
using fhir::Json;

constexpr std::string_view kConfig = R"([build_levels.open]
update_as_create = true
[build_levels.open.resources]
Patient = ["read", "vread", "update", "create", "history-instance"]
Observation = ["read", "create"]

[[tenants]]
name = "secure"
build_level = "open"
[tenants.auth]
required = true
default_patient = "e86izff4laD1mVsXVTNHrrl3"
user_practitioner = "e0aBRM4-LQA2a3ObnQnNsKY3"
)";

constexpr std::string_view kPatientId = "e86izff4laD1mVsXVTNHrrl3";
constexpr std::string_view kOtherPatientId = "eygGzVjJLQB0.8WMY5leCJS3";

// A key ring in a fresh temporary folder, removed afterwards.
class TemporaryKeyRing {
 public:
  TemporaryKeyRing(const std::string& name, jose::Algorithm algorithm)
      : folder_(std::filesystem::temp_directory_path() /
                ("fhirbridge-smart-client-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(folder_);
    auto ring = auth::KeyRing::Create(folder_, algorithm, std::chrono::system_clock::now());
    EXPECT_TRUE(ring.has_value());
    jwks_ = ring->PublicJwks(std::chrono::system_clock::now()).value();
  }
  ~TemporaryKeyRing() { std::filesystem::remove_all(folder_); }

  const std::filesystem::path& folder() const { return folder_; }
  const Json& jwks() const { return jwks_; }

 private:
  std::filesystem::path folder_;
  Json jwks_;
};

// The part of an HTML page after `marker` up to the next quote.
std::string Between(const std::string& html, const std::string& marker) {
  const std::size_t start = html.find(marker);
  if (start == std::string::npos) return {};
  const std::size_t value = start + marker.size();
  return html.substr(value, html.find('"', value) - value);
}

class SmartClientTest : public ::testing::Test {
 protected:
  SmartClientTest()
      : sandbox_(kConfig),
        base_(sandbox_.origin() + "/secure/api/FHIR/R4"),
        token_url_(sandbox_.origin() + "/secure/oauth2/token"),
        rsa_keys_("rsa", jose::Algorithm::kRS384) {}

  http::ClientResponse Send(const http::ClientRequest& request) {
    auto response = client_.Send(request);
    EXPECT_TRUE(response.has_value()) << request.url;
    return response ? *response : http::ClientResponse{};
  }

  int Admin(const std::string& method, const std::string& path, const Json& body) {
    const http::ClientResponse response = Send({method,
                                                sandbox_.origin() + "/admin/tenants/secure/" + path,
                                                {{"Content-Type", "application/json"}},
                                                body.dump()});
    EXPECT_LT(response.status, 300) << path << ": " << response.body;
    return response.status;
  }

  void RegisterBackend(const std::string& client_id, const Json& keys) {
    Json app = {{"client_id", client_id},
                {"type", "confidential-asymmetric"},
                {"scopes", "system/Patient.rs"}};
    if (keys.is_string()) {
      app["jwks_url"] = keys;
    } else {
      app["jwks"] = keys;
    }
    Admin("POST", "apps", app);
  }

  auth::BackendServicesOptions BackendOptions(const std::string& client_id,
                                              const std::filesystem::path& keys) {
    auth::BackendServicesOptions options;
    options.client_id = client_id;
    options.token_endpoint = token_url_;
    options.assertion_keys = auth::KeyRingAssertionKeys(keys);
    return options;
  }

  // Token requests the sandbox has answered, read from its /metrics page.
  std::uint64_t TokenRequests() {
    const http::ClientResponse metrics = Send({"GET", sandbox_.origin() + "/metrics", {}, {}});
    std::uint64_t total = 0;
    std::size_t line_start = 0;
    while (line_start < metrics.body.size()) {
      std::size_t line_end = metrics.body.find('\n', line_start);
      if (line_end == std::string::npos) line_end = metrics.body.size();
      const std::string line = metrics.body.substr(line_start, line_end - line_start);
      if (line.starts_with("fhirbridge_sandbox_requests_total{") &&
          line.find("route=\"/{tenant}/oauth2/token\"") != std::string::npos) {
        total += std::stoull(line.substr(line.rfind(' ') + 1));
      }
      line_start = line_end + 1;
    }
    return total;
  }

  http::ClientRequest PatientRead(std::string_view id = kPatientId) {
    return {"GET", base_ + "/Patient/" + std::string(id), {}, {}};
  }

  // Acts as the user's browser: opens the authorize URL, signs in on the sandbox's login form,
  // picks `patient` when the picker asks, and follows the redirect to the listener.
  void CompleteLoginInBrowser(const std::string& authorize_url, std::string_view patient) {
    const http::ClientResponse login_page = Send({"GET", authorize_url, {}, {}});
    ASSERT_EQ(login_page.status, 200) << login_page.body;
    const std::string transaction = Between(login_page.body, "name=\"transaction\" value=\"");
    ASSERT_FALSE(transaction.empty()) << login_page.body;

    const std::string form_url = sandbox_.origin() + "/secure/oauth2/authorize";
    const std::vector<http::Header> form_headers = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    http::ClientResponse answer = Send(
        {"POST", form_url, form_headers,
         auth::FormEncode(
             {{"transaction", transaction}, {"username", "clinician"}, {"password", "sandbox"}})});
    if (answer.status == 200) {
      ASSERT_NE(answer.body.find("Choose a patient"), std::string::npos) << answer.body;
      answer = Send(
          {"POST", form_url, form_headers,
           auth::FormEncode({{"transaction", transaction}, {"patient", std::string(patient)}})});
    }
    ASSERT_EQ(answer.status, 302) << answer.body;
    const std::string* location = answer.FindHeader("location");
    ASSERT_NE(location, nullptr);
    const http::ClientResponse landing = Send({"GET", *location, {}, {}});
    EXPECT_EQ(landing.status, 200);
    EXPECT_NE(landing.body.find("You can close this window"), std::string::npos);
  }

  SandboxTestServer sandbox_;
  http::Client client_;
  const std::string base_;
  const std::string token_url_;
  TemporaryKeyRing rsa_keys_;
};

TEST_F(SmartClientTest, BackendServicesWithRs384ReadsThroughDiscovery) {
  RegisterBackend("backend", rsa_keys_.jwks());
  auto discovered = auth::Discover(client_, base_ + "/");
  ASSERT_TRUE(discovered.has_value()) << discovered.error().ToString();
  EXPECT_EQ(discovered->configuration.source, auth::SmartConfiguration::Source::kWellKnown);
  EXPECT_EQ(discovered->configuration.token_endpoint, token_url_);
  EXPECT_TRUE(discovered->configuration.missing_required.empty());

  auth::BackendServicesTokenSource source(BackendOptions("backend", rsa_keys_.folder()));
  auto read = auth::SendWithToken(client_, source, PatientRead());
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->status, 200) << read->body;
  const auth::TokenStatus status = source.Status();
  EXPECT_TRUE(status.has_token);
  EXPECT_EQ(status.scope, "system/Patient.rs");
  EXPECT_EQ(status.scopes, std::vector<std::string>{"system/Patient.rs"});
  EXPECT_EQ(status.expires - status.obtained, std::chrono::seconds(3600));
  EXPECT_EQ(status.token_requests, 1u);
  // The token is reused, not requested again.
  ASSERT_TRUE(auth::SendWithToken(client_, source, PatientRead()).has_value());
  EXPECT_EQ(TokenRequests(), 1u);
  EXPECT_EQ(sandbox_.Logs().find(source.AccessToken().value()), std::string::npos);
}

TEST_F(SmartClientTest, BackendServicesWithEs384UsesTheRegisteredJwkSetUrl) {
  TemporaryKeyRing ec_keys("ec", jose::Algorithm::kES384);
  const Json jwks = ec_keys.jwks();
  auto jwks_server = http::Server::Start(
      {"127.0.0.1", 0, 1},
      [&jwks](const http::Request&) {
        http::Response response;
        response.SetHeader("Content-Type", "application/json");
        response.body = jwks.dump();
        return response;
      },
      [](const base::Error&) {
        return http::Response{400, {}, {}};
      });
  ASSERT_TRUE(jwks_server.has_value());
  const std::string jwks_url =
      "http://127.0.0.1:" + std::to_string((*jwks_server)->port()) + "/jwks.json";
  RegisterBackend("backend-ec", jwks_url);

  auto options = BackendOptions("backend-ec", ec_keys.folder());
  options.assertion_keys = auth::KeyRingAssertionKeys(ec_keys.folder(), std::nullopt, jwks_url);
  auth::BackendServicesTokenSource source(std::move(options));
  auto read = auth::SendWithToken(client_, source, PatientRead());
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(read->status, 200) << read->body;

  // The same EC key registered inline is refused, as at Epic: ES384 needs a JWK Set URL.
  RegisterBackend("backend-ec-inline", ec_keys.jwks());
  auth::BackendServicesTokenSource inline_source(
      BackendOptions("backend-ec-inline", ec_keys.folder()));
  auto refused = inline_source.AccessToken();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kOAuthInvalidClient);
  EXPECT_NE(refused.error().diagnostic.find("JWK Set URL"), std::string::npos);
}

TEST_F(SmartClientTest, SixteenThreadsAskingAtOnceCauseOneTokenRequest) {
  RegisterBackend("backend", rsa_keys_.jwks());
  // A slow token endpoint keeps the first request in flight while the others arrive.
  Admin("PUT", "auth-errors", {{"token_endpoint_delay_ms", 300}});
  auth::BackendServicesTokenSource source(BackendOptions("backend", rsa_keys_.folder()));

  constexpr int kThreads = 16;
  std::barrier start(kThreads);
  std::vector<std::string> tokens(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto token = source.AccessToken();
      if (token) tokens[i] = *token;
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(std::set<std::string>(tokens.begin(), tokens.end()).size(), 1u);
  EXPECT_FALSE(tokens.front().empty());
  EXPECT_EQ(TokenRequests(), 1u);
  EXPECT_EQ(source.Status().token_requests, 1u);
}

TEST_F(SmartClientTest, AFailedRenewalReachesEveryWaiterWithoutHammeringTheServer) {
  RegisterBackend("backend", rsa_keys_.jwks());
  Admin("PUT", "auth-errors",
        {{"token_endpoint_unavailable", true}, {"token_endpoint_delay_ms", 200}});
  auto options = BackendOptions("backend", rsa_keys_.folder());
  options.renewal.failure_hold = std::chrono::milliseconds(400);
  auth::BackendServicesTokenSource source(std::move(options));

  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto token = source.AccessToken();
      if (!token && token.error().code == ErrorCode::kTokenRequestFailed) ++failures;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), kThreads);
  EXPECT_EQ(TokenRequests(), 1u);

  // Within the hold the failure is repeated without a request; after it, the server is asked
  // again and, recovered, answers.
  EXPECT_FALSE(source.AccessToken().has_value());
  EXPECT_EQ(TokenRequests(), 1u);
  Admin("PUT", "auth-errors",
        {{"token_endpoint_unavailable", false}, {"token_endpoint_delay_ms", 0}});
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  EXPECT_TRUE(source.AccessToken().has_value());
  EXPECT_EQ(TokenRequests(), 2u);
}

TEST_F(SmartClientTest, TokensAreRenewedAheadOfExpiry) {
  RegisterBackend("backend", rsa_keys_.jwks());
  // The source's clock runs ahead on demand; the sandbox's tokens live 3600 s.
  std::atomic<std::int64_t> offset_seconds{0};
  auth::BackendServicesTokenSource source(BackendOptions("backend", rsa_keys_.folder()), [&] {
    return std::chrono::system_clock::now() + std::chrono::seconds(offset_seconds.load());
  });

  const std::string first = source.AccessToken().value();
  offset_seconds = 3000;  // 600 s left: more than the 360 s margin (10% of 3600 s)
  EXPECT_EQ(source.AccessToken().value(), first);
  EXPECT_EQ(TokenRequests(), 1u);
  offset_seconds = 3300;  // 300 s left: renewed while the old token is still valid
  const std::string second = source.AccessToken().value();
  EXPECT_NE(second, first);
  EXPECT_EQ(TokenRequests(), 2u);
  EXPECT_EQ(source.AccessToken().value(), second);
  EXPECT_EQ(TokenRequests(), 2u);
}

TEST_F(SmartClientTest, ShortLivedTokensAreRenewedBeforeTheSiteRefusesThem) {
  RegisterBackend("backend", rsa_keys_.jwks());
  // The sandbox now issues tokens that live one second (and says so in expires_in).
  Admin("PUT", "auth-errors", {{"expire_tokens_early", true}});
  auth::BackendServicesTokenSource source(BackendOptions("backend", rsa_keys_.folder()));
  ASSERT_EQ(auth::SendWithToken(client_, source, PatientRead())->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const http::ClientResponse later = auth::SendWithToken(client_, source, PatientRead()).value();
  EXPECT_EQ(later.status, 200);
  // Renewed from the expiry it knew, not after a 401: two token requests, no retry.
  EXPECT_EQ(TokenRequests(), 2u);
  EXPECT_EQ(sandbox_.Logs().find("\"status\":401"), std::string::npos);
}

TEST_F(SmartClientTest, A401RenewsTheTokenOnceAndRetriesOnce) {
  RegisterBackend("backend", rsa_keys_.jwks());
  auth::BackendServicesTokenSource source(BackendOptions("backend", rsa_keys_.folder()));
  const std::string first = source.AccessToken().value();

  // The site revokes the token (RFC 7009) behind the client's back: the next read gets 401,
  // the source renews, and the retry succeeds.
  auto assertion_key = auth::KeyRingAssertionKeys(rsa_keys_.folder())().value();
  const std::string assertion =
      auth::SignClientAssertion("backend", token_url_, assertion_key, std::chrono::seconds(300),
                                std::chrono::system_clock::now())
          .value();
  ASSERT_EQ(Send({"POST",
                  sandbox_.origin() + "/secure/oauth2/revoke",
                  {{"Content-Type", "application/x-www-form-urlencoded"}},
                  auth::FormEncode({{"token", first},
                                    {"client_assertion_type",
                                     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                                    {"client_assertion", assertion}})})
                .status,
            200);
  auto recovered = auth::SendWithToken(client_, source, PatientRead());
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(recovered->status, 200);
  EXPECT_NE(source.AccessToken().value(), first);
  EXPECT_EQ(TokenRequests(), 2u);

  // When the site refuses every token, the request is retried once only and the 401 returned.
  Admin("PUT", "auth-errors", {{"reject_issued_tokens", true}});
  auto refused = auth::SendWithToken(client_, source, PatientRead());
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(TokenRequests(), 3u);

  // Invalidating a token that was already replaced does nothing.
  const std::string current = source.AccessToken().value();
  source.Invalidate(first);
  EXPECT_EQ(source.AccessToken().value(), current);
  EXPECT_EQ(TokenRequests(), 3u);
}

TEST_F(SmartClientTest, DiscoveryFallsBackToTheCapabilityStatement) {
  RegisterBackend("backend", rsa_keys_.jwks());
  // A FHIR server without .well-known/smart-configuration whose CapabilityStatement points at
  // the sandbox's token endpoint (relative and absolute URLs).
  std::atomic<int> metadata_requests{0};
  const std::string token_url = token_url_;
  auto server = http::Server::Start(
      {"127.0.0.1", 0, 1},
      [&](const http::Request& request) {
        http::Response response;
        if (request.path == "/fhir/metadata") {
          ++metadata_requests;
          response.SetHeader("Content-Type", "application/fhir+json");
          response.body =
              Json{{"resourceType", "CapabilityStatement"},
                   {"rest",
                    {{{"mode", "server"},
                      {"security",
                       {{"extension",
                         {{{"url",
                            "http://fhir-registry.smarthealthit.org/"
                            "StructureDefinition/oauth-uris"},
                           {"extension",
                            {{{"url", "token"}, {"valueUri", token_url}},
                             {{"url", "authorize"}, {"valueUri", "/oauth2/authorize"}}}}}}}}}}}}}
                  .dump();
        } else if (request.path == "/broken/.well-known/smart-configuration") {
          response.SetHeader("Content-Type", "application/json");
          response.body = R"({"authorization_endpoint": 7})";
        } else {
          response.status = 404;
        }
        return response;
      },
      [](const base::Error&) {
        return http::Response{400, {}, {}};
      });
  ASSERT_TRUE(server.has_value());
  const std::string origin = "http://127.0.0.1:" + std::to_string((*server)->port());

  auto discovered = auth::Discover(client_, origin + "/fhir");
  ASSERT_TRUE(discovered.has_value()) << discovered.error().ToString();
  EXPECT_EQ(discovered->configuration.source,
            auth::SmartConfiguration::Source::kCapabilityStatement);
  EXPECT_EQ(discovered->configuration.token_endpoint, token_url_);
  EXPECT_EQ(discovered->configuration.authorization_endpoint, origin + "/oauth2/authorize");

  auto options = BackendOptions("backend", rsa_keys_.folder());
  options.token_endpoint = discovered->configuration.token_endpoint;
  auth::BackendServicesTokenSource source(std::move(options));
  EXPECT_TRUE(source.AccessToken().has_value());

  // Neither route usable: one error naming what each lacked.
  auto failed = auth::Discover(client_, origin + "/broken");
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, ErrorCode::kDiscoveryFailed);
  EXPECT_NE(failed.error().diagnostic.find("authorization_endpoint is not a URL string"),
            std::string::npos)
      << failed.error().diagnostic;
  EXPECT_NE(failed.error().diagnostic.find("metadata answered HTTP 404"), std::string::npos)
      << failed.error().diagnostic;
}

TEST_F(SmartClientTest, DiscoveryCacheHonoursMaxAgeAndTheSiteFingerprint) {
  std::atomic<int> requests{0};
  std::atomic<bool> no_store{false};
  auto server = http::Server::Start(
      {"127.0.0.1", 0, 1},
      [&](const http::Request&) {
        ++requests;
        http::Response response;
        response.SetHeader("Content-Type", "application/json");
        response.SetHeader("Cache-Control", no_store ? "no-store" : "public, max-age=60");
        response.body = R"({"token_endpoint": "token", "grant_types_supported": [],
                            "capabilities": [], "code_challenge_methods_supported": ["S256"]})";
        return response;
      },
      [](const base::Error&) {
        return http::Response{400, {}, {}};
      });
  ASSERT_TRUE(server.has_value());
  const std::string base = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/r4";

  std::atomic<std::int64_t> offset_seconds{0};
  auth::DiscoveryCache cache(std::chrono::hours(1), std::chrono::hours(24), [&] {
    return std::chrono::system_clock::now() + std::chrono::seconds(offset_seconds.load());
  });
  auto first = cache.Get(client_, base, "bundle-v1");
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->token_endpoint, base + "/token");
  EXPECT_TRUE(cache.Get(client_, base, "bundle-v1").has_value());
  EXPECT_EQ(requests.load(), 1);

  offset_seconds = 61;  // past max-age
  EXPECT_TRUE(cache.Get(client_, base, "bundle-v1").has_value());
  EXPECT_EQ(requests.load(), 2);
  EXPECT_TRUE(cache.Get(client_, base, "bundle-v2").has_value());  // the bundle changed
  EXPECT_EQ(requests.load(), 3);
  EXPECT_TRUE(cache.Get(client_, base, "bundle-v2").has_value());
  EXPECT_EQ(requests.load(), 3);

  no_store = true;
  cache.Drop(base);
  EXPECT_TRUE(cache.Get(client_, base, "bundle-v2").has_value());
  EXPECT_TRUE(cache.Get(client_, base, "bundle-v2").has_value());
  EXPECT_EQ(requests.load(), 5);
  EXPECT_EQ(cache.fetches(), 5u);
}

TEST_F(SmartClientTest, StandaloneLaunchThenRefreshRotationThenARevokedRefreshToken) {
  auto listener = auth::RedirectListener::Start({});
  ASSERT_TRUE(listener.has_value());
  Admin("POST", "apps",
        {{"client_id", "viewer"},
         {"type", "public"},
         {"scopes", "patient/Patient.rs patient/Observation.rs"},
         {"redirect_uris", {(*listener)->redirect_uri()}}});

  auth::DiscoveryCache discovery;
  auto configuration = discovery.Get(client_, base_, "site");
  ASSERT_TRUE(configuration.has_value());
  auto request = auth::PrepareAuthorization(
      *configuration, {"viewer", (*listener)->redirect_uri(),
                       "launch/patient openid fhirUser offline_access patient/Patient.rs", ""});
  ASSERT_TRUE(request.has_value()) << request.error().ToString();
  (*listener)->Expect(request->state);
  CompleteLoginInBrowser(request->authorize_url, kOtherPatientId);

  auto code = (*listener)->WaitForCode(std::chrono::seconds(5));
  ASSERT_TRUE(code.has_value()) << code.error().ToString();
  auth::ClientCredentials public_client{"viewer", auth::ClientAuthMethod::kNone, {}, {}};
  auto tokens = auth::ExchangeCode(client_, *configuration, *request, *code, public_client);
  ASSERT_TRUE(tokens.has_value()) << tokens.error().ToString();
  EXPECT_EQ(tokens->patient, kOtherPatientId);
  EXPECT_FALSE(tokens->refresh_token.empty());
  EXPECT_FALSE(tokens->id_token.empty());
  EXPECT_EQ(tokens->need_patient_banner, true);
  EXPECT_NE(tokens->scope.find("patient/Patient.rs"), std::string::npos);

  // The refresh token is used and rotated; every new one is handed over for storage.
  std::vector<std::string> rotated;
  auth::RefreshOptions refresh_options;
  refresh_options.token_endpoint = configuration->token_endpoint;
  refresh_options.credentials = public_client;
  refresh_options.on_rotated = [&](const std::string& token) { rotated.push_back(token); };
  const std::string original_refresh = tokens->refresh_token;
  auto source = auth::RefreshingTokenSource::Create(refresh_options, *tokens);
  ASSERT_TRUE(source.has_value());
  const std::string first = (*source)->AccessToken().value();
  EXPECT_EQ(first, tokens->access_token);
  auto read = auth::SendWithToken(client_, **source, PatientRead(kOtherPatientId));
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(read->status, 200) << read->body;

  (*source)->Invalidate(first);
  const std::string second = (*source)->AccessToken().value();
  EXPECT_NE(second, first);
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_NE(rotated[0], original_refresh);
  EXPECT_EQ((*source)->Status().patient, kOtherPatientId);
  (*source)->Invalidate(second);
  EXPECT_TRUE((*source)->AccessToken().has_value());
  ASSERT_EQ(rotated.size(), 2u);
  EXPECT_EQ(TokenRequests(), 3u);  // the exchange and two refreshes

  // The site revokes the grant: the refusal says to log in again, and is not retried.
  const http::ClientResponse revoked =
      Send({"POST",
            sandbox_.origin() + "/admin/tenants/secure/apps/viewer/revoke-refresh-tokens",
            {{"Content-Type", "application/json"}},
            "{}"});
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  (*source)->Invalidate((*source)->AccessToken().value());
  auto refused = (*source)->AccessToken();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kOAuthInvalidGrant);
  EXPECT_NE(refused.error().diagnostic.find("log in again"), std::string::npos);
  EXPECT_FALSE((*source)->HasRefreshToken());
  EXPECT_FALSE((*source)->AccessToken().has_value());
  EXPECT_EQ(TokenRequests(), 4u);
  for (const std::string& token : rotated) {
    EXPECT_EQ(refused.error().ToString().find(token), std::string::npos);
  }
}

TEST_F(SmartClientTest, EhrLaunchWithAConfidentialClientCarriesTheLaunchContext) {
  auto listener = auth::RedirectListener::Start({"127.0.0.1", 0, "/ehr-return"});
  ASSERT_TRUE(listener.has_value());
  Admin("POST", "apps",
        {{"client_id", "chart-app"},
         {"type", "confidential-symmetric"},
         {"client_secret", "s3cret-for-tests"},
         {"scopes", "patient/Patient.rs"},
         {"redirect_uris", {(*listener)->redirect_uri()}}});

  // The EHR opens the app from a chart: iss and launch arrive on the app's launch URL.
  const http::ClientResponse launched =
      Send({"POST",
            sandbox_.origin() + "/admin/tenants/secure/launch",
            {{"Content-Type", "application/json"}},
            Json{{"patient", kOtherPatientId}, {"encounter", ""}}.dump()});
  ASSERT_EQ(launched.status, 201) << launched.body;
  const Json launch = Json::parse(launched.body);
  const std::string iss = launch.value("iss", "");
  EXPECT_EQ(iss, base_);

  http::Client client;
  auth::DiscoveryCache discovery;
  const auth::LaunchOptions options{"chart-app", (*listener)->redirect_uri(),
                                    "launch openid fhirUser patient/Patient.rs", ""};
  // An iss the app does not know is refused before anything is sent to it.
  auto foreign = auth::BeginEhrLaunch(client, discovery, "https://elsewhere.example/fhir",
                                      launch.value("launch", ""), options, {base_});
  ASSERT_FALSE(foreign.has_value());
  EXPECT_EQ(foreign.error().location, "iss");

  auto request =
      auth::BeginEhrLaunch(client, discovery, iss, launch.value("launch", ""), options, {base_});
  ASSERT_TRUE(request.has_value()) << request.error().ToString();
  EXPECT_NE(request->authorize_url.find("&launch="), std::string::npos);
  (*listener)->Expect(request->state);
  CompleteLoginInBrowser(request->authorize_url, "");

  auto code = (*listener)->WaitForCode(std::chrono::seconds(5));
  ASSERT_TRUE(code.has_value()) << code.error().ToString();
  auto configuration = discovery.Get(client, iss, "");
  ASSERT_TRUE(configuration.has_value());
  auth::ClientCredentials wrong_secret{
      "chart-app", auth::ClientAuthMethod::kClientSecretBasic, "not-it", {}};
  EXPECT_EQ(auth::ExchangeCode(client, *configuration, *request, *code, wrong_secret).error().code,
            ErrorCode::kOAuthInvalidClient);
  auth::ClientCredentials credentials{
      "chart-app", auth::ClientAuthMethod::kClientSecretBasic, "s3cret-for-tests", {}};
  auto tokens = auth::ExchangeCode(client, *configuration, *request, *code, credentials);
  ASSERT_TRUE(tokens.has_value()) << tokens.error().ToString();
  EXPECT_EQ(tokens->patient, kOtherPatientId);
  EXPECT_TRUE(tokens->refresh_token.empty());  // no offline_access asked
  http::ClientRequest read = PatientRead(kOtherPatientId);
  read.headers.push_back({"Authorization", "Bearer " + tokens->access_token});
  EXPECT_EQ(Send(read).status, 200);

  // A code is single-use; replaying it revokes what it gave.
  EXPECT_EQ(auth::ExchangeCode(client, *configuration, *request, *code, credentials).error().code,
            ErrorCode::kOAuthInvalidGrant);
  EXPECT_EQ(Send(read).status, 401);
}

TEST_F(SmartClientTest, PrivateKeyJwtClientsAuthenticateTheExchangeAndTheRefresh) {
  auto listener = auth::RedirectListener::Start({});
  ASSERT_TRUE(listener.has_value());
  Admin("POST", "apps",
        {{"client_id", "signed-app"},
         {"type", "confidential-asymmetric"},
         {"scopes", "patient/Patient.rs"},
         {"jwks", rsa_keys_.jwks()},
         {"redirect_uris", {(*listener)->redirect_uri()}}});
  // CI mode: the sandbox approves at once with its default patient, no login form.
  Admin("PUT", "auto-approve", {{"auto_approve", true}});

  auth::DiscoveryCache discovery;
  auto configuration = discovery.Get(client_, base_, "");
  ASSERT_TRUE(configuration.has_value());
  auto request = auth::PrepareAuthorization(
      *configuration, {"signed-app", (*listener)->redirect_uri(),
                       "launch/patient offline_access patient/Patient.rs", ""});
  ASSERT_TRUE(request.has_value());
  (*listener)->Expect(request->state);
  const http::ClientResponse approved = Send({"GET", request->authorize_url, {}, {}});
  ASSERT_EQ(approved.status, 302) << approved.body;
  ASSERT_EQ(Send({"GET", *approved.FindHeader("location"), {}, {}}).status, 200);
  auto code = (*listener)->WaitForCode(std::chrono::seconds(5));
  ASSERT_TRUE(code.has_value());

  // Without its assertion the confidential client is refused; with it, tokens are issued.
  auth::ClientCredentials unsigned_client{"signed-app", auth::ClientAuthMethod::kNone, {}, {}};
  EXPECT_EQ(
      auth::ExchangeCode(client_, *configuration, *request, *code, unsigned_client).error().code,
      ErrorCode::kOAuthInvalidClient);
  auth::ClientCredentials credentials{"signed-app",
                                      auth::ClientAuthMethod::kPrivateKeyJwt,
                                      {},
                                      auth::KeyRingAssertionKeys(rsa_keys_.folder())};
  auto tokens = auth::ExchangeCode(client_, *configuration, *request, *code, credentials);
  ASSERT_TRUE(tokens.has_value()) << tokens.error().ToString();
  EXPECT_EQ(tokens->patient, kPatientId);

  auth::RefreshOptions refresh_options;
  refresh_options.token_endpoint = configuration->token_endpoint;
  refresh_options.credentials = credentials;
  auto source = auth::RefreshingTokenSource::Create(refresh_options, *tokens);
  ASSERT_TRUE(source.has_value());
  (*source)->Invalidate(tokens->access_token);
  auto read = auth::SendWithToken(client_, **source, PatientRead());
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ((*source)->Status().token_requests, 1u);
}

TEST_F(SmartClientTest, TheRedirectListenerRefusesAWrongStateAndReportsServerErrors) {
  const auto arrive = [this](auth::RedirectListener& listener, const std::string& query) {
    return Send({"GET", listener.redirect_uri() + "?" + query, {}, {}});
  };
  {
    auto listener = auth::RedirectListener::Start({}).value();
    listener->Expect("expected-state");
    EXPECT_EQ(Send({"GET", listener->redirect_uri() + "/../favicon.ico", {}, {}}).status, 404);
    EXPECT_EQ(arrive(*listener, "code=c&state=forged").status, 400);
    // The flow has ended: a later, correct redirect does not revive it.
    EXPECT_EQ(arrive(*listener, "code=c&state=expected-state").status, 409);
    auto outcome = listener->WaitForCode(std::chrono::seconds(1));
    ASSERT_FALSE(outcome.has_value());
    EXPECT_EQ(outcome.error().code, ErrorCode::kInvalidParameter);
    EXPECT_EQ(outcome.error().location, "state");
  }
  {
    auto listener = auth::RedirectListener::Start({}).value();
    listener->Expect("s");
    EXPECT_EQ(arrive(*listener, "error=access_denied&state=s").status, 200);
    auto outcome = listener->WaitForCode(std::chrono::seconds(1));
    ASSERT_FALSE(outcome.has_value());
    EXPECT_EQ(outcome.error().code, ErrorCode::kRemoteRejected);
    EXPECT_NE(outcome.error().diagnostic.find("access_denied"), std::string::npos);
  }
  {
    auto listener = auth::RedirectListener::Start({}).value();
    listener->Expect("s");
    auto outcome = listener->WaitForCode(std::chrono::milliseconds(50));
    ASSERT_FALSE(outcome.has_value());
    EXPECT_EQ(outcome.error().code, ErrorCode::kCancelled);
  }
}

}  // namespace
}  // namespace fhirbridge::testing
