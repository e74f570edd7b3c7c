#pragma once

// A SyncSink decorator that writes only while this worker holds the work item's lease: before
// each CommitPage (and Quarantine) it extends the lease (a heartbeat on the caller's thread) and
// refuses with kLeaseLost, writing nothing, once the lease expired or was taken over. Each page
// is then committed with the lease as its fence (SyncSink::CommitFencedPage), which the store
// checks inside the page's own transaction, so a takeover between the heartbeat and the commit
// cannot let the old holder move the checkpoint under the new one. A worker that stalled past its
// lease (a long pause, a partitioned network) so stops at its next page.
//
// The inner sink must write into the store that holds the work items (the fence is checked
// there). A quarantined page is fenced by the heartbeat only: it writes no resources and no
// checkpoint.
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
