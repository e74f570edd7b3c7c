#pragma once

// Checks on single FHIR resources that the smoke journey applies to every resource it receives.
// They look at the shape of a resource only; their results name elements and URLs, never
// values, so that they can go into reports.

#include <string>
#include <string_view>
#include <vector>

#include "fhir/json_value.h"

namespace fhirbridge::verify {

// True when `resource` has the element `field` with content: present, not null, and not an empty
// string, array or object. A field "name[x]" is a choice type: any "nameXxx" element counts.
bool HasElement(const fhir::Json& resource, std::string_view field);

// The fields of `required` that `resource` lacks (see HasElement), in the order given.
std::vector<std::string> MissingElements(const fhir::Json& resource,
                                         const std::vector<std::string>& required);

// The extension URLs of `expected` that `resource` does not carry at its top level.
std::vector<std::string> MissingExtensions(const fhir::Json& resource,
                                           const std::vector<std::string>& expected);

// True when resource[field].reference names the patient `patient_id`: "Patient/<id>", or an
// absolute URL ending in "/Patient/<id>".
bool ReferencesPatient(const fhir::Json& resource, std::string_view field,
                       std::string_view patient_id);

// How a MedicationRequest or MedicationStatement names its medication.
enum class MedicationForm {
  kCoded,      // medicationCodeableConcept with at least one coding that has a code
  kReference,  // medicationReference to a Medication resource
  kFreeText,   // medicationCodeableConcept with text only
  kMissing,    // none of the above
};

MedicationForm ClassifyMedication(const fhir::Json& resource);
std::string_view MedicationFormName(MedicationForm form);

}  // namespace fhirbridge::verify
