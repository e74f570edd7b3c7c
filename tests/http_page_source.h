#pragma once

// Test support: a PageSource over a plain http::Client with a small bounded retry, for the sync
// engine's tests that drive the sandbox's fault injection hard (every other request refused or
// cut) and count attempts; the runtime uses sync::SitePageSource on the site client, whose
// circuit breaker would rightly stop such a run. It retries dropped connections, 429 and 5xx up
// to `max_attempts`, honouring Retry-After up to `max_retry_wait`, and sends an X-Request-Id with
// every attempt. No throttle, circuit breaker or token renewal.
//
// Thread safety: not thread-safe; use one per thread.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "http/client.h"
#include "sync/ports.h"

namespace fhirbridge::sync {

struct HttpPageSourceOptions {
  int max_attempts = 8;
  std::chrono::milliseconds first_backoff{20};
  std::chrono::milliseconds max_retry_wait{2000};
  std::chrono::milliseconds timeout{30000};
};

class HttpPageSource : public PageSource {
 public:
  explicit HttpPageSource(HttpPageSourceOptions options = {});

  base::Result<FetchResponse> Get(const FetchRequest& request) override;

  // Requests sent, counting every attempt, and Get calls made.
  std::int64_t attempts() const { return attempts_; }
  std::int64_t calls() const { return calls_; }

 private:
  HttpPageSourceOptions options_;
  http::Client client_;
  std::int64_t attempts_ = 0;
  std::int64_t calls_ = 0;
  std::uint64_t next_request_number_ = 0;
};

}  // namespace fhirbridge::sync
