#pragma once

// The baseline: named example data a tenant is loaded with at start and on reset. Baselines are
// folders of FHIR JSON under data/sandbox/baseline/ in the repository, compiled into the binary.

#include <string_view>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"

namespace fhirbridge::sandbox {

// Returns every resource of baseline `name`, each a JSON object with resourceType and id, sorted
// by file name. Files may hold one resource or a Bundle of type "collection" whose entries are
// returned one by one. kConfigNotFound if no such baseline; kInvalidResource (naming the file)
// if a file is not valid FHIR JSON or a resource lacks resourceType or id.
base::Result<std::vector<fhir::Json>> LoadBaseline(std::string_view name);

}  // namespace fhirbridge::sandbox
