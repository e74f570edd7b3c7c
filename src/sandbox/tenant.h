#pragma once

// A tenant: one simulated organisation with its configuration, build level, store, traffic
// state (limits and injected faults, changeable at run time) and authorization server.

#include <memory>
#include <string>

#include "base/result.h"
#include "sandbox/auth_server.h"
#include "sandbox/build_level.h"
#include "sandbox/bulk_export_jobs.h"
#include "sandbox/resource_store.h"
#include "sandbox/tenant_config.h"
#include "sandbox/tenant_traffic.h"

namespace fhirbridge::sandbox {

class Tenant {
 public:
  // Opens the tenant's store and loads its baseline (when the store is empty, so a file-backed
  // store keeps what clients wrote across restarts). `build_level` must outlive the tenant.
  static base::Result<std::unique_ptr<Tenant>> Open(TenantConfig config,
                                                    const BuildLevel& build_level);

  const TenantConfig& config() const { return config_; }
  const BuildLevel& build_level() const { return build_level_; }
  ResourceStore& store() { return *store_; }
  const IdGenerator& id_generator() const { return id_generator_; }
  // Current traffic and fault settings; config() keeps those the tenant started with.
  TenantTraffic& traffic() { return traffic_; }
  // The tenant's SMART authorization server and whether its FHIR API requires a token.
  AuthorizationServer& auth() { return *auth_; }
  bool requires_token() const { return config_.auth.required; }
  // The tenant's Bulk Data export jobs.
  BulkExportJobs& bulk_exports() { return *bulk_exports_; }

  // Removes everything clients wrote and loads the baseline again, in one transaction: a client
  // never sees a half-reset tenant. Returns the number of baseline resources loaded.
  base::Result<std::size_t> ResetToBaseline();

  // The FHIR base path: "/{name}/api/FHIR/R4".
  std::string BasePath() const;

 private:
  Tenant(TenantConfig config, const BuildLevel& build_level, IdGenerator id_generator,
         std::unique_ptr<ResourceStore> store);

  TenantConfig config_;
  const BuildLevel& build_level_;
  IdGenerator id_generator_;
  std::unique_ptr<ResourceStore> store_;
  TenantTraffic traffic_;
  std::unique_ptr<AuthorizationServer> auth_;
  // After the store: its worker reads the store, so it must stop first.
  std::unique_ptr<BulkExportJobs> bulk_exports_;
};

}  // namespace fhirbridge::sandbox
