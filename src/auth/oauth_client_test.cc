#include "auth/oauth_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "auth/key_ring.h"
#include "auth/launch.h"

namespace fhirbridge::auth {
namespace {

std::filesystem::path FreshFolder(const std::string& name) {
  const auto folder = std::filesystem::temp_directory_path() /
                      ("fhirbridge-oauth-client-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(folder);
  return folder;
}

TEST(OAuthClientTest, FormEncodingEscapesEverythingButUnreservedCharacters) {
  EXPECT_EQ(FormEncode({{"scope", "system/Patient.rs launch"}, {"a&b", "c=d~_.-"}}),
            "scope=system%2FPatient.rs%20launch&a%26b=c%3Dd~_.-");
}

TEST(OAuthClientTest, ClientAssertionCarriesKidFreshJtiAndFiveMinuteExpiry) {
  const auto folder = FreshFolder("assertion");
  const auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(KeyRing::Create(folder, jose::Algorithm::kRS384, now).has_value());
  auto key = KeyRingAssertionKeys(folder)();
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(key->algorithm, jose::Algorithm::kRS384);

  std::set<std::string> jtis;
  for (int i = 0; i < 3; ++i) {
    auto assertion =
        SignClientAssertion("app", "https://ehr/token", *key, std::chrono::seconds(300), now);
    ASSERT_TRUE(assertion.has_value());
    auto decoded = jose::DecodeJwt(*assertion);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->header["alg"], "RS384");
    EXPECT_EQ(decoded->header["typ"], "JWT");
    EXPECT_EQ(decoded->header["kid"], key->kid);
    EXPECT_EQ(decoded->claims["iss"], "app");
    EXPECT_EQ(decoded->claims["sub"], "app");
    EXPECT_EQ(decoded->claims["aud"], "https://ehr/token");
    EXPECT_EQ(decoded->claims["exp"].get<long long>() - decoded->claims["iat"].get<long long>(),
              300);
    const std::string jti = decoded->claims["jti"];
    EXPECT_GE(jti.size(), 43u);
    jtis.insert(jti);
    EXPECT_TRUE(
        key->key->Public().Verify(decoded->algorithm, decoded->signing_input, decoded->signature));
  }
  EXPECT_EQ(jtis.size(), 3u);

  // An RSA key cannot sign ES384: the mistake is a configuration error naming the folder.
  auto wrong = KeyRingAssertionKeys(folder, jose::Algorithm::kES384)();
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, base::ErrorCode::kConfigInvalid);
  std::filesystem::remove_all(folder);
}

TEST(OAuthClientTest, PkceVerifiersAreLongRandomAndHashedWithS256) {
  auto first = MakePkce();
  auto second = MakePkce();
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_GE(first->verifier.size(), 43u);
  EXPECT_NE(first->verifier, second->verifier);
  EXPECT_EQ(first->challenge, S256Challenge(first->verifier));
  // Computed independently: base64url(sha256(verifier)) with Python's hashlib.
  EXPECT_EQ(S256Challenge("dBjftJeZ4CVP-mJ92K9qDRq4TQsVztQm8y-YGvfEjQ"),
            "wSw7bwJokBM5L6eENCDmBkg_lntVJpGbv1pZLXKS4QI");
}

TEST(OAuthClientTest, AuthorizeUrlCarriesAudStatePkceAndLaunch) {
  SmartConfiguration configuration;
  configuration.fhir_base = "https://ehr.example/fhir";
  configuration.token_endpoint = "https://ehr.example/token";
  configuration.authorization_endpoint = "https://ehr.example/authorize";
  auto request = PrepareAuthorization(
      configuration, {"app", "http://127.0.0.1:7/callback", "launch openid", "L-1"});
  ASSERT_TRUE(request.has_value()) << request.error().ToString();
  const std::string& url = request->authorize_url;
  for (const std::string& part : std::vector<std::string>{
           "https://ehr.example/authorize?response_type=code", "&client_id=app",
           "&redirect_uri=http%3A%2F%2F127.0.0.1%3A7%2Fcallback", "&scope=launch%20openid",
           "&aud=https%3A%2F%2Fehr.example%2Ffhir", "&code_challenge_method=S256", "&launch=L-1",
           "&state=" + request->state,
           "&code_challenge=" + S256Challenge(request->code_verifier)}) {
    EXPECT_NE(url.find(part), std::string::npos) << part << " in " << url;
  }
  EXPECT_EQ(url.find(request->code_verifier), std::string::npos);

  configuration.authorization_endpoint.clear();
  EXPECT_EQ(PrepareAuthorization(configuration, {"app", "http://127.0.0.1:7/cb", "openid", ""})
                .error()
                .code,
            base::ErrorCode::kDiscoveryFailed);
  configuration.authorization_endpoint = "https://ehr.example/authorize";
  configuration.code_challenge_methods_supported = {"plain"};
  EXPECT_FALSE(PrepareAuthorization(configuration, {"app", "http://127.0.0.1:7/cb", "openid", ""}));
}

}  // namespace
}  // namespace fhirbridge::auth
