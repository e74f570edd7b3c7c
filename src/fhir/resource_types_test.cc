#include "fhir/resource_types.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace fhirbridge::fhir {
namespace {

TEST(ResourceTypeTest, KnowsTheClinicalTypesEpicServes) {
  for (const auto* type : {"Patient", "Observation", "AllergyIntolerance", "MedicationRequest",
                           "DocumentReference", "Provenance", "QuestionnaireResponse"}) {
    EXPECT_TRUE(IsR4ResourceType(type)) << type;
  }
}

TEST(ResourceTypeTest, IncludesTheFirstAndLastTypesAndInfrastructure) {
  EXPECT_TRUE(IsR4ResourceType("Account"));
  EXPECT_TRUE(IsR4ResourceType("VisionPrescription"));
  EXPECT_TRUE(IsR4ResourceType("Bundle"));
  EXPECT_TRUE(IsR4ResourceType("OperationOutcome"));
  EXPECT_TRUE(IsR4ResourceType("Parameters"));
}

TEST(ResourceTypeTest, RejectsAbstractMisspelledAndOtherReleaseTypes) {
  EXPECT_FALSE(IsR4ResourceType("Resource"));
  EXPECT_FALSE(IsR4ResourceType("DomainResource"));
  EXPECT_FALSE(IsR4ResourceType("patient"));
  EXPECT_FALSE(IsR4ResourceType("Patients"));
  EXPECT_FALSE(IsR4ResourceType(""));
  // Renamed or introduced after R4.
  EXPECT_FALSE(IsR4ResourceType("MedicationUsage"));
  EXPECT_FALSE(IsR4ResourceType("DeviceUsage"));
  EXPECT_FALSE(IsR4ResourceType("RequestOrchestration"));
}

TEST(ResourceTypeTest, ListIsSortedAndHasEveryR4Type) {
  const auto types = R4ResourceTypes();
  EXPECT_EQ(types.size(), 146u);
  EXPECT_TRUE(std::ranges::is_sorted(types));
}

}  // namespace
}  // namespace fhirbridge::fhir
