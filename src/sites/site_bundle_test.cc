#include "sites/site_bundle.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fhirbridge::sites {
namespace {

// The smallest valid bundle; bad inputs below change one thing in a copy of it.
constexpr std::string_view kMinimal = R"([site]
environment = "sandbox"
base_url = "https://fhir.example.org/api/FHIR/R4"

[auth]
mode = "backend-services"
client_id = "app-1"
key = "file:/keys/app.pem"
)";

std::vector<std::string> DiagnosticLines(const base::Error& error) {
  std::vector<std::string> lines;
  std::istringstream stream(error.diagnostic);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

base::Result<LoadedSite> Parse(std::string_view text, const EnvironmentVariables& environment = {},
                               std::string_view name = "clinic") {
  return ParseSiteBundle(text, "sites/clinic.toml", name, environment);
}

// A folder of its own under the test temporary directory, removed at the end.
class TempFolder {
 public:
  explicit TempFolder(std::string_view name)
      : path_(std::filesystem::path(::testing::TempDir()) /
              (std::string(name) + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path Write(std::string_view file, std::string_view text,
                              std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                             std::filesystem::perms::owner_write) {
    const auto file_path = path_ / file;
    std::ofstream(file_path) << text;
    std::filesystem::permissions(file_path, perms);
    return file_path;
  }

 private:
  std::filesystem::path path_;
};

TEST(SiteBundleTest, ExampleBundlesPassTheCheck) {
  const auto sites = LoadSites(std::filesystem::path(FHIRBRIDGE_SOURCE_DIR) / "sites" / "examples",
                               EnvironmentVariables{});
  ASSERT_TRUE(sites.has_value()) << sites.error().diagnostic;
  ASSERT_EQ(sites->size(), 2u);
  EXPECT_EQ((*sites)[0].config.name, "epic-sandbox");
  EXPECT_EQ((*sites)[1].config.environment, Environment::kProduction);
  EXPECT_EQ((*sites)[1].config.maintenance_windows.size(), 1u);
  ASSERT_TRUE((*sites)[1].config.go_live.has_value());
  EXPECT_EQ(*(*sites)[1].config.go_live,
            std::chrono::year_month_day(std::chrono::year(2026), std::chrono::month(3),
                                        std::chrono::day(1)));
}

TEST(SiteBundleTest, MinimalBundleGetsDocumentedDefaults) {
  const auto site = Parse(kMinimal);
  ASSERT_TRUE(site.has_value()) << site.error().diagnostic;
  const SiteConfig& config = site->config;
  EXPECT_EQ(config.name, "clinic");
  EXPECT_EQ(config.display_name, "clinic");
  EXPECT_EQ(config.auth_mode, AuthMode::kBackendServices);
  EXPECT_EQ(config.key_reference, "file:/keys/app.pem");
  EXPECT_TRUE(config.writeback_types.empty()) << "read-only by default";
  EXPECT_FALSE(config.allow_plain_http);
  EXPECT_EQ(config.patient_cohort, "all");
  EXPECT_EQ(site->fingerprint.size(), 64u);
  EXPECT_TRUE(site->overrides.empty());
}

TEST(SiteBundleTest, TrailingSlashOfTheBaseUrlIsDropped) {
  std::string text(kMinimal);
  text.replace(text.find("R4\""), 3, "R4/\"");
  const auto site = Parse(text);
  ASSERT_TRUE(site.has_value()) << site.error().diagnostic;
  EXPECT_EQ(site->config.base_url, "https://fhir.example.org/api/FHIR/R4");
}

struct MistakeCase {
  std::string name;
  std::string extra;            // appended to kMinimal (or replacing it when `whole` is set)
  std::string expected_prefix;  // "file:line:column: key"
  std::string expected_text;
  bool whole = false;
};

class SiteBundleMistakeTest : public testing::TestWithParam<MistakeCase> {};

TEST_P(SiteBundleMistakeTest, IsReportedWithLineAndKey) {
  const MistakeCase& input = GetParam();
  const std::string text = input.whole ? input.extra : std::string(kMinimal) + input.extra;
  const auto site = Parse(text);
  ASSERT_FALSE(site.has_value());
  EXPECT_EQ(site.error().code, base::ErrorCode::kConfigInvalid);
  const auto lines = DiagnosticLines(site.error());
  ASSERT_EQ(lines.size(), 1u) << site.error().diagnostic;
  EXPECT_TRUE(lines[0].starts_with(input.expected_prefix)) << lines[0];
  EXPECT_NE(lines[0].find(input.expected_text), std::string::npos) << lines[0];
}

std::vector<MistakeCase> MistakeCases() {
  return {
      {"UnknownSection", "[sites]\nx = 1\n", "sites/clinic.toml:9:2: sites", "unknown key"},
      {"UnknownKey", "[traffic]\nburst_size = 3\n", "sites/clinic.toml:10:1: traffic.burst_size",
       "unknown key; expected one of requests_per_second, burst"},
      {"WrongType", "[traffic]\nburst = \"10\"\n", "sites/clinic.toml:10:9: traffic.burst",
       "must be an integer, not a string"},
      {"OutOfRange", "[traffic]\nmax_concurrent = 0\n",
       "sites/clinic.toml:10:18: traffic.max_concurrent", "0 is out of range; expected 1 to 1000"},
      {"SectionNotATable", "features = 3\n" + std::string(kMinimal),
       "sites/clinic.toml:1:12: features", "must be a table ([features]), not an integer", true},
      {"SyntaxError", "[traffic\n", "sites/clinic.toml:9:9: toml", "expected ']'"},
      {"MissingRequiredKey",
       "[site]\nenvironment = \"sandbox\"\n[auth]\nmode = \"backend-services\"\nclient_id = "
       "\"a\"\nkey = \"env:K\"\n",
       "sites/clinic.toml:1:1: site.base_url", "is required", true},
      {"UnknownEnvironment",
       "[site]\nenvironment = \"prod\"\nbase_url = \"https://a.example.org\"\n[auth]\nmode = "
       "\"standalone\"\nclient_id = \"a\"\nredirect_uri = \"https://app.example.org/cb\"\n",
       "sites/clinic.toml:2:15: site.environment", "expected one of \"sandbox\"", true},
      {"LiteralKeyIsRefusedWithoutBeingRepeated",
       "[site]\nenvironment = \"sandbox\"\nbase_url = \"https://a.example.org\"\n[auth]\nmode = "
       "\"backend-services\"\nclient_id = \"a\"\nkey = \"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\"\n",
       "sites/clinic.toml:7:7: auth.key", "must be a reference", true},
      {"PlainHttpWithoutTheSwitch",
       "[site]\nenvironment = \"sandbox\"\nbase_url = \"http://127.0.0.1:8090/t/api/FHIR/R4\"\n"
       "[auth]\nmode = \"backend-services\"\nclient_id = \"a\"\nkey = \"env:K\"\n",
       "sites/clinic.toml:3:12: site.base_url", "allow_plain_http", true},
      {"PlainHttpSwitchInProduction",
       "[site]\nenvironment = \"production\"\nbase_url = \"https://a.example.org\"\n[auth]\nmode "
       "= \"backend-services\"\nclient_id = \"a\"\nkey = \"env:K\"\n[traffic]\nallow_plain_http "
       "= true\n",
       "sites/clinic.toml:9:20: traffic.allow_plain_http", "must not be true for a production",
       true},
      {"PatientScopeForBackendServices", "scopes = [\"patient/Observation.rs\"]\n",
       "sites/clinic.toml:9:11: auth.scopes[0]", "use system/ scopes"},
      {"MalformedScope", "scopes = [\"system/Observation.sr\"]\n",
       "sites/clinic.toml:9:11: auth.scopes[0]", "is not a valid SMART scope"},
      {"ScopeOnUnknownType", "scopes = [\"system/Observaton.rs\"]\n",
       "sites/clinic.toml:9:11: auth.scopes[0]", "\"Observaton\" is not a FHIR R4 resource type"},
      {"DuplicateScope", "scopes = [\"system/Patient.rs\", \"system/Patient.rs\"]\n",
       "sites/clinic.toml:9:32: auth.scopes[1]", "is listed twice"},
      {"RedirectForBackendServices", "redirect_uri = \"https://app.example.org/cb\"\n",
       "sites/clinic.toml:9:16: auth.redirect_uri", "only the ehr-launch and standalone modes"},
      {"EhrLaunchWithoutLaunchScope",
       "[site]\nenvironment = \"sandbox\"\nbase_url = \"https://a.example.org\"\n[auth]\nmode = "
       "\"ehr-launch\"\nclient_id = \"a\"\nredirect_uri = \"https://app.example.org/cb\"\nscopes "
       "= [\"patient/Patient.rs\"]\n",
       "sites/clinic.toml:8:10: auth.scopes", "must request the \"launch\" scope", true},
      {"LaunchWithoutRedirect",
       "[site]\nenvironment = \"sandbox\"\nbase_url = \"https://a.example.org\"\n[auth]\nmode = "
       "\"standalone\"\nclient_id = \"a\"\n",
       "sites/clinic.toml:4:1: auth.redirect_uri", "is required", true},
      {"ClientSecretForBackendServices", "client_secret = \"env:SECRET\"\n",
       "sites/clinic.toml:9:17: auth.client_secret", "remove the client secret"},
      {"MisspeltResourceType", "[features]\nwriteback = [\"observation\"]\n",
       "sites/clinic.toml:10:14: features.writeback[0]", "did you mean \"Observation\"?"},
      {"BadWindow", "[schedule]\nmaintenance_windows = [\"Sun 25:00-04:00\"]\n",
       "sites/clinic.toml:10:24: schedule.maintenance_windows[0]", "must be a time range"},
      {"DateAsString", "[runbook]\ngo_live = \"2026-03-01\"\n",
       "sites/clinic.toml:10:11: runbook.go_live", "no quotes"},
      {"BadCohort", "[sync]\npatient_cohort = \"everyone\"\n",
       "sites/clinic.toml:10:18: sync.patient_cohort", "must be \"all\", \"group:"},
      {"ProxyPasswordInTheFile", "[traffic]\nproxy = \"http://user:pw@proxy.example.org:3128\"\n",
       "sites/clinic.toml:10:9: traffic.proxy", "holds a password"},
      {"ClientIdWithSpace",
       "[site]\nenvironment = \"sandbox\"\nbase_url = \"https://a.example.org\"\n[auth]\nmode = "
       "\"backend-services\"\nclient_id = \"a b\"\nkey = \"env:K\"\n",
       "sites/clinic.toml:6:13: auth.client_id", "must not contain spaces", true},
  };
}

INSTANTIATE_TEST_SUITE_P(Mistakes, SiteBundleMistakeTest, testing::ValuesIn(MistakeCases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(SiteBundleTest, MissingSectionMeansEachRequiredKeyIsMissing) {
  const auto site =
      Parse("[site]\nenvironment = \"sandbox\"\nbase_url = \"https://a.example.org\"\n");
  ASSERT_FALSE(site.has_value());
  EXPECT_EQ(DiagnosticLines(site.error()),
            (std::vector<std::string>{"sites/clinic.toml:1:1: auth.mode: is required",
                                      "sites/clinic.toml:1:1: auth.client_id: is required",
                                      "sites/clinic.toml:1:1: auth.key: is required"}));
}

TEST(SiteBundleTest, LiteralSecretNeverAppearsInTheMessage) {
  std::string text(kMinimal);
  text.replace(text.find("file:/keys/app.pem"), 18, "s3cr3t-value-123");
  const auto site = Parse(text);
  ASSERT_FALSE(site.has_value());
  EXPECT_EQ(site.error().diagnostic.find("s3cr3t"), std::string::npos) << site.error().diagnostic;
}

TEST(SiteBundleTest, EveryMistakeIsReportedInFileOrder) {
  const std::string text = std::string(kMinimal) +
                           "[traffic]\nburst = -1\nunknown = 1\nrequests_per_second = \"x\"\n"
                           "[features]\nwriteback = [\"Patient\", \"Patient\"]\n";
  const auto site = Parse(text);
  ASSERT_FALSE(site.has_value());
  const auto lines = DiagnosticLines(site.error());
  ASSERT_EQ(lines.size(), 4u) << site.error().diagnostic;
  EXPECT_TRUE(lines[0].starts_with("sites/clinic.toml:10:9: traffic.burst")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("sites/clinic.toml:11:1: traffic.unknown")) << lines[1];
  EXPECT_TRUE(lines[2].starts_with("sites/clinic.toml:12:23: traffic.requests_per_second"))
      << lines[2];
  EXPECT_TRUE(lines[3].starts_with("sites/clinic.toml:14:25: features.writeback[1]")) << lines[3];
}

TEST(SiteBundleTest, InvalidFileNameIsReported) {
  const auto site = Parse(kMinimal, {}, "Clinic_One");
  ASSERT_FALSE(site.has_value());
  EXPECT_NE(site.error().diagnostic.find("(file name): \"Clinic_One\" is not a valid site name"),
            std::string::npos)
      << site.error().diagnostic;
}

TEST(SiteBundleTest, OverrideVariableNamesArePredictable) {
  EXPECT_EQ(OverrideVariableName("epic-sandbox", "auth.client_id"),
            "FHIRBRIDGE_SITE_EPIC_SANDBOX_AUTH_CLIENT_ID");
  EXPECT_EQ(OverrideVariableName("north2", "traffic.requests_per_second"),
            "FHIRBRIDGE_SITE_NORTH2_TRAFFIC_REQUESTS_PER_SECOND");
  EXPECT_EQ(SiteBundleKeys().size(), 32u);
}

TEST(SiteBundleTest, EnvironmentOverridesEveryKindOfValue) {
  EnvironmentVariables environment;
  environment.values = {
      {"FHIRBRIDGE_SITE_CLINIC_AUTH_CLIENT_ID", "from-env"},
      {"FHIRBRIDGE_SITE_CLINIC_TRAFFIC_BURST", "42"},
      {"FHIRBRIDGE_SITE_CLINIC_TRAFFIC_REQUESTS_PER_SECOND", "2.5"},
      {"FHIRBRIDGE_SITE_CLINIC_FEATURES_DRY_RUN", "true"},
      {"FHIRBRIDGE_SITE_CLINIC_FEATURES_WRITEBACK", "Observation, DocumentReference"},
      {"FHIRBRIDGE_SITE_CLINIC_AUTH_SCOPES", R"(["system/Patient.rs", "system/Observation.rs"])"},
      {"FHIRBRIDGE_SITE_CLINIC_RUNBOOK_GO_LIVE", "2027-01-15"},
      {"FHIRBRIDGE_SITE_CLINIC_SITE_ENVIRONMENT", "pre-production"},
      {"UNRELATED", "x"},
  };
  const auto site = Parse(kMinimal, environment);
  ASSERT_TRUE(site.has_value()) << site.error().diagnostic;
  const SiteConfig& config = site->config;
  EXPECT_EQ(config.client_id, "from-env");
  EXPECT_EQ(config.burst, 42u);
  EXPECT_DOUBLE_EQ(config.requests_per_second, 2.5);
  EXPECT_TRUE(config.dry_run);
  EXPECT_EQ(config.writeback_types, (std::vector<std::string>{"Observation", "DocumentReference"}));
  EXPECT_EQ(config.scopes,
            (std::vector<std::string>{"system/Patient.rs", "system/Observation.rs"}));
  ASSERT_TRUE(config.go_live.has_value());
  EXPECT_EQ(static_cast<int>(config.go_live->year()), 2027);
  EXPECT_EQ(config.environment, Environment::kPreProduction);
  EXPECT_EQ(site->overrides.size(), 8u);
  EXPECT_EQ(site->overrides.at("traffic.burst"), "FHIRBRIDGE_SITE_CLINIC_TRAFFIC_BURST");
}

TEST(SiteBundleTest, BadOverridesNameTheVariableNotTheValue) {
  EnvironmentVariables environment;
  environment.values = {
      {"FHIRBRIDGE_SITE_CLINIC_TRAFFIC_BURST", "lots-xyz"},
      {"FHIRBRIDGE_SITE_CLINIC_FEATURES_DRY_RUN", "yes-xyz"},
      {"FHIRBRIDGE_SITE_CLINIC_TRAFFIC_MAX_CONCURRENT", "0"},
      {"FHIRBRIDGE_SITE_CLINIC_AUTH_PASSWORD", "hunter2-xyz"},
  };
  const auto site = Parse(kMinimal, environment);
  ASSERT_FALSE(site.has_value());
  const auto lines = DiagnosticLines(site.error());
  ASSERT_EQ(lines.size(), 4u) << site.error().diagnostic;
  EXPECT_EQ(site.error().diagnostic.find("xyz"), std::string::npos) << site.error().diagnostic;
  const auto has = [&](std::string_view text) {
    return site.error().diagnostic.find(text) != std::string::npos;
  };
  EXPECT_TRUE(
      has("environment variable FHIRBRIDGE_SITE_CLINIC_TRAFFIC_BURST: traffic.burst: "
          "must be an integer"));
  EXPECT_TRUE(
      has("environment variable FHIRBRIDGE_SITE_CLINIC_FEATURES_DRY_RUN: "
          "features.dry_run: must be a boolean"));
  // A value that reads but is out of range is reported at the variable, not the file.
  EXPECT_TRUE(
      has("environment variable FHIRBRIDGE_SITE_CLINIC_TRAFFIC_MAX_CONCURRENT: "
          "traffic.max_concurrent: 0 is out of range"));
  EXPECT_TRUE(
      has("environment variable FHIRBRIDGE_SITE_CLINIC_AUTH_PASSWORD: (override): names "
          "no key of site \"clinic\""));
}

TEST(SiteBundleTest, OverridesOfASiblingSiteAreNotMistakes) {
  EnvironmentVariables environment;
  environment.values = {{"FHIRBRIDGE_SITE_CLINIC_EAST_AUTH_CLIENT_ID", "x"}};
  EXPECT_FALSE(Parse(kMinimal, environment).has_value()) << "alone, it looks like a typo";
  const auto site =
      ParseSiteBundle(kMinimal, "sites/clinic.toml", "clinic", environment, {"clinic-east"});
  EXPECT_TRUE(site.has_value()) << site.error().diagnostic;
}

TEST(SiteBundleTest, FingerprintChangesIffTheEffectiveConfigurationChanges) {
  const auto base = Parse(kMinimal);
  ASSERT_TRUE(base.has_value());

  // Layout, comments, key order and defaults written out leave it alone.
  const auto relaid = Parse(R"(# the clinic
[auth]
key = "file:/keys/app.pem"   # the signing key
client_id = "app-1"
mode = "backend-services"

[site]
base_url = "https://fhir.example.org/api/FHIR/R4/"
environment = "sandbox"

[traffic]
burst = 10
)");
  ASSERT_TRUE(relaid.has_value()) << relaid.error().diagnostic;
  EXPECT_EQ(base->fingerprint, relaid->fingerprint);

  // A changed value, in the file or from the environment, changes it.
  const auto changed = Parse(std::string(kMinimal) + "[traffic]\nburst = 11\n");
  ASSERT_TRUE(changed.has_value());
  EXPECT_NE(base->fingerprint, changed->fingerprint);
  EnvironmentVariables environment;
  environment.values = {{"FHIRBRIDGE_SITE_CLINIC_TRAFFIC_BURST", "11"}};
  const auto overridden = Parse(kMinimal, environment);
  ASSERT_TRUE(overridden.has_value());
  EXPECT_EQ(overridden->fingerprint, changed->fingerprint);
  environment.values = {{"FHIRBRIDGE_SITE_CLINIC_TRAFFIC_BURST", "10"}};
  EXPECT_EQ(Parse(kMinimal, environment)->fingerprint, base->fingerprint);
}

TEST(SiteBundleTest, ShowMasksPasswordsAndNamesOverrides) {
  EnvironmentVariables environment;
  environment.values = {
      {"FHIRBRIDGE_SITE_CLINIC_TRAFFIC_PROXY", "http://svc:pa55word@proxy.example.org:3128"}};
  const auto site = Parse(kMinimal, environment);
  ASSERT_TRUE(site.has_value()) << site.error().diagnostic;
  EXPECT_EQ(site->config.proxy, "http://svc:pa55word@proxy.example.org:3128");

  const fhir::Json json = SiteToJson(*site);
  EXPECT_EQ(json["traffic"]["proxy"], "http://svc:****@proxy.example.org:3128");
  EXPECT_EQ(json["overrides"]["traffic.proxy"], "FHIRBRIDGE_SITE_CLINIC_TRAFFIC_PROXY");
  EXPECT_EQ(json["fingerprint"], site->fingerprint);
  EXPECT_EQ(json.dump().find("pa55word"), std::string::npos);

  const std::string text = SiteToText(*site);
  EXPECT_EQ(text.find("pa55word"), std::string::npos) << text;
  EXPECT_NE(text.find("proxy = \"http://svc:****@proxy.example.org:3128\"    # from "
                      "FHIRBRIDGE_SITE_CLINIC_TRAFFIC_PROXY"),
            std::string::npos)
      << text;
}

TEST(SiteBundleTest, FolderLoadingReportsEveryFileAndFindsSitesByName) {
  TempFolder folder("site-folder");
  folder.Write("alpha.toml", kMinimal);
  folder.Write("beta.toml", std::string(kMinimal) + "[traffic]\nburst = 0\n");
  folder.Write("gamma.toml", std::string(kMinimal) + "[features]\ndry_run = 1\n");
  folder.Write("notes.txt", "not a bundle");

  const auto names = ListSiteNames(folder.path());
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, (std::vector<std::string>{"alpha", "beta", "gamma"}));

  const auto sites = LoadSites(folder.path(), {});
  ASSERT_FALSE(sites.has_value());
  const auto lines = DiagnosticLines(sites.error());
  ASSERT_EQ(lines.size(), 2u) << sites.error().diagnostic;
  EXPECT_NE(lines[0].find("beta.toml:10:9: traffic.burst"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("gamma.toml:10:11: features.dry_run"), std::string::npos) << lines[1];

  EXPECT_TRUE(LoadSite(folder.path(), "alpha", {}).has_value());
  const auto missing = LoadSite(folder.path(), "delta", {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, base::ErrorCode::kConfigNotFound);
  EXPECT_NE(missing.error().diagnostic.find("alpha, beta, gamma"), std::string::npos);

  TempFolder empty("site-folder-empty");
  EXPECT_EQ(ListSiteNames(empty.path()).error().code, base::ErrorCode::kConfigNotFound);
}

TEST(SecretReferenceTest, ReadsFileAndEnvironmentReferences) {
  const auto file = ParseSecretReference("file:/etc/keys/a.pem");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->kind, SecretReference::Kind::kFile);
  EXPECT_EQ(file->target, "/etc/keys/a.pem");
  const auto variable = ParseSecretReference("env:SITE_KEY");
  ASSERT_TRUE(variable.has_value());
  EXPECT_EQ(variable->kind, SecretReference::Kind::kEnvironment);
  for (const char* bad : {"file:", "env:", "env:1X", "env:A-B", "/etc/keys/a.pem", "secret"}) {
    EXPECT_FALSE(ParseSecretReference(bad).has_value()) << bad;
  }
}

TEST(SecretReferenceTest, ResolvesOnlyWhenAskedAndNeverQuotesTheSecret) {
  TempFolder folder("secret-reference");
  const auto key = folder.Write("key.pem", "PRIVATE-KEY-BYTES");
  const auto open_key =
      folder.Write("open.pem", "PRIVATE-KEY-BYTES",
                   std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                       std::filesystem::perms::group_read);
  EnvironmentVariables environment;
  environment.values = {{"SITE_KEY", "ENV-SECRET"}};

  auto from_file = ResolveSecret({SecretReference::Kind::kFile, key.string()}, environment);
  ASSERT_TRUE(from_file.has_value()) << from_file.error().diagnostic;
  EXPECT_EQ(from_file->reveal(), "PRIVATE-KEY-BYTES");
  auto from_environment =
      ResolveSecret({SecretReference::Kind::kEnvironment, "SITE_KEY"}, environment);
  ASSERT_TRUE(from_environment.has_value());
  EXPECT_EQ(from_environment->reveal(), "ENV-SECRET");

  const std::vector<std::pair<SecretReference, std::string>> failures = {
      {{SecretReference::Kind::kEnvironment, "UNSET_KEY"}, "env:UNSET_KEY"},
      {{SecretReference::Kind::kFile, (folder.path() / "missing.pem").string()}, "missing.pem"},
      {{SecretReference::Kind::kFile, open_key.string()}, "chmod 600"},
      {{SecretReference::Kind::kFile, folder.path().string()}, "is a folder"},
  };
  for (const auto& [reference, expected] : failures) {
    const auto resolved = ResolveSecret(reference, environment);
    ASSERT_FALSE(resolved.has_value()) << reference.target;
    EXPECT_EQ(resolved.error().code, base::ErrorCode::kSecretUnavailable);
    EXPECT_NE(resolved.error().diagnostic.find(expected), std::string::npos)
        << resolved.error().diagnostic;
    EXPECT_EQ(resolved.error().diagnostic.find("PRIVATE-KEY"), std::string::npos);
    // The check without reading agrees, except that a key ring folder is a valid target.
    const auto checked = CheckSecretAvailable(reference, environment);
    EXPECT_EQ(checked.has_value(), reference.target == folder.path().string()) << expected;
  }
  EXPECT_TRUE(CheckSecretAvailable({SecretReference::Kind::kFile, key.string()}, environment));
  EXPECT_TRUE(CheckSecretAvailable({SecretReference::Kind::kEnvironment, "SITE_KEY"}, environment));
}

TEST(SiteBundleTest, ShowSaysWhetherEachSecretCanBeFound) {
  std::string text(kMinimal);
  text.replace(text.find("file:/keys/app.pem"), 18, "env:CLINIC_KEY");
  const auto site = Parse(text);
  ASSERT_TRUE(site.has_value()) << site.error().diagnostic;

  const EnvironmentVariables unset;
  EXPECT_NE(SiteToText(*site, &unset)
                .find("key = \"env:CLINIC_KEY\"    # unavailable: the "
                      "environment variable CLINIC_KEY"),
            std::string::npos)
      << SiteToText(*site, &unset);
  EnvironmentVariables set;
  set.values = {{"CLINIC_KEY", "the-key-itself"}};
  const fhir::Json json = SiteToJson(*site, &set);
  EXPECT_EQ(json["secrets"]["auth.key"], "available");
  EXPECT_EQ(json.dump().find("the-key-itself"), std::string::npos);
  EXPECT_FALSE(SiteToJson(*site).contains("secrets"));
}

}  // namespace
}  // namespace fhirbridge::sites
