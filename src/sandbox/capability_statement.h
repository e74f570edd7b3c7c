#pragma once

// Generates a tenant's CapabilityStatement from its build level and the interactions the
// server's routes implement: a type or interaction appears only if both allow it, so the
// statement can never promise what the server does not do.

#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string_view>

#include "sandbox/tenant.h"

namespace fhirbridge::sandbox {

// `implemented` is the set of interactions the FHIR routes serve; `base_url` is the tenant's
// absolute FHIR base; `date` is a FHIR dateTime for CapabilityStatement.date.
nlohmann::json BuildCapabilityStatement(const Tenant& tenant,
                                        const std::set<Interaction>& implemented,
                                        std::string_view base_url, std::string_view date);

}  // namespace fhirbridge::sandbox
