#include "auth/launch.h"

#include <openssl/evp.h>

#include <algorithm>

namespace fhirbridge::auth {

using base::ErrorCode;

std::string S256Challenge(std::string_view verifier) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest, &length, EVP_sha256(), nullptr);
  return jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

base::Result<Pkce> MakePkce() {
  auto verifier = RandomUrlSafe(32);
  if (!verifier) return base::Fail(verifier.error());
  return Pkce{*verifier, S256Challenge(*verifier)};
}

base::Result<AuthorizationRequest> PrepareAuthorization(const SmartConfiguration& configuration,
                                                        const LaunchOptions& options) {
  if (auto can_launch = configuration.CheckCanLaunch(); !can_launch) {
    return base::Fail(can_launch.error());
  }
  for (const auto& [value, name] :
       {std::pair{&options.client_id, "client_id"},
        std::pair{&options.redirect_uri, "redirect_uri"}, std::pair{&options.scope, "scope"}}) {
    if (value->empty()) {
      return base::Fail(ErrorCode::kConfigInvalid, std::string(name) + " must not be empty", name);
    }
  }
  auto pkce = MakePkce();
  if (!pkce) return base::Fail(pkce.error());
  auto state = RandomUrlSafe(32);
  if (!state) return base::Fail(state.error());

  AuthorizationRequest request;
  request.fhir_base = configuration.fhir_base;
  request.client_id = options.client_id;
  request.redirect_uri = options.redirect_uri;
  request.scope = options.scope;
  request.state = *state;
  request.code_verifier = pkce->verifier;

  FormFields query = {{"response_type", "code"},
                      {"client_id", options.client_id},
                      {"redirect_uri", options.redirect_uri},
                      {"scope", options.scope},
                      {"state", request.state},
                      {"aud", configuration.fhir_base},
                      {"code_challenge", pkce->challenge},
                      {"code_challenge_method", "S256"}};
  if (!options.launch.empty()) query.emplace_back("launch", options.launch);
  const char separator =
      configuration.authorization_endpoint.find('?') == std::string::npos ? '?' : '&';
  request.authorize_url = configuration.authorization_endpoint + separator + FormEncode(query);
  return request;
}

base::Result<AuthorizationRequest> BeginEhrLaunch(http::Client& client, DiscoveryCache& discovery,
                                                  std::string_view iss, std::string_view launch,
                                                  const LaunchOptions& options,
                                                  const std::vector<std::string>& allowed_issuers) {
  std::string issuer(iss);
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  if (!allowed_issuers.empty() &&
      std::none_of(allowed_issuers.begin(), allowed_issuers.end(), [&](std::string allowed) {
        while (!allowed.empty() && allowed.back() == '/') allowed.pop_back();
        return allowed == issuer;
      })) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "the launch names an iss this app does not allow; add the site's FHIR base "
                      "to the allowed issuers if it is genuine",
                      "iss");
  }
  if (launch.empty()) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "an EHR launch needs the launch value the EHR sent", "launch");
  }
  auto configuration = discovery.Get(client, issuer, /*site_fingerprint=*/"");
  if (!configuration) return base::Fail(configuration.error());
  LaunchOptions with_launch = options;
  with_launch.launch = std::string(launch);
  return PrepareAuthorization(*configuration, with_launch);
}

base::Result<TokenResponse> ExchangeCode(http::Client& client,
                                         const SmartConfiguration& configuration,
                                         const AuthorizationRequest& request, std::string_view code,
                                         const ClientCredentials& credentials,
                                         std::chrono::milliseconds timeout) {
  if (code.empty()) {
    return base::Fail(ErrorCode::kInvalidParameter, "the authorization code is empty", "code");
  }
  FormFields fields = {{"grant_type", "authorization_code"},
                       {"code", std::string(code)},
                       {"redirect_uri", request.redirect_uri},
                       {"code_verifier", request.code_verifier}};
  return RequestToken(client, configuration.token_endpoint, std::move(fields), credentials,
                      std::chrono::system_clock::now(), "the authorization code exchange", timeout);
}

}  // namespace fhirbridge::auth
