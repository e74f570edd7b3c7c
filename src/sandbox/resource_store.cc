#include "sandbox/resource_store.h"

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>
#include <variant>

#include "base/clock.h"
#include "store/sqlite.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using Json = fhir::Json;
using Milliseconds = std::chrono::milliseconds;
using MillisecondTime = std::chrono::time_point<std::chrono::system_clock, Milliseconds>;

// Raised whenever the tables below change shape; a store written by a newer build is refused
// rather than misread.
constexpr std::int64_t kSchemaVersion = 1;

// A generator that keeps returning ids already in use is broken; give up rather than loop.
constexpr int kMaxIdAttempts = 5;

constexpr std::string_view kIdentifierParameter = "identifier";

// resource_versions keeps every version; resource_current points at the latest one so that a
// read is one primary-key lookup. search_tokens holds the token values of current, non-deleted
// resources only, one row per value, under the name of the search parameter they answer.
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
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  seq INTEGER NOT NULL REFERENCES resource_versions (seq),
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search_tokens (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  param TEXT NOT NULL,
  system TEXT NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_tokens_by_value ON search_tokens (type, param, value);
CREATE INDEX IF NOT EXISTS search_tokens_by_resource ON search_tokens (type, id);
)sql";

// Every statement the store runs, prepared once per connection.
enum class Query {
  kReadCurrent,
  kReadVersion,
  kCurrentState,
  kInsertVersion,
  kUpsertCurrent,
  kDeleteTokens,
  kInsertToken,
  kFindToken,
  kFindTokenAnySystem,
  kHistoryInstance,
  kHistoryType,
  kHistoryAll,
  kCountHistoryInstance,
  kCountHistoryType,
  kCountHistoryAll,
  kCountByType,
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
      return "SELECT version, deleted FROM resource_current WHERE type = ?1 AND id = ?2";
    case Query::kInsertVersion:
      return "INSERT INTO resource_versions "
             "(type, id, version, last_updated, deleted, json, method) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    case Query::kUpsertCurrent:
      return "INSERT INTO resource_current (type, id, seq, version, deleted) "
             "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (type, id) DO UPDATE SET "
             "seq = excluded.seq, version = excluded.version, deleted = excluded.deleted";
    case Query::kDeleteTokens:
      return "DELETE FROM search_tokens WHERE type = ?1 AND id = ?2";
    case Query::kInsertToken:
      return "INSERT INTO search_tokens (type, id, param, system, value) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Query::kFindToken:
      return "SELECT DISTINCT id FROM search_tokens "
             "WHERE type = ?1 AND param = ?2 AND value = ?3 AND system = ?4 ORDER BY id";
    case Query::kFindTokenAnySystem:
      return "SELECT DISTINCT id FROM search_tokens "
             "WHERE type = ?1 AND param = ?2 AND value = ?3 ORDER BY id";
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
    case Query::kLatestUpdate:
      return "SELECT MAX(last_updated) FROM resource_versions";
  }
  return {};
}

// One bound value: text, integer or NULL.
using Parameter = std::variant<std::string_view, std::int64_t, std::nullptr_t>;

Parameter OptionalText(const std::optional<std::string>& text) {
  if (text.has_value()) return std::string_view(*text);
  return nullptr;
}

// Binds `parameters` to ?1, ?2, ... in order.
base::Status Bind(store::Statement& statement, std::initializer_list<Parameter> parameters) {
  int index = 1;
  for (const Parameter& parameter : parameters) {
    base::Status bound;
    if (const auto* text = std::get_if<std::string_view>(&parameter)) {
      bound = statement.BindText(index, *text);
    } else if (const auto* number = std::get_if<std::int64_t>(&parameter)) {
      bound = statement.BindInt64(index, *number);
    } else {
      bound = statement.BindNull(index);
    }
    if (!bound) return bound;
    ++index;
  }
  return {};
}

// Reads a row laid out as "type, id, version, last_updated, deleted, json, seq, method".
StoredVersion RowToVersion(const store::Statement& statement) {
  StoredVersion stored;
  stored.type = statement.ColumnText(0);
  stored.id = statement.ColumnText(1);
  stored.version = statement.ColumnInt64(2);
  stored.last_updated = statement.ColumnText(3);
  stored.deleted = statement.ColumnInt64(4) != 0;
  stored.json = statement.ColumnText(5);
  stored.sequence = statement.ColumnInt64(6);
  stored.method = statement.ColumnText(7);
  return stored;
}

std::string Reference(std::string_view type, std::string_view id) {
  std::string reference(type);
  reference += '/';
  reference += id;
  return reference;
}

struct IdentifierToken {
  std::string system;  // "" when the identifier has none
  std::string value;
};

// Identifiers without a textual value cannot be matched by a search, so they are not indexed.
std::vector<IdentifierToken> IdentifierTokens(const Json& resource) {
  std::vector<IdentifierToken> tokens;
  const auto identifiers = resource.find("identifier");
  if (identifiers == resource.end() || !identifiers->is_array()) return tokens;
  for (const Json& identifier : *identifiers) {
    if (!identifier.is_object()) continue;
    const auto value = identifier.find("value");
    if (value == identifier.end() || !value->is_string()) continue;
    const auto system = identifier.find("system");
    const bool has_system = system != identifier.end() && system->is_string();
    tokens.push_back(
        {has_system ? system->get<std::string>() : std::string(), value->get<std::string>()});
  }
  return tokens;
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
};

}  // namespace

struct ResourceStore::Impl {
  Impl(store::Database opened, IdGenerator generator)
      : database(std::move(opened)), id_generator(std::move(generator)) {}

  store::Statement& Get(Query query) { return statements[static_cast<std::size_t>(query)]; }

  base::Status PrepareStatements();
  base::Status LoadLatestUpdate();
  std::string NextInstant();

  base::Result<std::optional<CurrentState>> LookUpCurrent(std::string_view type,
                                                          std::string_view id);
  base::Result<StoredVersion> ReadCurrent(std::string_view type, std::string_view id);
  base::Result<StoredVersion> ReadVersion(std::string_view type, std::string_view id,
                                          std::int64_t version);
  base::Result<StoredVersion> WriteVersion(std::string_view type, std::string_view id,
                                           std::int64_t version, const Json* resource,
                                           std::string_view method);
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
  // The last meta.lastUpdated handed out; later writes are stamped strictly after it, even if
  // the wall clock steps back, so history order and _since stay consistent.
  MillisecondTime last_update{};
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
  return CurrentState{lookup->ColumnInt64(0), lookup->ColumnInt64(1) != 0};
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

base::Result<StoredVersion> ResourceStore::Impl::WriteVersion(std::string_view type,
                                                              std::string_view id,
                                                              std::int64_t version,
                                                              const Json* resource,
                                                              std::string_view method) {
  // Limitation: a storage failure part-way leaves this version half written inside the
  // enclosing transaction; callers abandon the transaction on any error, which rolls it back.
  StoredVersion stored;
  stored.type = type;
  stored.id = id;
  stored.version = version;
  stored.last_updated = NextInstant();
  stored.deleted = resource == nullptr;
  stored.method = method;

  // The stored body carries the id and meta the store assigned; other meta fields (profile,
  // security, tag) are the client's and are kept.
  std::vector<IdentifierToken> tokens;
  if (resource != nullptr) {
    Json body = *resource;
    body["id"] = stored.id;
    Json& meta = body["meta"];
    if (!meta.is_object()) meta = Json::object();
    meta["versionId"] = std::to_string(version);
    meta["lastUpdated"] = stored.last_updated;
    try {
      stored.json = body.dump();
    } catch (const Json::type_error&) {
      // dump() throws only for strings that are not UTF-8, which a parsed request cannot hold.
      return base::Fail(ErrorCode::kInvalidResource, "the resource holds text that is not UTF-8");
    }
    tokens = IdentifierTokens(body);
  }

  std::int64_t seq = 0;
  {
    store::StatementScope insert(Get(Query::kInsertVersion));
    if (auto bound = Bind(*insert, {type, id, version, stored.last_updated,
                                    std::int64_t{stored.deleted ? 1 : 0}, stored.json, method});
        !bound) {
      return base::Fail(bound.error());
    }
    if (auto ran = insert->Run(); !ran) return base::Fail(ran.error());
    seq = database.LastInsertRowId();
    stored.sequence = seq;
  }
  {
    store::StatementScope upsert(Get(Query::kUpsertCurrent));
    if (auto bound = Bind(*upsert, {type, id, seq, version, std::int64_t{stored.deleted ? 1 : 0}});
        !bound) {
      return base::Fail(bound.error());
    }
    if (auto ran = upsert->Run(); !ran) return base::Fail(ran.error());
  }

  // Re-index: the previous version's tokens go, this version's (none for a delete) come in.
  {
    store::StatementScope remove(Get(Query::kDeleteTokens));
    if (auto bound = Bind(*remove, {type, id}); !bound) return base::Fail(bound.error());
    if (auto ran = remove->Run(); !ran) return base::Fail(ran.error());
  }
  for (const IdentifierToken& token : tokens) {
    store::StatementScope insert(Get(Query::kInsertToken));
    if (auto bound = Bind(*insert, {type, id, kIdentifierParameter, token.system, token.value});
        !bound) {
      return base::Fail(bound.error());
    }
    if (auto ran = insert->Run(); !ran) return base::Fail(ran.error());
  }
  return stored;
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
    return WriteVersion(type, *given_id, 1, &resource, "POST");
  }

  for (int attempt = 0; attempt < kMaxIdAttempts; ++attempt) {
    const std::string id = id_generator();
    if (id.empty()) return base::Fail(ErrorCode::kInternal, "the id generator returned no id");
    const auto current = LookUpCurrent(type, id);
    if (!current) return base::Fail(current.error());
    if (!current->has_value()) return WriteVersion(type, id, 1, &resource, "POST");
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
  auto stored = WriteVersion(type, id, version, &resource, "PUT");
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

base::Result<std::vector<std::string>> ResourceStore::Impl::FindByIdentifier(
    std::string_view type, const IdentifierCriterion& criterion) {
  const bool any_system = !criterion.system.has_value();
  store::StatementScope find(Get(any_system ? Query::kFindTokenAnySystem : Query::kFindToken));
  const auto bound =
      any_system ? Bind(*find, {type, kIdentifierParameter, criterion.value})
                 : Bind(*find, {type, kIdentifierParameter, criterion.value, *criterion.system});
  if (!bound) return base::Fail(bound.error());

  std::vector<std::string> ids;
  for (;;) {
    const auto has_row = find->Step();
    if (!has_row) return base::Fail(has_row.error());
    if (!*has_row) break;
    ids.push_back(find->ColumnText(0));
  }
  return ids;
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

base::Status ResourceStore::Impl::DeleteEverything() {
  // Children before parents, for the foreign key from resource_current.
  return database.Execute(
      "DELETE FROM search_tokens; DELETE FROM resource_current; DELETE FROM resource_versions");
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

// Transaction.

struct Transaction::State {
  explicit State(ResourceStore::Impl& store) : impl(store), lock(store.mutex) {}

  // The store's connection while the transaction is open; an error once it has ended.
  base::Result<ResourceStore::Impl*> Connection() {
    if (!guard.has_value()) {
      return base::Fail(ErrorCode::kInternal, "the transaction has already ended");
    }
    return &impl;
  }

  ResourceStore::Impl& impl;
  // Declared before the guard so that a rollback happens while the mutex is still held.
  std::unique_lock<std::mutex> lock;
  std::optional<store::TransactionGuard> guard;
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
  if (auto impl = state_->Connection(); !impl) return base::Fail(impl.error());
  const auto committed = state_->guard->Commit();

  // Either way the transaction is over: a failed commit is rolled back here, and other
  // clients may proceed.
  state_->guard.reset();
  state_->lock.unlock();
  return committed;
}

// ResourceStore.

ResourceStore::ResourceStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ResourceStore::~ResourceStore() = default;

base::Result<std::unique_ptr<ResourceStore>> ResourceStore::Open(const std::string& path,
                                                                 IdGenerator id_generator) {
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
    std::string schema(kSchema);
    schema += "PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";";
    if (auto created = database->Execute(schema); !created) return failure(created.error());
    if (auto committed = guard->Commit(); !committed) return failure(committed.error());
  }

  auto impl = std::make_unique<Impl>(std::move(*database), std::move(id_generator));
  if (auto prepared = impl->PrepareStatements(); !prepared) return failure(prepared.error());
  if (auto loaded = impl->LoadLatestUpdate(); !loaded) return failure(loaded.error());
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

base::Status ResourceStore::Clear() {
  const std::lock_guard lock(impl_->mutex);
  auto guard = store::TransactionGuard::Begin(impl_->database);
  if (!guard) return base::Fail(guard.error());
  if (auto cleared = impl_->DeleteEverything(); !cleared) return cleared;
  return guard->Commit();
}

base::Result<std::map<std::string, std::int64_t>> ResourceStore::CountByType() {
  const std::lock_guard lock(impl_->mutex);
  return impl_->CountByType();
}

}  // namespace fhirbridge::sandbox
