#include "synth/sandbox_admin.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "auth/key_ring.h"
#include "http/client.h"

namespace fhirbridge::synth {
namespace {

using base::ErrorCode;
using fhir::Json;

std::string Diagnostics(std::string_view body) {
  const Json outcome = Json::parse(body, nullptr, false);
  std::string text;
  if (outcome.is_object() && outcome.contains("issue") && outcome["issue"].is_array()) {
    for (const Json& issue : outcome["issue"]) {
      if (!issue.is_object()) continue;
      if (!text.empty()) text += "; ";
      text += issue.value("diagnostics", issue.value("code", "unknown"));
    }
  }
  return text.empty() ? "no OperationOutcome in the answer" : text;
}

}  // namespace

base::Result<Json> RegisterSandboxApp(std::string_view origin, std::string_view tenant,
                                      const Json& registration) {
  std::string url(origin);
  while (!url.empty() && url.back() == '/') url.pop_back();
  http::ClientRequest request;
  request.method = "POST";
  request.url = url + "/admin/tenants/" + std::string(tenant) + "/apps";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = registration.dump();
  http::Client client;
  auto response = client.Send(request);
  if (!response) return base::Fail(response.error());
  if (response->status != 201) {
    return base::Fail(ErrorCode::kRemoteRejected, "the sandbox refused the registration (HTTP " +
                                                      std::to_string(response->status) +
                                                      "): " + Diagnostics(response->body));
  }
  Json described = Json::parse(response->body, nullptr, false);
  if (described.is_discarded()) {
    return base::Fail(ErrorCode::kMalformedResponse,
                      "the sandbox's registration answer is not JSON");
  }
  return described;
}

base::Result<BackendAppRegistered> RegisterBackendApp(std::string_view origin,
                                                      std::string_view tenant,
                                                      const BackendAppOptions& options) {
  const auto now = std::chrono::system_clock::now();
  BackendAppRegistered registered;
  auto ring = auth::KeyRing::Open(options.key_folder);
  if (!ring && ring.error().code == ErrorCode::kConfigNotFound) {
    ring = auth::KeyRing::Create(options.key_folder, jose::Algorithm::kRS384, now);
    registered.created_keys = true;
  }
  if (!ring) return base::Fail(ring.error());
  auto jwks = ring->PublicJwks(now);
  if (!jwks) return base::Fail(jwks.error());

  const Json registration = {{"client_id", options.client_id},
                             {"type", "confidential-asymmetric"},
                             {"scopes", options.scopes},
                             {"jwks", std::move(*jwks)},
                             {"mapped_to_user", true}};
  if (auto sent = RegisterSandboxApp(origin, tenant, registration); !sent) {
    return base::Fail(sent.error());
  }
  registered.kid = ring->current().kid;
  return registered;
}

}  // namespace fhirbridge::synth
