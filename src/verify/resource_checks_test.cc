#include "verify/resource_checks.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fhirbridge::verify {
namespace {

using fhir::Json;

TEST(ResourceChecksTest, AnElementCountsOnlyWithContent) {
  const Json resource = Json::parse(R"({"resourceType": "Observation", "status": "final",
      "code": {}, "category": [], "note": null, "issued": "", "valueQuantity": {"value": 1},
      "subject": {"reference": "Patient/p1"}})");
  EXPECT_TRUE(HasElement(resource, "status"));
  EXPECT_TRUE(HasElement(resource, "subject"));
  EXPECT_FALSE(HasElement(resource, "code"));
  EXPECT_FALSE(HasElement(resource, "category"));
  EXPECT_FALSE(HasElement(resource, "note"));
  EXPECT_FALSE(HasElement(resource, "issued"));
  EXPECT_FALSE(HasElement(resource, "effective[x]"));
  EXPECT_TRUE(HasElement(resource, "value[x]"));
  // "valueQuantity" is a choice of value[x], but "valueset" would not be.
  EXPECT_FALSE(HasElement(Json::parse(R"({"valueset": "x"})"), "value[x]"));
  EXPECT_EQ(MissingElements(resource, {"status", "code", "category", "subject"}),
            (std::vector<std::string>{"code", "category"}));
  EXPECT_FALSE(HasElement(Json::array(), "status"));
}

TEST(ResourceChecksTest, MissingExtensionsAreNamedByUrl) {
  const Json patient = Json::parse(R"({"resourceType": "Patient", "extension": [
      {"url": "http://a.example/race", "extension": []}, {"valueString": "no url"}]})");
  EXPECT_EQ(MissingExtensions(patient, {"http://a.example/race", "http://a.example/ethnicity"}),
            (std::vector<std::string>{"http://a.example/ethnicity"}));
  EXPECT_EQ(MissingExtensions(Json::parse(R"({"resourceType": "Patient"})"), {"http://x"}),
            (std::vector<std::string>{"http://x"}));
  EXPECT_TRUE(MissingExtensions(patient, {}).empty());
}

TEST(ResourceChecksTest, PatientReferencesMatchRelativeAndAbsoluteForms) {
  const auto with = [](const char* reference) {
    return Json{{"subject", {{"reference", reference}}}};
  };
  EXPECT_TRUE(ReferencesPatient(with("Patient/abc"), "subject", "abc"));
  EXPECT_TRUE(ReferencesPatient(with("https://x.example/R4/Patient/abc"), "subject", "abc"));
  EXPECT_FALSE(ReferencesPatient(with("Patient/abcd"), "subject", "abc"));
  EXPECT_FALSE(ReferencesPatient(with("Group/abc"), "subject", "abc"));
  EXPECT_FALSE(ReferencesPatient(with("Patient/abc"), "patient", "abc"));
  EXPECT_FALSE(ReferencesPatient(Json{{"subject", "Patient/abc"}}, "subject", "abc"));
}

TEST(ResourceChecksTest, MedicationsAreToldApartByHowTheyAreNamed) {
  struct Case {
    const char* json;
    MedicationForm form;
  };
  const Case cases[] = {
      {R"({"medicationCodeableConcept": {"coding": [{"system": "rxnorm", "code": "1"}],
           "text": "x"}})",
       MedicationForm::kCoded},
      {R"({"medicationCodeableConcept": {"text": "fish oil"}})", MedicationForm::kFreeText},
      {R"({"medicationCodeableConcept": {"coding": [{"display": "no code"}], "text": "t"}})",
       MedicationForm::kFreeText},
      {R"({"medicationReference": {"reference": "Medication/m1"}})", MedicationForm::kReference},
      {R"({"medicationCodeableConcept": {"coding": [{"code": ""}]}})", MedicationForm::kMissing},
      {R"({"medicationCodeableConcept": {}})", MedicationForm::kMissing},
      {R"({"status": "active"})", MedicationForm::kMissing},
  };
  for (const auto& item : cases) {
    EXPECT_EQ(ClassifyMedication(Json::parse(item.json)), item.form) << item.json;
  }
  EXPECT_EQ(MedicationFormName(MedicationForm::kFreeText), "free text");
}

}  // namespace
}  // namespace fhirbridge::verify
