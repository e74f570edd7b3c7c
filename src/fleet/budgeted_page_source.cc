#include "fleet/budgeted_page_source.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace fhirbridge::fleet {
namespace {

// Half a token's refill time, between 2 ms and 250 ms: often enough to use the budget fully,
// rarely enough that waiting workers do not load the database.
std::chrono::milliseconds PollInterval(double refill_per_second) {
  if (!(refill_per_second > 0)) return std::chrono::milliseconds(250);
  const double millis = 500.0 / refill_per_second;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(millis, 2.0, 250.0)));
}

}  // namespace

BudgetedPageSource::BudgetedPageSource(sync::PageSource& inner, store::ReplicaStore& store,
                                       std::string site, double refill_per_second,
                                       std::function<bool()> cancelled)
    : inner_(inner),
      store_(store),
      site_(std::move(site)),
      poll_(PollInterval(refill_per_second)),
      cancelled_(std::move(cancelled)) {}

base::Result<sync::FetchResponse> BudgetedPageSource::Get(const sync::FetchRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  while (true) {
    auto acquired = store_.TryAcquireBudget(site_, 1);
    if (!acquired) return std::unexpected(acquired.error());
    if (*acquired) break;
    if (cancelled_ && cancelled_()) {
      return base::Fail(base::ErrorCode::kCancelled,
                        "stopped while waiting for the site's shared request budget", site_);
    }
    std::this_thread::sleep_for(poll_);
  }
  waited_ += std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  ++requests_;
  return inner_.Get(request);
}

}  // namespace fhirbridge::fleet
