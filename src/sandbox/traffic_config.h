#pragma once

// The traffic and fault settings of one tenant: the [tenants.traffic] and [tenants.faults]
// tables of the tenant file, and the JSON bodies of the admin routes
// /admin/tenants/{tenant}/traffic and /admin/tenants/{tenant}/faults. One reader validates both,
// so the file and the admin API accept the same keys, with the same bounds and messages. Every
// limit and every fault is off by default.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/time_window.h"
#include "fhir/json_value.h"

namespace fhirbridge::sandbox {

// Limits on the FHIR requests of one tenant. Zero turns a limit off.
struct TrafficSettings {
  double requests_per_second = 0;    // refill rate of each client's token bucket; 0: no rate limit
  std::uint32_t burst = 0;           // bucket capacity; 0: one second's worth, at least 1
  std::uint32_t max_concurrent = 0;  // requests handled at once; 0: no limit
  std::uint32_t queue_size = 0;      // requests that may wait for a slot, first in, first out
  std::chrono::milliseconds queue_timeout{0};  // the longest a request waits before a 429

  // The bucket capacity in effect.
  double BucketCapacity() const;
};

// A period in which a tenant answers every FHIR request with 503 and Retry-After (the syntax is
// base::TimeWindow's: "Sun 02:00-04:00", "daily 03:00-03:15", or two instants joined by '/').
using MaintenanceWindow = base::TimeWindow;

// The statuses an injected error can have, in the order of FaultSettings::error_rates.
inline constexpr std::array<int, 4> kInjectedErrorStatuses = {500, 502, 503, 504};

// Faults injected into a tenant's FHIR routes (never into /admin, /metrics or /healthz). Rates are
// fractions of requests, from 0 to 1. Paged Bundles are searchset and history Bundles.
struct FaultSettings {
  std::optional<std::uint64_t> seed;     // makes the random decisions repeatable; unset: random
  std::chrono::milliseconds latency{0};  // added to every response
  std::chrono::milliseconds latency_jitter{0};  // plus a uniformly random 0 to this
  // Per kInjectedErrorStatuses, at most 1 in total. The error is answered instead of the
  // request, which is not processed, so a client's retry is always safe.
  std::array<double, 4> error_rates{};
  // Responses cut off midway. The request was processed: a client cannot tell whether its write
  // happened, which is the point.
  double drop_connection_rate = 0;
  double missing_next_link_rate = 0;  // paged Bundles whose next link is removed
  double expired_page_rate = 0;       // requests carrying _page or _cursor answered 410 (Epic 4113)
  std::chrono::milliseconds slow_last_page{0};  // added to a paged Bundle without a next link
  double reset_every_minutes = 0;               // reset to the baseline on this period; 0: never
  std::vector<MaintenanceWindow> maintenance_windows;

  // reset_every_minutes as a duration; zero when resets are off.
  std::chrono::milliseconds ResetInterval() const;
};

// One mistake in a settings object.
struct SettingsProblem {
  std::vector<std::string> path;  // keys from the object's root to the one at fault; "[i]" for
                                  // an array element
  std::string what;               // never repeats the value, which may come from a request
  bool at_key = false;            // the key itself is wrong (unknown), not its value
};

// Read a settings object (JSON, or a TOML table converted to JSON). Keys left out or null take
// their defaults. Every problem is appended to `problems`; the result means something only when
// none was.
TrafficSettings ReadTrafficSettings(const fhir::Json& object,
                                    std::vector<SettingsProblem>& problems);
FaultSettings ReadFaultSettings(const fhir::Json& object, std::vector<SettingsProblem>& problems);

// The settings as JSON objects, with every key, which the readers accept back unchanged.
fhir::Json TrafficSettingsJson(const TrafficSettings& settings);
fhir::Json FaultSettingsJson(const FaultSettings& settings);

// A problem's path as text, such as "error_rates.503" or "maintenance_windows[1]".
std::string SettingsPath(std::span<const std::string> path);

}  // namespace fhirbridge::sandbox
