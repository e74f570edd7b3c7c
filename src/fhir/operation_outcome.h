#pragma once

// OperationOutcome resources built from catalogue errors, so every non-2xx answer carries the
// same code, issue type and diagnostic that the logs record.

#include <string>
#include <string_view>

#include "base/error.h"
#include "fhir/json_value.h"

namespace fhirbridge::fhir {

enum class IssueSeverity { kFatal, kError, kWarning, kInformation };

std::string_view IssueSeverityCode(IssueSeverity severity);

// An OperationOutcome with one issue describing `error`: severity error, the catalogue's issue
// code, details.coding with the catalogue name (system kErrorCodeSystem) and, when set, the Epic
// code (system kEpicCodeSystem), the diagnostic and, when set, the location as an expression.
Json OperationOutcomeFor(const base::Error& error);

// An OperationOutcome with a single issue of the given severity, FHIR issue code and text.
Json OperationOutcomeWith(IssueSeverity severity, std::string_view issue_code,
                          std::string_view diagnostics);

// The code system of fhirbridge's own error codes in OperationOutcome.issue.details.
inline constexpr std::string_view kErrorCodeSystem = "urn:fhirbridge:error-code";

// The system of Epic's OperationOutcome codes in Epic's sandbox (Error::epic_code).
inline constexpr std::string_view kEpicCodeSystem = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369";

}  // namespace fhirbridge::fhir
