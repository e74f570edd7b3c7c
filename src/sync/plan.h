#pragma once

// Sync planning: for each resource type, the best strategy the site allows, with the reason.
//
// Order of preference, best first:
//   1. _lastUpdated windows: searchable by _lastUpdated and sortable by it; pages come oldest
//      first, so the checkpoint can move after every page; deletions are read from type history
//      where it is allowed, else found by comparing counts and sweeping ids when they differ.
//      An incremental run costs one history read per type where history is allowed (it holds
//      changes and deletions alike), else a window and a count: a deletion leaves no trace in a
//      search, so without history two requests per type is the floor.
//   2. _history with _since: type-level history; deletions arrive as entries.
//   3. Bulk Data $export: one export job per type, at system level or for a configured Group
//      (the cohort); with _since from the last export's transactionTime where the site accepts
//      it (deletions arrive as `deleted` files), else a full export each run with content-hash
//      change detection and deletions by absence. On Epic, Group export is often the only path
//      better than asking each patient. Each run costs a fixed few requests per type (kick-off,
//      status polls, files, the job's DELETE) however little changed.
//   4. per-patient refresh: search each patient's compartment (or read the Patient itself) and
//      compare content hashes; ids no longer returned are deletions. Needs a patient cohort.
// A type none of these fits is planned as kNone with the reason, and skipped by the runner.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace fhirbridge::sync {

enum class Strategy { kLastUpdatedWindows, kHistorySince, kBulkExport, kPerPatientRefresh, kNone };

std::string_view StrategyName(
    Strategy strategy);  // "lastupdated", "history", "bulk-export", "per-patient"
std::optional<Strategy> ParseStrategy(std::string_view name);

// What the site's authorization allows for one type (the capability matrix, reduced to what
// sync needs), with the reason for a refusal.
struct TypePermission {
  bool search = false;
  bool read = false;
  bool history = false;
  std::string reason;  // why something is refused, e.g. "scope system/Observation.rs missing"
};

// The interactions and search parameters a CapabilityStatement declares for one type.
struct DeclaredType {
  std::set<std::string> interactions;  // "read", "search-type", "history-type", ...
  std::set<std::string> search_params;
};

struct ServerCapabilities {
  std::map<std::string, DeclaredType> types;
  bool system_export = false;  // rest.operation names export: [base]/$export
  bool group_export = false;   // Group's operations name export: [base]/Group/{id}/$export
};

// Reads rest[mode=server].resource from a CapabilityStatement. kMalformedResponse with the
// position of the first problem when the document is not one.
base::Result<ServerCapabilities> ParseCapabilityStatement(std::string_view json);

struct PlanInputs {
  std::vector<std::string> types;  // the types to sync, in order
  // Permission per type; a type absent here is treated as fully permitted (no matrix known).
  std::map<std::string, TypePermission> permissions;
  ServerCapabilities capabilities;
  std::vector<std::string> patient_cohort;  // patient ids for per-patient refresh
  // The Group whose members are the cohort for a Group-level $export; "" when none is set up,
  // which leaves only a system-level export.
  std::string export_group_id;
  std::optional<Strategy> forced;  // use this strategy where it is possible at all
};

struct TypePlan {
  std::string type;
  Strategy strategy = Strategy::kNone;
  std::string reason;
  std::string patient_parameter;  // per-patient refresh: "patient" or "subject"; "" for Patient
  // _lastUpdated windows: type history is allowed too, so deletions can be read from it
  // instead of sweeping every id.
  bool history_for_deletions = false;
  // Bulk export: the Group exported, or "" for a system-level export.
  std::string export_group;
};

std::vector<TypePlan> PlanSync(const PlanInputs& inputs);

// One line per type: "Observation  lastupdated  <reason>".
std::string FormatPlan(const std::vector<TypePlan>& plan);

}  // namespace fhirbridge::sync
