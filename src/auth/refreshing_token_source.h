#pragma once

// Tokens from a refresh token (after an EHR or standalone launch with offline_access or
// online_access). Each refresh may return a new refresh token (rotation); the new one replaces
// the old at once and is handed to `on_rotated` so that it can be stored (the token vault), since
// servers that rotate refuse the old one afterwards and may revoke the whole grant on reuse.
//
// A refused refresh token (invalid_grant: expired, revoked, reused) cannot be cured by retrying:
// every later AccessToken() fails at once with kOAuthInvalidGrant telling the user to log in
// again, without another request to the server.

#include <functional>
#include <mutex>
#include <string>

#include "auth/oauth_client.h"
#include "auth/renewing_token_source.h"

namespace fhirbridge::auth {

struct RefreshOptions {
  std::string token_endpoint;
  ClientCredentials credentials;  // public (kNone) or confidential
  std::string scope;              // "" asks for the grant's whole scope
  std::chrono::milliseconds request_timeout{30000};
  RenewalPolicy renewal;
  // Called (on the renewing thread, without locks held) with each new refresh token.
  std::function<void(const std::string& refresh_token)> on_rotated;
};

class RefreshingTokenSource final : public RenewingTokenSource {
 public:
  // `initial` is the code exchange's answer (or a stored refresh token in a response with no
  // access token, then the first AccessToken() refreshes). kConfigInvalid when it holds no
  // refresh token.
  static base::Result<std::unique_ptr<RefreshingTokenSource>> Create(
      RefreshOptions options, TokenResponse initial,
      Clock clock = [] { return std::chrono::system_clock::now(); });

  // Whether a refresh token is held (false after the server refused it).
  bool HasRefreshToken() const;

 private:
  RefreshingTokenSource(RefreshOptions options, std::string refresh_token, Clock clock);
  base::Result<TokenResponse> Renew() override;
  bool IsPermanent(const base::Error& error) const override;

  const RefreshOptions options_;
  http::Client client_;  // used only by the renewing thread
  mutable std::mutex refresh_mutex_;
  std::string refresh_token_;  // guarded by refresh_mutex_
};

}  // namespace fhirbridge::auth
