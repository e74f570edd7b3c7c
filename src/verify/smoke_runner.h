#pragma once

// Runs a smoke journey against one site and records every step's outcome.
//
// A step is skipped, not failed, when the site did not grant it: the capability callback (wired
// to the site's granted scopes and registered APIs) gives a reason, or the site's own
// CapabilityStatement, read by the discovery step, does not offer the type and interaction. A
// step that depends on a value an earlier step failed to capture (the patient's id) is skipped
// with that reason. Everything else that does not match the journey's checks is a failure.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_source.h"
#include "verify/journey.h"
#include "verify/known_patients.h"
#include "verify/requester.h"
#include "verify/smoke_report.h"

namespace fhirbridge::verify {

// Asked before each step that needs a resource type and interaction. Returns nothing when the
// site grants it, else the reason it does not ("scope system/AllergyIntolerance.rs not
// granted"); the reason goes into reports and must hold no PHI.
using CapabilityCheck = std::function<std::optional<std::string>(std::string_view resource_type,
                                                                 std::string_view interaction)>;

// A CapabilityCheck from the scope string a token grant returned ("system/Patient.rs
// system/Observation.read"): "read" needs the read permission, "search-type" the search one, in
// any context. The reason names the scope that would be needed. Until a site's full capability
// matrix (scopes and registered APIs) is at hand, this is the grant's share of it.
CapabilityCheck GrantedScopesCapability(std::string_view granted_scopes);

struct SmokeSite {
  std::string name;       // the site's name in reports
  std::string fhir_base;  // absolute, e.g. "https://fhir.example.org/api/FHIR/R4" (no final '/')
  std::vector<KnownPatient> patients;
  // Extension URLs every resource of a type must carry, by type, e.g. Patient -> US Core race.
  std::map<std::string, std::vector<std::string>, std::less<>> expected_extensions;
};

struct SmokeDependencies {
  Requester* requester = nullptr;             // required
  auth::TokenSource* token_source = nullptr;  // null: the token step is skipped
  CapabilityCheck capability;                 // empty: everything is granted
};

// Runs `journey` against `site`. Never fails as a whole: every problem becomes a failed step.
// Logs one "smoke.step" line per step (name, outcome, status, latency, request id; no PHI).
SiteReport RunSmoke(const Journey& journey, const SmokeSite& site,
                    const SmokeDependencies& dependencies);

}  // namespace fhirbridge::verify
