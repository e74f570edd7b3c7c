#include "fhir/resource_summary.h"

#include <gtest/gtest.h>

#include <string>

namespace fhirbridge::fhir {
namespace {

TEST(BundlePageReaderTest, SplitsEntriesIntoTheirResourcesBytesAsReceived) {
  const std::string first = R"({"resourceType":"Patient","id":"p1", "name":[{"family":"X"}]})";
  const std::string second = "{ \"resourceType\" : \"Observation\",\n \"id\":\"o\\u00e91\" }";
  std::string bundle = R"({"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"a",)"
                       R"("resource":)" +
                       first + R"(,"search":{"mode":"match"}},{"resource":)" + second +
                       R"(},{"request":{"method":"DELETE","url":"Patient/p2"}}],"total":3})";
  BundlePageReader reader;
  auto page = reader.Read(bundle);
  ASSERT_TRUE(page) << page.error().diagnostic;
  ASSERT_EQ(page->resources.size(), 2u);
  EXPECT_EQ(page->resources[0], first);
  EXPECT_EQ(page->resources[1], second);
  EXPECT_EQ(page->entries_without_resource, 1u);
}

TEST(BundlePageReaderTest, AnEmptyPageHasNoResources) {
  std::string bundle = R"({"resourceType":"Bundle","type":"searchset","total":0})";
  BundlePageReader reader;
  auto page = reader.Read(bundle);
  ASSERT_TRUE(page) << page.error().diagnostic;
  EXPECT_TRUE(page->resources.empty());
}

TEST(BundlePageReaderTest, RejectsWhatIsNotABundlePage) {
  BundlePageReader reader;
  const std::string cases[] = {
      "not json",
      "[1,2]",
      R"({"resourceType":"Patient","id":"p1"})",
      R"({"resourceType":"Bundle","entry":{}})",
      R"({"resourceType":"Bundle","entry":[1]})",
      R"({"resourceType":"Bundle","entry":[{"resource":"text"}]})",
  };
  for (const std::string& text : cases) {
    std::string bundle = text;
    const auto page = reader.Read(bundle);
    ASSERT_FALSE(page) << text;
    EXPECT_EQ(page.error().code, base::ErrorCode::kMalformedResponse) << text;
  }
}

TEST(ResourceSummariserTest, ReadsIdentityVersionAndLastUpdated) {
  ResourceSummariser summariser;
  const auto summary = summariser.Summarise(
      R"({"resourceType":"Encounter","id":"e1","meta":{"versionId":"12",)"
      R"("lastUpdated":"2026-01-01T01:00:00+01:00"},"status":"finished",)"
      R"("class":{"code":"AMB"},"type":[{"coding":[{"system":"s","code":"c"}]}],)"
      R"("subject":{"reference":"Patient/p1"},"period":{"start":"2025-12-31"}})");
  ASSERT_TRUE(summary.well_formed) << summary.problem;
  EXPECT_EQ(summary.resource_type, "Encounter");
  EXPECT_EQ(summary.id, "e1");
  EXPECT_EQ(summary.version_id, "12");
  EXPECT_EQ(summary.version_number, 12);
  EXPECT_EQ(summary.last_updated_us, 1'767'225'600'000'000);
  ASSERT_TRUE(summary.view);
  EXPECT_EQ(summary.view->status, "finished");
  EXPECT_EQ(summary.view->category, "AMB");
  EXPECT_EQ(summary.view->code_system, "s");
  EXPECT_EQ(summary.view->code, "c");
  EXPECT_EQ(summary.view->patient_reference, "Patient/p1");
  EXPECT_EQ(summary.view->effective_us, 1'767'139'200'000'000);
}

TEST(ResourceSummariserTest, NormalisesEachClinicalType) {
  ResourceSummariser summariser;
  struct Case {
    std::string text;
    std::string status, category, code, patient, effective;
  };
  const Case cases[] = {
      {R"({"resourceType":"Condition","id":"c","clinicalStatus":{"coding":[{"code":"active"}]},)"
       R"("category":[{"coding":[{"code":"problem-list-item"}]}],"code":{"coding":[{"code":"I10"}]},)"
       R"("subject":{"reference":"Patient/1"},"onsetDateTime":"2020-01-01"})",
       "active", "problem-list-item", "I10", "Patient/1", "2020-01-01"},
      {R"({"resourceType":"AllergyIntolerance","id":"a","clinicalStatus":{"coding":[{"code":"active"}]},)"
       R"("category":["food"],"code":{"coding":[{"code":"91935009"}]},)"
       R"("patient":{"reference":"Patient/2"},"recordedDate":"2021-02-03"})",
       "active", "food", "91935009", "Patient/2", "2021-02-03"},
      {R"({"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order",)"
       R"("medicationCodeableConcept":{"coding":[{"code":"197361"}]},)"
       R"("subject":{"reference":"Patient/3"},"authoredOn":"2022-03-04"})",
       "active", "order", "197361", "Patient/3", "2022-03-04"},
      {R"({"resourceType":"MedicationStatement","id":"s","status":"completed",)"
       R"("category":{"coding":[{"code":"community"}]},)"
       R"("medicationCodeableConcept":{"coding":[{"code":"1049502"}]},)"
       R"("subject":{"reference":"Patient/4"},"effectivePeriod":{"start":"2023-04-05"}})",
       "completed", "community", "1049502", "Patient/4", "2023-04-05"},
  };
  for (const Case& test : cases) {
    const auto summary = summariser.Summarise(test.text);
    ASSERT_TRUE(summary.well_formed) << test.text;
    ASSERT_TRUE(summary.view) << test.text;
    EXPECT_EQ(summary.view->status, test.status) << test.text;
    EXPECT_EQ(summary.view->category, test.category) << test.text;
    EXPECT_EQ(summary.view->code, test.code) << test.text;
    EXPECT_EQ(summary.view->patient_reference, test.patient) << test.text;
    EXPECT_EQ(summary.view->effective, test.effective) << test.text;
    EXPECT_TRUE(summary.view->effective_us) << test.text;
  }
}

TEST(ResourceSummariserTest, OtherTypesHaveNoViewAndOddVersionsRankZero) {
  ResourceSummariser summariser;
  const auto summary = summariser.Summarise(
      R"({"resourceType":"Practitioner","id":"x","meta":{"versionId":"W/\"3\"","lastUpdated":7}})");
  ASSERT_TRUE(summary.well_formed);
  EXPECT_FALSE(summary.view);
  EXPECT_EQ(summary.version_id, "W/\"3\"");
  EXPECT_EQ(summary.version_number, 0);
  EXPECT_EQ(summary.last_updated, "");
  EXPECT_EQ(summary.last_updated_us, 0);
}

TEST(ResourceSummariserTest, ExplainsWhyAResourceIsNotWellFormed) {
  ResourceSummariser summariser;
  const std::pair<std::string, std::string> cases[] = {
      {"{\"resourceType\":", "the resource is not valid JSON"},
      {"\"Patient\"", "the resource is not a JSON object"},
      {R"({"id":"p1"})", "the resource has no string resourceType"},
      {R"({"resourceType":"Patient","id":5})", "the resource has no string id"},
      {R"({"resourceType":"Patient","id":""})", "the resource has no string id"},
  };
  for (const auto& [text, problem] : cases) {
    const auto summary = summariser.Summarise(text);
    EXPECT_FALSE(summary.well_formed) << text;
    EXPECT_EQ(summary.problem, problem) << text;
  }
}

}  // namespace
}  // namespace fhirbridge::fhir
