#pragma once

// The sandbox's admin API (plain JSON, not FHIR), under /admin/:
//   GET  /admin/tenants                 every tenant: name, organisation, build level, base path
//   GET  /admin/tenants/{tenant}        one tenant with its resource counts per type
//   POST /admin/tenants/{tenant}/reset  reset the tenant to its baseline; returns the counts
//   GET  /admin/stats                   resource counts per tenant and server uptime
// and the traffic and fault routes of traffic_admin.h (/traffic, /faults, /maintenance).
// Errors are OperationOutcomes from the error catalogue, like every other route.

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "http/message.h"
#include "sandbox/tenant.h"

namespace fhirbridge::sandbox {

struct AdminAnswer {
  http::Response response;
  std::string route;                 // route template
  std::string tenant;                // the tenant concerned, if any
  std::optional<base::Error> error;  // set when the answer is a refusal
};

using TenantMap = std::map<std::string, std::unique_ptr<Tenant>, std::less<>>;

// `segments` are the path segments after "admin".
AdminAnswer HandleAdminCall(TenantMap& tenants, const http::Request& request,
                            std::span<const std::string> segments, std::string_view started_at);

}  // namespace fhirbridge::sandbox
