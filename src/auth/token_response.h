#pragma once

// Reading what a token endpoint answers, tolerant of what real servers send: `token_type` in any
// case ("bearer", "Bearer", "BEARER"), scopes separated by odd runs of spaces, tabs or "+", a
// missing `expires_in`, numbers sent as strings, and extra members (launch context, id_token)
// that are kept. The access and refresh tokens never appear in an error or a log line.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "fhir/json_value.h"

namespace fhirbridge::auth {

// When a token response has no usable `expires_in`, the token is assumed to live this long:
// SMART advises access tokens of at most five minutes, so assuming more could send an expired
// token, while assuming five minutes at worst renews a longer-lived token early.
inline constexpr std::chrono::seconds kDefaultTokenLifetime{300};

struct TokenResponse {
  std::string access_token;
  std::string token_type = "Bearer";  // normalised: "Bearer" whatever case the server used
  std::chrono::seconds expires_in = kDefaultTokenLifetime;
  bool expires_in_assumed = false;  // true when the server sent no usable expires_in
  std::string scope;                // granted scopes, single-space separated; "" when not sent
  std::vector<std::string> scopes;  // the same, split
  std::string refresh_token;        // "" when none was issued
  // SMART launch context and OpenID Connect, when sent.
  std::string patient;
  std::string encounter;
  std::string id_token;
  std::optional<bool> need_patient_banner;
  std::string smart_style_url;
  // The whole answer minus the two tokens, for members this struct does not name (e.g.
  // fhirContext, Epic's "__epic.dstu2.patient").
  std::string other_members_json;
};

// Splits a scope string on any run of spaces, tabs, newlines or '+' (a form-encoded space some
// servers leave in JSON) and joins it back with single spaces.
std::vector<std::string> SplitScopes(std::string_view scope);

// Parses a 2xx token response body. kMalformedResponse (naming the member at fault) when the body
// is not a JSON object, has no access_token, or has a token_type other than Bearer.
base::Result<TokenResponse> ParseTokenResponse(std::string_view body);

// Turns a failed token request (status and body) into an Error: the RFC 6749 `error` maps to the
// catalogue's kOAuth* codes (invalid_client -> kOAuthInvalidClient, ...), anything else (5xx,
// HTML, an unknown error) is kTokenRequestFailed. The diagnostic carries the status, the OAuth
// error and at most 200 characters of error_description; never the request's secrets.
base::Error TokenRequestError(int status, std::string_view body, std::string_view what);

}  // namespace fhirbridge::auth
