#pragma once

// Authorisation for a site by its name: joins a site bundle (sites/site_bundle.h) to SMART
// discovery, the token sources, the token vault and the capability matrix.
//
//   auto site = sites::LoadSite("sites", "epic-sandbox", environment);
//   auth::SiteAuth auth(std::move(*site), {.discovery = &cache, .vault = vault.get()});
//   auto source = auth.TokenSource();           // backend services, or refresh from the vault
//   auto matrix = auth.Capabilities(**source);  // granted scopes x CapabilityStatement
//
// Backend services sign assertions with the bundle's auth.key: a key ring folder
// ("file:/path/folder", see key_ring.h) or one PEM private key ("file:/path/key.pem" or
// "env:VAR"), with auth.key_algorithm or the key's own algorithm. A vault is optional for them
// (a new token costs one request); when one is given, each new token is stored under the user
// "system". The launch modes need a vault: `fhirbridge auth login SITE` stores the grant, and
// every later run refreshes from the stored refresh token, storing each rotated refresh token and
// each new access token again under the site and user.
//
// The runtime home: where the vault lives. It is the folder given by --home, else the
// FHIRBRIDGE_HOME variable, else $HOME/.fhirbridge; it holds vault.db (the vault) and vault.key
// (its key, made by `fhirbridge vault init-key --home DIR`). Without vault.key, the key comes from
// FHIRBRIDGE_VAULT_KEY.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "auth/capabilities.h"
#include "auth/oauth_client.h"
#include "auth/renewing_token_source.h"
#include "auth/smart_discovery.h"
#include "auth/token_response.h"
#include "auth/token_source.h"
#include "auth/token_vault.h"
#include "base/clock.h"
#include "base/result.h"
#include "fhir/json_value.h"
#include "http/client.h"
#include "sites/site_bundle.h"

namespace fhirbridge::auth {

inline constexpr std::string_view kHomeVariable = "FHIRBRIDGE_HOME";
// The vault's user for backend services, where no person is involved.
inline constexpr std::string_view kSystemUser = "system";

struct RuntimeHome {
  std::filesystem::path folder;

  std::filesystem::path vault_path() const { return folder / "vault.db"; }
  std::filesystem::path key_path() const { return folder / "vault.key"; }
};

// The home from `flag` when not empty, else FHIRBRIDGE_HOME, else $HOME/.fhirbridge.
// kConfigNotFound when none of the three is set.
base::Result<RuntimeHome> ResolveRuntimeHome(std::string_view flag,
                                             const sites::EnvironmentVariables& environment);

// The vault's user for launches when none is named: the account running the process (USER), or
// "default".
std::string DefaultVaultUser(const sites::EnvironmentVariables& environment);

// Whether a vault key can be had for `home` (vault.key exists, or FHIRBRIDGE_VAULT_KEY is set),
// checked without reading it.
bool HasVaultKey(const RuntimeHome& home, const sites::EnvironmentVariables& environment);

// Disables core dumps (base::DisableCoreDumps), then opens (creating it when missing, with the
// home folder, mode 0700) the home's vault with its key. kSecretUnavailable naming both places
// when there is no key; as TokenVault::Open otherwise.
base::Result<std::unique_ptr<TokenVault>> OpenHomeVault(
    const RuntimeHome& home, const sites::EnvironmentVariables& environment);

// The assertion keys of a backend-services site: kConfigInvalid when auth.key is missing or not a
// reference; the provider reads the key at each call (so a rotation takes effect at once) and
// fails with kSecretUnavailable when it cannot be read, or kConfigInvalid when it does not fit
// auth.key_algorithm.
base::Result<AssertionKeyProvider> SiteAssertionKeys(
    const sites::SiteConfig& site, const sites::EnvironmentVariables& environment);

// A site's token source: the backend-services or refreshing source underneath, plus storage of
// every new token in the vault (when one is given). Thread-safe like every TokenSource.
class SiteTokenSource final : public TokenSource {
 public:
  base::Result<std::string> AccessToken() override;
  void Invalidate(std::string_view rejected) override;

  // What the current token grants and when it lapses; never the token.
  TokenStatus Status() const { return renewing_->Status(); }
  // True when the current access token came from the vault rather than from the site.
  bool reused_stored_token() const;

 private:
  friend class SiteAuth;
  SiteTokenSource(std::string site, std::string user, TokenVault* vault);
  // Stores the refresh token at once (the old one is dead) with no usable access token.
  void StoreRotated(const std::string& refresh_token);
  // Stores the current token when it is new since the last store.
  void StoreCurrent(const std::string& access_token);

  const std::string site_;
  const std::string user_;
  TokenVault* const vault_;  // may be null
  std::unique_ptr<RenewingTokenSource> renewing_;

  mutable std::mutex store_mutex_;
  std::string refresh_token_;           // guarded by store_mutex_; the newest held
  base::SystemTime stored_obtained_{};  // guarded by store_mutex_
  base::SystemTime seeded_obtained_{};  // when the stored access token was reused
  bool seeded_ = false;
};

struct SiteAuthOptions {
  // Shared discovery results; must outlive the SiteAuth. Required.
  DiscoveryCache* discovery = nullptr;
  // The vault: required for the launch modes, optional for backend services. Must outlive every
  // token source made.
  TokenVault* vault = nullptr;
  // Whose grant the launch modes store and use ("system" is backend services').
  std::string user = std::string(kSystemUser);
  sites::EnvironmentVariables environment;
  RenewingTokenSource::Clock clock = [] { return std::chrono::system_clock::now(); };
};

class SiteAuth {
 public:
  SiteAuth(sites::LoadedSite site, SiteAuthOptions options);

  const sites::LoadedSite& site() const { return site_; }
  // The vault's user this SiteAuth stores under: "system" for backend services.
  const std::string& user() const { return user_; }

  // The site's SMART configuration, through the discovery cache keyed by the site's fingerprint
  // (an edited bundle fetches again). kInsecureTransport when the token endpoint is plain HTTP
  // and the bundle does not set traffic.allow_plain_http; kDiscoveryFailed as Discover.
  base::Result<SmartConfiguration> Discover();

  // The token source for the site's mode. Backend services: a new source (no request yet).
  // Launch modes: the vault's grant for the site and user; kConfigInvalid without a vault,
  // kNotFound ("log in first") when the vault holds none. The stored access token is reused
  // while it is valid.
  base::Result<std::unique_ptr<SiteTokenSource>> TokenSource();
  // Launch modes, after the code exchange: stores the grant and returns its token source.
  base::Result<std::unique_ptr<SiteTokenSource>> TokenSourceFromLogin(TokenResponse tokens);

  // How the client authenticates at the token endpoint in the launch modes: public, or with the
  // secret of auth.client_secret (HTTP Basic). kSecretUnavailable as ResolveSecret.
  base::Result<ClientCredentials> LaunchCredentials() const;
  // The scope string the bundle requests (auth.scopes joined).
  std::string RequestedScope() const;

  // GET {base}/metadata as JSON. kCapabilityUnavailable when the site answers anything but 200
  // with JSON.
  base::Result<fhir::Json> FetchCapabilityStatement();
  // The matrix from the scopes the site granted to `source`'s current token (it must have one)
  // and `statement` (null: scopes alone), with the contexts of the site's mode and the site's
  // sync.resource_types shown.
  base::Result<CapabilityMatrix> Capabilities(const SiteTokenSource& source,
                                              const fhir::Json* statement) const;

 private:
  base::Result<std::unique_ptr<SiteTokenSource>> RefreshingSource(TokenResponse initial);

  const sites::LoadedSite site_;
  const SiteAuthOptions options_;
  const std::string user_;
  http::Client client_;
};

}  // namespace fhirbridge::auth
