#include "sandbox/access_control.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using base::Fail;

// Elements whose reference places a resource in a patient's compartment.
constexpr std::string_view kCompartmentElements[] = {"subject", "patient", "beneficiary",
                                                     "individual"};

std::vector<smart::Context> ContextsOf(const AccessGrant& grant) {
  if (grant.backend) return {smart::Context::kSystem};
  if (!grant.patient.empty()) return {smart::Context::kPatient, smart::Context::kUser};
  return {smart::Context::kUser};
}

}  // namespace

smart::Permission PermissionFor(Interaction interaction) {
  switch (interaction) {
    case Interaction::kRead:
    case Interaction::kVread:
    case Interaction::kHistoryInstance:
      return smart::Permission::kRead;
    case Interaction::kSearchType:
    case Interaction::kHistoryType:
    case Interaction::kHistorySystem:
      return smart::Permission::kSearch;
    case Interaction::kCreate:
      return smart::Permission::kCreate;
    case Interaction::kUpdate:
      return smart::Permission::kUpdate;
    case Interaction::kDelete:
      return smart::Permission::kDelete;
    case Interaction::kTransaction:
    case Interaction::kBatch:
      // Bundles are checked entry by entry.
      return smart::Permission::kRead;
  }
  return smart::Permission::kRead;
}

base::Status CheckScope(const AccessGrant& grant, std::string_view resource_type,
                        Interaction interaction) {
  const smart::Permission permission = PermissionFor(interaction);
  smart::Decision decision;
  for (const smart::Context context : ContextsOf(grant)) {
    decision = smart::Decide(grant.scopes, resource_type, permission, {context});
    if (decision.allowed) return {};
  }
  // Name the scope of the most specific context the token could have used.
  const smart::Context wanted = ContextsOf(grant).front();
  const std::string needed = std::string(smart::ContextName(wanted)) + "/" +
                             std::string(resource_type) + "." +
                             smart::PermissionLetters(static_cast<std::uint8_t>(permission));
  return Fail(ErrorCode::kInsufficientScope,
              "The token does not allow '" + std::string(InteractionCode(interaction)) + "' on " +
                  std::string(resource_type) + "; it needs " + needed + ".",
              needed);
}

base::Status CheckCompartment(const AccessGrant& grant, const fhir::Json& resource) {
  if (grant.patient.empty() || !resource.is_object()) return {};
  const std::string type = resource.value("resourceType", "");
  if (type == "Patient") {
    if (resource.value("id", "") == grant.patient) return {};
    return Fail(ErrorCode::kInsufficientScope,
                "The token is limited to its patient's record; this is another Patient.");
  }
  const std::string expected = "Patient/" + grant.patient;
  bool in_some_compartment = false;
  for (const std::string_view element : kCompartmentElements) {
    const auto found = resource.find(element);
    if (found == resource.end() || !found->is_object()) continue;
    const std::string reference = found->value("reference", "");
    if (!reference.starts_with("Patient/") && reference.find("/Patient/") == std::string::npos) {
      continue;
    }
    in_some_compartment = true;
    if (reference == expected || reference.ends_with("/" + expected)) return {};
  }
  if (!in_some_compartment) return {};
  return Fail(ErrorCode::kInsufficientScope, "The token is limited to its patient's record; this " +
                                                 type + " belongs to another patient.");
}

base::Status CheckSearchCompartment(
    const AccessGrant& grant, std::string_view resource_type,
    const std::vector<std::pair<std::string, std::string>>& parameters) {
  if (grant.patient.empty()) return {};
  const std::string reference = "Patient/" + grant.patient;
  for (const auto& [name, value] : parameters) {
    if ((name == "patient" || name == "subject" || name == "patient:Patient") &&
        (value == grant.patient || value == reference)) {
      return {};
    }
    if (resource_type == "Patient" && name == "_id" && value == grant.patient) return {};
  }
  return Fail(ErrorCode::kInsufficientScope,
              "A token limited to one patient may search only that patient's record: add "
              "patient=" +
                  grant.patient + " (or _id on Patient).");
}

namespace {

struct Access {
  std::string resource_type;  // "*" for the whole server
  Interaction interaction;
};

// What one request line does: {type, interaction}, or nothing when it is not a FHIR interaction
// (the routes will refuse it themselves).
std::optional<Access> AccessOfLine(std::string_view method, std::span<const std::string> path) {
  const bool get = method == "GET" || method == "HEAD";
  if (path.empty()) return std::nullopt;
  // Operations ($export) check the access they need themselves.
  if (path.back().starts_with("$")) return std::nullopt;
  const std::string& type = path[0];
  if (path.size() == 1 && type == "_history" && get) {
    return Access{"*", Interaction::kHistorySystem};
  }
  if (type.empty() || !std::isupper(static_cast<unsigned char>(type[0]))) return std::nullopt;
  if (path.size() == 1) {
    if (get) return Access{type, Interaction::kSearchType};
    if (method == "POST") return Access{type, Interaction::kCreate};
    return std::nullopt;
  }
  if (path.size() == 2 && path[1] == "_search" && method == "POST") {
    return Access{type, Interaction::kSearchType};
  }
  if (path.size() == 2 && path[1] == "_history" && get) {
    return Access{type, Interaction::kHistoryType};
  }
  if (path.size() == 2) {
    if (get) return Access{type, Interaction::kRead};
    if (method == "PUT") return Access{type, Interaction::kUpdate};
    if (method == "DELETE") return Access{type, Interaction::kDelete};
    return std::nullopt;
  }
  if (path.size() == 3 && path[2] == "_history" && get) {
    return Access{type, Interaction::kHistoryInstance};
  }
  if (path.size() == 4 && path[2] == "_history" && get) return Access{type, Interaction::kVread};
  return std::nullopt;
}

base::Status CheckLine(const AccessGrant& grant, std::string_view method,
                       std::span<const std::string> path, std::string_view query,
                       const fhir::Json* resource) {
  const auto access = AccessOfLine(method, path);
  if (!access) return {};
  if (auto allowed = CheckScope(grant, access->resource_type, access->interaction); !allowed) {
    return allowed;
  }
  if (access->interaction == Interaction::kSearchType) {
    return CheckSearchCompartment(grant, access->resource_type, http::ParseQuery(query));
  }
  if (access->interaction == Interaction::kHistorySystem ||
      access->interaction == Interaction::kHistoryType) {
    if (!grant.patient.empty()) {
      return Fail(ErrorCode::kInsufficientScope,
                  "A token limited to one patient cannot read type or server history.");
    }
  }
  if (resource != nullptr && (access->interaction == Interaction::kCreate ||
                              access->interaction == Interaction::kUpdate)) {
    return CheckCompartment(grant, *resource);
  }
  return {};
}

}  // namespace

base::Status AuthorizeFhirRequest(const AccessGrant& grant, const http::Request& request,
                                  std::span<const std::string> segments) {
  const bool has_body = request.method == "POST" || request.method == "PUT";
  fhir::Json body = has_body ? fhir::Json::parse(request.body, nullptr, false) : fhir::Json();

  // A batch or transaction: every entry is checked as if it were its own request.
  if (segments.empty() && request.method == "POST") {
    if (!body.is_object() || !body.contains("entry") || !body["entry"].is_array()) return {};
    std::size_t index = 0;
    for (const fhir::Json& entry : body["entry"]) {
      const std::string where = "Bundle.entry[" + std::to_string(index++) + "]";
      if (!entry.is_object() || !entry.contains("request")) continue;
      const fhir::Json& line = entry["request"];
      const std::string method = line.value("method", "");
      std::string url = line.value("url", "");
      std::string query;
      if (const std::size_t question = url.find('?'); question != std::string::npos) {
        query = url.substr(question + 1);
        url.resize(question);
      }
      std::vector<std::string> path;
      if (!http::SplitPath(url, path)) continue;
      const fhir::Json* resource = entry.contains("resource") ? &entry["resource"] : nullptr;
      if (auto allowed = CheckLine(grant, method, path, query, resource); !allowed) {
        base::Error error = allowed.error();
        error.diagnostic = where + ": " + error.diagnostic;
        return Fail(std::move(error));
      }
    }
    return {};
  }
  const bool form_search = segments.size() == 2 && segments[1] == "_search";
  return CheckLine(grant, request.method, segments,
                   form_search ? std::string_view(request.body) : std::string_view(request.query),
                   body.is_object() ? &body : nullptr);
}

base::Status AuthorizeFhirAnswer(const AccessGrant& grant, const http::Request& request,
                                 std::span<const std::string> segments,
                                 const http::Response& response) {
  if (grant.patient.empty() || response.status != 200) return {};
  const auto access = AccessOfLine(request.method, segments);
  if (!access ||
      (access->interaction != Interaction::kRead && access->interaction != Interaction::kVread)) {
    return {};
  }
  return CheckCompartment(grant, fhir::Json::parse(response.body, nullptr, false));
}

void AddAuthenticateChallenge(http::Response& response, const base::Error& error,
                              std::string_view realm) {
  // Descriptions are ours (no PHI); quotes would break the header, so they are dropped.
  std::string description = error.diagnostic;
  std::erase(description, '"');
  if (error.code == ErrorCode::kInsufficientScope) {
    response.SetHeader("WWW-Authenticate",
                       "Bearer realm=\"" + std::string(realm) +
                           "\", error=\"insufficient_scope\", error_description=\"" + description +
                           "\"" +
                           (error.location.empty() ? "" : ", scope=\"" + error.location + "\""));
    return;
  }
  response.SetHeader("WWW-Authenticate", "Bearer realm=\"" + std::string(realm) +
                                             "\", error=\"invalid_token\", error_description=\"" +
                                             description + "\"");
}

}  // namespace fhirbridge::sandbox
