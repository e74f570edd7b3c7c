#include "fleet/fenced_sync_sink.h"

namespace fhirbridge::fleet {

base::Status FencedSyncSink::CommitPage(const sync::PageWrite& page) {
  if (auto held = guard_.Extend(); !held) {
    ++refused_;
    return held;
  }
  return inner_.CommitPage(page);
}

base::Status FencedSyncSink::Quarantine(const sync::QuarantinedPage& page) {
  if (auto held = guard_.Extend(); !held) {
    ++refused_;
    return held;
  }
  return inner_.Quarantine(page);
}

}  // namespace fhirbridge::fleet
