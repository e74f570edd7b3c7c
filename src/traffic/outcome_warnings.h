#pragma once

// Warnings and information a site put in a response, so that callers see them instead of losing
// them: the issues of an OperationOutcome answer, of a Bundle entry's OperationOutcome marked
// search.mode = "outcome" (Epic puts its search warnings there, such as 4122 for an ignored
// parameter or 4101 for no results), and of an OperationOutcome in an entry's response.outcome
// (batch and transaction answers).
//
// The diagnostics are the site's text and may echo request values: they go to the caller, never
// to logs or metrics.

#include <string>
#include <string_view>
#include <vector>

namespace fhirbridge::traffic {

struct OutcomeWarning {
  enum class Source { kOperationOutcome, kSearchOutcomeEntry, kEntryResponseOutcome };

  Source source = Source::kOperationOutcome;
  std::string severity;        // "warning" or "information"
  std::string code;            // issue.code, e.g. "processing"
  std::string details_system;  // first issue.details.coding; Epic's codes use kEpicCodeSystem
  std::string details_code;    // e.g. "4122"
  std::string diagnostics;     // issue.diagnostics, else issue.details.text
  std::vector<std::string> expression;  // issue.expression
};

// The warning and information issues in `body` (a FHIR JSON resource). A body that is not JSON,
// or not an OperationOutcome or Bundle, has none; so do error and fatal issues, which the status
// already reports.
std::vector<OutcomeWarning> ExtractOutcomeWarnings(std::string_view body);

std::string_view OutcomeWarningSourceName(OutcomeWarning::Source source);

}  // namespace fhirbridge::traffic
