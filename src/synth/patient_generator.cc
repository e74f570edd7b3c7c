#include "synth/patient_generator.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <string>
#include <vector>

#include "synth/calendar.h"
#include "synth/code_tables.h"
#include "synth/dosage.h"
#include "synth/fhir_writing.h"
#include "synth/random.h"

namespace fhirbridge::synth {
namespace {

// Streams derived from the seed; distinct constants keep them unrelated.
constexpr std::uint64_t kContentStream = 0x70617469656e74;  // "patient"
constexpr std::uint64_t kDefectStream = 0x646566656374;     // "defect"
constexpr std::uint64_t kDetailStream = 0x64657461696c;     // "detail"
constexpr std::uint64_t kUpdateStream = 0x757064617465;     // "update"

// Serials of records that exist only because of a defect, far above any content serial.
constexpr std::uint64_t kDuplicateSerial = 1'000'000;
constexpr std::uint64_t kMergedSerial = 1'000'001;

// Identifier ranges: MRNs of primary, duplicate and merged-away records never collide below
// kMaxPatients (10 million).
constexpr std::uint64_t kPrimaryMrnBase = 10'000'000;
constexpr std::uint64_t kDuplicateMrnBase = 40'000'000;
constexpr std::uint64_t kMergedMrnBase = 70'000'000;

constexpr std::int64_t kMinute = 60;
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = kSecondsPerDay;

constexpr std::string_view kEpicExtension =
    "http://open.epic.com/FHIR/StructureDefinition/extension/";
constexpr std::string_view kUnknownExtensionUrl =
    "http://legacy-ehr.invalid/fhir/StructureDefinition/patient-flag";
constexpr std::string_view kObservationCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kInterpretation =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

enum class EncounterClass { kAmbulatory, kEmergency, kInpatient };
enum class EncounterStatus { kFinished, kInProgress, kCancelled, kEnteredInError };

struct EncounterPlan {
  std::string id;
  std::uint64_t serial = 0;
  EncounterClass kind = EncounterClass::kAmbulatory;
  EncounterStatus status = EncounterStatus::kFinished;
  std::int64_t start = 0;
  std::int64_t end = 0;  // 0 while in progress or cancelled
  int practitioner = -1;
  Specialty specialty = Specialty::kFamilyPractice;
  int reason = -1;  // Conditions() row; -1 for a check-up
  bool has_data() const {
    return status == EncounterStatus::kFinished || status == EncounterStatus::kInProgress;
  }
  // The last instant at which something can be recorded during the encounter.
  std::int64_t close(std::int64_t as_of) const { return end != 0 ? end : as_of; }
};

struct ConditionPlan {
  std::string id;
  std::uint64_t serial = 0;
  int row = 0;  // Conditions() row
  std::int64_t onset_day = 0;
  std::int64_t recorded = 0;  // instant, or 0 when only the onset day is known
  int encounter = -1;
  int recorder = -1;
  bool resolved = false;
  std::int64_t abatement_day = 0;
  bool icd10 = false;  // coded in ICD-10-CM rather than SNOMED CT
};

// An Observation being written: BeginObservation has written everything up to its value.
struct OpenObservation {
  JsonWriter& writer;
  std::string id;
  std::uint64_t serial;
};

struct Person {
  std::string given;
  std::string middle;
  std::string family;
  bool female = false;
  std::int64_t birth_day = 0;
  int age = 0;
};

// Rounds `value` to `scale` decimals as an integer count of units, without <cmath>.
std::int64_t ToUnits(double value, int scale) {
  double factor = 1;
  for (int i = 0; i < scale; ++i) factor *= 10;
  const double scaled = value * factor;
  return static_cast<std::int64_t>(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
}

double Clamp(double value, double low, double high) { return std::min(std::max(value, low), high); }

std::string Decimal(std::int64_t units, int scale) {
  std::string text;
  AppendDecimal(text, units, scale);
  return text;
}

// Mean height (cm) and weight (kg) by age, for growth before adulthood.
struct GrowthPoint {
  double age;
  double height_male;
  double height_female;
  double weight_male;
  double weight_female;
};
constexpr std::array<GrowthPoint, 9> kGrowth = {{
    {0, 50, 49, 3.4, 3.3},
    {1, 76, 74, 9.8, 9.2},
    {2, 88, 86, 12.5, 12.0},
    {5, 110, 109, 18.5, 18.0},
    {8, 128, 127, 25.5, 25.5},
    {11, 144, 145, 36, 37},
    {14, 164, 159, 52, 50},
    {17, 176, 163, 66, 57},
    {18, 176, 162, 82, 70},
}};

struct Body {
  double height_cm;
  double weight_kg;
};

Body BodyAt(double age, bool female, double height_z, double weight_z, bool obese) {
  std::size_t i = 0;
  while (i + 2 < kGrowth.size() && kGrowth[i + 1].age <= age) ++i;
  const GrowthPoint& a = kGrowth[i];
  const GrowthPoint& b = kGrowth[i + 1];
  const double t = Clamp((age - a.age) / (b.age - a.age), 0, 1);
  const double height = female ? a.height_female + t * (b.height_female - a.height_female)
                               : a.height_male + t * (b.height_male - a.height_male);
  double weight = female ? a.weight_female + t * (b.weight_female - a.weight_female)
                         : a.weight_male + t * (b.weight_male - a.weight_male);
  if (age >= 18 && obese) weight += 24;
  return {height * (1 + 0.04 * height_z), weight * (1 + 0.16 * weight_z)};
}

// Builds a note of 16 to 48 KiB from `random`: long, multi-paragraph, with quotes, tabs and a
// few non-ASCII characters, as notes imported from other systems often are.
std::string LongText(Random& random) {
  const std::size_t target = 16 * 1024 + static_cast<std::size_t>(random.Below(32 * 1024));
  std::string text;
  text.reserve(target + 256);
  while (text.size() < target) {
    if (!text.empty()) {
      const std::uint64_t separator = random.Below(10);
      text.append(separator == 0 ? "\n\n" : (separator < 3 ? "\n" : " "));
    }
    text.append(random.Pick(LongTextSentences()));
  }
  return text;
}

// One patient and the records made for it.
class PatientBuilder {
 public:
  PatientBuilder(const Organisation& organisation, const DefectRates& rates, std::uint64_t seed,
                 Emitter& emitter, std::uint64_t index)
      : organisation_(organisation),
        rates_(rates),
        seed_(seed),
        emitter_(emitter),
        index_(index),
        random_(MixKey(seed, kContentStream, index)) {}

  void Plan();
  void Write();

 private:
  // Defect decisions and details.
  bool Fires(Defect defect, std::uint64_t serial) const;
  Random DetailRandom(Defect defect, std::uint64_t serial) const;
  void Record(ResourceType type, const std::string& id, Defect defect, std::string_view path,
              std::string_view detail) {
    emitter_.RecordDefect(type, id, defect, path, detail);
  }

  std::uint64_t NextSerial() { return ++serial_; }
  std::string Identifier(std::uint64_t serial) const {
    return std::to_string((index_ + 1) * 10000 + serial);
  }
  // Draws a content id and, when long-id fires for an eligible type, replaces it.
  std::string NewId(std::uint64_t serial, ResourceType type);
  // meta.lastUpdated, possibly the shared instant of same-last-updated.
  void WriteRecordMeta(JsonWriter& writer, ResourceType type, const std::string& id,
                       std::uint64_t serial, std::int64_t event);
  void WriteMetaWith(JsonWriter& writer, std::string_view last_updated, bool security);

  int AgeOn(std::int64_t day) const {
    return static_cast<int>((day - person_.birth_day) * 4 / 1461);
  }
  bool HasCondition(std::string_view snomed) const;
  bool HasLabFocus(LabFocus focus) const;

  // Planning.
  void PlanPerson();
  void PlanChronicConditions();
  void PlanSpecialists();
  void PlanEncounters();
  void PlanAcuteCondition(EncounterPlan& encounter, int row);
  void PlanConditionRecording();

  // Writing.
  void WritePatients();
  void WritePatient(const Person& person, const std::string& id, std::uint64_t serial,
                    std::uint64_t mrn, bool active, bool primary);
  void WriteEncounter(const EncounterPlan& encounter);
  void WriteEncounterObservations(const EncounterPlan& encounter);
  void WriteVitalSign(const EncounterPlan& encounter, VitalSign sign, double value,
                      std::int64_t when);
  void WriteBloodPressure(const EncounterPlan& encounter, double systolic, double diastolic,
                          std::int64_t when);
  void WriteLab(const EncounterPlan& encounter, LabTest test, std::int64_t when);
  OpenObservation BeginObservation(const EncounterPlan& encounter, const ObservationEntry& entry,
                                   std::string_view category, std::string_view category_display,
                                   std::int64_t effective, std::int64_t issued);
  void WriteObservationNote(JsonWriter& writer, const std::string& id, std::uint64_t serial);
  void WriteQuestionnaireResponse(const EncounterPlan& encounter);
  void WriteCondition(const ConditionPlan& condition);
  void WriteAllergies();
  void WriteMedicationRequests();
  void WriteMedicationRequest(int medication_row, const ConditionPlan* reason,
                              const EncounterPlan& encounter, bool chronic);
  void WriteMedicationStatements();
  void WriteEncounterReference(JsonWriter& writer, ResourceType type, const std::string& id,
                               std::uint64_t serial, const EncounterPlan& encounter);

  const Organisation& organisation_;
  const DefectRates& rates_;
  std::uint64_t seed_;
  Emitter& emitter_;
  std::uint64_t index_;
  Random random_;
  std::uint64_t serial_ = 0;

  // The patient.
  Person person_;
  std::string patient_id_;
  std::uint64_t patient_serial_ = 0;
  std::string phone_;
  std::string street_;
  std::string city_;
  std::string postal_code_;
  std::string_view language_code_;
  std::string_view language_display_;
  std::string_view marital_code_;
  std::string_view marital_display_;
  double height_z_ = 0;
  double weight_z_ = 0;
  int gp_ = -1;
  std::vector<int> specialists_;  // shared practitioner indexes
  std::vector<Specialty> specialist_specialties_;
  std::vector<ConditionPlan> conditions_;
  std::vector<EncounterPlan> encounters_;
  std::int64_t window_start_ = 0;
  bool depressed_ = false;
  bool obese_ = false;

  // Defect records decided while planning the patient.
  bool duplicate_ = false;
  bool merged_ = false;
  std::string duplicate_id_;
  std::string merged_id_;
};

bool PatientBuilder::Fires(Defect defect, std::uint64_t serial) const {
  const double rate = rates_.rate(defect);
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  const std::uint64_t roll =
      MixKey(seed_, kDefectStream, index_, serial, static_cast<std::uint64_t>(defect));
  return static_cast<double>(roll >> 11) * 0x1.0p-53 < rate;
}

Random PatientBuilder::DetailRandom(Defect defect, std::uint64_t serial) const {
  return Random(MixKey(seed_, kDetailStream, index_, serial, static_cast<std::uint64_t>(defect)));
}

std::string PatientBuilder::NewId(std::uint64_t serial, ResourceType type) {
  std::string id = EpicId(random_, 24);
  const bool eligible = type == ResourceType::kObservation || type == ResourceType::kCondition ||
                        type == ResourceType::kAllergyIntolerance;
  if (eligible && Fires(Defect::kLongId, serial)) {
    Random detail = DetailRandom(Defect::kLongId, serial);
    id = EpicId(detail, 88);
    Record(type, id, Defect::kLongId, std::string(TypeName(type)) + ".id",
           "88-character id; FHIR allows 64");
  }
  return id;
}

void PatientBuilder::WriteMetaWith(JsonWriter& writer, std::string_view last_updated,
                                   bool security) {
  writer.Key("meta");
  writer.BeginObject();
  writer.Member("lastUpdated", last_updated);
  if (security) {
    writer.Key("security");
    writer.BeginArray();
    WriteCoding(writer, "http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST",
                "test health data");
    writer.EndArray();
  }
  writer.EndObject();
}

void PatientBuilder::WriteRecordMeta(JsonWriter& writer, ResourceType type, const std::string& id,
                                     std::uint64_t serial, std::int64_t event) {
  std::string last_updated;
  if (Fires(Defect::kSameLastUpdated, serial)) {
    // The instant of a bulk migration, shared by every record it touched; content instants
    // always carry non-zero milliseconds, so they never equal it by chance.
    AppendUtcInstant(last_updated, organisation_.as_of_instant, 0);
    Record(type, id, Defect::kSameLastUpdated, "meta.lastUpdated",
           "shared migration instant " + last_updated);
  } else {
    // A record is last touched some time after its event, and never after the as-of instant.
    const std::uint64_t key = MixKey(seed_, kUpdateStream, index_, serial);
    std::int64_t updated = event + 60 + static_cast<std::int64_t>(key % (3 * kDay));
    if (updated >= organisation_.as_of_instant) {
      updated = organisation_.as_of_instant - 1 - static_cast<std::int64_t>((key >> 20) % kHour);
    }
    AppendUtcInstant(last_updated, updated, 1 + static_cast<int>((key >> 40) % 999));
  }
  WriteMetaWith(writer, last_updated, type == ResourceType::kPatient);
}

bool PatientBuilder::HasCondition(std::string_view snomed) const {
  return std::any_of(conditions_.begin(), conditions_.end(), [&](const ConditionPlan& condition) {
    return Conditions()[static_cast<std::size_t>(condition.row)].snomed == snomed;
  });
}

bool PatientBuilder::HasLabFocus(LabFocus focus) const {
  return std::any_of(conditions_.begin(), conditions_.end(), [&](const ConditionPlan& condition) {
    const ConditionEntry& entry = Conditions()[static_cast<std::size_t>(condition.row)];
    return entry.chronic && entry.lab_focus == focus;
  });
}

// ---------------------------------------------------------------------------------------------
// Planning

void PatientBuilder::Plan() {
  patient_serial_ = NextSerial();
  PlanPerson();
  PlanChronicConditions();
  PlanSpecialists();
  PlanEncounters();
  PlanConditionRecording();

  duplicate_ = Fires(Defect::kDuplicateDemographics, patient_serial_);
  merged_ = Fires(Defect::kMergedRecord, patient_serial_);
  if (duplicate_) {
    Random detail = DetailRandom(Defect::kDuplicateDemographics, kDuplicateSerial);
    duplicate_id_ = EpicId(detail, 24);
  }
  if (merged_) {
    Random detail = DetailRandom(Defect::kMergedRecord, kMergedSerial);
    merged_id_ = EpicId(detail, 24);
  }
}

void PatientBuilder::PlanPerson() {
  patient_id_ = EpicId(random_, 24);
  person_.female = random_.Chance(0.51);

  // Ages: about a fifth children, a fifth over 65.
  const double band = random_.Unit();
  if (band < 0.2) {
    person_.age = static_cast<int>(random_.Below(18));
  } else if (band < 0.55) {
    person_.age = static_cast<int>(random_.Between(18, 44));
  } else if (band < 0.8) {
    person_.age = static_cast<int>(random_.Between(45, 64));
  } else {
    person_.age = static_cast<int>(random_.Between(65, 96));
  }
  // At least three weeks old, so that even a newborn has had a visit.
  person_.birth_day = organisation_.as_of_day - person_.age * std::int64_t{1461} / 4 -
                      static_cast<std::int64_t>(random_.Below(345)) - 20;

  person_.given = std::string(person_.female ? random_.Pick(FemaleGivenNames())
                                             : random_.Pick(MaleGivenNames()));
  if (random_.Chance(0.3)) {
    person_.middle = std::string(person_.female ? random_.Pick(FemaleGivenNames())
                                                : random_.Pick(MaleGivenNames()));
  }
  person_.family = std::string(random_.Pick(FamilyNamePrefixes()));
  person_.family.append(random_.Pick(FamilyNameSuffixes()));

  // 555-0100 to 555-0199 are reserved for fiction.
  phone_ = organisation_.area_code + "-555-01";
  phone_ += static_cast<char>('0' + random_.Below(10));
  phone_ += static_cast<char>('0' + random_.Below(10));
  street_ = std::to_string(random_.Between(1, 9999)) + " ";
  street_.append(random_.Pick(StreetNames()));
  city_ = std::string(random_.Pick(CityNames()));
  postal_code_ = "000" + std::to_string(random_.Between(10, 99));

  const double language = random_.Unit();
  if (language < 0.86) {
    language_code_ = "en";
    language_display_ = "English";
  } else if (language < 0.95) {
    language_code_ = "es";
    language_display_ = "Spanish";
  } else if (language < 0.98) {
    language_code_ = "vi";
    language_display_ = "Vietnamese";
  } else {
    language_code_ = "zh";
    language_display_ = "Chinese";
  }

  const double marital = random_.Unit();
  if (person_.age >= 18) {
    if (marital < 0.48) {
      marital_code_ = "M";
      marital_display_ = "Married";
    } else if (marital < 0.78) {
      marital_code_ = "S";
      marital_display_ = "Never Married";
    } else if (marital < 0.9) {
      marital_code_ = "D";
      marital_display_ = "Divorced";
    } else {
      marital_code_ = "W";
      marital_display_ = "Widowed";
    }
  }

  height_z_ = Clamp(random_.Normal(0, 1), -2.5, 2.5);
  weight_z_ = Clamp(random_.Normal(0, 1), -2, 2.5);
  const auto& gps =
      organisation_.practitioners[static_cast<std::size_t>(Specialty::kFamilyPractice)];
  gp_ = gps[static_cast<std::size_t>(random_.Below(gps.size()))];
}

void PatientBuilder::PlanChronicConditions() {
  // Older people carry more chronic problems.
  int count = 0;
  if (person_.age < 18) {
    count = static_cast<int>(random_.Below(2));
  } else if (person_.age < 45) {
    count = static_cast<int>(random_.Below(3));
  } else if (person_.age < 65) {
    count = static_cast<int>(random_.Between(1, 3));
  } else {
    count = static_cast<int>(random_.Between(2, 4));
  }

  std::vector<int> eligible;
  for (std::size_t row = 0; row < Conditions().size(); ++row) {
    const ConditionEntry& entry = Conditions()[row];
    if (entry.chronic && entry.minimum_age <= person_.age)
      eligible.push_back(static_cast<int>(row));
  }
  for (int i = 0; i < count && !eligible.empty(); ++i) {
    const std::size_t pick = static_cast<std::size_t>(random_.Below(eligible.size()));
    const int row = eligible[pick];
    eligible.erase(eligible.begin() + static_cast<std::ptrdiff_t>(pick));
    const ConditionEntry& entry = Conditions()[static_cast<std::size_t>(row)];

    ConditionPlan condition;
    condition.serial = NextSerial();
    condition.id = NewId(condition.serial, ResourceType::kCondition);
    condition.row = row;
    condition.icd10 = random_.Chance(0.4);
    const std::int64_t earliest = std::max(
        person_.birth_day + entry.minimum_age * std::int64_t{1461} / 4, person_.birth_day + 180);
    const std::int64_t latest = organisation_.as_of_day - 30;
    if (earliest >= latest) continue;
    condition.onset_day = random_.Between(earliest, latest);
    conditions_.push_back(condition);
    if (entry.snomed == "35489007") depressed_ = true;
  }
  obese_ = person_.age >= 18 && random_.Chance(0.3);
}

void PatientBuilder::PlanSpecialists() {
  for (const ConditionPlan& condition : conditions_) {
    const Specialty specialty = Conditions()[static_cast<std::size_t>(condition.row)].specialty;
    if (specialty == Specialty::kFamilyPractice) continue;
    if (std::find(specialist_specialties_.begin(), specialist_specialties_.end(), specialty) !=
        specialist_specialties_.end()) {
      continue;
    }
    if (specialist_specialties_.size() < 3) specialist_specialties_.push_back(specialty);
  }
  // Everyone has seen at least one specialist.
  if (specialist_specialties_.empty()) {
    constexpr std::array<Specialty, 4> kCommon = {Specialty::kDermatology, Specialty::kOrthopaedics,
                                                  Specialty::kGastroenterology,
                                                  Specialty::kCardiology};
    specialist_specialties_.push_back(random_.Pick(std::span<const Specialty>(kCommon)));
  }
  for (const Specialty specialty : specialist_specialties_) {
    const auto& pool = organisation_.practitioners[static_cast<std::size_t>(specialty)];
    specialists_.push_back(pool[static_cast<std::size_t>(random_.Below(pool.size()))]);
  }
}

void PatientBuilder::PlanEncounters() {
  const std::int64_t as_of_day = organisation_.as_of_day;
  window_start_ = std::max(person_.birth_day + 14, as_of_day - 6 * 365);
  const std::int64_t window = as_of_day - window_start_;
  std::size_t count =
      2 + static_cast<std::size_t>(random_.Below(4)) + conditions_.size() + specialists_.size();
  count = std::min<std::size_t>(count, 12);
  if (window < 30) count = 1;

  std::vector<std::int64_t> days(count);
  for (auto& day : days)
    day = window_start_ + random_.Between(0, std::max<std::int64_t>(window - 2, 0));
  std::sort(days.begin(), days.end());

  std::vector<EncounterClass> kinds(count);
  for (auto& kind : kinds) {
    const double draw = random_.Unit();
    kind = draw < 0.7    ? EncounterClass::kAmbulatory
           : draw < 0.88 ? EncounterClass::kEmergency
                         : EncounterClass::kInpatient;
  }
  // Specialist consultations, spread through the history.
  std::vector<int> specialist_of(count, -1);
  for (std::size_t j = 0; j < specialists_.size(); ++j) {
    std::size_t slot = (1 + 2 * j) % count;
    for (std::size_t probe = 0; probe < count && specialist_of[slot] != -1; ++probe) {
      slot = (slot + 1) % count;
    }
    if (specialist_of[slot] != -1) break;
    specialist_of[slot] = static_cast<int>(j);
    kinds[slot] = EncounterClass::kAmbulatory;
  }

  std::int64_t previous_end = 0;
  for (std::size_t i = 0; i < count; ++i) {
    EncounterPlan encounter;
    encounter.serial = NextSerial();
    encounter.id = EpicId(random_, 24);
    encounter.kind = kinds[i];
    const bool last = i + 1 == count;

    // Content draws happen in a fixed order whatever branch is taken below.
    const std::int64_t ambulatory_slot = random_.Between(8 * 4, 16 * 4 + 2) * 15 * kMinute;
    const std::int64_t ambulatory_length = random_.Between(1, 4) * 15 * kMinute;
    const std::int64_t emergency_time = random_.Between(0, 24 * 60 - 1) * kMinute;
    const std::int64_t emergency_length = random_.Between(2 * 60, 8 * 60) * kMinute;
    const std::int64_t admission_time = random_.Between(10 * 60, 22 * 60) * kMinute;
    const std::int64_t stay_days = random_.Between(1, 7);
    const std::int64_t discharge_time = random_.Between(10 * 60, 14 * 60) * kMinute;
    const double status_draw = random_.Unit();
    const double in_progress_draw = random_.Unit();
    const std::int64_t in_progress_age = random_.Between(6 * 60, 40 * 60) * kMinute;
    const double reason_draw = random_.Unit();
    const std::uint64_t reason_pick = random_.Next();

    const std::int64_t day = days[i];
    switch (encounter.kind) {
      case EncounterClass::kAmbulatory:
        encounter.start = LocalToInstant(organisation_.zone, day, ambulatory_slot);
        encounter.end = encounter.start + ambulatory_length;
        break;
      case EncounterClass::kEmergency:
        encounter.start = LocalToInstant(organisation_.zone, day, emergency_time);
        encounter.end = encounter.start + emergency_length;
        break;
      case EncounterClass::kInpatient:
        encounter.start = LocalToInstant(organisation_.zone, day, admission_time);
        encounter.end = LocalToInstant(organisation_.zone, day + stay_days, discharge_time);
        break;
    }

    // The last emergency visit or admission is sometimes still going on.
    bool in_progress =
        last && encounter.kind != EncounterClass::kAmbulatory && in_progress_draw < 0.25;
    if (in_progress) {
      encounter.start = organisation_.as_of_instant - in_progress_age;
      encounter.end = 0;
      encounter.status = EncounterStatus::kInProgress;
    }

    // Encounters never overlap: push later ones to the next morning after the last ended.
    if (previous_end != 0 && encounter.start <= previous_end) {
      if (in_progress) break;
      const std::int64_t shift =
          LocalToInstant(organisation_.zone, LocalDay(organisation_.zone, previous_end) + 1,
                         9 * kHour) -
          encounter.start;
      encounter.start += shift;
      encounter.end += shift;
    }
    if (encounter.status != EncounterStatus::kInProgress &&
        encounter.end >= organisation_.as_of_instant) {
      // An admission that would end after the as-of instant is still going on.
      if (encounter.kind != EncounterClass::kInpatient ||
          encounter.start >= organisation_.as_of_instant - 2 * kHour) {
        break;
      }
      encounter.end = 0;
      encounter.status = EncounterStatus::kInProgress;
      in_progress = true;
    }

    if (!in_progress) {
      if (encounter.kind == EncounterClass::kAmbulatory && status_draw < 0.05) {
        encounter.status = EncounterStatus::kCancelled;
        encounter.end = 0;
      } else if (status_draw > 0.98) {
        encounter.status = EncounterStatus::kEnteredInError;
      }
    }

    // Who saw the patient, where, and why.
    if (specialist_of[i] >= 0) {
      const auto j = static_cast<std::size_t>(specialist_of[i]);
      encounter.practitioner = specialists_[j];
      encounter.specialty = specialist_specialties_[j];
      for (const ConditionPlan& condition : conditions_) {
        if (Conditions()[static_cast<std::size_t>(condition.row)].specialty ==
            encounter.specialty) {
          encounter.reason = condition.row;
        }
      }
    } else if (encounter.kind == EncounterClass::kAmbulatory) {
      encounter.practitioner = gp_;
      encounter.specialty = Specialty::kFamilyPractice;
      if (!conditions_.empty() && reason_draw < 0.5) {
        encounter.reason = conditions_[reason_pick % conditions_.size()].row;
      } else if (reason_draw < 0.75) {
        // An acute problem seen in the clinic.
        constexpr std::array<std::string_view, 4> kClinicAcute = {"10509002", "444814009",
                                                                  "68566005", "25064002"};
        const std::string_view snomed = kClinicAcute[reason_pick % kClinicAcute.size()];
        for (std::size_t row = 0; row < Conditions().size(); ++row) {
          if (Conditions()[row].snomed == snomed && Conditions()[row].minimum_age <= AgeOn(day)) {
            encounter.reason = static_cast<int>(row);
          }
        }
      }
    } else {
      const bool inpatient = encounter.kind == EncounterClass::kInpatient;
      const Specialty specialty =
          inpatient ? Specialty::kGeneralMedicine : Specialty::kEmergencyMedicine;
      const auto& pool = organisation_.practitioners[static_cast<std::size_t>(specialty)];
      encounter.practitioner = pool[reason_pick % pool.size()];
      encounter.specialty = specialty;
      std::vector<int> acute;
      for (std::size_t row = 0; row < Conditions().size(); ++row) {
        const ConditionEntry& entry = Conditions()[row];
        if (!entry.chronic && entry.minimum_age <= AgeOn(day) && (!inpatient || entry.admits)) {
          acute.push_back(static_cast<int>(row));
        }
      }
      if (!acute.empty()) encounter.reason = acute[(reason_pick >> 8) % acute.size()];
    }

    encounters_.push_back(encounter);
    if (encounter.status != EncounterStatus::kCancelled) {
      previous_end = encounter.end != 0 ? encounter.end : organisation_.as_of_instant;
    }
    if (in_progress) break;
  }

  // Acute problems diagnosed at encounters become encounter diagnoses.
  for (auto& encounter : encounters_) {
    if (encounter.reason < 0 || !encounter.has_data()) continue;
    if (Conditions()[static_cast<std::size_t>(encounter.reason)].chronic) continue;
    PlanAcuteCondition(encounter, encounter.reason);
  }
}

void PatientBuilder::PlanAcuteCondition(EncounterPlan& encounter, int row) {
  ConditionPlan condition;
  condition.serial = NextSerial();
  condition.id = NewId(condition.serial, ResourceType::kCondition);
  condition.row = row;
  condition.icd10 = random_.Chance(0.5);
  condition.onset_day = LocalDay(organisation_.zone, encounter.start);
  condition.recorded = encounter.start + 20 * kMinute;
  const std::int64_t recovery = random_.Between(5, 21);
  condition.encounter = static_cast<int>(&encounter - encounters_.data());
  condition.recorder = encounter.practitioner;
  if (condition.onset_day + recovery < organisation_.as_of_day) {
    condition.resolved = true;
    condition.abatement_day = condition.onset_day + recovery;
  }
  conditions_.push_back(condition);
}

void PatientBuilder::PlanConditionRecording() {
  for (ConditionPlan& condition : conditions_) {
    if (!Conditions()[static_cast<std::size_t>(condition.row)].chronic) continue;
    condition.recorder = gp_;
    // A problem that began inside the history is recorded at the next visit within a year.
    if (condition.onset_day < window_start_) continue;
    for (std::size_t i = 0; i < encounters_.size(); ++i) {
      const EncounterPlan& encounter = encounters_[i];
      const std::int64_t day = LocalDay(organisation_.zone, encounter.start);
      if (!encounter.has_data() || day < condition.onset_day) continue;
      if (day > condition.onset_day + 365) break;
      condition.encounter = static_cast<int>(i);
      condition.recorded = encounter.start + 25 * kMinute;
      condition.recorder = encounter.practitioner;
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

void PatientBuilder::Write() {
  WritePatients();
  for (const EncounterPlan& encounter : encounters_) WriteEncounter(encounter);
  for (const EncounterPlan& encounter : encounters_) {
    if (encounter.has_data()) WriteEncounterObservations(encounter);
  }
  for (const ConditionPlan& condition : conditions_) WriteCondition(condition);
  WriteAllergies();
  WriteMedicationRequests();
  WriteMedicationStatements();
}

void PatientBuilder::WritePatients() {
  Person person = person_;
  const bool non_ascii = Fires(Defect::kNonAsciiName, patient_serial_);
  if (non_ascii) {
    Random detail = DetailRandom(Defect::kNonAsciiName, patient_serial_);
    person.given = std::string(detail.Pick(NonAsciiGivenNames()));
    person.family = std::string(detail.Pick(NonAsciiFamilyNames()));
    person.middle.clear();
    Record(ResourceType::kPatient, patient_id_, Defect::kNonAsciiName, "Patient.name",
           "given and family name with non-ASCII characters");
  }
  WritePatient(person, patient_id_, patient_serial_, kPrimaryMrnBase + index_, true, true);

  if (duplicate_) {
    // A second registration of the same person: one typo in a name, a new MRN.
    Random detail = DetailRandom(Defect::kDuplicateDemographics, patient_serial_);
    Person copy = person;
    std::string* target = &copy.family;
    std::vector<std::size_t> positions;
    const auto ascii_letter = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    };
    for (std::string* name : {&copy.family, &copy.given}) {
      for (std::size_t i = 1; i + 1 < name->size(); ++i) {
        if (ascii_letter((*name)[i]) && ascii_letter((*name)[i + 1])) positions.push_back(i);
      }
      if (!positions.empty()) {
        target = name;
        break;
      }
    }
    std::string typo;
    if (positions.empty()) {
      copy.family.push_back(' ');
      typo = "trailing space in family name";
    } else {
      const std::size_t at = positions[static_cast<std::size_t>(detail.Below(positions.size()))];
      const std::uint64_t kind = detail.Below(3);
      if (kind == 0 && (*target)[at] != (*target)[at + 1]) {
        std::swap((*target)[at], (*target)[at + 1]);
        typo = "two letters swapped";
      } else if (kind == 1) {
        target->erase(at, 1);
        typo = "a letter dropped";
      } else {
        target->insert(at, 1, (*target)[at]);
        typo = "a letter doubled";
      }
      typo += target == &copy.family ? " in family name" : " in given name";
    }
    WritePatient(copy, duplicate_id_, kDuplicateSerial, kDuplicateMrnBase + index_, true, false);
    Record(ResourceType::kPatient, duplicate_id_, Defect::kDuplicateDemographics, "Patient",
           "duplicate of Patient/" + patient_id_ + ": " + typo + ", another MRN");
    if (non_ascii) {
      Record(ResourceType::kPatient, duplicate_id_, Defect::kNonAsciiName, "Patient.name",
             "copied from the duplicated record");
    }
  }

  if (merged_) {
    WritePatient(person, merged_id_, kMergedSerial, kMergedMrnBase + index_, false, false);
    Record(ResourceType::kPatient, merged_id_, Defect::kMergedRecord, "Patient.link",
           "inactive, replaced-by Patient/" + patient_id_ + ", which links back with replaces");
    if (non_ascii) {
      Record(ResourceType::kPatient, merged_id_, Defect::kNonAsciiName, "Patient.name",
             "copied from the surviving record");
    }
  }
}

void PatientBuilder::WritePatient(const Person& person, const std::string& id, std::uint64_t serial,
                                  std::uint64_t mrn, bool active, bool primary) {
  const Organisation& organisation = organisation_;
  JsonWriter& writer = emitter_.BeginResource(ResourceType::kPatient, id);
  const std::int64_t registered = encounters_.empty() ? organisation.as_of_instant - 30 * kDay
                                                      : encounters_.front().start - kDay;
  WriteRecordMeta(writer, ResourceType::kPatient, id, serial, registered);

  // Epic's extensions. Defects apply to the primary record only.
  const std::string_view sex = person.female ? "female" : "male";
  const bool without_value = primary && Fires(Defect::kExtensionWithoutValue, serial);
  const bool wrong_type =
      primary && !without_value && Fires(Defect::kExtensionWrongValueType, serial);
  const bool unknown_url = primary && Fires(Defect::kExtensionUnknownUrl, serial);
  writer.Key("extension");
  writer.BeginArray();
  writer.BeginObject();
  writer.Member("url", std::string(kEpicExtension) + "legal-sex");
  if (without_value) {
    Record(ResourceType::kPatient, id, Defect::kExtensionWithoutValue, "Patient.extension",
           "legal-sex extension has no value");
  } else if (wrong_type) {
    writer.Member("valueString", sex);
    Record(ResourceType::kPatient, id, Defect::kExtensionWrongValueType, "Patient.extension",
           "legal-sex extension has valueString instead of valueCodeableConcept");
  } else {
    writer.Key("valueCodeableConcept");
    writer.BeginObject();
    writer.Key("coding");
    writer.BeginArray();
    WriteCoding(writer, organisation.systems.legal_sex, sex, sex);
    writer.EndArray();
    writer.EndObject();
  }
  writer.EndObject();
  writer.BeginObject();
  writer.Member("url", std::string(kEpicExtension) + "sex-for-clinical-use");
  writer.Key("valueCodeableConcept");
  writer.BeginObject();
  writer.Key("coding");
  writer.BeginArray();
  WriteCoding(writer, organisation.systems.sex_for_clinical_use,
              person.female ? "female-typical" : "male-typical",
              person.female ? "Female typical" : "Male typical");
  writer.EndArray();
  writer.EndObject();
  writer.EndObject();
  if (unknown_url) {
    writer.BeginObject();
    writer.Member("url", kUnknownExtensionUrl);
    writer.Member("valueString", "VIP-2");
    writer.EndObject();
    Record(ResourceType::kPatient, id, Defect::kExtensionUnknownUrl, "Patient.extension",
           "extension with an undefined url");
  }
  writer.EndArray();

  const std::string mrn_text = std::to_string(mrn);
  writer.Key("identifier");
  writer.BeginArray();
  writer.BeginObject();
  writer.Member("use", "usual");
  writer.Key("type");
  writer.BeginObject();
  writer.Key("coding");
  writer.BeginArray();
  WriteCoding(writer, "http://terminology.hl7.org/CodeSystem/v2-0203", "MR",
              "Medical record number");
  writer.EndArray();
  writer.Member("text", "EPI");
  writer.EndObject();
  writer.Member("system", organisation.systems.mrn);
  writer.Member("value", mrn_text);
  writer.EndObject();
  writer.EndArray();
  writer.MemberBool("active", active);

  writer.Key("name");
  writer.BeginArray();
  writer.BeginObject();
  writer.Member("use", "official");
  std::string text = person.given;
  if (!person.middle.empty()) text += " " + person.middle;
  text += " " + person.family;
  writer.Member("text", text);
  writer.Member("family", person.family);
  writer.Key("given");
  writer.BeginArray();
  writer.String(person.given);
  if (!person.middle.empty()) writer.String(person.middle);
  writer.EndArray();
  writer.EndObject();
  writer.EndArray();

  const bool missing_fields = primary && Fires(Defect::kMissingOptionalFields, serial);
  if (!missing_fields) {
    writer.Key("telecom");
    writer.BeginArray();
    writer.BeginObject();
    writer.Member("system", "phone");
    writer.Member("value", phone_);
    writer.Member("use", "home");
    writer.EndObject();
    writer.EndArray();
  }
  writer.Member("gender", sex);

  const bool year_only = primary && Fires(Defect::kYearOnlyDate, serial);
  std::string birth;
  if (year_only) {
    AppendYear(birth, person.birth_day);
    Record(ResourceType::kPatient, id, Defect::kYearOnlyDate, "Patient.birthDate",
           "birthDate has the year only");
  } else {
    AppendDate(birth, person.birth_day);
  }
  writer.Member("birthDate", birth);

  if (!missing_fields) {
    writer.Key("address");
    writer.BeginArray();
    writer.BeginObject();
    writer.Member("use", "home");
    writer.Key("line");
    writer.BeginArray();
    writer.String(street_);
    writer.EndArray();
    writer.Member("city", city_);
    writer.Member("state", organisation.state);
    writer.Member("postalCode", postal_code_);
    writer.Member("country", "US");
    writer.EndObject();
    writer.EndArray();
    if (!marital_code_.empty()) {
      WriteConcept(writer, "maritalStatus",
                   "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", marital_code_,
                   marital_display_);
    }
    writer.Key("communication");
    writer.BeginArray();
    writer.BeginObject();
    WriteConcept(writer, "language", "urn:ietf:bcp:47", language_code_, language_display_);
    writer.MemberBool("preferred", true);
    writer.EndObject();
    writer.EndArray();
  } else {
    Record(ResourceType::kPatient, id, Defect::kMissingOptionalFields, "Patient",
           "no telecom, address, maritalStatus or communication");
  }

  writer.Key("generalPractitioner");
  writer.BeginArray();
  emitter_.SharedReferenceValue(writer, gp_);
  writer.EndArray();
  emitter_.SharedReference(writer, "managingOrganization", organisation.organization);

  if (primary && merged_) {
    writer.Key("link");
    writer.BeginArray();
    writer.BeginObject();
    emitter_.LocalReference(writer, "other", ResourceType::kPatient, merged_id_);
    writer.Member("type", "replaces");
    writer.EndObject();
    writer.EndArray();
  } else if (!active) {
    writer.Key("link");
    writer.BeginArray();
    writer.BeginObject();
    emitter_.LocalReference(writer, "other", ResourceType::kPatient, patient_id_);
    writer.Member("type", "replaced-by");
    writer.EndObject();
    writer.EndArray();
  }
  emitter_.EndResource(organisation.systems.mrn, mrn_text);
}

void PatientBuilder::WriteEncounter(const EncounterPlan& encounter) {
  const Organisation& organisation = organisation_;
  JsonWriter& writer = emitter_.BeginResource(ResourceType::kEncounter, encounter.id);
  WriteRecordMeta(writer, ResourceType::kEncounter, encounter.id, encounter.serial,
                  encounter.close(organisation.as_of_instant));
  const std::string csn = Identifier(encounter.serial);
  WriteIdentifier(writer, "usual", organisation.systems.encounter, csn);

  std::string_view status = "finished";
  std::string_view location_status = "completed";
  switch (encounter.status) {
    case EncounterStatus::kFinished:
      break;
    case EncounterStatus::kInProgress:
      status = "in-progress";
      location_status = "active";
      break;
    case EncounterStatus::kCancelled:
      status = "cancelled";
      location_status = "planned";
      break;
    case EncounterStatus::kEnteredInError:
      status = "entered-in-error";
      break;
  }
  writer.Member("status", status);

  writer.Key("class");
  switch (encounter.kind) {
    case EncounterClass::kAmbulatory:
      WriteCoding(writer, "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory");
      break;
    case EncounterClass::kEmergency:
      WriteCoding(writer, "http://terminology.hl7.org/CodeSystem/v3-ActCode", "EMER", "emergency");
      break;
    case EncounterClass::kInpatient:
      WriteCoding(writer, "http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP",
                  "inpatient encounter");
      break;
  }

  const bool missing_fields = Fires(Defect::kMissingOptionalFields, encounter.serial);
  if (!missing_fields) {
    if (encounter.kind == EncounterClass::kEmergency) {
      WriteConceptArray(writer, "type", kSnomed, "50849002", "Emergency room admission");
    } else if (encounter.kind == EncounterClass::kInpatient) {
      WriteConceptArray(writer, "type", kSnomed, "32485007", "Hospital admission");
    } else if (encounter.specialty != Specialty::kFamilyPractice) {
      WriteConceptArray(writer, "type", kSnomed, "11429006", "Consultation");
    } else if (encounter.reason >= 0 &&
               !Conditions()[static_cast<std::size_t>(encounter.reason)].chronic) {
      WriteConceptArray(writer, "type", kSnomed, "185347001", "Encounter for problem");
    } else if (encounter.reason >= 0) {
      WriteConceptArray(writer, "type", kSnomed, "185389009", "Follow-up visit");
    } else {
      WriteConceptArray(writer, "type", kSnomed, "185349003", "Encounter for check up");
    }
  }
  emitter_.LocalReference(writer, "subject", ResourceType::kPatient, patient_id_);

  writer.Key("participant");
  writer.BeginArray();
  writer.BeginObject();
  WriteConceptArray(writer, "type", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "ATND", "attender");
  if (Fires(Defect::kReferenceToMissingPractitioner, encounter.serial)) {
    Random detail = DetailRandom(Defect::kReferenceToMissingPractitioner, encounter.serial);
    const std::string missing = EpicId(detail, 24);
    emitter_.BrokenReference(writer, "individual", ResourceType::kPractitioner, missing,
                             "Provider, Former");
    Record(ResourceType::kEncounter, encounter.id, Defect::kReferenceToMissingPractitioner,
           "Encounter.participant.individual", "Practitioner/" + missing + " is not in the data");
  } else {
    emitter_.SharedReference(writer, "individual", encounter.practitioner);
  }
  writer.EndObject();
  writer.EndArray();

  const bool no_zone = Fires(Defect::kDateTimeWithoutTimeZone, encounter.serial);
  writer.Key("period");
  writer.BeginObject();
  std::string time;
  AppendLocalDateTime(time, organisation.zone, encounter.start, !no_zone);
  writer.Member("start", time);
  if (encounter.end != 0) {
    time.clear();
    AppendLocalDateTime(time, organisation.zone, encounter.end, !no_zone);
    writer.Member("end", time);
  }
  writer.EndObject();
  if (no_zone) {
    Record(ResourceType::kEncounter, encounter.id, Defect::kDateTimeWithoutTimeZone,
           "Encounter.period", "period start and end without a time zone");
  }

  if (!missing_fields) {
    writer.Key("reasonCode");
    writer.BeginArray();
    if (encounter.reason >= 0) {
      const ConditionEntry& entry = Conditions()[static_cast<std::size_t>(encounter.reason)];
      WriteConceptValue(writer, kSnomed, entry.snomed, entry.snomed_display);
    } else {
      WriteConceptValue(writer, kSnomed, "185349003", "Encounter for check up");
    }
    writer.EndArray();
  }

  if (encounter.kind == EncounterClass::kInpatient) {
    writer.Key("hospitalization");
    writer.BeginObject();
    WriteConcept(writer, "admitSource", "http://terminology.hl7.org/CodeSystem/admit-source", "emd",
                 "From accident/emergency department");
    if (encounter.status == EncounterStatus::kFinished) {
      WriteConcept(writer, "dischargeDisposition",
                   "http://terminology.hl7.org/CodeSystem/discharge-disposition", "home", "Home");
    }
    writer.EndObject();
  }

  if (!missing_fields) {
    writer.Key("location");
    writer.BeginArray();
    writer.BeginObject();
    emitter_.SharedReference(writer, "location",
                             organisation.locations[static_cast<std::size_t>(encounter.specialty)]);
    writer.Member("status", location_status);
    writer.EndObject();
    writer.EndArray();
    emitter_.SharedReference(writer, "serviceProvider", organisation.organization);
  } else {
    Record(ResourceType::kEncounter, encounter.id, Defect::kMissingOptionalFields, "Encounter",
           "no type, reasonCode, location or serviceProvider");
  }
  emitter_.EndResource(organisation.systems.encounter, csn);
}

void PatientBuilder::WriteEncounterReference(JsonWriter& writer, ResourceType type,
                                             const std::string& id, std::uint64_t serial,
                                             const EncounterPlan& encounter) {
  if (Fires(Defect::kReferenceToDeletedEncounter, serial)) {
    Random detail = DetailRandom(Defect::kReferenceToDeletedEncounter, serial);
    const std::string deleted = EpicId(detail, 24);
    emitter_.BrokenReference(writer, "encounter", ResourceType::kEncounter, deleted);
    Record(type, id, Defect::kReferenceToDeletedEncounter,
           std::string(TypeName(type)) + ".encounter",
           "Encounter/" + deleted + " was deleted and is not in the data");
    return;
  }
  emitter_.LocalReference(writer, "encounter", ResourceType::kEncounter, encounter.id);
}

void PatientBuilder::WriteEncounterObservations(const EncounterPlan& encounter) {
  const std::int64_t close = encounter.close(organisation_.as_of_instant);
  const std::int64_t span = close - encounter.start;
  const double age =
      static_cast<double>(LocalDay(organisation_.zone, encounter.start) - person_.birth_day) /
      365.25;
  const bool adult = age >= 18;
  const ConditionEntry* reason =
      encounter.reason >= 0 ? &Conditions()[static_cast<std::size_t>(encounter.reason)] : nullptr;
  const bool infection = reason != nullptr && reason->lab_focus == LabFocus::kInfection;
  const bool ambulatory = encounter.kind == EncounterClass::kAmbulatory;

  // Values first, all drawn whatever is written, so the stream stays aligned.
  const Body body = BodyAt(age, person_.female, height_z_, weight_z_, obese_);
  const double weight = Clamp(body.weight_kg * (1 + random_.Normal(0, 0.015)), 2, 250);
  const double height = Clamp(body.height_cm, 45, 210);
  double systolic = 0;
  double diastolic = 0;
  if (adult) {
    systolic = 117 + std::max(0.0, age - 40) * 0.45 + (HasCondition("59621000") ? 14 : 0);
    systolic = random_.Normal(systolic, 10);
    diastolic = 0.55 * systolic + 10 + random_.Normal(0, 5);
  } else {
    systolic = random_.Normal(94 + 1.3 * age, 8);
    diastolic = random_.Normal(54 + 0.9 * age, 6);
  }
  double heart_rate = adult ? 72 : (age < 1 ? 130 : (age < 6 ? 112 - 4 * age : 96 - 1.6 * age));
  if (HasCondition("49436004")) heart_rate += 14;
  if (infection) heart_rate += 12;
  heart_rate = random_.Normal(heart_rate, 8);
  double respiratory_rate = adult ? 16 : (age < 1 ? 38 : (age < 6 ? 26 : (age < 13 ? 20 : 17)));
  if (infection) respiratory_rate += 3;
  respiratory_rate = random_.Normal(respiratory_rate, 1.8);
  double temperature = random_.Normal(infection ? 38.2 : 36.8, infection ? 0.5 : 0.25);
  double saturation = 98;
  if (HasCondition("13645005")) saturation = 93;
  if (reason != nullptr && reason->snomed == "233604007") saturation = 92;
  saturation = std::min(100.0, random_.Normal(saturation, 1.2));
  const bool measure_height = !ambulatory ? false : (!adult || random_.Chance(0.35));
  const bool measure_saturation = !ambulatory || random_.Chance(0.3);
  const double lab_draw = random_.Unit();

  // Vital signs some minutes into the encounter.
  const std::int64_t vitals_at = encounter.start + std::min<std::int64_t>(12 * kMinute, span / 4);
  if (age >= 3) {
    WriteBloodPressure(encounter, Clamp(systolic, 75, 210), Clamp(diastolic, 40, 125), vitals_at);
  }
  WriteVitalSign(encounter, VitalSign::kHeartRate, Clamp(heart_rate, 40, 185), vitals_at);
  WriteVitalSign(encounter, VitalSign::kRespiratoryRate, Clamp(respiratory_rate, 8, 60), vitals_at);
  WriteVitalSign(encounter, VitalSign::kBodyTemperature, Clamp(temperature, 35.5, 40.5), vitals_at);
  if (measure_saturation) {
    WriteVitalSign(encounter, VitalSign::kOxygenSaturation, Clamp(saturation, 84, 100), vitals_at);
  }
  WriteVitalSign(encounter, VitalSign::kBodyWeight, weight, vitals_at);
  if (measure_height) {
    WriteVitalSign(encounter, VitalSign::kBodyHeight, height, vitals_at);
    if (age >= 2) {
      // BMI from the values as written, rounded to one decimal like them.
      const double written_weight = static_cast<double>(ToUnits(weight, 1)) / 10;
      const double metres = static_cast<double>(ToUnits(height, 1)) / 1000;
      WriteVitalSign(encounter, VitalSign::kBodyMassIndex, written_weight / (metres * metres),
                     vitals_at);
    }
  }

  // Laboratory results drawn later in the encounter.
  const std::int64_t labs_at = encounter.start + std::min<std::int64_t>(40 * kMinute, span / 3);
  // Which tests were ordered, in table order (a set, so panels that share a test order it once).
  std::array<bool, kLabTestCount> ordered{};
  const auto order = [&](std::initializer_list<LabTest> tests) {
    for (const LabTest test : tests) ordered[static_cast<std::size_t>(test)] = true;
  };
  if (!ambulatory) {
    order({LabTest::kHemoglobin, LabTest::kLeukocytes, LabTest::kPlatelets, LabTest::kSodium,
           LabTest::kPotassium, LabTest::kCreatinine, LabTest::kGlucose});
  } else {
    const bool focused = HasLabFocus(LabFocus::kDiabetes) || HasLabFocus(LabFocus::kKidney) ||
                         HasLabFocus(LabFocus::kLipids) || HasLabFocus(LabFocus::kThyroid);
    if (lab_draw < (focused ? 0.75 : 0.3) && adult) {
      if (HasLabFocus(LabFocus::kDiabetes)) order({LabTest::kHemoglobinA1c, LabTest::kGlucose});
      if (HasLabFocus(LabFocus::kKidney)) {
        order({LabTest::kCreatinine, LabTest::kPotassium, LabTest::kSodium});
      }
      if (HasLabFocus(LabFocus::kLipids)) {
        order({LabTest::kCholesterol, LabTest::kHdlCholesterol, LabTest::kLdlCholesterol,
               LabTest::kTriglycerides});
      }
      if (HasLabFocus(LabFocus::kThyroid)) order({LabTest::kThyrotropin});
      if (!focused) order({LabTest::kHemoglobin, LabTest::kLeukocytes, LabTest::kPlatelets});
    }
    if (reason != nullptr && reason->snomed == "68566005") {
      order({LabTest::kUrineColor, LabTest::kUrineAppearance});
    }
  }
  for (std::size_t test = 0; test < ordered.size(); ++test) {
    if (ordered[test]) WriteLab(encounter, static_cast<LabTest>(test), labs_at);
  }

  // A depression screen at some adult clinic visits with the patient's own practitioner.
  if (ambulatory && adult && encounter.specialty == Specialty::kFamilyPractice &&
      random_.Chance(0.35)) {
    WriteQuestionnaireResponse(encounter);
  }
}

OpenObservation PatientBuilder::BeginObservation(const EncounterPlan& encounter,
                                                 const ObservationEntry& entry,
                                                 std::string_view category,
                                                 std::string_view category_display,
                                                 std::int64_t effective, std::int64_t issued) {
  const Organisation& organisation = organisation_;
  const std::uint64_t serial = NextSerial();
  const std::string id = NewId(serial, ResourceType::kObservation);
  JsonWriter& writer = emitter_.BeginResource(ResourceType::kObservation, id);
  WriteRecordMeta(writer, ResourceType::kObservation, id, serial, issued);
  WriteIdentifier(writer, "usual", organisation.systems.observation, Identifier(serial));
  writer.Member("status", "final");
  WriteConceptArray(writer, "category", kObservationCategory, category, category_display);

  // The concept: LOINC, or one of the code defects, at most one of them.
  writer.Key("code");
  writer.BeginObject();
  if (Fires(Defect::kTextOnly, serial)) {
    writer.Member("text", entry.local_display);
    Record(ResourceType::kObservation, id, Defect::kTextOnly, "Observation.code",
           "text only, no coding");
  } else if (Fires(Defect::kLocalCodeOnly, serial)) {
    writer.Key("coding");
    writer.BeginArray();
    WriteCoding(writer, organisation.systems.observation_local_code, entry.local_code,
                entry.local_display);
    writer.EndArray();
    writer.Member("text", entry.local_display);
    Record(ResourceType::kObservation, id, Defect::kLocalCodeOnly, "Observation.code",
           "only the local code " + std::string(entry.local_code));
  } else if (Fires(Defect::kMultipleCodeSystems, serial)) {
    writer.Key("coding");
    writer.BeginArray();
    WriteCoding(writer, kLoinc, entry.loinc, entry.display);
    WriteCoding(writer, organisation.systems.observation_local_code, entry.local_code,
                entry.local_display);
    writer.EndArray();
    writer.Member("text", entry.display);
    Record(ResourceType::kObservation, id, Defect::kMultipleCodeSystems, "Observation.code",
           "LOINC and local codings");
  } else {
    writer.Key("coding");
    writer.BeginArray();
    WriteCoding(writer, kLoinc, entry.loinc, entry.display);
    writer.EndArray();
    writer.Member("text", entry.display);
  }
  writer.EndObject();

  emitter_.LocalReference(writer, "subject", ResourceType::kPatient, patient_id_);
  WriteEncounterReference(writer, ResourceType::kObservation, id, serial, encounter);

  const bool no_zone = Fires(Defect::kDateTimeWithoutTimeZone, serial);
  std::string time;
  AppendLocalDateTime(time, organisation.zone, effective, !no_zone);
  writer.Member("effectiveDateTime", time);
  if (no_zone) {
    Record(ResourceType::kObservation, id, Defect::kDateTimeWithoutTimeZone,
           "Observation.effectiveDateTime", "effectiveDateTime without a time zone");
  }
  time.clear();
  AppendLocalDateTime(time, organisation.zone, issued);
  writer.Member("issued", time);
  return {writer, id, serial};
}

void PatientBuilder::WriteObservationNote(JsonWriter& writer, const std::string& id,
                                          std::uint64_t serial) {
  if (!Fires(Defect::kLongFreeText, serial)) return;
  Random detail = DetailRandom(Defect::kLongFreeText, serial);
  const std::string note = LongText(detail);
  writer.Key("note");
  writer.BeginArray();
  writer.BeginObject();
  writer.Member("text", note);
  writer.EndObject();
  writer.EndArray();
  Record(ResourceType::kObservation, id, Defect::kLongFreeText, "Observation.note",
         std::to_string(note.size()) + " bytes of note text");
}

void PatientBuilder::WriteVitalSign(const EncounterPlan& encounter, VitalSign sign, double value,
                                    std::int64_t when) {
  const ObservationEntry& entry = VitalSigns()[static_cast<std::size_t>(sign)];
  auto [writer, id, serial] =
      BeginObservation(encounter, entry, "vital-signs", "Vital Signs", when, when);
  if (Fires(Defect::kDataAbsentReason, serial)) {
    WriteConcept(writer, "dataAbsentReason",
                 "http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed",
                 "Not Performed");
    Record(ResourceType::kObservation, id, Defect::kDataAbsentReason, "Observation.value[x]",
           "no value; dataAbsentReason not-performed");
  } else {
    WriteQuantity(writer, "valueQuantity", ToUnits(value, entry.scale), entry.scale, entry.unit,
                  entry.ucum);
  }
  WriteObservationNote(writer, id, serial);
  emitter_.EndResource(organisation_.systems.observation, Identifier(serial));
}

void PatientBuilder::WriteBloodPressure(const EncounterPlan& encounter, double systolic,
                                        double diastolic, std::int64_t when) {
  const ObservationEntry& entry = VitalSigns()[static_cast<std::size_t>(VitalSign::kBloodPressure)];
  auto [writer, id, serial] =
      BeginObservation(encounter, entry, "vital-signs", "Vital Signs", when, when);
  writer.Key("component");
  writer.BeginArray();
  const std::array<double, 2> values = {systolic, diastolic};
  for (std::size_t i = 0; i < values.size(); ++i) {
    const ObservationEntry& component = BloodPressureComponents()[i];
    writer.BeginObject();
    WriteConcept(writer, "code", kLoinc, component.loinc, component.display);
    WriteQuantity(writer, "valueQuantity", ToUnits(values[i], 0), 0, component.unit,
                  component.ucum);
    writer.EndObject();
  }
  writer.EndArray();
  WriteObservationNote(writer, id, serial);
  emitter_.EndResource(organisation_.systems.observation, Identifier(serial));
}

void PatientBuilder::WriteLab(const EncounterPlan& encounter, LabTest test, std::int64_t when) {
  const ObservationEntry& entry = LabTests()[static_cast<std::size_t>(test)];

  // The value, shaped by the patient's conditions.
  // Limitation: reference ranges and interpretations are adult ones at every age; paediatric
  // ranges are not modelled, so a child's result may be flagged against an adult range.
  double mean = entry.low == 0 ? entry.high * 0.7 : (entry.low + entry.high) / 2;
  double deviation = entry.low == 0 ? entry.high * 0.2 : (entry.high - entry.low) / 6;
  const ConditionEntry* reason =
      encounter.reason >= 0 ? &Conditions()[static_cast<std::size_t>(encounter.reason)] : nullptr;
  switch (test) {
    case LabTest::kHemoglobin:
      mean = person_.female ? 13.4 : 15.0;
      deviation = 1.1;
      break;
    case LabTest::kHemoglobinA1c:
      if (HasLabFocus(LabFocus::kDiabetes)) {
        mean = 7.6;
        deviation = 1.1;
      }
      break;
    case LabTest::kGlucose:
      if (HasLabFocus(LabFocus::kDiabetes)) {
        mean = 160;
        deviation = 40;
      }
      if (reason != nullptr && reason->snomed == "302866003") {
        mean = 52;
        deviation = 8;
      }
      break;
    case LabTest::kCreatinine:
      if (HasLabFocus(LabFocus::kKidney)) {
        mean = 2.0;
        deviation = 0.5;
      }
      break;
    case LabTest::kPotassium:
      if (HasLabFocus(LabFocus::kKidney)) mean = 4.9;
      break;
    case LabTest::kCholesterol:
      if (HasLabFocus(LabFocus::kLipids)) mean = 228;
      break;
    case LabTest::kLdlCholesterol:
      if (HasLabFocus(LabFocus::kLipids)) mean = 148;
      break;
    case LabTest::kTriglycerides:
      if (HasLabFocus(LabFocus::kLipids)) mean = 185;
      break;
    case LabTest::kThyrotropin:
      if (HasLabFocus(LabFocus::kThyroid)) {
        mean = 5.5;
        deviation = 2.2;
      }
      break;
    case LabTest::kLeukocytes:
      if (reason != nullptr && reason->lab_focus == LabFocus::kInfection) {
        mean = 13.5;
        deviation = 2.5;
      }
      break;
    default:
      break;
  }
  const double value = Clamp(random_.Normal(mean, deviation), entry.minimum, entry.maximum);
  const std::uint64_t string_pick = random_.Next();
  const std::int64_t turnaround = random_.Between(45, 240) * kMinute;
  // Results come back after the sample was taken, often after the visit ended, and never after
  // the as-of instant.
  const std::int64_t issued =
      std::max(when, std::min(when + turnaround, organisation_.as_of_instant - kMinute));

  auto [writer, id, serial] =
      BeginObservation(encounter, entry, "laboratory", "Laboratory", when, issued);
  const bool absent = Fires(Defect::kDataAbsentReason, serial);
  if (absent) {
    WriteConcept(writer, "dataAbsentReason",
                 "http://terminology.hl7.org/CodeSystem/data-absent-reason", "error", "Error");
    Record(ResourceType::kObservation, id, Defect::kDataAbsentReason, "Observation.value[x]",
           "no value; dataAbsentReason error (specimen haemolysed)");
  } else if (entry.kind == ValueKind::kString) {
    const auto choices = test == LabTest::kUrineColor ? UrineColors() : UrineAppearances();
    writer.Member("valueString", choices[string_pick % choices.size()]);
  } else {
    const std::int64_t units = ToUnits(value, entry.scale);
    WriteQuantity(writer, "valueQuantity", units, entry.scale, entry.unit, entry.ucum);
    const std::int64_t low = ToUnits(entry.low, entry.scale);
    const std::int64_t high = ToUnits(entry.high, entry.scale);
    std::string_view code = "N";
    std::string_view display = "Normal";
    if (entry.low > 0 && units < low) {
      code = "L";
      display = "Low";
    } else if (units > high) {
      code = "H";
      display = "High";
    }
    WriteConceptArray(writer, "interpretation", kInterpretation, code, display);
    writer.Key("referenceRange");
    writer.BeginArray();
    writer.BeginObject();
    if (entry.low > 0) WriteQuantity(writer, "low", low, entry.scale, entry.unit, entry.ucum);
    WriteQuantity(writer, "high", high, entry.scale, entry.unit, entry.ucum);
    std::string range;
    if (entry.low > 0) {
      range = Decimal(low, entry.scale) + "-" + Decimal(high, entry.scale);
    } else {
      range = "<=" + Decimal(high, entry.scale);
    }
    range += " ";
    range.append(entry.unit);
    writer.Member("text", range);
    writer.EndObject();
    writer.EndArray();
  }
  WriteObservationNote(writer, id, serial);
  emitter_.EndResource(organisation_.systems.observation, Identifier(serial));
}

void PatientBuilder::WriteQuestionnaireResponse(const EncounterPlan& encounter) {
  const Organisation& organisation = organisation_;
  const std::uint64_t serial = NextSerial();
  const std::string id = EpicId(random_, 24);
  const int interest = static_cast<int>(random_.Below(depressed_ ? 4 : 2));
  const int mood = static_cast<int>(random_.Below(depressed_ ? 4 : 2));
  const std::int64_t authored =
      encounter.start +
      std::min<std::int64_t>(5 * kMinute,
                             (encounter.close(organisation.as_of_instant) - encounter.start) / 5);

  JsonWriter& writer = emitter_.BeginResource(ResourceType::kQuestionnaireResponse, id);
  WriteRecordMeta(writer, ResourceType::kQuestionnaireResponse, id, serial, authored);
  writer.Key("identifier");
  writer.BeginObject();
  writer.Member("use", "usual");
  writer.Member("system", organisation.systems.questionnaire_response);
  writer.Member("value", Identifier(serial));
  writer.EndObject();
  writer.Member("questionnaire", "http://loinc.org/q/55757-9");
  writer.Member("status", "completed");
  emitter_.LocalReference(writer, "subject", ResourceType::kPatient, patient_id_);
  emitter_.LocalReference(writer, "encounter", ResourceType::kEncounter, encounter.id);
  std::string time;
  AppendLocalDateTime(time, organisation.zone, authored);
  writer.Member("authored", time);
  emitter_.LocalReference(writer, "source", ResourceType::kPatient, patient_id_);

  writer.Key("item");
  writer.BeginArray();
  const auto item = [&](std::string_view link, std::string_view text, int score) {
    writer.BeginObject();
    writer.Member("linkId", link);
    writer.Member("text", text);
    writer.Key("answer");
    writer.BeginArray();
    writer.BeginObject();
    writer.Key("valueCoding");
    const CodeEntry& answer = Phq2Answers()[static_cast<std::size_t>(score)];
    WriteCoding(writer, kLoinc, answer.code, answer.display);
    writer.EndObject();
    writer.EndArray();
    writer.EndObject();
  };
  item("/44250-9", "Little interest or pleasure in doing things", interest);
  item("/44255-8", "Feeling down, depressed, or hopeless", mood);
  writer.BeginObject();
  writer.Member("linkId", "/55758-7");
  writer.Member("text", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]");
  writer.Key("answer");
  writer.BeginArray();
  writer.BeginObject();
  writer.MemberInt("valueInteger", interest + mood);
  writer.EndObject();
  writer.EndArray();
  writer.EndObject();
  writer.EndArray();
  emitter_.EndResource(organisation.systems.questionnaire_response, Identifier(serial));
}

void PatientBuilder::WriteCondition(const ConditionPlan& plan) {
  const Organisation& organisation = organisation_;
  const ConditionEntry& entry = Conditions()[static_cast<std::size_t>(plan.row)];
  const std::string& id = plan.id;
  const std::int64_t recorded_instant =
      plan.recorded != 0 ? plan.recorded
                         : LocalToInstant(organisation.zone, plan.onset_day, 12 * kHour);

  JsonWriter& writer = emitter_.BeginResource(ResourceType::kCondition, id);
  WriteRecordMeta(writer, ResourceType::kCondition, id, plan.serial, recorded_instant);
  WriteIdentifier(writer, "usual", organisation.systems.condition, Identifier(plan.serial));
  if (plan.resolved) {
    WriteConcept(writer, "clinicalStatus",
                 "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved",
                 "Resolved");
  } else {
    WriteConcept(writer, "clinicalStatus",
                 "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active");
  }
  WriteConcept(writer, "verificationStatus",
               "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed",
               "Confirmed");
  if (entry.chronic) {
    WriteConceptArray(writer, "category",
                      "http://terminology.hl7.org/CodeSystem/condition-category",
                      "problem-list-item", "Problem List Item");
  } else {
    WriteConceptArray(writer, "category",
                      "http://terminology.hl7.org/CodeSystem/condition-category",
                      "encounter-diagnosis", "Encounter Diagnosis");
  }

  // The concept: SNOMED CT or ICD-10-CM, or one of the code defects, at most one of them.
  if (Fires(Defect::kConditionWithoutCoding, plan.serial)) {
    writer.Key("code");
    writer.BeginObject();
    writer.Member("text", entry.clinician_text);
    writer.EndObject();
    Record(ResourceType::kCondition, id, Defect::kConditionWithoutCoding, "Condition.code",
           "the clinician's free text, no coding");
  } else {
    writer.Key("code");
    writer.BeginObject();
    writer.Key("coding");
    writer.BeginArray();
    if (Fires(Defect::kDeprecatedCode, plan.serial)) {
      WriteCoding(writer, kIcd9Cm, entry.icd9, entry.icd9_display);
      Record(ResourceType::kCondition, id, Defect::kDeprecatedCode, "Condition.code",
             "only the retired ICD-9-CM code " + std::string(entry.icd9));
    } else if (Fires(Defect::kLocalCodeOnly, plan.serial)) {
      WriteCoding(writer, organisation.systems.condition_local_code, entry.local_code,
                  entry.clinician_text);
      Record(ResourceType::kCondition, id, Defect::kLocalCodeOnly, "Condition.code",
             "only the local code " + std::string(entry.local_code));
    } else if (Fires(Defect::kMultipleCodeSystems, plan.serial)) {
      WriteCoding(writer, kSnomed, entry.snomed, entry.snomed_display);
      WriteCoding(writer, kIcd10Cm, entry.icd10, entry.icd10_display);
      WriteCoding(writer, organisation.systems.condition_local_code, entry.local_code,
                  entry.clinician_text);
      Record(ResourceType::kCondition, id, Defect::kMultipleCodeSystems, "Condition.code",
             "SNOMED CT, ICD-10-CM and local codings");
    } else if (plan.icd10) {
      WriteCoding(writer, kIcd10Cm, entry.icd10, entry.icd10_display);
    } else {
      WriteCoding(writer, kSnomed, entry.snomed, entry.snomed_display);
    }
    writer.EndArray();
    writer.Member("text", plan.icd10 ? entry.icd10_display : entry.snomed_display);
    writer.EndObject();
  }

  emitter_.LocalReference(writer, "subject", ResourceType::kPatient, patient_id_);
  if (plan.encounter >= 0) {
    WriteEncounterReference(writer, ResourceType::kCondition, id, plan.serial,
                            encounters_[static_cast<std::size_t>(plan.encounter)]);
  }

  std::string date;
  if (Fires(Defect::kYearOnlyDate, plan.serial)) {
    AppendYear(date, plan.onset_day);
    Record(ResourceType::kCondition, id, Defect::kYearOnlyDate, "Condition.onsetDateTime",
           "onsetDateTime has the year only");
  } else {
    AppendDate(date, plan.onset_day);
  }
  writer.Member("onsetDateTime", date);
  if (plan.resolved) {
    date.clear();
    AppendDate(date, plan.abatement_day);
    writer.Member("abatementDateTime", date);
  }
  date.clear();
  if (plan.recorded != 0) {
    AppendLocalDateTime(date, organisation.zone, plan.recorded);
  } else {
    AppendDate(date, plan.onset_day);
  }
  writer.Member("recordedDate", date);
  emitter_.SharedReference(writer, "recorder", plan.recorder);

  if (Fires(Defect::kLongFreeText, plan.serial)) {
    Random detail = DetailRandom(Defect::kLongFreeText, plan.serial);
    const std::string note = LongText(detail);
    writer.Key("note");
    writer.BeginArray();
    writer.BeginObject();
    writer.Member("text", note);
    writer.EndObject();
    writer.EndArray();
    Record(ResourceType::kCondition, id, Defect::kLongFreeText, "Condition.note",
           std::to_string(note.size()) + " bytes of note text");
  }
  emitter_.EndResource(organisation.systems.condition, Identifier(plan.serial));
}

void PatientBuilder::WriteAllergies() {
  const Organisation& organisation = organisation_;
  const double draw = random_.Unit();
  const int count = draw < 0.65 ? 0 : (draw < 0.9 ? 1 : 2);
  std::vector<std::size_t> picked;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t serial = NextSerial();
    const std::string id = NewId(serial, ResourceType::kAllergyIntolerance);
    std::size_t row = static_cast<std::size_t>(random_.Below(Allergies().size()));
    if (std::find(picked.begin(), picked.end(), row) != picked.end()) {
      row = (row + 1) % Allergies().size();
    }
    picked.push_back(row);
    const AllergyEntry& allergy = Allergies()[row];
    const std::int64_t earliest =
        person_.birth_day + std::min<std::int64_t>(365, person_.age * 365 / 2 + 30);
    const std::int64_t recorded_day =
        random_.Between(std::min(earliest, organisation.as_of_day - 1), organisation.as_of_day - 1);
    const bool has_onset = random_.Chance(0.5);
    const std::int64_t onset_day = random_.Between(person_.birth_day, recorded_day);
    const bool confirmed = random_.Chance(0.9);
    const CodeEntry& reaction = random_.Pick(AllergyReactions());
    const bool severe = reaction.code == "39579001";
    const std::string_view severity =
        severe ? "severe" : (random_.Chance(0.6) ? "mild" : "moderate");

    JsonWriter& writer = emitter_.BeginResource(ResourceType::kAllergyIntolerance, id);
    WriteRecordMeta(writer, ResourceType::kAllergyIntolerance, id, serial,
                    LocalToInstant(organisation.zone, recorded_day, 11 * kHour));
    WriteIdentifier(writer, "usual", organisation.systems.allergy, Identifier(serial));
    WriteConcept(writer, "clinicalStatus",
                 "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active",
                 "Active");
    if (confirmed) {
      WriteConcept(writer, "verificationStatus",
                   "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                   "confirmed", "Confirmed");
    } else {
      WriteConcept(writer, "verificationStatus",
                   "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                   "unconfirmed", "Unconfirmed");
    }
    writer.Member("type", "allergy");
    const bool free_text = Fires(Defect::kFreeTextAllergy, serial);
    if (free_text) {
      Random detail = DetailRandom(Defect::kFreeTextAllergy, serial);
      writer.Key("code");
      writer.BeginObject();
      writer.Member("text", detail.Pick(FreeTextAllergies()));
      writer.EndObject();
      Record(ResourceType::kAllergyIntolerance, id, Defect::kFreeTextAllergy,
             "AllergyIntolerance.code", "substance as free text, no coding");
    } else {
      writer.Key("category");
      writer.BeginArray();
      writer.String(allergy.category);
      writer.EndArray();
      writer.Member("criticality", allergy.high_criticality ? "high" : "low");
      WriteConcept(writer, "code", allergy.system, allergy.code, allergy.display);
    }
    emitter_.LocalReference(writer, "patient", ResourceType::kPatient, patient_id_);
    if (has_onset) {
      std::string date;
      if (Fires(Defect::kYearOnlyDate, serial)) {
        AppendYear(date, onset_day);
        Record(ResourceType::kAllergyIntolerance, id, Defect::kYearOnlyDate,
               "AllergyIntolerance.onsetDateTime", "onsetDateTime has the year only");
      } else {
        AppendDate(date, onset_day);
      }
      writer.Member("onsetDateTime", date);
    }
    std::string recorded;
    AppendDate(recorded, recorded_day);
    writer.Member("recordedDate", recorded);
    emitter_.SharedReference(writer, "recorder", gp_);
    if (!free_text) {
      writer.Key("reaction");
      writer.BeginArray();
      writer.BeginObject();
      writer.Key("manifestation");
      writer.BeginArray();
      WriteConceptValue(writer, kSnomed, reaction.code, reaction.display);
      writer.EndArray();
      writer.Member("severity", severity);
      writer.EndObject();
      writer.EndArray();
    }
    emitter_.EndResource(organisation.systems.allergy, Identifier(serial));
  }
}

void PatientBuilder::WriteMedicationRequests() {
  // Chronic problems: the drugs started at the first visit after they were recorded.
  for (const ConditionPlan& condition : conditions_) {
    const ConditionEntry& entry = Conditions()[static_cast<std::size_t>(condition.row)];
    const EncounterPlan* at = nullptr;
    if (entry.chronic) {
      for (const EncounterPlan& encounter : encounters_) {
        if (!encounter.has_data() || encounter.kind != EncounterClass::kAmbulatory) continue;
        if (LocalDay(organisation_.zone, encounter.start) < condition.onset_day) continue;
        at = &encounter;
        break;
      }
    } else if (condition.encounter >= 0) {
      at = &encounters_[static_cast<std::size_t>(condition.encounter)];
    }
    const bool second = random_.Chance(0.4);
    if (at == nullptr) continue;
    if (entry.medications[0] >= 0)
      WriteMedicationRequest(entry.medications[0], &condition, *at, entry.chronic);
    if (second && entry.medications[1] >= 0) {
      WriteMedicationRequest(entry.medications[1], &condition, *at, entry.chronic);
    }
  }
}

void PatientBuilder::WriteMedicationRequest(int medication_row, const ConditionPlan* reason,
                                            const EncounterPlan& encounter, bool chronic) {
  const Organisation& organisation = organisation_;
  const MedicationEntry& medication = Medications()[static_cast<std::size_t>(medication_row)];
  const std::uint64_t serial = NextSerial();
  const std::string id = EpicId(random_, 24);
  const bool by_reference = random_.Chance(0.6);
  const bool free_text_dosage = random_.Chance(0.1);
  const std::string_view dosage_text = random_.Pick(FreeTextDosageInstructions());
  const bool stopped = chronic && random_.Chance(0.1);
  const std::int64_t authored =
      encounter.start +
      std::min<std::int64_t>(35 * kMinute,
                             (encounter.close(organisation.as_of_instant) - encounter.start) / 2);
  const std::int64_t start_day = LocalDay(organisation.zone, authored);

  // Courses and tapers end; they are completed once their last day is past.
  std::string_view status = "active";
  if (stopped) {
    status = "stopped";
  } else if (medication.dosing == Dosing::kTaper || medication.dosing == Dosing::kCourse ||
             !chronic) {
    if (start_day + 14 < organisation.as_of_day) status = "completed";
  }

  JsonWriter& writer = emitter_.BeginResource(ResourceType::kMedicationRequest, id);
  WriteRecordMeta(writer, ResourceType::kMedicationRequest, id, serial, authored);
  WriteIdentifier(writer, "usual", organisation.systems.medication_request, Identifier(serial));
  writer.Member("status", status);
  writer.Member("intent", "order");
  if (encounter.kind == EncounterClass::kAmbulatory) {
    WriteConceptArray(writer, "category",
                      "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                      "outpatient", "Outpatient");
  } else {
    WriteConceptArray(writer, "category",
                      "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                      "discharge", "Discharge");
  }
  if (by_reference) {
    emitter_.SharedReference(writer, "medicationReference",
                             organisation.medications[static_cast<std::size_t>(medication_row)]);
  } else if (Fires(Defect::kTextOnly, serial)) {
    writer.Key("medicationCodeableConcept");
    writer.BeginObject();
    writer.Member("text", medication.local_name);
    writer.EndObject();
    Record(ResourceType::kMedicationRequest, id, Defect::kTextOnly,
           "MedicationRequest.medicationCodeableConcept", "text only, no coding");
  } else {
    WriteConcept(writer, "medicationCodeableConcept", kRxNorm, medication.rxnorm,
                 medication.display);
  }
  emitter_.LocalReference(writer, "subject", ResourceType::kPatient, patient_id_);
  emitter_.LocalReference(writer, "encounter", ResourceType::kEncounter, encounter.id);
  std::string time;
  AppendLocalDateTime(time, organisation.zone, authored);
  writer.Member("authoredOn", time);
  if (Fires(Defect::kReferenceToMissingPractitioner, serial)) {
    Random detail = DetailRandom(Defect::kReferenceToMissingPractitioner, serial);
    const std::string missing = EpicId(detail, 24);
    emitter_.BrokenReference(writer, "requester", ResourceType::kPractitioner, missing,
                             "Provider, Former");
    Record(ResourceType::kMedicationRequest, id, Defect::kReferenceToMissingPractitioner,
           "MedicationRequest.requester", "Practitioner/" + missing + " is not in the data");
  } else {
    emitter_.SharedReference(writer, "requester", encounter.practitioner);
  }
  if (reason != nullptr) {
    writer.Key("reasonReference");
    writer.BeginArray();
    emitter_.LocalReferenceValue(writer, ResourceType::kCondition, reason->id);
    writer.EndArray();
  }
  WriteDosageInstructions(writer, medication, start_day,
                          free_text_dosage ? std::string_view(dosage_text) : std::string_view());
  if (chronic && medication.dosing == Dosing::kOnceDaily && !medication.form_snomed.empty()) {
    writer.Key("dispenseRequest");
    writer.BeginObject();
    writer.MemberInt("numberOfRepeatsAllowed", 3);
    WriteQuantity(writer, "quantity", 90, 0, "tablet", "{tbl}");
    WriteQuantity(writer, "expectedSupplyDuration", 90, 0, "days", "d");
    writer.EndObject();
  }
  emitter_.EndResource(organisation.systems.medication_request, Identifier(serial));
}

void PatientBuilder::WriteMedicationStatements() {
  // Adults may bring a legacy medication list: free text only, as migrated from the previous
  // system, asserted when the history in this system began.
  if (person_.age < 18) return;
  const Organisation& organisation = organisation_;
  const int count = random_.Chance(0.45) ? static_cast<int>(random_.Between(1, 2)) : 0;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t serial = NextSerial();
    const std::string id = EpicId(random_, 24);
    const std::string_view medication = random_.Pick(LegacyMedicationTexts());
    const std::string_view dosage = random_.Pick(LegacyDosageTexts());
    const double status_draw = random_.Unit();
    const std::string_view status =
        status_draw < 0.6 ? "active" : (status_draw < 0.85 ? "unknown" : "completed");
    const std::int64_t adult_day = person_.birth_day + 18 * 1461 / 4;
    const std::int64_t earliest = std::max(adult_day, window_start_ - 10 * 365);
    const std::int64_t latest = std::max(earliest, window_start_ - 30);
    const std::int64_t start_day = random_.Between(earliest, latest);
    const std::int64_t asserted_day =
        std::min(window_start_ + random_.Between(0, 30), organisation.as_of_day - 1);
    const std::int64_t asserted = LocalToInstant(organisation.zone, asserted_day, 10 * kHour);

    JsonWriter& writer = emitter_.BeginResource(ResourceType::kMedicationStatement, id);
    WriteRecordMeta(writer, ResourceType::kMedicationStatement, id, serial, asserted);
    WriteIdentifier(writer, "old", organisation.systems.medication_statement, Identifier(serial));
    writer.Member("status", status);
    writer.Key("medicationCodeableConcept");
    writer.BeginObject();
    writer.Member("text", medication);
    writer.EndObject();
    emitter_.LocalReference(writer, "subject", ResourceType::kPatient, patient_id_);
    writer.Key("effectivePeriod");
    writer.BeginObject();
    std::string date;
    AppendYearMonth(date, start_day);
    writer.Member("start", date);
    writer.EndObject();
    date.clear();
    AppendDate(date, asserted_day);
    writer.Member("dateAsserted", date);
    emitter_.LocalReference(writer, "informationSource", ResourceType::kPatient, patient_id_);
    writer.Key("note");
    writer.BeginArray();
    writer.BeginObject();
    if (Fires(Defect::kLongFreeText, serial)) {
      Random detail = DetailRandom(Defect::kLongFreeText, serial);
      const std::string note = LongText(detail);
      writer.Member("text", note);
      Record(ResourceType::kMedicationStatement, id, Defect::kLongFreeText,
             "MedicationStatement.note", std::to_string(note.size()) + " bytes of note text");
    } else {
      writer.Member("text", "Migrated from the previous EHR; not reconciled.");
    }
    writer.EndObject();
    writer.EndArray();
    writer.Key("dosage");
    writer.BeginArray();
    writer.BeginObject();
    writer.Member("text", dosage);
    writer.EndObject();
    writer.EndArray();
    emitter_.EndResource(organisation.systems.medication_statement, Identifier(serial));
  }
}

}  // namespace

base::Status PatientGenerator::Generate(std::uint64_t index, SynthOutput& output) {
  // The unit starts before planning: planning already decides, and lists, some defects.
  emitter_.BeginUnit();
  PatientBuilder builder(organisation_, rates_, seed_, emitter_, index);
  builder.Plan();
  builder.Write();
  return emitter_.EndUnit(output);
}

}  // namespace fhirbridge::synth
