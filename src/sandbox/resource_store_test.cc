#include "sandbox/resource_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using Json = nlohmann::json;

IdGenerator CountingIds() {
  return [next = 0]() mutable { return "id-" + std::to_string(++next); };
}

std::unique_ptr<ResourceStore> OpenInMemory(IdGenerator ids = CountingIds()) {
  auto store = ResourceStore::Open(":memory:", std::move(ids));
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  return std::move(*store);
}

Json Patient(std::string_view family, Json identifiers = Json::array()) {
  return Json{{"resourceType", "Patient"},
              {"name", Json::array({{{"family", family}}})},
              {"identifier", std::move(identifiers)}};
}

Json Identifier(std::optional<std::string> system, std::string value) {
  Json identifier{{"value", std::move(value)}};
  if (system.has_value()) identifier["system"] = *system;
  return identifier;
}

StoredVersion CreatePatient(ResourceStore& store, const Json& resource) {
  auto transaction = store.Begin();
  EXPECT_TRUE(transaction.has_value());
  auto created = (*transaction)->Create("Patient", resource);
  EXPECT_TRUE(created.has_value()) << created.error().ToString();
  EXPECT_TRUE((*transaction)->Commit());
  return *created;
}

base::Result<WriteOutcome> UpdatePatient(ResourceStore& store, const std::string& id,
                                         const Json& resource, bool allow_create = false,
                                         std::optional<std::int64_t> expected = std::nullopt) {
  auto transaction = store.Begin();
  EXPECT_TRUE(transaction.has_value());
  auto outcome = (*transaction)->Update("Patient", id, resource, allow_create, expected);
  if (outcome) {
    EXPECT_TRUE((*transaction)->Commit());
  }
  return outcome;
}

base::Status DeletePatient(ResourceStore& store, const std::string& id) {
  auto transaction = store.Begin();
  EXPECT_TRUE(transaction.has_value());
  auto deleted = (*transaction)->Delete("Patient", id);
  if (deleted) {
    EXPECT_TRUE((*transaction)->Commit());
  }
  return deleted;
}

// GCC 12 warns about designated initializers that leave fields out, so queries are built here.
HistoryQuery Query(std::optional<std::string> type = std::nullopt,
                   std::optional<std::string> id = std::nullopt,
                   std::optional<std::string> since = std::nullopt, std::int64_t count = 100) {
  HistoryQuery query;
  query.type = std::move(type);
  query.id = std::move(id);
  query.since = std::move(since);
  query.count = count;
  return query;
}

base::Result<HistoryPage> History(ResourceStore& store, const HistoryQuery& query) {
  auto transaction = store.Begin();
  EXPECT_TRUE(transaction.has_value());
  return (*transaction)->History(query);
}

std::vector<std::string> Find(ResourceStore& store, const IdentifierCriterion& criterion,
                              std::string_view type = "Patient") {
  auto transaction = store.Begin();
  EXPECT_TRUE(transaction.has_value());
  auto ids = (*transaction)->FindByIdentifier(type, criterion);
  EXPECT_TRUE(ids.has_value()) << ids.error().ToString();
  return ids.value_or(std::vector<std::string>{});
}

// Named after the process too: the temporary folder is shared with test runs of other builds.
std::filesystem::path FreshDirectory(const std::string& name) {
  const auto directory =
      std::filesystem::path(::testing::TempDir()) / (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  return directory;
}

TEST(ResourceStoreTest, CreateAssignsIdAndMetaAndReadsBack) {
  auto store = OpenInMemory();
  Json input = Patient("Chalmers");
  input["id"] = "client-chosen";
  input["meta"] = {{"versionId", "99"}, {"profile", Json::array({"http://example.org/p"})}};

  const StoredVersion created = CreatePatient(*store, input);
  EXPECT_EQ(created.type, "Patient");
  EXPECT_EQ(created.id, "id-1");
  EXPECT_EQ(created.version, 1);
  EXPECT_FALSE(created.deleted);
  EXPECT_EQ(created.last_updated.size(), std::string("2026-12-03T15:52:57.123Z").size());

  const Json body = Json::parse(created.json);
  EXPECT_EQ(body["id"], "id-1");
  EXPECT_EQ(body["meta"]["versionId"], "1");
  EXPECT_EQ(body["meta"]["lastUpdated"], created.last_updated);
  EXPECT_EQ(body["meta"]["profile"][0], "http://example.org/p");
  EXPECT_EQ(body["name"][0]["family"], "Chalmers");

  const auto read = store->Read("Patient", "id-1");
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(read->json, created.json);
  EXPECT_EQ(read->last_updated, created.last_updated);

  const auto version = store->ReadVersion("Patient", "id-1", 1);
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(version->json, created.json);
}

TEST(ResourceStoreTest, ReadsOfUnknownResourcesAndVersionsFailDistinctly) {
  auto store = OpenInMemory();
  CreatePatient(*store, Patient("Chalmers"));

  EXPECT_EQ(store->Read("Patient", "nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->Read("Observation", "id-1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->ReadVersion("Patient", "nope", 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->ReadVersion("Patient", "id-1", 2).error().code, ErrorCode::kVersionNotFound);
}

TEST(ResourceStoreTest, CreateRefusesBodiesOfTheWrongShape) {
  auto store = OpenInMemory();
  auto transaction = store->Begin();
  ASSERT_TRUE(transaction.has_value());
  EXPECT_EQ((*transaction)->Create("Patient", Json::array()).error().code,
            ErrorCode::kInvalidResource);
  EXPECT_EQ((*transaction)->Create("Observation", Patient("Chalmers")).error().code,
            ErrorCode::kWrongResourceType);
}

TEST(ResourceStoreTest, UpdateIncrementsVersionAndKeepsOldVersions) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("Chalmers"));

  const auto updated = UpdatePatient(*store, created.id, Patient("Windsor"));
  ASSERT_TRUE(updated.has_value()) << updated.error().ToString();
  EXPECT_FALSE(updated->created);
  EXPECT_EQ(updated->stored.version, 2);
  EXPECT_EQ(Json::parse(updated->stored.json)["meta"]["versionId"], "2");

  const auto current = store->Read("Patient", created.id);
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(Json::parse(current->json)["name"][0]["family"], "Windsor");
  const auto first = store->ReadVersion("Patient", created.id, 1);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(Json::parse(first->json)["name"][0]["family"], "Chalmers");
}

TEST(ResourceStoreTest, UpdateWithStaleExpectedVersionConflicts) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("Chalmers"));
  ASSERT_TRUE(UpdatePatient(*store, created.id, Patient("Windsor"), false, 1));

  const auto stale = UpdatePatient(*store, created.id, Patient("Stale"), false, 1);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code, ErrorCode::kVersionConflict);
  EXPECT_NE(stale.error().diagnostic.find("expected version 1"), std::string::npos);
  EXPECT_NE(stale.error().diagnostic.find("current version is 2"), std::string::npos);
  EXPECT_EQ(Json::parse(store->Read("Patient", created.id)->json)["name"][0]["family"], "Windsor");
}

TEST(ResourceStoreTest, UpdateCreatesOnlyWhenAllowed) {
  auto store = OpenInMemory();
  const auto refused = UpdatePatient(*store, "chosen", Patient("Chalmers"), false);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->Read("Patient", "chosen").error().code, ErrorCode::kNotFound);

  const auto allowed = UpdatePatient(*store, "chosen", Patient("Chalmers"), true);
  ASSERT_TRUE(allowed.has_value()) << allowed.error().ToString();
  EXPECT_TRUE(allowed->created);
  EXPECT_EQ(allowed->stored.id, "chosen");
  EXPECT_EQ(allowed->stored.version, 1);
  EXPECT_TRUE(store->Read("Patient", "chosen").has_value());
}

TEST(ResourceStoreTest, DeleteLeavesGoneResourceWithReadableHistory) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("Chalmers"));

  ASSERT_TRUE(DeletePatient(*store, created.id));
  EXPECT_EQ(store->Read("Patient", created.id).error().code, ErrorCode::kGone);
  EXPECT_EQ(store->ReadVersion("Patient", created.id, 2).error().code, ErrorCode::kGone);
  const auto old = store->ReadVersion("Patient", created.id, 1);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->json, created.json);

  // Deleting again records nothing new.
  ASSERT_TRUE(DeletePatient(*store, created.id));
  EXPECT_EQ(History(*store, Query("Patient", created.id))->total, 2);

  EXPECT_EQ(DeletePatient(*store, "never").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store->CountByType()->empty());
}

TEST(ResourceStoreTest, UpdateAfterDeleteContinuesVersionNumbers) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("Chalmers"));
  ASSERT_TRUE(DeletePatient(*store, created.id));

  EXPECT_EQ(UpdatePatient(*store, created.id, Patient("Again"), false).error().code,
            ErrorCode::kNotFound);
  const auto revived = UpdatePatient(*store, created.id, Patient("Again"), true);
  ASSERT_TRUE(revived.has_value()) << revived.error().ToString();
  EXPECT_TRUE(revived->created);
  EXPECT_EQ(revived->stored.version, 3);
  EXPECT_TRUE(store->Read("Patient", created.id).has_value());
}

TEST(ResourceStoreTest, HistoryIsNewestFirstWithSinceCountAndTotal) {
  auto store = OpenInMemory();
  const StoredVersion first = CreatePatient(*store, Patient("A"));
  const StoredVersion second = CreatePatient(*store, Patient("B"));
  ASSERT_TRUE(UpdatePatient(*store, first.id, Patient("A2")));
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    ASSERT_TRUE((*transaction)->Create("Observation", Json{{"resourceType", "Observation"}}));
    ASSERT_TRUE((*transaction)->Commit());
  }
  ASSERT_TRUE(DeletePatient(*store, second.id));

  const auto instance = History(*store, Query("Patient", first.id));
  ASSERT_TRUE(instance.has_value()) << instance.error().ToString();
  EXPECT_EQ(instance->total, 2);
  ASSERT_EQ(instance->entries.size(), 2u);
  EXPECT_EQ(instance->entries[0].version, 2);
  EXPECT_EQ(instance->entries[1].version, 1);

  const auto type = History(*store, Query("Patient"));
  ASSERT_TRUE(type.has_value());
  EXPECT_EQ(type->total, 4);
  ASSERT_EQ(type->entries.size(), 4u);
  EXPECT_TRUE(type->entries[0].deleted);
  EXPECT_TRUE(type->entries[0].json.empty());
  EXPECT_EQ(type->entries[0].id, second.id);
  EXPECT_EQ(type->entries[3].id, first.id);
  EXPECT_EQ(type->entries[3].version, 1);

  const auto whole = History(*store, Query({}, {}, {}, 2));
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->total, 5);
  ASSERT_EQ(whole->entries.size(), 2u);
  EXPECT_TRUE(whole->entries[0].deleted);
  EXPECT_EQ(whole->entries[1].type, "Observation");

  // `since` is inclusive: the second resource's creation and everything after it.
  const auto since = History(*store, Query({}, {}, second.last_updated));
  ASSERT_TRUE(since.has_value());
  EXPECT_EQ(since->total, 4);
  EXPECT_EQ(since->entries.back().last_updated, second.last_updated);

  const auto only_total = History(*store, Query("Patient", {}, {}, 0));
  ASSERT_TRUE(only_total.has_value());
  EXPECT_EQ(only_total->total, 4);
  EXPECT_TRUE(only_total->entries.empty());
}

TEST(ResourceStoreTest, HistoryOfUnknownInstanceIsNotFound) {
  auto store = OpenInMemory();
  EXPECT_EQ(History(*store, Query("Patient", "never")).error().code, ErrorCode::kNotFound);
  const auto empty_type = History(*store, Query("Patient"));
  ASSERT_TRUE(empty_type.has_value());
  EXPECT_EQ(empty_type->total, 0);
}

TEST(ResourceStoreTest, FindByIdentifierMatchesSystemAsAsked) {
  auto store = OpenInMemory();
  const StoredVersion with_system = CreatePatient(
      *store, Patient("A", {Identifier("urn:mrn", "123"), Identifier("urn:mrn", "123")}));
  const StoredVersion without_system = CreatePatient(*store, Patient("B", {Identifier({}, "123")}));
  const StoredVersion other_system =
      CreatePatient(*store, Patient("C", {Identifier("urn:other", "123")}));

  EXPECT_EQ(Find(*store, {.system = "urn:mrn", .value = "123"}),
            std::vector<std::string>{with_system.id});
  EXPECT_EQ(Find(*store, {.system = "", .value = "123"}),
            std::vector<std::string>{without_system.id});
  EXPECT_EQ(Find(*store, {.system = std::nullopt, .value = "123"}),
            (std::vector<std::string>{with_system.id, without_system.id, other_system.id}));
  EXPECT_TRUE(Find(*store, {.system = "urn:mrn", .value = "124"}).empty());
  EXPECT_TRUE(Find(*store, {.system = std::nullopt, .value = "123"}, "Practitioner").empty());
}

TEST(ResourceStoreTest, FindByIdentifierFollowsUpdatesAndDeletes) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("A", {Identifier("urn:mrn", "1")}));
  ASSERT_TRUE(UpdatePatient(*store, created.id, Patient("A", {Identifier("urn:mrn", "2")})));

  EXPECT_TRUE(Find(*store, {.system = "urn:mrn", .value = "1"}).empty());
  EXPECT_EQ(Find(*store, {.system = "urn:mrn", .value = "2"}),
            std::vector<std::string>{created.id});

  ASSERT_TRUE(DeletePatient(*store, created.id));
  EXPECT_TRUE(Find(*store, {.system = "urn:mrn", .value = "2"}).empty());
}

TEST(ResourceStoreTest, TransactionWithoutCommitLeavesNothing) {
  auto store = OpenInMemory();
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    const auto created =
        (*transaction)->Create("Patient", Patient("A", {Identifier("urn:mrn", "1")}));
    ASSERT_TRUE(created.has_value());
    // Writes are visible inside the transaction before it ends.
    EXPECT_TRUE((*transaction)->Read("Patient", created->id).has_value());
  }
  EXPECT_EQ(store->Read("Patient", "id-1").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Find(*store, {.system = std::nullopt, .value = "1"}).empty());
  EXPECT_EQ(History(*store, Query())->total, 0);
}

TEST(ResourceStoreTest, CommittedTransactionRefusesFurtherUse) {
  auto store = OpenInMemory();
  auto transaction = store->Begin();
  ASSERT_TRUE(transaction.has_value());
  ASSERT_TRUE((*transaction)->Commit());
  EXPECT_FALSE((*transaction)->Create("Patient", Patient("A")).has_value());
  EXPECT_FALSE((*transaction)->Commit().has_value());
  // The store is free again even though the Transaction object still exists.
  EXPECT_EQ(store->Read("Patient", "id-1").error().code, ErrorCode::kNotFound);
}

TEST(ResourceStoreTest, ClearRemovesEverythingButKeepsWorking) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("A", {Identifier("urn:mrn", "1")}));
  ASSERT_TRUE(UpdatePatient(*store, created.id, Patient("A", {Identifier("urn:mrn", "1")})));

  ASSERT_TRUE(store->Clear());
  EXPECT_EQ(store->Read("Patient", created.id).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Find(*store, {.system = std::nullopt, .value = "1"}).empty());
  EXPECT_EQ(History(*store, Query())->total, 0);
  EXPECT_TRUE(store->CountByType()->empty());

  const StoredVersion after = CreatePatient(*store, Patient("B"));
  EXPECT_EQ(after.version, 1);
  EXPECT_GT(after.last_updated, created.last_updated);
}

TEST(ResourceStoreTest, ClearInsideTransactionIsUndoneByRollback) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("A"));
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    ASSERT_TRUE((*transaction)->Clear());
    EXPECT_EQ((*transaction)->Read("Patient", created.id).error().code, ErrorCode::kNotFound);
  }
  EXPECT_TRUE(store->Read("Patient", created.id).has_value());

  // Clear and reload in one transaction, as a reset to the baseline does.
  auto transaction = store->Begin();
  ASSERT_TRUE(transaction.has_value());
  ASSERT_TRUE((*transaction)->Clear());
  ASSERT_TRUE((*transaction)->Update("Patient", "baseline", Patient("B"), true));
  ASSERT_TRUE((*transaction)->Commit());
  EXPECT_EQ(store->Read("Patient", created.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->Read("Patient", "baseline")->version, 1);
}

TEST(ResourceStoreTest, CountByTypeCountsCurrentResources) {
  auto store = OpenInMemory();
  const StoredVersion first = CreatePatient(*store, Patient("A"));
  CreatePatient(*store, Patient("B"));
  ASSERT_TRUE(UpdatePatient(*store, first.id, Patient("A2")));
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    ASSERT_TRUE((*transaction)->Create("Observation", Json{{"resourceType", "Observation"}}));
    ASSERT_TRUE((*transaction)->Commit());
  }
  ASSERT_TRUE(DeletePatient(*store, first.id));

  const auto counts = store->CountByType();
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(*counts, (std::map<std::string, std::int64_t>{{"Observation", 1}, {"Patient", 1}}));
}

TEST(ResourceStoreTest, CreateRetriesIdsAlreadyInUse) {
  std::vector<std::string> ids = {"a", "a", "b"};
  auto store = OpenInMemory([ids, next = std::size_t{0}]() mutable { return ids[next++]; });
  EXPECT_EQ(CreatePatient(*store, Patient("A")).id, "a");
  EXPECT_EQ(CreatePatient(*store, Patient("B")).id, "b");
}

TEST(ResourceStoreTest, CreateGivesUpOnGeneratorThatOnlyRepeats) {
  auto store = OpenInMemory([] { return std::string("same"); });
  CreatePatient(*store, Patient("A"));
  auto transaction = store->Begin();
  ASSERT_TRUE(transaction.has_value());
  EXPECT_EQ((*transaction)->Create("Patient", Patient("B")).error().code, ErrorCode::kInternal);
}

TEST(ResourceStoreTest, FileStoreSurvivesReopen) {
  const std::string path = (FreshDirectory("resource_store_reopen") / "tenant.db").string();
  StoredVersion created;
  {
    auto store = ResourceStore::Open(path, CountingIds());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    created = CreatePatient(**store, Patient("A", {Identifier("urn:mrn", "1")}));
    ASSERT_TRUE(UpdatePatient(**store, created.id, Patient("A", {Identifier("urn:mrn", "1")})));
  }

  // A fresh generator repeats "id-1"; the store must skip it.
  auto reopened = ResourceStore::Open(path, CountingIds());
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  const auto read = (*reopened)->Read("Patient", created.id);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->version, 2);
  EXPECT_EQ(Find(**reopened, {.system = "urn:mrn", .value = "1"}),
            std::vector<std::string>{created.id});

  const StoredVersion next = CreatePatient(**reopened, Patient("B"));
  EXPECT_EQ(next.id, "id-2");
  EXPECT_GT(next.last_updated, read->last_updated);
}

TEST(ResourceStoreTest, ConcurrentConditionalCreatesYieldOneResource) {
  auto store = OpenInMemory();
  const IdentifierCriterion criterion{.system = "urn:mrn", .value = "shared"};

  const auto conditional_create = [&] {
    for (int i = 0; i < 50; ++i) {
      auto transaction = store->Begin();
      ASSERT_TRUE(transaction.has_value());
      const auto found = (*transaction)->FindByIdentifier("Patient", criterion);
      ASSERT_TRUE(found.has_value());
      if (found->empty()) {
        ASSERT_TRUE(
            (*transaction)->Create("Patient", Patient("A", {Identifier("urn:mrn", "shared")})));
      }
      ASSERT_TRUE((*transaction)->Commit());
    }
  };
  std::thread first(conditional_create);
  std::thread second(conditional_create);
  first.join();
  second.join();

  EXPECT_EQ(Find(*store, criterion).size(), 1u);
  EXPECT_EQ(store->CountByType()->at("Patient"), 1);
}

TEST(ResourceStoreTest, LastUpdatedStrictlyIncreasesAcrossRapidWrites) {
  auto store = OpenInMemory();
  std::string previous;
  for (int i = 0; i < 200; ++i) {
    const StoredVersion created = CreatePatient(*store, Patient("A"));
    EXPECT_GT(created.last_updated, previous);
    previous = created.last_updated;
  }
}

namespace search {

// Criteria and searches are built here for the same reason as HistoryQuery above.
Criterion FamilyStartsWith(std::string prefix) {
  Criterion criterion;
  criterion.parameter = "family";
  criterion.index = SearchIndex::kString;
  criterion.any_of.push_back(StringMatch{StringMatch::Mode::kStartsWith, std::move(prefix)});
  return criterion;
}

Criterion IdentifierIs(std::string system, std::string value) {
  Criterion criterion;
  criterion.parameter = "identifier";
  criterion.index = SearchIndex::kToken;
  criterion.any_of.push_back(TokenMatch{std::move(system), std::move(value)});
  return criterion;
}

StoreSearch PatientsWhere(std::vector<Criterion> criteria, std::int64_t count = 10) {
  StoreSearch query;
  query.type = "Patient";
  query.criteria = std::move(criteria);
  query.count = count;
  return query;
}

std::vector<std::string> Ids(const SearchPage& page) {
  std::vector<std::string> ids;
  for (const StoredVersion& match : page.matches) ids.push_back(match.id);
  return ids;
}

std::vector<std::string> SearchIds(ResourceStore& store, const StoreSearch& query) {
  auto page = store.Search(query);
  EXPECT_TRUE(page.has_value()) << page.error().ToString();
  return page ? Ids(*page) : std::vector<std::string>{};
}

}  // namespace search

TEST(ResourceStoreSearchTest, TheIndexFollowsUpdatesAndDeletes) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("Ahlberg"));
  EXPECT_EQ(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("ahl")})),
            std::vector<std::string>{created.id});

  ASSERT_TRUE(UpdatePatient(*store, created.id, Patient("Berglund")));
  EXPECT_TRUE(
      search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("ahl")})).empty());
  EXPECT_EQ(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("berg")})),
            std::vector<std::string>{created.id});

  ASSERT_TRUE(DeletePatient(*store, created.id));
  EXPECT_TRUE(
      search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("berg")})).empty());
}

TEST(ResourceStoreSearchTest, AWriteThatRollsBackLeavesTheIndexAsItWas) {
  auto store = OpenInMemory();
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    ASSERT_TRUE((*transaction)->Create("Patient", Patient("Rolled")));
  }
  EXPECT_TRUE(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("rolled")}))
                  .empty());
}

TEST(ResourceStoreSearchTest, KeysetPagesNeitherSkipNorRepeatWhenOthersWrite) {
  auto store = OpenInMemory();
  std::vector<std::string> ids;
  for (const char* family : {"Page", "Page", "Page", "Page", "Page"}) {
    ids.push_back(CreatePatient(*store, Patient(family)).id);
  }
  StoreSearch query = search::PatientsWhere({search::FamilyStartsWith("page")}, 2);
  auto first = store->Search(query);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(search::Ids(*first), (std::vector<std::string>{ids[0], ids[1]}));
  EXPECT_EQ(first->total, 5);
  ASSERT_TRUE(first->next.has_value());

  // An offset would now skip ids[2]: one resource before it is gone.
  ASSERT_TRUE(DeletePatient(*store, ids[0]));
  const std::string added = CreatePatient(*store, Patient("Page")).id;
  query.after = first->next;
  auto second = store->Search(query);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(search::Ids(*second), (std::vector<std::string>{ids[2], ids[3]}));
  query.after = second->next;
  auto third = store->Search(query);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(search::Ids(*third), (std::vector<std::string>{ids[4], added}));
  EXPECT_FALSE(third->next.has_value());
}

TEST(ResourceStoreSearchTest, ConditionalCreateFindsIdentifiersThroughTheSearchIndex) {
  auto store = OpenInMemory();
  const StoredVersion created = CreatePatient(*store, Patient("A", {Identifier("urn:mrn", "7")}));
  EXPECT_EQ(
      search::SearchIds(*store, search::PatientsWhere({search::IdentifierIs("urn:mrn", "7")})),
      std::vector<std::string>{created.id});
  EXPECT_EQ(Find(*store, {.system = std::nullopt, .value = "7"}),
            std::vector<std::string>{created.id});
}

TEST(ResourceStoreSearchTest, AStoreOfSchemaOneIsMigratedAndIndexed) {
  const std::string path = (FreshDirectory("resource_store_schema_one") / "tenant.db").string();
  {
    // The tables and one resource as the first version of the store wrote them.
    auto database = store::Database::Open(path);
    ASSERT_TRUE(database.has_value());
    ASSERT_TRUE(database->Execute(R"sql(
      CREATE TABLE resource_versions (seq INTEGER PRIMARY KEY, type TEXT NOT NULL,
        id TEXT NOT NULL, version INTEGER NOT NULL, last_updated TEXT NOT NULL,
        deleted INTEGER NOT NULL, method TEXT NOT NULL, json TEXT NOT NULL,
        UNIQUE (type, id, version));
      CREATE TABLE resource_current (type TEXT NOT NULL, id TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES resource_versions (seq), version INTEGER NOT NULL,
        deleted INTEGER NOT NULL, PRIMARY KEY (type, id)) WITHOUT ROWID;
      CREATE TABLE search_tokens (type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        system TEXT NOT NULL, value TEXT NOT NULL);
      INSERT INTO resource_versions VALUES (1, 'Patient', 'old-1', 1, '2024-01-01T00:00:00.000Z',
        0, 'POST', '{"resourceType":"Patient","id":"old-1","name":[{"family":"Olsen"}]}');
      INSERT INTO resource_current VALUES ('Patient', 'old-1', 1, 1, 0);
      PRAGMA user_version = 1;
    )sql"));
  }
  auto store = ResourceStore::Open(path, CountingIds());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ASSERT_TRUE((*store)->Read("Patient", "old-1").has_value());
  EXPECT_EQ(search::SearchIds(**store, search::PatientsWhere({search::FamilyStartsWith("ols")})),
            std::vector<std::string>{"old-1"});
}

TEST(ResourceStoreSearchTest, AnIndexBuiltFromOtherDefinitionsIsRebuiltOnOpen) {
  const std::string path = (FreshDirectory("resource_store_stale_index") / "tenant.db").string();
  std::string id;
  {
    auto store = ResourceStore::Open(path, CountingIds());
    ASSERT_TRUE(store.has_value());
    id = CreatePatient(**store, Patient("Stale")).id;
  }
  {
    auto database = store::Database::Open(path);
    ASSERT_TRUE(database.has_value());
    ASSERT_TRUE(database->Execute(
        "DELETE FROM search_string; UPDATE store_properties SET value = 'other definitions'"));
  }
  auto store = ResourceStore::Open(path, CountingIds());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ(search::SearchIds(**store, search::PatientsWhere({search::FamilyStartsWith("stale")})),
            std::vector<std::string>{id});
}

namespace bulk {

// A patient with an id, a family name and an identifier, as a bulk load receives it.
Json LoadablePatient(int number) {
  Json patient = Patient(number % 2 == 0 ? "Even" : "Odd",
                         Json::array({Identifier("urn:bulk", "mrn-" + std::to_string(number))}));
  patient["id"] = "p" + std::to_string(number);
  return patient;
}

base::Status Load(Transaction& transaction, int number) {
  fhir::Json patient = LoadablePatient(number);
  auto loaded = transaction.LoadIfAbsent("Patient", patient["id"].get<std::string>(), patient);
  if (!loaded) return base::Fail(loaded.error());
  EXPECT_TRUE(*loaded);
  return {};
}

}  // namespace bulk

TEST(ResourceStoreSearchTest, ABulkLoadIndexesAsOneByOneWritesDo) {
  constexpr int kPatients = 40;
  auto loaded = OpenInMemory();
  auto written = OpenInMemory();
  {
    auto transaction = loaded->Begin();
    ASSERT_TRUE(transaction.has_value());
    for (int number = kPatients; number >= 1; --number) {
      ASSERT_TRUE(bulk::Load(**transaction, number));
    }
    ASSERT_TRUE((*transaction)->Commit());
  }
  for (int number = kPatients; number >= 1; --number) {
    const Json patient = bulk::LoadablePatient(number);
    ASSERT_TRUE(UpdatePatient(*written, patient["id"].get<std::string>(), patient, true));
  }

  for (const char* prefix : {"even", "odd", "e", "x"}) {
    const StoreSearch query =
        search::PatientsWhere({search::FamilyStartsWith(prefix)}, 2 * kPatients);
    EXPECT_EQ(search::SearchIds(*loaded, query), search::SearchIds(*written, query)) << prefix;
  }
  EXPECT_EQ(
      search::SearchIds(*loaded, search::PatientsWhere({search::FamilyStartsWith("odd")}, 100))
          .size(),
      std::size_t{kPatients / 2});
  for (const int number : {1, 17, kPatients}) {
    const std::string value = "mrn-" + std::to_string(number);
    const StoreSearch query = search::PatientsWhere({search::IdentifierIs("urn:bulk", value)});
    EXPECT_EQ(search::SearchIds(*loaded, query),
              std::vector<std::string>{"p" + std::to_string(number)});
    auto transaction = loaded->Begin();
    ASSERT_TRUE(transaction.has_value());
    auto found = (*transaction)->FindByIdentifier("Patient", {"urn:bulk", value});
    ASSERT_TRUE(found.has_value()) << found.error().ToString();
    EXPECT_EQ(*found, std::vector<std::string>{"p" + std::to_string(number)});
  }
}

TEST(ResourceStoreSearchTest, APreparedLoadStoresAndIndexesWhatLoadIfAbsentDoes) {
  constexpr int kPatients = 12;
  auto prepared_store = OpenInMemory();
  auto loaded_store = OpenInMemory();
  std::string prepared_instant;
  std::string loaded_instant;
  {
    auto loaded = loaded_store->Begin();
    ASSERT_TRUE(loaded.has_value());
    for (int number = 1; number <= kPatients; ++number) ASSERT_TRUE(bulk::Load(**loaded, number));
    loaded_instant = *(*loaded)->LoadInstant();
    ASSERT_TRUE((*loaded)->Commit());
  }
  {
    // p3 is deleted before the load, so its prepared version 1 must become version 3.
    auto transaction = prepared_store->Begin();
    ASSERT_TRUE(bulk::Load(**transaction, 3));
    ASSERT_TRUE((*transaction)->Delete("Patient", "p3"));
    ASSERT_TRUE((*transaction)->Commit());
  }
  {
    auto transaction = prepared_store->Begin();
    ASSERT_TRUE(transaction.has_value());
    auto instant = (*transaction)->LoadInstant();
    ASSERT_TRUE(instant.has_value()) << instant.error().ToString();
    prepared_instant = *instant;
    for (int number = 1; number <= kPatients; ++number) {
      fhir::Json patient = bulk::LoadablePatient(number);
      // Every third one is prepared for another moment and must be stamped again.
      const std::string stamp = number % 3 == 0 ? "2020-01-01T00:00:00.000Z" : *instant;
      auto prepared = PrepareLoad("Patient", patient["id"].get<std::string>(), patient, stamp);
      ASSERT_TRUE(prepared.has_value()) << prepared.error().ToString();
      auto stored = (*transaction)->LoadPrepared(*prepared);
      ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
      EXPECT_TRUE(*stored) << number;
    }
    fhir::Json again = bulk::LoadablePatient(5);
    auto present = PrepareLoad("Patient", "p5", again, *instant);
    ASSERT_TRUE(present.has_value());
    EXPECT_FALSE(*(*transaction)->LoadPrepared(*present)) << "already present";
    ASSERT_TRUE((*transaction)->Commit());
  }

  for (int number = 1; number <= kPatients; ++number) {
    const std::string id = "p" + std::to_string(number);
    auto prepared = prepared_store->Read("Patient", id);
    auto loaded = loaded_store->Read("Patient", id);
    ASSERT_TRUE(prepared.has_value() && loaded.has_value()) << id;
    EXPECT_EQ(prepared->version, number == 3 ? 3 : 1);
    EXPECT_EQ(prepared->last_updated, prepared_instant);
    // The same body but for the moment and the version of the reloaded p3.
    std::string expected = loaded->json;
    expected.replace(expected.find(loaded_instant), loaded_instant.size(), prepared_instant);
    if (number == 3) {
      expected.replace(expected.find("\"versionId\":\"1\""), 15, "\"versionId\":\"3\"");
    }
    EXPECT_EQ(prepared->json, expected) << id;
  }
  for (const char* prefix : {"even", "odd"}) {
    const StoreSearch query =
        search::PatientsWhere({search::FamilyStartsWith(prefix)}, 2 * kPatients);
    // In the same set; the order differs because p3 was first created earlier.
    auto prepared_ids = search::SearchIds(*prepared_store, query);
    auto loaded_ids = search::SearchIds(*loaded_store, query);
    std::sort(prepared_ids.begin(), prepared_ids.end());
    std::sort(loaded_ids.begin(), loaded_ids.end());
    EXPECT_EQ(prepared_ids, loaded_ids) << prefix;
  }
  const StoreSearch by_mrn = search::PatientsWhere({search::IdentifierIs("urn:bulk", "mrn-3")});
  EXPECT_EQ(search::SearchIds(*prepared_store, by_mrn), std::vector<std::string>{"p3"});
}

TEST(ResourceStoreSearchTest, ConditionalCreateInsideABulkLoadSeesTheResourcesLoadedBefore) {
  auto store = OpenInMemory();
  auto transaction = store->Begin();
  ASSERT_TRUE(transaction.has_value());
  ASSERT_TRUE(bulk::Load(**transaction, 7));
  auto found = (*transaction)->FindByIdentifier("Patient", {"urn:bulk", "mrn-7"});
  ASSERT_TRUE(found.has_value()) << found.error().ToString();
  EXPECT_EQ(*found, std::vector<std::string>{"p7"});
  ASSERT_TRUE(bulk::Load(**transaction, 8));
  ASSERT_TRUE((*transaction)->Commit());
  EXPECT_EQ(
      search::SearchIds(*store, search::PatientsWhere({search::IdentifierIs("urn:bulk", "mrn-8")})),
      std::vector<std::string>{"p8"});
}

TEST(ResourceStoreSearchTest, ABulkLoadThatRollsBackLeavesTheIndexAsItWas) {
  auto store = OpenInMemory();
  const StoredVersion before = CreatePatient(*store, Patient("Odd"));
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    for (int number = 1; number <= 10; ++number) ASSERT_TRUE(bulk::Load(**transaction, number));
  }
  EXPECT_EQ(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("odd")})),
            std::vector<std::string>{before.id});

  // Rows held back by the abandoned load must not surface with the next one.
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    ASSERT_TRUE(bulk::Load(**transaction, 2));
    ASSERT_TRUE((*transaction)->Commit());
  }
  EXPECT_EQ(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("odd")})),
            std::vector<std::string>{before.id});
  EXPECT_EQ(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("even")})),
            std::vector<std::string>{"p2"});
  EXPECT_TRUE(
      search::SearchIds(*store, search::PatientsWhere({search::IdentifierIs("urn:bulk", "mrn-1")}))
          .empty());
}

TEST(ResourceStoreSearchTest, ABulkLoadReindexesADeletedResourceItLoadsAgain) {
  auto store = OpenInMemory();
  {
    auto transaction = store->Begin();
    ASSERT_TRUE(transaction.has_value());
    ASSERT_TRUE(bulk::Load(**transaction, 3));
    ASSERT_TRUE((*transaction)->Delete("Patient", "p3"));
    ASSERT_TRUE(bulk::Load(**transaction, 5));
    // p3 again, now as an even-numbered family, while p5's rows are still held back.
    fhir::Json again = bulk::LoadablePatient(4);
    again["id"] = "p3";
    auto loaded = (*transaction)->LoadIfAbsent("Patient", "p3", again);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
    EXPECT_TRUE(*loaded);
    ASSERT_TRUE((*transaction)->Commit());
  }
  EXPECT_EQ(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("odd")})),
            std::vector<std::string>{"p5"});
  EXPECT_EQ(search::SearchIds(*store, search::PatientsWhere({search::FamilyStartsWith("even")})),
            std::vector<std::string>{"p3"});
  EXPECT_TRUE(
      search::SearchIds(*store, search::PatientsWhere({search::IdentifierIs("urn:bulk", "mrn-3")}))
          .empty());
}

TEST(ResourceStoreTest, ReadAsOfSeesTheStoreAsItWasAtTheSnapshot) {
  auto store = OpenInMemory();
  const StoredVersion kept = CreatePatient(*store, Patient("Kept"));
  const StoredVersion changed = CreatePatient(*store, Patient("Before"));
  const StoredVersion removed = CreatePatient(*store, Patient("Removed"));
  auto snapshot = store->TakeSnapshot();
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->sequence, removed.sequence);
  EXPECT_GT(snapshot->instant, removed.last_updated);

  // Writes after the snapshot: an update, a delete and a create.
  ASSERT_TRUE(UpdatePatient(*store, changed.id, Patient("After")));
  {
    auto transaction = store->Begin();
    ASSERT_TRUE((*transaction)->Delete("Patient", removed.id));
    ASSERT_TRUE((*transaction)->Commit());
  }
  const StoredVersion created = CreatePatient(*store, Patient("New"));
  EXPECT_GT(created.last_updated, snapshot->instant) << "later writes are stamped later";

  // Two batches of two and one, in key order, as of the snapshot.
  auto first = store->ReadAsOf("Patient", *snapshot, 0, 2);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].version.id, kept.id);
  EXPECT_EQ((*first)[1].version.id, changed.id);
  EXPECT_NE((*first)[1].version.json.find("Before"), std::string::npos);
  auto second = store->ReadAsOf("Patient", *snapshot, (*first)[1].key, 2);
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->size(), 1u) << "the resource created later is not in the snapshot";
  EXPECT_EQ((*second)[0].version.id, removed.id);
  EXPECT_FALSE((*second)[0].version.deleted) << "deleted after the snapshot";

  // A snapshot taken now sees the delete as the resource's latest version.
  auto now = store->TakeSnapshot();
  auto latest = store->ReadAsOf("Patient", *now, 0, 10);
  ASSERT_TRUE(latest.has_value());
  ASSERT_EQ(latest->size(), 4u);
  EXPECT_TRUE((*latest)[2].version.deleted);
  EXPECT_TRUE(store->ReadAsOf("Observation", *now, 0, 10)->empty());
}

TEST(ResourceStoreTest, ReadAsOfFailsAfterTheStoreWasCleared) {
  auto store = OpenInMemory();
  CreatePatient(*store, Patient("A"));
  auto snapshot = store->TakeSnapshot();
  ASSERT_TRUE(snapshot.has_value());
  ASSERT_TRUE(store->Clear());
  CreatePatient(*store, Patient("B"));
  const auto rows = store->ReadAsOf("Patient", *snapshot, 0, 10);
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().code, ErrorCode::kCancelled);
}

}  // namespace
}  // namespace fhirbridge::sandbox
