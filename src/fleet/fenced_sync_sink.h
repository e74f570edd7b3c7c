#pragma once

// A SyncSink decorator that writes only while this worker holds the work item's lease: before
// each CommitPage (and Quarantine) it extends the lease (a heartbeat on the caller's thread) and
// refuses with kLeaseLost, writing nothing, once the lease expired or was taken over. A worker
// that stalled past its lease (a long GC-like pause, a partitioned network) so stops at its next
// page instead of moving the checkpoint under the worker that took the item over.
//
// Limitation: the check and the write are two statements, not one transaction, because the
// store's WritePage carries no lease token. A holder whose lease expires in the moment between
// them can still commit that one page. The page itself is harmless (writes are idempotent and
// newer-wins); only its checkpoint can step back, and the next run reads the overlap again.
//
// Thread safety: as the inner sink.

#include "fleet/worker.h"
#include "sync/ports.h"

namespace fhirbridge::fleet {

class FencedSyncSink : public sync::SyncSink {
 public:
  FencedSyncSink(sync::SyncSink& inner, LeaseGuard& guard) : inner_(inner), guard_(guard) {}

  base::Result<std::optional<std::string>> ReadCheckpoint(const sync::CheckpointKey& key) override {
    return inner_.ReadCheckpoint(key);
  }
  base::Status CommitPage(const sync::PageWrite& page) override;
  base::Result<std::optional<sync::StoredResourceInfo>> ReadResource(
      const std::string& type, const std::string& id) override {
    return inner_.ReadResource(type, id);
  }
  base::Result<std::map<std::string, std::string>> ContentHashes(
      const std::string& type, const std::string& context) override {
    return inner_.ContentHashes(type, context);
  }
  base::Result<std::vector<std::string>> LiveIds(const std::string& type) override {
    return inner_.LiveIds(type);
  }
  base::Status Quarantine(const sync::QuarantinedPage& page) override;
  base::Result<std::int64_t> BeginRun(const sync::RunRecord& run) override {
    return inner_.BeginRun(run);
  }
  base::Status FinishRun(std::int64_t run_id, const sync::RunRecord& run) override {
    return inner_.FinishRun(run_id, run);
  }

  std::int64_t refused() const { return refused_; }

 private:
  sync::SyncSink& inner_;
  LeaseGuard& guard_;
  std::int64_t refused_ = 0;
};

}  // namespace fhirbridge::fleet
