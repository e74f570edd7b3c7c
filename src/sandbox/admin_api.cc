#include "sandbox/admin_api.h"

#include <nlohmann/json.hpp>

#include "sandbox/auth_admin.h"
#include "sandbox/bulk_load.h"
#include "sandbox/fhir_api.h"
#include "sandbox/traffic_admin.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using json = fhir::Json;

http::Response JsonResponse(const json& body) {
  http::Response response;
  response.SetHeader("Content-Type", "application/json");
  response.body = body.dump(2);
  return response;
}

json Summary(const Tenant& tenant) {
  const TenantConfig& config = tenant.config();
  return {{"name", config.name},
          {"organisation", config.display_name},
          {"build_level", config.build_level},
          {"base_path", tenant.BasePath()},
          {"storage", config.storage},
          {"baseline", config.baseline}};
}

base::Result<json> Counts(Tenant& tenant) {
  auto counts = tenant.store().CountByType();
  if (!counts) return base::Fail(counts.error());
  json by_type = json::object();
  std::int64_t total = 0;
  for (const auto& [type, count] : *counts) {
    by_type[type] = count;
    total += count;
  }
  return json{{"total", total}, {"by_type", std::move(by_type)}};
}

AdminAnswer Refuse(std::string route, base::Error error, std::string tenant = {}) {
  AdminAnswer answer{ErrorResponse(error), std::move(route), std::move(tenant), std::move(error)};
  return answer;
}

}  // namespace

AdminAnswer HandleAdminCall(TenantMap& tenants, const http::Request& request,
                            std::span<const std::string> segments, std::string_view started_at) {
  const std::string& method = request.method;
  const auto not_allowed = [&](std::string route) {
    return Refuse(route, base::MakeError(ErrorCode::kMethodNotAllowed,
                                         "Method " + method.substr(0, 16) + " is not allowed on " +
                                             route + "."));
  };

  if (segments.size() == 1 && segments[0] == "tenants") {
    if (method != "GET") return not_allowed("/admin/tenants");
    json list = json::array();
    for (const auto& [name, tenant] : tenants) list.push_back(Summary(*tenant));
    return {JsonResponse({{"tenants", std::move(list)}}), "/admin/tenants", {}, std::nullopt};
  }

  if (segments.size() == 1 && segments[0] == "stats") {
    if (method != "GET") return not_allowed("/admin/stats");
    json per_tenant = json::object();
    for (const auto& [name, tenant] : tenants) {
      auto counts = Counts(*tenant);
      if (!counts) return Refuse("/admin/stats", counts.error(), name);
      per_tenant[name] = std::move(*counts);
    }
    return {JsonResponse({{"started_at", started_at}, {"tenants", std::move(per_tenant)}}),
            "/admin/stats",
            {},
            std::nullopt};
  }

  // The tenant's authorization server: apps, simulated errors, auto-approval, EHR launch.
  if (segments.size() >= 3 && segments[0] == "tenants") {
    if (const auto found = tenants.find(segments[1]); found != tenants.end()) {
      const std::string* host = request.FindHeader("host");
      const bool sane_host = host != nullptr && http::IsPlainHost(*host);
      const std::string fhir_base =
          "http://" + (sane_host ? *host : std::string("127.0.0.1")) + found->second->BasePath();
      if (auto answer =
              HandleAuthAdminCall(found->second->auth(), request, segments.subspan(2), fhir_base)) {
        return {std::move(answer->response), std::move(answer->route), found->first,
                std::move(answer->error)};
      }
    }
  }

  if ((segments.size() == 2 || segments.size() == 3) && segments[0] == "tenants") {
    const bool is_reset = segments.size() == 3 && segments[2] == "reset";
    const bool is_bulk_load = segments.size() == 3 && segments[2] == "bulk-load";
    const bool is_traffic = segments.size() == 3 && IsTrafficAdminAction(segments[2]);
    if (segments.size() == 3 && !is_reset && !is_bulk_load && !is_traffic) {
      return Refuse("/admin/{unknown}",
                    base::MakeError(ErrorCode::kUnknownRoute,
                                    "Unknown tenant action; the actions are reset, bulk-load, "
                                    "traffic, faults and maintenance: "
                                    "/admin/tenants/{tenant}/{action}."));
    }
    const std::string route =
        segments.size() == 3 ? "/admin/tenants/{tenant}/" + segments[2] : "/admin/tenants/{tenant}";
    const auto found = tenants.find(segments[1]);
    if (found == tenants.end()) {
      return Refuse(route, base::MakeError(ErrorCode::kUnknownTenant,
                                           "No tenant is called '" + segments[1].substr(0, 64) +
                                               "'; GET /admin/tenants lists them."));
    }
    Tenant& tenant = *found->second;

    if (segments.size() == 2) {
      if (method != "GET") return not_allowed(route);
      auto counts = Counts(tenant);
      if (!counts) return Refuse(route, counts.error(), found->first);
      json body = Summary(tenant);
      body["resources"] = std::move(*counts);
      body["traffic"] = TrafficState(tenant);
      return {JsonResponse(body), route, found->first, std::nullopt};
    }
    if (is_traffic) return HandleTrafficAdminCall(tenant, request, segments[2]);
    if (is_bulk_load) {
      if (method != "POST") return not_allowed(route);
      // One transaction for the whole body: a bad line stores nothing, and its number is in the
      // OperationOutcome's diagnostics.
      auto loaded = BulkLoadNdjson(tenant.store(), request.body);
      if (!loaded) return Refuse(route, loaded.error(), found->first);
      return {JsonResponse({{"tenant", found->first},
                            {"lines", loaded->lines},
                            {"created", loaded->created},
                            {"already_present", loaded->already_present},
                            {"created_by_type", loaded->created_by_type},
                            {"already_present_by_type", loaded->present_by_type}}),
              route, found->first, std::nullopt};
    }
    {
      if (method != "POST") return not_allowed(route);
      auto loaded = tenant.ResetToBaseline();
      if (!loaded) return Refuse(route, loaded.error(), found->first);
      auto counts = Counts(tenant);
      if (!counts) return Refuse(route, counts.error(), found->first);
      return {JsonResponse({{"tenant", found->first},
                            {"reset", true},
                            {"baseline_resources", *loaded},
                            {"resources", std::move(*counts)}}),
              route, found->first, std::nullopt};
    }
  }

  return Refuse(
      "/admin/{unknown}",
      base::MakeError(ErrorCode::kUnknownRoute,
                      "Unknown admin route; the admin API has /admin/tenants, "
                      "/admin/tenants/{tenant}, /admin/tenants/{tenant}/reset, /bulk-load, "
                      "/traffic, /faults, /maintenance and /admin/stats."));
}

}  // namespace fhirbridge::sandbox
