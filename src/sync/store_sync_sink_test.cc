#include "sync/store_sync_sink.h"

#include <gtest/gtest.h>

#include "sync/page.h"

namespace fhirbridge::sync {
namespace {

// An Observation version as the engine hands it over: raw JSON plus the parser's fields.
SyncedResource Version(const std::string& id, std::int64_t version, const std::string& last_updated,
                       const std::string& value = "1", const std::string& subject = "Patient/p1") {
  std::string json = R"({"resourceType":"Observation","id":")" + id + R"(")";
  if (version > 0) {
    json += R"(,"meta":{"versionId":")" + std::to_string(version) + R"(","lastUpdated":")" +
            last_updated + R"("})";
  }
  json += R"(,"status":"final","subject":{"reference":")" + subject +
          R"("},"valueQuantity":{"value":)" + value + "}}";
  PageParser parser;
  auto parsed = parser.ParseResource(json, "Observation");
  EXPECT_TRUE(parsed) << parsed.error().ToString();
  return *parsed;
}

class StoreSyncSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = StoreSyncSink::Open({":memory:", {}}, "site");
    ASSERT_TRUE(opened) << opened.error().ToString();
    sink_ = std::move(*opened);
  }
  // The stored version, negative when deleted, 0 when unknown.
  std::int64_t StoredVersion(const std::string& id) {
    auto info = sink_->ReadResource("Observation", id);
    EXPECT_TRUE(info);
    if (!info || !*info) return 0;
    return (*info)->deleted ? -(*info)->version : (*info)->version;
  }
  const CheckpointKey key_{"site", "Observation", ""};
  std::unique_ptr<StoreSyncSink> sink_;
};

TEST_F(StoreSyncSinkTest, KeepsTheNewestVersionWhateverTheOrderPagesArrive) {
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 3, "2026-01-03T00:00:00Z")}, {}, {}}));
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 2, "2026-01-02T00:00:00Z")}, {}, {}}));
  EXPECT_EQ(StoredVersion("a"), 3);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 3, "2026-01-03T00:00:00Z")}, {}, {}}));
  EXPECT_EQ(sink_->resources_written(), 1);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 4, "2026-01-04T00:00:00Z")}, {}, {}}));
  EXPECT_EQ(StoredVersion("a"), 4);
  auto info = sink_->ReadResource("Observation", "a");
  ASSERT_TRUE(info && *info);
  EXPECT_EQ((*info)->etag, "W/\"4\"");
  EXPECT_EQ((*info)->content_hash, Version("a", 4, "2026-01-04T00:00:00Z").content_hash);
}

TEST_F(StoreSyncSinkTest, ATombstoneHoldsBackOlderVersionsButNotARecreation) {
  // History arrives newest first: the delete (v5) before the version it deleted (v4).
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {{"Observation", "a", 5, "2026-01-05T00:00:00Z"}}, {}}));
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 4, "2026-01-04T00:00:00Z")}, {}, {}}));
  EXPECT_EQ(StoredVersion("a"), -5);
  // Re-created after the delete, though before this sink saw the delete.
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 6, "2026-01-06T00:00:00Z")}, {}, {}}));
  EXPECT_EQ(StoredVersion("a"), 6);
  // A delete older than the stored version is stale, even with no time given.
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {{"Observation", "a", 5, ""}}, {}}));
  EXPECT_EQ(StoredVersion("a"), 6);
  // A delete without a version (an id sweep) applies.
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {{"Observation", "a", 0, ""}}, {}}));
  auto swept = sink_->ReadResource("Observation", "a");
  ASSERT_TRUE(swept && *swept);
  EXPECT_TRUE((*swept)->deleted);
  EXPECT_GE(sink_->tombstones_written(), 1);
}

TEST_F(StoreSyncSinkTest, WithoutVersionsTheContentDecidesAndHashesIgnoreMeta) {
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 0, "", "1")}, {}, {}}));
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 0, "", "1")}, {}, {}}));
  EXPECT_EQ(sink_->resources_written(), 1);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 0, "", "2")}, {}, {}}));
  EXPECT_EQ(sink_->resources_written(), 2);
  auto hashes = sink_->ContentHashes("Observation", "");
  ASSERT_TRUE(hashes);
  EXPECT_EQ(hashes->at("a"), Version("a", 0, "", "2").content_hash);
  // The engine's hash leaves meta out: the same content with a version hashes alike.
  EXPECT_EQ(hashes->at("a"), Version("a", 7, "2026-01-07T00:00:00Z", "2").content_hash);
}

TEST_F(StoreSyncSinkTest, ContentHashesOfAPatientContextAreThatPatientsResources) {
  ASSERT_TRUE(sink_->CommitPage(
      {key_,
       {Version("a", 1, "2026-01-01T00:00:00Z", "1", "Patient/p1"),
        Version("b", 1, "2026-01-01T00:00:00Z", "1", "Patient/p2"),
        Version("c", 1, "2026-01-01T00:00:00Z", "1", "http://fhir.example.org/R4/Patient/p1")},
       {},
       {}}));
  auto p1 = sink_->ContentHashes("Observation", "p1");
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->size(), 2u);
  EXPECT_TRUE(p1->contains("a"));
  EXPECT_TRUE(p1->contains("c"));
  auto p2 = sink_->ContentHashes("Observation", "p2");
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->size(), 1u);
  auto live = sink_->LiveIds("Observation");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->size(), 3u);
}

TEST_F(StoreSyncSinkTest, AReferenceThatIsNotTextNamesNoPatient) {
  PageParser parser;
  auto messy = parser.ParseResource(
      R"({"resourceType":"Observation","id":"m","status":"final","subject":{"reference":42}})",
      "Observation");
  ASSERT_TRUE(messy) << messy.error().ToString();
  ASSERT_TRUE(sink_->CommitPage(
      {key_, {*messy, Version("a", 1, "2026-01-01T00:00:00Z", "1", "Patient/p1")}, {}, {}}));
  auto p1 = sink_->ContentHashes("Observation", "p1");
  ASSERT_TRUE(p1) << p1.error().ToString();
  EXPECT_EQ(p1->size(), 1u);
  EXPECT_TRUE(p1->contains("a"));
}

TEST_F(StoreSyncSinkTest, PatientCompartmentsFollowCommitsWithinARun) {
  ASSERT_TRUE(sink_->CommitPage({key_,
                                 {Version("a", 1, "2026-01-01T00:00:00Z", "1", "Patient/p1"),
                                  Version("b", 1, "2026-01-01T00:00:00Z", "1", "Patient/p2")},
                                 {},
                                 {}}));
  auto p1 = sink_->ContentHashes("Observation", "p1");
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->size(), 1u);

  // Stored after the compartments were first read: a new resource of p1, and b moved to p1.
  ASSERT_TRUE(sink_->CommitPage({key_,
                                 {Version("c", 1, "2026-01-02T00:00:00Z", "1", "Patient/p1"),
                                  Version("b", 2, "2026-01-02T00:00:00Z", "1", "Patient/p1")},
                                 {},
                                 {}}));
  p1 = sink_->ContentHashes("Observation", "p1");
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->size(), 3u);
  EXPECT_EQ(p1->at("c"), Version("c", 1, "2026-01-02T00:00:00Z", "1", "Patient/p1").content_hash);
  auto p2 = sink_->ContentHashes("Observation", "p2");
  ASSERT_TRUE(p2);
  EXPECT_TRUE(p2->empty());

  // A deletion leaves the compartment.
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {{"Observation", "a", 0, ""}}, {}}));
  p1 = sink_->ContentHashes("Observation", "p1");
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->size(), 2u);
  EXPECT_FALSE(p1->contains("a"));
}

TEST_F(StoreSyncSinkTest, CheckpointsCommitWithTheirPage) {
  auto none = sink_->ReadCheckpoint(key_);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  ASSERT_TRUE(sink_->CommitPage(
      {key_, {Version("a", 1, "2026-01-01T00:00:00Z")}, {}, std::string(R"({"pass":1})")}));
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {}, std::nullopt}));
  EXPECT_EQ(sink_->ReadCheckpoint(key_).value(), R"({"pass":1})");
  const CheckpointKey patient{"site", "Observation", "p1"};
  ASSERT_TRUE(sink_->CommitPage({patient, {}, {}, std::string(R"({"pass":2})")}));
  EXPECT_EQ(sink_->ReadCheckpoint(patient).value(), R"({"pass":2})");
  EXPECT_EQ(sink_->ReadCheckpoint(key_).value(), R"({"pass":1})");
  // A checkpoint that is not JSON is refused with its whole page.
  EXPECT_FALSE(sink_->CommitPage(
      {key_, {Version("z", 1, "2026-01-01T00:00:00Z")}, {}, std::string("not json")}));
  EXPECT_EQ(StoredVersion("z"), 0);
}

TEST_F(StoreSyncSinkTest, RecordsRunsAndQuarantine) {
  RunRecord run{"site", "Observation", "history", "running", "", 0, 0, 0, {}};
  auto id = sink_->BeginRun(run);
  ASSERT_TRUE(id);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 1, "2026-01-01T00:00:00Z")}, {}, {}}));
  run.outcome = "failed";
  run.error = "kMalformedResponse: a page did not read";
  EXPECT_TRUE(sink_->FinishRun(*id, run));
  auto recorded = sink_->store().GetSyncRun(*id);
  ASSERT_TRUE(recorded && *recorded);
  EXPECT_EQ((*recorded)->status, store::SyncRunStatus::kFailed);
  EXPECT_EQ((*recorded)->stored, 1);
  EXPECT_EQ((*recorded)->error, run.error);

  EXPECT_TRUE(sink_->Quarantine({"site", "Observation", "r1", "page=2", "http://x", "bad", "{"}));
  auto pages = sink_->store().ListQuarantinedPages("site");
  ASSERT_TRUE(pages);
  ASSERT_EQ(pages->size(), 1u);
  EXPECT_EQ((*pages)[0].correlation_id, "r1");
  EXPECT_EQ((*pages)[0].body, "{");
}

TEST(StoreSyncSinkFenceTest, AFencedPageIsWrittenOnlyUnderTheLeaseItNames) {
  auto opened = store::OpenReplicaStore({":memory:", {}});
  ASSERT_TRUE(opened) << opened.error().ToString();
  store::ReplicaStore& store = **opened;
  ASSERT_TRUE(store.AddWorkItem({"site", "Observation", ""}));
  auto lease = store.Lease("worker", std::chrono::seconds(30));
  ASSERT_TRUE(lease && *lease);
  StoreSyncSink sink(std::move(*opened), "site");
  const CheckpointKey key{"site", "Observation", ""};

  const LeaseFence stale{(*lease)->item_id, (*lease)->token - 1};
  const auto refused = sink.CommitFencedPage(
      {key, {Version("a", 1, "2026-01-01T00:00:00Z")}, {}, std::string(R"({"page":1})")}, stale);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kLeaseLost);
  EXPECT_FALSE(sink.ReadResource("Observation", "a").value());
  EXPECT_FALSE(sink.ReadCheckpoint(key).value());

  const LeaseFence held{(*lease)->item_id, (*lease)->token};
  ASSERT_TRUE(sink.CommitFencedPage(
      {key, {Version("a", 1, "2026-01-01T00:00:00Z")}, {}, std::string(R"({"page":1})")}, held));
  EXPECT_TRUE(sink.ReadResource("Observation", "a").value());
  EXPECT_EQ(sink.ReadCheckpoint(key).value(), std::optional<std::string>(R"({"page":1})"));
}

// A sink that keeps nothing and cannot check a lease, to see the interface's default.
class ForgetfulSink final : public SyncSink {
 public:
  base::Result<std::optional<std::string>> ReadCheckpoint(const CheckpointKey&) override {
    return std::optional<std::string>();
  }
  base::Status CommitPage(const PageWrite&) override {
    ++commits;
    return {};
  }
  base::Result<std::optional<StoredResourceInfo>> ReadResource(const std::string&,
                                                               const std::string&) override {
    return std::optional<StoredResourceInfo>();
  }
  base::Result<std::map<std::string, std::string>> ContentHashes(const std::string&,
                                                                 const std::string&) override {
    return std::map<std::string, std::string>();
  }
  base::Result<std::vector<std::string>> LiveIds(const std::string&) override {
    return std::vector<std::string>();
  }
  base::Status Quarantine(const QuarantinedPage&) override { return {}; }
  base::Result<std::int64_t> BeginRun(const RunRecord&) override { return 1; }
  base::Status FinishRun(std::int64_t, const RunRecord&) override { return {}; }

  int commits = 0;
};

TEST(StoreSyncSinkFenceTest, ASinkThatCannotCheckALeaseRefusesAFencedPage) {
  ForgetfulSink sink;
  const auto refused = sink.CommitFencedPage(
      {{"site", "Observation", ""}, {Version("a", 1, "2026-01-01T00:00:00Z")}, {}, {}}, {1, 1});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kInvalidPrecondition);
  EXPECT_EQ(sink.commits, 0);
}

}  // namespace
}  // namespace fhirbridge::sync
