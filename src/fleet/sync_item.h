#pragma once

// Runs one fleet work item as a sync: the lease's resource type for its site, planned from the
// site's CapabilityStatement with the sync planner, run by the sync engine. The site's source
// is wrapped in BudgetedPageSource (the fleet-wide request budget) and the sink in
// FencedSyncSink (no commit without the lease). Because every page commits with its checkpoint,
// an item taken over from a dead worker resumes where that worker's last commit left it.
//
// A stop request or a lost lease makes the next request fail with kCancelled, so the engine
// stops within one request; the item is then released (stop) or left to its new holder (lost).

#include <map>
#include <string>

#include "base/result.h"
#include "fleet/worker.h"
#include "store/replica_store.h"
#include "sync/engine.h"
#include "sync/plan.h"
#include "sync/ports.h"
#include "sync/progress.h"

namespace fhirbridge::fleet {

struct SyncItemContext {
  sync::PageSource& source;  // the site's own source (its throttle, retries, authorization)
  sync::SyncSink& sink;      // where the site's data is kept
  sync::ProgressObserver& progress;
  store::ReplicaStore& budget_store;  // holds the shared request budgets
  // site, base_url, page size, overlap and the resolved patient cohort; `site` must equal the
  // lease's site.
  sync::SyncOptions options;
  double requests_per_second = 0;  // the site's budget rate; 0: the site has no shared budget
  std::map<std::string, sync::TypePermission> permissions;  // empty: no matrix known
};

// What one item's run did, for logs and tests.
struct SyncItemResult {
  sync::TypePlan plan;
  sync::TypeOutcome outcome;
  std::int64_t budgeted_requests = 0;
};

// Runs the guard's item. Errors: kInvalidParameter when the lease is for another site than
// `context.options.site`; the source's error when the metadata cannot be read;
// kMalformedResponse for a CapabilityStatement that is not one; kCapabilityUnavailable when no
// strategy fits the type (with the planner's reason); the engine's error when the type failed;
// kLeaseLost when the lease was lost meanwhile.
base::Result<SyncItemResult> RunSyncItem(LeaseGuard& guard, SyncItemContext& context);

}  // namespace fhirbridge::fleet
