#include "sites/site_connection.h"

#include <algorithm>
#include <limits>
#include <thread>
#include <utility>

#include "fhir/json.h"
#include "observe/log.h"

namespace fhirbridge::sites {
namespace {

// Releases one in-flight slot when the request is done, whatever the outcome.
class SlotRelease {
 public:
  explicit SlotRelease(std::counting_semaphore<>& slots) : slots_(slots) {}
  ~SlotRelease() { slots_.release(); }
  SlotRelease(const SlotRelease&) = delete;
  SlotRelease& operator=(const SlotRelease&) = delete;

 private:
  std::counting_semaphore<>& slots_;
};

std::ptrdiff_t SlotCount(const SiteConfig& config) {
  return static_cast<std::ptrdiff_t>(std::max<std::uint32_t>(config.max_concurrent, 1));
}

}  // namespace

traffic::SitePolicy PolicyFromSite(const SiteConfig& site) {
  traffic::SitePolicy policy;
  policy.site = site.name;
  policy.base_url = site.base_url;
  policy.throttle.requests_per_second =
      site.requests_per_second > 0 ? site.requests_per_second : kUnlimitedRate;
  policy.throttle.burst = site.requests_per_second > 0 ? static_cast<double>(site.burst) : 0;
  policy.connect_timeout = site.connect_timeout;
  policy.request_timeout = site.request_timeout;
  // The bundle bounds retries by time; attempts are bounded only so that a fast-failing site is
  // not hammered within that time.
  policy.retry.max_total = site.max_retry_time;
  policy.retry.max_attempts = 10;
  policy.allow_plain_http = site.allow_plain_http;
  policy.proxy = site.proxy;
  return policy;
}

std::optional<base::SystemTime> MaintenanceEnd(const SiteConfig& site, base::SystemTime now) {
  std::optional<base::SystemTime> end;
  for (const base::TimeWindow& window : site.maintenance_windows) {
    if (auto window_end = window.EndIfActive(now); window_end && (!end || *window_end > *end)) {
      end = window_end;
    }
  }
  return end;
}

SiteConnection::SiteConnection(SiteConfig config, SiteConnectionOptions options)
    : config_(std::move(config)), options_(std::move(options)), in_flight_(SlotCount(config_)) {
  if (!options_.sleep) {
    options_.sleep = [](std::chrono::milliseconds pause) { std::this_thread::sleep_for(pause); };
  }
}

SiteConnection::~SiteConnection() = default;

base::Status SiteConnection::MakeClient() {
  observe::MetricsRegistry& metrics =
      options_.metrics != nullptr ? *options_.metrics : observe::MetricsRegistry::Global();
  auto client = traffic::SiteClient::Create(PolicyFromSite(config_), tokens_, metrics);
  if (!client) {
    if (client.error().code == base::ErrorCode::kInsecureTransport)
      return base::Fail(client.error());
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "the site's [traffic] settings are not usable: " + client.error().diagnostic,
                      config_.name);
  }
  client_ = std::move(*client);
  return {};
}

base::Result<std::unique_ptr<SiteConnection>> SiteConnection::Open(LoadedSite site,
                                                                   SiteConnectionOptions options) {
  if (options.discovery == nullptr) {
    return base::Fail(base::ErrorCode::kConfigInvalid, "a site connection needs a discovery cache");
  }
  std::unique_ptr<SiteConnection> connection(new SiteConnection(site.config, options));
  auth::SiteAuthOptions auth_options;
  auth_options.discovery = options.discovery;
  auth_options.vault = options.vault;
  auth_options.user = options.user;
  auth_options.environment = options.environment;
  connection->auth_ = std::make_unique<auth::SiteAuth>(std::move(site), std::move(auth_options));
  auto source = connection->auth_->TokenSource();
  if (!source) return base::Fail(source.error());
  connection->site_tokens_ = std::move(*source);
  connection->tokens_ = connection->site_tokens_.get();
  if (auto made = connection->MakeClient(); !made) return base::Fail(made.error());
  return connection;
}

base::Result<std::unique_ptr<SiteConnection>> SiteConnection::WithTokens(
    SiteConfig config, auth::TokenSource* tokens, SiteConnectionOptions options) {
  std::unique_ptr<SiteConnection> connection(
      new SiteConnection(std::move(config), std::move(options)));
  connection->tokens_ = tokens;
  if (auto made = connection->MakeClient(); !made) return base::Fail(made.error());
  return connection;
}

base::Status SiteConnection::CheckMaintenance() const {
  if (auto end = MaintenanceEnd(config_, options_.now()); end) {
    return base::Fail(base::ErrorCode::kMaintenanceWindow,
                      "the site is in a maintenance window until " + base::FormatInstant(*end),
                      config_.name);
  }
  return {};
}

base::Status SiteConnection::PassMaintenance(MaintenanceMode mode) {
  // Windows may follow one another, so the check repeats after each wait.
  while (true) {
    const base::SystemTime now = options_.now();
    const auto end = MaintenanceEnd(config_, now);
    if (!end) return {};
    if (mode == MaintenanceMode::kRefuse) return CheckMaintenance();
    observe::LogEvent waiting;
    waiting.level = observe::LogLevel::kInfo;
    waiting.event = "site.maintenance_wait";
    waiting.subsystem = "sites";
    waiting.message = "Background work waits for the site's maintenance window to end.";
    waiting.site = config_.name;
    waiting.attributes.push_back({"until", observe::NonPhi{base::FormatInstant(*end)}});
    observe::Log(waiting);
    // A little past the end, so that the window is closed when the check repeats.
    options_.sleep(std::chrono::duration_cast<std::chrono::milliseconds>(*end - now) +
                   std::chrono::milliseconds(5));
  }
}

base::Result<traffic::SiteResponse> SiteConnection::Send(const traffic::SiteRequest& request,
                                                         MaintenanceMode mode) {
  if (auto open = PassMaintenance(mode); !open) return base::Fail(open.error());
  in_flight_.acquire();
  SlotRelease release(in_flight_);
  return client_->Send(request);
}

base::Result<const auth::CapabilityMatrix*> SiteConnection::LoadCapabilities() {
  if (auth_ == nullptr) {
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "the capability matrix needs a site bundle's authorisation", config_.name);
  }
  // Checked first, so that not even a token request reaches a site in maintenance.
  if (auto open = CheckMaintenance(); !open) return base::Fail(open.error());
  if (auto token = site_tokens_->AccessToken(); !token) return base::Fail(token.error());
  traffic::SiteRequest request;
  request.target = "metadata";
  auto response = Send(request, MaintenanceMode::kRefuse);
  if (!response) return base::Fail(response.error());
  if (response->status() != 200) {
    return base::Fail(
        base::ErrorCode::kCapabilityUnavailable,
        "the site answered " + std::to_string(response->status()) + " to GET metadata",
        config_.name);
  }
  auto statement = fhir::ParseJson(response->http.body);
  if (!statement) {
    return base::Fail(base::ErrorCode::kCapabilityUnavailable,
                      "the site's metadata is not JSON: " + statement.error().diagnostic,
                      config_.name);
  }
  statement_ = std::make_unique<fhir::Json>(std::move(*statement));
  auto matrix = auth_->Capabilities(*site_tokens_, statement_.get());
  if (!matrix) return base::Fail(matrix.error());
  capabilities_ = std::make_unique<auth::CapabilityMatrix>(std::move(*matrix));
  return capabilities_.get();
}

base::Result<OpenedSite> OpenSiteByName(const SiteLocation& location, std::string_view name,
                                        const EnvironmentVariables& environment,
                                        observe::MetricsRegistry* metrics) {
  auto site = LoadSite(location.folder, name, environment);
  if (!site) return base::Fail(site.error());
  auto home = auth::ResolveRuntimeHome(location.home, environment);
  OpenedSite opened;
  const bool launch = site->config.auth_mode != AuthMode::kBackendServices;
  if (launch && !home) return base::Fail(home.error());
  if (home && (launch || auth::HasVaultKey(*home, environment))) {
    auto vault = auth::OpenHomeVault(*home, environment);
    if (!vault) return base::Fail(vault.error());
    opened.vault = std::move(*vault);
  }
  opened.discovery = std::make_unique<auth::DiscoveryCache>();
  SiteConnectionOptions options;
  options.discovery = opened.discovery.get();
  options.vault = opened.vault.get();
  options.user = launch
                     ? (location.user.empty() ? auth::DefaultVaultUser(environment) : location.user)
                     : std::string(auth::kSystemUser);
  options.environment = environment;
  options.metrics = metrics;
  auto connection = SiteConnection::Open(std::move(*site), std::move(options));
  if (!connection) return base::Fail(connection.error());
  opened.connection = std::move(*connection);
  return opened;
}

}  // namespace fhirbridge::sites
