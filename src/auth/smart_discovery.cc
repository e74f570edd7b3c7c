#include "auth/smart_discovery.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "fhir/json_value.h"

namespace fhirbridge::auth {
namespace {

using base::ErrorCode;
using fhir::Json;

constexpr std::string_view kOAuthUrisExtension =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

std::string TrimSlash(std::string_view base) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return std::string(base);
}

bool IsAbsoluteHttpUrl(std::string_view url) {
  return url.starts_with("https://") || url.starts_with("http://");
}

// Resolves an endpoint the server gave against the FHIR base: absolute URLs stay, "/path" keeps
// the base's origin, anything else is relative to the base.
std::string Resolve(const std::string& base, std::string_view url) {
  if (IsAbsoluteHttpUrl(url)) return std::string(url);
  if (url.starts_with("/")) {
    const std::size_t scheme_end = base.find("://");
    const std::size_t path_start =
        scheme_end == std::string::npos ? std::string::npos : base.find('/', scheme_end + 3);
    return base.substr(0, path_start) + std::string(url);
  }
  return base + "/" + std::string(url);
}

std::optional<std::chrono::seconds> MaxAge(const http::ClientResponse& response) {
  const std::string* header = response.FindHeader("cache-control");
  if (header == nullptr) return std::nullopt;
  std::string lower = *header;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("no-store") != std::string::npos || lower.find("no-cache") != std::string::npos) {
    return std::chrono::seconds(0);
  }
  const std::size_t at = lower.find("max-age=");
  if (at == std::string::npos) return std::nullopt;
  std::int64_t seconds = 0;
  const char* begin = lower.data() + at + 8;
  const auto [end, error] = std::from_chars(begin, lower.data() + lower.size(), seconds);
  if (error != std::errc() || end == begin || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

std::vector<std::string> Strings(const Json& document, const char* name) {
  std::vector<std::string> values;
  const auto found = document.find(name);
  if (found == document.end() || !found->is_array()) return values;
  for (const Json& value : *found) {
    if (value.is_string()) values.push_back(value.get<std::string>());
  }
  return values;
}

// An optional endpoint member: "" when absent; a problem when present but not a string.
std::string Endpoint(const Json& document, const char* name, const std::string& base,
                     std::vector<std::string>& problems) {
  const auto found = document.find(name);
  if (found == document.end() || found->is_null()) return {};
  if (!found->is_string() || found->get<std::string>().empty()) {
    problems.push_back(std::string(name) + " is not a URL string");
    return {};
  }
  return Resolve(base, found->get<std::string>());
}

base::Result<http::ClientResponse> Fetch(http::Client& client, const std::string& url,
                                         const char* accept, const DiscoveryOptions& options) {
  http::ClientRequest request;
  request.url = url;
  request.timeout = options.timeout;
  request.headers.push_back({"Accept", accept});
  if (!options.epic_client_id.empty()) {
    request.headers.push_back({"Epic-Client-ID", options.epic_client_id});
  }
  return client.Send(request);
}

// Reads the well-known document; the problem text names what was wrong.
base::Result<DiscoveryResult> FromWellKnown(http::Client& client, const std::string& base,
                                            const DiscoveryOptions& options) {
  const std::string url = base + "/.well-known/smart-configuration";
  auto response = Fetch(client, url, "application/json", options);
  if (!response) return base::Fail(ErrorCode::kDiscoveryFailed, response.error().diagnostic);
  if (response->status != 200) {
    return base::Fail(ErrorCode::kDiscoveryFailed,
                      "answered HTTP " + std::to_string(response->status));
  }
  const Json document = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    return base::Fail(ErrorCode::kDiscoveryFailed, "the answer is not a JSON object");
  }

  std::vector<std::string> problems;
  SmartConfiguration configuration;
  configuration.fhir_base = base;
  configuration.source = SmartConfiguration::Source::kWellKnown;
  configuration.token_endpoint = Endpoint(document, "token_endpoint", base, problems);
  if (configuration.token_endpoint.empty() && problems.empty()) {
    problems.push_back("token_endpoint is missing");
  }
  configuration.authorization_endpoint =
      Endpoint(document, "authorization_endpoint", base, problems);
  configuration.introspection_endpoint =
      Endpoint(document, "introspection_endpoint", base, problems);
  configuration.revocation_endpoint = Endpoint(document, "revocation_endpoint", base, problems);
  configuration.registration_endpoint = Endpoint(document, "registration_endpoint", base, problems);
  configuration.jwks_uri = Endpoint(document, "jwks_uri", base, problems);
  if (const auto issuer = document.find("issuer");
      issuer != document.end() && issuer->is_string()) {
    configuration.issuer = issuer->get<std::string>();
  }
  if (!problems.empty()) {
    std::string joined;
    for (const std::string& problem : problems) joined += (joined.empty() ? "" : "; ") + problem;
    return base::Fail(ErrorCode::kDiscoveryFailed, joined);
  }

  for (const char* required :
       {"grant_types_supported", "capabilities", "code_challenge_methods_supported"}) {
    if (!document.contains(required)) configuration.missing_required.emplace_back(required);
  }
  configuration.grant_types_supported = Strings(document, "grant_types_supported");
  configuration.capabilities = Strings(document, "capabilities");
  configuration.code_challenge_methods_supported =
      Strings(document, "code_challenge_methods_supported");
  configuration.token_endpoint_auth_methods_supported =
      Strings(document, "token_endpoint_auth_methods_supported");
  configuration.token_endpoint_auth_signing_alg_values_supported =
      Strings(document, "token_endpoint_auth_signing_alg_values_supported");
  configuration.scopes_supported = Strings(document, "scopes_supported");
  return DiscoveryResult{std::move(configuration), MaxAge(*response)};
}

base::Result<DiscoveryResult> FromCapabilityStatement(http::Client& client, const std::string& base,
                                                      const DiscoveryOptions& options) {
  // Without an Accept header Epic answers XML.
  auto response = Fetch(client, base + "/metadata", "application/fhir+json", options);
  if (!response) return base::Fail(ErrorCode::kDiscoveryFailed, response.error().diagnostic);
  if (response->status != 200) {
    return base::Fail(ErrorCode::kDiscoveryFailed,
                      "answered HTTP " + std::to_string(response->status));
  }
  const Json document = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object() ||
      document.value("resourceType", "") != "CapabilityStatement") {
    return base::Fail(ErrorCode::kDiscoveryFailed, "the answer is not a JSON CapabilityStatement");
  }

  SmartConfiguration configuration;
  configuration.fhir_base = base;
  configuration.source = SmartConfiguration::Source::kCapabilityStatement;
  configuration.missing_required = {"grant_types_supported", "capabilities",
                                    "code_challenge_methods_supported"};
  bool found_extension = false;
  for (const Json& rest : document.value("rest", Json::array())) {
    if (!rest.is_object() || !rest.contains("security")) continue;
    const Json& security = rest["security"];
    if (!security.is_object()) continue;
    for (const Json& extension : security.value("extension", Json::array())) {
      if (!extension.is_object() || extension.value("url", "") != kOAuthUrisExtension) continue;
      found_extension = true;
      for (const Json& uri : extension.value("extension", Json::array())) {
        if (!uri.is_object() || !uri.contains("valueUri") || !uri["valueUri"].is_string()) {
          continue;
        }
        const std::string name = uri.value("url", "");
        const std::string value = Resolve(base, uri["valueUri"].get<std::string>());
        if (name == "token") configuration.token_endpoint = value;
        if (name == "authorize") configuration.authorization_endpoint = value;
        if (name == "introspect") configuration.introspection_endpoint = value;
        if (name == "revoke") configuration.revocation_endpoint = value;
        if (name == "register") configuration.registration_endpoint = value;
      }
    }
  }
  if (!found_extension) {
    return base::Fail(ErrorCode::kDiscoveryFailed, "rest.security has no oauth-uris extension (" +
                                                       std::string(kOAuthUrisExtension) + ")");
  }
  if (configuration.token_endpoint.empty()) {
    return base::Fail(ErrorCode::kDiscoveryFailed,
                      "the oauth-uris extension has no \"token\" valueUri");
  }
  return DiscoveryResult{std::move(configuration), MaxAge(*response)};
}

}  // namespace

bool SmartConfiguration::HasCapability(std::string_view capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

base::Status SmartConfiguration::CheckCanLaunch() const {
  if (authorization_endpoint.empty()) {
    return base::Fail(ErrorCode::kDiscoveryFailed,
                      "the server at " + fhir_base +
                          " names no authorization_endpoint, so it offers no app launch");
  }
  if (!code_challenge_methods_supported.empty() &&
      std::find(code_challenge_methods_supported.begin(), code_challenge_methods_supported.end(),
                "S256") == code_challenge_methods_supported.end()) {
    return base::Fail(ErrorCode::kDiscoveryFailed,
                      "code_challenge_methods_supported lacks S256, which PKCE here requires");
  }
  return {};
}

base::Result<DiscoveryResult> Discover(http::Client& client, std::string_view fhir_base,
                                       const DiscoveryOptions& options) {
  const std::string base = TrimSlash(fhir_base);
  if (!IsAbsoluteHttpUrl(base)) {
    return base::Fail(ErrorCode::kDiscoveryFailed, "the FHIR base must be an absolute http(s) URL",
                      "fhir_base");
  }
  auto well_known = FromWellKnown(client, base, options);
  if (well_known) return well_known;
  auto metadata = FromCapabilityStatement(client, base, options);
  if (metadata) return metadata;
  return base::Fail(ErrorCode::kDiscoveryFailed, "no SMART configuration for " + base +
                                                     ": .well-known/smart-configuration " +
                                                     well_known.error().diagnostic + "; metadata " +
                                                     metadata.error().diagnostic);
}

DiscoveryCache::DiscoveryCache(std::chrono::seconds default_ttl, std::chrono::seconds max_ttl,
                               Clock clock)
    : default_ttl_(default_ttl), max_ttl_(max_ttl), clock_(std::move(clock)) {}

base::Result<SmartConfiguration> DiscoveryCache::Get(http::Client& client,
                                                     const std::string& fhir_base,
                                                     const std::string& site_fingerprint,
                                                     const DiscoveryOptions& options) {
  const std::string key = TrimSlash(fhir_base);
  {
    std::lock_guard lock(mutex_);
    const auto found = entries_.find(key);
    if (found != entries_.end()) {
      if (found->second.fingerprint == site_fingerprint && clock_() < found->second.expires) {
        return found->second.configuration;
      }
      entries_.erase(found);
    }
    ++fetches_;
  }

  auto discovered = Discover(client, key, options);
  if (!discovered) return base::Fail(discovered.error());
  const std::chrono::seconds ttl = std::min(discovered->max_age.value_or(default_ttl_), max_ttl_);
  if (ttl.count() > 0) {
    std::lock_guard lock(mutex_);
    entries_[key] = Entry{site_fingerprint, discovered->configuration, clock_() + ttl};
  }
  return std::move(discovered->configuration);
}

void DiscoveryCache::Drop(const std::string& fhir_base) {
  std::lock_guard lock(mutex_);
  entries_.erase(TrimSlash(fhir_base));
}

std::size_t DiscoveryCache::fetches() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

}  // namespace fhirbridge::auth
