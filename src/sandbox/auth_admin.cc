#include "sandbox/auth_admin.h"

#include <nlohmann/json.hpp>

#include "fhir/json.h"
#include "fhir/operation_outcome.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using fhir::Json;

constexpr std::string_view kRoutePrefix = "/admin/tenants/{tenant}/";

http::Response JsonResponse(int status, const Json& body) {
  http::Response response;
  response.status = status;
  response.SetHeader("Content-Type", "application/json");
  response.body = body.dump(2);
  return response;
}

AuthAdminAnswer Refuse(std::string route, base::Error error) {
  http::Response response =
      JsonResponse(error.info().http_status, fhir::OperationOutcomeFor(error));
  response.SetHeader("Content-Type", "application/fhir+json; charset=utf-8");
  return AuthAdminAnswer{std::move(response), std::move(route), std::move(error)};
}

AuthAdminAnswer NotAllowed(std::string route, const std::string& method) {
  return Refuse(route, base::MakeError(
                           ErrorCode::kMethodNotAllowed,
                           "Method " + method.substr(0, 16) + " is not allowed on " + route + "."));
}

base::Result<Json> JsonBody(const http::Request& request) {
  auto body = fhir::ParseJson(request.body);
  if (!body) return body;
  if (!body->is_object()) {
    return base::Fail(ErrorCode::kInvalidParameter, "The body must be a JSON object.");
  }
  return body;
}

Json ErrorsToJson(const SimulatedAuthErrors& errors) {
  return {{"expire_tokens_early", errors.expire_tokens_early},
          {"reject_issued_tokens", errors.reject_issued_tokens},
          {"reject_codes", errors.reject_codes},
          {"replay_every_jti", errors.replay_every_jti},
          {"token_endpoint_unavailable", errors.token_endpoint_unavailable},
          {"token_endpoint_delay_ms", errors.token_endpoint_delay_ms}};
}

base::Result<SimulatedAuthErrors> ErrorsFromJson(const Json& body, SimulatedAuthErrors errors) {
  const std::pair<const char*, bool*> fields[] = {
      {"expire_tokens_early", &errors.expire_tokens_early},
      {"reject_issued_tokens", &errors.reject_issued_tokens},
      {"reject_codes", &errors.reject_codes},
      {"replay_every_jti", &errors.replay_every_jti},
      {"token_endpoint_unavailable", &errors.token_endpoint_unavailable},
  };
  for (const auto& [name, value] : body.items()) {
    if (name == "token_endpoint_delay_ms") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > 60000) {
        return base::Fail(ErrorCode::kInvalidParameter,
                          "token_endpoint_delay_ms must be a whole number from 0 to 60000.", name);
      }
      errors.token_endpoint_delay_ms = value.get<std::int64_t>();
      continue;
    }
    bool known = false;
    for (const auto& [field, target] : fields) {
      if (name != field) continue;
      known = true;
      if (!value.is_boolean()) {
        return base::Fail(ErrorCode::kInvalidParameter, name + " must be true or false.", name);
      }
      *target = value.get<bool>();
    }
    if (!known) {
      return base::Fail(
          ErrorCode::kInvalidParameter,
          "Unknown simulated error '" + name.substr(0, 64) + "'; GET auth-errors lists them.",
          name.substr(0, 64));
    }
  }
  return errors;
}

}  // namespace

std::optional<AuthAdminAnswer> HandleAuthAdminCall(AuthorizationServer& server,
                                                   const http::Request& request,
                                                   std::span<const std::string> segments,
                                                   const std::string& fhir_base) {
  if (segments.empty()) return std::nullopt;
  const std::string& method = request.method;
  const std::string& first = segments[0];

  if (first == "apps" && segments.size() == 1) {
    const std::string route = std::string(kRoutePrefix) + "apps";
    if (method == "GET") {
      Json apps = Json::array();
      for (const AppRegistration& app : server.Apps()) apps.push_back(DescribeApp(app));
      return AuthAdminAnswer{JsonResponse(200, {{"apps", std::move(apps)}}), route, {}};
    }
    if (method != "POST") return NotAllowed(route, method);
    auto body = JsonBody(request);
    if (!body) return Refuse(route, body.error());
    auto app = ParseAppRegistration(*body);
    if (!app) return Refuse(route, app.error());
    const Json described = DescribeApp(*app);
    server.Register(std::move(*app));
    return AuthAdminAnswer{JsonResponse(201, described), route, {}};
  }

  if (first == "apps" && segments.size() == 3) {
    const std::string& client_id = segments[1];
    if (segments[2] == "mapping") {
      const std::string route = std::string(kRoutePrefix) + "apps/{client_id}/mapping";
      if (method != "PUT") return NotAllowed(route, method);
      auto body = JsonBody(request);
      if (!body) return Refuse(route, body.error());
      const auto mapped = body->find("mapped_to_user");
      if (mapped == body->end() || !mapped->is_boolean()) {
        return Refuse(route, base::MakeError(ErrorCode::kInvalidParameter,
                                             "The body needs mapped_to_user: true or false.",
                                             "mapped_to_user"));
      }
      if (auto set = server.SetMappedToUser(client_id, mapped->get<bool>()); !set) {
        return Refuse(route, set.error());
      }
      return AuthAdminAnswer{
          JsonResponse(200, {{"client_id", client_id}, {"mapped_to_user", mapped->get<bool>()}}),
          route,
          {}};
    }
    if (segments[2] == "revoke-refresh-tokens") {
      const std::string route =
          std::string(kRoutePrefix) + "apps/{client_id}/revoke-refresh-tokens";
      if (method != "POST") return NotAllowed(route, method);
      if (!server.FindApp(client_id)) {
        return Refuse(route, base::MakeError(ErrorCode::kNotFound,
                                             "No app is registered with this client_id."));
      }
      const std::size_t revoked = server.RevokeRefreshTokens(client_id);
      return AuthAdminAnswer{
          JsonResponse(200, {{"client_id", client_id}, {"revoked", revoked}}), route, {}};
    }
    return std::nullopt;
  }

  if (first == "auth-errors" && segments.size() == 1) {
    const std::string route = std::string(kRoutePrefix) + "auth-errors";
    if (method == "GET") {
      return AuthAdminAnswer{JsonResponse(200, ErrorsToJson(server.simulated_errors())), route, {}};
    }
    if (method != "PUT") return NotAllowed(route, method);
    auto body = JsonBody(request);
    if (!body) return Refuse(route, body.error());
    auto errors = ErrorsFromJson(*body, server.simulated_errors());
    if (!errors) return Refuse(route, errors.error());
    server.SetSimulatedErrors(*errors);
    return AuthAdminAnswer{JsonResponse(200, ErrorsToJson(*errors)), route, {}};
  }

  if (first == "auto-approve" && segments.size() == 1) {
    const std::string route = std::string(kRoutePrefix) + "auto-approve";
    if (method != "PUT") return NotAllowed(route, method);
    auto body = JsonBody(request);
    if (!body) return Refuse(route, body.error());
    const auto value = body->find("auto_approve");
    if (value == body->end() || !value->is_boolean()) {
      return Refuse(route,
                    base::MakeError(ErrorCode::kInvalidParameter,
                                    "The body needs auto_approve: true or false.", "auto_approve"));
    }
    server.SetAutoApprove(value->get<bool>());
    return AuthAdminAnswer{JsonResponse(200, {{"auto_approve", value->get<bool>()}}), route, {}};
  }

  if (first == "launch" && segments.size() == 1) {
    const std::string route = std::string(kRoutePrefix) + "launch";
    if (method != "POST") return NotAllowed(route, method);
    auto body = JsonBody(request);
    if (!body) return Refuse(route, body.error());
    const std::string patient = body->value("patient", "");
    if (patient.empty()) {
      return Refuse(route,
                    base::MakeError(ErrorCode::kInvalidParameter,
                                    "An EHR launch needs the patient in context.", "patient"));
    }
    const std::string launch = server.CreateLaunch(patient, body->value("encounter", ""));
    Json answer = {{"iss", fhir_base}, {"launch", launch}};
    if (const std::string url = body->value("launch_url", ""); !url.empty()) {
      answer["url"] = url + (url.find('?') == std::string::npos ? "?" : "&") + "iss=" + fhir_base +
                      "&launch=" + launch;
    }
    return AuthAdminAnswer{JsonResponse(201, answer), route, {}};
  }
  return std::nullopt;
}

}  // namespace fhirbridge::sandbox
