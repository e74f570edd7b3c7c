#pragma once

// Permissions as data: what the runtime may do at a site, from the scopes the site granted and
// the site's CapabilityStatement, as a matrix of resource type x interaction. Each cell is
// allowed, or not allowed with a reason that names what is missing ("the site did not grant
// patient/MedicationRequest.r", "the site's CapabilityStatement does not offer search-type on
// MedicationStatement"). Features ask the matrix before acting and, when refused, degrade with
// that reason instead of failing at the site.
//
// The matrix also counts which granted scope each allowed use relied on, so that a scope review
// can list scopes granted but never used (candidates to stop requesting).
//
// Limitation: Epic's backend-services token responses may name Epic API names as scopes
// ("Patient.read Patient.search") rather than SMART scopes; those are not clinical scopes to
// smart::ParseScopes, so they allow nothing here. Feed the matrix the SMART scopes the site's
// registration grants until such names are mapped.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"
#include "smart/scopes.h"

namespace fhirbridge::auth {

// The interactions the runtime performs, with the SMART permission each needs: read, vread and
// instance history need `r`; search and type history need `s`; create `c`; update `u`; delete
// `d`; Bulk Data export needs `r` and `s` in the system context.
enum class Interaction {
  kRead,
  kVread,
  kHistoryInstance,
  kHistoryType,
  kSearch,
  kCreate,
  kUpdate,
  kDelete,
  kExport,
};
inline constexpr std::size_t kInteractionCount = 9;

std::span<const Interaction> AllInteractions();
// As in a CapabilityStatement ("read", "search-type", "history-instance"), and "$export".
std::string_view InteractionName(Interaction interaction);
std::optional<Interaction> ParseInteractionName(std::string_view name);

struct CapabilityCell {
  bool allowed = false;
  // Why not, naming what is missing; empty when allowed.
  std::string reason;
  // The granted scope that allows it (when allowed).
  std::string scope;
  // Granular filters that narrow what is allowed ({"category", "...|laboratory"}); empty when
  // unrestricted. A feature must apply them (e.g. add them to its searches).
  std::vector<std::pair<std::string, std::string>> filters;

  // "only category=...|laboratory" for a restricted cell; empty otherwise.
  std::string RestrictionNote() const;
};

struct CapabilityRow {
  std::string resource_type;
  std::array<CapabilityCell, kInteractionCount> cells;
};

struct CapabilityOptions {
  // The contexts the site's tokens act in, the preferred one first (it names the scope a refusal
  // asks for): {kSystem} for backend services, {kPatient, kUser} or {kUser, kPatient} for
  // launches.
  std::vector<smart::Context> contexts = {smart::Context::kSystem};
  // Types to show even when neither the scopes nor the CapabilityStatement name them, e.g. the
  // site's sync.resource_types.
  std::vector<std::string> extra_types;
};

// What was granted and used: the scope review.
struct ScopeReview {
  std::vector<std::pair<std::string, std::uint64_t>> used;  // scope, times relied on
  std::vector<std::string> unused;                          // granted, never relied on
  std::vector<std::string> not_reviewed;  // launch, openid, offline_access and the like
};

class CapabilityMatrix {
 public:
  // `capability_statement` may be null when it could not be read; the matrix is then built from
  // the scopes alone and says so in its notes. kCapabilityUnavailable when the JSON given is not
  // a CapabilityStatement with a server rest entry.
  static base::Result<CapabilityMatrix> Build(const smart::ParsedScopes& granted,
                                              const fhir::Json* capability_statement,
                                              const CapabilityOptions& options = {});

  CapabilityMatrix(CapabilityMatrix&& other) noexcept;
  CapabilityMatrix& operator=(CapabilityMatrix&& other) noexcept;

  // The decision for `resource_type` x `interaction`, also for types not in the rows.
  CapabilityCell Check(std::string_view resource_type, Interaction interaction) const;
  // Check(), and when allowed, counts a use of the scope it relies on. Thread-safe.
  CapabilityCell Ask(std::string_view resource_type, Interaction interaction);

  ScopeReview Review() const;

  const std::vector<CapabilityRow>& rows() const { return rows_; }
  // Facts worth knowing beside the matrix: scopes not understood, no CapabilityStatement, an
  // unexpected FHIR version.
  const std::vector<std::string>& notes() const { return notes_; }

  // A table: one row per type, one column per interaction ("yes", "yes*" when restricted, "-"),
  // then every refusal's reason and every restriction, then the notes.
  std::string ToText() const;
  fhir::Json ToJson() const;

 private:
  CapabilityMatrix() = default;
  CapabilityCell Decide(std::string_view resource_type, Interaction interaction) const;

  std::vector<smart::Scope> scopes_;
  std::vector<smart::Context> contexts_;
  bool v1_only_ = false;  // every clinical scope granted is v1: refusals name v1 scopes
  bool have_statement_ = false;
  // From the CapabilityStatement: type -> interaction codes offered.
  std::map<std::string, std::vector<std::string>, std::less<>> offered_;
  bool offers_export_ = false;
  std::vector<CapabilityRow> rows_;
  std::vector<std::string> notes_;

  mutable std::mutex usage_mutex_;
  std::map<std::string, std::uint64_t, std::less<>> usage_;  // scope text -> uses
};

}  // namespace fhirbridge::auth
