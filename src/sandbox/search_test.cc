#include "sandbox/search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace fhirbridge::sandbox {
namespace {

TEST(WithoutVersionMetaTest, RemovesVersionIdAndLastUpdatedAndKeepsTheRest) {
  EXPECT_EQ(
      WithoutVersionMeta(
          R"({"resourceType":"Patient","id":"p","meta":{"versionId":"3",)"
          R"("lastUpdated":"2024-01-01T00:00:00.000Z","security":[{"code":"HTEST"}]},)"
          R"("active":true})"),
      R"({"resourceType":"Patient","id":"p","meta":{"security":[{"code":"HTEST"}]},"active":true})");
}

TEST(WithoutVersionMetaTest, DropsMetaWhenNothingElseIsInIt) {
  EXPECT_EQ(WithoutVersionMeta(R"({"resourceType":"Observation","meta":{"versionId":"1",)"
                               R"("lastUpdated":"2024-01-01T00:00:00.000Z"},"status":"final"})"),
            R"({"resourceType":"Observation","status":"final"})");
}

TEST(WithoutVersionMetaTest, LeavesNestedMetaAndLookalikeTextAlone) {
  const std::string contained =
      R"({"resourceType":"Observation","contained":[{"resourceType":"Device","meta":)"
      R"({"versionId":"2"}}],"note":[{"text":"\"meta\":{\"versionId\":\"9\"}"}]})";
  EXPECT_EQ(WithoutVersionMeta(contained), contained);
}

TEST(WithoutVersionMetaTest, RemovesTheMetaTheStoreAppendsAtTheEnd) {
  EXPECT_EQ(WithoutVersionMeta(R"({"resourceType":"Observation","id":"o","meta":{"versionId":"12",)"
                               R"("lastUpdated":"2024-01-01T00:00:00.000Z"}})"),
            R"({"resourceType":"Observation","id":"o"})");
  // The same ending one level down is a nested meta: the resource's own is kept.
  const std::string nested =
      R"({"resourceType":"Observation","contained":{"meta":{"versionId":"1",)"
      R"("lastUpdated":"2024-01-01T00:00:00.000Z"}}})";
  EXPECT_EQ(WithoutVersionMeta(nested), nested);
}

TEST(WithoutVersionMetaTest, SkipsEscapedQuotesInsideStrings) {
  EXPECT_EQ(WithoutVersionMeta(R"({"text":"a\"b\\","meta":{"versionId":"1","tag":[]},"x":"}"})"),
            R"({"text":"a\"b\\","meta":{"tag":[]},"x":"}"})");
}

TEST(WithoutVersionMetaTest, ToleratesWhitespaceAndReturnsMalformedTextUnchanged) {
  EXPECT_EQ(WithoutVersionMeta(R"({ "id" : "x" , "meta" : { "versionId" : "1" , "tag" : [ ] } })"),
            R"({"id" : "x","meta":{"tag" : [ ]}})");
  EXPECT_EQ(WithoutVersionMeta(R"({"meta":{"versionId":"1")"), R"({"meta":{"versionId":"1")");
  EXPECT_EQ(WithoutVersionMeta("[]"), "[]");
}

TEST(OfferedSearchParametersTest, AllOffersEverySupportedParameterButHonoursLastUpdated) {
  BuildLevel level;
  level.resources["Patient"] = {Interaction::kRead, Interaction::kSearchType};
  const auto all = OfferedSearchParameters(level, "Patient");
  EXPECT_EQ(all.size(), fhir::R4SearchParameters().ForType("Patient").size());

  level.search.last_updated = false;
  const auto without = OfferedSearchParameters(level, "Patient");
  EXPECT_EQ(without.size(), all.size() - 1);
  EXPECT_TRUE(std::ranges::none_of(without, [](const fhir::SearchParameter* parameter) {
    return parameter->code == "_lastUpdated";
  }));
}

TEST(OfferedSearchParametersTest, ListsNarrowAndTypesWithoutSearchOfferNothing) {
  BuildLevel level;
  level.resources["Patient"] = {Interaction::kRead, Interaction::kSearchType};
  level.resources["Practitioner"] = {Interaction::kRead};
  level.search.parameters.emplace();
  (*level.search.parameters)["Patient"] = {"family", "_id"};
  const auto offered = OfferedSearchParameters(level, "Patient");
  ASSERT_EQ(offered.size(), 2u);
  EXPECT_EQ(offered[0]->code, "_id");
  EXPECT_EQ(offered[1]->code, "family");
  EXPECT_TRUE(OfferedSearchParameters(level, "Practitioner").empty());
  EXPECT_TRUE(OfferedSearchParameters(level, "Observation").empty());
}

}  // namespace
}  // namespace fhirbridge::sandbox
