#include "fhir/search_parameters.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "fhir/resource_types.h"

namespace fhirbridge::fhir {
namespace {

TEST(SearchParameterRegistryTest, LoadsTheEmbeddedR4Extract) {
  const SearchParameterRegistry& registry = R4SearchParameters();
  EXPECT_EQ(registry.Fingerprint().size(), 16u);
  // Every R4 type has at least the Resource-level parameters.
  for (const std::string_view type : R4ResourceTypes()) {
    EXPECT_NE(registry.Find(type, "_id"), nullptr) << type;
    EXPECT_NE(registry.Find(type, "_lastUpdated"), nullptr) << type;
  }
}

TEST(SearchParameterRegistryTest, CommonParametersHaveTheirR4TypeUrlAndTargets) {
  const SearchParameterRegistry& registry = R4SearchParameters();
  const SearchParameter* patient = registry.Find("Observation", "patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(patient->type, SearchParamType::kReference);
  EXPECT_EQ(patient->url, "http://hl7.org/fhir/SearchParameter/clinical-patient");
  EXPECT_EQ(patient->targets, std::vector<std::string>{"Patient"});
  EXPECT_EQ(patient->expression.ToString(), "Observation.subject.where(resolve() is Patient)");

  const SearchParameter* date = registry.Find("Observation", "date");
  ASSERT_NE(date, nullptr);
  EXPECT_EQ(date->type, SearchParamType::kDate);
  EXPECT_EQ(date->expression.ToString(), "Observation.effective");

  const SearchParameter* medication = registry.Find("MedicationRequest", "medication");
  ASSERT_NE(medication, nullptr);
  EXPECT_EQ(medication->expression.ToString(), "MedicationRequest.medication.ofType(Reference)");

  const SearchParameter* practitioner = registry.Find("Patient", "general-practitioner");
  ASSERT_NE(practitioner, nullptr);
  EXPECT_EQ(practitioner->targets.size(), 3u);

  ASSERT_NE(registry.Find("Patient", "family"), nullptr);
  EXPECT_EQ(registry.Find("Patient", "family")->type, SearchParamType::kString);
  ASSERT_NE(registry.Find("Observation", "value-quantity"), nullptr);
  EXPECT_EQ(registry.Find("Observation", "value-quantity")->type, SearchParamType::kQuantity);
}

TEST(SearchParameterRegistryTest, ParametersAreNotListedOnTypesTheyDoNotApplyTo) {
  const SearchParameterRegistry& registry = R4SearchParameters();
  EXPECT_EQ(registry.Find("Patient", "category"), nullptr);
  EXPECT_EQ(registry.Find("Practitioner", "patient"), nullptr);
  EXPECT_EQ(registry.Find("Observation", "birthdate"), nullptr);
}

TEST(SearchParameterRegistryTest, CompositeSpecialAndBooleanExpressionsAreLeftOut) {
  const SearchParameterRegistry& registry = R4SearchParameters();
  EXPECT_EQ(registry.Find("Observation", "code-value-quantity"), nullptr);  // composite
  EXPECT_EQ(registry.Find("Location", "near"), nullptr);                    // special
  EXPECT_EQ(registry.Find("Patient", "deceased"), nullptr);                 // and, exists()
  const auto& unsupported = registry.Unsupported();
  EXPECT_TRUE(std::ranges::any_of(unsupported, [](const std::string& line) {
    return line.starts_with("http://hl7.org/fhir/SearchParameter/Patient-deceased ");
  }));
}

TEST(SearchParameterRegistryTest, ForTypeIsSortedByCode) {
  const auto parameters = R4SearchParameters().ForType("Patient");
  ASSERT_GT(parameters.size(), 20u);
  EXPECT_TRUE(std::ranges::is_sorted(parameters, {}, &SearchParameter::code));
  EXPECT_TRUE(R4SearchParameters().ForType("NoSuchType").empty());
}

TEST(SearchParameterRegistryTest, RefusesTextThatIsNotAnExtract) {
  for (const char* text : {"", "[]", R"({"parameters": 1})",
                           R"({"parameters": [{"url": "u", "code": "c", "type": "token"}]})"}) {
    const auto parsed = SearchParameterRegistry::Parse(text);
    EXPECT_FALSE(parsed.has_value()) << text;
  }
}

TEST(SearchParameterRegistryTest, ExtractsFromASmallDefinitionList) {
  const auto parsed = SearchParameterRegistry::Parse(R"({"parameters": [
    {"url": "u1", "code": "name", "base": ["Patient", "Practitioner"], "type": "string",
     "expression": "Patient.name | Practitioner.name"},
    {"url": "u2", "code": "combo", "base": ["Observation"], "type": "composite",
     "expression": "Observation"}]})");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().diagnostic;
  ASSERT_NE(parsed->Find("Practitioner", "name"), nullptr);
  EXPECT_EQ(parsed->Find("Practitioner", "name")->expression.ToString(), "Practitioner.name");
  EXPECT_EQ(parsed->Find("Observation", "combo"), nullptr);
  EXPECT_EQ(parsed->Unsupported(), std::vector<std::string>{"u2 (type composite)"});
}

}  // namespace
}  // namespace fhirbridge::fhir
