#include "sync/page.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "base/sha256.h"

namespace fhirbridge::sync {
namespace {

struct MalformedCase {
  const char* name;
  const char* body;
  BundleKind kind;
  const char* location;
};

TEST(SyncPageTest, RefusesMalformedPagesNamingWhere) {
  const MalformedCase cases[] = {
      {"bad JSON", R"({"resourceType":"Bundle",)", BundleKind::kSearchset, "Bundle"},
      {"not a Bundle", R"({"resourceType":"Observation"})", BundleKind::kSearchset,
       "Bundle.resourceType"},
      {"wrong Bundle type", R"({"resourceType":"Bundle","type":"history"})", BundleKind::kSearchset,
       "Bundle.type"},
      {"wrong resourceType",
       R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"a"}},{"resource":{"resourceType":"Patient","id":"b"}}]})",
       BundleKind::kSearchset, "Bundle.entry[1].resource.resourceType"},
      {"no id",
       R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation"}}]})",
       BundleKind::kSearchset, "Bundle.entry[0].resource.id"},
      {"next link without entries",
       R"({"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"http://x/n"}]})",
       BundleKind::kSearchset, "Bundle.entry"},
      {"total without entries", R"({"resourceType":"Bundle","type":"searchset","total":3})",
       BundleKind::kSearchset, "Bundle.entry"},
      {"history delete of another type",
       R"({"resourceType":"Bundle","type":"history","entry":[{"request":{"method":"DELETE","url":"Patient/a"},"response":{"etag":"W/\"2\""}}]})",
       BundleKind::kHistory, "Bundle.entry[0].request.url"},
      {"history entry without version",
       R"({"resourceType":"Bundle","type":"history","entry":[{"resource":{"resourceType":"Observation","id":"a"}}]})",
       BundleKind::kHistory, "Bundle.entry[0].response.etag"},
  };
  PageParser parser;
  for (const MalformedCase& test : cases) {
    SCOPED_TRACE(test.name);
    const auto page = parser.ParseBundle(test.body, test.kind, "Observation", true);
    ASSERT_FALSE(page);
    EXPECT_EQ(page.error().code, base::ErrorCode::kMalformedResponse);
    EXPECT_EQ(page.error().location, test.location);
  }
}

TEST(SyncPageTest, ReadsSearchMatchesSkippingIncludesAndOutcomes) {
  PageParser parser;
  const auto page = parser.ParseBundle(
      R"({"resourceType":"Bundle","type":"searchset","total":9,
          "link":[{"relation":"self","url":"http://x/s"},{"relation":"next","url":"http://x/n"}],
          "entry":[
            {"resource":{"resourceType":"Observation","id":"a","meta":{"versionId":"3",
             "lastUpdated":"2026-01-02T03:04:05.5+01:00"},"status":"final"},"search":{"mode":"match"}},
            {"resource":{"resourceType":"Patient","id":"p"},"search":{"mode":"include"}},
            {"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}]})",
      BundleKind::kSearchset, "Observation", true);
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->resources.size(), 1u);
  EXPECT_EQ(page->entries, 1u);
  EXPECT_EQ(page->resources[0].id, "a");
  EXPECT_EQ(page->resources[0].version, 3);
  EXPECT_EQ(page->max_last_updated, "2026-01-02T02:04:05.500Z");
  EXPECT_EQ(page->next_url, "http://x/n");
  EXPECT_EQ(page->total, 9);
  EXPECT_EQ(page->resources[0].content_hash.size(), 64u);
}

// The store trusts the summary the page parser reads off its own parse in place of parsing the
// resource again, so the two must agree field for field.
TEST(SyncPageTest, SummaryOfEachResourceIsWhatTheStoreWouldRead) {
  PageParser parser;
  const auto page = parser.ParseBundle(
      R"({"resourceType":"Bundle","type":"searchset","entry":[
            {"resource":{"resourceType":"Observation","id":"o1","meta":{"versionId":"7",
             "lastUpdated":"2026-01-02T03:04:05Z"},"status":"final",
             "category":[{"coding":[{"code":"vital-signs"}]}],
             "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
             "subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},
             "effectiveDateTime":"2026-01-01T10:00:00+02:00",
             "valueQuantity":{"value":72.5,"code":"/min"}}},
            {"resource":{"resourceType":"Observation","id":"o2","status":"preliminary",
             "valueQuantity":{"value":"not a number"},"effectiveDateTime":"someday"}},
            {"resource":{"resourceType":"Observation","id":"o\u0033","meta":{"versionId":"v"}}}]})",
      BundleKind::kSearchset, "Observation", true);
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->resources.size(), 3u);
  fhir::ResourceSummariser summariser;
  for (const SyncedResource& resource : page->resources) {
    SCOPED_TRACE(resource.id);
    ASSERT_TRUE(resource.summary);
    EXPECT_TRUE(resource.summary->well_formed);
    EXPECT_EQ(*resource.summary, summariser.Summarise(resource.json));
  }
  ASSERT_TRUE(page->resources[0].summary->view);
  EXPECT_EQ(page->resources[0].summary->view->code, "8867-4");
  EXPECT_EQ(page->resources[0].summary->view->value_number, 72.5);
  EXPECT_EQ(page->resources[2].summary->id, "o3");
}

TEST(SyncPageTest, ContentHashIgnoresMetaButNotContent) {
  PageParser parser;
  const auto with_meta = parser.ParseResource(
      R"({"resourceType":"Patient","id":"a","meta":{"versionId":"2"},"active":true})", "Patient");
  const auto without_meta =
      parser.ParseResource(R"({"resourceType":"Patient","id":"a","active":true})", "Patient");
  const auto changed =
      parser.ParseResource(R"({"resourceType":"Patient","id":"a","active":false})", "Patient");
  ASSERT_TRUE(with_meta && without_meta && changed);
  EXPECT_EQ(with_meta->content_hash, without_meta->content_hash);
  EXPECT_NE(with_meta->content_hash, changed->content_hash);
}

// The hash as its definition says: SHA-256 over key, NUL, minified value, NUL for each member
// but meta, keys unescaped.
std::string ExpectedHash(
    std::initializer_list<std::pair<std::string_view, std::string_view>> members) {
  base::Sha256 hasher;
  hasher.Begin();
  const std::string_view separator("\0", 1);
  for (const auto& [key, value] : members) {
    hasher.Update(key);
    hasher.Update(separator);
    hasher.Update(value);
    hasher.Update(separator);
  }
  return hasher.FinishHex();
}

TEST(SyncPageTest, ContentHashFollowsItsDefinitionWhateverTheLayout) {
  const std::string expected = ExpectedHash({
      {"resourceType", R"("Patient")"},
      {"id", R"("a")"},
      {"name", R"([{"text":"Q \"x\" \\ ,}]{[","given":[]}])"},
      {"extension", R"({"n":[1,-2,{"d":"e,f"}],"flag":false,"none":null})"},
      {"x", "-1.5"},
      {"last", R"("")"},
  });
  PageParser parser;
  const auto minified = parser.ParseResource(
      R"({"resourceType":"Patient","id":"a","meta":{"versionId":"2"},"name":[{"text":"Q \"x\" \\ ,}]{[","given":[]}],"extension":{"n":[1,-2,{"d":"e,f"}],"flag":false,"none":null},"x":-1.5,"last":""})",
      "Patient");
  ASSERT_TRUE(minified) << minified.error().ToString();
  EXPECT_EQ(minified->content_hash, expected);
  const auto spaced = parser.ParseResource(R"( {
        "resourceType" : "Patient", "id" : "\u0061",
        "name" : [ { "text" : "Q \"x\" \\ ,}]{[", "given" : [ ] } ],
        "extension" : { "n" : [ 1 , -2 , { "d" : "e,f" } ], "flag" : false, "none" : null },
        "meta" : { "lastUpdated" : "2026-01-01T00:00:00Z" },
        "x" : -1.5, "last" : "" } )",
                                           "Patient");
  ASSERT_TRUE(spaced) << spaced.error().ToString();
  EXPECT_EQ(spaced->content_hash, expected);

  // A key with an escape is hashed unescaped.
  const auto escaped_key =
      parser.ParseResource(R"({"resourceType":"Patient","id":"a","k\"ey":1,"z":true})", "Patient");
  ASSERT_TRUE(escaped_key) << escaped_key.error().ToString();
  EXPECT_EQ(
      escaped_key->content_hash,
      ExpectedHash(
          {{"resourceType", R"("Patient")"}, {"id", R"("a")"}, {"k\"ey", "1"}, {"z", "true"}}));
}

TEST(SyncPageTest, ReadsHistoryVersionsAndDeletes) {
  PageParser parser;
  const auto page = parser.ParseBundle(
      R"({"resourceType":"Bundle","type":"history","total":2,"entry":[
            {"request":{"method":"DELETE","url":"Observation/a"},
             "response":{"status":"200 OK","etag":"W/\"4\"","lastModified":"2026-01-02T00:00:01.000Z"}},
            {"resource":{"resourceType":"Observation","id":"a"},"request":{"method":"PUT",
             "url":"Observation/a"},"response":{"etag":"W/\"3\"",
             "lastModified":"2026-01-02T00:00:00.000Z"}}]})",
      BundleKind::kHistory, "Observation", true);
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->tombstones.size(), 1u);
  EXPECT_EQ(page->tombstones[0].id, "a");
  EXPECT_EQ(page->tombstones[0].version, 4);
  ASSERT_EQ(page->resources.size(), 1u);
  EXPECT_EQ(page->resources[0].version, 3);
  EXPECT_EQ(page->resources[0].last_updated, "2026-01-02T00:00:00.000Z");
  EXPECT_EQ(page->max_last_updated, "2026-01-02T00:00:01.000Z");
  EXPECT_EQ(page->entries, 2u);
}

TEST(SyncPageTest, VersionOfEtag) {
  EXPECT_EQ(VersionOfEtag("W/\"12\""), 12);
  EXPECT_EQ(VersionOfEtag("\"3\""), 3);
  EXPECT_EQ(VersionOfEtag("W/\"x\""), 0);
  EXPECT_EQ(VersionOfEtag(""), 0);
}

}  // namespace
}  // namespace fhirbridge::sync
