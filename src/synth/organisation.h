#pragma once

// The organisation graph of the synthetic data: one Organization with its Locations (a clinic per
// specialty, an emergency department, a ward), Practitioners (general practitioners and
// specialists, each with a PractitionerRole) and its formulary of Medications. Its size grows
// with the number of patients so that panels stay plausible, and it is the only part of the
// generator's state that lives for the whole run.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "synth/calendar.h"
#include "synth/code_tables.h"
#include "synth/emitter.h"
#include "synth/random.h"

namespace fhirbridge::synth {

// The date the data describes as "today": every generated event happens on or before it. A
// constant rather than the clock, so that output never depends on when it was generated.
inline constexpr int kAsOfYear = 2026;
inline constexpr int kAsOfMonth = 6;
inline constexpr int kAsOfDay = 30;

// Identifier and code systems of one organisation, shaped like Epic's OIDs:
// urn:oid:1.2.840.114350.1.13.<CID>.1.7.<kind>.<number>, where CID differs per organisation.
// Limitation: apart from the MRN layout, which follows Epic's documented sandbox MRN type, the
// trailing numbers are invented; they are opaque to any client and must stay so.
struct OrganisationSystems {
  explicit OrganisationSystems(int cid);

  std::string organization;
  std::string location;
  std::string practitioner;
  std::string practitioner_role;
  std::string medication;
  std::string mrn;
  std::string encounter;
  std::string observation;
  std::string condition;
  std::string allergy;
  std::string medication_request;
  std::string medication_statement;
  std::string questionnaire_response;
  std::string observation_local_code;  // lab components and flowsheet rows
  std::string condition_local_code;    // diagnosis ids
  std::string legal_sex;
  std::string sex_for_clinical_use;
};

struct Organisation {
  std::string name;
  int cid = 0;
  std::string state;
  std::string city;
  std::string area_code;
  TimeZone zone;
  OrganisationSystems systems{0};

  std::int64_t as_of_day = 0;      // the last day of the data
  std::int64_t as_of_instant = 0;  // 17:00 local on that day

  // Indexes into the Emitter's shared resources.
  int organization = -1;
  std::array<int, kSpecialtyCount> locations{};
  std::array<std::vector<int>, kSpecialtyCount> practitioners;
  std::vector<int> medications;  // one per Medications() row
};

// Builds the graph of `organisation_name` for `patients` patients from `seed`, and writes it as
// the first unit through `emitter`. Fails only when `output` fails.
base::Result<Organisation> WriteOrganisation(std::string_view organisation_name,
                                             std::uint64_t patients, std::uint64_t seed,
                                             Emitter& emitter, SynthOutput& output);

// An Epic-like FHIR id: 'e', then letters, digits and an occasional '.' or '-', then '3'
// (the ending every id in Epic's public sandbox has). Requires length >= 3.
std::string EpicId(Random& random, std::size_t length);

}  // namespace fhirbridge::synth
