#pragma once

// The small built-in terminology the synthetic data generator draws from: a few dozen real
// SNOMED CT, ICD-10-CM, ICD-9-CM, LOINC, UCUM and RxNorm codes with their displays, plus
// organisation-local codes and fictional names. Data, not logic; the generator picks from it.
//
// Limitation: the tables are a sample chosen for variety, not a terminology service; displays
// are the usual short forms and were not checked against a particular code system release.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace fhirbridge::synth {

inline constexpr std::string_view kSnomed = "http://snomed.info/sct";
inline constexpr std::string_view kIcd10Cm = "http://hl7.org/fhir/sid/icd-10-cm";
inline constexpr std::string_view kIcd9Cm = "http://hl7.org/fhir/sid/icd-9-cm";
inline constexpr std::string_view kLoinc = "http://loinc.org";
inline constexpr std::string_view kUcum = "http://unitsofmeasure.org";
inline constexpr std::string_view kRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm";

enum class Specialty {
  kFamilyPractice,
  kCardiology,
  kEndocrinology,
  kPulmonology,
  kPsychiatry,
  kNephrology,
  kGastroenterology,
  kNeurology,
  kOrthopaedics,
  kRheumatology,
  kDermatology,
  kEmergencyMedicine,
  kGeneralMedicine,
};

inline constexpr int kSpecialtyCount = static_cast<int>(Specialty::kGeneralMedicine) + 1;

struct SpecialtyEntry {
  Specialty specialty;
  std::string_view snomed;
  std::string_view display;
  std::string_view clinic_name;  // the Location where its clinics are held
};

// Indexed by Specialty.
std::span<const SpecialtyEntry> Specialties();

// Which table rows a patient's laboratory results lean on when they have a condition.
enum class LabFocus { kNone, kDiabetes, kKidney, kLipids, kThyroid, kInfection };

struct ConditionEntry {
  std::string_view snomed;
  std::string_view snomed_display;
  std::string_view icd10;
  std::string_view icd10_display;
  std::string_view icd9;  // retired code system, used for the deprecated-code defect
  std::string_view icd9_display;
  std::string_view local_code;      // organisation-local diagnosis id
  std::string_view clinician_text;  // how a clinician types it, e.g. "HTN"
  Specialty specialty;
  LabFocus lab_focus;
  int minimum_age;
  bool chronic;                    // problem-list item; otherwise an acute encounter diagnosis
  bool admits;                     // an acute problem that may lead to an inpatient stay
  std::array<int, 2> medications;  // indexes into Medications(), -1 for none
};

std::span<const ConditionEntry> Conditions();

// The values an Observation of this row takes.
enum class ValueKind { kQuantity, kString, kBloodPressure };

struct ObservationEntry {
  std::string_view loinc;
  std::string_view display;
  std::string_view local_code;
  std::string_view local_display;
  std::string_view ucum;  // unit code, empty for strings
  std::string_view unit;  // human-readable unit
  ValueKind kind;
  int scale;   // decimal places of the value
  double low;  // adult reference range; low == high means none
  double high;
  double minimum;  // physiological bounds the generated value never leaves
  double maximum;
};

// Vital signs, indexed by VitalSign.
enum class VitalSign {
  kBloodPressure,
  kHeartRate,
  kRespiratoryRate,
  kBodyTemperature,
  kOxygenSaturation,
  kBodyWeight,
  kBodyHeight,
  kBodyMassIndex,
};
std::span<const ObservationEntry> VitalSigns();

// Laboratory tests, indexed by LabTest.
enum class LabTest {
  kHemoglobin,
  kLeukocytes,
  kPlatelets,
  kSodium,
  kPotassium,
  kCreatinine,
  kGlucose,
  kHemoglobinA1c,
  kCholesterol,
  kHdlCholesterol,
  kLdlCholesterol,
  kTriglycerides,
  kThyrotropin,
  kUrineColor,
  kUrineAppearance,
};
inline constexpr std::size_t kLabTestCount =
    static_cast<std::size_t>(LabTest::kUrineAppearance) + 1;
std::span<const ObservationEntry> LabTests();

// Components of the blood pressure panel: systolic, diastolic.
std::span<const ObservationEntry> BloodPressureComponents();

std::span<const std::string_view> UrineColors();
std::span<const std::string_view> UrineAppearances();

// How a medication is taken, which decides the shape of its dosageInstruction.
enum class Dosing {
  kOnceDaily,
  kOnceDailyMorningEmptyStomach,
  kTwiceDailyWithMeals,
  kSeveralTimings,  // different doses at breakfast and dinner (premixed insulin)
  kInhaledTwiceDaily,
  kAsNeeded,
  kTaper,   // a dose that steps down over days
  kCourse,  // a fixed number of days, several times a day
};

struct MedicationEntry {
  std::string_view rxnorm;
  std::string_view display;
  std::string_view local_name;   // how the legacy system or a clinician would write it
  std::string_view form_snomed;  // empty when the form is not given
  std::string_view form_display;
  std::string_view route_snomed;
  std::string_view route_display;
  std::int64_t dose_units;  // dose per administration, in 10^-dose_scale
  int dose_scale;
  std::string_view dose_ucum;
  std::string_view dose_unit;
  Dosing dosing;
};

std::span<const MedicationEntry> Medications();

struct AllergyEntry {
  std::string_view system;  // SNOMED CT for allergy findings and substances, RxNorm for drugs
  std::string_view code;
  std::string_view display;
  std::string_view category;  // food | medication | environment
  bool high_criticality;
};
std::span<const AllergyEntry> Allergies();

struct CodeEntry {
  std::string_view code;
  std::string_view display;
};
std::span<const CodeEntry> AllergyReactions();  // SNOMED
std::span<const std::string_view> FreeTextAllergies();
std::span<const std::string_view> LegacyMedicationTexts();
std::span<const std::string_view> LegacyDosageTexts();
std::span<const std::string_view> LongTextSentences();
std::span<const std::string_view> FreeTextDosageInstructions();

// Fictional people and places.
std::span<const std::string_view> FemaleGivenNames();
std::span<const std::string_view> MaleGivenNames();
std::span<const std::string_view> FamilyNamePrefixes();
std::span<const std::string_view> FamilyNameSuffixes();
std::span<const std::string_view> NonAsciiGivenNames();
std::span<const std::string_view> NonAsciiFamilyNames();
std::span<const std::string_view> StreetNames();
std::span<const std::string_view> CityNames();

// PHQ-2 answers (LOINC answer list LL358-3), in score order 0..3.
std::span<const CodeEntry> Phq2Answers();

}  // namespace fhirbridge::synth
