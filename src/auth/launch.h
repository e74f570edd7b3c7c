#pragma once

// SMART App Launch with the authorization code grant: EHR launch (the EHR opens the app with
// `iss` and `launch`) and standalone launch (the app starts on its own), both with PKCE S256 and
// a random `state`; then the code exchange.
//
//   auto request = PrepareAuthorization(configuration, options);  // URL for the browser
//   ... the browser returns to options.redirect_uri with ?code&state (see RedirectListener) ...
//   auto tokens = ExchangeCode(client, configuration, *request, code, credentials);

#include <string>
#include <vector>

#include "auth/oauth_client.h"
#include "auth/smart_discovery.h"
#include "auth/token_response.h"
#include "base/result.h"

namespace fhirbridge::auth {

// PKCE (RFC 7636): a 43-character verifier from 32 random bytes and its S256 challenge.
struct Pkce {
  std::string verifier;
  std::string challenge;
};
base::Result<Pkce> MakePkce();
// BASE64URL(SHA-256(verifier)).
std::string S256Challenge(std::string_view verifier);

struct LaunchOptions {
  std::string client_id;
  std::string redirect_uri;
  std::string scope;   // e.g. "launch/patient openid fhirUser offline_access patient/*.rs"
  std::string launch;  // EHR launch: the opaque launch value from the EHR; "" for standalone
};

// Everything the app must remember between sending the browser away and its return.
struct AuthorizationRequest {
  std::string fhir_base;  // sent as aud
  std::string client_id;
  std::string redirect_uri;
  std::string scope;
  std::string state;          // 32 random bytes, base64url
  std::string code_verifier;  // never leaves this process before the exchange
  std::string authorize_url;  // where to send the browser (GET)
};

// Builds the authorize URL for `configuration` (which must offer a launch: CheckCanLaunch).
// kConfigInvalid when client_id, redirect_uri or scope is empty.
base::Result<AuthorizationRequest> PrepareAuthorization(const SmartConfiguration& configuration,
                                                        const LaunchOptions& options);

// EHR launch: checks `iss` against `allowed_issuers` (when not empty; EHR launch URLs can be
// forged, so production apps allow only the sites they know), discovers its configuration and
// prepares the authorization with the launch value. kInvalidParameter for an issuer not allowed
// or an empty launch; kDiscoveryFailed as Discover.
base::Result<AuthorizationRequest> BeginEhrLaunch(http::Client& client, DiscoveryCache& discovery,
                                                  std::string_view iss, std::string_view launch,
                                                  const LaunchOptions& options,
                                                  const std::vector<std::string>& allowed_issuers);

// Exchanges `code` at the token endpoint with the request's redirect_uri and code_verifier.
// Errors as RequestToken (an expired or replayed code is kOAuthInvalidGrant).
base::Result<TokenResponse> ExchangeCode(
    http::Client& client, const SmartConfiguration& configuration,
    const AuthorizationRequest& request, std::string_view code,
    const ClientCredentials& credentials,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace fhirbridge::auth
