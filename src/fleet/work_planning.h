#pragma once

// Fills the fleet's work queue from site bundles: one work item per site x resource type
// (sync.resource_types) x cohort (sync.patient_cohort; "" for "all"), and the site's shared
// request budget from traffic.requests_per_second (refill) and traffic.burst (capacity).
// Strategies are chosen later, by the worker that leases the item, from the site's live
// CapabilityStatement (the planner needs the server).

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "sites/site_config.h"
#include "store/replica_store.h"

namespace fhirbridge::fleet {

// The work items of one site, in bundle order. kConfigInvalid when the bundle lists no
// sync.resource_types.
base::Result<std::vector<store::WorkItemKey>> PlanSiteWork(const sites::SiteConfig& site);

struct EnqueueSummary {
  std::int64_t items = 0;    // added, or made pending again
  std::int64_t budgets = 0;  // sites whose budget was configured
  std::vector<std::int64_t> item_ids;
};

// Plans every site first (nothing is enqueued when one bundle is unusable), then configures
// the budgets (a site with requests_per_second 0 gets none: no shared limit) and adds the
// items. Pending and leased items are left as they are (AddWorkItem), so running it again is
// safe.
base::Result<EnqueueSummary> EnqueueFleetWork(store::ReplicaStore& store,
                                              std::span<const sites::SiteConfig> sites);

}  // namespace fhirbridge::fleet
