#pragma once

// SiteClient: how the runtime talks to one site. Every request goes through the site's circuit
// breaker, its adaptive throttle (with a priority), a bearer token from the site's TokenSource,
// and the retry policy; each carries a fresh X-Request-Id (kept across its retries) and a W3C
// traceparent (one trace per request, one span per attempt). What the site warns about in
// OperationOutcomes comes back with the response.
//
// On 401 the token is invalidated and the request sent once more with a new one; a second 401
// is returned as it is. Responses of any status are returned as responses, except that a
// retryable failure of a request safe to repeat that is still failing when attempts or time run
// out gives kRetriesExhausted, an open breaker gives kCircuitOpen, and no response gives
// kIoFailure (for a request not safe to repeat, whose outcome is then unknown).
//
// Logs: one debug line per attempt (site, request id, attempt, method, route template, redacted
// query, status, latency, the id the site echoed), info lines for retries, Retry-After pauses
// and token renewals, warnings for breaker changes. Never a URL's path values, a query value, a
// body, a header value or a token. Metrics are labelled by site and bounded classes only.
//
// Thread safety: Send and ForEachPage may be called from many threads at once; each thread in
// use borrows a libcurl client of its own from a pool, so connections are reused.
//
// Limitation: a Send waiting for the throttle or a back-off cannot be cancelled from outside;
// retry.max_total bounds how long it can wait.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_source.h"
#include "base/clock.h"
#include "base/result.h"
#include "http/client.h"
#include "observe/metrics.h"
#include "traffic/adaptive_throttle.h"
#include "traffic/circuit_breaker.h"
#include "traffic/outcome_warnings.h"
#include "traffic/retry_policy.h"

namespace fhirbridge::traffic {

// What the runtime knows about talking to one site; the site bundle fills it.
struct SitePolicy {
  std::string site;      // a name for logs and metric labels: no PHI, bounded ("alpine-health")
  std::string base_url;  // the FHIR base, "https://fhir.example.org/api/FHIR/R4"
  ThrottleSettings throttle;  // the site's rate and burst, and how the throttle adapts
  RetrySettings retry;
  BreakerSettings breaker;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{30000};  // one attempt; also cut by retry.max_total
  bool allow_plain_http = false;                     // plain http:// to a host that is not loopback
  std::string proxy;                                 // explicit proxy URL; empty: none
  bool use_environment_proxy = false;
  std::string ca_bundle;  // PEM CA file; empty: the system's store
};

// kInvalidParameter or kInsecureTransport naming the first problem.
base::Status ValidateSitePolicy(const SitePolicy& policy);

struct SiteRequest {
  std::string method = "GET";
  // Relative to the base ("Patient/123", "Observation?patient=123&category=vital-signs"), or an
  // absolute URL under the base (a next link).
  std::string target;
  // Extra headers. Authorization, X-Request-Id and traceparent are the client's to set; Accept
  // defaults to application/fhir+json.
  std::vector<http::Header> headers;
  std::string body;
  Priority priority = Priority::kInteractive;
  // The caller's word that sending this twice is harmless (a write with its own idempotency
  // key, say). Reads, conditional creates and If-Match writes are recognised without it.
  bool idempotent = false;
  // 32 lower-case hex digits to continue the caller's trace; empty: a new trace.
  std::string trace_id;
};

struct SiteResponse {
  http::ClientResponse http;  // status, lower-case headers, body
  std::vector<OutcomeWarning> warnings;
  std::string request_id;         // the X-Request-Id sent with every attempt
  std::string echoed_request_id;  // the X-Request-Id the site answered with; empty if none
  std::string trace_id;
  int attempts = 0;  // HTTP exchanges, the token renewal's included
  base::Clock::Duration elapsed{};
  base::Clock::Duration throttle_wait{};

  int status() const { return http.status; }
};

class SiteClient {
 public:
  // Checks `policy` (ValidateSitePolicy). `tokens` may be null for a site without
  // authorization; it, `metrics` and `clock` must outlive the client. A fixed `seed` makes the
  // back-off jitter repeatable.
  static base::Result<std::unique_ptr<SiteClient>> Create(
      SitePolicy policy, auth::TokenSource* tokens,
      observe::MetricsRegistry& metrics = observe::MetricsRegistry::Global(),
      base::Clock& clock = base::Clock::Real(), std::optional<std::uint64_t> seed = std::nullopt);
  ~SiteClient();

  base::Result<SiteResponse> Send(const SiteRequest& request);

  // Sends `first` and follows the Bundles' next links through the same policy, calling
  // `on_page` with each page in order; `on_page` returns false to stop early, or an error to
  // abort with it. Fails with kRemoteRejected for a page that is not 200, kPagingSessionExpired
  // for a 410 on a later page (run the search again), kMalformedResponse for a page that is not
  // a Bundle, a next link outside the base URL, paging that ends before the Bundle's total was
  // seen (a lost next link), or more than `max_pages` pages.
  base::Status ForEachPage(const SiteRequest& first,
                           const std::function<base::Result<bool>(const SiteResponse&)>& on_page,
                           std::size_t max_pages = 100000);

  const SitePolicy& policy() const { return policy_; }
  AdaptiveThrottle& throttle() { return throttle_; }
  CircuitBreaker& breaker() { return breaker_; }

 private:
  struct Metrics;
  SiteClient(SitePolicy policy, auth::TokenSource* tokens, observe::MetricsRegistry& metrics,
             base::Clock& clock, std::optional<std::uint64_t> seed);

  // The absolute URL of `target`, or kInvalidParameter when it leaves the base.
  base::Result<std::string> Resolve(std::string_view target) const;
  std::unique_ptr<http::Client> BorrowClient();
  void ReturnClient(std::unique_ptr<http::Client> client);
  void PublishState();

  const SitePolicy policy_;
  auth::TokenSource* const tokens_;
  base::Clock& clock_;
  AdaptiveThrottle throttle_;
  CircuitBreaker breaker_;
  RetryPolicy retry_;
  std::unique_ptr<Metrics> metrics_;
  http::ClientOptions client_options_;

  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<http::Client>> idle_clients_;
};

// "Observation/{id}/_history/{id}" for "Observation/abc/_history/2": resource types, operations
// and _-prefixed segments kept, every other segment (ids) replaced. For logs.
std::string RouteTemplate(std::string_view relative_path);

}  // namespace fhirbridge::traffic
