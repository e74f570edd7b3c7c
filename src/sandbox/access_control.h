#pragma once

// What a bearer token may do on the FHIR API: SMART scopes checked per interaction and type,
// and, for tokens with a patient in context, the patient's compartment.
//
// Compartment membership is read from the references that place a resource in a patient's
// record (Patient.id itself, and subject, patient, beneficiary or individual references of
// other types). Resources without any such reference (Practitioner, Organization, Medication,
// Location...) are shared by every record and readable with a matching scope.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"
#include "http/message.h"
#include "sandbox/auth_server.h"
#include "sandbox/build_level.h"

namespace fhirbridge::sandbox {

// The SMART permission an interaction needs (read for read, vread and instance history; search
// for search and type history; create, update, delete for themselves).
smart::Permission PermissionFor(Interaction interaction);

// Checks scopes only: kInsufficientScope naming the scope the client would need.
base::Status CheckScope(const AccessGrant& grant, std::string_view resource_type,
                        Interaction interaction);

// For a patient-context grant, checks that `resource` (a read result or a body to write)
// belongs to the patient's compartment; always passes for other grants.
base::Status CheckCompartment(const AccessGrant& grant, const fhir::Json& resource);

// For a patient-context grant, checks that a search names the patient (patient=, subject=, or
// _id= on Patient); always passes for other grants.
base::Status CheckSearchCompartment(
    const AccessGrant& grant, std::string_view resource_type,
    const std::vector<std::pair<std::string, std::string>>& parameters);

// Checks, before it runs, everything a FHIR request (path segments after the tenant's base)
// will do: the scope of each interaction (each entry of a batch or transaction), the patient
// named by a search, and the patient of a resource being written. The CapabilityStatement and
// requests the FHIR routes will refuse anyway pass through, so that their own error answers.
base::Status AuthorizeFhirRequest(const AccessGrant& grant, const http::Request& request,
                                  std::span<const std::string> segments);

// Checks, after it ran, that a resource a patient-context token read belongs to its patient.
base::Status AuthorizeFhirAnswer(const AccessGrant& grant, const http::Request& request,
                                 std::span<const std::string> segments,
                                 const http::Response& response);

// Adds the WWW-Authenticate header RFC 6750 asks for to a 401 or 403 answer.
void AddAuthenticateChallenge(http::Response& response, const base::Error& error,
                              std::string_view realm);

}  // namespace fhirbridge::sandbox
