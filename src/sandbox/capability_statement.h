#pragma once

// Generates a tenant's CapabilityStatement from its build level and the interactions the
// server's routes implement: a type or interaction appears only if both allow it, so the
// statement can never promise what the server does not do.

#include <set>
#include <string_view>

#include "fhir/json_value.h"
#include "sandbox/tenant.h"

namespace fhirbridge::sandbox {

// `implemented` is the set of interactions the FHIR routes serve; `base_url` is the tenant's
// absolute FHIR base; `date` is a FHIR dateTime for CapabilityStatement.date.
fhir::Json BuildCapabilityStatement(const Tenant& tenant, const std::set<Interaction>& implemented,
                                    std::string_view base_url, std::string_view date);

}  // namespace fhirbridge::sandbox
