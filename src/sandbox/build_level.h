#pragma once

// A build level: the profile of what one simulated Epic organisation supports, named after the
// release it imitates. It lists the resource types and, per type, the interactions the tenant
// answers; everything else is refused with a precise OperationOutcome. The CapabilityStatement
// is generated from it.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace fhirbridge::sandbox {

// FHIR R4 restful interactions (codes from the TypeRestfulInteraction and
// SystemRestfulInteraction value sets).
enum class Interaction {
  kRead,
  kVread,
  kUpdate,
  kDelete,
  kHistoryInstance,
  kHistoryType,
  kCreate,
  kSearchType,
  kTransaction,
  kBatch,
  kHistorySystem,
};

// The FHIR code, e.g. "history-instance".
std::string_view InteractionCode(Interaction interaction);
std::optional<Interaction> ParseInteraction(std::string_view code);
// True for transaction, batch and history-system, which apply to the whole server.
bool IsSystemInteraction(Interaction interaction);

// How a build level searches ([build_levels.<name>.search] in the tenant file). The defaults
// are a plain FHIR R4 server's; the Epic-like levels switch on Epic's restrictions.
struct SearchSettings {
  // The parameters offered, per resource type (codes such as "patient" or "_id"); nullopt
  // offers every R4 parameter the server supports for the type ("all").
  std::optional<std::map<std::string, std::set<std::string, std::less<>>, std::less<>>> parameters;
  std::int64_t default_count = 20;  // entries per page when _count is absent
  std::int64_t max_count = 1000;    // a larger _count is lowered to this
  // Unknown or unsupported parameters: true ignores them with a warning entry (as Epic does,
  // 4122), false answers 400; a client's Prefer: handling=strict|lenient overrides it.
  bool lenient = false;
  bool require_patient = false;           // clinical searches need patient (or subject): 4111
  bool require_category_or_code = false;  // Observation needs category or code: 59108
  bool require_demographics = false;      // Patient needs name+birthdate, identifier or _id: 4111
  bool empty_result_outcome = false;      // an empty searchset carries the 4101 warning entry
  bool last_updated = true;               // false: _lastUpdated is not a search parameter
  bool strict_meta = false;               // served resources omit meta.versionId and lastUpdated
  bool epic_codes = false;                // Epic's codes in OperationOutcome details
};

// Bulk Data $export ([build_levels.<name>.bulk_export] in the tenant file). Off by default.
struct BulkExportSettings {
  // The kick-off endpoints offered: [base]/$export, [base]/Patient/$export and
  // [base]/Group/{id}/$export. None of them: the level has no Bulk Data at all.
  bool system = false;
  bool patient = false;
  bool group = false;
  bool since = false;                          // _since accepted (Epic refuses it)
  std::int64_t max_resources_per_file = 1000;  // a type with more is split over several files
  // A job reports 202 (in progress) at least this long after its kick-off, so that clients
  // exercise polling even on a small store.
  std::chrono::milliseconds job_duration{0};
  // How long a completed job's manifest and files stay available, from its completion.
  std::chrono::milliseconds expire_after{std::chrono::hours(1)};
  // Jobs of a tenant not yet complete at once; one more is refused with 429. 0: no limit.
  std::int64_t max_active_jobs = 0;

  bool Enabled() const { return system || patient || group; }
};

struct BuildLevel {
  std::string name;              // e.g. "epic-2024-aug"
  std::string description;       // shown in the CapabilityStatement
  std::string software_version;  // e.g. "August 2024"
  std::map<std::string, std::set<Interaction>, std::less<>> resources;  // type -> interactions
  std::set<Interaction> system_interactions;
  bool update_as_create = false;  // PUT to an unknown id creates it (else 405)
  // Types the simulated release has but whose APIs the client was not given: every interaction
  // on them answers 403, unlike types the level does not know at all (404).
  std::set<std::string, std::less<>> types_not_enabled;
  SearchSettings search;
  BulkExportSettings bulk_export;

  bool SupportsType(std::string_view type) const;
  bool Supports(std::string_view type, Interaction interaction) const;
  bool SupportsSystem(Interaction interaction) const;
};

}  // namespace fhirbridge::sandbox
