// The semantics every ReplicaStore backend keeps, run against SQLite files and against a real
// PostgreSQL (FHIRBRIDGE_TEST_POSTGRES_DSN; ctest's postgres fixture or scripts/postgres.sh
// start it).

#include "store/replica_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres.h"
#include "store/postgres_replica_store.h"
#include "store/sqlite.h"
#include "store/sqlite_replica_store.h"
#include "store/store_support.h"

namespace fhirbridge::store {
namespace {

using namespace std::chrono_literals;

std::string RandomSuffix() {
  std::random_device device;
  std::uniform_int_distribution<std::uint64_t> distribution;
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx",
                static_cast<unsigned long long>(distribution(device)));
  return text;
}

// A store location that tests can open several connections to.
class SqliteBackend {
 public:
  static constexpr const char* kName = "sqlite";

  void SetUp() {
    directory_ = std::filesystem::temp_directory_path() / ("fhirbridge-store-" + RandomSuffix());
    std::filesystem::create_directories(directory_);
  }
  void TearDown() { std::filesystem::remove_all(directory_); }
  bool skipped() const { return false; }

  base::Result<std::unique_ptr<ReplicaStore>> Open() {
    return OpenSqliteReplicaStore((directory_ / "replica.db").string());
  }

  std::filesystem::path path() const { return directory_ / "replica.db"; }

 private:
  std::filesystem::path directory_;
};

class PostgresBackend {
 public:
  static constexpr const char* kName = "postgresql";

  void SetUp() {
    const char* skip = std::getenv("FHIRBRIDGE_SKIP_POSTGRES");
    if (skip != nullptr && std::string(skip) == "1") {
      skipped_ = true;
      return;
    }
    const char* dsn = std::getenv("FHIRBRIDGE_TEST_POSTGRES_DSN");
    if (dsn == nullptr || *dsn == '\0') {
      FAIL() << "FHIRBRIDGE_TEST_POSTGRES_DSN is not set. Run the tests through ctest (its "
                "postgres fixture starts a throwaway cluster), or start one with "
                "eval \"$(scripts/postgres.sh start)\", or set FHIRBRIDGE_SKIP_POSTGRES=1 to skip "
                "the PostgreSQL tests on purpose.";
    }
    dsn_ = dsn;
    schema_ = "test_" + RandomSuffix();
  }

  void TearDown() {
    if (dsn_.empty()) return;
    auto connection = PgConnection::Connect(dsn_, "");
    ASSERT_TRUE(connection) << connection.error().diagnostic;
    auto dropped = connection->Execute(
        "DROP SCHEMA IF EXISTS " + connection->QuoteIdentifier(schema_) + " CASCADE",
        "drop a test schema");
    EXPECT_TRUE(dropped) << dropped.error().diagnostic;
  }

  bool skipped() const { return skipped_; }

  base::Result<std::unique_ptr<ReplicaStore>> Open() {
    return OpenPostgresReplicaStore(dsn_, schema_);
  }

 private:
  bool skipped_ = false;
  std::string dsn_;
  std::string schema_;
};

std::string Resource(std::string_view type, std::string_view id, std::string_view version,
                     std::string_view last_updated, std::string_view body = "") {
  std::string text = R"({"resourceType":")";
  text += type;
  text += R"(","id":")";
  text += id;
  text += R"(","meta":{"versionId":")";
  text += version;
  text += R"(","lastUpdated":")";
  text += last_updated;
  text += "\"}";
  text += body;
  text += "}";
  return text;
}

// Page::resources are views; the texts of pages made in a test stay here until it ends.
std::deque<std::string>& KeptTexts() {
  static std::deque<std::string> texts;
  return texts;
}

Page MakePage(const std::vector<std::string>& resources, std::string site = "site-a") {
  Page page;
  page.site = std::move(site);
  page.correlation_id = "corr-1";
  page.fetched_at = 1'700'000'000'000'000;
  for (const std::string& resource : resources) {
    page.resources.push_back(KeptTexts().emplace_back(resource));
  }
  return page;
}

template <typename Backend>
class ReplicaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.SetUp();
    if (HasFatalFailure()) return;
    if (backend_.skipped()) GTEST_SKIP() << "FHIRBRIDGE_SKIP_POSTGRES=1";
    auto opened = backend_.Open();
    ASSERT_TRUE(opened) << opened.error().diagnostic;
    store_ = std::move(*opened);
  }
  void TearDown() override {
    KeptTexts().clear();
    store_.reset();
    backend_.TearDown();
  }

  std::unique_ptr<ReplicaStore> OpenAnother() {
    auto opened = backend_.Open();
    EXPECT_TRUE(opened) << opened.error().diagnostic;
    return opened ? std::move(*opened) : nullptr;
  }

  PageOutcome Write(const Page& page) {
    auto outcome = store_->WritePage(page);
    EXPECT_TRUE(outcome) << outcome.error().diagnostic;
    return outcome.value_or(PageOutcome{});
  }

  std::int64_t Count(std::string_view type, std::string_view site = "site-a") {
    auto counts = store_->CountResources(site);
    EXPECT_TRUE(counts) << counts.error().diagnostic;
    if (!counts) return -1;
    const auto found = counts->find(std::string(type));
    return found == counts->end() ? 0 : found->second;
  }

  std::string RawOf(std::string_view type, std::string_view id) {
    auto stored = store_->GetResource("site-a", type, id);
    EXPECT_TRUE(stored) << stored.error().diagnostic;
    if (!stored || !*stored) return "<absent>";
    return (*stored)->deleted ? "<deleted>" : (*stored)->raw;
  }

  Backend backend_;
  std::unique_ptr<ReplicaStore> store_;
};

struct BackendName {
  template <typename Backend>
  static std::string GetName(int /*index*/) {
    return Backend::kName;
  }
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
TYPED_TEST_SUITE(ReplicaStoreTest, Backends, BackendName);

TYPED_TEST(ReplicaStoreTest, MigratesFromEmptyAndAgainWithoutChange) {
  auto status = this->store_->Migrate();
  ASSERT_TRUE(status) << status.error().diagnostic;
  EXPECT_EQ(status->version, status->latest_version);
  EXPECT_GE(status->version, 1);

  // A second process opening the same database finds it migrated and keeps its data.
  this->Write(MakePage({Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z")}));
  auto another = this->OpenAnother();
  ASSERT_NE(another, nullptr);
  auto again = another->Migrate();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->version, status->version);
  EXPECT_EQ(this->Count("Patient"), 1);
}

TYPED_TEST(ReplicaStoreTest, StoresRawBytesWithIdentityHashAndCorrelation) {
  const std::string patient =
      Resource("Patient", "p1", "3", "2026-02-03T04:05:06.789+01:00", R"(,"gender":"female")");
  const std::string encounter = Resource("Encounter", "e1", "1", "2026-02-03T00:00:00Z");
  const PageOutcome outcome = this->Write(MakePage({patient, encounter}));
  EXPECT_EQ(outcome.stored, 2);
  EXPECT_EQ(outcome.unchanged, 0);

  auto stored = this->store_->GetResource("site-a", "Patient", "p1");
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->raw, patient);
  EXPECT_EQ((*stored)->version_id, "3");
  EXPECT_EQ((*stored)->last_updated, "2026-02-03T04:05:06.789+01:00");
  EXPECT_EQ((*stored)->content_hash, base::Sha256Hex(patient));
  EXPECT_EQ((*stored)->correlation_id, "corr-1");
  EXPECT_EQ((*stored)->fetched_at, 1'700'000'000'000'000);
  EXPECT_FALSE((*stored)->deleted);

  // Sites are kept apart.
  EXPECT_EQ(this->Count("Patient", "site-b"), 0);
  auto versions = this->store_->ListVersions("site-a", "Encounter");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].id, "e1");
  EXPECT_EQ((*versions)[0].version_id, "1");
}

TYPED_TEST(ReplicaStoreTest, SamePageTwiceStoresOnce) {
  const Page page = MakePage({Resource("Observation", "o1", "1", "2026-01-01T00:00:00Z"),
                              Resource("Observation", "o2", "1", "2026-01-01T00:00:00Z")});
  EXPECT_EQ(this->Write(page).stored, 2);
  const PageOutcome again = this->Write(page);
  EXPECT_EQ(again.stored, 0);
  EXPECT_EQ(again.unchanged, 2);
  EXPECT_EQ(this->Count("Observation"), 2);
}

TYPED_TEST(ReplicaStoreTest, OlderVersionNeverOverwritesNewer) {
  const std::string v1 = Resource("Condition", "c1", "1", "2026-01-01T00:00:00Z");
  const std::string v2 = Resource("Condition", "c1", "2", "2026-01-02T00:00:00Z");
  const std::string v3 = Resource("Condition", "c1", "3", "2026-01-03T00:00:00Z");
  this->Write(MakePage({v2}));
  EXPECT_EQ(this->Write(MakePage({v1})).unchanged, 1);
  EXPECT_EQ(this->RawOf("Condition", "c1"), v2);

  // Within one page too, the newest copy wins whatever the order.
  EXPECT_EQ(this->Write(MakePage({v3, v1})).stored, 1);
  EXPECT_EQ(this->RawOf("Condition", "c1"), v3);
  EXPECT_EQ(this->Count("Condition"), 1);
}

TYPED_TEST(ReplicaStoreTest, UnversionedResourceIsReplacedWhenItsContentChanges) {
  const std::string first = R"({"resourceType":"Patient","id":"p9","gender":"male"})";
  const std::string second = R"({"resourceType":"Patient","id":"p9","gender":"female"})";
  this->Write(MakePage({first}));
  EXPECT_EQ(this->Write(MakePage({first})).unchanged, 1);
  EXPECT_EQ(this->Write(MakePage({second})).stored, 1);
  EXPECT_EQ(this->RawOf("Patient", "p9"), second);
}

TYPED_TEST(ReplicaStoreTest, TombstoneRemovesAndALaterVersionRevives) {
  this->Write(MakePage(
      {Resource("Observation", "o1", "1", "2026-01-01T00:00:00Z", R"(,"status":"final")")}));
  ASSERT_TRUE(this->store_->GetClinicalRow("site-a", "Observation", "o1").value());

  Page deletion = MakePage({});
  deletion.tombstones.push_back({"Observation", "o1", "2", 1'767'312'000'000'000});  // 2026-01-02
  EXPECT_EQ(this->Write(deletion).tombstoned, 1);
  EXPECT_EQ(this->RawOf("Observation", "o1"), "<deleted>");
  EXPECT_EQ(this->Count("Observation"), 0);
  EXPECT_FALSE(this->store_->GetClinicalRow("site-a", "Observation", "o1").value());
  auto tombstones = this->store_->ListTombstones("site-a", "Observation");
  ASSERT_TRUE(tombstones);
  ASSERT_EQ(tombstones->size(), 1u);
  EXPECT_EQ((*tombstones)[0].version_id, "2");

  // The same deletion again changes nothing; the deleted version re-fetched does not revive it.
  EXPECT_EQ(this->Write(deletion).tombstoned, 0);
  this->Write(MakePage({Resource("Observation", "o1", "1", "2026-01-01T00:00:00Z")}));
  EXPECT_EQ(this->RawOf("Observation", "o1"), "<deleted>");

  const std::string revived = Resource("Observation", "o1", "3", "2026-01-03T00:00:00Z");
  EXPECT_EQ(this->Write(MakePage({revived})).stored, 1);
  EXPECT_EQ(this->RawOf("Observation", "o1"), revived);

  // A deletion older than the current version does not remove it.
  Page stale = MakePage({});
  stale.tombstones.push_back({"Observation", "o1", "2", 1'767'312'000'000'000});
  EXPECT_EQ(this->Write(stale).tombstoned, 0);
  EXPECT_EQ(this->RawOf("Observation", "o1"), revived);
}

TYPED_TEST(ReplicaStoreTest, PatientReferencesOfATypesLiveRows) {
  const auto observation = [](std::string_view id, std::string_view subject) {
    return Resource("Observation", id, "1", "2026-01-01T00:00:00Z",
                    subject.empty()
                        ? std::string()
                        : R"(,"subject":{"reference":")" + std::string(subject) + R"("})");
  };
  this->Write(MakePage({observation("o2", "https://fhir.example.org/R4/Patient/p1"),
                        observation("o1", "Patient/p1"), observation("o3", ""),
                        observation("o4", "Patient/p2")}));
  this->Write(MakePage({observation("o9", "Patient/p1")}, "site-b"));
  Page deletion = MakePage({});
  deletion.tombstones.push_back({"Observation", "o4", "2", 1'767'312'000'000'000});
  this->Write(deletion);
  // A type without a clinical view has no normalised reference.
  this->Write(MakePage({Resource("QuestionnaireResponse", "q1", "1", "2026-01-01T00:00:00Z",
                                 R"(,"subject":{"reference":"Patient/p2"})")}));

  auto rows = this->store_->ListPatientReferences("site-a", "Observation");
  ASSERT_TRUE(rows) << rows.error().diagnostic;
  std::vector<std::pair<std::string, std::optional<std::string>>> found;
  for (const PatientReferenceRow& row : *rows) found.emplace_back(row.id, row.patient_reference);
  const std::vector<std::pair<std::string, std::optional<std::string>>> expected{
      {"o1", "Patient/p1"}, {"o2", "https://fhir.example.org/R4/Patient/p1"}, {"o3", std::nullopt}};
  EXPECT_EQ(found, expected);

  auto questionnaires = this->store_->ListPatientReferences("site-a", "QuestionnaireResponse");
  ASSERT_TRUE(questionnaires);
  ASSERT_EQ(questionnaires->size(), 1u);
  EXPECT_FALSE((*questionnaires)[0].patient_reference);
  EXPECT_TRUE(this->store_->ListPatientReferences("site-c", "Observation")->empty());
}

TYPED_TEST(ReplicaStoreTest, NormalisesClinicalTypesAndKeepsMessyOnes) {
  const std::string observation = Resource(
      "Observation", "o1", "1", "2026-01-01T00:00:00Z",
      R"(,"status":"final","category":[{"coding":[{"code":"vital-signs"}]}],)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
      R"("subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},)"
      R"("effectiveDateTime":"2025-12-31T10:00:00Z","valueQuantity":{"value":72,"unit":"/min"})");
  // Wrong shapes everywhere: code is a string, subject a number, no status.
  const std::string messy =
      Resource("Observation", "o2", "1", "2026-01-01T00:00:00Z",
               R"(,"code":"8867-4","subject":7,"effectiveDateTime":"last Tuesday")");
  const std::string patient = Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z",
                                       R"(,"active":true,"gender":"other","birthDate":"1970")");
  const PageOutcome outcome = this->Write(MakePage({observation, messy, patient}));
  EXPECT_EQ(outcome.stored, 3);
  EXPECT_EQ(outcome.malformed, 0);

  auto row = this->store_->GetClinicalRow("site-a", "Observation", "o1");
  ASSERT_TRUE(row && *row) << (row ? "" : row.error().diagnostic);
  const fhir::ClinicalView& view = (*row)->view;
  EXPECT_EQ(view.status, "final");
  EXPECT_EQ(view.category, "vital-signs");
  EXPECT_EQ(view.code_system, "http://loinc.org");
  EXPECT_EQ(view.code, "8867-4");
  EXPECT_EQ(view.patient_reference, "Patient/p1");
  EXPECT_EQ(view.encounter_reference, "Encounter/e1");
  EXPECT_EQ(view.effective, "2025-12-31T10:00:00Z");
  EXPECT_EQ(view.effective_us, 1'767'175'200'000'000);
  EXPECT_EQ(view.value_number, 72.0);
  EXPECT_EQ(view.value_unit, "/min");

  auto messy_row = this->store_->GetClinicalRow("site-a", "Observation", "o2");
  ASSERT_TRUE(messy_row && *messy_row);
  EXPECT_FALSE((*messy_row)->view.code);
  EXPECT_FALSE((*messy_row)->view.patient_reference);
  EXPECT_FALSE((*messy_row)->view.status);
  EXPECT_EQ((*messy_row)->view.effective, "last Tuesday");
  EXPECT_FALSE((*messy_row)->view.effective_us);
  EXPECT_EQ(this->RawOf("Observation", "o2"), messy);

  auto patient_row = this->store_->GetClinicalRow("site-a", "Patient", "p1");
  ASSERT_TRUE(patient_row && *patient_row);
  EXPECT_EQ((*patient_row)->view.status, "active");
  EXPECT_EQ((*patient_row)->view.gender, "other");
  EXPECT_EQ((*patient_row)->view.birth_date, "1970");
}

TYPED_TEST(ReplicaStoreTest, MalformedResourcesAreKeptRawAndCountedOnce) {
  const Page page = MakePage({"{not json", R"({"resourceType":"Patient"})", "[1,2]",
                              Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z")});
  const PageOutcome outcome = this->Write(page);
  EXPECT_EQ(outcome.malformed, 3);
  EXPECT_EQ(outcome.stored, 1);
  EXPECT_EQ(this->store_->CountMalformed("site-a").value(), 3);
  this->Write(page);
  EXPECT_EQ(this->store_->CountMalformed("site-a").value(), 3);
  EXPECT_EQ(this->Count("Patient"), 1);
}

TYPED_TEST(ReplicaStoreTest, CheckpointMovesWithItsPage) {
  Page page = MakePage({Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z")});
  page.checkpoint = Checkpoint{{"site-a", "Patient", ""}, R"({"since":"2026-01-01"})", 0, {}};
  this->Write(page);
  Page patient_context = MakePage({});
  patient_context.checkpoint =
      Checkpoint{{"site-a", "Observation", "Patient/p1"}, R"({"page":2})", 0, {}};
  this->Write(patient_context);

  auto checkpoint = this->store_->GetCheckpoint({"site-a", "Patient", ""});
  ASSERT_TRUE(checkpoint && *checkpoint);
  EXPECT_EQ((*checkpoint)->state, R"({"since":"2026-01-01"})");
  EXPECT_GT((*checkpoint)->updated_at, 0);
  auto listed = this->store_->ListCheckpoints("site-a");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].key.resource_type, "Observation");
  EXPECT_EQ((*listed)[0].key.context_key, "Patient/p1");
  EXPECT_FALSE(this->store_->GetCheckpoint({"site-b", "Patient", ""}).value());

  ASSERT_TRUE(this->store_->PutCheckpoint({{"site-a", "Patient", ""}, R"({"reset":true})", 0, {}}));
  EXPECT_EQ(this->store_->GetCheckpoint({"site-a", "Patient", ""}).value()->state,
            R"({"reset":true})");
  const auto refused = this->store_->PutCheckpoint({{"site-a", "Patient", ""}, "{", 0, {}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kInvalidParameter);
}

TYPED_TEST(ReplicaStoreTest, AFailureMidPageKeepsNothingAndTheCheckpointStays) {
  Page first = MakePage({Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z")});
  first.checkpoint = Checkpoint{{"site-a", "Patient", ""}, R"({"page":1})", 0, {}};
  this->Write(first);

  // Resources and tombstones are written before the checkpoint, which then fails.
  Page second = MakePage({Resource("Patient", "p2", "1", "2026-01-01T00:00:00Z"),
                          Resource("Patient", "p1", "2", "2026-01-02T00:00:00Z"), "{bad"});
  second.tombstones.push_back({"Patient", "p1", "", 1'800'000'000'000'000});
  second.checkpoint = Checkpoint{{"site-a", "Patient", ""}, R"({"page":2)", 0, {}};
  const auto failed = this->store_->WritePage(second);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, base::ErrorCode::kInvalidParameter);

  EXPECT_EQ(this->Count("Patient"), 1);
  EXPECT_EQ(this->RawOf("Patient", "p1"), Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z"));
  EXPECT_EQ(this->store_->CountMalformed("site-a").value(), 0);
  EXPECT_TRUE(this->store_->ListTombstones("site-a", "Patient").value().empty());
  EXPECT_EQ(this->store_->GetCheckpoint({"site-a", "Patient", ""}).value()->state, R"({"page":1})");

  // The store is usable at once, and the same page with a good checkpoint goes in whole.
  second.checkpoint->state = R"({"page":2})";
  const auto retried = this->store_->WritePage(second);
  ASSERT_TRUE(retried) << retried.error().diagnostic;
  EXPECT_EQ(this->Count("Patient"), 1);  // p2 stored, p1 deleted by the tombstone
  EXPECT_EQ(this->store_->GetCheckpoint({"site-a", "Patient", ""}).value()->state, R"({"page":2})");
}

TYPED_TEST(ReplicaStoreTest, RejectsAPageItCannotWriteBeforeWritingAnything) {
  Page no_site = MakePage({Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z")});
  no_site.site.clear();
  EXPECT_EQ(this->store_->WritePage(no_site).error().code, base::ErrorCode::kInvalidParameter);

  Page other_site = MakePage({Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z")});
  other_site.checkpoint = Checkpoint{{"site-b", "Patient", ""}, "{}", 0, {}};
  EXPECT_EQ(this->store_->WritePage(other_site).error().code, base::ErrorCode::kInvalidParameter);
  EXPECT_EQ(this->Count("Patient"), 0);
}

TYPED_TEST(ReplicaStoreTest, SyncRunsCountTheirPages) {
  auto run = this->store_->StartSyncRun("site-a");
  ASSERT_TRUE(run) << run.error().diagnostic;
  Page page = MakePage({Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z"), "nope"});
  page.sync_run_id = *run;
  page.checkpoint = Checkpoint{{"site-a", "Patient", ""}, "{}", 0, {}};
  this->Write(page);
  this->Write(page);
  ASSERT_TRUE(this->store_->FinishSyncRun(*run, SyncRunStatus::kSucceeded, ""));

  auto read = this->store_->GetSyncRun(*run);
  ASSERT_TRUE(read && *read);
  EXPECT_EQ((*read)->site, "site-a");
  EXPECT_EQ((*read)->status, SyncRunStatus::kSucceeded);
  EXPECT_EQ((*read)->pages, 2);
  EXPECT_EQ((*read)->stored, 1);
  EXPECT_EQ((*read)->unchanged, 1);
  EXPECT_EQ((*read)->malformed, 2);
  EXPECT_TRUE((*read)->finished_at);
  EXPECT_EQ(this->store_->GetCheckpoint({"site-a", "Patient", ""}).value()->sync_run_id, *run);

  // A finished run takes no more pages, and finishes once.
  const auto late = this->store_->WritePage(page);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, base::ErrorCode::kInvalidParameter);
  EXPECT_EQ(this->store_->GetSyncRun(*run).value()->pages, 2);
  EXPECT_EQ(this->store_->FinishSyncRun(*run, SyncRunStatus::kFailed, "x").error().code,
            base::ErrorCode::kInvalidParameter);
  EXPECT_EQ(this->store_->FinishSyncRun(*run + 1000, SyncRunStatus::kFailed, "x").error().code,
            base::ErrorCode::kNotFound);
  EXPECT_FALSE(this->store_->GetSyncRun(*run + 1000).value());
}

TYPED_TEST(ReplicaStoreTest, ContentHashesAnswerHasThisChanged) {
  const std::string p1 = Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z");
  const std::string p2 = R"({"resourceType":"Patient","id":"p\"2"})";
  this->Write(MakePage({p1, p2}));
  const std::vector<std::string> ids = {"p1", "p\"2", "missing"};
  auto hashes = this->store_->GetContentHashes("site-a", "Patient", ids);
  ASSERT_TRUE(hashes) << hashes.error().diagnostic;
  ASSERT_EQ(hashes->size(), 2u);
  EXPECT_EQ(hashes->at("p1"), base::Sha256Hex(p1));
  EXPECT_EQ(hashes->at("p\"2"), base::Sha256Hex(p2));
}

// A writer killed with SIGKILL at an arbitrary moment leaves every page either whole, with its
// checkpoint, or absent; a new process resumes from the checkpoint.
TYPED_TEST(ReplicaStoreTest, WriterKilledMidRunLeavesWholePagesAndResumes) {
  constexpr int kPerPage = 50;
  const auto page_of = [](int number) {
    std::vector<std::string> resources;
    for (int i = 0; i < kPerPage; ++i) {
      resources.push_back(Resource("Observation",
                                   "o" + std::to_string(number) + "-" + std::to_string(i), "1",
                                   "2026-01-01T00:00:00Z", R"(,"status":"final")"));
    }
    return resources;
  };
  const auto write_page = [&](ReplicaStore& store, int number) {
    const std::vector<std::string> resources = page_of(number);
    Page page = MakePage(resources);
    page.checkpoint = Checkpoint{
        {"site-a", "Observation", ""}, R"({"page":)" + std::to_string(number) + "}", 0, {}};
    return store.WritePage(page);
  };

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child uses a connection of its own and never returns into the test framework.
    auto store = this->backend_.Open();
    if (!store) _exit(2);
    for (int number = 1; number <= 100000; ++number) {
      if (!write_page(**store, number)) _exit(3);
    }
    _exit(0);
  }

  // Kill it once a few pages are in, while it is writing more.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    auto checkpoint = this->store_->GetCheckpoint({"site-a", "Observation", ""});
    ASSERT_TRUE(checkpoint) << checkpoint.error().diagnostic;
    if (*checkpoint && std::stoi((*checkpoint)->state.substr(8)) >= 5) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the writer made no progress";
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer ended before it was killed";

  this->store_.reset();
  auto reopened = this->backend_.Open();
  ASSERT_TRUE(reopened) << reopened.error().diagnostic;
  auto checkpoint = (*reopened)->GetCheckpoint({"site-a", "Observation", ""});
  ASSERT_TRUE(checkpoint && *checkpoint);
  const int last_page = std::stoi((*checkpoint)->state.substr(8));
  auto counts = (*reopened)->CountResources("site-a");
  ASSERT_TRUE(counts);
  EXPECT_EQ((*counts)["Observation"], std::int64_t{last_page} * kPerPage);
  auto versions = (*reopened)->ListVersions("site-a", "Observation");
  ASSERT_TRUE(versions);
  std::set<std::string> ids;
  for (const VersionEntry& entry : *versions) ids.insert(entry.id);
  for (int number = 1; number <= last_page; ++number) {
    for (int i = 0; i < kPerPage; ++i) {
      ASSERT_TRUE(ids.contains("o" + std::to_string(number) + "-" + std::to_string(i)))
          << "page " << number << " is incomplete";
    }
  }

  // Resuming writes the next page on top.
  ASSERT_TRUE(write_page(**reopened, last_page + 1));
  EXPECT_EQ((*reopened)->CountResources("site-a").value()["Observation"],
            std::int64_t{last_page + 1} * kPerPage);
}

TYPED_TEST(ReplicaStoreTest, WorkItemsAreAddedOnceAndRequeuedAfterTheyEnd) {
  auto first = this->store_->AddWorkItem({"site-a", "Patient", ""});
  ASSERT_TRUE(first) << first.error().diagnostic;
  EXPECT_EQ(this->store_->AddWorkItem({"site-a", "Patient", ""}).value(), *first);
  ASSERT_TRUE(this->store_->AddWorkItem({"site-a", "Observation", "cohort-1"}));

  auto lease = this->store_->Lease("worker-1", 10s);
  ASSERT_TRUE(lease && *lease);
  EXPECT_EQ((*lease)->item_id, *first);
  EXPECT_EQ((*lease)->key.resource_type, "Patient");
  // Adding a leased item leaves it leased.
  EXPECT_EQ(this->store_->AddWorkItem({"site-a", "Patient", ""}).value(), *first);
  EXPECT_EQ(this->store_->GetWorkItem(*first).value()->state, WorkItemState::kLeased);

  ASSERT_TRUE(this->store_->CompleteWorkItem(**lease));
  EXPECT_EQ(this->store_->GetWorkItem(*first).value()->state, WorkItemState::kDone);
  EXPECT_EQ(this->store_->AddWorkItem({"site-a", "Patient", ""}).value(), *first);
  EXPECT_EQ(this->store_->GetWorkItem(*first).value()->state, WorkItemState::kPending);
}

TYPED_TEST(ReplicaStoreTest, LeasesHeartbeatsAndFailures) {
  ASSERT_TRUE(this->store_->AddWorkItem({"site-a", "Patient", ""}));
  ASSERT_TRUE(this->store_->AddWorkItem({"site-a", "Encounter", ""}));
  auto a = this->store_->Lease("worker-a", 10s);
  auto b = this->store_->Lease("worker-b", 10s);
  ASSERT_TRUE(a && *a && b && *b);
  EXPECT_NE((*a)->item_id, (*b)->item_id);
  EXPECT_FALSE(this->store_->Lease("worker-c", 10s).value());

  auto extended = this->store_->Heartbeat(**a, 60s);
  ASSERT_TRUE(extended) << extended.error().diagnostic;
  EXPECT_GT(extended->expires_at, (*a)->expires_at);

  ASSERT_TRUE(this->store_->FailWorkItem(**b, "kRetriesExhausted", true));
  auto item = this->store_->GetWorkItem((*b)->item_id).value();
  EXPECT_EQ(item->state, WorkItemState::kPending);
  EXPECT_EQ(item->last_error, "kRetriesExhausted");
  EXPECT_EQ(item->attempts, 1);
  // The failed holder's lease is over.
  EXPECT_EQ(this->store_->Heartbeat(**b, 10s).error().code, base::ErrorCode::kLeaseLost);

  auto again = this->store_->Lease("worker-c", 10s);
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->item_id, (*b)->item_id);
  EXPECT_EQ(this->store_->GetWorkItem((*b)->item_id).value()->attempts, 2);
  ASSERT_TRUE(this->store_->FailWorkItem(**again, "kRemoteRejected", false));
  EXPECT_EQ(this->store_->GetWorkItem((*b)->item_id).value()->state, WorkItemState::kFailed);
  EXPECT_FALSE(this->store_->Lease("worker-c", 10s).value());
}

TYPED_TEST(ReplicaStoreTest, AnExpiredLeaseIsTakenOverAndTheOldHolderLosesIt) {
  ASSERT_TRUE(this->store_->AddWorkItem({"site-a", "Patient", ""}));
  auto dead = this->store_->Lease("worker-dead", 200ms);
  ASSERT_TRUE(dead && *dead);
  auto other = this->OpenAnother();
  ASSERT_NE(other, nullptr);
  EXPECT_FALSE(other->Lease("worker-live", 10s).value());

  std::this_thread::sleep_for(300ms);
  auto taken = other->Lease("worker-live", 10s);
  ASSERT_TRUE(taken && *taken);
  EXPECT_EQ((*taken)->item_id, (*dead)->item_id);
  EXPECT_GT((*taken)->token, (*dead)->token);

  EXPECT_EQ(this->store_->Heartbeat(**dead, 10s).error().code, base::ErrorCode::kLeaseLost);
  EXPECT_EQ(this->store_->CompleteWorkItem(**dead).error().code, base::ErrorCode::kLeaseLost);
  EXPECT_EQ(this->store_->FailWorkItem(**dead, "", true).error().code, base::ErrorCode::kLeaseLost);
  ASSERT_TRUE(other->CompleteWorkItem(**taken));
  auto item = other->GetWorkItem((*taken)->item_id).value();
  EXPECT_EQ(item->state, WorkItemState::kDone);
  EXPECT_EQ(item->holder, "worker-live");
}

TYPED_TEST(ReplicaStoreTest, APageFencedByALostLeaseWritesNothing) {
  ASSERT_TRUE(this->store_->AddWorkItem({"site-a", "Patient", ""}));
  auto stalled = this->store_->Lease("worker-stalled", 200ms);
  ASSERT_TRUE(stalled && *stalled);
  const LeaseFence stalled_fence{(*stalled)->item_id, (*stalled)->token};

  Page held = MakePage({Resource("Patient", "p1", "1", "2026-01-01T00:00:00Z")});
  held.checkpoint = Checkpoint{{"site-a", "Patient", ""}, R"({"page":1})", 0, {}};
  held.lease_fence = stalled_fence;
  EXPECT_EQ(this->Write(held).stored, 1);

  // Expired but not yet taken over, then taken over: either way the page is refused whole.
  std::this_thread::sleep_for(300ms);
  Page late = MakePage({Resource("Patient", "p2", "1", "2026-01-02T00:00:00Z")});
  late.checkpoint = Checkpoint{{"site-a", "Patient", ""}, R"({"page":2})", 0, {}};
  late.lease_fence = stalled_fence;
  auto refused = this->store_->WritePage(late);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kLeaseLost);

  auto other = this->OpenAnother();
  ASSERT_NE(other, nullptr);
  auto taken = other->Lease("worker-live", 10s);
  ASSERT_TRUE(taken && *taken);
  refused = this->store_->WritePage(late);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kLeaseLost);
  EXPECT_EQ(this->Count("Patient"), 1);
  EXPECT_EQ(this->store_->GetCheckpoint({"site-a", "Patient", ""}).value()->state, R"({"page":1})");

  late.lease_fence = LeaseFence{(*taken)->item_id, (*taken)->token};
  auto written = other->WritePage(late);
  ASSERT_TRUE(written) << written.error().diagnostic;
  EXPECT_EQ(this->Count("Patient"), 2);
  EXPECT_EQ(this->store_->GetCheckpoint({"site-a", "Patient", ""}).value()->state, R"({"page":2})");
}

TYPED_TEST(ReplicaStoreTest, TwoWorkersNeverHoldTheSameItemAtOnce) {
  constexpr int kItems = 120;
  for (int i = 0; i < kItems; ++i) {
    ASSERT_TRUE(this->store_->AddWorkItem(
        {"site-" + std::to_string(i % 7), "Patient", "cohort-" + std::to_string(i)}));
  }
  std::vector<std::atomic<int>> holders(kItems + 1);
  std::vector<std::atomic<int>> completions(kItems + 1);
  std::atomic<int> overlaps{0};
  std::atomic<int> errors{0};

  const auto work = [&](std::string worker) {
    auto store = this->OpenAnother();
    if (!store) {
      ++errors;
      return;
    }
    for (;;) {
      auto lease = store->Lease(worker, 30s);
      if (!lease) {
        ++errors;
        return;
      }
      if (!*lease) return;
      const auto index = static_cast<std::size_t>((*lease)->item_id % (kItems + 1));
      if (holders[index].fetch_add(1) != 0) ++overlaps;
      std::this_thread::sleep_for(200us);
      holders[index].fetch_sub(1);
      if (!store->CompleteWorkItem(**lease)) ++errors;
      ++completions[index];
    }
  };
  std::thread first(work, "worker-1");
  std::thread second(work, "worker-2");
  first.join();
  second.join();

  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  int total = 0;
  for (const auto& count : completions) {
    EXPECT_LE(count.load(), 1);
    total += count.load();
  }
  EXPECT_EQ(total, kItems);
}

TYPED_TEST(ReplicaStoreTest, SiteBudgetIsSharedByEveryConnection) {
  ASSERT_TRUE(this->store_->ConfigureSiteBudget("site-a", 50, 0));
  std::atomic<int> granted{0};
  std::atomic<int> errors{0};
  const auto take = [&] {
    auto store = this->OpenAnother();
    if (!store) {
      ++errors;
      return;
    }
    for (int i = 0; i < 60; ++i) {
      auto acquired = store->TryAcquireBudget("site-a", 1);
      if (!acquired) {
        ++errors;
      } else if (*acquired) {
        ++granted;
      }
    }
  };
  std::thread first(take);
  std::thread second(take);
  first.join();
  second.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(granted.load(), 50);
  EXPECT_FALSE(this->store_->TryAcquireBudget("site-a", 1).value());

  const auto unknown = this->store_->TryAcquireBudget("site-z", 1);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(this->store_->ConfigureSiteBudget("site-a", 0, 1).error().code,
            base::ErrorCode::kInvalidParameter);
}

TYPED_TEST(ReplicaStoreTest, SiteBudgetRefillsOverTime) {
  ASSERT_TRUE(this->store_->ConfigureSiteBudget("site-a", 5, 50));
  EXPECT_TRUE(this->store_->TryAcquireBudget("site-a", 5).value());
  EXPECT_FALSE(this->store_->TryAcquireBudget("site-a", 5).value());
  std::this_thread::sleep_for(150ms);  // refills 7.5, capped at 5
  EXPECT_TRUE(this->store_->TryAcquireBudget("site-a", 5).value());
}

TEST(SqliteReplicaStoreTest, CreatesItsFileReadableByTheOwnerOnly) {
  SqliteBackend backend;
  backend.SetUp();
  {
    auto store = backend.Open();
    ASSERT_TRUE(store) << store.error().diagnostic;
    EXPECT_EQ((*store)->backend(), "sqlite");
  }
  struct stat info {};
  ASSERT_EQ(stat(backend.path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  backend.TearDown();
}

TEST(SqliteReplicaStoreTest, PerTypeViewsShowTheNormalisedColumnsOfCurrentResources) {
  SqliteBackend backend;
  backend.SetUp();
  {
    auto store = backend.Open();
    ASSERT_TRUE(store) << store.error().diagnostic;
    const std::string observation =
        Resource("Observation", "o1", "1", "2026-01-01T00:00:00Z",
                 R"(,"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
                 R"("valueQuantity":{"value":72.5,"unit":"/min"})");
    const std::string condition = Resource("Condition", "c1", "1", "2026-01-01T00:00:00Z");
    Page page = MakePage({observation, condition});
    page.tombstones.push_back({"Condition", "c1", "2", 1'800'000'000'000'000});
    ASSERT_TRUE((*store)->WritePage(page));
  }
  auto database = Database::Open(backend.path().string());
  ASSERT_TRUE(database);
  auto query = database->Prepare("SELECT code_system, code, value_number FROM observation_view");
  ASSERT_TRUE(query);
  ASSERT_TRUE(query->Step().value());
  EXPECT_EQ(query->ColumnText(0), "http://loinc.org");
  EXPECT_EQ(query->ColumnText(1), "8867-4");
  EXPECT_EQ(query->ColumnDouble(2), 72.5);
  EXPECT_FALSE(query->Step().value());
  auto deleted = database->Prepare("SELECT count(*) FROM condition_view");
  ASSERT_TRUE(deleted && deleted->Step().value());
  EXPECT_EQ(deleted->ColumnInt64(0), 0);
  KeptTexts().clear();
  backend.TearDown();
}

TEST(OpenReplicaStoreTest, ChoosesTheBackendFromTheLocation) {
  auto memory = OpenReplicaStore({"sqlite::memory:", ""});
  ASSERT_TRUE(memory) << memory.error().diagnostic;
  EXPECT_EQ((*memory)->backend(), "sqlite");
  const auto unknown = OpenReplicaStore({"ftp://example", ""});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, base::ErrorCode::kConfigInvalid);
  const auto unreachable = OpenReplicaStore({"host=/nonexistent-socket-dir user=nobody", ""});
  ASSERT_FALSE(unreachable);
  EXPECT_EQ(unreachable.error().code, base::ErrorCode::kStorageFailure);
}

}  // namespace
}  // namespace fhirbridge::store
