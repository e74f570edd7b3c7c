#pragma once

// SMART backend services (client_credentials with a private_key_jwt client assertion), as Epic
// and the SMART specification describe it: each token request carries a fresh assertion signed
// with the key ring's current key (RS384 by default, ES384 where the site has the app's JWK Set
// URL), with kid, a random jti and exp five minutes ahead. No refresh token is used: a new
// assertion buys a new token.
//
// Thread-safe: one source per site, shared by every thread talking to that site.

#include <chrono>
#include <string>

#include "auth/oauth_client.h"
#include "auth/renewing_token_source.h"

namespace fhirbridge::auth {

struct BackendServicesOptions {
  std::string client_id;
  std::string token_endpoint;  // from discovery; also the assertion's aud
  // Space-separated system scopes to request; "" sends no scope parameter (Epic grants what is
  // registered for the app, and how it treats a sent scope differs between sites).
  std::string scope;
  AssertionKeyProvider assertion_keys;  // e.g. KeyRingAssertionKeys(key_folder)
  std::chrono::seconds assertion_lifetime{300};
  std::chrono::milliseconds request_timeout{30000};
  RenewalPolicy renewal;
};

class BackendServicesTokenSource final : public RenewingTokenSource {
 public:
  explicit BackendServicesTokenSource(
      BackendServicesOptions options,
      Clock clock = [] { return std::chrono::system_clock::now(); });

 private:
  base::Result<TokenResponse> Renew() override;

  const BackendServicesOptions options_;
  // Used only by the one thread renewing at a time (see RenewingTokenSource::Renew).
  http::Client client_;
};

}  // namespace fhirbridge::auth
