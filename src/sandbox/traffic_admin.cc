#include "sandbox/traffic_admin.h"

#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/clock.h"
#include "fhir/operation_outcome.h"
#include "sandbox/fhir_api.h"

namespace fhirbridge::sandbox {
namespace {

using std::string_view_literals::operator""sv;
using base::ErrorCode;
using Json = fhir::Json;

constexpr std::array kActions = {"traffic"sv, "faults"sv, "maintenance"sv};
constexpr std::int64_t kMaxMaintenanceSeconds = 7 * 24 * 3600;

http::Response JsonResponse(const Json& body) {
  http::Response response;
  response.SetHeader("Content-Type", "application/json");
  response.body = body.dump(2);
  return response;
}

AdminAnswer Answer(const Json& body, std::string route, const Tenant& tenant) {
  return {JsonResponse(body), std::move(route), tenant.config().name, std::nullopt};
}

AdminAnswer Refuse(base::Error error, std::string route, const Tenant& tenant) {
  return {ErrorResponse(error), std::move(route), tenant.config().name, std::move(error)};
}

// One issue per problem, so a client fixes its body in one round; the log gets them joined.
AdminAnswer RefuseProblems(const std::vector<SettingsProblem>& problems, std::string route,
                           const Tenant& tenant) {
  Json issues = Json::array();
  std::string joined;
  for (const SettingsProblem& problem : problems) {
    const std::string path = SettingsPath(problem.path);
    const std::string text = path.empty() ? problem.what : path + ": " + problem.what;
    issues.push_back(fhir::OperationOutcomeFor(
        base::MakeError(ErrorCode::kConfigInvalid, text, path))["issue"][0]);
    if (!joined.empty()) joined += "; ";
    joined += text;
  }
  base::Error error = base::MakeError(ErrorCode::kConfigInvalid, std::move(joined));
  http::Response response = ErrorResponse(error);
  response.body = Json{{"resourceType", "OperationOutcome"}, {"issue", std::move(issues)}}.dump();
  return {std::move(response), std::move(route), tenant.config().name, std::move(error)};
}

// The body as JSON, or the refusal to send. Diagnostics never repeat the body.
std::optional<Json> ParseBody(const http::Request& request, std::optional<AdminAnswer>& refusal,
                              const std::string& route, const Tenant& tenant) {
  Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    refusal = Refuse(base::MakeError(ErrorCode::kInvalidJson,
                                     "The body must be a JSON object of settings; it is not "
                                     "valid JSON."),
                     route, tenant);
    return std::nullopt;
  }
  return body;
}

AdminAnswer NotAllowed(const http::Request& request, const std::string& route,
                       std::string_view allowed, const Tenant& tenant) {
  return Refuse(base::MakeError(ErrorCode::kMethodNotAllowed,
                                "Method " + request.method.substr(0, 16) + " is not allowed on " +
                                    route + "; use " + std::string(allowed) + "."),
                route, tenant);
}

Json MaintenanceState(Tenant& tenant) {
  const auto now = std::chrono::system_clock::now();
  const auto end = tenant.traffic().MaintenanceEnd(now);
  return {{"tenant", tenant.config().name},
          {"active", end.has_value()},
          {"until", end ? Json(base::FormatInstant(*end)) : Json(nullptr)}};
}

AdminAnswer Maintenance(Tenant& tenant, const http::Request& request, const std::string& route) {
  if (request.method == "GET") return Answer(MaintenanceState(tenant), route, tenant);
  if (request.method == "DELETE") {
    tenant.traffic().EndMaintenance();
    return Answer(MaintenanceState(tenant), route, tenant);
  }
  if (request.method != "POST") return NotAllowed(request, route, "GET, POST or DELETE", tenant);

  std::optional<AdminAnswer> refusal;
  const auto body = ParseBody(request, refusal, route, tenant);
  if (!body) return std::move(*refusal);
  std::vector<SettingsProblem> problems;
  std::optional<std::int64_t> seconds;
  if (!body->is_object()) {
    problems.push_back({{}, "must be an object such as {\"seconds\": 60}"});
  } else {
    for (const auto& [key, value] : body->items()) {
      if (key != "seconds") problems.push_back({{key}, "unknown key; expected seconds", true});
    }
    const auto found = body->find("seconds");
    if (found == body->end()) {
      problems.push_back({{"seconds"}, "is required: how long the window lasts, in seconds"});
    } else if (!found->is_number_integer() || found->get<double>() < 1 ||
               found->get<double>() > static_cast<double>(kMaxMaintenanceSeconds)) {
      problems.push_back({{"seconds"}, "must be an integer from 1 to 604800"});
    } else {
      seconds = found->get<std::int64_t>();
    }
  }
  if (!problems.empty()) return RefuseProblems(problems, route, tenant);

  tenant.traffic().StartMaintenance(std::chrono::system_clock::now(),
                                    std::chrono::seconds(*seconds));
  return Answer(MaintenanceState(tenant), route, tenant);
}

}  // namespace

bool IsTrafficAdminAction(std::string_view action) {
  return std::ranges::find(kActions, action) != kActions.end();
}

AdminAnswer HandleTrafficAdminCall(Tenant& tenant, const http::Request& request,
                                   std::string_view action) {
  const std::string route = "/admin/tenants/{tenant}/" + std::string(action);
  if (action == "maintenance") return Maintenance(tenant, request, route);

  const bool traffic = action == "traffic";
  TenantTraffic& state = tenant.traffic();
  const auto current = [&] {
    return traffic ? TrafficSettingsJson(state.traffic()) : FaultSettingsJson(*state.faults());
  };
  if (request.method == "GET") return Answer(current(), route, tenant);
  if (request.method != "PUT") return NotAllowed(request, route, "GET or PUT", tenant);

  std::optional<AdminAnswer> refusal;
  const auto body = ParseBody(request, refusal, route, tenant);
  if (!body) return std::move(*refusal);
  std::vector<SettingsProblem> problems;
  if (traffic) {
    TrafficSettings settings = ReadTrafficSettings(*body, problems);
    if (problems.empty()) state.SetTraffic(settings);
  } else {
    FaultSettings settings = ReadFaultSettings(*body, problems);
    if (problems.empty()) state.SetFaults(std::move(settings));
  }
  if (!problems.empty()) return RefuseProblems(problems, route, tenant);
  return Answer(current(), route, tenant);
}

Json TrafficState(Tenant& tenant) {
  TenantTraffic& traffic = tenant.traffic();
  const auto end = traffic.MaintenanceEnd(std::chrono::system_clock::now());
  return {{"in_flight", traffic.concurrency().in_flight()},
          {"queued", traffic.concurrency().waiting()},
          {"maintenance_until", end ? Json(base::FormatInstant(*end)) : Json(nullptr)},
          {"scheduled_resets", traffic.scheduled_resets()}};
}

}  // namespace fhirbridge::sandbox
