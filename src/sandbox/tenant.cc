#include "sandbox/tenant.h"

#include <nlohmann/json.hpp>

#include "sandbox/baseline.h"
#include "sandbox/id_generator.h"
#include "sandbox/search.h"

namespace fhirbridge::sandbox {

Tenant::Tenant(TenantConfig config, const BuildLevel& build_level, IdGenerator id_generator,
               std::unique_ptr<ResourceStore> store)
    : config_(std::move(config)),
      build_level_(build_level),
      id_generator_(std::move(id_generator)),
      store_(std::move(store)),
      traffic_(config_.traffic, config_.faults),
      auth_(std::make_unique<AuthorizationServer>(
          config_.name,
          AuthSettings{std::chrono::seconds(config_.auth.access_token_seconds),
                       std::chrono::seconds(60), std::chrono::hours(24), config_.auth.auto_approve,
                       config_.auth.default_patient, config_.auth.user_practitioner},
          HttpJwksFetcher())),
      bulk_exports_(std::make_unique<BulkExportJobs>(
          config_.name, *store_, build_level_.bulk_export, build_level_.search.strict_meta)) {}

base::Result<std::unique_ptr<Tenant>> Tenant::Open(TenantConfig config,
                                                   const BuildLevel& build_level) {
  IdGenerator id_generator = MakeIdGenerator(config.id_style, config.id_length);
  // Only what the build level can search is indexed: each indexed value costs a write about as
  // much as storing the resource (bench/http_bench.sh, bench/seed_bench.sh), and an Epic-like
  // level offers a handful of the thirty-odd parameters R4 defines per type.
  IndexFilter index_filter;
  if (build_level.search.parameters.has_value()) {
    index_filter = [&build_level](std::string_view type, std::string_view code) {
      const auto offered = OfferedSearchParameters(build_level, type);
      return std::ranges::any_of(offered, [code](const fhir::SearchParameter* parameter) {
        return parameter->code == code;
      });
    };
  }
  auto store = ResourceStore::Open(config.storage, id_generator, std::move(index_filter));
  if (!store) {
    base::Error error = store.error();
    error.diagnostic = "Tenant '" + config.name + "': cannot open its store '" + config.storage +
                       "': " + error.diagnostic;
    return base::Fail(std::move(error));
  }
  std::unique_ptr<Tenant> tenant(
      new Tenant(std::move(config), build_level, std::move(id_generator), std::move(*store)));

  auto counts = tenant->store().CountByType();
  if (!counts) return base::Fail(counts.error());
  if (counts->empty()) {
    auto loaded = tenant->ResetToBaseline();
    if (!loaded) return base::Fail(loaded.error());
  }
  return tenant;
}

base::Result<std::size_t> Tenant::ResetToBaseline() {
  auto resources = LoadBaseline(config_.baseline);
  if (!resources) return base::Fail(resources.error());

  auto transaction = store_->Begin();
  if (!transaction) return base::Fail(transaction.error());
  if (auto cleared = (*transaction)->Clear(); !cleared) return base::Fail(cleared.error());
  for (const fhir::Json& resource : *resources) {
    const std::string& type = resource.at("resourceType").get_ref<const std::string&>();
    const std::string& id = resource.at("id").get_ref<const std::string&>();
    auto written = (*transaction)->Update(type, id, resource, /*allow_create=*/true);
    if (!written) return base::Fail(written.error());
  }
  if (auto committed = (*transaction)->Commit(); !committed) return base::Fail(committed.error());
  return resources->size();
}

std::string Tenant::BasePath() const { return "/" + config_.name + "/api/FHIR/R4"; }

}  // namespace fhirbridge::sandbox
