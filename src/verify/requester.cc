#include "verify/requester.h"

#include <array>
#include <nlohmann/json.hpp>
#include <random>

namespace fhirbridge::verify {
namespace {

using Json = nlohmann::json;

void AddIssueWarnings(const Json& outcome, std::vector<ResponseWarning>& warnings) {
  const auto issues = outcome.find("issue");
  if (issues == outcome.end() || !issues->is_array()) return;
  for (const Json& issue : *issues) {
    if (!issue.is_object()) continue;
    const std::string severity = issue.value("severity", std::string());
    if (severity != "warning" && severity != "information") continue;
    ResponseWarning warning{severity, issue.value("code", std::string()), {}};
    const auto details = issue.find("details");
    if (details != issue.end() && details->is_object()) {
      const auto codings = details->find("coding");
      if (codings != details->end() && codings->is_array() && !codings->empty() &&
          codings->front().is_object()) {
        warning.detail_code = codings->front().value("code", std::string());
      }
    }
    warnings.push_back(std::move(warning));
  }
}

bool IsOperationOutcome(const Json& resource) {
  return resource.is_object() &&
         resource.value("resourceType", std::string()) == "OperationOutcome";
}

}  // namespace

std::vector<http::Header> SyntheticRequestHeaders() {
  return {{std::string(kSyntheticHeader), "true"}, {"User-Agent", std::string(kUserAgent)}};
}

std::vector<ResponseWarning> ExtractWarnings(std::string_view body) {
  std::vector<ResponseWarning> warnings;
  const Json document = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return warnings;
  if (IsOperationOutcome(document)) {
    AddIssueWarnings(document, warnings);
    return warnings;
  }
  if (document.value("resourceType", std::string()) != "Bundle") return warnings;
  const auto entries = document.find("entry");
  if (entries == document.end() || !entries->is_array()) return warnings;
  for (const Json& entry : *entries) {
    if (!entry.is_object()) continue;
    const auto search = entry.find("search");
    const bool outcome_entry = search != entry.end() && search->is_object() &&
                               search->value("mode", std::string()) == "outcome";
    const auto resource = entry.find("resource");
    if (outcome_entry && resource != entry.end() && IsOperationOutcome(*resource)) {
      AddIssueWarnings(*resource, warnings);
    }
  }
  return warnings;
}

const std::string* SiteResponse::FindHeader(std::string_view lower_case_name) const {
  for (const auto& header : headers) {
    if (header.name == lower_case_name) return &header.value;
  }
  return nullptr;
}

std::string NewRequestId() {
  // Request ids only need to be unique among a site's recent requests, not unpredictable.
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr std::array<char, 16> kDigits = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                   '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string id = "smoke-";
  std::uniform_int_distribution<int> digit(0, 15);
  for (int i = 0; i < 20; ++i) id.push_back(kDigits[static_cast<std::size_t>(digit(generator))]);
  return id;
}

HttpRequester::HttpRequester(auth::TokenSource* token_source, std::chrono::milliseconds timeout)
    : token_source_(token_source), timeout_(timeout) {}

base::Result<SiteResponse> HttpRequester::Get(const std::string& url,
                                              const std::vector<http::Header>& headers) {
  const std::string request_id = NewRequestId();
  const auto started = std::chrono::steady_clock::now();
  std::string token_sent;
  auto response = SendOnce(url, headers, request_id, &token_sent);

  // A 401 to a request that carried a token: the token expired or was revoked; renew it once.
  if (response && response->status == 401 && token_source_ != nullptr && !token_sent.empty()) {
    token_source_->Invalidate(token_sent);
    response = SendOnce(url, headers, request_id, &token_sent);
  }
  if (!response) return response;
  response->latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  return response;
}

base::Result<SiteResponse> HttpRequester::SendOnce(const std::string& url,
                                                   const std::vector<http::Header>& headers,
                                                   const std::string& request_id,
                                                   std::string* token_sent) {
  http::ClientRequest request;
  request.method = "GET";
  request.url = url;
  request.timeout = timeout_;
  request.headers.push_back({"Accept", "application/fhir+json"});
  request.headers.push_back({"X-Request-Id", request_id});
  token_sent->clear();
  if (token_source_ != nullptr) {
    auto token = token_source_->AccessToken();
    if (!token) return std::unexpected(token.error());
    *token_sent = *token;
    request.headers.push_back({"Authorization", "Bearer " + *token});
  }
  for (const auto& header : headers) request.headers.push_back(header);

  auto sent = client_.Send(request);
  if (!sent) return std::unexpected(sent.error());
  SiteResponse response;
  response.status = sent->status;
  response.headers = std::move(sent->headers);
  response.body = std::move(sent->body);
  response.request_id = request_id;
  response.warnings = ExtractWarnings(response.body);
  return response;
}

}  // namespace fhirbridge::verify
