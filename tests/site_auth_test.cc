// Authorisation by site name against the real sandbox on loopback: site bundles written into a
// temporary sites/ folder point at a sandbox tenant; backend services sign with a key ring folder
// or a single PEM key; narrowed registered scopes shape the capability matrix with reasons; a
// standalone launch is stored in a real vault file and a later run refreshes from it without a
// login; an edited bundle (new fingerprint) discovers again; no token appears in the logs.

#include "auth/site_auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "auth/authorized_request.h"
#include "auth/key_ring.h"
#include "auth/launch.h"
#include "auth/redirect_listener.h"
#include "http/client.h"
#include "sandbox_test_server.h"
#include "sites/site_bundle.h"

namespace fhirbridge::testing {
namespace {

using base::ErrorCode;
using fhir::Json;

constexpr std::string_view kConfig = R"([build_levels.open]
update_as_create = true
[build_levels.open.resources]
Patient = ["read", "search-type"]
Observation = ["read", "search-type"]
MedicationRequest = ["read", "search-type"]

[[tenants]]
name = "clinic"
build_level = "open"
[tenants.auth]
required = true
auto_approve = true
default_patient = "e86izff4laD1mVsXVTNHrrl3"
user_practitioner = "e0aBRM4-LQA2a3ObnQnNsKY3"
)";

constexpr std::string_view kPatientId = "e86izff4laD1mVsXVTNHrrl3";

class SiteAuthTest : public ::testing::Test {
 protected:
  SiteAuthTest()
      : sandbox_(kConfig),
        folder_(std::filesystem::temp_directory_path() /
                ("fhirbridge-site-auth-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name())),
        base_(sandbox_.origin() + "/clinic/api/FHIR/R4") {
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_ / "sites");
    home_.folder = folder_ / "home";
    std::filesystem::create_directories(home_.folder);
    EXPECT_TRUE(auth::CreateVaultKeyFile(home_.key_path()).has_value());
  }
  ~SiteAuthTest() override { std::filesystem::remove_all(folder_); }

  void Admin(const std::string& path, const Json& body) {
    auto response = client_.Send({"POST",
                                  sandbox_.origin() + "/admin/tenants/clinic/" + path,
                                  {{"Content-Type", "application/json"}},
                                  body.dump()});
    ASSERT_TRUE(response.has_value());
    EXPECT_LT(response->status, 300) << path << ": " << response->body;
  }

  void WriteBundle(const std::string& name, const std::string& auth_section,
                   const std::string& extra = {}) {
    std::ofstream(folder_ / "sites" / (name + ".toml"))
        << "[site]\nenvironment = \"sandbox\"\nbase_url = \"" << base_ << "\"\n\n[auth]\n"
        << auth_section << "\n[traffic]\nallow_plain_http = true\n"
        << extra;
  }

  sites::LoadedSite Load(const std::string& name) {
    auto site = sites::LoadSite(folder_ / "sites", name, {});
    EXPECT_TRUE(site.has_value()) << site.error().ToString();
    return std::move(*site);
  }

  std::unique_ptr<auth::TokenVault> OpenVault() {
    auto vault = auth::OpenHomeVault(home_, {});
    EXPECT_TRUE(vault.has_value()) << vault.error().ToString();
    return vault ? std::move(*vault) : nullptr;
  }

  // A key ring whose public keys are registered for `client_id` with `scopes`.
  std::filesystem::path RegisterBackend(const std::string& client_id, const std::string& scopes) {
    const auto keys = folder_ / ("keys-" + client_id);
    auto ring =
        auth::KeyRing::Create(keys, jose::Algorithm::kRS384, std::chrono::system_clock::now());
    EXPECT_TRUE(ring.has_value());
    Admin("apps", {{"client_id", client_id},
                   {"type", "confidential-asymmetric"},
                   {"scopes", scopes},
                   {"jwks", ring->PublicJwks(std::chrono::system_clock::now()).value()}});
    return keys;
  }

  auth::SiteAuthOptions Options(auth::TokenVault* vault) {
    auth::SiteAuthOptions options;
    options.discovery = &discovery_;
    options.vault = vault;
    options.user = "clinician-a";
    return options;
  }

  // The browser's part of a launch: the tenant approves at once (auto_approve) and redirects to
  // the listener.
  void FollowAuthorize(const std::string& authorize_url) {
    auto answer = client_.Send({"GET", authorize_url, {}, {}});
    ASSERT_TRUE(answer.has_value());
    ASSERT_EQ(answer->status, 302) << answer->body;
    const std::string* location = answer->FindHeader("location");
    ASSERT_NE(location, nullptr);
    auto landing = client_.Send({"GET", *location, {}, {}});
    ASSERT_TRUE(landing.has_value());
    EXPECT_EQ(landing->status, 200);
  }

  SandboxTestServer sandbox_;
  http::Client client_;
  const std::filesystem::path folder_;
  const std::string base_;
  auth::RuntimeHome home_;
  auth::DiscoveryCache discovery_;
};

TEST_F(SiteAuthTest, BackendServicesBySiteNameReadsAndStoresTheTokenInTheVault) {
  const auto keys = RegisterBackend("backend", "system/Patient.rs system/Observation.rs");
  WriteBundle("clinic", "mode = \"backend-services\"\nclient_id = \"backend\"\nkey = \"file:" +
                            keys.string() +
                            "\"\nscopes = [\"system/Patient.rs\", \"system/Observation.rs\"]\n");
  auto vault = OpenVault();
  ASSERT_NE(vault, nullptr);
  auth::SiteAuth site_auth(Load("clinic"), Options(vault.get()));
  EXPECT_EQ(site_auth.user(), "system");

  auto source = site_auth.TokenSource();
  ASSERT_TRUE(source.has_value()) << source.error().ToString();
  auto read = auth::SendWithToken(client_, **source,
                                  {"GET", base_ + "/Patient/" + std::string(kPatientId), {}, {}});
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(read->status, 200) << read->body;
  const auth::TokenStatus status = (*source)->Status();
  EXPECT_EQ(status.scopes,
            (std::vector<std::string>{"system/Patient.rs", "system/Observation.rs"}));
  EXPECT_FALSE((*source)->reused_stored_token());

  auto stored = vault->Get("clinic", "system");
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_EQ(stored->access_token.reveal(), (*source)->AccessToken().value());
  EXPECT_EQ(stored->granted_scope, "system/Patient.rs system/Observation.rs");
  // The vault keeps the expiry to the millisecond.
  EXPECT_LT(std::chrono::abs(stored->expires_at - status.expires), std::chrono::milliseconds(1));

  // Without a vault, backend services still work; nothing is stored.
  auth::SiteAuth without_vault(Load("clinic"), Options(nullptr));
  auto second = without_vault.TokenSource();
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE((*second)->AccessToken().has_value());

  // No token in any log line.
  const std::string logs = sandbox_.Logs();
  EXPECT_EQ(logs.find(stored->access_token.reveal()), std::string::npos);
}

TEST_F(SiteAuthTest, APemKeyReferenceSignsAndMustFitTheBundlesAlgorithm) {
  // The sandbox, like Epic, takes ES384 only from a JWK Set URL; a static key signs RS384.
  auto key = jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  ASSERT_TRUE(key.has_value());
  const auto pem_path = folder_ / "backend.pem";
  std::ofstream(pem_path) << key->ToPem().value();
  ::chmod(pem_path.c_str(), 0600);
  const std::string kid = key->Public().Thumbprint();
  Admin("apps",
        {{"client_id", "pem-backend"},
         {"type", "confidential-asymmetric"},
         {"scopes", "system/Patient.rs"},
         {"jwks", {{"keys", Json::array({key->Public().ToJwk(kid, jose::Algorithm::kRS384)})}}}});

  WriteBundle("pem", "mode = \"backend-services\"\nclient_id = \"pem-backend\"\nkey = \"file:" +
                         pem_path.string() +
                         "\"\nkey_algorithm = \"RS384\"\nscopes = [\"system/Patient.rs\"]\n");
  auth::SiteAuth site_auth(Load("pem"), Options(nullptr));
  auto source = site_auth.TokenSource();
  ASSERT_TRUE(source.has_value()) << source.error().ToString();
  auto token = (*source)->AccessToken();
  ASSERT_TRUE(token.has_value()) << token.error().ToString() << sandbox_.Logs();
  EXPECT_EQ((*source)->Status().scope, "system/Patient.rs");

  // The same key cannot sign ES384: the refusal names the setting, before any request.
  WriteBundle("pem-ec", "mode = \"backend-services\"\nclient_id = \"pem-backend\"\nkey = \"file:" +
                            pem_path.string() +
                            "\"\nkey_algorithm = \"ES384\"\nscopes = [\"system/Patient.rs\"]\n");
  auth::SiteAuth wrong(Load("pem-ec"), Options(nullptr));
  auto refused = wrong.TokenSource().value()->AccessToken();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kConfigInvalid);
  EXPECT_NE(refused.error().diagnostic.find("auth.key_algorithm"), std::string::npos);
  EXPECT_EQ(refused.error().ToString().find("PRIVATE KEY"), std::string::npos);
}

TEST_F(SiteAuthTest, NarrowedGrantedScopesRefuseMedicationRequestSearchNamingTheScope) {
  // The bundle asks for three types; the registration grants two.
  const auto keys = RegisterBackend("narrow", "system/Patient.rs system/Observation.rs");
  WriteBundle("narrow",
              "mode = \"backend-services\"\nclient_id = \"narrow\"\nkey = \"file:" + keys.string() +
                  "\"\nscopes = [\"system/Patient.rs\", \"system/Observation.rs\", "
                  "\"system/MedicationRequest.rs\"]\n");
  auth::SiteAuth site_auth(Load("narrow"), Options(nullptr));
  auto source = site_auth.TokenSource();
  ASSERT_TRUE(source.has_value());
  ASSERT_TRUE((*source)->AccessToken().has_value());
  auto statement = site_auth.FetchCapabilityStatement();
  ASSERT_TRUE(statement.has_value()) << statement.error().ToString();
  auto matrix = site_auth.Capabilities(**source, &*statement);
  ASSERT_TRUE(matrix.has_value()) << matrix.error().ToString();

  const auto search = matrix->Check("MedicationRequest", auth::Interaction::kSearch);
  EXPECT_FALSE(search.allowed);
  EXPECT_EQ(search.reason, "the site did not grant system/MedicationRequest.s");
  EXPECT_TRUE(matrix->Check("Patient", auth::Interaction::kSearch).allowed);
  EXPECT_TRUE(matrix->Check("Observation", auth::Interaction::kRead).allowed);
  // The CapabilityStatement bounds it too: the build level offers no create.
  EXPECT_FALSE(matrix->Check("Patient", auth::Interaction::kCreate).allowed);

  // Without a token there are no granted scopes to judge by.
  auth::SiteAuth fresh(Load("narrow"), Options(nullptr));
  auto unused = fresh.TokenSource();
  ASSERT_TRUE(unused.has_value());
  EXPECT_EQ(fresh.Capabilities(**unused, &*statement).error().code, ErrorCode::kTokenRequestFailed);
}

TEST_F(SiteAuthTest, StandaloneLaunchIsStoredAndALaterRunRefreshesFromTheVault) {
  auto listener = auth::RedirectListener::Start({});
  ASSERT_TRUE(listener.has_value());
  Admin("apps", {{"client_id", "viewer"},
                 {"type", "public"},
                 {"scopes", "patient/Patient.rs patient/Observation.rs"},
                 {"redirect_uris", {(*listener)->redirect_uri()}}});
  WriteBundle("viewer",
              "mode = \"standalone\"\nclient_id = \"viewer\"\nredirect_uri = \"" +
                  (*listener)->redirect_uri() +
                  "\"\nscopes = [\"launch/patient\", \"openid\", \"fhirUser\", "
                  "\"offline_access\", \"patient/Patient.rs\", \"patient/Observation.rs\"]\n");

  // The login, as `fhirbridge auth login viewer` does it.
  std::string first_refresh;
  std::string first_access;
  {
    auto vault = OpenVault();
    ASSERT_NE(vault, nullptr);
    auth::SiteAuth site_auth(Load("viewer"), Options(vault.get()));
    // Nothing stored yet: the refusal says to log in.
    auto none = site_auth.TokenSource();
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
    EXPECT_NE(none.error().diagnostic.find("fhirbridge auth login viewer"), std::string::npos);

    auto configuration = site_auth.Discover();
    ASSERT_TRUE(configuration.has_value()) << configuration.error().ToString();
    auto request = auth::PrepareAuthorization(
        *configuration,
        {"viewer", site_auth.site().config.redirect_uri, site_auth.RequestedScope(), ""});
    ASSERT_TRUE(request.has_value());
    (*listener)->Expect(request->state);
    FollowAuthorize(request->authorize_url);
    auto code = (*listener)->WaitForCode(std::chrono::seconds(5));
    ASSERT_TRUE(code.has_value()) << code.error().ToString();
    auto tokens = auth::ExchangeCode(client_, *configuration, *request, *code,
                                     site_auth.LaunchCredentials().value());
    ASSERT_TRUE(tokens.has_value()) << tokens.error().ToString();
    first_refresh = tokens->refresh_token;
    first_access = tokens->access_token;
    auto source = site_auth.TokenSourceFromLogin(std::move(*tokens));
    ASSERT_TRUE(source.has_value()) << source.error().ToString();

    auto stored = vault->Get("viewer", "clinician-a");
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->refresh_token.reveal(), first_refresh);
    EXPECT_EQ(stored->access_token.reveal(), first_access);
    EXPECT_EQ(stored->patient, kPatientId);
  }

  // A later run two hours on: the stored access token has lapsed, so the first request refreshes
  // with the stored refresh token; the rotated one replaces it in the vault.
  std::string second_access;
  {
    auto vault = OpenVault();
    ASSERT_NE(vault, nullptr);
    auth::DiscoveryCache discovery;
    auto options = Options(vault.get());
    options.discovery = &discovery;
    options.clock = [] { return std::chrono::system_clock::now() + std::chrono::hours(2); };
    auth::SiteAuth site_auth(Load("viewer"), std::move(options));
    auto source = site_auth.TokenSource();
    ASSERT_TRUE(source.has_value()) << source.error().ToString();
    auto token = (*source)->AccessToken();
    ASSERT_TRUE(token.has_value()) << token.error().ToString();
    second_access = *token;
    EXPECT_NE(second_access, first_access);
    EXPECT_FALSE((*source)->reused_stored_token());
    EXPECT_EQ((*source)->Status().token_requests, 1u);
    EXPECT_EQ((*source)->Status().patient, kPatientId);
    auto read = auth::SendWithToken(client_, **source,
                                    {"GET", base_ + "/Patient/" + std::string(kPatientId), {}, {}});
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->status, 200) << read->body;

    auto stored = vault->Get("viewer", "clinician-a");
    ASSERT_TRUE(stored.has_value());
    EXPECT_FALSE(stored->refresh_token.empty());
    EXPECT_NE(stored->refresh_token.reveal(), first_refresh);
    EXPECT_EQ(stored->access_token.reveal(), second_access);
  }

  // A run while the stored token is still valid reuses it without asking the site.
  {
    auto vault = OpenVault();
    ASSERT_NE(vault, nullptr);
    auth::SiteAuth site_auth(Load("viewer"), Options(vault.get()));
    auto source = site_auth.TokenSource();
    ASSERT_TRUE(source.has_value());
    EXPECT_EQ((*source)->AccessToken().value(), second_access);
    EXPECT_TRUE((*source)->reused_stored_token());
    EXPECT_EQ((*source)->Status().token_requests, 0u);
    auto matrix = site_auth.Capabilities(**source, nullptr);
    ASSERT_TRUE(matrix.has_value());
    EXPECT_TRUE(matrix->Check("Patient", auth::Interaction::kRead).allowed);
    EXPECT_EQ(matrix->Check("MedicationRequest", auth::Interaction::kSearch).reason,
              "the site did not grant patient/MedicationRequest.s");
  }

  // Another user of the same site has no grant.
  auto vault = OpenVault();
  auto other = Options(vault.get());
  other.user = "clinician-b";
  EXPECT_EQ(auth::SiteAuth(Load("viewer"), other).TokenSource().error().code, ErrorCode::kNotFound);

  const std::string logs = sandbox_.Logs();
  for (const std::string& secret : {first_refresh, first_access, second_access}) {
    EXPECT_EQ(logs.find(secret), std::string::npos);
  }
}

TEST_F(SiteAuthTest, AnEditedBundleDiscoversAgain) {
  const auto keys = RegisterBackend("backend", "system/Patient.rs");
  const std::string auth_section =
      "mode = \"backend-services\"\nclient_id = \"backend\"\nkey = " + std::string("\"file:") +
      keys.string() + "\"\n";
  WriteBundle("clinic", auth_section);
  const sites::LoadedSite original = Load("clinic");
  {
    auth::SiteAuth site_auth(Load("clinic"), Options(nullptr));
    ASSERT_TRUE(site_auth.Discover().has_value());
    ASSERT_TRUE(site_auth.Discover().has_value());
  }
  EXPECT_EQ(discovery_.fetches(), 1u);

  // Same base URL, another effective configuration: the cached entry is dropped.
  WriteBundle("clinic", auth_section, "burst = 3\n");
  const sites::LoadedSite edited = Load("clinic");
  ASSERT_NE(edited.fingerprint, original.fingerprint);
  auth::SiteAuth site_auth(Load("clinic"), Options(nullptr));
  ASSERT_TRUE(site_auth.Discover().has_value());
  EXPECT_EQ(discovery_.fetches(), 2u);
  ASSERT_TRUE(site_auth.Discover().has_value());
  EXPECT_EQ(discovery_.fetches(), 2u);
}

TEST_F(SiteAuthTest, PlainHttpNeedsTheBundlesPermissionAndLaunchesNeedAVault) {
  // The bundle reader refuses such a bundle; a configuration made in code is refused here too.
  WriteBundle("plain", "mode = \"backend-services\"\nclient_id = \"x\"\nkey = \"env:NO_KEY\"\n");
  sites::LoadedSite plain = Load("plain");
  plain.config.allow_plain_http = false;
  auth::SiteAuth site_auth(std::move(plain), Options(nullptr));
  auto refused = site_auth.Discover();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInsecureTransport);
  EXPECT_NE(refused.error().diagnostic.find("traffic.allow_plain_http"), std::string::npos);
  EXPECT_EQ(discovery_.fetches(), 0u);

  WriteBundle("viewer",
              "mode = \"standalone\"\nclient_id = \"viewer\"\nredirect_uri = "
              "\"http://127.0.0.1:9/callback\"\nscopes = [\"patient/Patient.rs\"]\n");
  auth::SiteAuth launch(Load("viewer"), Options(nullptr));
  EXPECT_EQ(launch.TokenSource().error().code, ErrorCode::kConfigInvalid);
}

TEST(RuntimeHomeTest, FlagThenVariableThenHomeFolder) {
  sites::EnvironmentVariables environment;
  EXPECT_EQ(auth::ResolveRuntimeHome("", environment).error().code, ErrorCode::kConfigNotFound);
  environment.values["HOME"] = "/home/someone";
  EXPECT_EQ(auth::ResolveRuntimeHome("", environment)->folder, "/home/someone/.fhirbridge");
  environment.values["FHIRBRIDGE_HOME"] = "/srv/fhirbridge";
  EXPECT_EQ(auth::ResolveRuntimeHome("", environment)->vault_path(), "/srv/fhirbridge/vault.db");
  EXPECT_EQ(auth::ResolveRuntimeHome("/tmp/h", environment)->key_path(), "/tmp/h/vault.key");

  // No key anywhere: the refusal says how to make one.
  const auto folder =
      std::filesystem::temp_directory_path() / ("fhirbridge-home-" + std::to_string(::getpid()));
  std::filesystem::remove_all(folder);
  const auth::RuntimeHome home{folder};
  EXPECT_FALSE(auth::HasVaultKey(home, {}));
  auto refused = auth::OpenHomeVault(home, {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kSecretUnavailable);
  EXPECT_NE(refused.error().diagnostic.find("vault init-key"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(home.vault_path()));
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace fhirbridge::testing
