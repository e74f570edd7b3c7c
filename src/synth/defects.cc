#include "synth/defects.h"

#include <cassert>
#include <charconv>

namespace fhirbridge::synth {
namespace {

using base::ErrorCode;

// The catalogue, in Defect order; a static_assert below keeps the two in step. Realistic rates
// aim for the mess of a pre-production copy of a live system; negative rates make every kind
// appear many times in a few dozen patients.
constexpr std::array<DefectInfo, kDefectCount> kCatalogue = {{
    {Defect::kDuplicateDemographics, "duplicate-demographics", "Patient",
     "an extra Patient for the same person with a typo in the name and another MRN", 0.02, 0.3},
    {Defect::kMergedRecord, "merged-record", "Patient",
     "an extra, inactive Patient with link replaced-by; the survivor gets link replaces", 0.01,
     0.3},
    {Defect::kMultipleCodeSystems, "multiple-code-systems", "Condition.code, Observation.code",
     "codings from two or three code systems in one concept", 0.1, 0.4},
    {Defect::kDeprecatedCode, "deprecated-code", "Condition.code", "only a retired ICD-9-CM code",
     0.03, 0.3},
    {Defect::kLocalCodeOnly, "local-code-only", "Condition.code, Observation.code",
     "only an organisation-local code (urn:oid:1.2.840.114350...)", 0.05, 0.3},
    {Defect::kTextOnly, "text-only",
     "Observation.code, MedicationRequest.medicationCodeableConcept",
     "a CodeableConcept with text and no coding", 0.03, 0.3},
    {Defect::kConditionWithoutCoding, "condition-without-coding", "Condition",
     "a code with the clinician's free text and no coding at all", 0.02, 0.3},
    {Defect::kFreeTextAllergy, "free-text-allergy", "AllergyIntolerance",
     "the substance as free text, no coding", 0.15, 0.5},
    {Defect::kReferenceToDeletedEncounter, "reference-to-deleted-encounter",
     "Observation.encounter, Condition.encounter",
     "a reference to an Encounter that is not in the data", 0.005, 0.2},
    {Defect::kReferenceToMissingPractitioner, "reference-to-missing-practitioner",
     "Encounter.participant, MedicationRequest.requester",
     "a reference to a Practitioner that is not in the data", 0.005, 0.2},
    {Defect::kExtensionWithoutValue, "extension-without-value", "Patient (legal-sex)",
     "the legal-sex extension with a url and no value", 0.01, 0.2},
    {Defect::kExtensionUnknownUrl, "extension-unknown-url", "Patient",
     "an extra extension whose url no one defines", 0.01, 0.2},
    {Defect::kExtensionWrongValueType, "extension-wrong-value-type", "Patient (legal-sex)",
     "the legal-sex extension with valueString instead of valueCodeableConcept", 0.01, 0.2},
    {Defect::kMissingOptionalFields, "missing-optional-fields", "Patient, Encounter",
     "optional elements left out (Patient: telecom, address, communication, maritalStatus; "
     "Encounter: type, reasonCode, location, serviceProvider)",
     0.1, 0.4},
    {Defect::kYearOnlyDate, "year-only-date",
     "Patient.birthDate, Condition.onsetDateTime, AllergyIntolerance.onsetDateTime",
     "a date with the year only", 0.03, 0.3},
    {Defect::kDateTimeWithoutTimeZone, "datetime-without-timezone",
     "Observation.effectiveDateTime, Encounter.period",
     "a date-time with hours but no time zone (invalid FHIR)", 0.02, 0.3},
    {Defect::kSameLastUpdated, "same-last-updated", "every patient's resources",
     "meta.lastUpdated set to one shared instant, as after a bulk migration", 0.05, 0.5},
    {Defect::kNonAsciiName, "non-ascii-name", "Patient",
     "a name with non-ASCII letters (accents, other scripts, combining marks)", 0.05, 0.4},
    {Defect::kLongFreeText, "long-free-text",
     "Condition.note, Observation.note, MedicationStatement.note",
     "a note of 16 to 48 KiB with line breaks, quotes and tabs", 0.001, 0.02},
    {Defect::kDataAbsentReason, "data-absent-reason", "Observation (single-valued)",
     "no value; dataAbsentReason says why", 0.03, 0.3},
    {Defect::kLongId, "long-id", "Observation, Condition, AllergyIntolerance",
     "an 88-character id, as Epic issues (FHIR allows 64)", 0.1, 0.8},
}};

constexpr bool CatalogueInDefectOrder() {
  for (std::size_t i = 0; i < kCatalogue.size(); ++i) {
    if (static_cast<std::size_t>(kCatalogue[i].defect) != i) return false;
  }
  return true;
}
static_assert(CatalogueInDefectOrder(), "kCatalogue must list defects in Defect order");

}  // namespace

const DefectInfo& Describe(Defect defect) { return kCatalogue[static_cast<std::size_t>(defect)]; }

std::span<const DefectInfo> DefectCatalogue() { return kCatalogue; }

std::optional<Defect> DefectFromName(std::string_view name) {
  for (const auto& info : kCatalogue) {
    if (info.name == name) return info.defect;
  }
  return std::nullopt;
}

std::optional<Profile> ProfileFromName(std::string_view name) {
  if (name == "clean") return Profile::kClean;
  if (name == "realistic") return Profile::kRealistic;
  if (name == "negative") return Profile::kNegative;
  return std::nullopt;
}

std::string_view ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kClean:
      return "clean";
    case Profile::kRealistic:
      return "realistic";
    case Profile::kNegative:
      return "negative";
  }
  return "clean";
}

DefectRates DefectRates::ForProfile(Profile profile) {
  DefectRates rates;
  for (const auto& info : kCatalogue) {
    switch (profile) {
      case Profile::kClean:
        break;
      case Profile::kRealistic:
        rates.Set(info.defect, info.realistic_rate);
        break;
      case Profile::kNegative:
        rates.Set(info.defect, info.negative_rate);
        break;
    }
  }
  return rates;
}

void DefectRates::Set(Defect defect, double rate) {
  assert(rate >= 0 && rate <= 1 && "a defect rate is a probability");
  rates_[static_cast<std::size_t>(defect)] = rate;
}

base::Status DefectRates::ApplyOverride(std::string_view text) {
  const std::size_t equals = text.find('=');
  if (equals == std::string_view::npos) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "A defect override is written name=rate, for example "
                      "duplicate-demographics=0.1.",
                      "--defect");
  }
  const std::string_view name = text.substr(0, equals);
  const std::string_view rate_text = text.substr(equals + 1);
  const auto defect = DefectFromName(name);
  if (!defect) {
    return base::Fail(
        ErrorCode::kInvalidParameter,
        "Unknown defect '" + std::string(name) + "'; known: " + DefectNameList() + ".", "--defect");
  }
  double rate = -1;
  const auto parsed = std::from_chars(rate_text.data(), rate_text.data() + rate_text.size(), rate);
  if (parsed.ec != std::errc() || parsed.ptr != rate_text.data() + rate_text.size() ||
      !(rate >= 0 && rate <= 1)) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "The rate of '" + std::string(name) + "' must be a number from 0 to 1.",
                      "--defect");
  }
  Set(*defect, rate);
  return {};
}

std::string DefectNameList() {
  std::string names;
  for (const auto& info : kCatalogue) {
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

}  // namespace fhirbridge::synth
