#include "sync/sqlite_sync_sink.h"

#include <chrono>

#include "base/clock.h"

namespace fhirbridge::sync {

namespace {

using store::Statement;
using store::StatementLifetime;
using store::StatementScope;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sync_resources (
  site TEXT NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  json TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  etag TEXT NOT NULL,
  context TEXT NOT NULL,
  -- A rowid table: rows hold whole resources, too large for WITHOUT ROWID to pay off.
  UNIQUE (site, type, id)
);
CREATE INDEX IF NOT EXISTS sync_resources_by_context
  ON sync_resources (site, type, context) WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS sync_checkpoints (
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  context TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (site, resource_type, context)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_quarantine (
  id INTEGER PRIMARY KEY,
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  request_id TEXT NOT NULL,
  position TEXT NOT NULL,
  url TEXT NOT NULL,
  error TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_runs (
  id INTEGER PRIMARY KEY,
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  strategy TEXT NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT NOT NULL,
  requests INTEGER NOT NULL,
  resources_written INTEGER NOT NULL,
  tombstones_written INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL
);
)sql";

// A newer version replaces the stored one; with unknown versions (0) a different content hash
// does, and so does anything over a tombstone left by an id sweep (version unknown).
constexpr std::string_view kUpsertResource = R"sql(
INSERT INTO sync_resources
  (site, type, id, version, last_updated, deleted, json, content_hash, etag, context)
VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9)
ON CONFLICT (site, type, id) DO UPDATE SET
  version = excluded.version, last_updated = excluded.last_updated, deleted = 0,
  json = excluded.json, content_hash = excluded.content_hash, etag = excluded.etag,
  context = excluded.context
WHERE excluded.version > sync_resources.version
   OR (excluded.version = 0 AND (sync_resources.deleted = 1
                                 OR sync_resources.content_hash <> excluded.content_hash))
)sql";

// A tombstone keeps the deleting version so that older versions arriving later (history comes
// newest first) cannot bring the resource back. Version 0 (unknown) deletes whatever is stored.
constexpr std::string_view kApplyTombstone = R"sql(
INSERT INTO sync_resources
  (site, type, id, version, last_updated, deleted, json, content_hash, etag, context)
VALUES (?1, ?2, ?3, ?4, '', 1, '', '', '', '')
ON CONFLICT (site, type, id) DO UPDATE SET
  version = max(sync_resources.version, excluded.version), deleted = 1, json = '',
  content_hash = '', etag = ''
WHERE sync_resources.deleted = 0 AND (excluded.version = 0
                                      OR excluded.version > sync_resources.version)
   OR (sync_resources.deleted = 1 AND excluded.version > sync_resources.version)
)sql";

constexpr std::string_view kUpsertCheckpoint = R"sql(
INSERT INTO sync_checkpoints (site, resource_type, context, value, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (site, resource_type, context) DO UPDATE SET
  value = excluded.value, updated_at = excluded.updated_at
)sql";

std::string Now() { return base::FormatInstant(std::chrono::system_clock::now()); }

}  // namespace

struct SqliteSyncSink::Impl {
  store::Database database;
  std::string site;
  std::mutex mutex;
  Statement upsert_resource;
  Statement apply_tombstone;
  Statement upsert_checkpoint;
  std::int64_t resources_written = 0;
  std::int64_t tombstones_written = 0;

  base::Status BindResource(const SyncedResource& resource) {
    Statement& s = upsert_resource;
    if (auto status = s.BindText(1, site); !status) return status;
    if (auto status = s.BindText(2, resource.type); !status) return status;
    if (auto status = s.BindText(3, resource.id); !status) return status;
    if (auto status = s.BindInt64(4, resource.version); !status) return status;
    if (auto status = s.BindText(5, resource.last_updated); !status) return status;
    if (auto status = s.BindText(6, resource.json); !status) return status;
    if (auto status = s.BindText(7, resource.content_hash); !status) return status;
    if (auto status = s.BindText(8, resource.etag); !status) return status;
    return s.BindText(9, resource.context);
  }
};

SqliteSyncSink::SqliteSyncSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteSyncSink::~SqliteSyncSink() = default;

base::Result<std::unique_ptr<SqliteSyncSink>> SqliteSyncSink::Open(const std::string& path,
                                                                   std::string site) {
  auto database = store::Database::Open(path);
  if (!database) return base::Fail(database.error());
  if (auto status = database->Execute(kSchema); !status) return base::Fail(status.error());
  auto upsert = database->Prepare(kUpsertResource, StatementLifetime::kLongLived);
  if (!upsert) return base::Fail(upsert.error());
  auto tombstone = database->Prepare(kApplyTombstone, StatementLifetime::kLongLived);
  if (!tombstone) return base::Fail(tombstone.error());
  auto checkpoint = database->Prepare(kUpsertCheckpoint, StatementLifetime::kLongLived);
  if (!checkpoint) return base::Fail(checkpoint.error());
  auto impl = std::unique_ptr<Impl>(new Impl{std::move(*database),
                                             std::move(site),
                                             {},
                                             std::move(*upsert),
                                             std::move(*tombstone),
                                             std::move(*checkpoint)});
  return std::unique_ptr<SqliteSyncSink>(new SqliteSyncSink(std::move(impl)));
}

base::Result<std::optional<std::string>> SqliteSyncSink::ReadCheckpoint(const CheckpointKey& key) {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "SELECT value FROM sync_checkpoints WHERE site = ?1 AND resource_type = ?2 AND context = ?3");
  if (!statement) return base::Fail(statement.error());
  if (auto s = statement->BindText(1, key.site); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(2, key.resource_type); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(3, key.context); !s) return base::Fail(s.error());
  auto row = statement->Step();
  if (!row) return base::Fail(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(statement->ColumnText(0));
}

base::Status SqliteSyncSink::CommitPage(const PageWrite& page) {
  std::lock_guard lock(impl_->mutex);
  auto transaction = store::TransactionGuard::Begin(impl_->database);
  if (!transaction) return base::Fail(transaction.error());
  std::int64_t resources = 0;
  std::int64_t tombstones = 0;

  for (const SyncedResource& resource : page.resources) {
    StatementScope scope(impl_->upsert_resource);
    if (auto status = impl_->BindResource(resource); !status) return status;
    if (auto status = scope->Run(); !status) return status;
    resources += impl_->database.ChangedRows();
  }
  for (const Tombstone& tombstone : page.tombstones) {
    StatementScope scope(impl_->apply_tombstone);
    if (auto s = scope->BindText(1, impl_->site); !s) return s;
    if (auto s = scope->BindText(2, tombstone.type); !s) return s;
    if (auto s = scope->BindText(3, tombstone.id); !s) return s;
    if (auto s = scope->BindInt64(4, tombstone.version); !s) return s;
    if (auto s = scope->Run(); !s) return s;
    tombstones += impl_->database.ChangedRows();
  }
  if (page.checkpoint) {
    StatementScope scope(impl_->upsert_checkpoint);
    if (auto s = scope->BindText(1, page.key.site); !s) return s;
    if (auto s = scope->BindText(2, page.key.resource_type); !s) return s;
    if (auto s = scope->BindText(3, page.key.context); !s) return s;
    if (auto s = scope->BindText(4, *page.checkpoint); !s) return s;
    if (auto s = scope->BindText(5, Now()); !s) return s;
    if (auto s = scope->Run(); !s) return s;
  }
  if (auto status = transaction->Commit(); !status) return status;
  impl_->resources_written += resources;
  impl_->tombstones_written += tombstones;
  return {};
}

base::Result<std::optional<StoredResourceInfo>> SqliteSyncSink::ReadResource(
    const std::string& type, const std::string& id) {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "SELECT version, content_hash, etag, deleted FROM sync_resources "
      "WHERE site = ?1 AND type = ?2 AND id = ?3");
  if (!statement) return base::Fail(statement.error());
  if (auto s = statement->BindText(1, impl_->site); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(2, type); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(3, id); !s) return base::Fail(s.error());
  auto row = statement->Step();
  if (!row) return base::Fail(row.error());
  if (!*row) return std::optional<StoredResourceInfo>();
  return std::optional<StoredResourceInfo>(
      StoredResourceInfo{statement->ColumnInt64(0), statement->ColumnText(1),
                         statement->ColumnText(2), statement->ColumnInt64(3) != 0});
}

base::Result<std::map<std::string, std::string>> SqliteSyncSink::ContentHashes(
    const std::string& type, const std::string& context) {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "SELECT id, content_hash FROM sync_resources "
      "WHERE site = ?1 AND type = ?2 AND context = ?3 AND deleted = 0");
  if (!statement) return base::Fail(statement.error());
  if (auto s = statement->BindText(1, impl_->site); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(2, type); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(3, context); !s) return base::Fail(s.error());
  std::map<std::string, std::string> hashes;
  while (true) {
    auto row = statement->Step();
    if (!row) return base::Fail(row.error());
    if (!*row) break;
    hashes.emplace(statement->ColumnText(0), statement->ColumnText(1));
  }
  return hashes;
}

base::Result<std::vector<std::string>> SqliteSyncSink::LiveIds(const std::string& type) {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "SELECT id FROM sync_resources WHERE site = ?1 AND type = ?2 AND deleted = 0");
  if (!statement) return base::Fail(statement.error());
  if (auto s = statement->BindText(1, impl_->site); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(2, type); !s) return base::Fail(s.error());
  std::vector<std::string> ids;
  while (true) {
    auto row = statement->Step();
    if (!row) return base::Fail(row.error());
    if (!*row) break;
    ids.push_back(statement->ColumnText(0));
  }
  return ids;
}

base::Status SqliteSyncSink::Quarantine(const QuarantinedPage& page) {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "INSERT INTO sync_quarantine (site, resource_type, request_id, position, url, error, body, "
      "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!statement) return base::Fail(statement.error());
  const std::string now = Now();
  const std::string* values[] = {&page.site, &page.resource_type, &page.request_id, &page.position,
                                 &page.url,  &page.error,         &page.body,       &now};
  for (int i = 0; i < 8; ++i) {
    if (auto s = statement->BindText(i + 1, *values[i]); !s) return s;
  }
  return statement->Run();
}

base::Result<std::int64_t> SqliteSyncSink::BeginRun(const RunRecord& run) {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "INSERT INTO sync_runs (site, resource_type, strategy, outcome, error, requests, "
      "resources_written, tombstones_written, started_at, finished_at) "
      "VALUES (?1, ?2, ?3, 'running', '', 0, 0, 0, ?4, '')");
  if (!statement) return base::Fail(statement.error());
  if (auto s = statement->BindText(1, run.site); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(2, run.resource_type); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(3, run.strategy); !s) return base::Fail(s.error());
  if (auto s = statement->BindText(4, Now()); !s) return base::Fail(s.error());
  if (auto s = statement->Run(); !s) return base::Fail(s.error());
  return impl_->database.LastInsertRowId();
}

base::Status SqliteSyncSink::FinishRun(std::int64_t run_id, const RunRecord& run) {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "UPDATE sync_runs SET outcome = ?2, error = ?3, requests = ?4, resources_written = ?5, "
      "tombstones_written = ?6, finished_at = ?7 WHERE id = ?1");
  if (!statement) return base::Fail(statement.error());
  if (auto s = statement->BindInt64(1, run_id); !s) return s;
  if (auto s = statement->BindText(2, run.outcome); !s) return s;
  if (auto s = statement->BindText(3, run.error); !s) return s;
  if (auto s = statement->BindInt64(4, run.requests); !s) return s;
  if (auto s = statement->BindInt64(5, run.resources_written); !s) return s;
  if (auto s = statement->BindInt64(6, run.tombstones_written); !s) return s;
  if (auto s = statement->BindText(7, Now()); !s) return s;
  return statement->Run();
}

std::int64_t SqliteSyncSink::resources_written() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->resources_written;
}

std::int64_t SqliteSyncSink::tombstones_written() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->tombstones_written;
}

base::Result<std::vector<SqliteSyncSink::LiveRow>> SqliteSyncSink::LiveRows() {
  std::lock_guard lock(impl_->mutex);
  auto statement = impl_->database.Prepare(
      "SELECT type, id, version, content_hash FROM sync_resources "
      "WHERE site = ?1 AND deleted = 0 ORDER BY type, id");
  if (!statement) return base::Fail(statement.error());
  if (auto s = statement->BindText(1, impl_->site); !s) return base::Fail(s.error());
  std::vector<LiveRow> rows;
  while (true) {
    auto row = statement->Step();
    if (!row) return base::Fail(row.error());
    if (!*row) break;
    rows.push_back({statement->ColumnText(0), statement->ColumnText(1), statement->ColumnInt64(2),
                    statement->ColumnText(3)});
  }
  return rows;
}

}  // namespace fhirbridge::sync
