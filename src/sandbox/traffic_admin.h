#pragma once

// The admin API's traffic and fault routes for one tenant (plain JSON, not FHIR):
//   GET|PUT    /admin/tenants/{tenant}/traffic      rate and concurrency limits
//   GET|PUT    /admin/tenants/{tenant}/faults       injected faults
//   GET        /admin/tenants/{tenant}/maintenance  whether a maintenance window is on, until when
//   POST       /admin/tenants/{tenant}/maintenance  {"seconds": N}: a window from now for N seconds
//   DELETE     /admin/tenants/{tenant}/maintenance  ends the window started by POST
// A PUT replaces the settings as a whole (keys left out take their defaults, which are "off") and
// answers with them. A body with mistakes is refused with 400 and an OperationOutcome holding one
// issue per mistake, its expression the key's path; nothing changes then.
//
// Limitation: changes last until the sandbox stops; the tenant file is not rewritten.

#include <string_view>

#include "fhir/json_value.h"
#include "http/message.h"
#include "sandbox/admin_api.h"
#include "sandbox/tenant.h"

namespace fhirbridge::sandbox {

// The actions HandleTrafficAdminCall serves.
bool IsTrafficAdminAction(std::string_view action);

// `action` is one of the IsTrafficAdminAction names.
AdminAnswer HandleTrafficAdminCall(Tenant& tenant, const http::Request& request,
                                   std::string_view action);

// The tenant's traffic state for GET /admin/tenants/{tenant}: requests in flight and queued,
// the end of the current maintenance window and the number of scheduled resets so far.
fhir::Json TrafficState(Tenant& tenant);

}  // namespace fhirbridge::sandbox
