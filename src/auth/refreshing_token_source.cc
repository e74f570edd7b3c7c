#include "auth/refreshing_token_source.h"

#include "observe/log.h"

namespace fhirbridge::auth {

base::Result<std::unique_ptr<RefreshingTokenSource>> RefreshingTokenSource::Create(
    RefreshOptions options, TokenResponse initial, Clock clock) {
  if (initial.refresh_token.empty()) {
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "the grant has no refresh token; request offline_access or online_access "
                      "when logging in");
  }
  if (options.token_endpoint.empty()) {
    return base::Fail(base::ErrorCode::kConfigInvalid, "the token endpoint is unknown",
                      "token_endpoint");
  }
  const base::SystemTime now = clock();
  std::unique_ptr<RefreshingTokenSource> source(
      new RefreshingTokenSource(std::move(options), initial.refresh_token, std::move(clock)));
  if (!initial.access_token.empty()) {
    initial.refresh_token.clear();
    source->Seed(std::move(initial), now);
  }
  return source;
}

RefreshingTokenSource::RefreshingTokenSource(RefreshOptions options, std::string refresh_token,
                                             Clock clock)
    : RenewingTokenSource(options.renewal, std::move(clock)),
      options_(std::move(options)),
      refresh_token_(std::move(refresh_token)) {}

bool RefreshingTokenSource::HasRefreshToken() const {
  std::lock_guard lock(refresh_mutex_);
  return !refresh_token_.empty();
}

bool RefreshingTokenSource::IsPermanent(const base::Error& error) const {
  return error.code == base::ErrorCode::kOAuthInvalidGrant;
}

base::Result<TokenResponse> RefreshingTokenSource::Renew() {
  std::string refresh_token;
  {
    std::lock_guard lock(refresh_mutex_);
    refresh_token = refresh_token_;
  }
  if (refresh_token.empty()) {
    return base::Fail(base::ErrorCode::kOAuthInvalidGrant,
                      "the refresh token was refused earlier; log in again (fhirbridge auth "
                      "login)");
  }

  FormFields fields = {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}};
  if (!options_.scope.empty()) fields.emplace_back("scope", options_.scope);
  auto response = RequestToken(client_, options_.token_endpoint, std::move(fields),
                               options_.credentials, std::chrono::system_clock::now(),
                               "the refresh token request", options_.request_timeout);
  if (!response) {
    if (response.error().code == base::ErrorCode::kOAuthInvalidGrant) {
      {
        std::lock_guard lock(refresh_mutex_);
        refresh_token_.clear();
      }
      std::string diagnostic = response.error().diagnostic;
      while (!diagnostic.empty() && diagnostic.back() == '.') diagnostic.pop_back();
      return base::Fail(base::ErrorCode::kOAuthInvalidGrant,
                        diagnostic +
                            "; the refresh token is no longer accepted: log in again "
                            "(fhirbridge auth login)");
    }
    return response;
  }

  // Servers that rotate send a new refresh token; those that do not keep the old one valid.
  if (!response->refresh_token.empty() && response->refresh_token != refresh_token) {
    {
      std::lock_guard lock(refresh_mutex_);
      refresh_token_ = response->refresh_token;
    }
    if (options_.on_rotated) options_.on_rotated(response->refresh_token);
    observe::LogEvent event;
    event.event = "auth.refresh_token.rotated";
    event.subsystem = "auth";
    event.message = "The server rotated the refresh token; the new one replaces the old.";
    observe::Log(event);
  }
  response->refresh_token.clear();
  return response;
}

}  // namespace fhirbridge::auth
