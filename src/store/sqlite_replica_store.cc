#include "store/sqlite_replica_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "store/sqlite.h"
#include "store/store_support.h"

namespace fhirbridge::store {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Migrations are append-only: a released one is never edited, a change is a new version.
const Migration kMigrations[] = {
    {1, "resources, clinical views, tombstones, checkpoints, sync runs, work items, budgets",
     R"sql(
CREATE TABLE resources (
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  id TEXT NOT NULL,
  version_id TEXT NOT NULL,
  version_number INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  last_updated_us INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  raw TEXT NOT NULL,
  fetched_at_us INTEGER NOT NULL,
  correlation_id TEXT NOT NULL,
  -- Normalised columns of the clinical types (fhir::ClinicalView); NULL when absent. They sit
  -- in the resource's own row so that a page writes one row and one index entry per resource.
  -- Limitation: no index on patient_reference yet; a query by patient scans the site's rows.
  -- Such an index costs a write to a random index page per resource on every page commit, so
  -- it waits for a reader that needs it (a later migration adds it).
  patient_reference TEXT,
  encounter_reference TEXT,
  status TEXT,
  category TEXT,
  code_system TEXT,
  code TEXT,
  effective TEXT,
  effective_us INTEGER,
  value_number REAL,
  value_unit TEXT,
  gender TEXT,
  birth_date TEXT,
  PRIMARY KEY (site, resource_type, id));
CREATE TABLE tombstones (
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  id TEXT NOT NULL,
  version_id TEXT NOT NULL,
  deleted_at_us INTEGER NOT NULL,
  fetched_at_us INTEGER NOT NULL,
  correlation_id TEXT NOT NULL,
  PRIMARY KEY (site, resource_type, id, version_id, deleted_at_us));
CREATE TABLE malformed_resources (
  site TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  problem TEXT NOT NULL,
  raw TEXT NOT NULL,
  fetched_at_us INTEGER NOT NULL,
  correlation_id TEXT NOT NULL,
  PRIMARY KEY (site, content_hash));
CREATE TABLE checkpoints (
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  context_key TEXT NOT NULL,
  state TEXT NOT NULL,
  updated_at_us INTEGER NOT NULL,
  sync_run_id INTEGER,
  PRIMARY KEY (site, resource_type, context_key));
CREATE TABLE sync_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  site TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at_us INTEGER NOT NULL,
  finished_at_us INTEGER,
  pages INTEGER NOT NULL DEFAULT 0,
  stored INTEGER NOT NULL DEFAULT 0,
  unchanged INTEGER NOT NULL DEFAULT 0,
  malformed INTEGER NOT NULL DEFAULT 0,
  tombstoned INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '');
CREATE TABLE work_items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  cohort TEXT NOT NULL,
  state TEXT NOT NULL,
  holder TEXT NOT NULL DEFAULT '',
  lease_token INTEGER NOT NULL DEFAULT 0,
  lease_expires_at_us INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  UNIQUE (site, resource_type, cohort));
CREATE TABLE site_budgets (
  site TEXT PRIMARY KEY,
  capacity REAL NOT NULL,
  refill_per_second REAL NOT NULL,
  tokens REAL NOT NULL,
  updated_at_us INTEGER NOT NULL);
)sql"},
    {2, "quarantined pages", R"sql(
CREATE TABLE quarantined_pages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  correlation_id TEXT NOT NULL,
  position TEXT NOT NULL,
  url TEXT NOT NULL,
  error TEXT NOT NULL,
  body TEXT NOT NULL,
  quarantined_at_us INTEGER NOT NULL);
CREATE INDEX quarantined_pages_by_site ON quarantined_pages (site, id);
)sql"},
};

constexpr int kLatestVersion = 2;

// Statements, named so that the cache can key on them.
constexpr const char* kUpsertResource = R"sql(
INSERT INTO resources (site, resource_type, id, version_id, version_number, last_updated,
                       last_updated_us, deleted, content_hash, raw, fetched_at_us, correlation_id,
                       patient_reference, encounter_reference, status, category, code_system,
                       code, effective, effective_us, value_number, value_unit, gender,
                       birth_date)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
        ?20, ?21, ?22, ?23, ?24)
ON CONFLICT (site, resource_type, id) DO UPDATE SET
  version_id = excluded.version_id, version_number = excluded.version_number,
  last_updated = excluded.last_updated, last_updated_us = excluded.last_updated_us,
  deleted = excluded.deleted, content_hash = excluded.content_hash, raw = excluded.raw,
  fetched_at_us = excluded.fetched_at_us, correlation_id = excluded.correlation_id,
  patient_reference = excluded.patient_reference,
  encounter_reference = excluded.encounter_reference, status = excluded.status,
  category = excluded.category, code_system = excluded.code_system, code = excluded.code,
  effective = excluded.effective, effective_us = excluded.effective_us,
  value_number = excluded.value_number, value_unit = excluded.value_unit,
  gender = excluded.gender, birth_date = excluded.birth_date
WHERE (excluded.last_updated_us, excluded.version_number) >
      (resources.last_updated_us, resources.version_number)
   OR (excluded.last_updated_us = 0 AND excluded.version_number = 0
       AND resources.last_updated_us = 0 AND resources.version_number = 0
       AND excluded.content_hash <> resources.content_hash))sql";

constexpr const char* kInsertMalformed = R"sql(
INSERT OR IGNORE INTO malformed_resources (site, content_hash, problem, raw, fetched_at_us,
                                           correlation_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql";

constexpr const char* kInsertTombstone = R"sql(
INSERT OR IGNORE INTO tombstones (site, resource_type, id, version_id, deleted_at_us,
                                  fetched_at_us, correlation_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql";

constexpr const char* kUpsertCheckpoint = R"sql(
INSERT INTO checkpoints (site, resource_type, context_key, state, updated_at_us, sync_run_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (site, resource_type, context_key) DO UPDATE SET
  state = excluded.state, updated_at_us = excluded.updated_at_us,
  sync_run_id = excluded.sync_run_id)sql";

constexpr const char* kCountRunPage = R"sql(
UPDATE sync_runs SET pages = pages + 1, stored = stored + ?2, unchanged = unchanged + ?3,
  malformed = malformed + ?4, tombstoned = tombstoned + ?5
WHERE id = ?1 AND status = 'running')sql";

// Binds without a copy: the caller keeps `value` alive until the statement is reset.
base::Status BindOptionalText(Statement& statement, int index,
                              const std::optional<std::string>& value) {
  return value ? statement.BindTextReference(index, *value) : statement.BindNull(index);
}

std::optional<std::string> OptionalText(const Statement& statement, int column) {
  if (statement.ColumnIsNull(column)) return std::nullopt;
  return statement.ColumnText(column);
}

// Creates the file with mode 0600 before SQLite opens it; SQLite gives its -wal and -shm files
// the same mode.
base::Status CreatePrivateFile(const std::string& path) {
  if (path == ":memory:" || path.empty()) return {};
  const int descriptor = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    return base::Fail(base::ErrorCode::kIoFailure,
                      std::string("cannot create the store file: ") + std::strerror(errno), path);
  }
  ::close(descriptor);
  return {};
}

class SqliteReplicaStore final : public ReplicaStore {
 public:
  explicit SqliteReplicaStore(Database database) : database_(std::move(database)) {}

  std::string_view backend() const override { return "sqlite"; }

  base::Result<SchemaStatus> Migrate() override {
    std::lock_guard lock(mutex_);
    STORE_TRY(database_.Execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at_us INTEGER NOT NULL)"));
    for (const Migration& migration : kMigrations) {
      auto transaction = TransactionGuard::Begin(database_);
      if (!transaction) return std::unexpected(transaction.error());
      auto applied = AppliedVersion();
      if (!applied) return std::unexpected(applied.error());
      if (*applied > kLatestVersion) return NewerSchemaError(*applied);
      if (*applied >= migration.version) continue;
      STORE_TRY(database_.Execute(migration.sql));
      if (migration.version == 1) STORE_TRY(database_.Execute(kClinicalViewsSql));
      auto record = database_.Prepare(
          "INSERT INTO schema_migrations (version, description, applied_at_us) "
          "VALUES (?1, ?2, ?3)");
      if (!record) return std::unexpected(record.error());
      STORE_TRY(record->BindInt64(1, migration.version));
      STORE_TRY(record->BindText(2, migration.description));
      STORE_TRY(record->BindInt64(3, NowMicros()));
      STORE_TRY(record->Run());
      STORE_TRY(transaction->Commit());
    }
    auto applied = AppliedVersion();
    if (!applied) return std::unexpected(applied.error());
    if (*applied > kLatestVersion) return NewerSchemaError(*applied);
    return SchemaStatus{static_cast<int>(*applied), kLatestVersion};
  }

  base::Result<PageOutcome> WritePage(const Page& page) override {
    STORE_TRY(CheckPage(page));
    std::lock_guard lock(mutex_);
    PrepareResources(page, summariser_, hasher_, prepared_);
    // Written in key order, so that successive upserts descend the primary key's index along
    // neighbouring paths. Stable: two versions of one resource keep the page's order, which
    // decides between versions that carry no rank.
    write_order_.clear();
    for (const PreparedResource& resource : prepared_) write_order_.push_back(&resource);
    std::stable_sort(write_order_.begin(), write_order_.end(),
                     [](const PreparedResource* a, const PreparedResource* b) {
                       return std::tie(a->summary->resource_type, a->summary->id) <
                              std::tie(b->summary->resource_type, b->summary->id);
                     });

    auto transaction = TransactionGuard::Begin(database_);
    if (!transaction) return std::unexpected(transaction.error());
    if (page.lease_fence) STORE_TRY(HoldLease(*page.lease_fence));
    PageOutcome outcome;

    for (const PreparedResource* resource_pointer : write_order_) {
      const PreparedResource& resource = *resource_pointer;
      if (!resource.summary->well_formed) {
        STORE_TRY(InsertMalformed(page, resource));
        ++outcome.malformed;
        continue;
      }
      const ResourceSummaryRow row{resource.summary->resource_type,
                                   resource.summary->id,
                                   resource.summary->version_id,
                                   resource.summary->version_number,
                                   resource.summary->last_updated,
                                   resource.summary->last_updated_us,
                                   false,
                                   resource.content_hash,
                                   resource.raw,
                                   resource.summary->view ? &*resource.summary->view : nullptr};
      auto changed = UpsertResource(page, row);
      if (!changed) return std::unexpected(changed.error());
      if (!*changed) {
        ++outcome.unchanged;
        continue;
      }
      ++outcome.stored;
    }

    for (const Tombstone& tombstone : page.tombstones) {
      const Micros deleted_at = tombstone.deleted_at != 0 ? tombstone.deleted_at : page.fetched_at;
      STORE_TRY(InsertTombstone(page, tombstone, deleted_at));
      const ResourceSummaryRow row{tombstone.resource_type,
                                   tombstone.id,
                                   tombstone.version_id,
                                   WholeVersionNumber(tombstone.version_id),
                                   "",
                                   deleted_at,
                                   true,
                                   "",
                                   "",
                                   nullptr};
      auto changed = UpsertResource(page, row);
      if (!changed) return std::unexpected(changed.error());
      if (*changed) ++outcome.tombstoned;
    }

    // The checkpoint is written last: if it cannot be, nothing of the page is kept.
    if (page.checkpoint) {
      if (!IsJsonText(page.checkpoint->state)) return base::Fail(CheckpointStateError());
      Checkpoint checkpoint = *page.checkpoint;
      if (!checkpoint.sync_run_id) checkpoint.sync_run_id = page.sync_run_id;
      STORE_TRY(UpsertCheckpoint(checkpoint));
    }
    if (page.sync_run_id) {
      auto statement = Cached(kCountRunPage);
      if (!statement) return std::unexpected(statement.error());
      StatementScope scope(**statement);
      STORE_TRY(scope->BindInt64(1, *page.sync_run_id));
      STORE_TRY(scope->BindInt64(2, outcome.stored));
      STORE_TRY(scope->BindInt64(3, outcome.unchanged));
      STORE_TRY(scope->BindInt64(4, outcome.malformed));
      STORE_TRY(scope->BindInt64(5, outcome.tombstoned));
      STORE_TRY(scope->Run());
      if (database_.ChangedRows() != 1) {
        return base::Fail(base::ErrorCode::kInvalidParameter,
                          "the page's sync run is unknown or already finished; the page was not "
                          "stored",
                          "Page.sync_run_id");
      }
    }
    STORE_TRY(transaction->Commit());
    return outcome;
  }

  base::Result<std::optional<StoredResource>> GetResource(std::string_view site,
                                                          std::string_view resource_type,
                                                          std::string_view id) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT version_id, last_updated, content_hash, raw, deleted, fetched_at_us, "
        "correlation_id FROM resources WHERE site = ?1 AND resource_type = ?2 AND id = ?3");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(BindKey(*scope, site, resource_type, id));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return std::optional<StoredResource>();
    StoredResource stored;
    stored.resource_type = resource_type;
    stored.id = id;
    stored.version_id = scope->ColumnText(0);
    stored.last_updated = scope->ColumnText(1);
    stored.content_hash = scope->ColumnText(2);
    stored.raw = scope->ColumnText(3);
    stored.deleted = scope->ColumnInt64(4) != 0;
    stored.fetched_at = scope->ColumnInt64(5);
    stored.correlation_id = scope->ColumnText(6);
    return stored;
  }

  base::Result<std::map<std::string, std::string>> GetContentHashes(
      std::string_view site, std::string_view resource_type,
      std::span<const std::string> ids) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT content_hash FROM resources WHERE site = ?1 AND resource_type = ?2 AND id = ?3 "
        "AND deleted = 0");
    if (!statement) return std::unexpected(statement.error());
    std::map<std::string, std::string> hashes;
    for (const std::string& id : ids) {
      StatementScope scope(**statement);
      STORE_TRY(BindKey(*scope, site, resource_type, id));
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      if (*has_row) hashes[id] = scope->ColumnText(0);
    }
    return hashes;
  }

  base::Result<std::map<std::string, std::int64_t>> CountResources(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT resource_type, count(*) FROM resources WHERE site = ?1 AND deleted = 0 "
        "GROUP BY resource_type");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    std::map<std::string, std::int64_t> counts;
    for (;;) {
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      if (!*has_row) break;
      counts[scope->ColumnText(0)] = scope->ColumnInt64(1);
    }
    return counts;
  }

  base::Result<std::vector<VersionEntry>> ListVersions(std::string_view site,
                                                       std::string_view resource_type) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT id, version_id, last_updated FROM resources WHERE site = ?1 AND "
        "resource_type = ?2 AND deleted = 0 ORDER BY id");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    STORE_TRY(scope->BindText(2, resource_type));
    std::vector<VersionEntry> versions;
    for (;;) {
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      if (!*has_row) break;
      versions.push_back({scope->ColumnText(0), scope->ColumnText(1), scope->ColumnText(2)});
    }
    return versions;
  }

  base::Result<std::vector<PatientReferenceRow>> ListPatientReferences(
      std::string_view site, std::string_view resource_type) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT id, patient_reference FROM resources WHERE site = ?1 AND resource_type = ?2 AND "
        "deleted = 0 ORDER BY id");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    STORE_TRY(scope->BindText(2, resource_type));
    std::vector<PatientReferenceRow> rows;
    for (;;) {
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      if (!*has_row) break;
      rows.push_back({scope->ColumnText(0), OptionalText(*scope, 1)});
    }
    return rows;
  }

  base::Result<std::vector<Tombstone>> ListTombstones(std::string_view site,
                                                      std::string_view resource_type) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT id, version_id, deleted_at_us FROM tombstones WHERE site = ?1 AND "
        "resource_type = ?2 ORDER BY id, deleted_at_us");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    STORE_TRY(scope->BindText(2, resource_type));
    std::vector<Tombstone> tombstones;
    for (;;) {
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      if (!*has_row) break;
      tombstones.push_back({std::string(resource_type), scope->ColumnText(0), scope->ColumnText(1),
                            scope->ColumnInt64(2)});
    }
    return tombstones;
  }

  base::Result<std::int64_t> CountMalformed(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached("SELECT count(*) FROM malformed_resources WHERE site = ?1");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    return scope->ColumnInt64(0);
  }

  base::Status QuarantinePage(const QuarantinedPage& page) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "INSERT INTO quarantined_pages (site, resource_type, correlation_id, position, url, "
        "error, body, quarantined_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, page.site));
    STORE_TRY(scope->BindText(2, page.resource_type));
    STORE_TRY(scope->BindText(3, page.correlation_id));
    STORE_TRY(scope->BindText(4, page.position));
    STORE_TRY(scope->BindText(5, page.url));
    STORE_TRY(scope->BindText(6, page.error));
    STORE_TRY(scope->BindText(7, page.body));
    STORE_TRY(scope->BindInt64(8, page.quarantined_at != 0 ? page.quarantined_at : NowMicros()));
    return scope->Run();
  }

  base::Result<std::vector<QuarantinedPage>> ListQuarantinedPages(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT site, resource_type, correlation_id, position, url, error, body, "
        "quarantined_at_us FROM quarantined_pages WHERE site = ?1 ORDER BY id");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    std::vector<QuarantinedPage> pages;
    while (true) {
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      if (!*has_row) break;
      pages.push_back({scope->ColumnText(0), scope->ColumnText(1), scope->ColumnText(2),
                       scope->ColumnText(3), scope->ColumnText(4), scope->ColumnText(5),
                       scope->ColumnText(6), scope->ColumnInt64(7)});
    }
    return pages;
  }

  base::Result<std::optional<ClinicalRow>> GetClinicalRow(std::string_view site,
                                                          std::string_view resource_type,
                                                          std::string_view id) override {
    if (!fhir::HasClinicalView(resource_type)) return std::optional<ClinicalRow>();
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT patient_reference, encounter_reference, status, category, code_system, code, "
        "effective, effective_us, value_number, value_unit, gender, birth_date "
        "FROM resources WHERE site = ?1 AND resource_type = ?2 AND id = ?3 AND deleted = 0");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(BindKey(*scope, site, resource_type, id));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return std::optional<ClinicalRow>();
    ClinicalRow row{std::string(resource_type), std::string(id), {}};
    fhir::ClinicalView& view = row.view;
    view.patient_reference = OptionalText(*scope, 0);
    view.encounter_reference = OptionalText(*scope, 1);
    view.status = OptionalText(*scope, 2);
    view.category = OptionalText(*scope, 3);
    view.code_system = OptionalText(*scope, 4);
    view.code = OptionalText(*scope, 5);
    view.effective = OptionalText(*scope, 6);
    if (!scope->ColumnIsNull(7)) view.effective_us = scope->ColumnInt64(7);
    if (!scope->ColumnIsNull(8)) view.value_number = scope->ColumnDouble(8);
    view.value_unit = OptionalText(*scope, 9);
    view.gender = OptionalText(*scope, 10);
    view.birth_date = OptionalText(*scope, 11);
    return row;
  }

  base::Status PutCheckpoint(const Checkpoint& checkpoint) override {
    if (!IsJsonText(checkpoint.state)) return base::Fail(CheckpointStateError());
    std::lock_guard lock(mutex_);
    return UpsertCheckpoint(checkpoint);
  }

  base::Result<std::optional<Checkpoint>> GetCheckpoint(const CheckpointKey& key) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT state, updated_at_us, sync_run_id FROM checkpoints WHERE site = ?1 AND "
        "resource_type = ?2 AND context_key = ?3");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(BindKey(*scope, key.site, key.resource_type, key.context_key));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return std::optional<Checkpoint>();
    Checkpoint checkpoint{key, scope->ColumnText(0), scope->ColumnInt64(1), std::nullopt};
    if (!scope->ColumnIsNull(2)) checkpoint.sync_run_id = scope->ColumnInt64(2);
    return checkpoint;
  }

  base::Result<std::vector<Checkpoint>> ListCheckpoints(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT resource_type, context_key, state, updated_at_us, sync_run_id FROM checkpoints "
        "WHERE site = ?1 ORDER BY resource_type, context_key");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    std::vector<Checkpoint> checkpoints;
    for (;;) {
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      if (!*has_row) break;
      Checkpoint checkpoint{{std::string(site), scope->ColumnText(0), scope->ColumnText(1)},
                            scope->ColumnText(2),
                            scope->ColumnInt64(3),
                            std::nullopt};
      if (!scope->ColumnIsNull(4)) checkpoint.sync_run_id = scope->ColumnInt64(4);
      checkpoints.push_back(std::move(checkpoint));
    }
    return checkpoints;
  }

  base::Result<std::int64_t> StartSyncRun(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto statement =
        Cached("INSERT INTO sync_runs (site, status, started_at_us) VALUES (?1, 'running', ?2)");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    STORE_TRY(scope->BindInt64(2, NowMicros()));
    STORE_TRY(scope->Run());
    return database_.LastInsertRowId();
  }

  base::Status FinishSyncRun(std::int64_t run_id, SyncRunStatus status,
                             std::string_view error) override {
    if (status == SyncRunStatus::kRunning) {
      return base::Fail(base::ErrorCode::kInvalidParameter,
                        "a sync run finishes as succeeded, failed or cancelled", "status");
    }
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "UPDATE sync_runs SET status = ?2, finished_at_us = ?3, error = ?4 WHERE id = ?1 AND "
        "status = 'running'");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindInt64(1, run_id));
    STORE_TRY(scope->BindText(2, SyncRunStatusName(status)));
    STORE_TRY(scope->BindInt64(3, NowMicros()));
    STORE_TRY(scope->BindText(4, error));
    STORE_TRY(scope->Run());
    if (database_.ChangedRows() == 1) return {};
    return FinishFailure(run_id);
  }

  base::Result<std::optional<SyncRun>> GetSyncRun(std::int64_t run_id) override {
    std::lock_guard lock(mutex_);
    return ReadSyncRun(run_id);
  }

  base::Result<std::int64_t> AddWorkItem(const WorkItemKey& key) override {
    std::lock_guard lock(mutex_);
    auto transaction = TransactionGuard::Begin(database_);
    if (!transaction) return std::unexpected(transaction.error());
    auto insert = Cached(
        "INSERT INTO work_items (site, resource_type, cohort, state) VALUES (?1, ?2, ?3, "
        "'pending') ON CONFLICT (site, resource_type, cohort) DO UPDATE SET state = 'pending' "
        "WHERE work_items.state IN ('done', 'failed')");
    if (!insert) return std::unexpected(insert.error());
    {
      StatementScope scope(**insert);
      STORE_TRY(BindKey(*scope, key.site, key.resource_type, key.cohort));
      STORE_TRY(scope->Run());
    }
    auto select =
        Cached("SELECT id FROM work_items WHERE site = ?1 AND resource_type = ?2 AND cohort = ?3");
    if (!select) return std::unexpected(select.error());
    std::int64_t id = 0;
    {
      StatementScope scope(**select);
      STORE_TRY(BindKey(*scope, key.site, key.resource_type, key.cohort));
      auto has_row = scope->Step();
      if (!has_row) return std::unexpected(has_row.error());
      id = scope->ColumnInt64(0);
    }
    STORE_TRY(transaction->Commit());
    return id;
  }

  base::Result<std::optional<WorkLease>> Lease(std::string_view worker_id,
                                               std::chrono::milliseconds duration) override {
    std::lock_guard lock(mutex_);
    // One statement, so the choice and the claim are atomic even across processes.
    auto statement = Cached(R"sql(
UPDATE work_items SET state = 'leased', holder = ?1, lease_token = lease_token + 1,
  lease_expires_at_us = ?2 + ?3, attempts = attempts + 1
WHERE id = (SELECT id FROM work_items
            WHERE state = 'pending' OR (state = 'leased' AND lease_expires_at_us <= ?2)
            ORDER BY id LIMIT 1)
RETURNING id, site, resource_type, cohort, lease_token, lease_expires_at_us)sql");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, worker_id));
    STORE_TRY(scope->BindInt64(2, NowMicros()));
    STORE_TRY(scope->BindInt64(
        3, std::chrono::duration_cast<std::chrono::microseconds>(duration).count()));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return std::optional<WorkLease>();
    WorkLease lease{scope->ColumnInt64(0),
                    {scope->ColumnText(1), scope->ColumnText(2), scope->ColumnText(3)},
                    std::string(worker_id),
                    scope->ColumnInt64(4),
                    scope->ColumnInt64(5)};
    STORE_TRY(scope->Run());
    return lease;
  }

  // Inside a write transaction (which already excludes every other writer, a takeover
  // included): kLeaseLost unless the fence's lease is held and unexpired.
  base::Status HoldLease(const LeaseFence& fence) {
    auto statement = Cached(
        "SELECT 1 FROM work_items WHERE id = ?1 AND lease_token = ?2 AND state = 'leased' "
        "AND lease_expires_at_us > ?3");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindInt64(1, fence.item_id));
    STORE_TRY(scope->BindInt64(2, fence.lease_token));
    STORE_TRY(scope->BindInt64(3, NowMicros()));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return LeaseLost();
    return {};
  }

  base::Result<WorkLease> Heartbeat(const WorkLease& lease,
                                    std::chrono::milliseconds duration) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "UPDATE work_items SET lease_expires_at_us = ?3 + ?4 WHERE id = ?1 AND lease_token = ?2 "
        "AND state = 'leased' AND lease_expires_at_us > ?3 RETURNING lease_expires_at_us");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindInt64(1, lease.item_id));
    STORE_TRY(scope->BindInt64(2, lease.token));
    STORE_TRY(scope->BindInt64(3, NowMicros()));
    STORE_TRY(scope->BindInt64(
        4, std::chrono::duration_cast<std::chrono::microseconds>(duration).count()));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return LeaseLost();
    WorkLease extended = lease;
    extended.expires_at = scope->ColumnInt64(0);
    STORE_TRY(scope->Run());
    return extended;
  }

  base::Status CompleteWorkItem(const WorkLease& lease) override {
    return EndLease(lease, "done", "");
  }

  base::Status FailWorkItem(const WorkLease& lease, std::string_view error, bool retry) override {
    return EndLease(lease, retry ? "pending" : "failed", error);
  }

  base::Result<std::optional<WorkItem>> GetWorkItem(std::int64_t item_id) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "SELECT site, resource_type, cohort, state, holder, lease_token, lease_expires_at_us, "
        "attempts, last_error FROM work_items WHERE id = ?1");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindInt64(1, item_id));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return std::optional<WorkItem>();
    auto state = ParseWorkItemState(scope->ColumnText(3));
    if (!state) return std::unexpected(state.error());
    return WorkItem{item_id,
                    {scope->ColumnText(0), scope->ColumnText(1), scope->ColumnText(2)},
                    *state,
                    scope->ColumnText(4),
                    scope->ColumnInt64(5),
                    scope->ColumnInt64(6),
                    scope->ColumnInt64(7),
                    scope->ColumnText(8)};
  }

  base::Status ConfigureSiteBudget(std::string_view site, double capacity,
                                   double refill_per_second) override {
    if (!(capacity > 0) || !(refill_per_second >= 0)) {
      return base::Fail(base::ErrorCode::kInvalidParameter,
                        "a site budget needs a capacity above 0 and a refill rate of 0 or more",
                        "budget");
    }
    std::lock_guard lock(mutex_);
    auto statement = Cached(R"sql(
INSERT INTO site_budgets (site, capacity, refill_per_second, tokens, updated_at_us)
VALUES (?1, ?2, ?3, ?2, ?4)
ON CONFLICT (site) DO UPDATE SET
  tokens = min(excluded.capacity, site_budgets.tokens +
               max(0, ?4 - site_budgets.updated_at_us) / 1e6 * site_budgets.refill_per_second),
  capacity = excluded.capacity, refill_per_second = excluded.refill_per_second,
  updated_at_us = max(site_budgets.updated_at_us, ?4))sql");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, site));
    STORE_TRY(scope->BindDouble(2, capacity));
    STORE_TRY(scope->BindDouble(3, refill_per_second));
    STORE_TRY(scope->BindInt64(4, NowMicros()));
    return scope->Run();
  }

  base::Result<bool> TryAcquireBudget(std::string_view site, double requests) override {
    std::lock_guard lock(mutex_);
    auto statement = Cached(R"sql(
UPDATE site_budgets SET
  tokens = min(capacity, tokens + max(0, ?3 - updated_at_us) / 1e6 * refill_per_second) - ?2,
  updated_at_us = max(updated_at_us, ?3)
WHERE site = ?1
  AND min(capacity, tokens + max(0, ?3 - updated_at_us) / 1e6 * refill_per_second) >= ?2)sql");
    if (!statement) return std::unexpected(statement.error());
    {
      StatementScope scope(**statement);
      STORE_TRY(scope->BindText(1, site));
      STORE_TRY(scope->BindDouble(2, requests));
      STORE_TRY(scope->BindInt64(3, NowMicros()));
      STORE_TRY(scope->Run());
    }
    if (database_.ChangedRows() == 1) return true;
    auto exists = Cached("SELECT 1 FROM site_budgets WHERE site = ?1");
    if (!exists) return std::unexpected(exists.error());
    StatementScope scope(**exists);
    STORE_TRY(scope->BindText(1, site));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) {
      return base::Fail(base::ErrorCode::kNotFound, "the site has no request budget configured",
                        "site");
    }
    return false;
  }

 private:
  struct ResourceSummaryRow {
    std::string_view resource_type;
    std::string_view id;
    std::string_view version_id;
    std::int64_t version_number;
    std::string_view last_updated;
    Micros last_updated_us;
    bool deleted;
    std::string_view content_hash;
    std::string_view raw;
    const fhir::ClinicalView* view;  // null for other types and tombstones
  };

  static std::unexpected<base::Error> NewerSchemaError(std::int64_t applied) {
    return base::Fail(base::ErrorCode::kStorageFailure,
                      "the store's schema is version " + std::to_string(applied) +
                          ", newer than this binary knows (" + std::to_string(kLatestVersion) +
                          "); upgrade fhirbridge");
  }

  static std::unexpected<base::Error> LeaseLost() {
    return base::Fail(base::ErrorCode::kLeaseLost,
                      "the work item's lease expired or was taken over by another worker");
  }

  static base::Status BindKey(Statement& statement, std::string_view a, std::string_view b,
                              std::string_view c) {
    STORE_TRY(statement.BindText(1, a));
    STORE_TRY(statement.BindText(2, b));
    return statement.BindText(3, c);
  }

  // The statement for `sql`, prepared once per connection. Keyed by the text's address: every
  // caller passes a literal.
  base::Result<Statement*> Cached(const char* sql) {
    const auto found = statements_.find(sql);
    if (found != statements_.end()) return &found->second;
    auto prepared = database_.Prepare(sql, StatementLifetime::kLongLived);
    if (!prepared) return std::unexpected(prepared.error());
    return &statements_.emplace(sql, std::move(*prepared)).first->second;
  }

  base::Result<std::int64_t> AppliedVersion() {
    auto statement = database_.Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!statement) return std::unexpected(statement.error());
    auto has_row = statement->Step();
    if (!has_row) return std::unexpected(has_row.error());
    return statement->ColumnInt64(0);
  }

  base::Result<bool> UpsertResource(const Page& page, const ResourceSummaryRow& row) {
    auto statement = Cached(kUpsertResource);
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    // Every text is bound without a copy: the page and its prepared rows outlive the statement
    // scope, which resets the statement before returning.
    STORE_TRY(scope->BindTextReference(1, page.site));
    STORE_TRY(scope->BindTextReference(2, row.resource_type));
    STORE_TRY(scope->BindTextReference(3, row.id));
    STORE_TRY(scope->BindTextReference(4, row.version_id));
    STORE_TRY(scope->BindInt64(5, row.version_number));
    STORE_TRY(scope->BindTextReference(6, row.last_updated));
    STORE_TRY(scope->BindInt64(7, row.last_updated_us));
    STORE_TRY(scope->BindInt64(8, row.deleted ? 1 : 0));
    STORE_TRY(scope->BindTextReference(9, row.content_hash));
    STORE_TRY(scope->BindTextReference(10, row.raw));
    STORE_TRY(scope->BindInt64(11, page.fetched_at));
    STORE_TRY(scope->BindTextReference(12, page.correlation_id));
    if (row.view != nullptr) STORE_TRY(BindView(*scope, *row.view));
    STORE_TRY(scope->Run());
    return database_.ChangedRows() == 1;
  }

  // Binds the normalised columns, ?13 to ?24; left unbound they are NULL.
  static base::Status BindView(Statement& statement, const fhir::ClinicalView& view) {
    STORE_TRY(BindOptionalText(statement, 13, view.patient_reference));
    STORE_TRY(BindOptionalText(statement, 14, view.encounter_reference));
    STORE_TRY(BindOptionalText(statement, 15, view.status));
    STORE_TRY(BindOptionalText(statement, 16, view.category));
    STORE_TRY(BindOptionalText(statement, 17, view.code_system));
    STORE_TRY(BindOptionalText(statement, 18, view.code));
    STORE_TRY(BindOptionalText(statement, 19, view.effective));
    if (view.effective_us) STORE_TRY(statement.BindInt64(20, *view.effective_us));
    if (view.value_number) STORE_TRY(statement.BindDouble(21, *view.value_number));
    STORE_TRY(BindOptionalText(statement, 22, view.value_unit));
    STORE_TRY(BindOptionalText(statement, 23, view.gender));
    return BindOptionalText(statement, 24, view.birth_date);
  }

  base::Status InsertMalformed(const Page& page, const PreparedResource& resource) {
    auto statement = Cached(kInsertMalformed);
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindText(1, page.site));
    STORE_TRY(scope->BindText(2, resource.content_hash));
    STORE_TRY(scope->BindText(3, resource.summary->problem));
    STORE_TRY(scope->BindText(4, resource.raw));
    STORE_TRY(scope->BindInt64(5, page.fetched_at));
    STORE_TRY(scope->BindText(6, page.correlation_id));
    return scope->Run();
  }

  base::Status InsertTombstone(const Page& page, const Tombstone& tombstone, Micros deleted_at) {
    auto statement = Cached(kInsertTombstone);
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(BindKey(*scope, page.site, tombstone.resource_type, tombstone.id));
    STORE_TRY(scope->BindText(4, tombstone.version_id));
    STORE_TRY(scope->BindInt64(5, deleted_at));
    STORE_TRY(scope->BindInt64(6, page.fetched_at));
    STORE_TRY(scope->BindText(7, page.correlation_id));
    return scope->Run();
  }

  base::Status UpsertCheckpoint(const Checkpoint& checkpoint) {
    auto statement = Cached(kUpsertCheckpoint);
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(BindKey(*scope, checkpoint.key.site, checkpoint.key.resource_type,
                      checkpoint.key.context_key));
    STORE_TRY(scope->BindText(4, checkpoint.state));
    STORE_TRY(
        scope->BindInt64(5, checkpoint.updated_at != 0 ? checkpoint.updated_at : NowMicros()));
    STORE_TRY(checkpoint.sync_run_id ? scope->BindInt64(6, *checkpoint.sync_run_id)
                                     : scope->BindNull(6));
    return scope->Run();
  }

  base::Result<std::optional<SyncRun>> ReadSyncRun(std::int64_t run_id) {
    auto statement = Cached(
        "SELECT site, status, started_at_us, finished_at_us, pages, stored, unchanged, "
        "malformed, tombstoned, error FROM sync_runs WHERE id = ?1");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindInt64(1, run_id));
    auto has_row = scope->Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return std::optional<SyncRun>();
    auto status = ParseSyncRunStatus(scope->ColumnText(1));
    if (!status) return std::unexpected(status.error());
    SyncRun run;
    run.id = run_id;
    run.site = scope->ColumnText(0);
    run.status = *status;
    run.started_at = scope->ColumnInt64(2);
    if (!scope->ColumnIsNull(3)) run.finished_at = scope->ColumnInt64(3);
    run.pages = scope->ColumnInt64(4);
    run.stored = scope->ColumnInt64(5);
    run.unchanged = scope->ColumnInt64(6);
    run.malformed = scope->ColumnInt64(7);
    run.tombstoned = scope->ColumnInt64(8);
    run.error = scope->ColumnText(9);
    return run;
  }

  base::Status FinishFailure(std::int64_t run_id) {
    auto run = ReadSyncRun(run_id);
    if (!run) return std::unexpected(run.error());
    if (!*run) {
      return base::Fail(base::ErrorCode::kNotFound, "no sync run has this id", "run_id");
    }
    return base::Fail(base::ErrorCode::kInvalidParameter, "the sync run has already finished",
                      "run_id");
  }

  base::Status EndLease(const WorkLease& lease, std::string_view state, std::string_view error) {
    std::lock_guard lock(mutex_);
    auto statement = Cached(
        "UPDATE work_items SET state = ?3, last_error = ?4, lease_expires_at_us = 0 "
        "WHERE id = ?1 AND lease_token = ?2 AND state = 'leased' AND lease_expires_at_us > ?5");
    if (!statement) return std::unexpected(statement.error());
    StatementScope scope(**statement);
    STORE_TRY(scope->BindInt64(1, lease.item_id));
    STORE_TRY(scope->BindInt64(2, lease.token));
    STORE_TRY(scope->BindText(3, state));
    STORE_TRY(scope->BindText(4, error));
    STORE_TRY(scope->BindInt64(5, NowMicros()));
    STORE_TRY(scope->Run());
    if (database_.ChangedRows() != 1) return LeaseLost();
    return {};
  }

  std::mutex mutex_;
  Database database_;
  std::unordered_map<const char*, Statement> statements_;
  fhir::ResourceSummariser summariser_;
  base::Sha256 hasher_;
  std::vector<PreparedResource> prepared_;
  std::vector<const PreparedResource*> write_order_;
};

}  // namespace

base::Status ConfigureReplicaConnection(Database& database) {
  // A page's upserts touch index pages all over the file (ids are random). A cache that holds
  // them saves re-reading them for every page, and rarer WAL checkpoints copy each hot page into
  // the database once per checkpoint instead of once every few pages. Measured on a million
  // resources on a loaded machine, 256 MB between checkpoints was no slower than 64 MB and
  // sometimes 10 % faster; page sizes of 1, 2, 8 and 16 KB were all slower than 4 KB (measured
  // again with the ingest benchmark: 2 KB 9 % and 1 KB 18 % slower). After a checkpoint the WAL
  // file keeps up to 320 MB (a checkpoint's worth): writing over blocks the file already has is
  // cheaper than growing it again (about 5 % of ingest CPU when it was cut back to 64 MB). The
  // cache is 32 MB.
  return database.Execute(
      "PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 65536; "
      "PRAGMA journal_size_limit = 335544320");
}

base::Result<std::unique_ptr<ReplicaStore>> OpenSqliteReplicaStore(const std::string& path) {
  STORE_TRY(CreatePrivateFile(path));
  auto database = Database::Open(path);
  if (!database) return std::unexpected(database.error());
  STORE_TRY(ConfigureReplicaConnection(*database));
  auto store = std::make_unique<SqliteReplicaStore>(std::move(*database));
  auto migrated = store->Migrate();
  if (!migrated) return std::unexpected(migrated.error());
  return std::unique_ptr<ReplicaStore>(std::move(store));
}

}  // namespace fhirbridge::store
