#include "fhir/fhirpath.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fhirbridge::fhir {
namespace {

FhirPath Parsed(std::string_view expression) {
  auto parsed = FhirPath::Parse(expression);
  EXPECT_TRUE(parsed.has_value()) << expression << ": " << parsed.error().diagnostic;
  return parsed.value_or(FhirPath());
}

// The selected values, each dumped as JSON, for compact comparisons.
std::vector<std::string> Dumped(const std::vector<PathValue>& values) {
  std::vector<std::string> dumped;
  for (const PathValue& value : values) dumped.push_back(value.node->dump());
  return dumped;
}

const Json kObservation = Json::parse(R"({
  "resourceType": "Observation",
  "id": "obs-1",
  "meta": {"lastUpdated": "2024-05-03T10:00:00.000Z"},
  "category": [{"coding": [{"system": "s", "code": "vital-signs"}]},
               {"coding": [{"system": "s", "code": "exam"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
  "subject": {"reference": "Patient/p1"},
  "performer": [{"reference": "Practitioner/d1"}, {"reference": "Organization/o1"},
                {"reference": "#c1"}],
  "contained": [{"resourceType": "Device", "id": "c1"}],
  "effectiveDateTime": "2024-05-03",
  "valueQuantity": {"value": 72, "code": "/min"},
  "component": [{"valueString": "x"}, {"valueQuantity": {"value": 1}}]
})");

TEST(FhirPathTest, FollowsDottedPathsAndFlattensArrays) {
  EXPECT_EQ(Dumped(Parsed("Observation.category.coding.code").Evaluate(kObservation)),
            (std::vector<std::string>{"\"vital-signs\"", "\"exam\""}));
  EXPECT_EQ(Dumped(Parsed("Observation.id").Evaluate(kObservation)),
            (std::vector<std::string>{"\"obs-1\""}));
}

TEST(FhirPathTest, ResourceRootsMatchEveryTypeAndOtherRootsNone) {
  EXPECT_EQ(Parsed("Resource.meta.lastUpdated").Evaluate(kObservation).size(), 1u);
  EXPECT_EQ(Parsed("Condition.code").Evaluate(kObservation).size(), 0u);
}

TEST(FhirPathTest, UnionsKeepTheOrderOfTheirMembers) {
  EXPECT_EQ(
      Dumped(
          Parsed("Condition.code | Observation.subject | Observation.id").Evaluate(kObservation)),
      (std::vector<std::string>{R"({"reference":"Patient/p1"})", "\"obs-1\""}));
}

TEST(FhirPathTest, ChoiceElementsAreFoundByTheirTypedNames) {
  const auto values = Parsed("Observation.effective").Evaluate(kObservation);
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0].type, "dateTime");
  EXPECT_EQ(values[0].node->get<std::string>(), "2024-05-03");
}

TEST(FhirPathTest, AsAndOfTypeKeepOnlyTheNamedType) {
  EXPECT_EQ(Parsed("(Observation.value as Quantity)").Evaluate(kObservation).size(), 1u);
  EXPECT_EQ(Parsed("Observation.value.as(CodeableConcept)").Evaluate(kObservation).size(), 0u);
  EXPECT_EQ(Parsed("Observation.component.value.ofType(string)").Evaluate(kObservation).size(), 1u);
  EXPECT_EQ(Parsed("(Observation.effective as dateTime)").Evaluate(kObservation).size(), 1u);
  EXPECT_EQ(Parsed("(Observation.value as Quantity).value").Evaluate(kObservation).size(), 1u);
}

TEST(FhirPathTest, WhereResolveIsFiltersReferencesByTargetType) {
  EXPECT_EQ(
      Dumped(
          Parsed("Observation.performer.where(resolve() is Organization)").Evaluate(kObservation)),
      (std::vector<std::string>{R"({"reference":"Organization/o1"})"}));
  // A contained reference resolves to the contained resource's type.
  EXPECT_EQ(
      Parsed("Observation.performer.where(resolve() is Device)").Evaluate(kObservation).size(), 1u);
}

TEST(FhirPathTest, WhereEqualsComparesAMemberWithText) {
  const Json patient = Json::parse(R"({"resourceType": "Patient", "telecom": [
      {"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}]})");
  EXPECT_EQ(Dumped(Parsed("Patient.telecom.where(system='email')").Evaluate(patient)),
            (std::vector<std::string>{R"({"system":"email","value":"a@b"})"}));
}

TEST(FhirPathTest, IndexAndFirstPickOneValue) {
  EXPECT_EQ(Dumped(Parsed("Observation.performer[1].reference").Evaluate(kObservation)),
            (std::vector<std::string>{"\"Organization/o1\""}));
  EXPECT_EQ(Dumped(Parsed("Observation.performer.first().reference").Evaluate(kObservation)),
            (std::vector<std::string>{"\"Practitioner/d1\""}));
}

TEST(FhirPathTest, PathsWithoutATypeRootStartAtTheResource) {
  const Json plan =
      Json::parse(R"({"resourceType": "InsurancePlan", "name": "n", "alias": ["a"]})");
  EXPECT_EQ(Dumped(Parsed("name | alias").Evaluate(plan)),
            (std::vector<std::string>{"\"n\"", "\"a\""}));
}

TEST(FhirPathTest, ForTypeDropsPathsRootedAtOtherTypes) {
  const FhirPath path = Parsed(
      "Condition.code | (DeviceRequest.code as CodeableConcept) | "
      "Observation.code | Resource.id");
  EXPECT_EQ(path.ForType("Observation").ToString(), "Observation.code | Resource.id");
  EXPECT_EQ(path.ForType("DeviceRequest").ToString(),
            "DeviceRequest.code.ofType(CodeableConcept) | Resource.id");
  EXPECT_TRUE(Parsed("Condition.code").ForType("Observation").Empty());
}

TEST(FhirPathTest, PostfixStepsAfterParenthesesApplyToEveryMember) {
  EXPECT_EQ(Parsed("(Observation.code | Observation.category).coding").ToString(),
            "Observation.code.coding | Observation.category.coding");
}

TEST(FhirPathTest, RefusesWhatIsOutsideTheSubset) {
  for (const char* expression :
       {"Patient.deceased.exists() and Patient.deceased != false", "Observation.value is Quantity",
        "Observation.code.where(coding.exists())", "Observation.select(code)", "(a | b)[0]",
        "Observation.code.where(system=1)", "'text'", "Observation.", "Observation.code("}) {
    const auto parsed = FhirPath::Parse(expression);
    EXPECT_FALSE(parsed.has_value()) << expression;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code, base::ErrorCode::kInvalidParameter);
    }
  }
}

TEST(FhirPathTest, ReferencedTypeReadsRelativeAbsoluteVersionedAndTypedReferences) {
  const Json resource = Json::parse(R"({"resourceType": "Observation",
      "contained": [{"resourceType": "Medication", "id": "m"}]})");
  const auto type_of = [&](const char* reference) {
    return ReferencedType(Json::parse(reference), resource);
  };
  EXPECT_EQ(type_of(R"({"reference": "Patient/1"})"), "Patient");
  EXPECT_EQ(type_of(R"({"reference": "https://x.org/fhir/Patient/1/_history/2"})"), "Patient");
  EXPECT_EQ(type_of(R"({"reference": "#m"})"), "Medication");
  EXPECT_EQ(type_of(R"({"type": "Group", "identifier": {"value": "1"}})"), "Group");
  EXPECT_EQ(type_of(R"({"reference": "urn:uuid:0c3f8a6e-0000-4000-8000-000000000000"})"), "");
  EXPECT_EQ(type_of(R"({"display": "no reference"})"), "");
}

}  // namespace
}  // namespace fhirbridge::fhir
