#include "traffic/outcome_warnings.h"

#include <nlohmann/json.hpp>

#include "fhir/json_value.h"

namespace fhirbridge::traffic {
namespace {

using fhir::Json;

std::string StringAt(const Json& object, std::string_view key) {
  if (!object.is_object()) return {};
  const auto found = object.find(key);
  if (found == object.end() || !found->is_string()) return {};
  return found->get<std::string>();
}

void CollectIssues(const Json& outcome, OutcomeWarning::Source source,
                   std::vector<OutcomeWarning>& warnings) {
  if (!outcome.is_object() || StringAt(outcome, "resourceType") != "OperationOutcome") return;
  const auto issues = outcome.find("issue");
  if (issues == outcome.end() || !issues->is_array()) return;
  for (const Json& issue : *issues) {
    const std::string severity = StringAt(issue, "severity");
    if (severity != "warning" && severity != "information") continue;
    OutcomeWarning warning;
    warning.source = source;
    warning.severity = severity;
    warning.code = StringAt(issue, "code");
    warning.diagnostics = StringAt(issue, "diagnostics");
    const auto details = issue.find("details");
    if (details != issue.end() && details->is_object()) {
      const auto coding = details->find("coding");
      if (coding != details->end() && coding->is_array() && !coding->empty()) {
        warning.details_system = StringAt(coding->front(), "system");
        warning.details_code = StringAt(coding->front(), "code");
      }
      if (warning.diagnostics.empty()) warning.diagnostics = StringAt(*details, "text");
    }
    const auto expression = issue.find("expression");
    if (expression != issue.end() && expression->is_array()) {
      for (const Json& item : *expression) {
        if (item.is_string()) warning.expression.push_back(item.get<std::string>());
      }
    }
    warnings.push_back(std::move(warning));
  }
}

}  // namespace

std::vector<OutcomeWarning> ExtractOutcomeWarnings(std::string_view body) {
  std::vector<OutcomeWarning> warnings;
  // Cheap refusal of bodies that cannot hold an OperationOutcome (most resources read).
  if (body.find("OperationOutcome") == std::string_view::npos) return warnings;
  const Json document = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return warnings;

  const std::string type = StringAt(document, "resourceType");
  if (type == "OperationOutcome") {
    CollectIssues(document, OutcomeWarning::Source::kOperationOutcome, warnings);
    return warnings;
  }
  if (type != "Bundle") return warnings;
  const auto entries = document.find("entry");
  if (entries == document.end() || !entries->is_array()) return warnings;
  for (const Json& entry : *entries) {
    if (!entry.is_object()) continue;
    const auto search = entry.find("search");
    const auto resource = entry.find("resource");
    if (search != entry.end() && StringAt(*search, "mode") == "outcome" &&
        resource != entry.end()) {
      CollectIssues(*resource, OutcomeWarning::Source::kSearchOutcomeEntry, warnings);
    }
    const auto response = entry.find("response");
    if (response != entry.end() && response->is_object()) {
      const auto outcome = response->find("outcome");
      if (outcome != response->end()) {
        CollectIssues(*outcome, OutcomeWarning::Source::kEntryResponseOutcome, warnings);
      }
    }
  }
  return warnings;
}

std::string_view OutcomeWarningSourceName(OutcomeWarning::Source source) {
  switch (source) {
    case OutcomeWarning::Source::kOperationOutcome:
      return "operation-outcome";
    case OutcomeWarning::Source::kSearchOutcomeEntry:
      return "search-outcome-entry";
    case OutcomeWarning::Source::kEntryResponseOutcome:
      return "entry-response-outcome";
  }
  return "operation-outcome";
}

}  // namespace fhirbridge::traffic
