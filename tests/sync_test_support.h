#pragma once

// Test support for the sync engine's tests and benchmark: seeding and changing a sandbox tenant
// over HTTP, reading its current state (ids and versions), and setting its faults.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sync/engine.h"
#include "sync/plan.h"
#include "sync/store_sync_sink.h"

namespace fhirbridge::testing {

// (type, id) -> version of every current resource of `types` on the tenant at `base`, read by
// paging searches (with `token` as the bearer token when not empty). Fails the calling test on
// any HTTP problem.
std::map<std::pair<std::string, std::string>, std::int64_t> SandboxState(
    const std::string& base, const std::vector<std::string>& types, const std::string& token = {});

// Posts one transaction Bundle creating `patients` patients, each with `observations_each`
// vital-sign Observations and one Condition. Returns the new patient ids.
std::vector<std::string> SeedPatients(const std::string& base, int patients, int observations_each);

using SyncState = std::map<std::pair<std::string, std::string>, std::int64_t>;

// (type, id) -> version of every live resource `sink` holds; fails the calling test on a read
// error or a resource held twice.
SyncState StoredState(sync::StoreSyncSink& sink);

// Fails the calling test for every type the run did not sync, naming its error.
void ExpectSucceeded(const sync::SyncReport& report);

// The usual change to a tenant seeded with SeedPatients (at least three patients, eight
// Observations and one Condition): two new patients with two Observations and a Condition each,
// an update of an Observation and of patients[1], and a deletion of an Observation, a Condition
// and patients[2]; the changed resources are ones that existed before the call.
void ChangeSandboxSlightly(const std::string& base, const std::vector<std::string>& patients);

// "only in store: Type/id v1; only in sandbox: ...; version differs: ..." for test messages.
std::string DescribeDifference(const SyncState& stored, const SyncState& sandbox);

// Ids of current resources of `type` on the tenant.
std::vector<std::string> SandboxIds(const std::string& base, const std::string& type);

// Changes one resource on the sandbox; fails the calling test unless the answer is 2xx.
void UpdateResource(const std::string& base, const std::string& type, const std::string& id);
void DeleteResource(const std::string& base, const std::string& type, const std::string& id);

// Replaces the tenant's fault and traffic tables through the admin API.
void SetFaults(const std::string& origin, const std::string& tenant, const std::string& json);
void SetTraffic(const std::string& origin, const std::string& tenant, const std::string& json);

// Reads `base`/metadata and plans `types` from it.
std::vector<sync::TypePlan> PlanFromSandbox(const std::string& base,
                                            const std::vector<std::string>& types,
                                            std::vector<std::string> cohort = {},
                                            std::optional<sync::Strategy> forced = std::nullopt);

}  // namespace fhirbridge::testing
