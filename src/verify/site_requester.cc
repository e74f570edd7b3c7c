#include "verify/site_requester.h"

#include <chrono>
#include <utility>

namespace fhirbridge::verify {

base::Result<SiteResponse> SiteRequester::Get(const std::string& url,
                                              const std::vector<http::Header>& headers) {
  traffic::SiteRequest request;
  request.target = url;
  request.headers = headers;
  request.priority = traffic::Priority::kInteractive;
  auto response = connection_.Send(request, sites::MaintenanceMode::kRefuse);
  if (!response) return base::Fail(response.error());
  SiteResponse answer;
  answer.status = response->status();
  answer.headers = std::move(response->http.headers);
  answer.body = std::move(response->http.body);
  answer.request_id = response->request_id;
  // The smoke report keeps coded parts only; the site client's warnings carry diagnostics text,
  // which may echo request values, so they are read again the smoke suite's way.
  answer.warnings = ExtractWarnings(answer.body);
  answer.latency = std::chrono::duration_cast<std::chrono::microseconds>(response->elapsed);
  return answer;
}

CapabilityCheck MatrixCapability(const auth::CapabilityMatrix& matrix) {
  return
      [&matrix](std::string_view type, std::string_view interaction) -> std::optional<std::string> {
        const auto parsed = auth::ParseInteractionName(interaction);
        if (!parsed) return std::nullopt;
        const auth::CapabilityCell cell = matrix.Check(type, *parsed);
        if (cell.allowed) return std::nullopt;
        return cell.reason;
      };
}

SmokeDependencies SiteSmokeDependencies(sites::SiteConnection& connection,
                                        std::optional<base::Error>* problem) {
  SmokeDependencies dependencies;
  dependencies.token_source = connection.tokens();
  auto matrix = connection.LoadCapabilities();
  if (!matrix) {
    if (problem != nullptr) *problem = matrix.error();
    return dependencies;
  }
  dependencies.capability = MatrixCapability(**matrix);
  return dependencies;
}

}  // namespace fhirbridge::verify
