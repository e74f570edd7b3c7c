#pragma once

// Pieces both ReplicaStore backends share: hashing, checks of caller input, names of states,
// the clock, and summarising a page before it is written.

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/sha256.h"
#include "fhir/resource_summary.h"
#include "store/replica_store.h"

// Propagates a failed Status or Result from `expression` out of a function returning a Result or
// Status.
#define STORE_TRY(expression)                                \
  do {                                                       \
    if (auto try_result = (expression); !try_result) {       \
      return std::unexpected(std::move(try_result).error()); \
    }                                                        \
  } while (false)

namespace fhirbridge::store {

// True when `text` is one complete JSON value.
bool IsJsonText(std::string_view text);

// kInvalidParameter naming the field when the page cannot be written as given (no site, a
// checkpoint for another site, a tombstone without type or id). Checked before any write.
base::Status CheckPage(const Page& page);

base::Result<SyncRunStatus> ParseSyncRunStatus(std::string_view name);
base::Result<WorkItemState> ParseWorkItemState(std::string_view name);

Micros NowMicros();

// `text` as a whole number when it is one (at most 18 digits), else 0.
std::int64_t WholeVersionNumber(std::string_view text);

// A resource of a page, summarised and hashed, ready for a backend to write.
struct PreparedResource {
  std::string_view raw;
  std::string content_hash;
  const fhir::ResourceSummary* summary = nullptr;  // the page's, or own_summary
  fhir::ResourceSummary own_summary;               // read here when the page brought none
};

// Hashes (with `hasher`) every resource of `page` into `prepared` (reused across pages to keep
// allocations flat), with its summary: the page's own when it brings them (Page::summaries),
// else read with `summariser`. The entries of `prepared` point into themselves: do not copy them.
void PrepareResources(const Page& page, fhir::ResourceSummariser& summariser, base::Sha256& hasher,
                      std::vector<PreparedResource>& prepared);

// The kInvalidParameter a checkpoint with a state that is not JSON gets.
base::Error CheckpointStateError();

}  // namespace fhirbridge::store

namespace fhirbridge::store {

// Per-type views over the normalised columns of current resources, the same SQL in both
// dialects.
extern const char* const kClinicalViewsSql;

}  // namespace fhirbridge::store
