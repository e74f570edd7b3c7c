#include "sync/sqlite_sync_sink.h"

#include <gtest/gtest.h>

namespace fhirbridge::sync {
namespace {

SyncedResource Version(const std::string& id, std::int64_t version, const std::string& hash) {
  return {"Observation", id, version, "2026-01-01T00:00:00.000Z", "{}", hash, "", ""};
}

class SqliteSyncSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = SqliteSyncSink::Open(":memory:", "site");
    ASSERT_TRUE(opened) << opened.error().ToString();
    sink_ = std::move(*opened);
  }
  std::int64_t StoredVersion(const std::string& id) {
    auto info = sink_->ReadResource("Observation", id);
    EXPECT_TRUE(info);
    return *info ? ((*info)->deleted ? -(*info)->version : (*info)->version) : 0;
  }
  const CheckpointKey key_{"site", "Observation", ""};
  std::unique_ptr<SqliteSyncSink> sink_;
};

TEST_F(SqliteSyncSinkTest, KeepsTheNewestVersionWhateverTheOrderPagesArrive) {
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 3, "h3")}, {}, std::nullopt}));
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 2, "h2")}, {}, std::nullopt}));
  EXPECT_EQ(StoredVersion("a"), 3);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 3, "h3")}, {}, std::nullopt}));
  EXPECT_EQ(sink_->resources_written(), 1);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 4, "h4")}, {}, std::nullopt}));
  EXPECT_EQ(StoredVersion("a"), 4);
}

TEST_F(SqliteSyncSinkTest, ATombstoneHoldsBackOlderVersionsButNotARecreation) {
  // History arrives newest first: the delete (v5) before the version it deleted (v4).
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {{"Observation", "a", 5}}, std::nullopt}));
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 4, "h4")}, {}, std::nullopt}));
  EXPECT_EQ(StoredVersion("a"), -5);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 6, "h6")}, {}, std::nullopt}));
  EXPECT_EQ(StoredVersion("a"), 6);
  // A delete older than the stored version is stale.
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {{"Observation", "a", 5}}, std::nullopt}));
  EXPECT_EQ(StoredVersion("a"), 6);
  // A delete without a version (an id sweep) applies.
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {{"Observation", "a", 0}}, std::nullopt}));
  EXPECT_EQ(StoredVersion("a"), -6);
}

TEST_F(SqliteSyncSinkTest, WithoutVersionsTheContentHashDecides) {
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 0, "h1")}, {}, std::nullopt}));
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 0, "h1")}, {}, std::nullopt}));
  EXPECT_EQ(sink_->resources_written(), 1);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 0, "h2")}, {}, std::nullopt}));
  EXPECT_EQ(sink_->resources_written(), 2);
  auto hashes = sink_->ContentHashes("Observation", "");
  ASSERT_TRUE(hashes);
  EXPECT_EQ(hashes->at("a"), "h2");
}

TEST_F(SqliteSyncSinkTest, CheckpointsCommitWithTheirPage) {
  auto none = sink_->ReadCheckpoint(key_);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  ASSERT_TRUE(sink_->CommitPage({key_, {Version("a", 1, "h")}, {}, std::string("one")}));
  ASSERT_TRUE(sink_->CommitPage({key_, {}, {}, std::nullopt}));
  EXPECT_EQ(sink_->ReadCheckpoint(key_).value(), "one");
  const CheckpointKey patient{"site", "Observation", "p1"};
  ASSERT_TRUE(sink_->CommitPage({patient, {}, {}, std::string("two")}));
  EXPECT_EQ(sink_->ReadCheckpoint(patient).value(), "two");
  EXPECT_EQ(sink_->ReadCheckpoint(key_).value(), "one");
}

TEST_F(SqliteSyncSinkTest, RecordsRunsAndQuarantine) {
  RunRecord run{"site", "Observation", "history", "running", "", 0, 0, 0, {}};
  auto id = sink_->BeginRun(run);
  ASSERT_TRUE(id);
  run.outcome = "failed";
  EXPECT_TRUE(sink_->FinishRun(*id, run));
  EXPECT_TRUE(sink_->Quarantine({"site", "Observation", "r1", "page=2", "http://x", "bad", "{"}));
}

}  // namespace
}  // namespace fhirbridge::sync
