#pragma once

// The FHIR R4 REST interactions of one tenant: read, vread, create (and conditional create),
// update (version-aware), delete, search (GET and POST _search; see sandbox/search.h),
// instance/type/system history, batch and transaction Bundles, and the CapabilityStatement.
// Every refusal is an OperationOutcome from the error catalogue. A type the build level has but
// does not enable for the client answers 403; a type it does not know answers 404.

#include <set>
#include <span>
#include <string>
#include <string_view>

#include "http/message.h"
#include "sandbox/auth_server.h"
#include "sandbox/build_level.h"
#include "sandbox/tenant.h"

namespace fhirbridge::sandbox {

// The interactions these routes implement; the CapabilityStatement is limited to them.
const std::set<Interaction>& ImplementedInteractions();

struct FhirCall {
  Tenant& tenant;
  const http::Request& request;
  std::span<const std::string> segments;  // path segments after the tenant's FHIR base
  std::string base_url;                   // absolute, e.g. "http://127.0.0.1:8090/t/api/FHIR/R4"
  std::string server_started;             // FHIR instant, for CapabilityStatement.date
  // The bearer token's grant when the request carried one (checked already); operations that
  // check their own access (Bulk Data) read it.
  const AccessGrant* grant = nullptr;
};

struct FhirAnswer {
  http::Response response;
  std::string route;                 // the route template matched, for logs and metrics
  std::optional<base::Error> error;  // set when the answer is a refusal
};

FhirAnswer HandleFhirCall(const FhirCall& call);

// An OperationOutcome response for `error`, with the catalogue's status.
http::Response ErrorResponse(const base::Error& error);

// A response with `body` as application/fhir+json.
http::Response JsonResponse(int status, const fhir::Json& body);

}  // namespace fhirbridge::sandbox
