#include "synth/organisation.h"

#include <algorithm>
#include <cassert>

#include "synth/fhir_writing.h"

namespace fhirbridge::synth {
namespace {

constexpr std::string_view kAlphanumerics =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

struct Region {
  std::string_view state;
  std::string_view area_code;
  TimeZone zone;
};

// Fictional organisations still sit somewhere; the region fixes the state, the phone area code
// and the time zone of every timestamp.
constexpr std::array<Region, 6> kRegions = {{
    {"WI", "608", {-360, true}},
    {"MN", "612", {-360, true}},
    {"IA", "515", {-360, true}},
    {"MI", "517", {-300, true}},
    {"CO", "303", {-420, true}},
    {"OR", "503", {-480, true}},
}};

std::string Oid(int cid, std::string_view suffix) {
  std::string oid = "urn:oid:1.2.840.114350.1.13.";
  oid += std::to_string(cid);
  oid += ".1.7.";
  oid.append(suffix);
  return oid;
}

std::uint64_t CeilDiv(std::uint64_t value, std::uint64_t divisor) {
  return (value + divisor - 1) / divisor;
}

std::uint64_t Clamp(std::uint64_t value, std::uint64_t low, std::uint64_t high) {
  return std::min(std::max(value, low), high);
}

// How many practitioners of a specialty serve `patients` patients.
std::uint64_t PractitionerCount(Specialty specialty, std::uint64_t patients) {
  switch (specialty) {
    case Specialty::kFamilyPractice:
      return Clamp(CeilDiv(patients, 1500), 3, 700);  // a panel of about 1,500
    case Specialty::kEmergencyMedicine:
    case Specialty::kGeneralMedicine:
      return Clamp(CeilDiv(patients, 5000), 2, 200);
    default:
      return Clamp(CeilDiv(patients, 8000), 1, 120);
  }
}

void WriteAddress(JsonWriter& writer, const Organisation& organisation, bool as_array) {
  writer.Key("address");
  if (as_array) writer.BeginArray();
  writer.BeginObject();
  writer.Member("use", "work");
  writer.Key("line");
  writer.BeginArray();
  writer.String("1 Example Way");
  writer.EndArray();
  writer.Member("city", organisation.city);
  writer.Member("state", organisation.state);
  writer.Member("postalCode", "00000");
  writer.Member("country", "US");
  writer.EndObject();
  if (as_array) writer.EndArray();
}

void WritePhone(JsonWriter& writer, const Organisation& organisation, int line) {
  writer.Key("telecom");
  writer.BeginArray();
  writer.BeginObject();
  writer.Member("system", "phone");
  std::string phone(organisation.area_code);
  phone += "-555-01";
  phone.push_back(static_cast<char>('0' + line / 10 % 10));
  phone.push_back(static_cast<char>('0' + line % 10));
  writer.Member("value", phone);
  writer.Member("use", "work");
  writer.EndObject();
  writer.EndArray();
}

}  // namespace

OrganisationSystems::OrganisationSystems(int cid)
    : organization(Oid(cid, "2.696570")),
      location(Oid(cid, "2.686980")),
      practitioner(Oid(cid, "2.697780")),
      practitioner_role(Oid(cid, "2.836982")),
      medication(Oid(cid, "2.698288")),
      mrn(Oid(cid, "5.737384.0")),
      encounter(Oid(cid, "3.698084.8")),
      observation(Oid(cid, "2.798268")),
      condition(Oid(cid, "2.768076")),
      allergy(Oid(cid, "2.726582")),
      medication_request(Oid(cid, "2.798270")),
      medication_statement(Oid(cid, "2.700001")),
      questionnaire_response(Oid(cid, "2.704590")),
      observation_local_code(Oid(cid, "2.768282")),
      condition_local_code(Oid(cid, "2.728286")),
      legal_sex(Oid(cid, "10.698084.130.657370.19999000")),
      sex_for_clinical_use(Oid(cid, "10.698084.130.768076.35144")) {}

std::string EpicId(Random& random, std::size_t length) {
  assert(length >= 3 && "an Epic-like id has room for 'e', a body and '3'");
  std::string id = "e";
  id.reserve(length);
  while (id.size() < length - 1) {
    const std::uint64_t value = random.Below(kAlphanumerics.size() * 48);
    // About one position in 48 is a separator, never first, last or twice in a row.
    const bool separator = value < kAlphanumerics.size() && id.size() > 1 &&
                           id.size() < length - 2 && id.back() != '.' && id.back() != '-';
    if (separator) {
      id.push_back(value % 2 == 0 ? '.' : '-');
    } else {
      id.push_back(kAlphanumerics[value % kAlphanumerics.size()]);
    }
  }
  id.push_back('3');
  return id;
}

base::Result<Organisation> WriteOrganisation(std::string_view organisation_name,
                                             std::uint64_t patients, std::uint64_t seed,
                                             Emitter& emitter, SynthOutput& output) {
  Organisation organisation;
  organisation.name = std::string(organisation_name);

  // The organisation's identity depends on its name only, so that two runs for the same
  // organisation with different seeds still share identifier systems.
  const std::uint64_t name_key = HashText(organisation_name);
  organisation.cid = 1000 + static_cast<int>(name_key % 8000);
  const Region& region = kRegions[(name_key >> 20) % kRegions.size()];
  organisation.state = std::string(region.state);
  organisation.area_code = std::string(region.area_code);
  organisation.zone = region.zone;
  organisation.city = std::string(CityNames()[(name_key >> 32) % CityNames().size()]);
  organisation.systems = OrganisationSystems(organisation.cid);
  organisation.as_of_day = DaysFromCivil(kAsOfYear, kAsOfMonth, kAsOfDay);
  organisation.as_of_instant = LocalToInstant(organisation.zone, organisation.as_of_day, 17 * 3600);

  Random random(MixKey(seed, 0x6f7267 /* graph stream */));
  const auto& systems = organisation.systems;

  // Every graph resource shows the same lastUpdated: the graph was loaded once, a year before.
  std::string last_updated;
  AppendUtcInstant(last_updated, organisation.as_of_instant - 365 * kSecondsPerDay, 123);

  // Register everything first so that references between graph resources resolve.
  const std::string organization_id = EpicId(random, 24);
  organisation.organization =
      emitter.RegisterShared(ResourceType::kOrganization, organization_id, organisation.name);

  std::array<std::string, kSpecialtyCount> location_ids;
  std::array<std::string, kSpecialtyCount> location_names;
  for (const auto& specialty : Specialties()) {
    const auto index = static_cast<std::size_t>(specialty.specialty);
    location_ids[index] = EpicId(random, 24);
    location_names[index] = organisation.name;
    // "Fictional Valley Health (synthetic)" becomes "Fictional Valley Health Lung Clinic".
    if (const auto bracket = location_names[index].find(" ("); bracket != std::string::npos) {
      location_names[index].resize(bracket);
    }
    location_names[index] += " ";
    location_names[index].append(specialty.clinic_name);
    organisation.locations[index] =
        emitter.RegisterShared(ResourceType::kLocation, location_ids[index], location_names[index]);
  }

  struct PractitionerPlan {
    std::string id;
    std::string role_id;
    std::string given;
    std::string family;
    std::string suffix;
    bool female;
    Specialty specialty;
    int shared;
  };
  std::vector<PractitionerPlan> practitioners;
  for (const auto& specialty : Specialties()) {
    const std::uint64_t count = PractitionerCount(specialty.specialty, patients);
    for (std::uint64_t i = 0; i < count; ++i) {
      PractitionerPlan plan;
      plan.id = EpicId(random, 24);
      plan.role_id = EpicId(random, 24);
      plan.female = random.Chance(0.5);
      plan.given = std::string(plan.female ? random.Pick(FemaleGivenNames())
                                           : random.Pick(MaleGivenNames()));
      plan.family = std::string(random.Pick(FamilyNamePrefixes()));
      plan.family.append(random.Pick(FamilyNameSuffixes()));
      plan.suffix = random.Chance(0.8) ? "MD" : "DO";
      plan.specialty = specialty.specialty;
      plan.shared = emitter.RegisterShared(ResourceType::kPractitioner, plan.id,
                                           plan.given + " " + plan.family + ", " + plan.suffix);
      organisation.practitioners[static_cast<std::size_t>(specialty.specialty)].push_back(
          plan.shared);
      practitioners.push_back(std::move(plan));
    }
  }

  std::vector<std::string> medication_ids;
  for (const auto& medication : Medications()) {
    medication_ids.push_back(EpicId(random, 24));
    organisation.medications.push_back(emitter.RegisterShared(
        ResourceType::kMedication, medication_ids.back(), std::string(medication.display)));
  }

  emitter.BeginUnit(/*graph=*/true);

  // Organization.
  {
    JsonWriter& writer = emitter.BeginResource(ResourceType::kOrganization, organization_id);
    WriteMeta(writer, last_updated);
    WriteIdentifier(writer, "official", systems.organization, std::to_string(organisation.cid));
    writer.MemberBool("active", true);
    WriteConceptArray(writer, "type", "http://terminology.hl7.org/CodeSystem/organization-type",
                      "prov", "Healthcare Provider");
    writer.Member("name", organisation.name);
    WritePhone(writer, organisation, 0);
    WriteAddress(writer, organisation, /*as_array=*/true);
    emitter.EndResource(systems.organization, std::to_string(organisation.cid),
                        organisation.organization);
  }

  // Locations.
  for (const auto& specialty : Specialties()) {
    const auto index = static_cast<std::size_t>(specialty.specialty);
    const std::string department = std::to_string(1000 + index);
    JsonWriter& writer = emitter.BeginResource(ResourceType::kLocation, location_ids[index]);
    WriteMeta(writer, last_updated);
    WriteIdentifier(writer, "usual", systems.location, department);
    writer.Member("status", "active");
    writer.Member("name", location_names[index]);
    writer.Member("mode", "instance");
    constexpr std::string_view kRoleCode = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
    if (specialty.specialty == Specialty::kEmergencyMedicine) {
      WriteConceptArray(writer, "type", kRoleCode, "ER", "Emergency room");
    } else if (specialty.specialty == Specialty::kGeneralMedicine) {
      WriteConceptArray(writer, "type", kRoleCode, "HU", "Hospital unit");
    } else if (specialty.specialty == Specialty::kFamilyPractice) {
      WriteConceptArray(writer, "type", kRoleCode, "GIM", "General internal medicine clinic");
    } else {
      WriteConceptArray(writer, "type", kRoleCode, "OF", "Outpatient facility");
    }
    WritePhone(writer, organisation, static_cast<int>(10 + index));
    WriteAddress(writer, organisation, /*as_array=*/false);
    emitter.SharedReference(writer, "managingOrganization", organisation.organization);
    emitter.EndResource(systems.location, department, organisation.locations[index]);
  }

  // Practitioners, then their roles.
  for (std::size_t i = 0; i < practitioners.size(); ++i) {
    const PractitionerPlan& plan = practitioners[i];
    const std::string ser = "SER" + std::to_string(10001 + i);
    JsonWriter& writer = emitter.BeginResource(ResourceType::kPractitioner, plan.id);
    WriteMeta(writer, last_updated);
    writer.Key("identifier");
    writer.BeginArray();
    writer.BeginObject();
    writer.Member("use", "usual");
    writer.Key("type");
    writer.BeginObject();
    writer.Member("text", "INTERNAL");
    writer.EndObject();
    writer.Member("system", systems.practitioner);
    writer.Member("value", ser);
    writer.EndObject();
    writer.EndArray();
    writer.MemberBool("active", true);
    writer.Key("name");
    writer.BeginArray();
    writer.BeginObject();
    writer.Member("use", "usual");
    writer.Member("text", plan.given + " " + plan.family + ", " + plan.suffix);
    writer.Member("family", plan.family);
    writer.Key("given");
    writer.BeginArray();
    writer.String(plan.given);
    writer.EndArray();
    writer.Key("prefix");
    writer.BeginArray();
    writer.String("Dr.");
    writer.EndArray();
    writer.Key("suffix");
    writer.BeginArray();
    writer.String(plan.suffix);
    writer.EndArray();
    writer.EndObject();
    writer.EndArray();
    writer.Member("gender", plan.female ? "female" : "male");
    emitter.EndResource(systems.practitioner, ser, plan.shared);
  }
  for (std::size_t i = 0; i < practitioners.size(); ++i) {
    const PractitionerPlan& plan = practitioners[i];
    const auto& specialty = Specialties()[static_cast<std::size_t>(plan.specialty)];
    const std::string role = "PRR" + std::to_string(10001 + i);
    JsonWriter& writer = emitter.BeginResource(ResourceType::kPractitionerRole, plan.role_id);
    WriteMeta(writer, last_updated);
    WriteIdentifier(writer, "usual", systems.practitioner_role, role);
    writer.MemberBool("active", true);
    emitter.SharedReference(writer, "practitioner", plan.shared);
    emitter.SharedReference(writer, "organization", organisation.organization);
    WriteConceptArray(writer, "code", "http://terminology.hl7.org/CodeSystem/practitioner-role",
                      "doctor", "Doctor");
    WriteConceptArray(writer, "specialty", kSnomed, specialty.snomed, specialty.display);
    writer.Key("location");
    writer.BeginArray();
    emitter.SharedReferenceValue(writer,
                                 organisation.locations[static_cast<std::size_t>(plan.specialty)]);
    writer.EndArray();
    emitter.EndResource(systems.practitioner_role, role);
  }

  // The formulary.
  for (std::size_t i = 0; i < Medications().size(); ++i) {
    const MedicationEntry& medication = Medications()[i];
    const std::string erx = std::to_string(30001 + i);
    JsonWriter& writer = emitter.BeginResource(ResourceType::kMedication, medication_ids[i]);
    WriteMeta(writer, last_updated);
    WriteIdentifier(writer, "usual", systems.medication, erx);
    WriteConcept(writer, "code", kRxNorm, medication.rxnorm, medication.display);
    writer.Member("status", "active");
    if (!medication.form_snomed.empty()) {
      WriteConcept(writer, "form", kSnomed, medication.form_snomed, medication.form_display);
    }
    emitter.EndResource(systems.medication, erx, organisation.medications[i]);
  }

  if (auto written = emitter.EndUnit(output); !written) return base::Fail(written.error());
  return organisation;
}

}  // namespace fhirbridge::synth
