#pragma once

// One way to a site: a loaded site bundle becomes the site's traffic policy, its token source
// (auth::SiteAuth: backend services, or the vault's grant for the launch modes), one
// traffic::SiteClient, and the capability matrix of what the site granted. Every runtime feature
// (smoke, sync, seed) reaches a site through a SiteConnection:
//
//   auto connection = sites::SiteConnection::Open(std::move(site), {.discovery = &cache, ...});
//   auto matrix = (*connection)->LoadCapabilities();      // token + /metadata, once
//   auto response = (*connection)->Send(request, sites::MaintenanceMode::kRefuse);
//
// What the bundle adds to the site client: traffic.max_concurrent (requests in flight at once,
// across every thread using the connection) and schedule.maintenance_windows (no request is sent
// while a window is open: interactive work is refused with kMaintenanceWindow naming when the
// window ends, background work waits for it to end).
//
// Thread safety: Send may be called from many threads; LoadCapabilities once, before sharing.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <semaphore>
#include <string>

#include "auth/capabilities.h"
#include "auth/site_auth.h"
#include "auth/token_source.h"
#include "base/clock.h"
#include "base/result.h"
#include "fhir/json_value.h"
#include "observe/metrics.h"
#include "sites/site_bundle.h"
#include "sites/site_config.h"
#include "traffic/site_client.h"

namespace fhirbridge::sites {

// A requests_per_second of 0 ("no limit") becomes this rate: the throttle needs a positive one.
inline constexpr double kUnlimitedRate = 1e6;

// The site's [traffic] section as the traffic layer's policy: rate and burst, connect and
// request timeouts, max_retry_time as the retries' time budget, allow_plain_http, proxy. The
// breaker and the throttle's adaptation keep the traffic layer's defaults. max_concurrent and
// the maintenance windows are enforced by SiteConnection, not by the policy.
traffic::SitePolicy PolicyFromSite(const SiteConfig& site);

// When the maintenance window open at `now` ends (the latest end when several overlap), or
// nothing when none is open.
std::optional<base::SystemTime> MaintenanceEnd(const SiteConfig& site, base::SystemTime now);

// What a request does while one of the site's maintenance windows is open.
enum class MaintenanceMode {
  kRefuse,  // interactive work: fail with kMaintenanceWindow naming when the window ends
  kWait,    // background work: sleep until the window ends, then send
};

struct SiteConnectionOptions {
  // Shared discovery results; must outlive the connection. Required by Open.
  auth::DiscoveryCache* discovery = nullptr;
  // The vault: required for the launch modes, optional for backend services (see SiteAuth).
  auth::TokenVault* vault = nullptr;
  std::string user = std::string(auth::kSystemUser);
  EnvironmentVariables environment;
  observe::MetricsRegistry* metrics = nullptr;  // null: the global registry
  // The time the maintenance windows are compared with; tests move it.
  std::function<base::SystemTime()> now = [] { return std::chrono::system_clock::now(); };
  // How a background request waits for a window's end; tests may shorten it.
  std::function<void(std::chrono::milliseconds)> sleep;
};

class SiteConnection {
 public:
  // A site by its bundle: SiteAuth's token source for the site's mode and a SiteClient with the
  // site's policy. kConfigInvalid (no discovery cache, a policy the traffic layer refuses),
  // kInsecureTransport, or SiteAuth::TokenSource's errors (kNotFound when a launch site has no
  // stored grant). No request is sent yet.
  static base::Result<std::unique_ptr<SiteConnection>> Open(LoadedSite site,
                                                            SiteConnectionOptions options);

  // A site without a bundle's authorisation, for ad-hoc use (--fhir-base): `tokens` may be null
  // (no Authorization header) and must outlive the connection. Same policy and gates.
  static base::Result<std::unique_ptr<SiteConnection>> WithTokens(SiteConfig config,
                                                                  auth::TokenSource* tokens,
                                                                  SiteConnectionOptions options);

  ~SiteConnection();

  const SiteConfig& config() const { return config_; }
  // The token source every request uses; null for a connection without authorisation.
  auth::TokenSource* tokens() const { return tokens_; }
  // The site's own token source (what it granted, when it lapses); null for WithTokens.
  auth::SiteTokenSource* site_tokens() const { return site_tokens_.get(); }
  auth::SiteAuth* site_auth() const { return auth_.get(); }
  traffic::SiteClient& client() { return *client_; }

  // Obtains a token (when the connection has authorisation) and reads {base}/metadata through
  // the site client, then builds the capability matrix from the scopes granted and the
  // statement. Launch and backend-services sites only; kConfigInvalid for WithTokens. Errors:
  // the token source's, kCapabilityUnavailable, kMaintenanceWindow.
  base::Result<const auth::CapabilityMatrix*> LoadCapabilities();
  const auth::CapabilityMatrix* capabilities() const { return capabilities_.get(); }
  // The CapabilityStatement LoadCapabilities read; null before.
  const fhir::Json* capability_statement() const { return statement_.get(); }

  // Sends through the site client after the maintenance gate and the concurrency limit.
  base::Result<traffic::SiteResponse> Send(const traffic::SiteRequest& request,
                                           MaintenanceMode mode);

  // Fails with kMaintenanceWindow ("until <instant>") when a window is open now.
  base::Status CheckMaintenance() const;

 private:
  SiteConnection(SiteConfig config, SiteConnectionOptions options);
  base::Status MakeClient();
  base::Status PassMaintenance(MaintenanceMode mode);

  const SiteConfig config_;
  SiteConnectionOptions options_;
  std::unique_ptr<auth::SiteAuth> auth_;
  std::unique_ptr<auth::SiteTokenSource> site_tokens_;
  auth::TokenSource* tokens_ = nullptr;
  std::unique_ptr<traffic::SiteClient> client_;
  std::counting_semaphore<> in_flight_;
  std::unique_ptr<fhir::Json> statement_;
  std::unique_ptr<auth::CapabilityMatrix> capabilities_;
};

// Where the CLI finds sites: the bundle folder (--sites, default "sites") and the runtime home
// (--home; see auth::ResolveRuntimeHome).
struct SiteLocation {
  std::filesystem::path folder = "sites";
  std::string home;  // empty: FHIRBRIDGE_HOME, else $HOME/.fhirbridge
  std::string user;  // the vault's user for launch sites; empty: the account running
};

// Everything Open needs for a site by name, owned together: the vault (opened when the site's
// mode needs it or a vault key exists), a discovery cache and the connection.
struct OpenedSite {
  std::unique_ptr<auth::TokenVault> vault;
  std::unique_ptr<auth::DiscoveryCache> discovery;
  std::unique_ptr<SiteConnection> connection;
};

// Loads `name` from `location` with the process's environment and opens its connection.
// kConfigNotFound / kConfigInvalid for the bundle, the vault's errors, then Open's.
base::Result<OpenedSite> OpenSiteByName(const SiteLocation& location, std::string_view name,
                                        const EnvironmentVariables& environment,
                                        observe::MetricsRegistry* metrics = nullptr);

}  // namespace fhirbridge::sites
