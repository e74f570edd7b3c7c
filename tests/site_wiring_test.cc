// The runtime by site name against the real sandbox on loopback: site bundles in a temporary
// sites/ folder point at sandbox tenants that require tokens; each feature reaches its site
// through one path (bundle -> site_auth token source -> SiteClient -> feature).
//  - smoke: narrowed registered scopes make the live capability matrix refuse a step, which is
//    skipped with the matrix's reason, while the rest passes with the backend-services token;
//  - sync: types and permissions from the bundle and the matrix (an ungranted type is planned
//    out with the missing scope as its reason), and the store equals the sandbox afterwards;
//  - seed: the bundle's backend-services token is what lets the seeder write;
//  - maintenance windows: interactive requests are refused naming the window's end, background
//    requests wait for it, and nothing reaches the site meanwhile.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth/key_ring.h"
#include "base/embedded_files.h"
#include "http/client.h"
#include "sandbox_test_server.h"
#include "sites/site_connection.h"
#include "sync/engine.h"
#include "sync/site_page_source.h"
#include "sync/site_sync.h"
#include "sync/store_sync_sink.h"
#include "sync_test_support.h"
#include "synth/seeder.h"
#include "verify/journey.h"
#include "verify/known_patients.h"
#include "verify/site_requester.h"
#include "verify/smoke_runner.h"

namespace fhirbridge::testing {
namespace {

using fhir::Json;

// The built-in tenants, with open-lab requiring a token like the others.
std::string TenantsRequiringTokens() {
  std::string text(base::EmbeddedFiles().at("sandbox/tenants.toml"));
  const std::string optional = "required = false";
  const std::size_t at = text.find(optional);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos) text.replace(at, optional.size(), "required = true");
  return text;
}

class SiteWiringTest : public ::testing::Test {
 protected:
  SiteWiringTest()
      : sandbox_(TenantsRequiringTokens()),
        folder_(std::filesystem::temp_directory_path() /
                ("fhirbridge-site-wiring-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_ / "sites");
    std::filesystem::create_directories(folder_ / "home");
    location_.folder = folder_ / "sites";
    location_.home = (folder_ / "home").string();
  }
  ~SiteWiringTest() override { std::filesystem::remove_all(folder_); }

  std::string Base(const std::string& tenant) const {
    return sandbox_.origin() + "/" + tenant + "/api/FHIR/R4";
  }

  // A key ring registered with `tenant` for `client_id` with `scopes`, and a backend-services
  // bundle named `site` for it.
  void BackendSite(const std::string& site, const std::string& tenant, const std::string& client_id,
                   const std::string& scopes, const std::string& extra = {}) {
    const auto keys = folder_ / ("keys-" + client_id);
    auto ring =
        auth::KeyRing::Create(keys, jose::Algorithm::kRS384, std::chrono::system_clock::now());
    ASSERT_TRUE(ring.has_value());
    auto response =
        client_.Send({"POST",
                      sandbox_.origin() + "/admin/tenants/" + tenant + "/apps",
                      {{"Content-Type", "application/json"}},
                      Json{{"client_id", client_id},
                           {"type", "confidential-asymmetric"},
                           {"scopes", scopes},
                           {"jwks", ring->PublicJwks(std::chrono::system_clock::now()).value()}}
                          .dump()});
    ASSERT_TRUE(response.has_value());
    ASSERT_LT(response->status, 300) << response->body;
    std::ofstream(folder_ / "sites" / (site + ".toml"))
        << "[site]\nenvironment = \"sandbox\"\nbase_url = \"" << Base(tenant)
        << "\"\n\n[auth]\nmode = \"backend-services\"\nclient_id = \"" << client_id
        << "\"\nkey = \"file:" << keys.string()
        << "\"\n\n[traffic]\nallow_plain_http = true\nrequests_per_second = 500\nburst = 100\n"
        << extra;
  }

  sites::OpenedSite Open(const std::string& site) {
    auto opened = sites::OpenSiteByName(location_, site, {});
    EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
    return opened ? std::move(*opened) : sites::OpenedSite{};
  }

  SandboxTestServer sandbox_;
  http::Client client_;
  const std::filesystem::path folder_;
  sites::SiteLocation location_;
};

TEST(SitePolicyTest, TheTrafficSectionBecomesTheSitePolicy) {
  sites::SiteConfig config;
  config.name = "alpine";
  config.base_url = "https://fhir.example.org/R4";
  config.requests_per_second = 3.5;
  config.burst = 7;
  config.connect_timeout = std::chrono::milliseconds(1500);
  config.request_timeout = std::chrono::milliseconds(25000);
  config.max_retry_time = std::chrono::milliseconds(90000);
  config.proxy = "http://proxy.example.org:3128";
  const traffic::SitePolicy policy = sites::PolicyFromSite(config);
  EXPECT_EQ(policy.site, "alpine");
  EXPECT_EQ(policy.base_url, config.base_url);
  EXPECT_DOUBLE_EQ(policy.throttle.requests_per_second, 3.5);
  EXPECT_DOUBLE_EQ(policy.throttle.burst, 7);
  EXPECT_EQ(policy.connect_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(policy.request_timeout, std::chrono::milliseconds(25000));
  EXPECT_EQ(policy.retry.max_total, std::chrono::milliseconds(90000));
  EXPECT_FALSE(policy.allow_plain_http);
  EXPECT_EQ(policy.proxy, config.proxy);
  EXPECT_TRUE(traffic::ValidateSitePolicy(policy).has_value());

  config.requests_per_second = 0;  // no limit
  config.allow_plain_http = true;
  const traffic::SitePolicy unlimited = sites::PolicyFromSite(config);
  EXPECT_DOUBLE_EQ(unlimited.throttle.requests_per_second, sites::kUnlimitedRate);
  EXPECT_TRUE(unlimited.allow_plain_http);
  EXPECT_TRUE(traffic::ValidateSitePolicy(unlimited).has_value());
}

TEST_F(SiteWiringTest, SmokeBySiteNameSkipsWhatTheLiveMatrixRefusesWithItsReason) {
  BackendSite("alpine", "alpine-health", "smoke-narrow",
              "system/Patient.rs system/Observation.rs system/Condition.rs "
              "system/MedicationRequest.rs system/MedicationStatement.rs system/Encounter.rs");
  sites::OpenedSite opened = Open("alpine");
  ASSERT_NE(opened.connection, nullptr);
  sites::SiteConnection& connection = *opened.connection;

  std::optional<base::Error> problem;
  verify::SmokeDependencies dependencies = verify::SiteSmokeDependencies(connection, &problem);
  ASSERT_FALSE(problem) << problem->ToString();
  ASSERT_NE(connection.capabilities(), nullptr);
  verify::SiteRequester requester(connection);
  dependencies.requester = &requester;
  verify::SmokeSite site;
  site.name = "alpine";
  site.fhir_base = connection.config().base_url;
  site.patients = *verify::SandboxBaselinePatients();
  const verify::SiteReport report = verify::RunSmoke(verify::DefaultJourney(), site, dependencies);

  const std::string expected_reason =
      connection.capabilities()->Check("AllergyIntolerance", auth::Interaction::kSearch).reason;
  ASSERT_NE(expected_reason.find("AllergyIntolerance"), std::string::npos) << expected_reason;
  std::size_t skipped = 0;
  for (const auto& step : report.steps) {
    if (step.name == "allergies") {
      ++skipped;
      EXPECT_EQ(step.outcome, verify::StepOutcome::kSkipped);
      EXPECT_EQ(step.skip_reason, expected_reason);
    } else {
      EXPECT_EQ(step.outcome, verify::StepOutcome::kPassed)
          << step.DisplayName() << ": " << (step.failures.empty() ? "" : step.failures.front());
    }
  }
  EXPECT_EQ(skipped, 3u) << "one allergies step per baseline patient";
  EXPECT_TRUE(report.Passed());
  // The token came from the bundle's backend-services registration.
  ASSERT_NE(connection.site_tokens(), nullptr);
  EXPECT_TRUE(connection.site_tokens()->Status().has_token);
}

TEST_F(SiteWiringTest, SyncBySiteNameMakesTheStoreEqualTheSandbox) {
  const std::string base = Base("open-lab");
  BackendSite("lab", "open-lab", "sync-backend",
              "system/Patient.rs system/Observation.rs system/Condition.rs",
              "\n[sync]\nresource_types = [\"Patient\", \"Observation\", \"Condition\", "
              "\"Encounter\"]\n");
  sites::OpenedSite opened = Open("lab");
  ASSERT_NE(opened.connection, nullptr);
  sites::SiteConnection& connection = *opened.connection;
  auto matrix = connection.LoadCapabilities();
  ASSERT_TRUE(matrix.has_value()) << matrix.error().ToString();
  auto inputs = sync::SitePlanInputs(connection);
  ASSERT_TRUE(inputs.has_value()) << inputs.error().ToString();
  EXPECT_EQ(inputs->types,
            (std::vector<std::string>{"Patient", "Observation", "Condition", "Encounter"}));
  const std::vector<sync::TypePlan> plan = sync::PlanSync(*inputs);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[3].strategy, sync::Strategy::kNone);
  EXPECT_NE(plan[3].reason.find(inputs->permissions.at("Encounter").reason), std::string::npos)
      << plan[3].reason;
  EXPECT_NE(plan[3].reason.find("Encounter"), std::string::npos) << plan[3].reason;

  const std::filesystem::path store = folder_ / "replica.db";
  auto sink = sync::StoreSyncSink::Open({store.string(), {}}, "lab");
  ASSERT_TRUE(sink.has_value()) << sink.error().ToString();
  sync::SitePageSource source(connection);
  sync::LogProgress progress;
  sync::SyncOptions options = sync::SiteSyncOptions(connection, inputs->patient_cohort);
  options.page_size = 50;
  sync::SyncEngine engine(source, **sink, progress, options);
  const std::vector<sync::TypePlan> granted(plan.begin(), plan.begin() + 3);
  const sync::SyncReport report = engine.Run(granted);
  for (const sync::TypeOutcome& outcome : report.types) {
    EXPECT_TRUE(outcome.succeeded)
        << outcome.type << ": " << (outcome.error ? outcome.error->ToString() : "");
  }
  ASSERT_TRUE(report.succeeded());
  EXPECT_GT(report.resources_received(), 0);
  EXPECT_GE(source.attempts(), source.calls());

  SyncState stored;
  auto rows = (*sink)->LiveRows();
  ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
  for (const auto& row : *rows) stored[{row.type, row.id}] = row.version;
  // The tenant requires a token, so the test's own reading uses the site's.
  auto token = connection.tokens()->AccessToken();
  ASSERT_TRUE(token.has_value()) << token.error().ToString();
  const SyncState expected = SandboxState(base, {"Patient", "Observation", "Condition"}, *token);
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(stored, expected) << DescribeDifference(stored, expected);
}

TEST_F(SiteWiringTest, SeedBySiteNameWritesWithTheBundlesToken) {
  BackendSite("lab", "open-lab", "seed-backend", "system/*.cruds");
  synth::SeedOptions options;
  options.synth.patients = 2;
  options.synth.seed = 11;

  // Without the bundle's token the tenant refuses the seeder outright.
  auto refused = synth::SeedFhirServer(options, Base("open-lab"), nullptr);
  EXPECT_TRUE(!refused.has_value() || refused->Created() == 0u);

  sites::OpenedSite opened = Open("lab");
  ASSERT_NE(opened.connection, nullptr);
  auto report = synth::SeedFhirServer(options, opened.connection->config().base_url,
                                      opened.connection->tokens());
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_GT(report->Created(), 0u);
  EXPECT_EQ(report->Failed(), 0u);
  EXPECT_TRUE(opened.connection->site_tokens()->Status().has_token);
}

TEST_F(SiteWiringTest, MaintenanceWindowsRefuseInteractiveAndHoldBackgroundRequests) {
  // A fixed window around a simulated "now"; the connection's clock and sleep are the test's.
  BackendSite("alpine", "alpine-health", "maintenance-backend", "system/Patient.rs",
              "\n[schedule]\nmaintenance_windows = [\"2026-05-01T10:00:00Z/2026-05-01T10:30:00Z\"]"
              "\n");
  auto loaded = sites::LoadSite(location_.folder, "alpine", {});
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  auth::DiscoveryCache discovery;
  base::SystemTime now = *base::ParseInstant("2026-05-01T10:20:00Z");
  std::vector<std::chrono::milliseconds> sleeps;
  sites::SiteConnectionOptions options;
  options.discovery = &discovery;
  options.now = [&now] { return now; };
  options.sleep = [&](std::chrono::milliseconds pause) {
    sleeps.push_back(pause);
    now += pause;
  };
  auto connection = sites::SiteConnection::Open(std::move(*loaded), options);
  ASSERT_TRUE(connection.has_value()) << connection.error().ToString();

  const std::size_t logged_before = sandbox_.Logs().size();
  traffic::SiteRequest request;
  request.target = "metadata";
  auto refused = (*connection)->Send(request, sites::MaintenanceMode::kRefuse);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kMaintenanceWindow);
  EXPECT_NE(refused.error().diagnostic.find("2026-05-01T10:30:00"), std::string::npos)
      << refused.error().diagnostic;
  auto capabilities = (*connection)->LoadCapabilities();
  ASSERT_FALSE(capabilities.has_value());
  EXPECT_EQ(capabilities.error().code, base::ErrorCode::kMaintenanceWindow);
  EXPECT_TRUE(sleeps.empty());
  EXPECT_EQ(sandbox_.Logs().size(), logged_before)
      << "nothing reached the site, not even a token request";

  sync::SitePageSource source(**connection);
  auto page = source.Get({(*connection)->config().base_url + "/metadata", {}});
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->status, 200);
  ASSERT_EQ(sleeps.size(), 1u);
  EXPECT_GE(now, *base::ParseInstant("2026-05-01T10:30:00Z")) << "sent after the window only";
  EXPECT_GT(sandbox_.Logs().size(), logged_before);

  // Outside the window an interactive request goes straight through.
  auto after = (*connection)->Send(request, sites::MaintenanceMode::kRefuse);
  ASSERT_TRUE(after.has_value()) << after.error().ToString();
  EXPECT_EQ(after->status(), 200);
}

}  // namespace
}  // namespace fhirbridge::testing
