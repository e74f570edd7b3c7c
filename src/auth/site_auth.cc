#include "auth/site_auth.h"

#include <sys/stat.h>

#include <system_error>
#include <utility>

#include "auth/backend_services.h"
#include "auth/refreshing_token_source.h"
#include "base/secret.h"
#include "fhir/json.h"
#include "jose/jose.h"
#include "observe/log.h"
#include "smart/scopes.h"

namespace fhirbridge::auth {
namespace {

// A stored access token is reused only when at least this much of its life remains; otherwise
// the first request refreshes at once.
constexpr std::chrono::seconds kMinimumStoredLifetime{60};

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string joined;
  for (const auto& scope : scopes) joined += (joined.empty() ? "" : " ") + scope;
  return joined;
}

bool IsPlainHttp(std::string_view url) { return url.starts_with("http://"); }

void LogVaultFailure(const std::string& site, const base::Error& error) {
  observe::LogEvent event;
  event.level = observe::LogLevel::kError;
  event.event = "auth.vault_store_failed";
  event.subsystem = "auth";
  event.message =
      "A new token could not be stored in the vault; the next run must log in again if the "
      "refresh token was rotated. Check the vault file and its key.";
  event.site = site;
  event.error = error;
  observe::Log(event);
}

}  // namespace

base::Result<RuntimeHome> ResolveRuntimeHome(std::string_view flag,
                                             const sites::EnvironmentVariables& environment) {
  if (!flag.empty()) return RuntimeHome{std::filesystem::path(flag)};
  if (const std::string* home = environment.Find(kHomeVariable); home && !home->empty()) {
    return RuntimeHome{std::filesystem::path(*home)};
  }
  if (const std::string* user_home = environment.Find("HOME"); user_home && !user_home->empty()) {
    return RuntimeHome{std::filesystem::path(*user_home) / ".fhirbridge"};
  }
  return base::Fail(base::ErrorCode::kConfigNotFound,
                    "no runtime home: give --home or set FHIRBRIDGE_HOME (or HOME)");
}

std::string DefaultVaultUser(const sites::EnvironmentVariables& environment) {
  const std::string* account = environment.Find("USER");
  return account != nullptr && !account->empty() ? *account : "default";
}

bool HasVaultKey(const RuntimeHome& home, const sites::EnvironmentVariables& environment) {
  std::error_code error;
  if (std::filesystem::is_regular_file(home.key_path(), error)) return true;
  const std::string* value = environment.Find(kVaultKeyVariable);
  return value != nullptr && !value->empty();
}

base::Result<std::unique_ptr<TokenVault>> OpenHomeVault(
    const RuntimeHome& home, const sites::EnvironmentVariables& environment) {
  // Tokens are about to be in memory: no core file may hold them.
  if (auto disabled = base::DisableCoreDumps(); !disabled) return base::Fail(disabled.error());

  std::optional<std::filesystem::path> key_file;
  std::error_code error;
  if (std::filesystem::is_regular_file(home.key_path(), error)) key_file = home.key_path();
  std::optional<std::string_view> environment_key;
  if (const std::string* value = environment.Find(kVaultKeyVariable)) environment_key = *value;
  if (!key_file && !environment_key) {
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      "no vault key: neither " + home.key_path().string() + " nor " +
                          std::string(kVaultKeyVariable) +
                          " exists; create one with `fhirbridge vault init-key --home " +
                          home.folder.string() + "`");
  }
  auto key = LoadVaultKey(key_file, environment_key);
  if (!key) return base::Fail(key.error());

  if (!std::filesystem::exists(home.folder, error)) {
    std::filesystem::create_directories(home.folder, error);
    if (error) {
      return base::Fail(
          base::ErrorCode::kVaultUnreadable,
          "cannot create the runtime home " + home.folder.string() + ": " + error.message());
    }
    ::chmod(home.folder.c_str(), 0700);
  }
  return TokenVault::Open(home.vault_path(), std::move(*key));
}

base::Result<AssertionKeyProvider> SiteAssertionKeys(
    const sites::SiteConfig& site, const sites::EnvironmentVariables& environment) {
  if (site.key_reference.empty()) {
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "site " + site.name + " has no auth.key to sign backend-services assertions");
  }
  auto reference = sites::ParseSecretReference(site.key_reference);
  if (!reference) return base::Fail(reference.error());

  std::optional<jose::Algorithm> algorithm;
  if (!site.key_algorithm.empty()) {
    algorithm = jose::ParseAlgorithm(site.key_algorithm);
    if (!algorithm) {
      return base::Fail(base::ErrorCode::kConfigInvalid,
                        "site " + site.name + ": auth.key_algorithm is not RS384 or ES384");
    }
  }

  std::error_code error;
  if (reference->kind == sites::SecretReference::Kind::kFile &&
      std::filesystem::is_directory(reference->target, error)) {
    return KeyRingAssertionKeys(reference->target, algorithm);
  }

  // One PEM key: read at each assertion; its kid is the RFC 7638 thumbprint, which is what
  // `fhirbridge keys` would publish for it.
  const jose::Algorithm signing = algorithm.value_or(jose::Algorithm::kRS384);
  return AssertionKeyProvider([reference = *reference, environment, signing,
                               site_name = site.name]() -> base::Result<AssertionKey> {
    auto pem = sites::ResolveSecret(reference, environment);
    if (!pem) return base::Fail(pem.error());
    auto key = jose::PrivateKey::FromPem(pem->reveal());
    if (!key) {
      return base::Fail(base::ErrorCode::kSecretUnavailable,
                        "site " + site_name + ": auth.key is not a PEM private key");
    }
    if (!key->Fits(signing)) {
      return base::Fail(base::ErrorCode::kConfigInvalid,
                        "site " + site_name + ": auth.key cannot sign " +
                            std::string(jose::AlgorithmName(signing)) +
                            "; set auth.key_algorithm to match the key");
    }
    AssertionKey assertion_key;
    assertion_key.kid = key->Public().Thumbprint();
    assertion_key.algorithm = signing;
    assertion_key.key = std::make_shared<const jose::PrivateKey>(std::move(*key));
    return assertion_key;
  });
}

SiteTokenSource::SiteTokenSource(std::string site, std::string user, TokenVault* vault)
    : site_(std::move(site)), user_(std::move(user)), vault_(vault) {}

base::Result<std::string> SiteTokenSource::AccessToken() {
  auto token = renewing_->AccessToken();
  if (token && vault_ != nullptr) StoreCurrent(*token);
  return token;
}

void SiteTokenSource::Invalidate(std::string_view rejected) { renewing_->Invalidate(rejected); }

bool SiteTokenSource::reused_stored_token() const {
  return seeded_ && renewing_->Status().obtained == seeded_obtained_;
}

void SiteTokenSource::StoreRotated(const std::string& refresh_token) {
  std::lock_guard lock(store_mutex_);
  refresh_token_ = refresh_token;
  if (vault_ == nullptr) return;
  VaultRecord record;
  record.site = site_;
  record.user = user_;
  record.refresh_token = base::Secret(refresh_token);
  const auto now = std::chrono::system_clock::now();
  record.expires_at = now;  // no usable access token yet; StoreCurrent follows
  if (auto stored = vault_->Put(record, now); !stored) LogVaultFailure(site_, stored.error());
}

// Limitation: when another thread renews between AccessToken() and Status() here, the stored
// record pairs the older token with the newer expiry. That token was already replaced at the
// site, so a later run's first request gets 401 and renews (SendWithToken does); nothing is lost.
void SiteTokenSource::StoreCurrent(const std::string& access_token) {
  const TokenStatus status = renewing_->Status();
  std::lock_guard lock(store_mutex_);
  if (!status.has_token || status.obtained == stored_obtained_) return;
  VaultRecord record;
  record.site = site_;
  record.user = user_;
  record.access_token = base::Secret(access_token);
  record.refresh_token = base::Secret(refresh_token_);
  record.expires_at = status.expires;
  record.granted_scope = status.scope;
  record.patient = status.patient;
  if (auto stored = vault_->Put(record, std::chrono::system_clock::now()); !stored) {
    LogVaultFailure(site_, stored.error());
    return;
  }
  stored_obtained_ = status.obtained;
}

SiteAuth::SiteAuth(sites::LoadedSite site, SiteAuthOptions options)
    : site_(std::move(site)),
      options_(std::move(options)),
      user_(site_.config.auth_mode == sites::AuthMode::kBackendServices ? std::string(kSystemUser)
                                                                        : options_.user) {}

std::string SiteAuth::RequestedScope() const { return JoinScopes(site_.config.scopes); }

base::Result<SmartConfiguration> SiteAuth::Discover() {
  const sites::SiteConfig& config = site_.config;
  if (IsPlainHttp(config.base_url) && !config.allow_plain_http) {
    return base::Fail(base::ErrorCode::kInsecureTransport,
                      "site " + config.name +
                          ": site.base_url is plain http; set traffic.allow_plain_http (never "
                          "for production) or use https");
  }
  DiscoveryOptions discovery_options;
  discovery_options.epic_client_id = config.client_id;
  discovery_options.timeout = config.request_timeout;
  auto configuration =
      options_.discovery->Get(client_, config.base_url, site_.fingerprint, discovery_options);
  if (!configuration) return configuration;
  if (IsPlainHttp(configuration->token_endpoint) && !config.allow_plain_http) {
    return base::Fail(base::ErrorCode::kInsecureTransport,
                      "site " + config.name +
                          ": the discovered token endpoint is plain http; tokens would cross the "
                          "network in clear");
  }
  return configuration;
}

base::Result<ClientCredentials> SiteAuth::LaunchCredentials() const {
  ClientCredentials credentials;
  credentials.client_id = site_.config.client_id;
  if (site_.config.client_secret_reference.empty()) return credentials;
  auto reference = sites::ParseSecretReference(site_.config.client_secret_reference);
  if (!reference) return base::Fail(reference.error());
  auto secret = sites::ResolveSecret(*reference, options_.environment);
  if (!secret) return base::Fail(secret.error());
  // Limitation: the request code takes the secret as a std::string, which is not cleansed.
  credentials.method = ClientAuthMethod::kClientSecretBasic;
  credentials.client_secret = std::string(secret->reveal());
  return credentials;
}

base::Result<std::unique_ptr<SiteTokenSource>> SiteAuth::TokenSource() {
  const sites::SiteConfig& config = site_.config;
  if (config.auth_mode != sites::AuthMode::kBackendServices) {
    if (options_.vault == nullptr) {
      return base::Fail(base::ErrorCode::kConfigInvalid,
                        "site " + config.name +
                            " uses a launch; its grant lives in the vault, "
                            "and no vault is open");
    }
    auto stored = options_.vault->Get(config.name, user_);
    if (!stored) {
      if (stored.error().code != base::ErrorCode::kNotFound) return base::Fail(stored.error());
      return base::Fail(base::ErrorCode::kNotFound,
                        "the vault holds no grant for site " + config.name +
                            " and this user; log in first: fhirbridge auth login " + config.name);
    }
    if (stored->refresh_token.empty()) {
      return base::Fail(base::ErrorCode::kNotFound,
                        "the vault holds no refresh token for site " + config.name +
                            " and this user; log in again (with offline_access)");
    }
    TokenResponse initial;
    initial.refresh_token = std::string(stored->refresh_token.reveal());
    const auto remaining =
        std::chrono::duration_cast<std::chrono::seconds>(stored->expires_at - options_.clock());
    if (!stored->access_token.empty() && remaining >= kMinimumStoredLifetime) {
      initial.access_token = std::string(stored->access_token.reveal());
      initial.expires_in = remaining;
      initial.scope = stored->granted_scope;
      initial.scopes = SplitScopes(stored->granted_scope);
      initial.patient = stored->patient;
    }
    const bool seeded = !initial.access_token.empty();
    auto source = RefreshingSource(std::move(initial));
    if (source && seeded) {
      (*source)->seeded_ = true;
      (*source)->seeded_obtained_ = (*source)->renewing_->Status().obtained;
      (*source)->stored_obtained_ = (*source)->seeded_obtained_;
    }
    return source;
  }

  auto configuration = Discover();
  if (!configuration) return base::Fail(configuration.error());
  auto keys = SiteAssertionKeys(config, options_.environment);
  if (!keys) return base::Fail(keys.error());
  BackendServicesOptions backend;
  backend.client_id = config.client_id;
  backend.token_endpoint = configuration->token_endpoint;
  backend.scope = config.send_scope ? RequestedScope() : "";
  backend.assertion_keys = std::move(*keys);
  backend.request_timeout = config.request_timeout;
  std::unique_ptr<SiteTokenSource> source(new SiteTokenSource(config.name, user_, options_.vault));
  source->renewing_ =
      std::make_unique<BackendServicesTokenSource>(std::move(backend), options_.clock);
  return source;
}

base::Result<std::unique_ptr<SiteTokenSource>> SiteAuth::TokenSourceFromLogin(
    TokenResponse tokens) {
  if (site_.config.auth_mode == sites::AuthMode::kBackendServices) {
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "site " + site_.config.name + " uses backend services; there is no login");
  }
  if (options_.vault == nullptr) {
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "a login is kept in the vault, and no vault is open");
  }
  auto source = RefreshingSource(std::move(tokens));
  if (!source) return source;
  // Stores the grant now, refresh token included, before anything else can fail.
  auto token = (*source)->AccessToken();
  if (!token) return base::Fail(token.error());
  if ((*source)->Status().obtained != (*source)->stored_obtained_) {
    return base::Fail(base::ErrorCode::kVaultUnreadable,
                      "the login succeeded but the vault did not store it");
  }
  return source;
}

base::Result<std::unique_ptr<SiteTokenSource>> SiteAuth::RefreshingSource(TokenResponse initial) {
  auto configuration = Discover();
  if (!configuration) return base::Fail(configuration.error());
  auto credentials = LaunchCredentials();
  if (!credentials) return base::Fail(credentials.error());

  std::unique_ptr<SiteTokenSource> source(
      new SiteTokenSource(site_.config.name, user_, options_.vault));
  source->refresh_token_ = initial.refresh_token;
  RefreshOptions refresh;
  refresh.token_endpoint = configuration->token_endpoint;
  refresh.credentials = std::move(*credentials);
  refresh.request_timeout = site_.config.request_timeout;
  SiteTokenSource* raw = source.get();
  refresh.on_rotated = [raw](const std::string& refresh_token) {
    raw->StoreRotated(refresh_token);
  };
  auto renewing =
      RefreshingTokenSource::Create(std::move(refresh), std::move(initial), options_.clock);
  if (!renewing) return base::Fail(renewing.error());
  source->renewing_ = std::move(*renewing);
  return source;
}

base::Result<fhir::Json> SiteAuth::FetchCapabilityStatement() {
  const sites::SiteConfig& config = site_.config;
  http::ClientRequest request;
  request.url = config.base_url + "/metadata";
  // Without Accept, Epic answers /metadata in XML; Epic-Client-ID picks the client's endpoints.
  request.headers = {{"Accept", "application/fhir+json"}, {"Epic-Client-ID", config.client_id}};
  request.timeout = config.request_timeout;
  auto response = client_.Send(request);
  if (!response) return base::Fail(response.error());
  if (response->status != 200) {
    return base::Fail(
        base::ErrorCode::kCapabilityUnavailable,
        "the site answered " + std::to_string(response->status) + " to GET " + request.url);
  }
  auto parsed = fhir::ParseJson(response->body);
  if (!parsed) {
    return base::Fail(base::ErrorCode::kCapabilityUnavailable,
                      "the site's /metadata is not JSON: " + parsed.error().diagnostic);
  }
  return parsed;
}

base::Result<CapabilityMatrix> SiteAuth::Capabilities(const SiteTokenSource& source,
                                                      const fhir::Json* statement) const {
  const TokenStatus status = source.Status();
  if (!status.has_token) {
    return base::Fail(base::ErrorCode::kTokenRequestFailed,
                      "no token yet: the granted scopes are known once a token is obtained");
  }
  CapabilityOptions matrix_options;
  matrix_options.contexts =
      site_.config.auth_mode == sites::AuthMode::kBackendServices
          ? std::vector<smart::Context>{smart::Context::kSystem}
          : std::vector<smart::Context>{smart::Context::kPatient, smart::Context::kUser};
  matrix_options.extra_types = site_.config.sync_resource_types;
  return CapabilityMatrix::Build(smart::ParseScopes(JoinScopes(status.scopes)), statement,
                                 matrix_options);
}

}  // namespace fhirbridge::auth
