#include "auth/backend_services.h"

#include "observe/log.h"

namespace fhirbridge::auth {

BackendServicesTokenSource::BackendServicesTokenSource(BackendServicesOptions options, Clock clock)
    : RenewingTokenSource(options.renewal, std::move(clock)), options_(std::move(options)) {}

base::Result<TokenResponse> BackendServicesTokenSource::Renew() {
  FormFields fields = {{"grant_type", "client_credentials"}};
  if (!options_.scope.empty()) fields.emplace_back("scope", options_.scope);

  ClientCredentials credentials;
  credentials.client_id = options_.client_id;
  credentials.method = ClientAuthMethod::kPrivateKeyJwt;
  credentials.assertion_keys = options_.assertion_keys;
  credentials.assertion_lifetime = options_.assertion_lifetime;

  // The assertion's iat and exp are checked against the server's wall clock, so they come from
  // the real clock even when the source's own clock (for expiry decisions) is another.
  auto response = RequestToken(client_, options_.token_endpoint, std::move(fields), credentials,
                               std::chrono::system_clock::now(),
                               "the backend-services token request", options_.request_timeout);
  if (response) {
    observe::LogEvent event;
    event.event = "auth.token.obtained";
    event.subsystem = "auth";
    event.message = "A backend-services access token was obtained.";
    event.attributes.push_back(
        {"expires_in_s", static_cast<std::int64_t>(response->expires_in.count())});
    event.attributes.push_back({"scope_count", static_cast<std::int64_t>(response->scopes.size())});
    observe::Log(event);
  }
  return response;
}

}  // namespace fhirbridge::auth
