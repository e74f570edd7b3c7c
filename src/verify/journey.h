#pragma once

// The smoke journey as data: what a smoke run asks a site, in which order, and what it checks in
// each answer. DefaultJourney() is the journey an application's integration depends on:
// discovery, a token, then for each known patient a search by business identifier, a read and
// the clinical searches (recent observations, conditions, allergies, medications, encounters).

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace fhirbridge::verify {

enum class StepKind {
  kHttpGet,  // GET the step's path below the site's FHIR base
  kToken,    // ask the TokenSource for an access token
};

// Which kind of document a step expects back.
enum class Expect {
  kNothing,              // no body check (the token step)
  kJsonObject,           // any JSON object (SMART discovery)
  kCapabilityStatement,  // an R4 CapabilityStatement
  kResource,             // one resource of the step's resource type
  kSearchset,            // a searchset Bundle whose match entries are of the step's type
};

// One step. A step runs once per site (`per_patient` false) or once per known patient.
struct JourneyStep {
  std::string name;  // stable, short: used in reports and as the JUnit test case name
  StepKind kind = StepKind::kHttpGet;
  bool per_patient = false;

  // The request: a path relative to the FHIR base, with placeholders {identifier} (the known
  // patient's "system|value", percent-encoded) and {patient_id} (captured by an earlier step).
  // Reports show the template, never the values put into it.
  std::string path_template;

  // What the site must grant for this step, asked of the capability callback and of the site's
  // CapabilityStatement: a resource type and a FHIR interaction ("read", "search-type"). Empty
  // for discovery and the token step.
  std::string resource_type;
  std::string interaction;

  // Checks.
  int expected_status = 200;
  Expect expect = Expect::kNothing;
  std::vector<std::string> required_fields;  // per resource; "medication[x]" for choice types
  std::string patient_reference_field;       // every match must reference the patient: "subject"
  bool exactly_one_match = false;            // the search must find exactly one resource
  bool require_some_match = false;           // the search must find at least one resource
  bool check_expected_extensions = false;    // the site's expected extensions for the type
  bool classify_medications = false;         // count coded, by-reference and free-text entries

  // The step captures the id of its single match (or of its resource) as {patient_id}.
  bool captures_patient_id = false;
};

struct Journey {
  std::string name;
  std::vector<JourneyStep> steps;
};

// Minimum elements each resource type must carry: FHIR R4's required elements plus the US Core
// ones an application relies on. Types not listed have none.
const std::map<std::string, std::vector<std::string>, std::less<>>& RequiredFieldsByType();

// The standard journey described above.
Journey DefaultJourney();

}  // namespace fhirbridge::verify
