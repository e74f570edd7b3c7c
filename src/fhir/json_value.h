#pragma once

// The JSON type fhirbridge keeps FHIR resources in. ordered_json keeps the members of an object
// in the order they were written, so a stored resource reads back as the client sent it, with
// resourceType first as FHIR shows it, rather than sorted by name.

#include <nlohmann/json_fwd.hpp>

namespace fhirbridge::fhir {

using Json = nlohmann::ordered_json;

}  // namespace fhirbridge::fhir
