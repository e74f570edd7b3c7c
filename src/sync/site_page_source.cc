#include "sync/site_page_source.h"

#include <utility>

namespace fhirbridge::sync {

base::Result<FetchResponse> SitePageSource::Get(const FetchRequest& request) {
  ++calls_;
  traffic::SiteRequest site_request;
  site_request.method = request.method;  // GET, or DELETE for a Bulk Data job's status URL
  site_request.target = request.url;
  site_request.headers = request.headers;
  site_request.priority = traffic::Priority::kBackground;
  auto response = connection_.Send(site_request, mode_);
  if (!response) return base::Fail(response.error());
  attempts_ += response->attempts;
  FetchResponse answer;
  answer.status = response->status();
  answer.headers = std::move(response->http.headers);
  answer.body = std::move(response->http.body);
  answer.request_id =
      response->echoed_request_id.empty() ? response->request_id : response->echoed_request_id;
  // Coded parts only: diagnostics text may echo request values.
  for (const traffic::OutcomeWarning& warning : response->warnings) {
    std::string summary = warning.severity + " " + warning.code;
    if (!warning.details_code.empty()) summary += " " + warning.details_code;
    answer.warnings.push_back(std::move(summary));
  }
  return answer;
}

}  // namespace fhirbridge::sync
