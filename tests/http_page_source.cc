#include "http_page_source.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

namespace fhirbridge::sync {

namespace {

bool Retryable(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

// Retry-After in seconds; HTTP dates are not used by the sites we meet.
std::optional<std::chrono::milliseconds> RetryAfter(const http::ClientResponse& response) {
  const std::string* value = response.FindHeader("retry-after");
  if (value == nullptr) return std::nullopt;
  int seconds = 0;
  const auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), seconds);
  if (error != std::errc() || seconds < 0) return std::nullopt;
  return std::chrono::milliseconds(seconds * 1000);
}

std::string RequestIdPrefix() {
  std::random_device device;
  return "sync-" + std::to_string(device() % 1000000) + "-";
}

}  // namespace

HttpPageSource::HttpPageSource(HttpPageSourceOptions options) : options_(options) {}

base::Result<FetchResponse> HttpPageSource::Get(const FetchRequest& request) {
  static const std::string prefix = RequestIdPrefix();
  ++calls_;
  std::chrono::milliseconds backoff = options_.first_backoff;
  std::optional<base::Error> last_error;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    const std::string request_id = prefix + std::to_string(++next_request_number_);
    http::ClientRequest outgoing;
    outgoing.url = request.url;
    outgoing.method = request.method;
    outgoing.timeout = options_.timeout;
    outgoing.headers = request.headers;
    outgoing.headers.push_back({"Accept", "application/fhir+json"});
    outgoing.headers.push_back({"X-Request-Id", request_id});
    ++attempts_;
    auto response = client_.Send(outgoing);

    std::chrono::milliseconds wait = backoff;
    if (response && !Retryable(response->status)) {
      const std::string* echoed = response->FindHeader("x-request-id");
      return FetchResponse{response->status,
                           std::move(response->headers),
                           std::move(response->body),
                           echoed ? *echoed : request_id,
                           {}};
    }
    if (response) {
      last_error = base::MakeError(base::ErrorCode::kRetriesExhausted,
                                   "The site kept answering " + std::to_string(response->status) +
                                       " after " + std::to_string(attempt) + " attempts.");
      if (auto after = RetryAfter(*response)) wait = *after;
    } else {
      last_error = response.error();
    }
    if (attempt == options_.max_attempts) break;
    std::this_thread::sleep_for(std::min(wait, options_.max_retry_wait));
    backoff = std::min(backoff * 2, options_.max_retry_wait);
  }
  if (last_error->code == base::ErrorCode::kRetriesExhausted) return base::Fail(*last_error);
  return base::Fail(base::ErrorCode::kRetriesExhausted,
                    "No answer after " + std::to_string(options_.max_attempts) +
                        " attempts; last failure: " + last_error->ToString());
}

}  // namespace fhirbridge::sync
