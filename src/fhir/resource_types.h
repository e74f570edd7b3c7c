#pragma once

// The resource types of FHIR R4 (4.0.1), for checking names in configuration files, URLs and
// resource bodies. The abstract types Resource and DomainResource are not in the list: nothing
// can be stored or requested as one of them.

#include <span>
#include <string_view>

namespace fhirbridge::fhir {

// Every concrete R4 resource type, sorted by byte value.
std::span<const std::string_view> R4ResourceTypes();

// True if `name` is exactly (case-sensitively) an R4 resource type.
bool IsR4ResourceType(std::string_view name);

}  // namespace fhirbridge::fhir
