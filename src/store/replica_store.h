#pragma once

// The runtime's local store: a replica of each site's data, kept current by sync, with the
// checkpoints that let a sync resume, a record of sync runs, and the fleet's shared work queue
// and request budgets. One interface, two backends: SQLite (embedded default, one file) and
// PostgreSQL (a fleet of workers sharing one database). Code above the store never branches on
// the backend.
//
// Contracts every backend keeps:
//  - WritePage is one transaction: the page's resources, its tombstones, its checkpoint and its
//    sync-run counters commit together or not at all. A process killed at any point leaves each
//    page either wholly stored with its checkpoint or absent.
//  - Idempotent and newer-wins: a resource's rank is (meta.lastUpdated, numeric meta.versionId).
//    The current row changes only for a higher rank, so the same version twice stores once and
//    an older version never overwrites a newer one. A tombstone is ranked by (deleted_at,
//    version) the same way, so a later re-creation revives the resource. A resource with
//    neither lastUpdated nor a numeric versionId replaces the current row when its content hash
//    differs (sites that send no versions are compared by content).
//  - The original bytes are kept as received; the content hash is SHA-256 of those bytes (hex).
//  - Normalisation never fails a write: a well-formed resource of the seven clinical types gets
//    its normalised columns (beside its raw bytes, in the same row, so they follow the same
//    newer-wins rule; the *_view SQL views show them per type) with whatever it has; a resource
//    without a readable
//    resourceType and id is kept raw in malformed_resources (once per site and content hash)
//    and counted, never dropped.
//  - Diagnostics never contain stored values (they name tables, not data).
//  - Times are microseconds since 1970 UTC. Lease and budget times come from the database
//    server's clock on PostgreSQL (workers on several machines agree) and from the process's
//    clock on SQLite (one process).
//
// Thread safety: one store object is one connection; its methods may be called from several
// threads (they are serialised). Several processes may open the same SQLite file or the same
// PostgreSQL database.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "fhir/resource_summary.h"

namespace fhirbridge::store {

using Micros = std::int64_t;

// Whose data a checkpoint covers: a site, a resource type and a context ("" for the whole
// site, or a user or patient context such as "Patient/123" or a cohort name).
struct CheckpointKey {
  std::string site;
  std::string resource_type;
  std::string context_key;
};

struct Checkpoint {
  CheckpointKey key;
  std::string state;  // the strategy's opaque state, a JSON text
  Micros updated_at = 0;
  std::optional<std::int64_t> sync_run_id;
};

struct Tombstone {
  std::string resource_type;
  std::string id;
  std::string version_id;  // "" when the server gave none
  Micros deleted_at = 0;
};

// A fleet work item's lease as a condition of a write: the write commits only while the lease
// with this token is still held and unexpired, checked inside the write's own transaction.
struct LeaseFence {
  std::int64_t item_id = 0;
  std::int64_t lease_token = 0;
};

// One page of a sync, as fetched. The resources are views the caller keeps alive for the call
// (for example into the Bundle text BundlePageReader split).
struct Page {
  std::string site;
  std::string correlation_id;  // of the request that fetched the page
  Micros fetched_at = 0;
  std::vector<std::string_view> resources;  // raw JSON of each resource as received
  // Optional, from a caller that has parsed the resources already (sync's page parser): for
  // each resource, in the same order, what fhir::ResourceSummariser::Summarise returns for it
  // (fhir::SummariseParsed reads it off a parse). The store then does not parse the resources
  // again. Empty, or a null entry: the store summarises the resource itself.
  std::vector<const fhir::ResourceSummary*> summaries;
  std::vector<Tombstone> tombstones;
  // Moved in the same transaction. Its state must be a JSON text; otherwise the whole page is
  // rolled back with kInvalidParameter (the checkpoint is written last).
  std::optional<Checkpoint> checkpoint;
  std::optional<std::int64_t> sync_run_id;  // whose counters the page adds to
  // Set by fleet workers: the page is written only while this lease is held; otherwise
  // kLeaseLost and nothing of the page is kept. On PostgreSQL the check locks the item's row
  // until the commit, so a worker taking the item over waits for the page instead of racing it.
  std::optional<LeaseFence> lease_fence;
};

struct PageOutcome {
  std::int64_t stored = 0;      // inserted or replaced a current row
  std::int64_t unchanged = 0;   // the same or an older version than the current row
  std::int64_t malformed = 0;   // kept raw in malformed_resources
  std::int64_t tombstoned = 0;  // deletions that removed or pre-empted a current row
};

struct StoredResource {
  std::string resource_type;
  std::string id;
  std::string version_id;
  std::string last_updated;
  std::string content_hash;
  std::string raw;  // "" when deleted
  bool deleted = false;
  Micros fetched_at = 0;
  std::string correlation_id;
};

struct VersionEntry {
  std::string id;
  std::string version_id;
  std::string last_updated;
};

// A live resource's id and normalised patient reference (ListPatientReferences).
struct PatientReferenceRow {
  std::string id;
  // As stored in the clinical view's column ("Patient/123", or an absolute URL); nullopt for a
  // type without a clinical view, or a resource without a subject or patient reference.
  std::optional<std::string> patient_reference;
};

// The normalised columns as stored.
struct ClinicalRow {
  std::string resource_type;
  std::string id;
  fhir::ClinicalView view;
};

enum class SyncRunStatus { kRunning, kSucceeded, kFailed, kCancelled };
std::string_view SyncRunStatusName(SyncRunStatus status);

struct SyncRun {
  std::int64_t id = 0;
  std::string site;
  SyncRunStatus status = SyncRunStatus::kRunning;
  Micros started_at = 0;
  std::optional<Micros> finished_at;
  std::int64_t pages = 0;
  std::int64_t stored = 0;
  std::int64_t unchanged = 0;
  std::int64_t malformed = 0;
  std::int64_t tombstoned = 0;
  std::string error;  // PHI-free: an error code name and diagnostic
};

// Fleet work: one (site, resource type, cohort) to sync.
struct WorkItemKey {
  std::string site;
  std::string resource_type;
  std::string cohort;  // "" for the whole site
};

enum class WorkItemState { kPending, kLeased, kDone, kFailed };
std::string_view WorkItemStateName(WorkItemState state);

struct WorkItem {
  std::int64_t id = 0;
  WorkItemKey key;
  WorkItemState state = WorkItemState::kPending;
  std::string holder;            // worker id of the last lease
  std::int64_t lease_token = 0;  // increases with every lease; fences an old holder out
  Micros lease_expires_at = 0;
  std::int64_t attempts = 0;
  std::string last_error;
};

// Held by one worker until it expires; every call that acts on the item presents it, and gets
// kLeaseLost when another worker has taken the item since.
struct WorkLease {
  std::int64_t item_id = 0;
  WorkItemKey key;
  std::string worker_id;
  std::int64_t token = 0;
  Micros expires_at = 0;
};

// A page sync refused as a whole (it did not read), kept for inspection with where it came from.
// `url` and `body` may hold patient data: they are stored, never logged.
struct QuarantinedPage {
  std::string site;
  std::string resource_type;
  std::string correlation_id;  // of the request that fetched the page
  std::string position;        // where in the run: strategy, checkpoint and page number
  std::string url;
  std::string error;  // PHI-free diagnostic
  std::string body;   // as received
  Micros quarantined_at = 0;
};

struct SchemaStatus {
  int version = 0;         // applied
  int latest_version = 0;  // known to this binary
};

class ReplicaStore {
 public:
  virtual ~ReplicaStore() = default;

  // "sqlite" or "postgresql".
  virtual std::string_view backend() const = 0;

  // Applies every migration this binary knows that the database lacks, each in its own
  // transaction, recorded in schema_migrations. Safe to run again and from several processes
  // at once. kStorageFailure when the database was migrated by a newer binary.
  virtual base::Result<SchemaStatus> Migrate() = 0;

  // Writes one page (see the contracts above).
  virtual base::Result<PageOutcome> WritePage(const Page& page) = 0;

  virtual base::Result<std::optional<StoredResource>> GetResource(std::string_view site,
                                                                  std::string_view resource_type,
                                                                  std::string_view id) = 0;
  // The content hash of each of `ids` that has a current, not deleted row.
  virtual base::Result<std::map<std::string, std::string>> GetContentHashes(
      std::string_view site, std::string_view resource_type, std::span<const std::string> ids) = 0;
  // Current, not deleted resources per type.
  virtual base::Result<std::map<std::string, std::int64_t>> CountResources(
      std::string_view site) = 0;
  // Current, not deleted resources of a type, ordered by id, for comparison with a server.
  virtual base::Result<std::vector<VersionEntry>> ListVersions(std::string_view site,
                                                               std::string_view resource_type) = 0;
  virtual base::Result<std::vector<Tombstone>> ListTombstones(std::string_view site,
                                                              std::string_view resource_type) = 0;
  // Current, not deleted resources of a type with their normalised patient reference, ordered
  // by id; no raw JSON is read. Per-patient refresh indexes a type's rows by patient with it
  // once per run instead of reading every resource of the type for every patient.
  virtual base::Result<std::vector<PatientReferenceRow>> ListPatientReferences(
      std::string_view site, std::string_view resource_type) = 0;
  virtual base::Result<std::int64_t> CountMalformed(std::string_view site) = 0;
  virtual base::Result<std::optional<ClinicalRow>> GetClinicalRow(std::string_view site,
                                                                  std::string_view resource_type,
                                                                  std::string_view id) = 0;

  // Keeps a refused page (in quarantined_pages); nothing else changes.
  virtual base::Status QuarantinePage(const QuarantinedPage& page) = 0;
  // A site's quarantined pages, oldest first.
  virtual base::Result<std::vector<QuarantinedPage>> ListQuarantinedPages(
      std::string_view site) = 0;

  // Checkpoints outside a page (a strategy that finished without a page, or a reset).
  virtual base::Status PutCheckpoint(const Checkpoint& checkpoint) = 0;
  virtual base::Result<std::optional<Checkpoint>> GetCheckpoint(const CheckpointKey& key) = 0;
  virtual base::Result<std::vector<Checkpoint>> ListCheckpoints(std::string_view site) = 0;

  virtual base::Result<std::int64_t> StartSyncRun(std::string_view site) = 0;
  // kNotFound for an unknown run; kInvalidParameter for kRunning or a run already finished.
  virtual base::Status FinishSyncRun(std::int64_t run_id, SyncRunStatus status,
                                     std::string_view error) = 0;
  virtual base::Result<std::optional<SyncRun>> GetSyncRun(std::int64_t run_id) = 0;

  // Fleet work queue. AddWorkItem creates the item as pending, or makes a done or failed item
  // pending again (the next cycle); a pending or leased item is left as it is. Returns its id.
  virtual base::Result<std::int64_t> AddWorkItem(const WorkItemKey& key) = 0;
  // Leases the oldest pending item, or an item whose lease has expired, to `worker_id`.
  // Empty when none is available. Two workers never hold the same item at once.
  virtual base::Result<std::optional<WorkLease>> Lease(std::string_view worker_id,
                                                       std::chrono::milliseconds duration) = 0;
  // Extends a lease that has not expired; kLeaseLost when it expired or was taken over.
  virtual base::Result<WorkLease> Heartbeat(const WorkLease& lease,
                                            std::chrono::milliseconds duration) = 0;
  // Marks the item done; kLeaseLost as for Heartbeat.
  virtual base::Status CompleteWorkItem(const WorkLease& lease) = 0;
  // Records a PHI-free error; the item becomes pending again when `retry`, failed otherwise.
  virtual base::Status FailWorkItem(const WorkLease& lease, std::string_view error, bool retry) = 0;
  virtual base::Result<std::optional<WorkItem>> GetWorkItem(std::int64_t item_id) = 0;

  // A site's request budget shared by every worker: a token bucket of `capacity` requests that
  // refills at `refill_per_second`. Configuring keeps the tokens already there (capped).
  virtual base::Status ConfigureSiteBudget(std::string_view site, double capacity,
                                           double refill_per_second) = 0;
  // Takes `requests` tokens when that many are there; false (nothing taken) otherwise.
  // kNotFound for a site without a budget.
  virtual base::Result<bool> TryAcquireBudget(std::string_view site, double requests) = 0;
};

// Opens a store and migrates it.
//  - "sqlite:PATH" or a path ending in .db/.sqlite: SQLite, file created 0600.
//  - "postgresql://..." or "postgres://..." or a libpq "key=value" DSN: PostgreSQL.
// `schema` (PostgreSQL only) puts every table in that schema, created if missing; tests use a
// schema each.
struct StoreLocation {
  std::string location;
  std::string schema;
};
base::Result<std::unique_ptr<ReplicaStore>> OpenReplicaStore(const StoreLocation& location);

}  // namespace fhirbridge::store
