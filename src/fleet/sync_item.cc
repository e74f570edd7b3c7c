#include "fleet/sync_item.h"

#include <memory>

#include "fleet/budgeted_page_source.h"
#include "fleet/fenced_sync_sink.h"

namespace fhirbridge::fleet {
namespace {

// A source that refuses every request once the item should stop; used when the site has no
// shared budget, so that stop requests and lost leases still end the run within one request.
class StoppablePageSource : public sync::PageSource {
 public:
  StoppablePageSource(sync::PageSource& inner, const LeaseGuard& guard)
      : inner_(inner), guard_(guard) {}
  base::Result<sync::FetchResponse> Get(const sync::FetchRequest& request) override {
    if (guard_.should_stop()) {
      return base::Fail(base::ErrorCode::kCancelled, "the work item was stopped", "fleet");
    }
    return inner_.Get(request);
  }

 private:
  sync::PageSource& inner_;
  const LeaseGuard& guard_;
};

}  // namespace

base::Result<SyncItemResult> RunSyncItem(LeaseGuard& guard, SyncItemContext& context) {
  const store::WorkLease lease = guard.lease();
  if (lease.key.site != context.options.site) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "the work item is for another site than the one configured", "site");
  }
  StoppablePageSource stoppable(context.source, guard);
  std::unique_ptr<BudgetedPageSource> budgeted;
  sync::PageSource* source = &stoppable;
  if (context.requests_per_second > 0) {
    budgeted = std::make_unique<BudgetedPageSource>(stoppable, context.budget_store, lease.key.site,
                                                    context.requests_per_second,
                                                    [&guard] { return guard.should_stop(); });
    source = budgeted.get();
  }
  FencedSyncSink sink(context.sink, guard);

  auto metadata = source->Get({context.options.base_url + "/metadata", {}});
  if (!metadata) return std::unexpected(metadata.error());
  if (metadata->status != 200) {
    return base::Fail(base::ErrorCode::kDiscoveryFailed,
                      "the site's CapabilityStatement could not be read (HTTP " +
                          std::to_string(metadata->status) + ")",
                      "metadata");
  }
  auto capabilities = sync::ParseCapabilityStatement(metadata->body);
  if (!capabilities) return std::unexpected(capabilities.error());

  sync::PlanInputs inputs;
  inputs.types = {lease.key.resource_type};
  inputs.permissions = context.permissions;
  inputs.capabilities = std::move(*capabilities);
  inputs.patient_cohort = context.options.patient_cohort;
  std::vector<sync::TypePlan> plan = sync::PlanSync(inputs);

  SyncItemResult result;
  result.plan = plan.at(0);
  if (result.plan.strategy == sync::Strategy::kNone) {
    return base::Fail(base::ErrorCode::kCapabilityUnavailable, result.plan.reason,
                      lease.key.resource_type);
  }
  sync::SyncEngine engine(*source, sink, context.progress, context.options);
  result.outcome = engine.SyncType(result.plan);
  result.budgeted_requests = budgeted ? budgeted->requests() : 0;
  if (guard.lost()) {
    return base::Fail(base::ErrorCode::kLeaseLost, "the work item's lease was lost", "fleet");
  }
  if (!result.outcome.succeeded) {
    if (result.outcome.error) return std::unexpected(*result.outcome.error);
    return base::Fail(base::ErrorCode::kInternal, "the type's sync failed without an error",
                      lease.key.resource_type);
  }
  return result;
}

}  // namespace fhirbridge::fleet
