#include "fleet/work_planning.h"

#include <algorithm>

namespace fhirbridge::fleet {

base::Result<std::vector<store::WorkItemKey>> PlanSiteWork(const sites::SiteConfig& site) {
  if (site.sync_resource_types.empty()) {
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "the site bundle lists no sync.resource_types, so there is nothing to sync",
                      site.name);
  }
  const std::string cohort = site.patient_cohort == "all" ? "" : site.patient_cohort;
  std::vector<store::WorkItemKey> keys;
  for (const std::string& type : site.sync_resource_types) {
    keys.push_back({site.name, type, cohort});
  }
  return keys;
}

base::Result<EnqueueSummary> EnqueueFleetWork(store::ReplicaStore& store,
                                              std::span<const sites::SiteConfig> sites) {
  std::vector<std::vector<store::WorkItemKey>> planned;
  for (const sites::SiteConfig& site : sites) {
    auto keys = PlanSiteWork(site);
    if (!keys) return std::unexpected(keys.error());
    planned.push_back(std::move(*keys));
  }
  EnqueueSummary summary;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const sites::SiteConfig& site = sites[i];
    if (site.requests_per_second > 0) {
      const double capacity = std::max<double>(1, site.burst);
      if (auto configured =
              store.ConfigureSiteBudget(site.name, capacity, site.requests_per_second);
          !configured) {
        return std::unexpected(configured.error());
      }
      ++summary.budgets;
    }
    for (const store::WorkItemKey& key : planned[i]) {
      auto id = store.AddWorkItem(key);
      if (!id) return std::unexpected(id.error());
      summary.item_ids.push_back(*id);
      ++summary.items;
    }
  }
  return summary;
}

}  // namespace fhirbridge::fleet
