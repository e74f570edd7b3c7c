#include "sandbox/auth_server.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "http/client.h"
#include "http/server.h"
#include "jose/jose.h"

namespace fhirbridge::sandbox {
namespace {

using fhir::Json;

const AuthUrls kUrls{"http://sandbox.test/alpine/api/FHIR/R4", "http://sandbox.test/alpine/oauth2"};
const std::string kTokenUrl = "http://sandbox.test/alpine/oauth2/token";
const std::string kRedirect = "http://127.0.0.1:9999/callback";
const std::string kVerifier = "a-verifier-that-is-long-enough-to-satisfy-pkce-rules-0123456789";

const jose::PrivateKey& BackendKey() {
  static const jose::PrivateKey key = *jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  return key;
}

std::string Challenge(const std::string& verifier) {
  // S256: base64url(SHA-256(verifier)); computed here with the JOSE helpers' neighbour, OpenSSL.
  unsigned char digest[64];
  unsigned int length = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest, &length, EVP_sha256(), nullptr);
  return jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

class AuthServerTest : public ::testing::Test {
 protected:
  AuthServerTest()
      : server_(
            "alpine",
            AuthSettings{std::chrono::seconds(3600), std::chrono::seconds(60),
                         std::chrono::hours(24), false, "patient-1", "practitioner-1"},
            [this](const std::string& url) -> base::Result<FetchedJwks> {
              ++fetches_;
              if (url != "https://keys.test/jwks") {
                return base::Fail(base::ErrorCode::kIoFailure, "unreachable");
              }
              return FetchedJwks{url_jwks_, std::chrono::seconds(600)};
            },
            [this] { return now_; }) {
    AppRegistration backend;
    backend.client_id = "backend-app";
    backend.type = ClientType::kConfidentialAsymmetric;
    backend.granted_scopes = "system/Patient.rs system/Observation.rs";
    backend.jwks =
        Json{{"keys", {BackendKey().Public().ToJwk("key-1", jose::Algorithm::kRS384)}}}.dump();
    server_.Register(backend);

    AppRegistration web;
    web.client_id = "web-app";
    web.type = ClientType::kPublic;
    web.redirect_uris = {kRedirect};
    web.granted_scopes = "patient/Patient.rs patient/Observation.rs";
    server_.Register(web);
  }

  Json Claims(const std::string& jti) const {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count();
    return {{"iss", "backend-app"}, {"sub", "backend-app"}, {"aud", kTokenUrl},
            {"exp", seconds + 240}, {"iat", seconds},       {"jti", jti}};
  }

  http::Response Token(const std::string& body) {
    http::Request request;
    request.method = "POST";
    request.headers = {{"content-type", "application/x-www-form-urlencoded"}};
    request.body = body;
    return server_.Handle(request, "token", kUrls);
  }

  http::Response BackendToken(const Json& claims, const Json& header = {{"kid", "key-1"}},
                              jose::Algorithm algorithm = jose::Algorithm::kRS384,
                              const jose::PrivateKey* key = nullptr) {
    const std::string assertion =
        *jose::SignJwt(claims, key != nullptr ? *key : BackendKey(), algorithm, header);
    return Token(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth"
        "%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
        assertion);
  }

  static std::string ErrorOf(const http::Response& response) {
    return Json::parse(response.body).value("error", "");
  }

  http::Response Authorize(const std::string& query) {
    http::Request request;
    request.method = "GET";
    request.query = query;
    return server_.Handle(request, "authorize", kUrls);
  }

  std::string AuthorizeQuery(const std::string& scope, const std::string& extra = "") const {
    return "response_type=code&client_id=web-app&redirect_uri=" + std::string(kRedirect) +
           "&scope=" + scope + "&state=xyz&aud=" + kUrls.fhir_base +
           "&code_challenge_method=S256&code_challenge=" + Challenge(kVerifier) + extra;
  }

  static std::string QueryValue(const std::string& location, const std::string& name) {
    const std::size_t at = location.find(name + "=");
    if (at == std::string::npos) return {};
    const std::size_t end = location.find('&', at);
    return location.substr(at + name.size() + 1, end == std::string::npos
                                                     ? std::string::npos
                                                     : end - at - name.size() - 1);
  }

  base::SystemTime now_ = std::chrono::system_clock::now();
  int fetches_ = 0;
  Json url_jwks_ = Json::object();
  AuthorizationServer server_;
};

TEST_F(AuthServerTest, BackendServicesGetABearerTokenWithTheRegisteredScopes) {
  const http::Response response = BackendToken(Claims("jti-1"));
  ASSERT_EQ(response.status, 200) << response.body;
  const Json body = Json::parse(response.body);
  EXPECT_EQ(body["token_type"], "bearer");
  EXPECT_EQ(body["expires_in"], 3600);
  EXPECT_EQ(body["scope"], "system/Patient.rs system/Observation.rs");
  EXPECT_FALSE(body.contains("refresh_token"));
  EXPECT_EQ(*response.FindHeader("Cache-Control"), "no-store");

  const std::string header = "Bearer " + body["access_token"].get<std::string>();
  auto grant = server_.Authenticate(&header);
  ASSERT_TRUE(grant.has_value());
  EXPECT_TRUE(grant->backend);
  EXPECT_EQ(grant->client_id, "backend-app");
}

TEST_F(AuthServerTest, ClientAssertionRulesAreEnforcedOneByOne) {
  struct Case {
    std::string name;
    std::function<Json(Json)> change;
  };
  const std::vector<Case> cases = {
      {"wrong aud",
       [](Json c) {
         c["aud"] = "http://elsewhere/token";
         return c;
       }},
      {"expired",
       [](Json c) {
         c["exp"] = c["iat"].get<std::int64_t>() - 10;
         return c;
       }},
      {"exp too far ahead",
       [](Json c) {
         c["exp"] = c["iat"].get<std::int64_t>() + 600;
         return c;
       }},
      {"iat in the future",
       [](Json c) {
         c["iat"] = c["iat"].get<std::int64_t>() + 120;
         return c;
       }},
      {"nbf in the future",
       [](Json c) {
         c["nbf"] = c["iat"].get<std::int64_t>() + 120;
         return c;
       }},
      {"iss differs from sub",
       [](Json c) {
         c["sub"] = "someone-else";
         return c;
       }},
      {"jti missing",
       [](Json c) {
         c.erase("jti");
         return c;
       }},
      {"jti too long",
       [](Json c) {
         c["jti"] = std::string(152, 'j');
         return c;
       }},
      {"jti not a string",
       [](Json c) {
         c["jti"] = 42;
         return c;
       }},
  };
  for (const Case& test_case : cases) {
    const http::Response response = BackendToken(test_case.change(Claims("jti-" + test_case.name)));
    EXPECT_EQ(response.status, 400) << test_case.name;
    EXPECT_EQ(ErrorOf(response), "invalid_client") << test_case.name << ": " << response.body;
  }
}

TEST_F(AuthServerTest, AJtiCannotBeReplayedWhileTheAssertionLives) {
  ASSERT_EQ(BackendToken(Claims("same-jti")).status, 200);
  const http::Response replay = BackendToken(Claims("same-jti"));
  EXPECT_EQ(replay.status, 400);
  EXPECT_NE(replay.body.find("already used"), std::string::npos);
}

TEST_F(AuthServerTest, RefusesAlgNoneHmacWrongKeysAndEcWithStaticKeys) {
  const std::string none = jose::Base64UrlEncode(R"({"alg":"none"})") + "." +
                           jose::Base64UrlEncode(Claims("n").dump()) + ".";
  EXPECT_EQ(ErrorOf(Token("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3A"
                          "params%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
                          none)),
            "invalid_client");

  const jose::PrivateKey other = *jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  EXPECT_EQ(ErrorOf(BackendToken(Claims("other-key"), {{"kid", "key-1"}}, jose::Algorithm::kRS384,
                                 &other)),
            "invalid_client");
  EXPECT_EQ(ErrorOf(BackendToken(Claims("unknown-kid"), {{"kid", "key-9"}})), "invalid_client");

  const jose::PrivateKey ec = *jose::PrivateKey::Generate(jose::Algorithm::kES384);
  const http::Response es =
      BackendToken(Claims("es"), {{"kid", "key-1"}}, jose::Algorithm::kES384, &ec);
  EXPECT_EQ(ErrorOf(es), "invalid_client");
  EXPECT_NE(es.body.find("JWK Set URL"), std::string::npos) << es.body;
}

TEST_F(AuthServerTest, JwkSetUrlIsCachedRefetchedOnAnUnknownKidAndCheckedAgainstJku) {
  const jose::PrivateKey first = *jose::PrivateKey::Generate(jose::Algorithm::kES384);
  AppRegistration app = *server_.FindApp("backend-app");
  app.jwks.clear();
  app.jwks_url = "https://keys.test/jwks";
  server_.Register(app);
  url_jwks_ = {{"keys", {first.Public().ToJwk("ec-1", jose::Algorithm::kES384)}}};

  ASSERT_EQ(BackendToken(Claims("u1"), {{"kid", "ec-1"}}, jose::Algorithm::kES384, &first).status,
            200);
  ASSERT_EQ(BackendToken(Claims("u2"), {{"kid", "ec-1"}}, jose::Algorithm::kES384, &first).status,
            200);
  EXPECT_EQ(fetches_, 1) << "the second request used the cache";

  // The client rotates: the new kid is unknown to the cache, so the set is fetched once more.
  const jose::PrivateKey second = *jose::PrivateKey::Generate(jose::Algorithm::kES384);
  url_jwks_ = {{"keys",
                {first.Public().ToJwk("ec-1", jose::Algorithm::kES384),
                 second.Public().ToJwk("ec-2", jose::Algorithm::kES384)}}};
  EXPECT_EQ(BackendToken(Claims("u3"), {{"kid", "ec-2"}}, jose::Algorithm::kES384, &second).status,
            200);
  EXPECT_EQ(fetches_, 2);

  EXPECT_EQ(
      ErrorOf(BackendToken(Claims("u4"), {{"kid", "ec-2"}, {"jku", "https://attacker.test/jwks"}},
                           jose::Algorithm::kES384, &second)),
      "invalid_client");
}

TEST_F(AuthServerTest, AnUnmappedClientGetsUnauthorizedClientUntilMapped) {
  ASSERT_TRUE(server_.SetMappedToUser("backend-app", false).has_value());
  EXPECT_EQ(ErrorOf(BackendToken(Claims("m1"))), "unauthorized_client");
  ASSERT_TRUE(server_.SetMappedToUser("backend-app", true).has_value());
  EXPECT_EQ(BackendToken(Claims("m2")).status, 200);
}

TEST_F(AuthServerTest, TheTokenEndpointRefusesWhatEpicRefuses) {
  http::Request json_body;
  json_body.method = "POST";
  json_body.headers = {{"content-type", "application/json"}};
  json_body.body = R"({"grant_type":"client_credentials"})";
  EXPECT_EQ(ErrorOf(server_.Handle(json_body, "token", kUrls)), "invalid_request");

  http::Request in_query;
  in_query.method = "POST";
  in_query.query = "grant_type=client_credentials";
  in_query.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  EXPECT_EQ(ErrorOf(server_.Handle(in_query, "token", kUrls)), "invalid_request");

  http::Request get;
  get.method = "GET";
  EXPECT_EQ(ErrorOf(server_.Handle(get, "token", kUrls)), "invalid_request");

  EXPECT_EQ(ErrorOf(Token("grant_type=password&client_id=web-app")), "unsupported_grant_type");
}

TEST_F(AuthServerTest, AuthorizeNeedsPkceS256AudAndARegisteredRedirect) {
  const http::Response plain =
      Authorize("response_type=code&client_id=web-app&redirect_uri=" + kRedirect +
                "&state=s1&aud=" + kUrls.fhir_base +
                "&code_challenge_method=plain&code_challenge=" + kVerifier);
  ASSERT_EQ(plain.status, 302);
  EXPECT_NE(plain.FindHeader("Location")->find("error=invalid_request"), std::string::npos);
  EXPECT_NE(plain.FindHeader("Location")->find("state=s1"), std::string::npos);

  std::string wrong_aud_query = AuthorizeQuery("openid");
  wrong_aud_query.replace(wrong_aud_query.find(kUrls.fhir_base), kUrls.fhir_base.size(),
                          "http://elsewhere.test/fhir");
  const http::Response wrong_aud = Authorize(wrong_aud_query);
  ASSERT_EQ(wrong_aud.status, 302);
  EXPECT_NE(wrong_aud.FindHeader("Location")->find("error=invalid_request"), std::string::npos);

  const http::Response bad_redirect =
      Authorize("response_type=code&client_id=web-app&redirect_uri=http://evil.test/cb");
  EXPECT_EQ(bad_redirect.status, 400) << "never redirect to an unregistered URI";
  EXPECT_EQ(Authorize("client_id=nobody").status, 400);
}

TEST_F(AuthServerTest, LoginPickerCodeExchangeRefreshAndIdTokenWork) {
  const http::Response login =
      Authorize(AuthorizeQuery("launch%2Fpatient%20openid%20fhirUser%20offline_access%20"
                               "patient%2FPatient.rs%20patient%2FCondition.rs"));
  ASSERT_EQ(login.status, 200);
  const std::string page = login.body;
  const std::size_t at = page.find("name=\"transaction\" value=\"");
  ASSERT_NE(at, std::string::npos);
  const std::string transaction = page.substr(at + 26, page.find('"', at + 26) - at - 26);

  http::Request form;
  form.method = "POST";
  form.body = "transaction=" + transaction + "&username=clinician&password=wrong";
  EXPECT_NE(server_.Handle(form, "authorize", kUrls).body.find("wrong password"),
            std::string::npos);
  form.body = "transaction=" + transaction + "&username=clinician&password=sandbox";
  const http::Response picker = server_.Handle(form, "authorize", kUrls);
  ASSERT_EQ(picker.status, 200);
  EXPECT_NE(picker.body.find("Choose a patient"), std::string::npos);
  form.body = "transaction=" + transaction + "&patient=patient-7";
  const http::Response redirect = server_.Handle(form, "authorize", kUrls);
  ASSERT_EQ(redirect.status, 302);
  const std::string location = *redirect.FindHeader("Location");
  EXPECT_EQ(QueryValue(location, "state"), "xyz");
  const std::string code = QueryValue(location, "code");
  ASSERT_FALSE(code.empty());

  const std::string exchange =
      "grant_type=authorization_code&client_id=web-app&redirect_uri=" + kRedirect + "&code=" + code;
  EXPECT_EQ(ErrorOf(Token(exchange + "&code_verifier=not-the-verifier")), "invalid_grant");
  const http::Response tokens = Token(exchange + "&code_verifier=" + kVerifier);
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  const Json body = Json::parse(tokens.body);
  EXPECT_EQ(body["patient"], "patient-7");
  EXPECT_EQ(body["scope"], "launch/patient openid fhirUser offline_access patient/Patient.rs")
      << "Condition was not granted to this app";
  ASSERT_TRUE(body.contains("refresh_token"));

  auto id_token = jose::DecodeJwt(body["id_token"].get<std::string>());
  ASSERT_TRUE(id_token.has_value());
  auto signing_keys = jose::ParseJwkSet(server_.Jwks());
  ASSERT_TRUE(signing_keys.has_value() && !signing_keys->empty());
  EXPECT_TRUE((*signing_keys)[0].key.Verify(id_token->algorithm, id_token->signing_input,
                                            id_token->signature));
  EXPECT_EQ(id_token->claims["fhirUser"], kUrls.fhir_base + "/Practitioner/practitioner-1");
  EXPECT_EQ(id_token->claims["aud"], "web-app");

  // Refresh rotates; reusing the old refresh token revokes the family.
  const std::string first_refresh = body["refresh_token"];
  const http::Response refreshed =
      Token("grant_type=refresh_token&client_id=web-app&refresh_token=" + first_refresh);
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  const std::string second_refresh = Json::parse(refreshed.body)["refresh_token"];
  EXPECT_NE(second_refresh, first_refresh);
  EXPECT_EQ(
      ErrorOf(Token("grant_type=refresh_token&client_id=web-app&refresh_token=" + first_refresh)),
      "invalid_grant");
  EXPECT_EQ(
      ErrorOf(Token("grant_type=refresh_token&client_id=web-app&refresh_token=" + second_refresh)),
      "invalid_grant")
      << "the family was revoked by the reuse";

  // Replaying the code fails and revokes the access token it gave.
  EXPECT_EQ(ErrorOf(Token(exchange + "&code_verifier=" + kVerifier)), "invalid_grant");
  const std::string header = "Bearer " + body["access_token"].get<std::string>();
  EXPECT_FALSE(server_.Authenticate(&header).has_value());
}

TEST_F(AuthServerTest, EhrLaunchCarriesPatientAndEncounterIntoTheToken) {
  server_.SetAutoApprove(true);
  const std::string launch = server_.CreateLaunch("patient-3", "encounter-9");
  const http::Response redirect =
      Authorize(AuthorizeQuery("launch%20patient%2FPatient.rs", "&launch=" + launch));
  ASSERT_EQ(redirect.status, 302);
  const std::string code = QueryValue(*redirect.FindHeader("Location"), "code");
  const http::Response tokens =
      Token("grant_type=authorization_code&client_id=web-app&redirect_uri=" + kRedirect +
            "&code=" + code + "&code_verifier=" + kVerifier);
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  const Json body = Json::parse(tokens.body);
  EXPECT_EQ(body["patient"], "patient-3");
  EXPECT_EQ(body["encounter"], "encounter-9");
  EXPECT_EQ(Authorize(AuthorizeQuery("launch", "&launch=" + launch))
                    .FindHeader("Location")
                    ->find("error=invalid_request") != std::string::npos,
            true)
      << "a launch id is single-use";
}

TEST_F(AuthServerTest, IntrospectionAndRevocation) {
  const std::string token = Json::parse(BackendToken(Claims("i1")).body)["access_token"];
  const auto authenticated_form = [&](const std::string& endpoint, const std::string& jti) {
    http::Request request;
    request.method = "POST";
    request.headers = {{"content-type", "application/x-www-form-urlencoded"}};
    request.body =
        "token=" + token +
        "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%"
        "3Ajwt-bearer&client_assertion=" +
        *jose::SignJwt(Claims(jti), BackendKey(), jose::Algorithm::kRS384, {{"kid", "key-1"}});
    return server_.Handle(request, endpoint, kUrls);
  };
  const Json active = Json::parse(authenticated_form("introspect", "i2").body);
  EXPECT_EQ(active["active"], true);
  EXPECT_EQ(active["client_id"], "backend-app");
  EXPECT_EQ(authenticated_form("revoke", "i3").status, 200);
  EXPECT_EQ(Json::parse(authenticated_form("introspect", "i4").body)["active"], false);

  http::Request anonymous;
  anonymous.method = "POST";
  anonymous.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  anonymous.body = "token=" + token;
  EXPECT_EQ(server_.Handle(anonymous, "introspect", kUrls).status, 401);
}

TEST_F(AuthServerTest, AuthenticateExplainsMissingExpiredAndSimulatedRejections) {
  EXPECT_EQ(server_.Authenticate(nullptr).error().code, base::ErrorCode::kUnauthenticated);
  const std::string basic = "Basic abc";
  EXPECT_FALSE(server_.Authenticate(&basic).has_value());

  const std::string header =
      "Bearer " + Json::parse(BackendToken(Claims("a1")).body)["access_token"].get<std::string>();
  ASSERT_TRUE(server_.Authenticate(&header).has_value());
  server_.SetSimulatedErrors(SimulatedAuthErrors{false, true, false, false, false});
  EXPECT_NE(server_.Authenticate(&header).error().diagnostic.find("simulated"), std::string::npos);
  server_.SetSimulatedErrors({});
  now_ += std::chrono::seconds(3601);
  EXPECT_NE(server_.Authenticate(&header).error().diagnostic.find("expired"), std::string::npos);
}

TEST_F(AuthServerTest, SimulatedEarlyExpiryAndUnavailableTokenEndpoint) {
  server_.SetSimulatedErrors(SimulatedAuthErrors{true, false, false, false, false});
  EXPECT_EQ(Json::parse(BackendToken(Claims("e1")).body)["expires_in"], 1);
  server_.SetSimulatedErrors(SimulatedAuthErrors{false, false, false, false, true});
  const http::Response unavailable = BackendToken(Claims("e2"));
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_NE(unavailable.FindHeader("Retry-After"), nullptr);
}

TEST(JwksFetchTest, HttpFetcherReadsTheSetAndItsCacheControl) {
  const Json jwks = {{"keys", {BackendKey().Public().ToJwk("k")}}};
  auto server = http::Server::Start(
      http::ServerOptions{},
      [&](const http::Request&) {
        http::Response response;
        response.SetHeader("Content-Type", "application/json");
        response.SetHeader("Cache-Control", "public, max-age=120");
        response.body = jwks.dump();
        return response;
      },
      [](const base::Error&) { return http::Response{}; });
  ASSERT_TRUE(server.has_value());
  auto fetched =
      HttpJwksFetcher()("http://127.0.0.1:" + std::to_string((*server)->port()) + "/jwks.json");
  ASSERT_TRUE(fetched.has_value()) << fetched.error().ToString();
  EXPECT_EQ(fetched->max_age, std::chrono::seconds(120));
  EXPECT_EQ(fetched->jwks["keys"][0]["kid"], "k");
}

}  // namespace
}  // namespace fhirbridge::sandbox
