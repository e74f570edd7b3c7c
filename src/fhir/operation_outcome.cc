#include "fhir/operation_outcome.h"

#include <nlohmann/json.hpp>

namespace fhirbridge::fhir {

std::string_view IssueSeverityCode(IssueSeverity severity) {
  switch (severity) {
    case IssueSeverity::kFatal:
      return "fatal";
    case IssueSeverity::kError:
      return "error";
    case IssueSeverity::kWarning:
      return "warning";
    case IssueSeverity::kInformation:
      return "information";
  }
  return "error";
}

Json OperationOutcomeFor(const base::Error& error) {
  const base::ErrorInfo& info = error.info();
  Json issue = {
      {"severity", "error"},
      {"code", info.issue_code},
      {"details",
       {{"coding", {{{"system", kErrorCodeSystem}, {"code", info.name}}}}, {"text", info.message}}},
      {"diagnostics", error.diagnostic.empty() ? std::string(info.message) : error.diagnostic},
  };
  if (!error.epic_code.empty()) {
    issue["details"]["coding"].push_back({{"system", kEpicCodeSystem}, {"code", error.epic_code}});
  }
  if (!error.location.empty()) issue["expression"] = {error.location};
  return {{"resourceType", "OperationOutcome"}, {"issue", {issue}}};
}

Json OperationOutcomeWith(IssueSeverity severity, std::string_view issue_code,
                          std::string_view diagnostics) {
  Json issue = {{"severity", IssueSeverityCode(severity)},
                {"code", issue_code},
                {"diagnostics", diagnostics}};
  return {{"resourceType", "OperationOutcome"}, {"issue", {issue}}};
}

}  // namespace fhirbridge::fhir
