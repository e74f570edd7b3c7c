#include "sandbox/resource_store.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>
#include <variant>

#include "base/clock.h"
#include "fhir/resource_types.h"
#include "fhir/search_values.h"
#include "store/sqlite.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using Json = fhir::Json;
using Milliseconds = std::chrono::milliseconds;
using MillisecondTime = std::chrono::time_point<std::chrono::system_clock, Milliseconds>;

// Raised whenever the tables below change shape; a store written by a newer build is refused
// rather than misread, and one written by an older build is migrated (see Migrate).
constexpr std::int64_t kSchemaVersion = 2;

// Raised whenever the way values are extracted for the search index changes; together with the
// search parameter definitions' fingerprint it decides whether a store's index must be rebuilt.
constexpr std::string_view kIndexFormat = "1";

// A generator that keeps returning ids already in use is broken; give up rather than loop.
constexpr int kMaxIdAttempts = 5;

constexpr std::string_view kIdentifierParameter = "identifier";
constexpr std::string_view kPatientParameter = "patient";

// Dynamic search statements kept prepared; a search whose shape was seen recently skips the
// SQL compiler. Beyond this many shapes the cache starts afresh.
constexpr std::size_t kMaxCachedSearchStatements = 128;

// Per store: SQLite's page cache (the default is 2 MiB) and how much of a store file may be
// mapped into memory.
constexpr std::int64_t kPageCacheKibibytes = 64 * 1024;
constexpr std::int64_t kMappedBytes = std::int64_t{16} * 1024 * 1024 * 1024;

// _total=estimate counts matches up to this many and reports the count it reached.
// Limitation: an estimate is therefore a lower bound for larger results, not a projection.
constexpr std::int64_t kEstimateLimit = 10000;

// resource_versions keeps every version; resource_current holds one row per resource with a
// number of its own (rid, the order resources were first created), which the search index and
// paging use; a read is one lookup of (type, id) there and one of the version.
//
// The search index: one table per kind of value, holding the values of current, non-deleted
// resources only, each row naming the parameter (pid, numbered per type and code in
// search_parameters) and the resource (rid). Each table's primary key serves searches by value
// and yields rids in order; its second index serves "this resource's values" (the tests of
// further criteria, sort values, and clearing a resource's values when it changes).
//
// Token rows also name the patient whose compartment the resource is in (the targets of its
// type's `patient` parameter, numbered in search_targets; 0 for none, one row per patient).
// Epic-like searches always name the patient, and most add a token (category, code, status):
// search_token_by_patient answers such a search with one range of rows in resource order,
// instead of testing each of the patient's resources.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS resource_versions (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  method TEXT NOT NULL,
  json TEXT NOT NULL,
  UNIQUE (type, id, version)
);
CREATE INDEX IF NOT EXISTS resource_versions_by_type ON resource_versions (type, seq);
CREATE TABLE IF NOT EXISTS resource_current (
  rid INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  seq INTEGER NOT NULL REFERENCES resource_versions (seq),
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resource_current_by_type ON resource_current (type, deleted);
CREATE TABLE IF NOT EXISTS search_parameters (
  pid INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  code TEXT NOT NULL,
  UNIQUE (type, code)
);
CREATE TABLE IF NOT EXISTS search_targets (
  tid INTEGER PRIMARY KEY,
  target TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS search_token (
  pid INTEGER NOT NULL,
  code TEXT NOT NULL,
  system TEXT NOT NULL,
  rid INTEGER NOT NULL,
  patient INTEGER NOT NULL,
  PRIMARY KEY (pid, code, system, rid, patient)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_token_by_resource ON search_token (rid, pid, code, system);
CREATE INDEX IF NOT EXISTS search_token_by_patient ON search_token (patient, pid, code, rid)
  WHERE patient <> 0;
CREATE TABLE IF NOT EXISTS search_string (
  pid INTEGER NOT NULL,
  value TEXT NOT NULL,
  exact TEXT NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (pid, value, exact, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_string_by_resource ON search_string (rid, pid, value);
CREATE TABLE IF NOT EXISTS search_date (
  pid INTEGER NOT NULL,
  low INTEGER NOT NULL,
  high INTEGER NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (pid, low, high, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_date_by_resource ON search_date (rid, pid, low, high);
CREATE TABLE IF NOT EXISTS search_reference (
  pid INTEGER NOT NULL,
  target TEXT NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (pid, target, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_reference_by_resource ON search_reference (rid, pid, target);
CREATE TABLE IF NOT EXISTS search_number (
  pid INTEGER NOT NULL,
  value REAL NOT NULL,
  system TEXT NOT NULL,
  code TEXT NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (pid, value, system, code, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_number_by_resource ON search_number (rid, pid, value);
CREATE TABLE IF NOT EXISTS store_properties (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Schema 1 had resource_current keyed by (type, id) and one search_tokens table for identifiers.
// The migration keeps every resource and version, numbers resources in the order they were
// created, and leaves the index to the rebuild that follows (its fingerprint is missing).
constexpr std::string_view kMigrateFromVersion1 = R"sql(
ALTER TABLE resource_current RENAME TO resource_current_v1;
DROP TABLE IF EXISTS search_tokens;
)sql";
constexpr std::string_view kCopyCurrentFromVersion1 = R"sql(
INSERT INTO resource_current (type, id, seq, version, deleted)
SELECT c.type, c.id, c.seq, c.version, c.deleted FROM resource_current_v1 AS c
ORDER BY (SELECT MIN(v.seq) FROM resource_versions AS v WHERE v.type = c.type AND v.id = c.id);
DROP TABLE resource_current_v1;
)sql";

// Every statement the store runs, prepared once per connection.
enum class Query {
  kReadCurrent,
  kReadVersion,
  kCurrentState,
  kInsertVersion,
  kUpsertCurrent,
  kInsertCurrent,
  kDeleteTokens,
  kDeleteStrings,
  kDeleteDates,
  kDeleteReferences,
  kDeleteNumbers,
  kInsertToken,
  kFindTarget,
  kInsertTarget,
  kInsertString,
  kInsertDate,
  kInsertReference,
  kInsertNumber,
  kFindIdentifier,
  kFindIdentifierAnySystem,
  kReferenceTargets,
  kReferencingResources,
  kReadByKey,
  kHistoryInstance,
  kHistoryType,
  kHistoryAll,
  kCountHistoryInstance,
  kCountHistoryType,
  kCountHistoryAll,
  kCountByType,
  kLatestSequence,
  kReadAsOf,
  kLatestUpdate,
};
constexpr int kQueryCount = static_cast<int>(Query::kLatestUpdate) + 1;

// Statements that return versions list the columns in the order RowToVersion reads them.
// History statements share one numbering so that one binding serves all of them: ?1 type,
// ?2 id, ?3 since (NULL for none), ?4 limit, ?5 the sequence number to page below (NULL for
// the first page); SQLite accepts numbers a statement does not use.
std::string_view SqlFor(Query query) {
  switch (query) {
    case Query::kReadCurrent:
      return "SELECT v.type, v.id, v.version, v.last_updated, v.deleted, v.json, v.seq, v.method "
             "FROM resource_current AS c JOIN resource_versions AS v ON v.seq = c.seq "
             "WHERE c.type = ?1 AND c.id = ?2";
    case Query::kReadVersion:
      return "SELECT type, id, version, last_updated, deleted, json, seq, method "
             "FROM resource_versions WHERE type = ?1 AND id = ?2 AND version = ?3";
    case Query::kCurrentState:
      return "SELECT version, deleted, rid FROM resource_current WHERE type = ?1 AND id = ?2";
    case Query::kInsertVersion:
      return "INSERT INTO resource_versions "
             "(type, id, version, last_updated, deleted, json, method) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    case Query::kUpsertCurrent:
      return "INSERT INTO resource_current (type, id, seq, version, deleted) "
             "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (type, id) DO UPDATE SET "
             "seq = excluded.seq, version = excluded.version, deleted = excluded.deleted "
             "RETURNING rid";
    case Query::kInsertCurrent:
      return "INSERT INTO resource_current (type, id, seq, version, deleted) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Query::kDeleteTokens:
      return "DELETE FROM search_token WHERE rid = ?1";
    case Query::kDeleteStrings:
      return "DELETE FROM search_string WHERE rid = ?1";
    case Query::kDeleteDates:
      return "DELETE FROM search_date WHERE rid = ?1";
    case Query::kDeleteReferences:
      return "DELETE FROM search_reference WHERE rid = ?1";
    case Query::kDeleteNumbers:
      return "DELETE FROM search_number WHERE rid = ?1";
    case Query::kInsertToken:
      return "INSERT OR IGNORE INTO search_token (pid, code, system, rid, patient) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Query::kFindTarget:
      return "SELECT tid FROM search_targets WHERE target = ?1";
    case Query::kInsertTarget:
      return "INSERT INTO search_targets (target) VALUES (?1)";
    case Query::kInsertString:
      return "INSERT OR IGNORE INTO search_string (pid, value, exact, rid) VALUES (?1, ?2, ?3, ?4)";
    case Query::kInsertDate:
      return "INSERT OR IGNORE INTO search_date (pid, low, high, rid) VALUES (?1, ?2, ?3, ?4)";
    case Query::kInsertReference:
      return "INSERT OR IGNORE INTO search_reference (pid, target, rid) VALUES (?1, ?2, ?3)";
    case Query::kInsertNumber:
      return "INSERT OR IGNORE INTO search_number (pid, value, system, code, rid) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Query::kFindIdentifier:
      return "SELECT DISTINCT c.id FROM search_token AS t "
             "JOIN resource_current AS c ON c.rid = t.rid "
             "WHERE t.pid = ?1 AND t.code = ?2 AND t.system = ?3 ORDER BY c.id";
    case Query::kFindIdentifierAnySystem:
      return "SELECT DISTINCT c.id FROM search_token AS t "
             "JOIN resource_current AS c ON c.rid = t.rid "
             "WHERE t.pid = ?1 AND t.code = ?2 ORDER BY c.id";
    case Query::kReferenceTargets:
      return "SELECT target FROM search_reference WHERE rid = ?1 AND pid = ?2";
    case Query::kReferencingResources:
      return "SELECT rid FROM search_reference WHERE pid = ?1 AND target = ?2 ORDER BY rid";
    case Query::kReadByKey:
      return "SELECT v.type, v.id, v.version, v.last_updated, v.deleted, v.json, v.seq, v.method "
             "FROM resource_current AS c JOIN resource_versions AS v ON v.seq = c.seq "
             "WHERE c.rid = ?1 AND c.deleted = 0";
    case Query::kHistoryInstance:
      return "SELECT type, id, version, last_updated, deleted, json, seq, method "
             "FROM resource_versions "
             "WHERE type = ?1 AND id = ?2 AND (?3 IS NULL OR last_updated >= ?3) "
             "AND (?5 IS NULL OR seq < ?5) ORDER BY seq DESC LIMIT ?4";
    case Query::kHistoryType:
      return "SELECT type, id, version, last_updated, deleted, json, seq, method "
             "FROM resource_versions WHERE type = ?1 AND (?3 IS NULL OR last_updated >= ?3) "
             "AND (?5 IS NULL OR seq < ?5) ORDER BY seq DESC LIMIT ?4";
    case Query::kHistoryAll:
      return "SELECT type, id, version, last_updated, deleted, json, seq, method "
             "FROM resource_versions WHERE (?3 IS NULL OR last_updated >= ?3) "
             "AND (?5 IS NULL OR seq < ?5) ORDER BY seq DESC LIMIT ?4";
    case Query::kCountHistoryInstance:
      return "SELECT COUNT(*) FROM resource_versions "
             "WHERE type = ?1 AND id = ?2 AND (?3 IS NULL OR last_updated >= ?3)";
    case Query::kCountHistoryType:
      return "SELECT COUNT(*) FROM resource_versions "
             "WHERE type = ?1 AND (?3 IS NULL OR last_updated >= ?3)";
    case Query::kCountHistoryAll:
      return "SELECT COUNT(*) FROM resource_versions WHERE (?3 IS NULL OR last_updated >= ?3)";
    case Query::kCountByType:
      return "SELECT type, COUNT(*) FROM resource_current WHERE deleted = 0 GROUP BY type";
    case Query::kLatestSequence:
      return "SELECT MAX(seq) FROM resource_versions";
    case Query::kReadAsOf:
      // Each resource's latest version at or before the snapshot's sequence ?2. A resource's
      // versions are numbered in the order they were written, so that is its highest version
      // under ?2; asking for it by version makes the subquery walk the (type, id, version)
      // index of that one resource. With MAX(seq) SQLite walked the (type, seq) index instead,
      // every version of the type per resource: an export of 50,000 resources did not finish.
      // The unary + keeps the rows in rid order from ?3 on (the primary key), rather than
      // collecting and sorting every current row of the type for each batch.
      return "SELECT c.rid, v.type, v.id, v.version, v.last_updated, v.deleted, v.json, v.seq, "
             "v.method FROM resource_current AS c JOIN resource_versions AS v ON v.seq = "
             "(SELECT w.seq FROM resource_versions AS w "
             "WHERE w.type = c.type AND w.id = c.id AND w.seq <= ?2 "
             "ORDER BY w.version DESC LIMIT 1) "
             "WHERE +c.type = ?1 AND c.rid > ?3 ORDER BY c.rid LIMIT ?4";
    case Query::kLatestUpdate:
      return "SELECT MAX(last_updated) FROM resource_versions";
  }
  return {};
}

// One bound value: text, integer, number or NULL.
using Parameter = std::variant<std::string_view, std::int64_t, double, std::nullptr_t>;

Parameter OptionalText(const std::optional<std::string>& text) {
  if (text.has_value()) return std::string_view(*text);
  return nullptr;
}

// Binds `parameters` to ?first, ?first+1, ... in order.
base::Status Bind(store::Statement& statement, std::initializer_list<Parameter> parameters,
                  int first = 1) {
  int index = first;
  for (const Parameter& parameter : parameters) {
    base::Status bound;
    if (const auto* text = std::get_if<std::string_view>(&parameter)) {
      bound = statement.BindText(index, *text);
    } else if (const auto* number = std::get_if<std::int64_t>(&parameter)) {
      bound = statement.BindInt64(index, *number);
    } else if (const auto* real = std::get_if<double>(&parameter)) {
      bound = statement.BindDouble(index, *real);
    } else {
      bound = statement.BindNull(index);
    }
    if (!bound) return bound;
    ++index;
  }
  return {};
}

// Reads a row laid out as "type, id, version, last_updated, deleted, json, seq, method", from
// column `first` on.
StoredVersion RowToVersion(const store::Statement& statement, int first = 0) {
  StoredVersion stored;
  stored.type = statement.ColumnText(first);
  stored.id = statement.ColumnText(first + 1);
  stored.version = statement.ColumnInt64(first + 2);
  stored.last_updated = statement.ColumnText(first + 3);
  stored.deleted = statement.ColumnInt64(first + 4) != 0;
  stored.json = statement.ColumnText(first + 5);
  stored.sequence = statement.ColumnInt64(first + 6);
  stored.method = statement.ColumnText(first + 7);
  return stored;
}

// A sort value as PageSql returns it; the sentinels that stand for "no value" read as nullptr.
SortValue ReadSortValue(const store::Statement& statement, int column, bool descending) {
  switch (statement.TypeOf(column)) {
    case store::Statement::ColumnType::kInteger: {
      const std::int64_t value = statement.ColumnInt64(column);
      if (descending && value == std::numeric_limits<std::int64_t>::min()) return nullptr;
      return value;
    }
    case store::Statement::ColumnType::kFloat:
      return statement.ColumnDouble(column);
    case store::Statement::ColumnType::kText:
      return statement.ColumnText(column);
    case store::Statement::ColumnType::kBlob:
    case store::Statement::ColumnType::kNull:
      break;
  }
  return nullptr;
}

// The type and id of a "Type/id" reference target; nullopt for absolute URLs and the like.
std::optional<std::pair<std::string, std::string>> SplitLocalReference(std::string_view target) {
  const std::size_t slash = target.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == target.size() ||
      target.find('/', slash + 1) != std::string_view::npos || target.find(':') < slash) {
    return std::nullopt;
  }
  return std::pair{std::string(target.substr(0, slash)), std::string(target.substr(slash + 1))};
}

std::string Reference(std::string_view type, std::string_view id) {
  std::string reference(type);
  reference += '/';
  reference += id;
  return reference;
}

base::Status CheckResourceBody(std::string_view type, const Json& resource) {
  if (!resource.is_object()) {
    return base::Fail(ErrorCode::kInvalidResource, "a resource must be a JSON object");
  }
  const auto resource_type = resource.find("resourceType");
  if (resource_type == resource.end() || !resource_type->is_string() ||
      resource_type->get_ref<const std::string&>() != type) {
    return base::Fail(ErrorCode::kWrongResourceType,
                      "resourceType must be \"" + std::string(type) + "\"");
  }
  return {};
}

// The latest version of a resource as resource_current records it.
struct CurrentState {
  std::int64_t version = 0;
  bool deleted = false;
  std::int64_t key = 0;  // rid
};

std::string ParameterKey(std::string_view type, std::string_view code) {
  std::string key(type);
  key += '\x1F';
  key += code;
  return key;
}

// Runs a statement that returns no rows with the given parameters.
base::Status RunWith(store::Statement& statement, std::initializer_list<Parameter> parameters) {
  store::StatementScope scope(statement);
  if (auto bound = Bind(statement, parameters); !bound) return bound;
  return statement.Run();
}

// Gives `body` the id and meta a stored version carries (other meta fields, such as profile,
// security and tag, are the client's and are kept) and serialises it.
base::Result<std::string> StampAndSerialise(Json& body, std::string_view id, std::int64_t version,
                                            std::string_view instant) {
  body["id"] = id;
  Json& meta = body["meta"];
  if (!meta.is_object()) meta = Json::object();
  meta["versionId"] = std::to_string(version);
  meta["lastUpdated"] = instant;
  try {
    return body.dump();
  } catch (const Json::type_error&) {
    // dump() throws only for strings that are not UTF-8, which a parsed request cannot hold.
    return base::Fail(ErrorCode::kInvalidResource, "the resource holds text that is not UTF-8");
  }
}

// Index rows of bulk-loaded resources, held back and written in the order of each table's
// primary key. Written one resource at a time, a load's rows land at random places of the
// primary keys' B-trees; sorted, consecutive inserts touch neighbouring pages (measured with
// bench/seed_bench.sh, see bench/README.md).
struct PendingIndex {
  struct Token {
    std::int64_t pid;
    std::string code;
    std::string system;
    std::int64_t rid;
    std::int64_t patient;
    auto Key() const { return std::tie(pid, code, system, rid, patient); }
  };
  struct String {
    std::int64_t pid;
    std::string value;
    std::string exact;
    std::int64_t rid;
    auto Key() const { return std::tie(pid, value, exact, rid); }
  };
  struct Date {
    std::int64_t pid;
    std::int64_t low;
    std::int64_t high;
    std::int64_t rid;
    auto Key() const { return std::tie(pid, low, high, rid); }
  };
  struct Reference {
    std::int64_t pid;
    std::string target;
    std::int64_t rid;
    auto Key() const { return std::tie(pid, target, rid); }
  };
  struct Number {
    std::int64_t pid;
    double value;
    std::string system;
    std::string code;
    std::int64_t rid;
    auto Key() const { return std::tie(pid, value, system, code, rid); }
  };

  std::size_t Rows() const {
    return tokens.size() + strings.size() + dates.size() + references.size() + numbers.size();
  }
  void Clear() {
    tokens.clear();
    strings.clear();
    dates.clear();
    references.clear();
    numbers.clear();
  }

  std::vector<Token> tokens;
  std::vector<String> strings;
  std::vector<Date> dates;
  std::vector<Reference> references;
  std::vector<Number> numbers;
};

// The index tables, and the statement text that inserts one row into each.
enum class IndexTable { kToken, kString, kDate, kReference, kNumber };
constexpr std::size_t kIndexTableCount = 5;

constexpr std::string_view InsertRowSql(IndexTable table) {
  switch (table) {
    case IndexTable::kToken:
      return "INSERT OR IGNORE INTO search_token (pid, code, system, rid, patient) VALUES ";
    case IndexTable::kString:
      return "INSERT OR IGNORE INTO search_string (pid, value, exact, rid) VALUES ";
    case IndexTable::kDate:
      return "INSERT OR IGNORE INTO search_date (pid, low, high, rid) VALUES ";
    case IndexTable::kReference:
      return "INSERT OR IGNORE INTO search_reference (pid, target, rid) VALUES ";
    case IndexTable::kNumber:
      return "INSERT OR IGNORE INTO search_number (pid, value, system, code, rid) VALUES ";
  }
  return {};
}

// Held-back rows are inserted this many to a statement: one statement's execution costs about
// as much as the B-tree work of a row, so single-row inserts spent half their time starting
// and finishing statements.
constexpr std::size_t kRowsPerIndexInsert = 64;

// Held-back index rows are written once this many have gathered, which bounds the memory a
// large load takes (about 100 bytes a row) while keeping most of the benefit of sorting.
constexpr std::size_t kMaxPendingIndexRows = 2'000'000;

}  // namespace

struct ResourceStore::Impl : ParameterIds {
  Impl(store::Database opened, IdGenerator generator, IndexFilter filter)
      : database(std::move(opened)),
        id_generator(std::move(generator)),
        index_filter(std::move(filter)) {}

  store::Statement& Get(Query query) { return statements[static_cast<std::size_t>(query)]; }

  base::Status PrepareStatements();
  base::Status LoadLatestUpdate();
  std::string NextInstant();

  // Numbers every (type, parameter) pair the registry defines, so that writes never need a new
  // number inside a transaction that might roll back.
  base::Status LoadParameterIds();
  std::optional<std::int64_t> Find(const std::string& type,
                                   const std::string& parameter) const override;
  // The number of a reference target in search_targets; nullopt when no resource has ever been
  // indexed with it. NumberTarget adds it when missing.
  base::Result<std::optional<std::int64_t>> FindTarget(std::string_view target);
  base::Result<std::int64_t> NumberTarget(std::string_view target);
  // Rebuilds the search index when it was built from other definitions or by another index
  // format (or not at all, after a migration).
  base::Status RebuildIndexIfStale();
  base::Status ClearIndex(std::int64_t key);
  // Writes the index rows of `resource`, stored under `key`; with `defer` they are added to
  // `pending` instead, for FlushPendingIndex to write.
  base::Status IndexResource(std::int64_t key, std::string_view type, const Json& resource,
                             bool defer = false);
  // The same for values already extracted from the resource.
  base::Status IndexEntries(std::int64_t key, std::string_view type,
                            const fhir::SearchIndexEntries& entries, bool defer);
  // Writes the held-back index rows in primary key order and empties `pending`. Every reader
  // of the index inside a transaction runs after it (see Transaction::State::Connection).
  base::Status FlushPendingIndex();

  base::Result<store::Statement*> SearchStatement(const BoundSql& sql);
  base::Result<SearchPage> Search(const StoreSearch& search);
  base::Status AddIncluded(const StoreSearch& search, SearchPage& page,
                           const std::vector<std::int64_t>& match_keys);

  base::Result<std::optional<CurrentState>> LookUpCurrent(std::string_view type,
                                                          std::string_view id);
  base::Result<StoredVersion> ReadCurrent(std::string_view type, std::string_view id);
  base::Result<StoredVersion> ReadVersion(std::string_view type, std::string_view id,
                                          std::int64_t version);
  // Writes version `version` of type/id: `resource` (null for a delete) gets the id and meta
  // and is stored as it then is. `instant` is its meta.lastUpdated; empty takes NextInstant().
  // `defer_index` holds its index rows back in `pending`.
  base::Result<StoredVersion> WriteVersion(std::string_view type, std::string_view id,
                                           std::int64_t version, Json* resource,
                                           std::string_view method, std::string_view instant = {},
                                           bool defer_index = false);
  base::Result<StoredVersion> WriteCopy(std::string_view type, std::string_view id,
                                        std::int64_t version, const Json& resource,
                                        std::string_view method) {
    Json body = resource;
    return WriteVersion(type, id, version, &body, method);
  }
  // Inserts `stored` (its sequence is filled in) and makes it the current version; returns the
  // resource's key (rid). Leaves the search index alone.
  base::Result<std::int64_t> InsertVersion(StoredVersion& stored);
  base::Result<bool> LoadIfAbsent(std::string_view type, std::string_view id, Json& resource,
                                  std::string_view instant);
  base::Result<bool> LoadPrepared(PreparedLoad& prepared, std::string_view instant);
  base::Result<StoredVersion> Create(std::string_view type, const Json& resource,
                                     const std::optional<std::string>& id);
  base::Result<WriteOutcome> Update(std::string_view type, std::string_view id,
                                    const Json& resource, bool allow_create,
                                    std::optional<std::int64_t> expected_version);
  base::Status Delete(std::string_view type, std::string_view id);
  base::Result<std::vector<std::string>> FindByIdentifier(std::string_view type,
                                                          const IdentifierCriterion& criterion);
  base::Result<HistoryPage> History(const HistoryQuery& query);
  // Empties every table; the caller provides the transaction.
  base::Status DeleteEverything();
  base::Result<std::map<std::string, std::int64_t>> CountByType();

  // Serialises every use of the connection and its statements.
  std::mutex mutex;
  store::Database database;
  IdGenerator id_generator;
  std::vector<store::Statement> statements;  // indexed by Query
  // pid of each (type, parameter code), keyed by ParameterKey.
  std::map<std::string, std::int64_t, std::less<>> parameter_ids;
  IndexFilter index_filter;
  // The pids whose values are indexed (all when there is no filter), and a digest of the filter
  // for the index fingerprint (empty when there is none).
  std::set<std::int64_t> indexed_pids;
  std::string filter_digest;
  std::map<std::string, store::Statement, std::less<>> search_statements;  // by SQL text
  // Index rows LoadIfAbsent has held back; always empty outside a transaction.
  PendingIndex pending;
  // Statements inserting kRowsPerIndexInsert held-back rows at once, one per index table in
  // the order of IndexTable; prepared on first use.
  std::array<std::optional<store::Statement>, kIndexTableCount> batch_inserts;
  // The last meta.lastUpdated handed out; later writes are stamped strictly after it, even if
  // the wall clock steps back, so history order and _since stay consistent.
  MillisecondTime last_update{};
  // Counts the times the store was emptied, so that snapshots taken before can tell.
  std::uint64_t generation = 0;
};

base::Status ResourceStore::Impl::PrepareStatements() {
  statements.reserve(kQueryCount);
  for (int i = 0; i < kQueryCount; ++i) {
    auto statement =
        database.Prepare(SqlFor(static_cast<Query>(i)), store::StatementLifetime::kLongLived);
    if (!statement) return base::Fail(statement.error());
    statements.push_back(std::move(*statement));
  }
  return {};
}

base::Status ResourceStore::Impl::LoadLatestUpdate() {
  store::StatementScope latest(Get(Query::kLatestUpdate));
  const auto has_row = latest->Step();
  if (!has_row) return base::Fail(has_row.error());
  if (!*has_row || latest->ColumnIsNull(0)) return {};
  const auto parsed = base::ParseInstant(latest->ColumnText(0));
  if (parsed.has_value()) last_update = std::chrono::floor<Milliseconds>(*parsed);
  return {};
}

std::string ResourceStore::Impl::NextInstant() {
  auto now = std::chrono::floor<Milliseconds>(std::chrono::system_clock::now());
  if (now <= last_update) now = last_update + Milliseconds(1);
  last_update = now;
  return base::FormatInstant(now);
}

base::Result<std::optional<CurrentState>> ResourceStore::Impl::LookUpCurrent(std::string_view type,
                                                                             std::string_view id) {
  store::StatementScope lookup(Get(Query::kCurrentState));
  if (auto bound = Bind(*lookup, {type, id}); !bound) return base::Fail(bound.error());
  const auto has_row = lookup->Step();
  if (!has_row) return base::Fail(has_row.error());
  if (!*has_row) return std::nullopt;
  return CurrentState{lookup->ColumnInt64(0), lookup->ColumnInt64(1) != 0, lookup->ColumnInt64(2)};
}

base::Result<StoredVersion> ResourceStore::Impl::ReadCurrent(std::string_view type,
                                                             std::string_view id) {
  store::StatementScope read(Get(Query::kReadCurrent));
  if (auto bound = Bind(*read, {type, id}); !bound) return base::Fail(bound.error());
  const auto has_row = read->Step();
  if (!has_row) return base::Fail(has_row.error());
  if (!*has_row) {
    return base::Fail(ErrorCode::kNotFound, Reference(type, id) + " does not exist");
  }
  StoredVersion stored = RowToVersion(*read);
  if (stored.deleted) {
    return base::Fail(ErrorCode::kGone, Reference(type, id) + " was deleted at version " +
                                            std::to_string(stored.version));
  }
  return stored;
}

base::Result<StoredVersion> ResourceStore::Impl::ReadVersion(std::string_view type,
                                                             std::string_view id,
                                                             std::int64_t version) {
  {
    store::StatementScope read(Get(Query::kReadVersion));
    if (auto bound = Bind(*read, {type, id, version}); !bound) return base::Fail(bound.error());
    const auto has_row = read->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (*has_row) {
      StoredVersion stored = RowToVersion(*read);
      if (stored.deleted) {
        return base::Fail(ErrorCode::kGone, "version " + std::to_string(version) + " of " +
                                                Reference(type, id) + " is a delete");
      }
      return stored;
    }
  }

  // No such version: tell a missing version of a known resource from an unknown resource.
  const auto current = LookUpCurrent(type, id);
  if (!current) return base::Fail(current.error());
  if (!current->has_value()) {
    return base::Fail(ErrorCode::kNotFound, Reference(type, id) + " does not exist");
  }
  return base::Fail(ErrorCode::kVersionNotFound,
                    Reference(type, id) + " has no version " + std::to_string(version) +
                        "; its current version is " + std::to_string((*current)->version));
}

base::Result<StoredVersion> ResourceStore::Impl::WriteVersion(
    std::string_view type, std::string_view id, std::int64_t version, Json* resource,
    std::string_view method, std::string_view instant, bool defer_index) {
  // Limitation: a storage failure part-way leaves this version half written inside the
  // enclosing transaction; callers abandon the transaction on any error, which rolls it back.
  StoredVersion stored;
  stored.type = type;
  stored.id = id;
  stored.version = version;
  stored.last_updated = instant.empty() ? NextInstant() : std::string(instant);
  stored.deleted = resource == nullptr;
  stored.method = method;

  if (resource != nullptr) {
    auto json = StampAndSerialise(*resource, stored.id, version, stored.last_updated);
    if (!json) return base::Fail(json.error());
    stored.json = std::move(*json);
  }
  auto key = InsertVersion(stored);
  if (!key) return base::Fail(key.error());

  // Re-index: the previous version's values go, this version's (none for a delete) come in.
  if (version > 1) {
    if (auto cleared = ClearIndex(*key); !cleared) return base::Fail(cleared.error());
  }
  if (resource != nullptr) {
    if (auto indexed = IndexResource(*key, type, *resource, defer_index); !indexed) {
      return base::Fail(indexed.error());
    }
  }
  return stored;
}

base::Result<std::int64_t> ResourceStore::Impl::InsertVersion(StoredVersion& stored) {
  const std::int64_t deleted = stored.deleted ? 1 : 0;
  {
    store::StatementScope insert(Get(Query::kInsertVersion));
    if (auto bound = Bind(*insert, {stored.type, stored.id, stored.version, stored.last_updated,
                                    deleted, stored.json, stored.method});
        !bound) {
      return base::Fail(bound.error());
    }
    if (auto ran = insert->Run(); !ran) return base::Fail(ran.error());
    stored.sequence = database.LastInsertRowId();
  }
  // The first version has no current row to replace; a plain insert spares the upsert's
  // conflict handling and RETURNING, which SQLite buffers in a temporary table.
  if (stored.version == 1) {
    if (auto ran = RunWith(Get(Query::kInsertCurrent),
                           {stored.type, stored.id, stored.sequence, stored.version, deleted});
        !ran) {
      return base::Fail(ran.error());
    }
    return database.LastInsertRowId();
  }
  store::StatementScope upsert(Get(Query::kUpsertCurrent));
  if (auto bound =
          Bind(*upsert, {stored.type, stored.id, stored.sequence, stored.version, deleted});
      !bound) {
    return base::Fail(bound.error());
  }
  const auto has_row = upsert->Step();
  if (!has_row) return base::Fail(has_row.error());
  if (!*has_row) return base::Fail(ErrorCode::kStorageFailure, "the upsert returned no rid");
  return upsert->ColumnInt64(0);
}

base::Status ResourceStore::Impl::ClearIndex(std::int64_t key) {
  for (const Query query : {Query::kDeleteTokens, Query::kDeleteStrings, Query::kDeleteDates,
                            Query::kDeleteReferences, Query::kDeleteNumbers}) {
    if (auto ran = RunWith(Get(query), {key}); !ran) return ran;
  }
  return {};
}

base::Status ResourceStore::Impl::IndexResource(std::int64_t key, std::string_view type,
                                                const Json& resource, bool defer) {
  return IndexEntries(key, type,
                      fhir::ExtractSearchIndex(fhir::R4SearchParameters(), type, resource), defer);
}

base::Status ResourceStore::Impl::IndexEntries(std::int64_t key, std::string_view type,
                                               const fhir::SearchIndexEntries& entries,
                                               bool defer) {
  const std::string type_text(type);
  // Every parameter the registry defines was numbered at open; one it does not, or one the
  // filter leaves out, is skipped.
  const auto pid_of = [&](const std::string& parameter) -> std::optional<std::int64_t> {
    const auto pid = Find(type_text, parameter);
    if (!pid || (index_filter && !indexed_pids.contains(*pid))) return std::nullopt;
    return pid;
  };

  // The patients whose compartment the resource is in (0 stands for none).
  std::vector<std::int64_t> patients;
  for (const auto& entry : entries.references) {
    if (entry.parameter != kPatientParameter) continue;
    auto number = NumberTarget(entry.target);
    if (!number) return base::Fail(number.error());
    patients.push_back(*number);
  }
  if (patients.empty()) patients.push_back(0);

  for (const auto& entry : entries.tokens) {
    const auto pid = pid_of(entry.parameter);
    if (!pid) continue;
    for (const std::int64_t patient : patients) {
      if (defer) {
        pending.tokens.push_back({*pid, entry.code, entry.system, key, patient});
        continue;
      }
      if (auto ran =
              RunWith(Get(Query::kInsertToken), {*pid, entry.code, entry.system, key, patient});
          !ran) {
        return ran;
      }
    }
  }
  for (const auto& entry : entries.strings) {
    const auto pid = pid_of(entry.parameter);
    if (!pid) continue;
    if (defer) {
      pending.strings.push_back({*pid, entry.normalised, entry.exact, key});
      continue;
    }
    if (auto ran = RunWith(Get(Query::kInsertString), {*pid, entry.normalised, entry.exact, key});
        !ran) {
      return ran;
    }
  }
  for (const auto& entry : entries.dates) {
    const auto pid = pid_of(entry.parameter);
    if (!pid) continue;
    if (defer) {
      pending.dates.push_back({*pid, entry.range.low, entry.range.high, key});
      continue;
    }
    if (auto ran = RunWith(Get(Query::kInsertDate), {*pid, entry.range.low, entry.range.high, key});
        !ran) {
      return ran;
    }
  }
  for (const auto& entry : entries.references) {
    const auto pid = pid_of(entry.parameter);
    if (!pid) continue;
    if (defer) {
      pending.references.push_back({*pid, entry.target, key});
      continue;
    }
    if (auto ran = RunWith(Get(Query::kInsertReference), {*pid, entry.target, key}); !ran) {
      return ran;
    }
  }
  for (const auto& entry : entries.numbers) {
    const auto pid = pid_of(entry.parameter);
    if (!pid) continue;
    if (defer) {
      pending.numbers.push_back({*pid, entry.value, entry.system, entry.code, key});
      continue;
    }
    if (auto ran =
            RunWith(Get(Query::kInsertNumber), {*pid, entry.value, entry.system, entry.code, key});
        !ran) {
      return ran;
    }
  }
  return {};
}

base::Status ResourceStore::Impl::FlushPendingIndex() {
  if (pending.Rows() == 0) return {};
  // Sorts `rows` by primary key and inserts them, kRowsPerIndexInsert to a statement and the
  // rest one by one; `bind(statement, first, row)` binds a row's columns from ?first on.
  const auto insert_sorted = [this](auto& rows, IndexTable table, Query single, int columns,
                                    const auto& bind) -> base::Status {
    std::ranges::sort(rows, [](const auto& a, const auto& b) { return a.Key() < b.Key(); });
    auto& batch = batch_inserts[static_cast<std::size_t>(table)];
    std::size_t done = 0;
    if (rows.size() >= kRowsPerIndexInsert && !batch.has_value()) {
      std::string placeholders = "(?";
      for (int i = 1; i < columns; ++i) placeholders += ",?";
      placeholders += ")";
      std::string sql(InsertRowSql(table));
      for (std::size_t i = 0; i < kRowsPerIndexInsert; ++i) {
        if (i > 0) sql += ',';
        sql += placeholders;
      }
      auto prepared = database.Prepare(sql, store::StatementLifetime::kLongLived);
      if (!prepared) return base::Fail(prepared.error());
      batch.emplace(std::move(*prepared));
    }
    for (; rows.size() - done >= kRowsPerIndexInsert; done += kRowsPerIndexInsert) {
      store::StatementScope scope(*batch);
      for (std::size_t i = 0; i < kRowsPerIndexInsert; ++i) {
        const int first = static_cast<int>(i) * columns + 1;
        if (auto bound = bind(*batch, first, rows[done + i]); !bound) return bound;
      }
      if (auto ran = batch->Run(); !ran) return ran;
    }
    for (; done < rows.size(); ++done) {
      store::StatementScope scope(Get(single));
      if (auto bound = bind(Get(single), 1, rows[done]); !bound) return bound;
      if (auto ran = Get(single).Run(); !ran) return ran;
    }
    return {};
  };

  const auto written = [&]() -> base::Status {
    if (auto inserted = insert_sorted(
            pending.tokens, IndexTable::kToken, Query::kInsertToken, 5,
            [](store::Statement& statement, int first, const PendingIndex::Token& row) {
              return Bind(statement, {row.pid, row.code, row.system, row.rid, row.patient}, first);
            });
        !inserted) {
      return inserted;
    }
    if (auto inserted = insert_sorted(
            pending.strings, IndexTable::kString, Query::kInsertString, 4,
            [](store::Statement& statement, int first, const PendingIndex::String& row) {
              return Bind(statement, {row.pid, row.value, row.exact, row.rid}, first);
            });
        !inserted) {
      return inserted;
    }
    if (auto inserted = insert_sorted(
            pending.dates, IndexTable::kDate, Query::kInsertDate, 4,
            [](store::Statement& statement, int first, const PendingIndex::Date& row) {
              return Bind(statement, {row.pid, row.low, row.high, row.rid}, first);
            });
        !inserted) {
      return inserted;
    }
    if (auto inserted = insert_sorted(
            pending.references, IndexTable::kReference, Query::kInsertReference, 3,
            [](store::Statement& statement, int first, const PendingIndex::Reference& row) {
              return Bind(statement, {row.pid, row.target, row.rid}, first);
            });
        !inserted) {
      return inserted;
    }
    return insert_sorted(
        pending.numbers, IndexTable::kNumber, Query::kInsertNumber, 5,
        [](store::Statement& statement, int first, const PendingIndex::Number& row) {
          return Bind(statement, {row.pid, row.value, row.system, row.code, row.rid}, first);
        });
  }();
  // Emptied whatever happened: after a failure the caller abandons the transaction.
  pending.Clear();
  return written;
}

base::Result<StoredVersion> ResourceStore::Impl::Create(
    std::string_view type, const Json& resource, const std::optional<std::string>& given_id) {
  if (auto checked = CheckResourceBody(type, resource); !checked) {
    return base::Fail(checked.error());
  }
  if (given_id.has_value()) {
    const auto current = LookUpCurrent(type, *given_id);
    if (!current) return base::Fail(current.error());
    if (current->has_value()) {
      return base::Fail(
          ErrorCode::kVersionConflict,
          Reference(type, *given_id) + " already exists; a create cannot reuse its id");
    }
    return WriteCopy(type, *given_id, 1, resource, "POST");
  }

  for (int attempt = 0; attempt < kMaxIdAttempts; ++attempt) {
    const std::string id = id_generator();
    if (id.empty()) return base::Fail(ErrorCode::kInternal, "the id generator returned no id");
    const auto current = LookUpCurrent(type, id);
    if (!current) return base::Fail(current.error());
    if (!current->has_value()) return WriteCopy(type, id, 1, resource, "POST");
  }
  return base::Fail(ErrorCode::kInternal, "the id generator returned ids already used by " +
                                              std::string(type) + " " +
                                              std::to_string(kMaxIdAttempts) + " times in a row");
}

base::Result<WriteOutcome> ResourceStore::Impl::Update(
    std::string_view type, std::string_view id, const Json& resource, bool allow_create,
    std::optional<std::int64_t> expected_version) {
  if (auto checked = CheckResourceBody(type, resource); !checked) {
    return base::Fail(checked.error());
  }
  const auto current = LookUpCurrent(type, id);
  if (!current) return base::Fail(current.error());

  const bool exists = current->has_value() && !(*current)->deleted;
  if (!exists && !allow_create) {
    return base::Fail(ErrorCode::kNotFound, Reference(type, id) +
                                                " does not exist and this "
                                                "update may not create it");
  }

  // A deleted resource still has a version number, which If-Match may name; a resource that
  // never existed has none, so any expected version conflicts.
  if (expected_version.has_value()) {
    if (!current->has_value()) {
      return base::Fail(ErrorCode::kVersionConflict,
                        "expected version " + std::to_string(*expected_version) + " of " +
                            Reference(type, id) + " but it does not exist");
    }
    if ((*current)->version != *expected_version) {
      return base::Fail(ErrorCode::kVersionConflict,
                        "expected version " + std::to_string(*expected_version) + " of " +
                            Reference(type, id) + " but the current version is " +
                            std::to_string((*current)->version));
    }
  }

  // Version numbers continue across a delete so that every version stays readable.
  const std::int64_t version = current->has_value() ? (*current)->version + 1 : 1;
  auto stored = WriteCopy(type, id, version, resource, "PUT");
  if (!stored) return base::Fail(stored.error());
  return WriteOutcome{std::move(*stored), !exists};
}

base::Status ResourceStore::Impl::Delete(std::string_view type, std::string_view id) {
  const auto current = LookUpCurrent(type, id);
  if (!current) return base::Fail(current.error());
  if (!current->has_value()) {
    return base::Fail(ErrorCode::kNotFound, Reference(type, id) + " does not exist");
  }
  if ((*current)->deleted) return {};

  auto stored = WriteVersion(type, id, (*current)->version + 1, nullptr, "DELETE");
  if (!stored) return base::Fail(stored.error());
  return {};
}

base::Result<bool> ResourceStore::Impl::LoadIfAbsent(std::string_view type, std::string_view id,
                                                     Json& resource, std::string_view instant) {
  if (auto checked = CheckResourceBody(type, resource); !checked) {
    return base::Fail(checked.error());
  }
  const auto current = LookUpCurrent(type, id);
  if (!current) return base::Fail(current.error());
  if (current->has_value() && !(*current)->deleted) return false;
  const std::int64_t version = current->has_value() ? (*current)->version + 1 : 1;
  // Reloading a deleted resource clears its old index rows, which may still be held back.
  if (version > 1) {
    if (auto flushed = FlushPendingIndex(); !flushed) return base::Fail(flushed.error());
  }
  auto stored = WriteVersion(type, id, version, &resource, "PUT", instant, /*defer_index=*/true);
  if (!stored) return base::Fail(stored.error());
  if (pending.Rows() >= kMaxPendingIndexRows) {
    if (auto flushed = FlushPendingIndex(); !flushed) return base::Fail(flushed.error());
  }
  return true;
}

base::Result<bool> ResourceStore::Impl::LoadPrepared(PreparedLoad& prepared,
                                                     std::string_view instant) {
  const auto current = LookUpCurrent(prepared.type, prepared.id);
  if (!current) return base::Fail(current.error());
  if (current->has_value() && !(*current)->deleted) return false;
  if (current->has_value() || prepared.instant != instant) {
    // Stamped for another version or moment: stamp it again, as LoadIfAbsent does.
    Json resource = Json::parse(prepared.json);
    return LoadIfAbsent(prepared.type, prepared.id, resource, instant);
  }

  StoredVersion stored;
  stored.type = std::move(prepared.type);
  stored.id = std::move(prepared.id);
  stored.version = 1;
  stored.last_updated = instant;
  stored.method = "PUT";
  stored.json = std::move(prepared.json);
  auto key = InsertVersion(stored);
  if (!key) return base::Fail(key.error());
  if (auto indexed = IndexEntries(*key, stored.type, *prepared.entries, /*defer=*/true); !indexed) {
    return base::Fail(indexed.error());
  }
  if (pending.Rows() >= kMaxPendingIndexRows) {
    if (auto flushed = FlushPendingIndex(); !flushed) return base::Fail(flushed.error());
  }
  return true;
}

base::Result<std::vector<std::string>> ResourceStore::Impl::FindByIdentifier(
    std::string_view type, const IdentifierCriterion& criterion) {
  std::vector<std::string> ids;
  const auto pid = Find(std::string(type), std::string(kIdentifierParameter));
  if (!pid) return ids;

  const bool any_system = !criterion.system.has_value();
  store::StatementScope find(
      Get(any_system ? Query::kFindIdentifierAnySystem : Query::kFindIdentifier));
  const auto bound = any_system ? Bind(*find, {*pid, criterion.value})
                                : Bind(*find, {*pid, criterion.value, *criterion.system});
  if (!bound) return base::Fail(bound.error());
  for (;;) {
    const auto has_row = find->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (!*has_row) break;
    ids.push_back(find->ColumnText(0));
  }
  return ids;
}

base::Status ResourceStore::Impl::LoadParameterIds() {
  auto guard = store::TransactionGuard::Begin(database);
  if (!guard) return base::Fail(guard.error());
  {
    auto insert =
        database.Prepare("INSERT OR IGNORE INTO search_parameters (type, code) VALUES (?1, ?2)");
    if (!insert) return base::Fail(insert.error());
    const auto add = [&](std::string_view type, std::string_view code) {
      return RunWith(*insert, {type, code});
    };
    for (const std::string_view type : fhir::R4ResourceTypes()) {
      for (const fhir::SearchParameter& parameter : fhir::R4SearchParameters().ForType(type)) {
        if (auto added = add(type, parameter.code); !added) return added;
        if (parameter.type == fhir::SearchParamType::kToken) {
          if (auto added = add(type, parameter.code + std::string(fhir::kTextSuffix)); !added) {
            return added;
          }
        }
      }
    }
  }
  if (auto committed = guard->Commit(); !committed) return committed;

  auto select = database.Prepare("SELECT pid, type, code FROM search_parameters");
  if (!select) return base::Fail(select.error());
  for (;;) {
    const auto has_row = select->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (!*has_row) break;
    parameter_ids.emplace(ParameterKey(select->ColumnText(1), select->ColumnText(2)),
                          select->ColumnInt64(0));
  }

  if (!index_filter) return {};
  std::string kept;
  for (const std::string_view type : fhir::R4ResourceTypes()) {
    const std::string type_text(type);
    for (const fhir::SearchParameter& parameter : fhir::R4SearchParameters().ForType(type)) {
      const bool keep =
          parameter.code == kIdentifierParameter || parameter.code == kPatientParameter ||
          parameter.type == fhir::SearchParamType::kReference || index_filter(type, parameter.code);
      if (!keep) continue;
      kept += type_text + ":" + parameter.code + ",";
      for (const std::string& code :
           {parameter.code, parameter.code + std::string(fhir::kTextSuffix)}) {
        if (const auto pid = Find(type_text, code)) indexed_pids.insert(*pid);
      }
    }
  }
  filter_digest = std::to_string(std::hash<std::string>{}(kept));
  return {};
}

std::optional<std::int64_t> ResourceStore::Impl::Find(const std::string& type,
                                                      const std::string& parameter) const {
  const auto found = parameter_ids.find(ParameterKey(type, parameter));
  if (found == parameter_ids.end()) return std::nullopt;
  return found->second;
}

base::Result<std::optional<std::int64_t>> ResourceStore::Impl::FindTarget(std::string_view target) {
  store::StatementScope find(Get(Query::kFindTarget));
  if (auto bound = Bind(*find, {target}); !bound) return base::Fail(bound.error());
  const auto has_row = find->Step();
  if (!has_row) return base::Fail(has_row.error());
  if (!*has_row) return std::nullopt;
  return find->ColumnInt64(0);
}

base::Result<std::int64_t> ResourceStore::Impl::NumberTarget(std::string_view target) {
  auto found = FindTarget(target);
  if (!found) return base::Fail(found.error());
  if (found->has_value()) return **found;
  // The number is part of the write's transaction: a rollback takes it back with the write.
  if (auto ran = RunWith(Get(Query::kInsertTarget), {target}); !ran) return base::Fail(ran.error());
  return database.LastInsertRowId();
}

base::Status ResourceStore::Impl::RebuildIndexIfStale() {
  std::string fingerprint =
      fhir::R4SearchParameters().Fingerprint() + "/" + std::string(kIndexFormat);
  if (!filter_digest.empty()) fingerprint += "/only-" + filter_digest;
  {
    auto read = database.Prepare("SELECT value FROM store_properties WHERE name = 'search_index'");
    if (!read) return base::Fail(read.error());
    const auto has_row = read->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (*has_row && read->ColumnText(0) == fingerprint) return {};
  }

  auto guard = store::TransactionGuard::Begin(database);
  if (!guard) return base::Fail(guard.error());
  if (auto cleared = database.Execute(
          "DELETE FROM search_token; DELETE FROM search_string; DELETE FROM search_date; "
          "DELETE FROM search_reference; DELETE FROM search_number; DELETE FROM search_targets");
      !cleared) {
    return cleared;
  }
  {
    auto current = database.Prepare(
        "SELECT c.rid, c.type, v.json FROM resource_current AS c "
        "JOIN resource_versions AS v ON v.seq = c.seq WHERE c.deleted = 0 ORDER BY c.rid");
    if (!current) return base::Fail(current.error());
    for (;;) {
      const auto has_row = current->Step();
      if (!has_row) return base::Fail(has_row.error());
      if (!*has_row) break;
      const auto resource = Json::parse(current->ColumnText(2), nullptr, false);
      if (resource.is_discarded()) {
        return base::Fail(ErrorCode::kStorageFailure,
                          "a stored resource is not valid JSON; the store is damaged");
      }
      if (auto indexed = IndexResource(current->ColumnInt64(0), current->ColumnText(1), resource);
          !indexed) {
        return indexed;
      }
    }
  }
  auto write = database.Prepare(
      "INSERT OR REPLACE INTO store_properties (name, value) VALUES ('search_index', ?1)");
  if (!write) return base::Fail(write.error());
  if (auto ran = RunWith(*write, {std::string_view(fingerprint)}); !ran) return ran;
  return guard->Commit();
}

base::Result<HistoryPage> ResourceStore::Impl::History(const HistoryQuery& query) {
  if (query.id.has_value() && !query.type.has_value()) {
    return base::Fail(ErrorCode::kInvalidParameter, "an instance history needs a resource type");
  }

  Query page_query = Query::kHistoryAll;
  Query count_query = Query::kCountHistoryAll;
  if (query.id.has_value()) {
    const auto current = LookUpCurrent(*query.type, *query.id);
    if (!current) return base::Fail(current.error());
    if (!current->has_value()) {
      return base::Fail(ErrorCode::kNotFound,
                        Reference(*query.type, *query.id) + " does not exist");
    }
    page_query = Query::kHistoryInstance;
    count_query = Query::kCountHistoryInstance;
  } else if (query.type.has_value()) {
    page_query = Query::kHistoryType;
    count_query = Query::kCountHistoryType;
  }
  const Parameter type = OptionalText(query.type);
  const Parameter id = OptionalText(query.id);
  const Parameter since = OptionalText(query.since);
  const Parameter before =
      query.before_sequence.has_value() ? Parameter(*query.before_sequence) : Parameter(nullptr);

  HistoryPage page;
  {
    store::StatementScope count(Get(count_query));
    if (auto bound = Bind(*count, {type, id, since}); !bound) return base::Fail(bound.error());
    const auto has_row = count->Step();
    if (!has_row) return base::Fail(has_row.error());
    page.total = *has_row ? count->ColumnInt64(0) : 0;
  }

  // A negative limit means "no limit" to SQLite; the contract's count is an upper bound.
  const std::int64_t limit = std::max<std::int64_t>(query.count, 0);
  store::StatementScope entries(Get(page_query));
  if (auto bound = Bind(*entries, {type, id, since, limit, before}); !bound) {
    return base::Fail(bound.error());
  }
  for (;;) {
    const auto has_row = entries->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (!*has_row) break;
    page.entries.push_back(RowToVersion(*entries));
  }
  return page;
}

base::Result<store::Statement*> ResourceStore::Impl::SearchStatement(const BoundSql& sql) {
  auto found = search_statements.find(sql.sql);
  if (found == search_statements.end()) {
    if (search_statements.size() >= kMaxCachedSearchStatements) search_statements.clear();
    auto prepared = database.Prepare(sql.sql, store::StatementLifetime::kLongLived);
    if (!prepared) return base::Fail(prepared.error());
    found = search_statements.emplace(sql.sql, std::move(*prepared)).first;
  }
  store::Statement& statement = found->second;
  statement.Reset();
  for (std::size_t i = 0; i < sql.values.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    base::Status bound;
    const BoundSql::Value& value = sql.values[i];
    if (const auto* text = std::get_if<std::string>(&value)) {
      bound = statement.BindText(index, *text);
    } else if (const auto* integer = std::get_if<std::int64_t>(&value)) {
      bound = statement.BindInt64(index, *integer);
    } else if (const auto* real = std::get_if<double>(&value)) {
      bound = statement.BindDouble(index, *real);
    } else {
      bound = statement.BindNull(index);
    }
    if (!bound) return base::Fail(bound.error());
  }
  return &statement;
}

base::Result<SearchPage> ResourceStore::Impl::Search(const StoreSearch& search) {
  // The plan's estimates cannot fail the search by themselves; a failed estimate counts as not
  // selective, and the failure is reported once the plan is chosen.
  std::optional<base::Error> estimate_failure;
  const auto count_rows = [&](const BoundSql& sql) -> std::int64_t {
    auto statement = SearchStatement(sql);
    if (!statement) {
      estimate_failure = statement.error();
      return std::numeric_limits<std::int64_t>::max();
    }
    store::StatementScope scope(**statement);
    const auto has_row = (*statement)->Step();
    if (!has_row || !*has_row) {
      if (!has_row) estimate_failure = has_row.error();
      return std::numeric_limits<std::int64_t>::max();
    }
    return (*statement)->ColumnInt64(0);
  };
  const auto target_number = [&](const std::string& target) -> std::optional<std::int64_t> {
    auto found = FindTarget(target);
    if (!found) {
      estimate_failure = found.error();
      return std::nullopt;
    }
    return *found;
  };
  const SearchPlan plan = ChooseSearchPlan(search, *this, count_rows, target_number);
  if (estimate_failure) return base::Fail(*estimate_failure);

  SearchPage page;
  std::vector<std::int64_t> match_keys;
  bool more = false;
  if (search.count > 0) {
    // Up to count + 1 rows; one more than a page tells that a next page exists.
    struct Row {
      SearchPosition position;
      StoredVersion version;
    };
    std::vector<Row> rows;
    {
      auto statement = SearchStatement(PageSql(search, *this, plan));
      if (!statement) return base::Fail(statement.error());
      store::StatementScope scope(**statement);
      const int sort_columns = static_cast<int>(search.sort.size());
      for (;;) {
        const auto has_row = (*statement)->Step();
        if (!has_row) return base::Fail(has_row.error());
        if (!*has_row) break;
        Row row;
        row.position.resource_key = (*statement)->ColumnInt64(0);
        for (int i = 0; i < sort_columns; ++i) {
          row.position.sort_values.push_back(
              ReadSortValue(**statement, i + 1, search.sort[i].descending));
        }
        row.version = RowToVersion(**statement, 1 + sort_columns);
        rows.push_back(std::move(row));
      }
    }
    // In key order the page statement may leave the final ordering to this sort (ordering rows
    // that carry their JSON in SQL would copy them through a sorter).
    if (search.sort.empty()) {
      std::ranges::sort(rows, {}, [](const Row& row) { return row.position.resource_key; });
    }
    more = static_cast<std::int64_t>(rows.size()) > search.count;
    if (more) rows.resize(static_cast<std::size_t>(search.count));
    for (Row& row : rows) {
      match_keys.push_back(row.position.resource_key);
      page.matches.push_back(std::move(row.version));
    }
    if (more && !rows.empty()) page.next = std::move(rows.back().position);
  }

  if (search.total != StoreSearch::Total::kNone) {
    if (!search.after && !more && search.count > 0) {
      // The first page holds every match: no need to count them again.
      page.total = static_cast<std::int64_t>(page.matches.size());
    } else {
      const std::optional<std::int64_t> limit = search.total == StoreSearch::Total::kEstimate
                                                    ? std::optional<std::int64_t>(kEstimateLimit)
                                                    : std::nullopt;
      auto statement = SearchStatement(CountSql(search, *this, plan, limit));
      if (!statement) return base::Fail(statement.error());
      store::StatementScope scope(**statement);
      const auto has_row = (*statement)->Step();
      if (!has_row) return base::Fail(has_row.error());
      page.total = *has_row ? (*statement)->ColumnInt64(0) : 0;
    }
  }

  if (auto added = AddIncluded(search, page, match_keys); !added) return base::Fail(added.error());
  return page;
}

base::Status ResourceStore::Impl::AddIncluded(const StoreSearch& search, SearchPage& page,
                                              const std::vector<std::int64_t>& match_keys) {
  std::set<std::string, std::less<>> seen;
  for (const StoredVersion& match : page.matches) seen.insert(Reference(match.type, match.id));
  const auto full = [&] {
    if (page.included.size() < search.max_included) return false;
    page.included_truncated = true;
    return true;
  };

  for (const IncludeRequest& include : search.includes) {
    const auto pid = Find(include.source_type, include.parameter);
    if (!pid) continue;
    std::vector<std::string> targets;
    for (const std::int64_t key : match_keys) {
      store::StatementScope select(Get(Query::kReferenceTargets));
      if (auto bound = Bind(*select, {key, *pid}); !bound) return bound;
      for (;;) {
        const auto has_row = select->Step();
        if (!has_row) return base::Fail(has_row.error());
        if (!*has_row) break;
        targets.push_back(select->ColumnText(0));
      }
    }
    for (const std::string& target : targets) {
      const auto local = SplitLocalReference(target);
      if (!local || seen.contains(target)) continue;
      if (include.target_type && local->first != *include.target_type) continue;
      auto stored = ReadCurrent(local->first, local->second);
      if (!stored) {
        if (stored.error().code == ErrorCode::kNotFound ||
            stored.error().code == ErrorCode::kGone) {
          continue;
        }
        return base::Fail(stored.error());
      }
      if (full()) return {};
      seen.insert(target);
      page.included.push_back(std::move(*stored));
    }
  }

  for (const IncludeRequest& include : search.revincludes) {
    const auto pid = Find(include.source_type, include.parameter);
    if (!pid) continue;
    std::vector<std::int64_t> keys;
    for (const StoredVersion& match : page.matches) {
      if (include.target_type && match.type != *include.target_type) continue;
      store::StatementScope select(Get(Query::kReferencingResources));
      const std::string target = Reference(match.type, match.id);
      if (auto bound = Bind(*select, {*pid, std::string_view(target)}); !bound) return bound;
      for (;;) {
        const auto has_row = select->Step();
        if (!has_row) return base::Fail(has_row.error());
        if (!*has_row) break;
        keys.push_back(select->ColumnInt64(0));
      }
    }
    for (const std::int64_t key : keys) {
      store::StatementScope read(Get(Query::kReadByKey));
      if (auto bound = Bind(*read, {key}); !bound) return bound;
      const auto has_row = read->Step();
      if (!has_row) return base::Fail(has_row.error());
      if (!*has_row) continue;
      StoredVersion stored = RowToVersion(*read);
      std::string reference = Reference(stored.type, stored.id);
      if (seen.contains(reference)) continue;
      if (full()) return {};
      seen.insert(std::move(reference));
      page.included.push_back(std::move(stored));
    }
  }
  return {};
}

base::Status ResourceStore::Impl::DeleteEverything() {
  // Counted even if the enclosing transaction rolls back: a snapshot then fails needlessly,
  // which is safe, where missing a clear would not be.
  ++generation;
  // Children before parents, for the foreign key from resource_current. Parameter numbers and
  // the index fingerprint stay: they describe the definitions, not the data.
  return database.Execute(
      "DELETE FROM search_token; DELETE FROM search_string; DELETE FROM search_date; "
      "DELETE FROM search_reference; DELETE FROM search_number; DELETE FROM search_targets; "
      "DELETE FROM resource_current; DELETE FROM resource_versions");
}

base::Result<std::map<std::string, std::int64_t>> ResourceStore::Impl::CountByType() {
  store::StatementScope count(Get(Query::kCountByType));
  std::map<std::string, std::int64_t> counts;
  for (;;) {
    const auto has_row = count->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (!*has_row) break;
    counts.emplace(count->ColumnText(0), count->ColumnInt64(1));
  }
  return counts;
}

// PreparedLoad.

PreparedLoad::PreparedLoad() = default;
PreparedLoad::~PreparedLoad() = default;
PreparedLoad::PreparedLoad(PreparedLoad&&) noexcept = default;
PreparedLoad& PreparedLoad::operator=(PreparedLoad&&) noexcept = default;

base::Result<PreparedLoad> PrepareLoad(std::string_view type, std::string_view id, Json& resource,
                                       std::string_view instant) {
  if (auto checked = CheckResourceBody(type, resource); !checked) {
    return base::Fail(checked.error());
  }
  PreparedLoad prepared;
  prepared.type = type;
  prepared.id = id;
  prepared.instant = instant;
  auto json = StampAndSerialise(resource, id, 1, instant);
  if (!json) return base::Fail(json.error());
  prepared.json = std::move(*json);
  // Extracted from the stamped resource, as WriteVersion does, so _id and _lastUpdated agree.
  prepared.entries = std::make_unique<fhir::SearchIndexEntries>(
      fhir::ExtractSearchIndex(fhir::R4SearchParameters(), type, resource));
  return prepared;
}

// Transaction.

struct Transaction::State {
  explicit State(ResourceStore::Impl& store) : impl(store), lock(store.mutex) {}
  // Runs before the members go: held-back index rows are dropped and the cache restored, then
  // the guard rolls back if needed.
  ~State() {
    if (guard.has_value()) impl.pending.Clear();
    RestoreCache();
  }

  // A bulk load writes far more pages than the default page cache of a temporary (":memory:")
  // store holds; spilling them to its file and reading them back took about a quarter of a
  // load's time (measured with perf on bench/seed_bench.sh). The cache is raised for the
  // transaction and restored after it, because a large cache slows the commits of ordinary
  // writes on such stores (see ResourceStore::Open).
  base::Status RaiseCacheForBulkLoad() {
    if (saved_cache_size.has_value()) return {};
    auto current = impl.database.ReadIntegerPragma("cache_size");
    if (!current) return base::Fail(current.error());
    if (*current < 0 && -*current >= kPageCacheKibibytes) return {};
    if (auto raised =
            impl.database.Execute("PRAGMA cache_size = -" + std::to_string(kPageCacheKibibytes));
        !raised) {
      return raised;
    }
    saved_cache_size = *current;
    return {};
  }
  void RestoreCache() {
    if (!saved_cache_size.has_value()) return;
    // A failure leaves the larger cache, which costs speed, not correctness.
    (void)impl.database.Execute("PRAGMA cache_size = " + std::to_string(*saved_cache_size));
    saved_cache_size.reset();
  }

  // The store's connection while the transaction is open; an error once it has ended. With
  // `flush` the index rows LoadIfAbsent held back are written first, so that what follows sees
  // a complete index.
  base::Result<ResourceStore::Impl*> Connection(bool flush = true) {
    if (!guard.has_value()) {
      return base::Fail(ErrorCode::kInternal, "the transaction has already ended");
    }
    if (flush) {
      if (auto flushed = impl.FlushPendingIndex(); !flushed) return base::Fail(flushed.error());
    }
    return &impl;
  }

  ResourceStore::Impl& impl;
  // Declared before the guard so that a rollback happens while the mutex is still held.
  std::unique_lock<std::mutex> lock;
  std::optional<store::TransactionGuard> guard;
  // The meta.lastUpdated of every resource LoadIfAbsent stores in this transaction.
  std::string load_instant;
  std::optional<std::int64_t> saved_cache_size;  // set while RaiseCacheForBulkLoad is in effect
};

Transaction::Transaction(ResourceStore& store) : state_(std::make_unique<State>(*store.impl_)) {}

Transaction::~Transaction() = default;

base::Result<StoredVersion> Transaction::Read(std::string_view type, std::string_view id) {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->ReadCurrent(type, id);
}

base::Result<StoredVersion> Transaction::ReadVersion(std::string_view type, std::string_view id,
                                                     std::int64_t version) {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->ReadVersion(type, id, version);
}

base::Result<StoredVersion> Transaction::Create(std::string_view type, const fhir::Json& resource,
                                                const std::optional<std::string>& id) {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->Create(type, resource, id);
}

base::Result<WriteOutcome> Transaction::Update(std::string_view type, std::string_view id,
                                               const fhir::Json& resource, bool allow_create,
                                               std::optional<std::int64_t> expected_version) {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->Update(type, id, resource, allow_create, expected_version);
}

base::Status Transaction::Delete(std::string_view type, std::string_view id) {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->Delete(type, id);
}

base::Result<std::string> Transaction::LoadInstant() {
  auto impl = state_->Connection(/*flush=*/false);
  if (!impl) return base::Fail(impl.error());
  if (state_->load_instant.empty()) {
    if (auto raised = state_->RaiseCacheForBulkLoad(); !raised) return base::Fail(raised.error());
    state_->load_instant = (*impl)->NextInstant();
  }
  return state_->load_instant;
}

base::Result<bool> Transaction::LoadIfAbsent(std::string_view type, std::string_view id,
                                             fhir::Json& resource) {
  if (auto instant = LoadInstant(); !instant) return base::Fail(instant.error());
  return state_->impl.LoadIfAbsent(type, id, resource, state_->load_instant);
}

base::Result<bool> Transaction::LoadPrepared(PreparedLoad& prepared) {
  if (auto instant = LoadInstant(); !instant) return base::Fail(instant.error());
  return state_->impl.LoadPrepared(prepared, state_->load_instant);
}

base::Result<std::vector<std::string>> Transaction::FindByIdentifier(
    std::string_view type, const IdentifierCriterion& criterion) {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->FindByIdentifier(type, criterion);
}

base::Result<HistoryPage> Transaction::History(const HistoryQuery& query) {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->History(query);
}

base::Status Transaction::Clear() {
  auto impl = state_->Connection();
  if (!impl) return base::Fail(impl.error());
  return (*impl)->DeleteEverything();
}

base::Status Transaction::Commit() {
  if (auto impl = state_->Connection(); !impl) {
    // A failed flush: roll back here, as a failed commit does.
    if (state_->guard.has_value()) {
      state_->impl.pending.Clear();
      state_->RestoreCache();
      state_->guard.reset();
      state_->lock.unlock();
    }
    return base::Fail(impl.error());
  }
  const auto committed = state_->guard->Commit();

  // Either way the transaction is over: a failed commit is rolled back here, and other
  // clients may proceed.
  state_->RestoreCache();
  state_->guard.reset();
  state_->lock.unlock();
  return committed;
}

// ResourceStore.

ResourceStore::ResourceStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ResourceStore::~ResourceStore() = default;

base::Result<std::unique_ptr<ResourceStore>> ResourceStore::Open(const std::string& path,
                                                                 IdGenerator id_generator,
                                                                 IndexFilter index_filter) {
  // Names the store in every failure so that the message points at the file to check.
  const auto failure = [&path](const base::Error& error) {
    return base::Fail(error.code, "resource store at " + path + ": " + error.diagnostic);
  };

  // SQLite's ":memory:" databases walk their whole page cache at every commit, so creates slow
  // down as the store grows (measured by bench/http_bench.sh: from 14,600 to 6,200 creates/s
  // after 390,000 resources). An empty file name gives a private temporary database instead:
  // pages stay in memory up to the cache size, spill to a file that is deleted on close, and
  // commit in constant time. Both vanish when the store closes.
  auto database = store::Database::Open(path == ":memory:" ? std::string() : path);
  if (!database) return failure(database.error());
  // A file store of a million resources holds gigabytes of index: a larger page cache keeps
  // the hot pages in SQLite's memory, and mapping the file makes the rest memory reads instead of
  // read() system calls (SQLite limits the mapping to its build's cap). Not for in-memory stores:
  // SQLite walks a temporary database's whole page cache at every commit, so a large cache
  // there makes every write slower (measured: creates fell from 15,000/s to 3,000/s).
  //
  // An in-memory store instead keeps its rollback journal in memory. A temporary database's
  // journal is a temporary file by default, so every commit wrote the pages it changed to that
  // file first (perf: most of a create's time in the kernel's write path). In memory the journal
  // still serves ROLLBACK; it only loses crash recovery, which a database deleted on close never
  // uses. Measured with bench/http_bench.sh's create run: 3,363 creates/s before, 7,140 after.
  const std::string tuning = path == ":memory:"
                                 ? std::string("PRAGMA journal_mode = MEMORY")
                                 : "PRAGMA cache_size = -" + std::to_string(kPageCacheKibibytes) +
                                       "; PRAGMA mmap_size = " + std::to_string(kMappedBytes);
  if (auto tuned = database->Execute(tuning); !tuned) return failure(tuned.error());

  const auto schema_version = database->ReadIntegerPragma("user_version");
  if (!schema_version) return failure(schema_version.error());
  if (*schema_version > kSchemaVersion) {
    return base::Fail(ErrorCode::kStorageFailure,
                      "resource store at " + path + " has schema version " +
                          std::to_string(*schema_version) + " but this build reads up to " +
                          std::to_string(kSchemaVersion) + "; use a newer fhirbridge or reset " +
                          "the store");
  }
  if (*schema_version < kSchemaVersion) {
    auto guard = store::TransactionGuard::Begin(*database);
    if (!guard) return failure(guard.error());
    if (*schema_version == 1) {
      if (auto renamed = database->Execute(kMigrateFromVersion1); !renamed) {
        return failure(renamed.error());
      }
    }
    std::string schema(kSchema);
    if (*schema_version == 1) schema += kCopyCurrentFromVersion1;
    schema += "PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";";
    if (auto created = database->Execute(schema); !created) return failure(created.error());
    if (auto committed = guard->Commit(); !committed) return failure(committed.error());
  }

  auto impl = std::make_unique<Impl>(std::move(*database), std::move(id_generator),
                                     std::move(index_filter));
  if (auto prepared = impl->PrepareStatements(); !prepared) return failure(prepared.error());
  if (auto loaded = impl->LoadLatestUpdate(); !loaded) return failure(loaded.error());
  if (auto numbered = impl->LoadParameterIds(); !numbered) return failure(numbered.error());
  if (auto indexed = impl->RebuildIndexIfStale(); !indexed) return failure(indexed.error());
  // The constructor is private, so make_unique cannot reach it.
  return std::unique_ptr<ResourceStore>(new ResourceStore(std::move(impl)));
}

base::Result<std::unique_ptr<Transaction>> ResourceStore::Begin() {
  // The Transaction takes the mutex on construction; its constructor is private to this class.
  auto transaction = std::unique_ptr<Transaction>(new Transaction(*this));
  auto guard = store::TransactionGuard::Begin(impl_->database);
  if (!guard) return base::Fail(guard.error());
  transaction->state_->guard.emplace(std::move(*guard));
  return transaction;
}

base::Result<StoredVersion> ResourceStore::Read(std::string_view type, std::string_view id) {
  // One statement reads consistently on its own, so no BEGIN is needed.
  const std::lock_guard lock(impl_->mutex);
  return impl_->ReadCurrent(type, id);
}

base::Result<StoredVersion> ResourceStore::ReadVersion(std::string_view type, std::string_view id,
                                                       std::int64_t version) {
  // The version lookup and the existence check that follows a miss are separate statements,
  // but the mutex keeps writers of this store out between them.
  const std::lock_guard lock(impl_->mutex);
  return impl_->ReadVersion(type, id, version);
}

base::Result<SearchPage> ResourceStore::Search(const StoreSearch& search) {
  // No BEGIN: the mutex keeps every writer of this store out, so the statements of one search
  // see one state.
  const std::lock_guard lock(impl_->mutex);
  return impl_->Search(search);
}

base::Status ResourceStore::Clear() {
  const std::lock_guard lock(impl_->mutex);
  auto guard = store::TransactionGuard::Begin(impl_->database);
  if (!guard) return base::Fail(guard.error());
  if (auto cleared = impl_->DeleteEverything(); !cleared) return cleared;
  return guard->Commit();
}

base::Result<StoreSnapshot> ResourceStore::TakeSnapshot() {
  const std::lock_guard lock(impl_->mutex);
  StoreSnapshot snapshot;
  store::StatementScope latest(impl_->Get(Query::kLatestSequence));
  const auto has_row = latest->Step();
  if (!has_row) return base::Fail(has_row.error());
  if (*has_row && !latest->ColumnIsNull(0)) snapshot.sequence = latest->ColumnInt64(0);
  // Reserving an instant makes every later write carry a later one (see NextInstant).
  snapshot.instant = impl_->NextInstant();
  snapshot.generation = impl_->generation;
  return snapshot;
}

base::Result<std::vector<SnapshotRow>> ResourceStore::ReadAsOf(std::string_view type,
                                                               const StoreSnapshot& snapshot,
                                                               std::int64_t after_key,
                                                               std::int64_t limit) {
  const std::lock_guard lock(impl_->mutex);
  if (impl_->generation != snapshot.generation) {
    return base::Fail(ErrorCode::kCancelled,
                      "the store was reset after the snapshot was taken; its versions are gone");
  }
  std::vector<SnapshotRow> rows;
  store::StatementScope read(impl_->Get(Query::kReadAsOf));
  if (auto bound =
          Bind(*read, {type, snapshot.sequence, after_key, std::max<std::int64_t>(limit, 0)});
      !bound) {
    return base::Fail(bound.error());
  }
  for (;;) {
    const auto has_row = read->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (!*has_row) break;
    rows.push_back(SnapshotRow{read->ColumnInt64(0), RowToVersion(*read, 1)});
  }
  return rows;
}

base::Result<std::map<std::string, std::int64_t>> ResourceStore::CountByType() {
  const std::lock_guard lock(impl_->mutex);
  return impl_->CountByType();
}

}  // namespace fhirbridge::sandbox
