#pragma once

// The narrow interface through which the smoke suite sends its requests to a site, and a plain
// implementation on http::Client. The interface is shaped like the traffic layer's site client
// (a response plus the warnings the site put in it, the request id it was sent with and its
// latency), so that a site client with throttling and retries can stand behind it instead.
//
// Every smoke request is a synthetic transaction: it carries the headers of
// SyntheticRequestHeaders() so that a site can tell it apart from clinical traffic.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_source.h"
#include "base/result.h"
#include "http/client.h"
#include "http/message.h"

namespace fhirbridge::verify {

inline constexpr std::string_view kUserAgent = "fhirbridge-smoke/0.1.0";
inline constexpr std::string_view kSyntheticHeader = "X-Synthetic-Transaction";

// "X-Synthetic-Transaction: true" and "User-Agent: fhirbridge-smoke/<version>".
std::vector<http::Header> SyntheticRequestHeaders();

// An OperationOutcome issue of severity warning or information that a site sent with a
// successful answer: in an OperationOutcome body, or in a Bundle entry with search.mode=outcome
// (where Epic puts them). Only coded parts are kept; diagnostics text is dropped because a site
// may echo request values (patient data) in it.
struct ResponseWarning {
  std::string severity;     // "warning" or "information"
  std::string code;         // the issue code, e.g. "processing"
  std::string detail_code;  // the first issue.details.coding code, e.g. Epic's "4101"; may be ""

  friend bool operator==(const ResponseWarning&, const ResponseWarning&) = default;
};

// Collects the warnings in a response body (a JSON OperationOutcome or Bundle). A body that is
// not JSON, or holds neither, gives none.
std::vector<ResponseWarning> ExtractWarnings(std::string_view body);

struct SiteResponse {
  int status = 0;
  std::vector<http::Header> headers;  // names lower-case
  std::string body;
  std::string request_id;  // the X-Request-Id the request carried (and the site logged)
  std::vector<ResponseWarning> warnings;
  std::chrono::microseconds latency{0};  // from sending to the last byte, retries included

  const std::string* FindHeader(std::string_view lower_case_name) const;
};

class Requester {
 public:
  virtual ~Requester() = default;

  // GETs `url` (absolute) with `headers` added to the requester's own (authorization, request
  // id). Returns the response whatever its status; fails only when no response could be had
  // (connection refused, timed out, no token), with a PHI-free error.
  // Limitation: the error does not carry the request id that was sent, so a report shows none
  // for a request that got no answer at all.
  virtual base::Result<SiteResponse> Get(const std::string& url,
                                         const std::vector<http::Header>& headers) = 0;
};

// A Requester on one http::Client: no throttling and no retries, except one renewal of the
// token after a 401. Sends "Authorization: Bearer" from `token_source` when one is given,
// "Accept: application/fhir+json" and a fresh X-Request-Id per request ("smoke-" and 20 hex
// digits). Not thread-safe (one http::Client).
class HttpRequester final : public Requester {
 public:
  // `token_source` may be null (requests go without a token); it must outlive the requester.
  explicit HttpRequester(auth::TokenSource* token_source,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

  base::Result<SiteResponse> Get(const std::string& url,
                                 const std::vector<http::Header>& headers) override;

 private:
  base::Result<SiteResponse> SendOnce(const std::string& url,
                                      const std::vector<http::Header>& headers,
                                      const std::string& request_id, std::string* token_sent);

  auth::TokenSource* token_source_;
  std::chrono::milliseconds timeout_;
  http::Client client_;
};

// A fresh request id: "smoke-" followed by 20 random hexadecimal digits.
std::string NewRequestId();

}  // namespace fhirbridge::verify
