#include "verify/smoke_runner.h"

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "base/clock.h"
#include "fhir/json.h"
#include "observe/log.h"
#include "smart/scopes.h"
#include "verify/resource_checks.h"

namespace fhirbridge::verify {
namespace {

using Clock = std::chrono::steady_clock;
using Offered = std::set<std::pair<std::string, std::string>, std::less<>>;

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                            (byte >= '0' && byte <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

void ReplaceAll(std::string& text, std::string_view placeholder, std::string_view value) {
  for (std::size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
}

// "3 of 6 Observation entries lack category" style counters, kept in first-seen order.
class FailureTally {
 public:
  void Add(std::string message) {
    for (auto& [text, count] : items_) {
      if (text == message) {
        ++count;
        return;
      }
    }
    items_.emplace_back(std::move(message), 1);
  }

  void AppendTo(std::vector<std::string>& failures, std::size_t total,
                std::string_view noun) const {
    for (const auto& [text, count] : items_) {
      failures.push_back(std::to_string(count) + " of " + std::to_string(total) + " " +
                         std::string(noun) + " " + text);
    }
  }

 private:
  std::vector<std::pair<std::string, std::size_t>> items_;
};

// The coded parts of the error issues of an OperationOutcome body, for a failed status.
std::string OutcomeSummary(std::string_view body) {
  const auto document = fhir::ParseJson(body);
  if (!document || !document->is_object() ||
      document->value("resourceType", std::string()) != "OperationOutcome") {
    return {};
  }
  std::string summary;
  const auto issues = document->find("issue");
  if (issues == document->end() || !issues->is_array()) return {};
  for (const auto& issue : *issues) {
    if (!issue.is_object()) continue;
    std::string text =
        issue.value("severity", std::string()) + " " + issue.value("code", std::string());
    const auto details = issue.find("details");
    if (details != issue.end() && details->is_object() && details->contains("coding") &&
        (*details)["coding"].is_array() && !(*details)["coding"].empty() &&
        (*details)["coding"][0].is_object()) {
      const std::string code = (*details)["coding"][0].value("code", std::string());
      if (!code.empty()) text += " (" + code + ")";
    }
    summary += (summary.empty() ? "" : "; ") + text;
  }
  return summary;
}

class SiteRun {
 public:
  SiteRun(const SmokeSite& site, const SmokeDependencies& dependencies)
      : site_(site), dependencies_(dependencies) {}

  StepResult Run(const JourneyStep& step, const KnownPatient* patient) {
    StepResult result;
    result.name = step.name;
    result.patient_label = patient == nullptr ? "" : patient->label;
    result.request = step.kind == StepKind::kToken ? "token" : "GET " + step.path_template;

    if (auto reason = SkipReason(step); reason) {
      result.outcome = StepOutcome::kSkipped;
      result.skip_reason = std::move(*reason);
    } else if (step.kind == StepKind::kToken) {
      RunToken(result);
    } else {
      RunGet(step, patient, result);
    }
    if (result.outcome != StepOutcome::kSkipped && !result.failures.empty()) {
      result.outcome = StepOutcome::kFailed;
    }
    Log(result);
    return result;
  }

  // A new known patient: forget the previous one's id.
  void StartPatient() { patient_id_.reset(); }

 private:
  std::optional<std::string> SkipReason(const JourneyStep& step) const {
    if (step.kind == StepKind::kToken && dependencies_.token_source == nullptr) {
      return "no token source is configured; requests are sent without a bearer token";
    }
    if (!step.resource_type.empty()) {
      if (dependencies_.capability) {
        if (auto reason = dependencies_.capability(step.resource_type, step.interaction)) {
          return reason;
        }
      }
      if (offered_ && !offered_->contains(std::pair(step.resource_type, step.interaction))) {
        return "the site's CapabilityStatement does not offer " + step.interaction + " on " +
               step.resource_type;
      }
    }
    if (step.path_template.find("{patient_id}") != std::string::npos && !patient_id_) {
      return std::string("needs the patient's id, which patient-search did not find");
    }
    return std::nullopt;
  }

  void RunToken(StepResult& result) {
    const auto started = Clock::now();
    auto token = dependencies_.token_source->AccessToken();
    result.latency_ms = MillisecondsSince(started);
    result.timed = true;
    if (!token) {
      result.failures.push_back("no access token: " + token.error().ToString());
    } else if (token->empty()) {
      result.failures.push_back("the token source gave an empty access token");
    }
  }

  void RunGet(const JourneyStep& step, const KnownPatient* patient, StepResult& result) {
    std::string path = step.path_template;
    if (patient != nullptr) {
      ReplaceAll(path, "{identifier}",
                 PercentEncode(patient->identifier_system + "|" + patient->identifier_value));
    }
    if (patient_id_) ReplaceAll(path, "{patient_id}", PercentEncode(*patient_id_));

    std::string_view base = site_.fhir_base;
    while (base.ends_with('/')) base.remove_suffix(1);
    auto response =
        dependencies_.requester->Get(std::string(base) + "/" + path, SyntheticRequestHeaders());
    if (!response) {
      result.failures.push_back("no response: " + response.error().ToString());
      return;
    }
    result.request_id = response->request_id;
    result.http_status = response->status;
    result.latency_ms = std::chrono::duration<double, std::milli>(response->latency).count();
    result.timed = true;
    result.warnings = response->warnings;

    if (response->status != step.expected_status) {
      std::string failure = "expected HTTP " + std::to_string(step.expected_status) + ", got " +
                            std::to_string(response->status);
      const std::string outcome = OutcomeSummary(response->body);
      if (!outcome.empty()) failure += " (OperationOutcome: " + outcome + ")";
      if (const std::string* fault = response->FindHeader("x-fhirbridge-injected-fault")) {
        failure += " [sandbox fault injected: " + *fault + "]";
      }
      result.failures.push_back(std::move(failure));
      return;
    }
    if (step.expect == Expect::kNothing) return;

    auto document = fhir::ParseJson(response->body);
    if (!document) {
      result.failures.push_back("the body is not JSON: " + document.error().ToString());
      return;
    }
    if (!document->is_object()) {
      result.failures.push_back("the body is not a JSON object");
      return;
    }
    switch (step.expect) {
      case Expect::kNothing:
        break;
      case Expect::kJsonObject:
        for (const auto& field : MissingElements(*document, step.required_fields)) {
          result.failures.push_back("missing " + field);
        }
        break;
      case Expect::kCapabilityStatement:
        CheckCapabilityStatement(step, *document, result);
        break;
      case Expect::kResource:
        CheckResource(step, *document, result);
        break;
      case Expect::kSearchset:
        CheckSearchset(step, *document, result);
        break;
    }
  }

  void CheckCapabilityStatement(const JourneyStep& step, const fhir::Json& statement,
                                StepResult& result) {
    if (statement.value("resourceType", std::string()) != "CapabilityStatement") {
      result.failures.push_back("the body is not a CapabilityStatement");
      return;
    }
    for (const auto& field : MissingElements(statement, step.required_fields)) {
      result.failures.push_back("CapabilityStatement lacks " + field);
    }
    const std::string version = statement.value("fhirVersion", std::string());
    if (!version.starts_with("4.0")) {
      result.failures.push_back("fhirVersion is not R4 (4.0.x)");
    }

    // What the server offers, type by type, so that later steps it does not offer are skipped.
    Offered offered;
    const auto rests = statement.find("rest");
    if (rests != statement.end() && rests->is_array()) {
      for (const auto& rest : *rests) {
        if (!rest.is_object() || rest.value("mode", std::string()) != "server") continue;
        const auto resources = rest.find("resource");
        if (resources == rest.end() || !resources->is_array()) continue;
        for (const auto& resource : *resources) {
          if (!resource.is_object()) continue;
          const std::string type = resource.value("type", std::string());
          const auto interactions = resource.find("interaction");
          if (interactions == resource.end() || !interactions->is_array()) continue;
          for (const auto& interaction : *interactions) {
            if (interaction.is_object()) {
              offered.emplace(type, interaction.value("code", std::string()));
            }
          }
        }
      }
    }
    if (offered.empty()) {
      result.failures.push_back("the CapabilityStatement offers no server interactions");
      return;
    }
    result.notes.push_back("the CapabilityStatement offers " + std::to_string(offered.size()) +
                           " type interactions");
    offered_ = std::move(offered);
  }

  void CheckResource(const JourneyStep& step, const fhir::Json& resource, StepResult& result) {
    const std::string type = resource.value("resourceType", std::string());
    if (type != step.resource_type) {
      result.failures.push_back("expected a " + step.resource_type + ", got " +
                                (type.empty() ? std::string("no resourceType") : type));
      return;
    }
    if (patient_id_ && step.resource_type == "Patient" &&
        resource.value("id", std::string()) != *patient_id_) {
      result.failures.push_back("the Patient's id differs from the id that was read");
    }
    for (const auto& field : MissingElements(resource, step.required_fields)) {
      result.failures.push_back(type + " lacks " + field);
    }
    if (step.check_expected_extensions) {
      for (const auto& url : MissingExtensions(resource, ExpectedExtensions(type))) {
        result.failures.push_back(type + " lacks the expected extension " + url);
      }
    }
  }

  void CheckSearchset(const JourneyStep& step, const fhir::Json& bundle, StepResult& result) {
    if (bundle.value("resourceType", std::string()) != "Bundle" ||
        bundle.value("type", std::string()) != "searchset") {
      result.failures.push_back("the body is not a searchset Bundle");
      return;
    }
    const auto entries = bundle.find("entry");
    if (entries != bundle.end() && !entries->is_array()) {
      result.failures.push_back("Bundle.entry is not an array");
      return;
    }

    const std::string& type = step.resource_type;
    const std::vector<std::string>& extensions = ExpectedExtensions(type);
    std::vector<const fhir::Json*> matches;
    FailureTally tally;
    std::map<MedicationForm, std::size_t> forms;
    if (entries != bundle.end()) {
      for (const auto& entry : *entries) {
        if (!entry.is_object()) {
          tally.Add("are not JSON objects");
          continue;
        }
        const auto search = entry.find("search");
        const std::string mode = search != entry.end() && search->is_object()
                                     ? search->value("mode", std::string("match"))
                                     : std::string("match");
        // Outcome entries are warnings (collected by the requester), included resources are
        // context; neither counts as a match.
        if (mode != "match") continue;
        const auto resource = entry.find("resource");
        if (resource == entry.end() || !resource->is_object()) {
          tally.Add("have no resource");
          continue;
        }
        matches.push_back(&*resource);
        const std::string entry_type = resource->value("resourceType", std::string());
        if (entry_type != type) {
          tally.Add("are not " + type + " resources");
          continue;
        }
        for (const auto& field : MissingElements(*resource, step.required_fields)) {
          tally.Add("lack " + field);
        }
        if (!step.patient_reference_field.empty() && patient_id_ &&
            !ReferencesPatient(*resource, step.patient_reference_field, *patient_id_)) {
          tally.Add("have a " + step.patient_reference_field + " that is not the searched patient");
        }
        if (step.check_expected_extensions) {
          for (const auto& url : MissingExtensions(*resource, extensions)) {
            tally.Add("lack the expected extension " + url);
          }
        }
        if (step.classify_medications) ++forms[ClassifyMedication(*resource)];
      }
    }
    tally.AppendTo(result.failures, matches.size(), type + " entries");

    if (step.exactly_one_match && matches.size() != 1) {
      result.failures.push_back("expected exactly one " + type + ", found " +
                                std::to_string(matches.size()));
    }
    if (step.require_some_match && matches.empty()) {
      result.failures.push_back("expected at least one " + type + ", found none");
    }
    if (step.captures_patient_id && matches.size() == 1) {
      const std::string id = matches.front()->value("id", std::string());
      if (id.empty()) {
        result.failures.push_back("the " + type + " found has no id");
      } else {
        patient_id_ = id;
      }
    }

    result.matches = matches.size();
    if (HasNextLink(bundle))
      result.notes.push_back("more pages offered; only the first is checked");
    if (step.classify_medications && !matches.empty()) {
      std::string summary = "medications:";
      bool first = true;
      for (const auto form : {MedicationForm::kCoded, MedicationForm::kReference,
                              MedicationForm::kFreeText, MedicationForm::kMissing}) {
        summary += std::string(first ? " " : ", ") + std::string(MedicationFormName(form)) + " " +
                   std::to_string(forms[form]);
        first = false;
      }
      result.notes.push_back(std::move(summary));
    }
  }

  static bool HasNextLink(const fhir::Json& bundle) {
    const auto links = bundle.find("link");
    if (links == bundle.end() || !links->is_array()) return false;
    for (const auto& link : *links) {
      if (link.is_object() && link.value("relation", std::string()) == "next") return true;
    }
    return false;
  }

  const std::vector<std::string>& ExpectedExtensions(std::string_view type) const {
    static const std::vector<std::string> kNone;
    const auto found = site_.expected_extensions.find(type);
    return found == site_.expected_extensions.end() ? kNone : found->second;
  }

  void Log(const StepResult& result) const {
    observe::LogEvent event;
    event.level = result.outcome == StepOutcome::kFailed ? observe::LogLevel::kWarning
                                                         : observe::LogLevel::kInfo;
    event.event = "smoke.step";
    event.subsystem = "verify.smoke";
    if (result.outcome == StepOutcome::kFailed) {
      event.message = "A smoke step failed; the report lists its failed checks.";
    } else {
      event.message = "A smoke step finished.";
    }
    event.site = site_.name;
    event.correlation_id = result.request_id;
    event.status = result.http_status;
    if (result.timed) event.latency_ms = result.latency_ms;
    event.attributes.push_back({"step", observe::NonPhi{result.name}});
    event.attributes.push_back(
        {"outcome", observe::NonPhi{std::string(StepOutcomeName(result.outcome))}});
    if (!result.patient_label.empty()) {
      event.attributes.push_back({"patient_label", observe::NonPhi{result.patient_label}});
    }
    observe::Log(event);
  }

  const SmokeSite& site_;
  const SmokeDependencies& dependencies_;
  std::optional<Offered> offered_;
  std::optional<std::string> patient_id_;
};

}  // namespace

CapabilityCheck GrantedScopesCapability(std::string_view granted_scopes) {
  auto scopes = std::make_shared<smart::ParsedScopes>(smart::ParseScopes(granted_scopes));
  return [scopes](std::string_view type,
                  std::string_view interaction) -> std::optional<std::string> {
    const smart::Permission permission =
        interaction == "read" ? smart::Permission::kRead : smart::Permission::kSearch;
    const smart::Decision decision =
        smart::Decide(scopes->scopes, type, permission,
                      {smart::Context::kSystem, smart::Context::kUser, smart::Context::kPatient});
    if (decision.allowed) return std::nullopt;
    return "not granted: the token's scopes lack " + decision.scope;
  };
}

SiteReport RunSmoke(const Journey& journey, const SmokeSite& site,
                    const SmokeDependencies& dependencies) {
  SiteReport report;
  report.site = site.name;
  report.fhir_base = site.fhir_base;
  report.started_at = base::FormatInstant(std::chrono::system_clock::now());
  const auto started = Clock::now();

  SiteRun run(site, dependencies);
  for (const auto& step : journey.steps) {
    if (!step.per_patient) report.steps.push_back(run.Run(step, nullptr));
  }
  for (const auto& patient : site.patients) {
    run.StartPatient();
    for (const auto& step : journey.steps) {
      if (step.per_patient) report.steps.push_back(run.Run(step, &patient));
    }
  }
  report.duration_ms = MillisecondsSince(started);
  return report;
}

}  // namespace fhirbridge::verify
