#pragma once

// One site: an organisation (or one environment of it) the runtime talks to, as described by its
// configuration bundle sites/<name>.toml. The bundle holds no secret: keys and client secrets are
// references ("file:/path" or "env:VAR") resolved only when a secret is needed.
//
// Every field below is a key of the bundle, written "section.key" in the comments; the bundle's
// reader (site_bundle.h) documents the file format, the environment overrides and the checks.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/time_window.h"

namespace fhirbridge::sites {

// Which kind of system the site is; production sites get stricter checks (https only, no
// plain-HTTP switch).
enum class Environment { kSandbox, kPreProduction, kProduction };

// How the runtime obtains tokens from the site.
enum class AuthMode {
  kBackendServices,  // client_credentials with a signed JWT assertion (no user)
  kEhrLaunch,        // SMART EHR launch: the EHR opens the app with iss and launch
  kStandalone,       // SMART standalone launch: the app starts the authorisation itself
};

struct SiteConfig {
  // The site's name: the bundle's file name without ".toml" ([a-z0-9][a-z0-9-]{0,62}). It names
  // the site in commands, logs, metrics and environment overrides.
  std::string name;
  // Where the bundle was read from.
  std::string source_path;

  // [site]
  std::string display_name;  // site.display_name: the organisation's name, for people
  Environment environment = Environment::kSandbox;  // site.environment (required)
  // site.base_url (required): the FHIR R4 base, absolute, ending without '/'
  // ("https://fhir.example.org/api/FHIR/R4").
  std::string base_url;
  std::string tenant_id;        // site.tenant_id: the vendor's tenant or instance identifier
  std::string organisation_id;  // site.organisation_id: the organisation's identifier (an OID)

  // [auth]
  AuthMode auth_mode = AuthMode::kBackendServices;  // auth.mode (required)
  std::string client_id;                            // auth.client_id (required)
  // auth.key: where the private signing key (backend services) is: "file:/path/key.pem",
  // "file:/path/key-ring-folder" or "env:VAR". Required for backend services.
  std::string key_reference;
  // auth.key_algorithm: "RS384" or "ES384"; empty: a key ring's current key's own algorithm, or
  // RS384 for a single PEM key.
  std::string key_algorithm;
  // auth.client_secret: a confidential client's secret, as a reference like auth.key; optional.
  std::string client_secret_reference;
  std::vector<std::string> scopes;  // auth.scopes: requested scopes, in order
  std::string redirect_uri;         // auth.redirect_uri: required for the two launch modes
  // auth.send_scope: whether backend-services token requests carry `scope` (Epic grants the
  // app's registered APIs and how it treats a sent scope varies); default true.
  bool send_scope = true;

  // [traffic] The client-side limits the traffic layer enforces for this site.
  double requests_per_second = 5;    // traffic.requests_per_second: steady rate; 0 means no limit
  std::uint32_t burst = 10;          // traffic.burst: requests allowed at once above the rate
  std::uint32_t max_concurrent = 4;  // traffic.max_concurrent: requests in flight at once
  std::chrono::milliseconds connect_timeout{10'000};  // traffic.connect_timeout_ms
  std::chrono::milliseconds request_timeout{60'000};  // traffic.request_timeout_ms
  std::chrono::milliseconds max_retry_time{300'000};  // traffic.max_retry_time_ms: retries stop
  bool allow_plain_http = false;  // traffic.allow_plain_http: http:// base URL (never production)
  std::string proxy;              // traffic.proxy: an HTTP(S) proxy URL; empty: none

  // [features] Read-only by default: nothing is written unless listed here.
  std::vector<std::string> writeback_types;  // features.writeback: resource types written back
  bool dry_run = false;  // features.dry_run: build writebacks and show them, never send them

  // [schedule] Times in UTC, with base::TimeWindow's syntax.
  std::vector<base::TimeWindow> maintenance_windows;  // schedule.maintenance_windows: no traffic
  std::vector<base::TimeWindow> read_only_windows;    // schedule.read_only_windows: no writes

  // [sync]
  std::vector<std::string> sync_resource_types;  // sync.resource_types: what sync fetches
  // sync.patient_cohort: whose data: "all" (default; system-level access), "group:<Group id>"
  // (Bulk Data Group export or the Group's members) or "file:<path>" (one Patient id a line).
  std::string patient_cohort = "all";

  // [runbook] Facts for the people who operate the site.
  std::string build_level;            // runbook.build_level: the vendor's version, "epic-2024-aug"
  std::vector<std::string> contacts;  // runbook.contacts: who to call, role and address
  std::vector<std::string> quirks;    // runbook.quirks: known behaviour to remember
  std::optional<std::chrono::year_month_day> go_live;  // runbook.go_live: a TOML date
  std::string notes;                                   // runbook.notes
};

std::string_view EnvironmentName(Environment environment);  // "sandbox", "pre-production", ...
std::string_view AuthModeName(AuthMode mode);  // "backend-services", "ehr-launch", "standalone"

}  // namespace fhirbridge::sites
