// The sandbox's SMART authorization server over real HTTP: discovery, backend services with a
// signed client assertion, a patient-context token from an auto-approved launch, enforcement on
// the FHIR API (401 and 403 with WWW-Authenticate), and simulated errors set through the admin
// API.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "jose/jose.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

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
const std::string kRedirect = "http://127.0.0.1:9/callback";
const std::string kVerifier = "interop-verifier-interop-verifier-interop-verifier-0123456789";

const jose::PrivateKey& Key() {
  static const jose::PrivateKey key = *jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  return key;
}

class SandboxAuthTest : public ::testing::Test {
 protected:
  SandboxAuthTest() : sandbox_(kConfig) {
    base_ = sandbox_.origin() + "/secure/api/FHIR/R4";
    token_url_ = sandbox_.origin() + "/secure/oauth2/token";
  }

  http::ClientResponse Send(http::ClientRequest request) {
    auto response = client_.Send(request);
    EXPECT_TRUE(response.has_value());
    return response ? *response : http::ClientResponse{};
  }

  http::ClientResponse Get(const std::string& url, const std::string& token = "") {
    http::ClientRequest request{"GET", url, {}, {}};
    if (!token.empty()) request.headers.push_back({"Authorization", "Bearer " + token});
    return Send(request);
  }

  http::ClientResponse AdminJson(const std::string& method, const std::string& path,
                                 const Json& body) {
    return Send(
        {method, sandbox_.origin() + path, {{"Content-Type", "application/json"}}, body.dump()});
  }

  void RegisterApps() {
    ASSERT_EQ(
        AdminJson("POST", "/admin/tenants/secure/apps",
                  {{"client_id", "backend"},
                   {"type", "confidential-asymmetric"},
                   {"scopes", "system/Patient.rs"},
                   {"jwks", {{"keys", {Key().Public().ToJwk("k1", jose::Algorithm::kRS384)}}}}})
            .status,
        201);
    ASSERT_EQ(AdminJson("POST", "/admin/tenants/secure/apps",
                        {{"client_id", "viewer"},
                         {"type", "public"},
                         {"scopes", "patient/Patient.rs patient/Observation.rs"},
                         {"redirect_uris", {kRedirect}}})
                  .status,
              201);
  }

  std::string BackendToken(const std::string& jti) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string assertion = *jose::SignJwt({{"iss", "backend"},
                                                  {"sub", "backend"},
                                                  {"aud", token_url_},
                                                  {"exp", now + 240},
                                                  {"jti", jti}},
                                                 Key(), jose::Algorithm::kRS384, {{"kid", "k1"}});
    const http::ClientResponse response =
        Send({"POST",
              token_url_,
              {{"Content-Type", "application/x-www-form-urlencoded"}},
              "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%"
              "3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
                  assertion});
    EXPECT_EQ(response.status, 200) << response.body;
    return Json::parse(response.body).value("access_token", "");
  }

  SandboxTestServer sandbox_;
  http::Client client_;
  std::string base_;
  std::string token_url_;
};

TEST_F(SandboxAuthTest, DiscoveryAndMetadataArePublicAndDescribeTheServer) {
  const http::ClientResponse discovery = Get(base_ + "/.well-known/smart-configuration");
  ASSERT_EQ(discovery.status, 200);
  const Json document = Json::parse(discovery.body);
  EXPECT_EQ(document["token_endpoint"], token_url_);
  EXPECT_EQ(document["code_challenge_methods_supported"], Json::array({"S256"}));
  for (const char* field : {"authorization_endpoint", "grant_types_supported", "capabilities",
                            "jwks_uri", "introspection_endpoint", "revocation_endpoint",
                            "token_endpoint_auth_signing_alg_values_supported"}) {
    EXPECT_TRUE(document.contains(field)) << field;
  }
  const http::ClientResponse metadata = Get(base_ + "/metadata");
  ASSERT_EQ(metadata.status, 200);
  const Json security = Json::parse(metadata.body)["rest"][0]["security"];
  EXPECT_EQ(security["extension"][0]["url"],
            "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris");
  bool token_listed = false;
  for (const Json& uri : security["extension"][0]["extension"]) {
    token_listed |= uri["url"] == "token" && uri["valueUri"] == token_url_;
  }
  EXPECT_TRUE(token_listed) << security.dump();
  EXPECT_EQ(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
  EXPECT_EQ(Get(sandbox_.origin() + "/secure/oauth2/jwks").status, 200);
}

TEST_F(SandboxAuthTest, FhirRequestsWithoutAValidTokenGet401WithAChallenge) {
  const http::ClientResponse missing = Get(base_ + "/Patient/" + std::string(kPatientId));
  EXPECT_EQ(missing.status, 401);
  ASSERT_NE(missing.FindHeader("www-authenticate"), nullptr);
  EXPECT_NE(missing.FindHeader("www-authenticate")->find("invalid_token"), std::string::npos);
  EXPECT_EQ(Json::parse(missing.body)["resourceType"], "OperationOutcome");
  EXPECT_EQ(Get(base_ + "/Patient/" + std::string(kPatientId), "forged").status, 401);
}

TEST_F(SandboxAuthTest, BackendTokensReadWithinTheirScopesAndGet403Beyond) {
  RegisterApps();
  const std::string token = BackendToken("b1");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(Get(base_ + "/Patient/" + std::string(kPatientId), token).status, 200);

  const http::ClientResponse beyond = Get(base_ + "/Observation/x", token);
  EXPECT_EQ(beyond.status, 403);
  ASSERT_NE(beyond.FindHeader("www-authenticate"), nullptr);
  EXPECT_NE(beyond.FindHeader("www-authenticate")->find("insufficient_scope"), std::string::npos);
  EXPECT_NE(beyond.FindHeader("www-authenticate")->find("system/Observation.r"), std::string::npos);

  // Simulated: the FHIR API rejects the tokens it issued.
  ASSERT_EQ(AdminJson("PUT", "/admin/tenants/secure/auth-errors", {{"reject_issued_tokens", true}})
                .status,
            200);
  EXPECT_EQ(Get(base_ + "/Patient/" + std::string(kPatientId), token).status, 401);
  EXPECT_EQ(AdminJson("PUT", "/admin/tenants/secure/auth-errors", {{"no_such_error", true}}).status,
            400);

  // Simulated: a slow token endpoint.
  ASSERT_EQ(AdminJson("PUT", "/admin/tenants/secure/auth-errors",
                      {{"reject_issued_tokens", false}, {"token_endpoint_delay_ms", 300}})
                .status,
            200);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(BackendToken("slow").empty());
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
  EXPECT_EQ(AdminJson("PUT", "/admin/tenants/secure/auth-errors", {{"token_endpoint_delay_ms", -1}})
                .status,
            400);
}

TEST_F(SandboxAuthTest, APatientTokenSeesOnlyItsPatient) {
  RegisterApps();
  ASSERT_EQ(AdminJson("PUT", "/admin/tenants/secure/auto-approve", {{"auto_approve", true}}).status,
            200);
  // The challenge for the verifier, computed with the same primitives the server uses.
  unsigned char digest[64];
  unsigned int length = 0;
  EVP_Digest(kVerifier.data(), kVerifier.size(), digest, &length, EVP_sha256(), nullptr);
  const std::string challenge =
      jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), length));

  const http::ClientResponse authorize =
      Get(sandbox_.origin() +
          "/secure/oauth2/authorize?response_type=code&client_id=viewer&"
          "redirect_uri=" +
          kRedirect + "&scope=launch%2Fpatient%20patient%2FPatient.rs&state=s&aud=" + base_ +
          "&code_challenge_method=S256&code_challenge=" + challenge);
  ASSERT_EQ(authorize.status, 302) << authorize.body;
  const std::string location = *authorize.FindHeader("location");
  const std::size_t at = location.find("code=");
  ASSERT_NE(at, std::string::npos) << location;
  const std::string code = location.substr(at + 5, location.find('&', at) - at - 5);

  const http::ClientResponse tokens =
      Send({"POST",
            token_url_,
            {{"Content-Type", "application/x-www-form-urlencoded"}},
            "grant_type=authorization_code&client_id=viewer&redirect_uri=" + kRedirect +
                "&code=" + code + "&code_verifier=" + kVerifier});
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  const Json body = Json::parse(tokens.body);
  EXPECT_EQ(body["patient"], kPatientId);
  const std::string token = body["access_token"];

  EXPECT_EQ(Get(base_ + "/Patient/" + std::string(kPatientId), token).status, 200);
  EXPECT_EQ(Get(base_ + "/Patient/" + std::string(kOtherPatientId), token).status, 403);
  const http::ClientResponse write =
      Send({"POST",
            base_ + "/Patient",
            {{"Authorization", "Bearer " + token}, {"Content-Type", "application/fhir+json"}},
            R"({"resourceType":"Patient"})"});
  EXPECT_EQ(write.status, 403) << "patient/Patient.rs does not allow create";
}

TEST_F(SandboxAuthTest, AppRegistrationMistakesAreReportedTogether) {
  const http::ClientResponse refused =
      AdminJson("POST", "/admin/tenants/secure/apps", {{"type", "public"}, {"client_secret", 3}});
  EXPECT_EQ(refused.status, 400);
  const std::string diagnostics = Json::parse(refused.body)["issue"][0]["diagnostics"];
  EXPECT_NE(diagnostics.find("client_id: required"), std::string::npos) << diagnostics;
  EXPECT_NE(diagnostics.find("redirect_uris"), std::string::npos) << diagnostics;
}

TEST_F(SandboxAuthTest, TokenEndpointErrorsAreOAuthShapedAndLogged) {
  const http::ClientResponse refused =
      Send({"POST", token_url_, {{"Content-Type", "application/json"}}, "{}"});
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(Json::parse(refused.body)["error"], "invalid_request");
  EXPECT_NE(sandbox_.Logs().find("\"error\":\"invalid_request\""), std::string::npos);
  EXPECT_EQ(Get(sandbox_.origin() + "/nobody/oauth2/token").status, 404);
}

}  // namespace
}  // namespace fhirbridge::testing
