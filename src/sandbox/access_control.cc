#include "sandbox/access_control.h"

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
