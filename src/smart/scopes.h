#pragma once

// SMART on FHIR scopes (App Launch 2.x), read as data: clinical scopes in v1 syntax
// ("patient/Observation.read") and v2 syntax ("patient/Observation.rs?category=laboratory"),
// and the launch, identity and refresh scopes. Both the sandbox's authorization server (what a
// token allows) and the runtime (what a site granted) use this one reading.
//
// Parsing is tolerant where real servers are sloppy: scope strings are split on any whitespace,
// and the v1 suffixes are matched without regard to case (Epic sends both "Immunization.read"
// and "Immunization.Read").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fhirbridge::smart {

// The five v2 permissions; v1 ".read" is read+search, ".write" create+update+delete.
enum class Permission : std::uint8_t {
  kCreate = 1,
  kRead = 2,
  kUpdate = 4,
  kDelete = 8,
  kSearch = 16,
};

// Who the data belongs to: one patient's compartment, what the user may see, or the whole system.
enum class Context { kPatient, kUser, kSystem };

struct ClinicalScope {
  Context context = Context::kPatient;
  std::string resource_type;     // "*" for every type
  std::uint8_t permissions = 0;  // a set of Permission bits
  // v2 granular filters, e.g. {"category", "http://...|laboratory"}; all must match.
  std::vector<std::pair<std::string, std::string>> filters;
  bool v2 = false;

  bool Allows(Permission permission) const {
    return (permissions & static_cast<std::uint8_t>(permission)) != 0;
  }
};

struct Scope {
  std::string text;  // as written
  // Set for clinical scopes; unset for launch, launch/patient, openid, fhirUser, offline_access
  // and any other scope, which are kept verbatim in `text`.
  std::optional<ClinicalScope> clinical;
};

// Splits `scope_string` on whitespace and reads each scope. Scopes that look clinical but are
// malformed (an unknown context, an empty type, undefined or misordered v2 letters) are reported
// in `rejected` rather than silently widened or narrowed.
struct ParsedScopes {
  std::vector<Scope> scopes;
  std::vector<std::string> rejected;

  bool Has(std::string_view text) const;  // exact, for "launch", "offline_access" and so on
};
ParsedScopes ParseScopes(std::string_view scope_string);

// The result of asking whether scopes allow an interaction on a type.
struct Decision {
  bool allowed = false;
  // The scope that allows it (when allowed), or the scope a client would need (when not),
  // e.g. "patient/Observation.rs", so that refusals can say what is missing.
  std::string scope;
  // Filters that restrict what is allowed (from granular scopes); empty when unrestricted.
  std::vector<std::pair<std::string, std::string>> filters;
};

// Whether `scopes` allow `permission` on `resource_type` in any of `contexts`. When several
// scopes apply, an unfiltered one wins over filtered ones.
Decision Decide(const std::vector<Scope>& scopes, std::string_view resource_type,
                Permission permission, std::initializer_list<Context> contexts);

std::string_view ContextName(Context context);  // "patient", "user", "system"
// The v2 letters of a permission set in canonical order, e.g. "rs".
std::string PermissionLetters(std::uint8_t permissions);

// Joins scopes with single spaces, in order.
std::string JoinScopes(const std::vector<Scope>& scopes);

}  // namespace fhirbridge::smart
