#include "sync/ports.h"

namespace fhirbridge::sync {

const std::string* FetchResponse::FindHeader(std::string_view lower_case_name) const {
  for (const http::Header& header : headers) {
    if (header.name == lower_case_name) return &header.value;
  }
  return nullptr;
}

base::Status SyncSink::CommitFencedPage(const PageWrite& /*page*/, const LeaseFence& /*fence*/) {
  return base::Fail(base::ErrorCode::kInvalidPrecondition,
                    "this sync sink cannot check a work item's lease; the page was not written");
}

}  // namespace fhirbridge::sync
