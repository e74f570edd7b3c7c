#pragma once

// The sync engine's PageSource on a site connection (sites/site_connection.h): each GET goes
// through the site's maintenance gate (background work waits for a window to end), concurrency
// limit, throttle at background priority, retries, circuit breaker and token renewal. One URL
// per call: the engine follows next links itself, so the site client's ForEachPage is not used.
//
// Thread safety: as SiteConnection::Send.

#include <cstdint>

#include "sites/site_connection.h"
#include "sync/ports.h"

namespace fhirbridge::sync {

class SitePageSource final : public PageSource {
 public:
  // `connection` must outlive the source. `mode`: what a request does during a maintenance
  // window (background sync waits).
  explicit SitePageSource(sites::SiteConnection& connection,
                          sites::MaintenanceMode mode = sites::MaintenanceMode::kWait)
      : connection_(connection), mode_(mode) {}

  // The final response of any status; fails as SiteConnection::Send (kRetriesExhausted,
  // kCircuitOpen, kIoFailure, kMaintenanceWindow when refusing, the token source's errors).
  base::Result<FetchResponse> Get(const FetchRequest& request) override;

  // HTTP exchanges made, retries and token renewals included, and Get calls made.
  std::int64_t attempts() const { return attempts_; }
  std::int64_t calls() const { return calls_; }

 private:
  sites::SiteConnection& connection_;
  sites::MaintenanceMode mode_;
  std::int64_t attempts_ = 0;
  std::int64_t calls_ = 0;
};

}  // namespace fhirbridge::sync
