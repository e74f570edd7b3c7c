#pragma once

// Reading FHIR JSON bodies with precise, PHI-free errors.

#include <map>
#include <string>
#include <string_view>

#include "base/result.h"
#include "fhir/json_value.h"

namespace fhirbridge::fhir {

// Parses `text` as JSON. On failure returns kInvalidJson whose diagnostic names the line and
// column of the first bad byte and the kind of mistake, never the text around it (which may
// hold patient data).
base::Result<Json> ParseJson(std::string_view text);

// Parses `text` as a FHIR resource: a JSON object with a string resourceType that is an R4
// resource type. kInvalidJson or kInvalidResource with a precise diagnostic otherwise.
base::Result<Json> ParseResource(std::string_view text);

// Replaces every "reference" string equal to a key of `replacements` with its value, anywhere
// in `resource`. Returns how many were replaced.
int ReplaceReferences(Json& resource,
                      const std::map<std::string, std::string, std::less<>>& replacements);

}  // namespace fhirbridge::fhir
