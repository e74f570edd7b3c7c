#include "auth/token_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

namespace fhirbridge::auth {
namespace {

using base::ErrorCode;
using fhir::Json;

bool IsScopeSeparator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '+';
}

std::string Lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

// A member that should be a string; some servers send numbers for ids. "" when absent or null.
std::string TextMember(const Json& object, const char* name) {
  const auto found = object.find(name);
  if (found == object.end() || found->is_null()) return {};
  if (found->is_string()) return found->get<std::string>();
  if (found->is_number()) return found->dump();
  return {};
}

// expires_in as a number, or a string holding one ("3600"); nullopt when absent or unusable.
std::optional<std::int64_t> ExpiresIn(const Json& object) {
  const auto found = object.find("expires_in");
  if (found == object.end()) return std::nullopt;
  if (found->is_number_integer()) return found->get<std::int64_t>();
  if (found->is_number_float()) return static_cast<std::int64_t>(found->get<double>());
  if (found->is_string()) {
    const std::string text = found->get<std::string>();
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size()) return value;
  }
  return std::nullopt;
}

ErrorCode OAuthErrorCode(std::string_view error) {
  if (error == "invalid_request") return ErrorCode::kOAuthInvalidRequest;
  if (error == "invalid_client") return ErrorCode::kOAuthInvalidClient;
  if (error == "invalid_grant") return ErrorCode::kOAuthInvalidGrant;
  if (error == "unauthorized_client") return ErrorCode::kOAuthUnauthorizedClient;
  if (error == "unsupported_grant_type") return ErrorCode::kOAuthUnsupportedGrantType;
  if (error == "invalid_scope") return ErrorCode::kOAuthInvalidScope;
  return ErrorCode::kTokenRequestFailed;
}

// Keeps printable ASCII only, so a server's description cannot break a log line or terminal.
std::string Printable(std::string_view text, std::size_t limit) {
  std::string out;
  for (char c : text.substr(0, std::min(limit, text.size()))) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (text.size() > limit) out += "...";
  return out;
}

}  // namespace

std::vector<std::string> SplitScopes(std::string_view scope) {
  std::vector<std::string> scopes;
  std::size_t position = 0;
  while (position < scope.size()) {
    while (position < scope.size() && IsScopeSeparator(scope[position])) ++position;
    std::size_t end = position;
    while (end < scope.size() && !IsScopeSeparator(scope[end])) ++end;
    if (end > position) scopes.emplace_back(scope.substr(position, end - position));
    position = end;
  }
  return scopes;
}

base::Result<TokenResponse> ParseTokenResponse(std::string_view body) {
  Json document = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    return base::Fail(ErrorCode::kMalformedResponse,
                      "the token endpoint's answer is not a JSON object");
  }

  TokenResponse response;
  const auto access = document.find("access_token");
  if (access == document.end() || !access->is_string() || access->get<std::string>().empty()) {
    return base::Fail(ErrorCode::kMalformedResponse,
                      "the token endpoint's answer has no access_token string", "access_token");
  }
  response.access_token = access->get<std::string>();

  // RFC 6749 makes token_type case-insensitive; Epic sends "bearer". A missing one is read as
  // Bearer, the only type SMART uses; DPoP or MAC tokens would need a different request.
  const std::string token_type = TextMember(document, "token_type");
  if (!token_type.empty() && Lower(token_type) != "bearer") {
    return base::Fail(
        ErrorCode::kMalformedResponse,
        "token_type is \"" + Printable(token_type, 20) + "\"; only Bearer tokens are supported",
        "token_type");
  }

  if (const auto expires_in = ExpiresIn(document); expires_in && *expires_in > 0) {
    response.expires_in = std::chrono::seconds(*expires_in);
  } else {
    response.expires_in_assumed = true;
  }

  response.scopes = SplitScopes(TextMember(document, "scope"));
  for (const std::string& scope : response.scopes) {
    if (!response.scope.empty()) response.scope += ' ';
    response.scope += scope;
  }
  response.refresh_token = TextMember(document, "refresh_token");
  response.patient = TextMember(document, "patient");
  response.encounter = TextMember(document, "encounter");
  response.id_token = TextMember(document, "id_token");
  response.smart_style_url = TextMember(document, "smart_style_url");
  if (const auto banner = document.find("need_patient_banner"); banner != document.end()) {
    if (banner->is_boolean()) response.need_patient_banner = banner->get<bool>();
    if (banner->is_string())
      response.need_patient_banner = Lower(banner->get<std::string>()) == "true";
  }

  document.erase("access_token");
  document.erase("refresh_token");
  response.other_members_json = document.dump();
  return response;
}

base::Error TokenRequestError(int status, std::string_view body, std::string_view what) {
  const Json document = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string error;
  std::string description;
  if (!document.is_discarded() && document.is_object()) {
    error = TextMember(document, "error");
    description = TextMember(document, "error_description");
  }
  std::string diagnostic = std::string(what) + " failed: HTTP " + std::to_string(status);
  if (!error.empty()) diagnostic += ", " + Printable(error, 40);
  if (!description.empty()) diagnostic += ": " + Printable(description, 200);
  if (status >= 500) diagnostic += " (the server is failing; retry later)";
  // A 5xx is the server failing, whatever error member it carries; retrying later may help.
  const ErrorCode code =
      error.empty() || status >= 500 ? ErrorCode::kTokenRequestFailed : OAuthErrorCode(error);
  return base::MakeError(code, std::move(diagnostic));
}

}  // namespace fhirbridge::auth
