#pragma once

// A PageSource decorator that takes one token from the site's fleet-wide request budget
// (ReplicaStore::TryAcquireBudget) before each request it passes on, so that every worker of a
// fleet together stays within the site's rate. It sits in front of the site's own source (whose
// local throttle still applies) and changes nothing in that source's contract.
//
// Limitation: the token is taken per Get; retries the inner source makes inside one Get (429,
// 5xx) are not charged to the budget.
//
// Thread safety: as the inner source (Get is called from one thread at a time).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "store/replica_store.h"
#include "sync/ports.h"

namespace fhirbridge::fleet {

class BudgetedPageSource : public sync::PageSource {
 public:
  // `refill_per_second` is the budget's rate (the site bundle's traffic.requests_per_second);
  // it sets how often an empty budget is asked again. `cancelled` is polled while waiting: when
  // it returns true, Get gives up with kCancelled.
  BudgetedPageSource(sync::PageSource& inner, store::ReplicaStore& store, std::string site,
                     double refill_per_second, std::function<bool()> cancelled);

  // kNotFound when the site has no budget configured (`fleet plan` configures it); kCancelled
  // when cancelled while waiting; otherwise the inner source's answer.
  base::Result<sync::FetchResponse> Get(const sync::FetchRequest& request) override;

  std::int64_t requests() const { return requests_; }
  std::chrono::milliseconds waited() const { return waited_; }

 private:
  sync::PageSource& inner_;
  store::ReplicaStore& store_;
  std::string site_;
  std::chrono::milliseconds poll_;
  std::function<bool()> cancelled_;
  std::int64_t requests_ = 0;
  std::chrono::milliseconds waited_{0};
};

}  // namespace fhirbridge::fleet
