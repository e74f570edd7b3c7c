#include "verify/journey.h"

namespace fhirbridge::verify {

const std::map<std::string, std::vector<std::string>, std::less<>>& RequiredFieldsByType() {
  // FHIR R4 makes few elements mandatory (Observation.status and .code, MedicationRequest.status,
  // .intent, .medication[x] and .subject, Encounter.status and .class, ...); US Core adds the
  // ones an application cannot do without (Patient identifier, name and gender, categories, the
  // subject of every clinical record, the allergy's code).
  static const std::map<std::string, std::vector<std::string>, std::less<>> kRequired = {
      {"Patient", {"identifier", "name", "gender"}},
      {"Observation", {"status", "category", "code", "subject"}},
      {"Condition", {"category", "code", "subject"}},
      {"AllergyIntolerance", {"code", "patient"}},
      {"MedicationRequest", {"status", "intent", "medication[x]", "subject"}},
      {"MedicationStatement", {"status", "medication[x]", "subject"}},
      {"Encounter", {"status", "class", "subject"}},
  };
  return kRequired;
}

namespace {

std::vector<std::string> RequiredFor(std::string_view type) {
  const auto& table = RequiredFieldsByType();
  const auto found = table.find(type);
  return found == table.end() ? std::vector<std::string>() : found->second;
}

// A clinical search for the captured patient, checked entry by entry.
JourneyStep ClinicalSearch(std::string name, std::string type, std::string query,
                           std::string patient_field) {
  JourneyStep step;
  step.name = std::move(name);
  step.per_patient = true;
  step.path_template = type + "?patient={patient_id}" + query;
  step.resource_type = type;
  step.interaction = "search-type";
  step.expect = Expect::kSearchset;
  step.required_fields = RequiredFor(type);
  step.patient_reference_field = std::move(patient_field);
  step.check_expected_extensions = true;
  return step;
}

}  // namespace

Journey DefaultJourney() {
  Journey journey;
  journey.name = "standard";
  auto& steps = journey.steps;

  JourneyStep smart;
  smart.name = "discovery-smart-configuration";
  smart.path_template = ".well-known/smart-configuration";
  smart.expect = Expect::kJsonObject;
  smart.required_fields = {"token_endpoint", "capabilities"};
  steps.push_back(smart);

  JourneyStep metadata;
  metadata.name = "discovery-metadata";
  metadata.path_template = "metadata";
  metadata.expect = Expect::kCapabilityStatement;
  metadata.required_fields = {"status", "fhirVersion", "format", "rest"};
  steps.push_back(metadata);

  JourneyStep token;
  token.name = "token";
  token.kind = StepKind::kToken;
  steps.push_back(token);

  JourneyStep search;
  search.name = "patient-search";
  search.per_patient = true;
  search.path_template = "Patient?identifier={identifier}";
  search.resource_type = "Patient";
  search.interaction = "search-type";
  search.expect = Expect::kSearchset;
  search.required_fields = RequiredFor("Patient");
  search.exactly_one_match = true;
  search.captures_patient_id = true;
  steps.push_back(search);

  JourneyStep read;
  read.name = "patient-read";
  read.per_patient = true;
  read.path_template = "Patient/{patient_id}";
  read.resource_type = "Patient";
  read.interaction = "read";
  read.expect = Expect::kResource;
  read.required_fields = RequiredFor("Patient");
  read.check_expected_extensions = true;
  steps.push_back(read);

  JourneyStep observations = ClinicalSearch("observations-recent", "Observation",
                                            "&category=vital-signs,laboratory&_sort=-date"
                                            "&_count=20",
                                            "subject");
  observations.require_some_match = true;
  steps.push_back(observations);
  steps.push_back(ClinicalSearch("conditions", "Condition", "", "subject"));
  steps.push_back(ClinicalSearch("allergies", "AllergyIntolerance", "", "patient"));

  JourneyStep orders = ClinicalSearch("medication-requests", "MedicationRequest", "", "subject");
  orders.classify_medications = true;
  steps.push_back(orders);
  JourneyStep statements =
      ClinicalSearch("medication-statements", "MedicationStatement", "", "subject");
  statements.classify_medications = true;
  steps.push_back(statements);

  steps.push_back(ClinicalSearch("encounters", "Encounter", "&_sort=-date", "subject"));
  return journey;
}

}  // namespace fhirbridge::verify
