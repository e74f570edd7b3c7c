#include "store/store_support.h"

#include <simdjson.h>

#include <array>
#include <chrono>

namespace fhirbridge::store {

bool IsJsonText(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  const simdjson::padded_string padded(text);
  return parser.parse(padded).get(element) == simdjson::SUCCESS;
}

base::Status CheckPage(const Page& page) {
  if (page.site.empty()) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "the page names no site", "Page.site");
  }
  if (page.checkpoint && page.checkpoint->key.site != page.site) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "the page's checkpoint belongs to another site", "Page.checkpoint.site");
  }
  if (page.checkpoint && page.checkpoint->key.resource_type.empty()) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "the page's checkpoint names no type",
                      "Page.checkpoint.resource_type");
  }
  for (std::size_t i = 0; i < page.tombstones.size(); ++i) {
    if (page.tombstones[i].resource_type.empty() || page.tombstones[i].id.empty()) {
      return base::Fail(base::ErrorCode::kInvalidParameter,
                        "a tombstone needs a resource type and an id",
                        "Page.tombstones[" + std::to_string(i) + "]");
    }
  }
  return {};
}

base::Error CheckpointStateError() {
  return base::MakeError(base::ErrorCode::kInvalidParameter,
                         "the checkpoint state is not a JSON text; the page was not stored",
                         "Page.checkpoint.state");
}

std::string_view SyncRunStatusName(SyncRunStatus status) {
  switch (status) {
    case SyncRunStatus::kRunning:
      return "running";
    case SyncRunStatus::kSucceeded:
      return "succeeded";
    case SyncRunStatus::kFailed:
      return "failed";
    case SyncRunStatus::kCancelled:
      return "cancelled";
  }
  return "running";
}

std::string_view WorkItemStateName(WorkItemState state) {
  switch (state) {
    case WorkItemState::kPending:
      return "pending";
    case WorkItemState::kLeased:
      return "leased";
    case WorkItemState::kDone:
      return "done";
    case WorkItemState::kFailed:
      return "failed";
  }
  return "pending";
}

base::Result<SyncRunStatus> ParseSyncRunStatus(std::string_view name) {
  for (const auto status : {SyncRunStatus::kRunning, SyncRunStatus::kSucceeded,
                            SyncRunStatus::kFailed, SyncRunStatus::kCancelled}) {
    if (SyncRunStatusName(status) == name) return status;
  }
  return base::Fail(base::ErrorCode::kStorageFailure, "sync_runs holds an unknown status");
}

base::Result<WorkItemState> ParseWorkItemState(std::string_view name) {
  for (const auto state : {WorkItemState::kPending, WorkItemState::kLeased, WorkItemState::kDone,
                           WorkItemState::kFailed}) {
    if (WorkItemStateName(state) == name) return state;
  }
  return base::Fail(base::ErrorCode::kStorageFailure, "work_items holds an unknown state");
}

Micros NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t WholeVersionNumber(std::string_view text) {
  if (text.empty() || text.size() > 18) return 0;
  std::int64_t number = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return 0;
    number = number * 10 + (c - '0');
  }
  return number;
}

void PrepareResources(const Page& page, fhir::ResourceSummariser& summariser, base::Sha256& hasher,
                      std::vector<PreparedResource>& prepared) {
  const bool summarised = page.summaries.size() == page.resources.size();
  prepared.resize(page.resources.size());
  for (std::size_t i = 0; i < page.resources.size(); ++i) {
    PreparedResource& resource = prepared[i];
    resource.raw = page.resources[i];
    resource.content_hash = hasher.Hex(page.resources[i]);
    if (summarised && page.summaries[i] != nullptr) {
      resource.summary = page.summaries[i];
    } else {
      resource.own_summary = summariser.Summarise(page.resources[i]);
      resource.summary = &resource.own_summary;
    }
  }
}

}  // namespace fhirbridge::store

namespace fhirbridge::store {

const char* const kClinicalViewsSql = R"sql(
CREATE VIEW patient_view AS
  SELECT site, id, gender, birth_date, status AS active_status
  FROM resources WHERE resource_type = 'Patient' AND deleted = 0;
CREATE VIEW encounter_view AS
  SELECT site, id, patient_reference, status, category AS class_code, code_system, code,
         effective AS period_start, effective_us AS period_start_us
  FROM resources WHERE resource_type = 'Encounter' AND deleted = 0;
CREATE VIEW observation_view AS
  SELECT site, id, patient_reference, encounter_reference, status, category, code_system, code,
         effective, effective_us, value_number, value_unit
  FROM resources WHERE resource_type = 'Observation' AND deleted = 0;
CREATE VIEW condition_view AS
  SELECT site, id, patient_reference, encounter_reference, status AS clinical_status, category,
         code_system, code, effective AS onset, effective_us AS onset_us
  FROM resources WHERE resource_type = 'Condition' AND deleted = 0;
CREATE VIEW allergy_intolerance_view AS
  SELECT site, id, patient_reference, encounter_reference, status AS clinical_status, category,
         code_system, code, effective AS onset, effective_us AS onset_us
  FROM resources WHERE resource_type = 'AllergyIntolerance' AND deleted = 0;
CREATE VIEW medication_request_view AS
  SELECT site, id, patient_reference, encounter_reference, status, category AS intent,
         code_system, code, effective AS authored_on, effective_us AS authored_on_us
  FROM resources WHERE resource_type = 'MedicationRequest' AND deleted = 0;
CREATE VIEW medication_statement_view AS
  SELECT site, id, patient_reference, encounter_reference, status, category, code_system, code,
         effective, effective_us
  FROM resources WHERE resource_type = 'MedicationStatement' AND deleted = 0;
)sql";

}  // namespace fhirbridge::store
