#include "verify/known_patients.h"

#include <gtest/gtest.h>

#include <string>

namespace fhirbridge::verify {
namespace {

constexpr std::string_view kMrnSystem = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0";

TEST(KnownPatientsTest, TheSandboxBaselinePatientsAreFoundByTheirMedicalRecordNumbers) {
  auto patients = SandboxBaselinePatients();
  ASSERT_TRUE(patients.has_value()) << patients.error().ToString();
  ASSERT_EQ(patients->size(), 3u);
  for (std::size_t i = 0; i < patients->size(); ++i) {
    EXPECT_EQ((*patients)[i].label, "baseline-" + std::to_string(i + 1));
    EXPECT_EQ((*patients)[i].identifier_system, kMrnSystem);
    EXPECT_EQ((*patients)[i].identifier_value, "90000" + std::to_string(i + 1));
  }
}

TEST(KnownPatientsTest, TheNamedSyntheticSetGivesTenPatientsInFileOrder) {
  auto patients = LoadKnownPatients(
      std::string(FHIRBRIDGE_SOURCE_DIR) + "/data/synth/named-set/Patient.ndjson", "named");
  ASSERT_TRUE(patients.has_value()) << patients.error().ToString();
  ASSERT_EQ(patients->size(), 10u);
  EXPECT_EQ(patients->front().label, "named-1");
  EXPECT_EQ(patients->back().label, "named-10");
  EXPECT_EQ(patients->front().identifier_value, "10000000");
  EXPECT_EQ(patients->back().identifier_value, "10000009");
}

TEST(KnownPatientsTest, TheMedicalRecordNumberIsPreferredOverOtherIdentifiers) {
  auto patients = ParseKnownPatients(
      R"({"resourceType": "Patient", "identifier": [{"system": "urn:ssn", "value": "1"}, {"system": "urn:mrn", "value": "2", "type": {"coding": [{"code": "MR"}]}}]}
{"resourceType": "Observation", "status": "final"}
{"resourceType": "Patient", "identifier": [{"value": "no system"}, {"system": "s", "value": "3"}]}
)",
      "p");
  ASSERT_TRUE(patients.has_value()) << patients.error().ToString();
  ASSERT_EQ(patients->size(), 2u);
  EXPECT_EQ((*patients)[0].identifier_system, "urn:mrn");
  EXPECT_EQ((*patients)[0].identifier_value, "2");
  EXPECT_EQ((*patients)[1].identifier_value, "3");
  EXPECT_EQ((*patients)[1].label, "p-2");
}

TEST(KnownPatientsTest, BadInputIsRefusedWithItsLineAndNeverItsContent) {
  auto bad_json = ParseKnownPatients(
      "{\"resourceType\": \"Patient\", \"identifier\": [{\"system\": \"s\", \"value\": \"1\"}]}\n"
      "{\"resourceType\": \"Patient\", \"name\": \"Secret Name\"\n",
      "p");
  ASSERT_FALSE(bad_json.has_value());
  EXPECT_EQ(bad_json.error().code, base::ErrorCode::kInvalidJson);
  EXPECT_EQ(bad_json.error().location, "line 2");
  EXPECT_EQ(bad_json.error().ToString().find("Secret"), std::string::npos);

  auto no_identifier =
      ParseKnownPatients(R"({"resourceType": "Patient", "name": [{"family": "Secret"}]})", "p");
  ASSERT_FALSE(no_identifier.has_value());
  EXPECT_EQ(no_identifier.error().code, base::ErrorCode::kInvalidResource);
  EXPECT_EQ(no_identifier.error().ToString().find("Secret"), std::string::npos);

  auto none = ParseKnownPatients(R"({"resourceType": "Bundle", "type": "collection"})", "p");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, base::ErrorCode::kInvalidResource);

  auto missing = LoadKnownPatients("/nonexistent/patients.ndjson", "p");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, base::ErrorCode::kConfigNotFound);
}

TEST(KnownPatientsTest, IdentifierArgumentsNeedASystemAndAValue) {
  auto parsed = ParseIdentifierArgument("urn:oid:1.2|00042|x", "patient-1");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->identifier_system, "urn:oid:1.2");
  EXPECT_EQ(parsed->identifier_value, "00042|x");
  for (const char* bad : {"", "|1", "urn:x|", "no-bar"}) {
    EXPECT_FALSE(ParseIdentifierArgument(bad, "p").has_value()) << bad;
  }
}

}  // namespace
}  // namespace fhirbridge::verify
