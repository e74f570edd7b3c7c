#include "fleet/fenced_sync_sink.h"

namespace fhirbridge::fleet {

base::Status FencedSyncSink::CommitPage(const sync::PageWrite& page) {
  if (auto held = guard_.Extend(); !held) {
    ++refused_;
    return held;
  }
  // The lease also goes into the page's own transaction: the heartbeat above can be overtaken
  // by a takeover before the commit, the store's check cannot.
  const store::WorkLease lease = guard_.lease();
  auto committed = inner_.CommitFencedPage(page, {lease.item_id, lease.token});
  if (!committed && committed.error().code == base::ErrorCode::kLeaseLost) ++refused_;
  return committed;
}

base::Status FencedSyncSink::Quarantine(const sync::QuarantinedPage& page) {
  if (auto held = guard_.Extend(); !held) {
    ++refused_;
    return held;
  }
  return inner_.Quarantine(page);
}

}  // namespace fhirbridge::fleet
