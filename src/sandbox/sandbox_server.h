#pragma once

// The sandbox's HTTP front: tenants under /{tenant}/api/FHIR/R4/, the admin API under /admin/,
// Prometheus metrics at /metrics and a liveness route at /healthz. Every request is given a
// correlation id (X-Request-Id, honoured when the client sends a sane one), logged once without
// PHI, and counted in the metrics per tenant, route template and status class.

#include <map>
#include <memory>
#include <string>

#include "base/result.h"
#include "http/server.h"
#include "observe/metrics.h"
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

  // Graceful shutdown: see http::Server::Stop.
  void Stop();
  void Wait();

  // Handles one request as the server would; used by the server and by tests.
  http::Response Handle(const http::Request& request);

 private:
  SandboxServer(SandboxConfig config, observe::MetricsRegistry& metrics);

  SandboxConfig config_;
  observe::MetricsRegistry& metrics_;
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;
  std::string started_at_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace fhirbridge::sandbox
