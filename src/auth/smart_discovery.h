#pragma once

// SMART discovery: where a FHIR server's authorization endpoints are. First
// {base}/.well-known/smart-configuration; when that is missing or unusable, the
// CapabilityStatement at {base}/metadata (rest.security's oauth-uris extension, the route older
// Epic versions offer). Results are cached per site with a TTL.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "http/client.h"

namespace fhirbridge::auth {

struct SmartConfiguration {
  enum class Source { kWellKnown, kCapabilityStatement };

  std::string fhir_base;
  Source source = Source::kWellKnown;
  std::string token_endpoint;          // always present
  std::string authorization_endpoint;  // "" when the server offers no launch
  std::string introspection_endpoint;
  std::string revocation_endpoint;
  std::string registration_endpoint;
  std::string issuer;
  std::string jwks_uri;
  std::vector<std::string> grant_types_supported;
  std::vector<std::string> capabilities;
  std::vector<std::string> code_challenge_methods_supported;
  std::vector<std::string> token_endpoint_auth_methods_supported;
  std::vector<std::string> token_endpoint_auth_signing_alg_values_supported;
  std::vector<std::string> scopes_supported;
  // Members SMART requires that the document lacked. Tolerated, because Epic documents only the
  // endpoints and auth methods; shown by `fhirbridge auth discover`-style reports.
  std::vector<std::string> missing_required;

  bool HasCapability(std::string_view capability) const;
  // kDiscoveryFailed unless an authorization endpoint is known and, when the server lists its
  // PKCE methods, S256 is one of them.
  base::Status CheckCanLaunch() const;
};

struct DiscoveryOptions {
  // Epic may answer with per-client endpoints when it knows who asks (Epic-Client-ID header).
  std::string epic_client_id;
  std::chrono::milliseconds timeout{15000};
};

struct DiscoveryResult {
  SmartConfiguration configuration;
  // How long the answer may be cached: the response's Cache-Control max-age, or nullopt when it
  // said nothing; zero for no-store / no-cache.
  std::optional<std::chrono::seconds> max_age;
};

// Fetches and validates the configuration for `fhir_base` (no trailing slash needed). Relative
// endpoint URLs are resolved against the FHIR base. kDiscoveryFailed naming each route tried and
// what was wrong with it (HTTP status, not JSON, which member is missing or not a URL).
base::Result<DiscoveryResult> Discover(http::Client& client, std::string_view fhir_base,
                                       const DiscoveryOptions& options = {});

// A process-wide cache of discovery results, keyed by FHIR base. An entry lives for the
// server's max-age (default_ttl when it gives none), never longer than max_ttl, and is dropped
// at once when the site's configuration fingerprint changes (a bundle edit that may point the
// site elsewhere or change its client). Thread-safe; concurrent misses for one base may each
// fetch (discovery is cheap and idempotent).
class DiscoveryCache {
 public:
  using Clock = std::function<base::SystemTime()>;

  explicit DiscoveryCache(
      std::chrono::seconds default_ttl = std::chrono::hours(1),
      std::chrono::seconds max_ttl = std::chrono::hours(24),
      Clock clock = [] { return std::chrono::system_clock::now(); });

  base::Result<SmartConfiguration> Get(http::Client& client, const std::string& fhir_base,
                                       const std::string& site_fingerprint,
                                       const DiscoveryOptions& options = {});
  // Forgets `fhir_base` (e.g. after its token endpoint answered 404).
  void Drop(const std::string& fhir_base);
  std::size_t fetches() const;  // discovery requests made, for tests and metrics

 private:
  struct Entry {
    std::string fingerprint;
    SmartConfiguration configuration;
    base::SystemTime expires;
  };

  const std::chrono::seconds default_ttl_;
  const std::chrono::seconds max_ttl_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // guarded by mutex_
  std::size_t fetches_ = 0;               // guarded by mutex_
};

}  // namespace fhirbridge::auth
