// Fills a sandbox tenant's store file with synthetic patients and their clinical resources
// through the ResourceStore API (no HTTP), so that bench/search_bench.sh can measure search on
// a tenant of a million resources without spending minutes on POSTs.
//
// Usage: fhirbridge_search_bench_loader STORE_FILE PATIENTS RESOURCES_PER_PATIENT
//
// Each patient gets RESOURCES_PER_PATIENT - 1 other resources: 60 % vital-sign observations,
// 20 % laboratory observations, and conditions, encounters and medication requests for the
// rest. Patients have the ids bench-patient-1, bench-patient-2, ...; everything else gets
// Epic-like generated ids. The store file must not exist yet.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fhir/json_value.h"
#include "sandbox/id_generator.h"
#include "sandbox/resource_store.h"

namespace {

using fhirbridge::fhir::Json;
using fhirbridge::sandbox::ResourceStore;

// Resources per store transaction: large enough that commits cost nothing, small enough that a
// failure names a narrow range.
constexpr int kResourcesPerTransaction = 20000;

struct VitalSign {
  const char* code;
  const char* display;
  double base;
  const char* unit;
};
constexpr VitalSign kVitalSigns[] = {
    {"8867-4", "Heart rate", 72, "/min"},      {"8310-5", "Body temperature", 36.8, "Cel"},
    {"29463-7", "Body weight", 70, "kg"},      {"8302-2", "Body height", 170, "cm"},
    {"59408-5", "Oxygen saturation", 97, "%"}, {"9279-1", "Respiratory rate", 16, "/min"},
};
constexpr VitalSign kLabTests[] = {
    {"2345-7", "Glucose", 95, "mg/dL"},
    {"4548-4", "Hemoglobin A1c", 5.6, "%"},
    {"2823-3", "Potassium", 4.2, "mmol/L"},
    {"26449-9", "Eosinophils", 0.3, "10*3/uL"},
};

std::string Day(int day_offset) {
  // Days counted back from 2025-12-31, as dates the index reads.
  const auto date =
      std::chrono::sys_days(std::chrono::year(2025) / 12 / 31) - std::chrono::days(day_offset);
  const std::chrono::year_month_day ymd(date);
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:00Z", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                8 + day_offset % 10, (day_offset * 7) % 60);
  return text;
}

Json Observation(const std::string& patient, int index, bool vital) {
  const VitalSign& test =
      vital ? kVitalSigns[index % std::size(kVitalSigns)] : kLabTests[index % std::size(kLabTests)];
  const char* category = vital ? "vital-signs" : "laboratory";
  const std::string when = Day(index);
  return Json{
      {"resourceType", "Observation"},
      {"status", "final"},
      {"category",
       Json::array({{{"coding",
                      Json::array({{{"system",
                                     "http://terminology.hl7.org/CodeSystem/observation-category"},
                                    {"code", category},
                                    {"display", vital ? "Vital Signs" : "Laboratory"}}})},
                     {"text", vital ? "Vital Signs" : "Laboratory"}}})},
      {"code",
       {{"coding",
         Json::array(
             {{{"system", "http://loinc.org"}, {"code", test.code}, {"display", test.display}}})},
        {"text", test.display}}},
      {"subject", {{"reference", "Patient/" + patient}}},
      {"effectiveDateTime", when},
      {"issued", when},
      {"valueQuantity",
       {{"value", test.base + (index % 7) - 3},
        {"unit", test.unit},
        {"system", "http://unitsofmeasure.org"},
        {"code", test.unit}}},
  };
}

Json Condition(const std::string& patient, int index) {
  return Json{
      {"resourceType", "Condition"},
      {"clinicalStatus",
       {{"coding",
         Json::array({{{"system", "http://terminology.hl7.org/CodeSystem/condition-clinical"},
                       {"code", index % 3 == 0 ? "resolved" : "active"}}})}}},
      {"category", Json::array({{{"coding", Json::array({{{"system",
                                                           "http://terminology.hl7.org/CodeSystem/"
                                                           "condition-category"},
                                                          {"code", "problem-list-item"}}})}}})},
      {"code",
       {{"coding", Json::array({{{"system", "http://snomed.info/sct"},
                                 {"code", std::to_string(38341003 + index)}}})},
        {"text", "Synthetic condition " + std::to_string(index)}}},
      {"subject", {{"reference", "Patient/" + patient}}},
      {"onsetDateTime", Day(index * 11)},
  };
}

Json Encounter(const std::string& patient, int index) {
  return Json{
      {"resourceType", "Encounter"},
      {"status", "finished"},
      {"class", {{"system", "http://terminology.hl7.org/CodeSystem/v3-ActCode"}, {"code", "AMB"}}},
      {"subject", {{"reference", "Patient/" + patient}}},
      {"period", {{"start", Day(index * 5)}, {"end", Day(index * 5)}}},
  };
}

Json MedicationRequest(const std::string& patient, int index) {
  return Json{
      {"resourceType", "MedicationRequest"},
      {"status", "active"},
      {"intent", "order"},
      {"medicationCodeableConcept",
       {{"coding", Json::array({{{"system", "http://www.nlm.nih.gov/research/umls/rxnorm"},
                                 {"code", std::to_string(314076 + index)}}})}}},
      {"subject", {{"reference", "Patient/" + patient}}},
      {"authoredOn", Day(index * 13).substr(0, 10)},
  };
}

Json Patient(int number) {
  return Json{
      {"resourceType", "Patient"},
      {"identifier",
       Json::array({{{"system", "urn:fhirbridge:bench"}, {"value", std::to_string(number)}}})},
      {"name", Json::array({{{"family", "Bench" + std::to_string(number % 997)},
                             {"given", Json::array({"Synthetic"})}}})},
      {"gender", number % 2 == 0 ? "female" : "male"},
      {"birthDate", Day(number % 30000 + 6000).substr(0, 10)},
  };
}

// The patient's `index`-th other resource, in the proportions the header describes.
Json ResourceFor(const std::string& patient, int index, int per_patient) {
  const int slot = index * 100 / per_patient;
  if (slot < 60) return Observation(patient, index, /*vital=*/true);
  if (slot < 80) return Observation(patient, index, /*vital=*/false);
  if (slot < 87) return Condition(patient, index);
  if (slot < 94) return Encounter(patient, index);
  return MedicationRequest(patient, index);
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "search_bench_loader: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s STORE_FILE PATIENTS RESOURCES_PER_PATIENT\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int patients = std::atoi(argv[2]);
  const int per_patient = std::atoi(argv[3]);
  if (patients < 1 || per_patient < 2) return Fail("PATIENTS must be >= 1, RESOURCES >= 2");
  if (std::filesystem::exists(path)) return Fail(path + " exists; remove it or choose another");

  auto store = ResourceStore::Open(
      path, fhirbridge::sandbox::MakeIdGenerator(fhirbridge::sandbox::IdStyle::kEpic, 24));
  if (!store) return Fail(store.error().ToString());

  const auto start = std::chrono::steady_clock::now();
  long long written = 0;
  std::unique_ptr<fhirbridge::sandbox::Transaction> transaction;
  for (int number = 1; number <= patients; ++number) {
    const std::string patient = "bench-patient-" + std::to_string(number);
    for (int index = 0; index < per_patient; ++index) {
      if (!transaction) {
        auto begun = (*store)->Begin();
        if (!begun) return Fail(begun.error().ToString());
        transaction = std::move(*begun);
      }
      const Json resource =
          index == 0 ? Patient(number) : ResourceFor(patient, index - 1, per_patient - 1);
      const std::string& type = resource.at("resourceType").get_ref<const std::string&>();
      const auto created = index == 0 ? transaction->Create(type, resource, patient)
                                      : transaction->Create(type, resource);
      if (!created) return Fail(created.error().ToString());
      if (++written % kResourcesPerTransaction == 0) {
        if (auto committed = transaction->Commit(); !committed) {
          return Fail(committed.error().ToString());
        }
        transaction.reset();
        std::fprintf(stderr, "search_bench_loader: %lld resources\n", written);
      }
    }
  }
  if (transaction) {
    if (auto committed = transaction->Commit(); !committed) {
      return Fail(committed.error().ToString());
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("loaded %lld resources for %d patients in %.1f s (%.0f resources/s)\n", written,
              patients, seconds, written / seconds);
  return 0;
}
