#pragma once

// A build level: the profile of what one simulated Epic organisation supports, named after the
// release it imitates. It lists the resource types and, per type, the interactions the tenant
// answers; everything else is refused with a precise OperationOutcome. The CapabilityStatement
// is generated from it.

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

struct BuildLevel {
  std::string name;              // e.g. "epic-2024-aug"
  std::string description;       // shown in the CapabilityStatement
  std::string software_version;  // e.g. "August 2024"
  std::map<std::string, std::set<Interaction>, std::less<>> resources;  // type -> interactions
  std::set<Interaction> system_interactions;
  bool update_as_create = false;  // PUT to an unknown id creates it (else 405)

  bool SupportsType(std::string_view type) const;
  bool Supports(std::string_view type, Interaction interaction) const;
  bool SupportsSystem(Interaction interaction) const;
};

}  // namespace fhirbridge::sandbox
