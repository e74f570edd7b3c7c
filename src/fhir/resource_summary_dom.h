#pragma once

// Summarising a resource that the caller has already parsed with simdjson's DOM parser (sync's
// page parser), so that the same bytes are not parsed a second time. This header includes
// simdjson: include it from .cc files only.

#include <simdjson.h>

#include "fhir/resource_summary.h"

namespace fhirbridge::fhir {

// What ResourceSummariser::Summarise returns for the text of `resource`, read off its parse.
ResourceSummary SummariseParsed(simdjson::dom::element resource);

}  // namespace fhirbridge::fhir
