#pragma once

// The smoke suite's Requester on a site connection (sites/site_connection.h): every smoke
// request goes through the site's maintenance gate (refused, not waited for: a smoke run is
// interactive), concurrency limit, throttle, retries, circuit breaker and token renewal, with the
// site client's X-Request-Id and traceparent. The headers the runner passes (the synthetic
// transaction markers of SyntheticRequestHeaders) are sent as they are.
//
// Thread safety: as SiteConnection::Send.

#include <optional>
#include <string>
#include <vector>

#include "auth/capabilities.h"
#include "sites/site_connection.h"
#include "verify/requester.h"
#include "verify/smoke_runner.h"

namespace fhirbridge::verify {

class SiteRequester final : public Requester {
 public:
  // `connection` must outlive the requester.
  explicit SiteRequester(sites::SiteConnection& connection) : connection_(connection) {}

  // Fails with the site client's errors (kRetriesExhausted, kCircuitOpen, kIoFailure, the token
  // source's) and kMaintenanceWindow while the site is in maintenance.
  base::Result<SiteResponse> Get(const std::string& url,
                                 const std::vector<http::Header>& headers) override;

 private:
  sites::SiteConnection& connection_;
};

// The smoke runner's capability check from a site's capability matrix (granted scopes x
// CapabilityStatement): a step is refused with the matrix's reason. An interaction the matrix
// does not know is let through (the runner's own CapabilityStatement check still applies).
// `matrix` must outlive the check.
CapabilityCheck MatrixCapability(const auth::CapabilityMatrix& matrix);

// The smoke dependencies of a connected site: its token source, and its live capability matrix
// as the capability check (SiteConnection::LoadCapabilities, once). Without a matrix (no token,
// no metadata) `problem` receives the cause and every step is attempted, so the token or
// discovery step reports it. `requester` stays to be set.
SmokeDependencies SiteSmokeDependencies(sites::SiteConnection& connection,
                                        std::optional<base::Error>* problem = nullptr);

}  // namespace fhirbridge::verify
