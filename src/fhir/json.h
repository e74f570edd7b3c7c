#pragma once

// Reading FHIR JSON bodies with precise, PHI-free errors.

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace fhirbridge::fhir {

// Parses `text` as JSON. On failure returns kInvalidJson whose diagnostic names the line and
// column of the first bad byte and the kind of mistake, never the text around it (which may
// hold patient data).
base::Result<nlohmann::json> ParseJson(std::string_view text);

// Parses `text` as a FHIR resource: a JSON object with a string resourceType that is an R4
// resource type. kInvalidJson or kInvalidResource with a precise diagnostic otherwise.
base::Result<nlohmann::json> ParseResource(std::string_view text);

// Replaces every "reference" string equal to a key of `replacements` with its value, anywhere
// in `resource`. Returns how many were replaced.
int ReplaceReferences(nlohmann::json& resource,
                      const std::map<std::string, std::string, std::less<>>& replacements);

}  // namespace fhirbridge::fhir
