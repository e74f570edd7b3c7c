#include "store/postgres_replica_store.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "store/postgres.h"
#include "store/store_support.h"

namespace fhirbridge::store {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// The same tables as the SQLite backend in PostgreSQL's types. Append-only, like SQLite's.
const Migration kMigrations[] = {
    {1, "resources, clinical views, tombstones, checkpoints, sync runs, work items, budgets",
     R"sql(
CREATE TABLE resources (
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  id TEXT NOT NULL,
  version_id TEXT NOT NULL,
  version_number BIGINT NOT NULL,
  last_updated TEXT NOT NULL,
  last_updated_us BIGINT NOT NULL,
  deleted SMALLINT NOT NULL,
  content_hash TEXT NOT NULL,
  raw TEXT NOT NULL,
  fetched_at_us BIGINT NOT NULL,
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
  effective_us BIGINT,
  value_number DOUBLE PRECISION,
  value_unit TEXT,
  gender TEXT,
  birth_date TEXT,
  PRIMARY KEY (site, resource_type, id));
CREATE TABLE tombstones (
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  id TEXT NOT NULL,
  version_id TEXT NOT NULL,
  deleted_at_us BIGINT NOT NULL,
  fetched_at_us BIGINT NOT NULL,
  correlation_id TEXT NOT NULL,
  PRIMARY KEY (site, resource_type, id, version_id, deleted_at_us));
CREATE TABLE malformed_resources (
  site TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  problem TEXT NOT NULL,
  raw TEXT NOT NULL,
  fetched_at_us BIGINT NOT NULL,
  correlation_id TEXT NOT NULL,
  PRIMARY KEY (site, content_hash));
CREATE TABLE checkpoints (
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  context_key TEXT NOT NULL,
  state TEXT NOT NULL,
  updated_at_us BIGINT NOT NULL,
  sync_run_id BIGINT,
  PRIMARY KEY (site, resource_type, context_key));
CREATE TABLE sync_runs (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  site TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at_us BIGINT NOT NULL,
  finished_at_us BIGINT,
  pages BIGINT NOT NULL DEFAULT 0,
  stored BIGINT NOT NULL DEFAULT 0,
  unchanged BIGINT NOT NULL DEFAULT 0,
  malformed BIGINT NOT NULL DEFAULT 0,
  tombstoned BIGINT NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '');
CREATE TABLE work_items (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  cohort TEXT NOT NULL,
  state TEXT NOT NULL,
  holder TEXT NOT NULL DEFAULT '',
  lease_token BIGINT NOT NULL DEFAULT 0,
  lease_expires_at_us BIGINT NOT NULL DEFAULT 0,
  attempts BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  UNIQUE (site, resource_type, cohort));
CREATE TABLE site_budgets (
  site TEXT PRIMARY KEY,
  capacity DOUBLE PRECISION NOT NULL,
  refill_per_second DOUBLE PRECISION NOT NULL,
  tokens DOUBLE PRECISION NOT NULL,
  updated_at_us BIGINT NOT NULL);
)sql"},
    {2, "quarantined pages", R"sql(
CREATE TABLE quarantined_pages (
  id BIGSERIAL PRIMARY KEY,
  site TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  correlation_id TEXT NOT NULL,
  position TEXT NOT NULL,
  url TEXT NOT NULL,
  error TEXT NOT NULL,
  body TEXT NOT NULL,
  quarantined_at_us BIGINT NOT NULL);
CREATE INDEX quarantined_pages_by_site ON quarantined_pages (site, id);
)sql"},
};

constexpr int kLatestVersion = 2;

// The server's clock in microseconds; every worker of a fleet reads the same clock.
#define PG_NOW_US "(extract(epoch from clock_timestamp()) * 1000000)::bigint"

// Rows per multi-row statement: PostgreSQL takes at most 65535 parameters.
constexpr std::size_t kRowsPerStatement = 500;

std::string Number(std::int64_t value) { return std::to_string(value); }

std::string Number(double value) {
  char buffer[64];
  const auto written = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, written.ptr);
}

std::optional<std::string> OptionalText(const PgResult& result, int row, int column) {
  if (result.IsNull(row, column)) return std::nullopt;
  return result.Text(row, column);
}

std::int64_t DurationMicros(std::chrono::milliseconds duration) {
  return std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
}

std::unexpected<base::Error> LeaseLost() {
  return base::Fail(base::ErrorCode::kLeaseLost,
                    "the work item's lease expired or was taken over by another worker");
}

std::unexpected<base::Error> NewerSchemaError(std::int64_t applied) {
  return base::Fail(base::ErrorCode::kStorageFailure,
                    "the store's schema is version " + std::to_string(applied) +
                        ", newer than this binary knows (" + std::to_string(kLatestVersion) +
                        "); upgrade fhirbridge");
}

// "INSERT ... VALUES ($1, $2), ($3, $4) ..." for `rows` rows of `columns` parameters.
std::string ValuesList(std::size_t rows, std::size_t columns) {
  std::string text;
  text.reserve(rows * columns * 6);
  std::size_t parameter = 1;
  for (std::size_t row = 0; row < rows; ++row) {
    text += row == 0 ? "(" : ", (";
    for (std::size_t column = 0; column < columns; ++column) {
      if (column != 0) text += ", ";
      text += '$';
      text += std::to_string(parameter++);
    }
    text += ')';
  }
  return text;
}

class PostgresReplicaStore final : public ReplicaStore {
 public:
  explicit PostgresReplicaStore(PgConnection connection) : connection_(std::move(connection)) {}

  std::string_view backend() const override { return "postgresql"; }

  base::Result<SchemaStatus> Migrate() override {
    std::lock_guard lock(mutex_);
    for (const Migration& migration : kMigrations) {
      auto transaction = PgTransaction::Begin(connection_);
      if (!transaction) return std::unexpected(transaction.error());
      // Workers starting together migrate one at a time.
      STORE_TRY(connection_.Execute(
          "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.fhirbridge_migrations')); "
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
          "description TEXT NOT NULL, applied_at_us BIGINT NOT NULL)",
          "lock the schema for migration"));
      auto applied = AppliedVersion();
      if (!applied) return std::unexpected(applied.error());
      if (*applied > kLatestVersion) return NewerSchemaError(*applied);
      if (*applied >= migration.version) continue;
      STORE_TRY(connection_.Execute(migration.sql, "apply a migration"));
      if (migration.version == 1) {
        STORE_TRY(connection_.Execute(kClinicalViewsSql, "create the clinical views"));
      }
      STORE_TRY(connection_.Query(
          "INSERT INTO schema_migrations (version, description, applied_at_us) "
          "VALUES ($1, $2, $3)",
          {Number(std::int64_t{migration.version}), migration.description, Number(NowMicros())},
          "record a migration"));
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
    PageOutcome outcome;

    // One statement cannot upsert a row twice: keep the highest-ranked copy of each resource
    // (the others are unchanged by definition).
    std::map<std::pair<std::string_view, std::string_view>, const PreparedResource*> newest;
    std::vector<const PreparedResource*> malformed;
    for (const PreparedResource& resource : prepared_) {
      const fhir::ResourceSummary& summary = *resource.summary;
      if (!summary.well_formed) {
        malformed.push_back(&resource);
        continue;
      }
      auto [slot, inserted] = newest.try_emplace({summary.resource_type, summary.id}, &resource);
      if (inserted) continue;
      ++outcome.unchanged;
      const fhir::ResourceSummary& held = *slot->second->summary;
      if (std::pair(summary.last_updated_us, summary.version_number) >
          std::pair(held.last_updated_us, held.version_number)) {
        slot->second = &resource;
      }
    }

    auto transaction = PgTransaction::Begin(connection_);
    if (!transaction) return std::unexpected(transaction.error());
    if (page.lease_fence) STORE_TRY(HoldLease(*page.lease_fence));

    outcome.malformed = static_cast<std::int64_t>(malformed.size());
    STORE_TRY(InsertMalformed(page, malformed));

    std::vector<const PreparedResource*> resources;
    resources.reserve(newest.size());
    for (const auto& entry : newest) resources.push_back(entry.second);
    std::set<std::pair<std::string, std::string>> changed;
    STORE_TRY(UpsertResources(page, resources, changed));
    outcome.stored = static_cast<std::int64_t>(changed.size());
    outcome.unchanged += static_cast<std::int64_t>(resources.size() - changed.size());

    for (const Tombstone& tombstone : page.tombstones) {
      auto applied = ApplyTombstone(page, tombstone);
      if (!applied) return std::unexpected(applied.error());
      if (*applied) ++outcome.tombstoned;
    }

    // The checkpoint is written last: if it cannot be, nothing of the page is kept.
    if (page.checkpoint) {
      if (!IsJsonText(page.checkpoint->state)) return base::Fail(CheckpointStateError());
      Checkpoint checkpoint = *page.checkpoint;
      if (!checkpoint.sync_run_id) checkpoint.sync_run_id = page.sync_run_id;
      STORE_TRY(UpsertCheckpoint(checkpoint));
    }
    if (page.sync_run_id) {
      auto counted = connection_.Query(
          "UPDATE sync_runs SET pages = pages + 1, stored = stored + $2, "
          "unchanged = unchanged + $3, malformed = malformed + $4, tombstoned = tombstoned + $5 "
          "WHERE id = $1 AND status = 'running'",
          {Number(*page.sync_run_id), Number(outcome.stored), Number(outcome.unchanged),
           Number(outcome.malformed), Number(outcome.tombstoned)},
          "count a page in its sync run");
      if (!counted) return std::unexpected(counted.error());
      if (counted->AffectedRows() != 1) {
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
    auto result = connection_.Query(
        "SELECT version_id, last_updated, content_hash, raw, deleted, fetched_at_us, "
        "correlation_id FROM resources WHERE site = $1 AND resource_type = $2 AND id = $3",
        {std::string(site), std::string(resource_type), std::string(id)}, "read a resource");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return std::optional<StoredResource>();
    StoredResource stored;
    stored.resource_type = resource_type;
    stored.id = id;
    stored.version_id = result->Text(0, 0);
    stored.last_updated = result->Text(0, 1);
    stored.content_hash = result->Text(0, 2);
    stored.raw = result->Text(0, 3);
    stored.deleted = result->Int64(0, 4) != 0;
    stored.fetched_at = result->Int64(0, 5);
    stored.correlation_id = result->Text(0, 6);
    return stored;
  }

  base::Result<std::map<std::string, std::string>> GetContentHashes(
      std::string_view site, std::string_view resource_type,
      std::span<const std::string> ids) override {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::string> hashes;
    // One query per batch: the ids travel as one text[] parameter.
    for (std::size_t start = 0; start < ids.size(); start += kRowsPerStatement) {
      std::string array = "{";
      for (std::size_t i = start; i < std::min(ids.size(), start + kRowsPerStatement); ++i) {
        if (i != start) array += ',';
        array += '"';
        for (const char c : ids[i]) {
          if (c == '"' || c == '\\') array += '\\';
          array += c;
        }
        array += '"';
      }
      array += '}';
      auto result = connection_.Query(
          "SELECT id, content_hash FROM resources WHERE site = $1 AND resource_type = $2 AND "
          "deleted = 0 AND id = ANY($3::text[])",
          {std::string(site), std::string(resource_type), array}, "read content hashes");
      if (!result) return std::unexpected(result.error());
      for (int row = 0; row < result->rows(); ++row) {
        hashes[result->Text(row, 0)] = result->Text(row, 1);
      }
    }
    return hashes;
  }

  base::Result<std::map<std::string, std::int64_t>> CountResources(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT resource_type, count(*) FROM resources WHERE site = $1 AND deleted = 0 "
        "GROUP BY resource_type",
        {std::string(site)}, "count resources");
    if (!result) return std::unexpected(result.error());
    std::map<std::string, std::int64_t> counts;
    for (int row = 0; row < result->rows(); ++row) {
      counts[result->Text(row, 0)] = result->Int64(row, 1);
    }
    return counts;
  }

  base::Result<std::vector<VersionEntry>> ListVersions(std::string_view site,
                                                       std::string_view resource_type) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT id, version_id, last_updated FROM resources WHERE site = $1 AND "
        "resource_type = $2 AND deleted = 0 ORDER BY id COLLATE \"C\"",
        {std::string(site), std::string(resource_type)}, "list versions");
    if (!result) return std::unexpected(result.error());
    std::vector<VersionEntry> versions;
    for (int row = 0; row < result->rows(); ++row) {
      versions.push_back({result->Text(row, 0), result->Text(row, 1), result->Text(row, 2)});
    }
    return versions;
  }

  base::Result<std::vector<PatientReferenceRow>> ListPatientReferences(
      std::string_view site, std::string_view resource_type) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT id, patient_reference FROM resources WHERE site = $1 AND resource_type = $2 AND "
        "deleted = 0 ORDER BY id COLLATE \"C\"",
        {std::string(site), std::string(resource_type)}, "list patient references");
    if (!result) return std::unexpected(result.error());
    std::vector<PatientReferenceRow> rows;
    rows.reserve(static_cast<std::size_t>(result->rows()));
    for (int row = 0; row < result->rows(); ++row) {
      std::optional<std::string> reference;
      if (!result->IsNull(row, 1)) reference = result->Text(row, 1);
      rows.push_back({result->Text(row, 0), std::move(reference)});
    }
    return rows;
  }

  base::Result<std::vector<Tombstone>> ListTombstones(std::string_view site,
                                                      std::string_view resource_type) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT id, version_id, deleted_at_us FROM tombstones WHERE site = $1 AND "
        "resource_type = $2 ORDER BY id COLLATE \"C\", deleted_at_us",
        {std::string(site), std::string(resource_type)}, "list tombstones");
    if (!result) return std::unexpected(result.error());
    std::vector<Tombstone> tombstones;
    for (int row = 0; row < result->rows(); ++row) {
      tombstones.push_back({std::string(resource_type), result->Text(row, 0), result->Text(row, 1),
                            result->Int64(row, 2)});
    }
    return tombstones;
  }

  base::Status QuarantinePage(const QuarantinedPage& page) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "INSERT INTO quarantined_pages (site, resource_type, correlation_id, position, url, "
        "error, body, quarantined_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        {page.site, page.resource_type, page.correlation_id, page.position, page.url, page.error,
         page.body, Number(page.quarantined_at != 0 ? page.quarantined_at : NowMicros())},
        "quarantine a page");
    if (!result) return std::unexpected(result.error());
    return {};
  }

  base::Result<std::vector<QuarantinedPage>> ListQuarantinedPages(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT site, resource_type, correlation_id, position, url, error, body, "
        "quarantined_at_us FROM quarantined_pages WHERE site = $1 ORDER BY id",
        {std::string(site)}, "list quarantined pages");
    if (!result) return std::unexpected(result.error());
    std::vector<QuarantinedPage> pages;
    for (int row = 0; row < result->rows(); ++row) {
      pages.push_back({result->Text(row, 0), result->Text(row, 1), result->Text(row, 2),
                       result->Text(row, 3), result->Text(row, 4), result->Text(row, 5),
                       result->Text(row, 6), result->Int64(row, 7)});
    }
    return pages;
  }

  base::Result<std::int64_t> CountMalformed(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query("SELECT count(*) FROM malformed_resources WHERE site = $1",
                                    {std::string(site)}, "count malformed resources");
    if (!result) return std::unexpected(result.error());
    return result->Int64(0, 0);
  }

  base::Result<std::optional<ClinicalRow>> GetClinicalRow(std::string_view site,
                                                          std::string_view resource_type,
                                                          std::string_view id) override {
    if (!fhir::HasClinicalView(resource_type)) return std::optional<ClinicalRow>();
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT patient_reference, encounter_reference, status, category, code_system, code, "
        "effective, effective_us, value_number, value_unit, gender, birth_date "
        "FROM resources WHERE site = $1 AND resource_type = $2 AND id = $3 AND deleted = 0",
        {std::string(site), std::string(resource_type), std::string(id)}, "read a clinical view");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return std::optional<ClinicalRow>();
    ClinicalRow row{std::string(resource_type), std::string(id), {}};
    fhir::ClinicalView& view = row.view;
    view.patient_reference = OptionalText(*result, 0, 0);
    view.encounter_reference = OptionalText(*result, 0, 1);
    view.status = OptionalText(*result, 0, 2);
    view.category = OptionalText(*result, 0, 3);
    view.code_system = OptionalText(*result, 0, 4);
    view.code = OptionalText(*result, 0, 5);
    view.effective = OptionalText(*result, 0, 6);
    if (!result->IsNull(0, 7)) view.effective_us = result->Int64(0, 7);
    if (!result->IsNull(0, 8)) view.value_number = result->Double(0, 8);
    view.value_unit = OptionalText(*result, 0, 9);
    view.gender = OptionalText(*result, 0, 10);
    view.birth_date = OptionalText(*result, 0, 11);
    return row;
  }

  base::Status PutCheckpoint(const Checkpoint& checkpoint) override {
    if (!IsJsonText(checkpoint.state)) return base::Fail(CheckpointStateError());
    std::lock_guard lock(mutex_);
    return UpsertCheckpoint(checkpoint);
  }

  base::Result<std::optional<Checkpoint>> GetCheckpoint(const CheckpointKey& key) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT state, updated_at_us, sync_run_id FROM checkpoints WHERE site = $1 AND "
        "resource_type = $2 AND context_key = $3",
        {key.site, key.resource_type, key.context_key}, "read a checkpoint");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return std::optional<Checkpoint>();
    Checkpoint checkpoint{key, result->Text(0, 0), result->Int64(0, 1), std::nullopt};
    if (!result->IsNull(0, 2)) checkpoint.sync_run_id = result->Int64(0, 2);
    return checkpoint;
  }

  base::Result<std::vector<Checkpoint>> ListCheckpoints(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "SELECT resource_type, context_key, state, updated_at_us, sync_run_id FROM checkpoints "
        "WHERE site = $1 ORDER BY resource_type COLLATE \"C\", context_key COLLATE \"C\"",
        {std::string(site)}, "list checkpoints");
    if (!result) return std::unexpected(result.error());
    std::vector<Checkpoint> checkpoints;
    for (int row = 0; row < result->rows(); ++row) {
      Checkpoint checkpoint{{std::string(site), result->Text(row, 0), result->Text(row, 1)},
                            result->Text(row, 2),
                            result->Int64(row, 3),
                            std::nullopt};
      if (!result->IsNull(row, 4)) checkpoint.sync_run_id = result->Int64(row, 4);
      checkpoints.push_back(std::move(checkpoint));
    }
    return checkpoints;
  }

  base::Result<std::int64_t> StartSyncRun(std::string_view site) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "INSERT INTO sync_runs (site, status, started_at_us) VALUES ($1, 'running', $2) "
        "RETURNING id",
        {std::string(site), Number(NowMicros())}, "start a sync run");
    if (!result) return std::unexpected(result.error());
    return result->Int64(0, 0);
  }

  base::Status FinishSyncRun(std::int64_t run_id, SyncRunStatus status,
                             std::string_view error) override {
    if (status == SyncRunStatus::kRunning) {
      return base::Fail(base::ErrorCode::kInvalidParameter,
                        "a sync run finishes as succeeded, failed or cancelled", "status");
    }
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "UPDATE sync_runs SET status = $2, finished_at_us = $3, error = $4 WHERE id = $1 AND "
        "status = 'running'",
        {Number(run_id), std::string(SyncRunStatusName(status)), Number(NowMicros()),
         std::string(error)},
        "finish a sync run");
    if (!result) return std::unexpected(result.error());
    if (result->AffectedRows() == 1) return {};
    auto run = ReadSyncRun(run_id);
    if (!run) return std::unexpected(run.error());
    if (!*run) return base::Fail(base::ErrorCode::kNotFound, "no sync run has this id", "run_id");
    return base::Fail(base::ErrorCode::kInvalidParameter, "the sync run has already finished",
                      "run_id");
  }

  base::Result<std::optional<SyncRun>> GetSyncRun(std::int64_t run_id) override {
    std::lock_guard lock(mutex_);
    return ReadSyncRun(run_id);
  }

  base::Result<std::int64_t> AddWorkItem(const WorkItemKey& key) override {
    std::lock_guard lock(mutex_);
    // The no-op update makes RETURNING yield the id of an item that already exists.
    auto result = connection_.Query(
        "INSERT INTO work_items (site, resource_type, cohort, state) VALUES ($1, $2, $3, "
        "'pending') ON CONFLICT (site, resource_type, cohort) DO UPDATE SET state = "
        "CASE WHEN work_items.state IN ('done', 'failed') THEN 'pending' "
        "ELSE work_items.state END RETURNING id",
        {key.site, key.resource_type, key.cohort}, "add a work item");
    if (!result) return std::unexpected(result.error());
    return result->Int64(0, 0);
  }

  base::Result<std::optional<WorkLease>> Lease(std::string_view worker_id,
                                               std::chrono::milliseconds duration) override {
    std::lock_guard lock(mutex_);
    // SKIP LOCKED: a worker never waits for, or takes, an item another worker is claiming.
    auto result = connection_.Query(
        "UPDATE work_items SET state = 'leased', holder = $1, lease_token = lease_token + 1, "
        "lease_expires_at_us = " PG_NOW_US
        " + $2::bigint, attempts = attempts + 1 "
        "WHERE id = (SELECT id FROM work_items WHERE state = 'pending' OR (state = 'leased' AND "
        "lease_expires_at_us <= " PG_NOW_US
        ") ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING id, site, resource_type, cohort, lease_token, lease_expires_at_us",
        {std::string(worker_id), Number(DurationMicros(duration))}, "lease a work item");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return std::optional<WorkLease>();
    return WorkLease{result->Int64(0, 0),
                     {result->Text(0, 1), result->Text(0, 2), result->Text(0, 3)},
                     std::string(worker_id),
                     result->Int64(0, 4),
                     result->Int64(0, 5)};
  }

  // Inside a transaction: kLeaseLost unless the fence's lease is held and unexpired. FOR SHARE
  // locks the row until the commit, so a Lease taking the item over (an UPDATE of the row)
  // waits for the page instead of slipping in between the check and the commit.
  base::Status HoldLease(const LeaseFence& fence) {
    auto result = connection_.Query(
        "SELECT 1 FROM work_items WHERE id = $1 AND lease_token = $2 AND state = 'leased' AND "
        "lease_expires_at_us > " PG_NOW_US " FOR SHARE",
        {Number(fence.item_id), Number(fence.lease_token)}, "check the page's lease");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return LeaseLost();
    return {};
  }

  base::Result<WorkLease> Heartbeat(const WorkLease& lease,
                                    std::chrono::milliseconds duration) override {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "UPDATE work_items SET lease_expires_at_us = " PG_NOW_US
        " + $3::bigint WHERE id = $1 AND lease_token = $2 AND state = 'leased' AND "
        "lease_expires_at_us > " PG_NOW_US " RETURNING lease_expires_at_us",
        {Number(lease.item_id), Number(lease.token), Number(DurationMicros(duration))},
        "extend a lease");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return LeaseLost();
    WorkLease extended = lease;
    extended.expires_at = result->Int64(0, 0);
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
    auto result = connection_.Query(
        "SELECT site, resource_type, cohort, state, holder, lease_token, lease_expires_at_us, "
        "attempts, last_error FROM work_items WHERE id = $1",
        {Number(item_id)}, "read a work item");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return std::optional<WorkItem>();
    auto state = ParseWorkItemState(result->Text(0, 3));
    if (!state) return std::unexpected(state.error());
    return WorkItem{item_id,
                    {result->Text(0, 0), result->Text(0, 1), result->Text(0, 2)},
                    *state,
                    result->Text(0, 4),
                    result->Int64(0, 5),
                    result->Int64(0, 6),
                    result->Int64(0, 7),
                    result->Text(0, 8)};
  }

  base::Status ConfigureSiteBudget(std::string_view site, double capacity,
                                   double refill_per_second) override {
    if (!(capacity > 0) || !(refill_per_second >= 0)) {
      return base::Fail(base::ErrorCode::kInvalidParameter,
                        "a site budget needs a capacity above 0 and a refill rate of 0 or more",
                        "budget");
    }
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "INSERT INTO site_budgets (site, capacity, refill_per_second, tokens, updated_at_us) "
        "VALUES ($1, $2::float8, $3::float8, $2::float8, " PG_NOW_US
        ") ON CONFLICT (site) DO UPDATE SET "
        "tokens = LEAST(excluded.capacity, site_budgets.tokens + GREATEST(0, " PG_NOW_US
        " - site_budgets.updated_at_us)::float8 / 1e6 * site_budgets.refill_per_second), "
        "capacity = excluded.capacity, refill_per_second = excluded.refill_per_second, "
        "updated_at_us = GREATEST(site_budgets.updated_at_us, " PG_NOW_US ")",
        {std::string(site), Number(capacity), Number(refill_per_second)},
        "configure a site budget");
    if (!result) return std::unexpected(result.error());
    return {};
  }

  base::Result<bool> TryAcquireBudget(std::string_view site, double requests) override {
    std::lock_guard lock(mutex_);
    // The row lock serialises workers; the refill is computed from the server's clock.
    auto result = connection_.Query(
        "UPDATE site_budgets SET tokens = LEAST(capacity, tokens + GREATEST(0, " PG_NOW_US
        " - updated_at_us)::float8 / 1e6 * refill_per_second) - $2::float8, "
        "updated_at_us = GREATEST(updated_at_us, " PG_NOW_US
        ") WHERE site = $1 AND LEAST(capacity, tokens + GREATEST(0, " PG_NOW_US
        " - updated_at_us)::float8 / 1e6 * refill_per_second) >= $2::float8",
        {std::string(site), Number(requests)}, "take from a site budget");
    if (!result) return std::unexpected(result.error());
    if (result->AffectedRows() == 1) return true;
    auto exists = connection_.Query("SELECT 1 FROM site_budgets WHERE site = $1",
                                    {std::string(site)}, "read a site budget");
    if (!exists) return std::unexpected(exists.error());
    if (exists->rows() == 0) {
      return base::Fail(base::ErrorCode::kNotFound, "the site has no request budget configured",
                        "site");
    }
    return false;
  }

 private:
  base::Result<std::int64_t> AppliedVersion() {
    auto result = connection_.Execute("SELECT coalesce(max(version), 0) FROM schema_migrations",
                                      "read the schema version");
    if (!result) return std::unexpected(result.error());
    return result->Int64(0, 0);
  }

  base::Status InsertMalformed(const Page& page,
                               const std::vector<const PreparedResource*>& resources) {
    for (std::size_t start = 0; start < resources.size(); start += kRowsPerStatement) {
      const std::size_t count = std::min(kRowsPerStatement, resources.size() - start);
      PgParams params;
      params.reserve(count * 6);
      for (std::size_t i = start; i < start + count; ++i) {
        params.emplace_back(page.site);
        params.emplace_back(resources[i]->content_hash);
        params.emplace_back(resources[i]->summary->problem);
        params.emplace_back(std::string(resources[i]->raw));
        params.emplace_back(Number(page.fetched_at));
        params.emplace_back(page.correlation_id);
      }
      STORE_TRY(connection_.Query(
          "INSERT INTO malformed_resources (site, content_hash, problem, raw, fetched_at_us, "
          "correlation_id) VALUES " +
              ValuesList(count, 6) + " ON CONFLICT (site, content_hash) DO NOTHING",
          params, "store malformed resources"));
    }
    return {};
  }

  base::Status UpsertResources(const Page& page,
                               const std::vector<const PreparedResource*>& resources,
                               std::set<std::pair<std::string, std::string>>& changed) {
    for (std::size_t start = 0; start < resources.size(); start += kRowsPerStatement) {
      const std::size_t count = std::min(kRowsPerStatement, resources.size() - start);
      PgParams params;
      params.reserve(count * kResourceColumns);
      for (std::size_t i = start; i < start + count; ++i) {
        const fhir::ResourceSummary& summary = *resources[i]->summary;
        params.emplace_back(page.site);
        params.emplace_back(summary.resource_type);
        params.emplace_back(summary.id);
        params.emplace_back(summary.version_id);
        params.emplace_back(Number(summary.version_number));
        params.emplace_back(summary.last_updated);
        params.emplace_back(Number(summary.last_updated_us));
        params.emplace_back("0");
        params.emplace_back(resources[i]->content_hash);
        params.emplace_back(std::string(resources[i]->raw));
        params.emplace_back(Number(page.fetched_at));
        params.emplace_back(page.correlation_id);
        AddViewParams(summary.view, params);
      }
      auto result = connection_.Query(std::string(kUpsertResourcesHead) +
                                          ValuesList(count, kResourceColumns) +
                                          kUpsertResourcesTail + " RETURNING resource_type, id",
                                      params, "store resources");
      if (!result) return std::unexpected(result.error());
      for (int row = 0; row < result->rows(); ++row) {
        changed.emplace(result->Text(row, 0), result->Text(row, 1));
      }
    }
    return {};
  }

  // The normalised columns, in the order of kUpsertResourcesHead; NULL for other types.
  static void AddViewParams(const std::optional<fhir::ClinicalView>& view, PgParams& params) {
    if (!view) {
      params.resize(params.size() + 12);
      return;
    }
    params.push_back(view->patient_reference);
    params.push_back(view->encounter_reference);
    params.push_back(view->status);
    params.push_back(view->category);
    params.push_back(view->code_system);
    params.push_back(view->code);
    params.push_back(view->effective);
    params.push_back(view->effective_us ? std::optional(Number(*view->effective_us))
                                        : std::nullopt);
    params.push_back(view->value_number ? std::optional(Number(*view->value_number))
                                        : std::nullopt);
    params.push_back(view->value_unit);
    params.push_back(view->gender);
    params.push_back(view->birth_date);
  }

  base::Result<bool> ApplyTombstone(const Page& page, const Tombstone& tombstone) {
    const Micros deleted_at = tombstone.deleted_at != 0 ? tombstone.deleted_at : page.fetched_at;
    STORE_TRY(connection_.Query(
        "INSERT INTO tombstones (site, resource_type, id, version_id, deleted_at_us, "
        "fetched_at_us, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT DO NOTHING",
        {page.site, tombstone.resource_type, tombstone.id, tombstone.version_id, Number(deleted_at),
         Number(page.fetched_at), page.correlation_id},
        "store a tombstone"));
    const std::int64_t version_number = WholeVersionNumber(tombstone.version_id);
    auto result = connection_.Query(
        std::string(kUpsertResourcesHead) +
            "($1, $2, $3, $4, $5, '', $6, 1, '', '', $7, $8, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL)" +
            kUpsertResourcesTail + " RETURNING id",
        {page.site, tombstone.resource_type, tombstone.id, tombstone.version_id,
         Number(version_number), Number(deleted_at), Number(page.fetched_at), page.correlation_id},
        "apply a tombstone");
    if (!result) return std::unexpected(result.error());
    return result->rows() != 0;
  }

  base::Status UpsertCheckpoint(const Checkpoint& checkpoint) {
    auto result = connection_.Query(
        "INSERT INTO checkpoints (site, resource_type, context_key, state, updated_at_us, "
        "sync_run_id) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (site, resource_type, context_key) DO UPDATE SET state = excluded.state, "
        "updated_at_us = excluded.updated_at_us, sync_run_id = excluded.sync_run_id",
        {checkpoint.key.site, checkpoint.key.resource_type, checkpoint.key.context_key,
         checkpoint.state, Number(checkpoint.updated_at != 0 ? checkpoint.updated_at : NowMicros()),
         checkpoint.sync_run_id ? std::optional(Number(*checkpoint.sync_run_id)) : std::nullopt},
        "store a checkpoint");
    if (!result) return std::unexpected(result.error());
    return {};
  }

  base::Result<std::optional<SyncRun>> ReadSyncRun(std::int64_t run_id) {
    auto result = connection_.Query(
        "SELECT site, status, started_at_us, finished_at_us, pages, stored, unchanged, "
        "malformed, tombstoned, error FROM sync_runs WHERE id = $1",
        {Number(run_id)}, "read a sync run");
    if (!result) return std::unexpected(result.error());
    if (result->rows() == 0) return std::optional<SyncRun>();
    auto status = ParseSyncRunStatus(result->Text(0, 1));
    if (!status) return std::unexpected(status.error());
    SyncRun run;
    run.id = run_id;
    run.site = result->Text(0, 0);
    run.status = *status;
    run.started_at = result->Int64(0, 2);
    if (!result->IsNull(0, 3)) run.finished_at = result->Int64(0, 3);
    run.pages = result->Int64(0, 4);
    run.stored = result->Int64(0, 5);
    run.unchanged = result->Int64(0, 6);
    run.malformed = result->Int64(0, 7);
    run.tombstoned = result->Int64(0, 8);
    run.error = result->Text(0, 9);
    return run;
  }

  base::Status EndLease(const WorkLease& lease, std::string_view state, std::string_view error) {
    std::lock_guard lock(mutex_);
    auto result = connection_.Query(
        "UPDATE work_items SET state = $3, last_error = $4, lease_expires_at_us = 0 "
        "WHERE id = $1 AND lease_token = $2 AND state = 'leased' AND "
        "lease_expires_at_us > " PG_NOW_US,
        {Number(lease.item_id), Number(lease.token), std::string(state), std::string(error)},
        "end a lease");
    if (!result) return std::unexpected(result.error());
    if (result->AffectedRows() != 1) return LeaseLost();
    return {};
  }

  static constexpr const char* kUpsertResourcesHead =
      "INSERT INTO resources (site, resource_type, id, version_id, version_number, "
      "last_updated, last_updated_us, deleted, content_hash, raw, fetched_at_us, "
      "correlation_id, patient_reference, encounter_reference, status, category, code_system, "
      "code, effective, effective_us, value_number, value_unit, gender, birth_date) VALUES ";
  static constexpr std::size_t kResourceColumns = 24;
  static constexpr const char* kUpsertResourcesTail =
      " ON CONFLICT (site, resource_type, id) DO UPDATE SET "
      "version_id = excluded.version_id, version_number = excluded.version_number, "
      "last_updated = excluded.last_updated, last_updated_us = excluded.last_updated_us, "
      "deleted = excluded.deleted, content_hash = excluded.content_hash, raw = excluded.raw, "
      "fetched_at_us = excluded.fetched_at_us, correlation_id = excluded.correlation_id, "
      "patient_reference = excluded.patient_reference, "
      "encounter_reference = excluded.encounter_reference, status = excluded.status, "
      "category = excluded.category, code_system = excluded.code_system, code = excluded.code, "
      "effective = excluded.effective, effective_us = excluded.effective_us, "
      "value_number = excluded.value_number, value_unit = excluded.value_unit, "
      "gender = excluded.gender, birth_date = excluded.birth_date "
      "WHERE (excluded.last_updated_us, excluded.version_number) > "
      "(resources.last_updated_us, resources.version_number) "
      "OR (excluded.last_updated_us = 0 AND excluded.version_number = 0 "
      "AND resources.last_updated_us = 0 AND resources.version_number = 0 "
      "AND excluded.content_hash <> resources.content_hash)";

  std::mutex mutex_;
  PgConnection connection_;
  fhir::ResourceSummariser summariser_;
  base::Sha256 hasher_;
  std::vector<PreparedResource> prepared_;
};

}  // namespace

base::Result<std::unique_ptr<ReplicaStore>> OpenPostgresReplicaStore(const std::string& dsn,
                                                                     const std::string& schema) {
  auto connection = PgConnection::Connect(dsn, schema);
  if (!connection) return std::unexpected(connection.error());
  auto store = std::make_unique<PostgresReplicaStore>(std::move(*connection));
  auto migrated = store->Migrate();
  if (!migrated) return std::unexpected(migrated.error());
  return std::unique_ptr<ReplicaStore>(std::move(store));
}

}  // namespace fhirbridge::store
