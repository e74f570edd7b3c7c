#pragma once

// The sandbox's HTTP front: tenants under /{tenant}/api/FHIR/R4/, the admin API under /admin/,
// Prometheus metrics at /metrics and a liveness route at /healthz. Every request is given a
// correlation id (X-Request-Id, honoured when the client sends a sane one), logged once without
// PHI, and counted in the metrics per tenant, route template and status class.
//
// FHIR requests pass through their tenant's traffic shaping and injected faults first (see
// TenantTraffic): maintenance windows, the per-client rate limit, the concurrency limit with its
// queue, injected errors and paging faults, then injected latency and dropped connections. Every
// wait is a timer on the server, never a sleeping worker. Scheduled resets to the baseline run on
// a timer too. None of this touches /admin, /metrics or /healthz.
//
// Limitation: a queued request whose client has gone away keeps its place until it is admitted
// or its wait expires; the server learns of the departure only when it writes the answer.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "http/server.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "sandbox/fhir_api.h"
#include "sandbox/tenant.h"
#include "sandbox/tenant_config.h"

namespace fhirbridge::sandbox {

class SandboxServer {
 public:
  // Opens every tenant (loading baselines) and starts listening. `metrics` must outlive the
  // server. Fails if a tenant's store cannot be opened or the port cannot be bound.
  static base::Result<std::unique_ptr<SandboxServer>> Start(SandboxConfig config,
                                                            observe::MetricsRegistry& metrics);
  ~SandboxServer();

  unsigned short port() const;
  // "http://host:port", for messages and tests.
  std::string Origin() const;
  const SandboxConfig& config() const { return config_; }
  // The tenant called `name`, or nullptr; for in-process tests and tools.
  Tenant* FindTenant(std::string_view name);

  // Graceful shutdown: see http::Server::Stop.
  void Stop();
  void Wait();

  // Handles one request as the server would, but without traffic shaping or injected faults,
  // which need the running server's timers; for in-process tests.
  http::Response Handle(const http::Request& request);

 private:
  struct Exchange;

  SandboxServer(SandboxConfig config, observe::MetricsRegistry& metrics);

  // The request id to answer with: the client's X-Request-Id when it is sane, else a new one.
  static std::string RequestIdFor(const http::Request& request);
  // Sets X-Request-Id on `response`, counts it in the metrics and logs it.
  void Record(const http::Request& request, const std::string& request_id,
              std::chrono::steady_clock::time_point started, std::string route,
              std::string tenant_name, std::optional<base::Error> error, http::Response& response);
  // "host:port" from the request's Host header when it is sane, else the configured address.
  std::string AuthorityOf(const http::Request& request) const;
  AuthUrls AuthUrlsOf(const Tenant& tenant, const http::Request& request) const;
  FhirAnswer CallFhir(Tenant& tenant, const http::Request& request,
                      std::span<const std::string> segments);

  // The asynchronous path the HTTP server takes: FHIR requests go through traffic shaping.
  void Serve(http::Request request, http::Responder responder);
  void ServeFhir(const std::shared_ptr<Exchange>& exchange);
  void Admitted(const std::shared_ptr<Exchange>& exchange);
  void ApplyPagingFaults(Exchange& exchange);
  void Deliver(const std::shared_ptr<Exchange>& exchange);
  void Complete(Exchange& exchange);
  // Counts and logs one injected fault; `kind` is a metric label and a log attribute.
  void RecordFault(const std::string& tenant_name, const std::string& correlation_id,
                   observe::Literal kind, std::chrono::milliseconds delay = {});
  void UpdateTrafficGauges();
  // Resets `tenant` on its fault settings' period for as long as they stay at `generation`.
  void ScheduleResets(Tenant& tenant, std::uint64_t generation);

  SandboxConfig config_;
  observe::MetricsRegistry& metrics_;
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;
  std::string started_at_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace fhirbridge::sandbox
