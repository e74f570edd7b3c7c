#pragma once

// The sync engine's SyncSink on the runtime's replica store (store/replica_store.h), SQLite or
// PostgreSQL alike. What maps to what:
//   CommitPage     -> WritePage: the page's resources (raw JSON as served), tombstones and
//                     checkpoint in one transaction, counted against the run in progress;
//   ReadCheckpoint -> GetCheckpoint (the engine's checkpoints are JSON texts, stored as they are);
//   ReadResource   -> GetResource, with the ETag W/"<versionId>" and the engine's content hash;
//   LiveIds        -> ListVersions;
//   BeginRun/FinishRun -> StartSyncRun/FinishSyncRun;
//   Quarantine     -> QuarantinePage.
// Content hashes are the engine's (sync::PageParser: SHA-256 of the members other than meta),
// recomputed from the stored raw JSON, not the store's own hash of the raw bytes, so that a site
// that fills or drops meta does not look like a change.
//
// ContentHashes for a patient context takes the live resources whose subject or patient
// reference (or, for Patient, whose id) is that patient. The sink indexes a type's stored rows by
// the patients they name the first time a run asks for one of them (the store's normalised
// patient reference, ListPatientReferences; the raw JSON for rows without one), keeps the index
// current with its own commits, and checks each candidate against the stored resource, so a
// pass over a cohort reads the type's references once instead of once per patient.
//
// Limitations, plainly: the store keeps no "read under which patient" column. The compartment
// index lives for one run and one type at a time (memory: an id per stored resource of that
// type); resources another process stores for the same site and type during the run are not
// in it, which only matters if two writers refresh the same patients at once. A run record keeps
// the store's per-site counters and outcome, not the engine's strategy and request count. A
// deletion is ranked by the time the site gives (history's response.lastModified), else by when it
// was seen; one with a version also yields to a newer version in the page or in the store, checked
// before the page's transaction, so a second writer of the same site in between is not accounted
// for.
//
// Thread safety: the store serialises its own calls; the sink's parser is guarded.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/replica_store.h"
#include "sync/page.h"
#include "sync/ports.h"

namespace fhirbridge::sync {

class StoreSyncSink final : public SyncSink {
 public:
  // Opens (creating and migrating) the store at `location` (a SQLite path or a postgresql://
  // DSN, see store::OpenReplicaStore) for `site`.
  static base::Result<std::unique_ptr<StoreSyncSink>> Open(const store::StoreLocation& location,
                                                           std::string site);
  StoreSyncSink(std::unique_ptr<store::ReplicaStore> store, std::string site);
  ~StoreSyncSink() override;

  base::Result<std::optional<std::string>> ReadCheckpoint(const CheckpointKey& key) override;
  base::Status CommitPage(const PageWrite& page) override;
  // The lease is checked by the store inside the page's transaction (store::Page::lease_fence).
  base::Status CommitFencedPage(const PageWrite& page, const LeaseFence& fence) override;
  base::Result<std::optional<StoredResourceInfo>> ReadResource(const std::string& type,
                                                               const std::string& id) override;
  base::Result<std::map<std::string, std::string>> ContentHashes(
      const std::string& type, const std::string& context) override;
  base::Result<std::vector<std::string>> LiveIds(const std::string& type) override;
  base::Status Quarantine(const QuarantinedPage& page) override;
  base::Result<std::int64_t> BeginRun(const RunRecord& run) override;
  base::Status FinishRun(std::int64_t run_id, const RunRecord& run) override;

  // Current rows changed by CommitPage since the sink was opened: resources stored (inserted or
  // replaced) and deletions applied. Lets callers and tests see that a repeated page changed
  // nothing.
  std::int64_t resources_written() const;
  std::int64_t tombstones_written() const;

  // Live (type, id, version) rows of the site, for comparisons in tests and benchmarks.
  struct LiveRow {
    std::string type;
    std::string id;
    std::int64_t version = 0;
  };
  base::Result<std::vector<LiveRow>> LiveRows();

  store::ReplicaStore& store() { return *store_; }

 private:
  base::Status Commit(const PageWrite& page, const std::optional<store::LeaseFence>& fence);
  // The engine's content hash of a stored resource's raw JSON.
  base::Result<std::string> EngineHash(const std::string& raw, const std::string& type);
  // Ids of the stored resources of `type` that named `patient` when indexed or committed since:
  // a superset of the patient's compartment (a resource may have moved to another patient).
  base::Result<std::set<std::string>> CompartmentCandidates(const std::string& type,
                                                            const std::string& patient);
  // Adds a committed page's resources to the compartment index, when it is of their type.
  void NoteCommitted(const PageWrite& page);

  struct CompartmentIndex {
    std::string type;
    std::unordered_map<std::string, std::set<std::string>> ids_by_patient;
  };

  std::unique_ptr<store::ReplicaStore> store_;
  const std::string site_;
  mutable std::mutex mutex_;
  PageParser parser_;                    // guarded by mutex_
  std::optional<std::int64_t> run_id_;   // guarded by mutex_: the run pages count against
  std::int64_t resources_written_ = 0;   // guarded by mutex_
  std::int64_t tombstones_written_ = 0;  // guarded by mutex_
  // Taken after mutex_ when both are held, never the other way round.
  std::mutex compartments_mutex_;
  std::optional<CompartmentIndex> compartments_;  // guarded by compartments_mutex_; one run
};

}  // namespace fhirbridge::sync
