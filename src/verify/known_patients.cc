#include "verify/known_patients.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/embedded_files.h"
#include "fhir/json.h"

namespace fhirbridge::verify {
namespace {

using base::ErrorCode;

bool IsMedicalRecordNumber(const fhir::Json& identifier) {
  const auto type = identifier.find("type");
  if (type == identifier.end() || !type->is_object()) return false;
  const auto codings = type->find("coding");
  if (codings == type->end() || !codings->is_array()) return false;
  for (const auto& coding : *codings) {
    if (coding.is_object() && coding.value("code", std::string()) == "MR") return true;
  }
  return false;
}

// The patient's MRN, else its first identifier with a system and a value.
base::Result<KnownPatient> FromPatient(const fhir::Json& patient, const std::string& where) {
  const auto identifiers = patient.find("identifier");
  const fhir::Json* chosen = nullptr;
  if (identifiers != patient.end() && identifiers->is_array()) {
    for (const auto& identifier : *identifiers) {
      if (!identifier.is_object() || !identifier.contains("system") ||
          !identifier.contains("value") || !identifier["system"].is_string() ||
          !identifier["value"].is_string()) {
        continue;
      }
      if (chosen == nullptr || IsMedicalRecordNumber(identifier)) chosen = &identifier;
      if (IsMedicalRecordNumber(identifier)) break;
    }
  }
  if (chosen == nullptr) {
    return base::Fail(ErrorCode::kInvalidResource,
                      "the Patient has no identifier with a system and a value", where);
  }
  return KnownPatient{
      {}, (*chosen)["system"].get<std::string>(), (*chosen)["value"].get<std::string>()};
}

base::Status AddIfPatient(const fhir::Json& resource, const std::string& where,
                          std::vector<KnownPatient>& patients) {
  if (!resource.is_object() || resource.value("resourceType", std::string()) != "Patient") {
    return {};
  }
  auto patient = FromPatient(resource, where);
  if (!patient) return std::unexpected(patient.error());
  patients.push_back(std::move(*patient));
  return {};
}

void Label(std::vector<KnownPatient>& patients, std::string_view prefix) {
  for (std::size_t i = 0; i < patients.size(); ++i) {
    patients[i].label = std::string(prefix) + "-" + std::to_string(i + 1);
  }
}

}  // namespace

base::Result<std::vector<KnownPatient>> ParseKnownPatients(std::string_view text,
                                                           std::string_view label_prefix) {
  std::vector<KnownPatient> patients;

  // One Bundle (the sandbox baseline's form), or NDJSON (the synthetic set's form).
  const auto whole = fhir::ParseJson(text);
  if (whole && whole->is_object() && whole->value("resourceType", std::string()) == "Bundle") {
    const auto entries = whole->find("entry");
    if (entries != whole->end() && entries->is_array()) {
      for (std::size_t i = 0; i < entries->size(); ++i) {
        const auto& entry = (*entries)[i];
        if (!entry.is_object() || !entry.contains("resource")) continue;
        auto added =
            AddIfPatient(entry["resource"], "Bundle.entry[" + std::to_string(i) + "]", patients);
        if (!added) return std::unexpected(added.error());
      }
    }
  } else {
    std::size_t line_number = 0;
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view line = text.substr(start, end - start);
      start = end + 1;
      ++line_number;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      const std::string where = "line " + std::to_string(line_number);
      auto resource = fhir::ParseResource(line);
      if (!resource) {
        base::Error error = resource.error();
        error.location = where;
        return std::unexpected(std::move(error));
      }
      auto added = AddIfPatient(*resource, where, patients);
      if (!added) return std::unexpected(added.error());
    }
  }

  if (patients.empty()) {
    return base::Fail(ErrorCode::kInvalidResource,
                      "no Patient resources found; give a Bundle or NDJSON of Patients");
  }
  Label(patients, label_prefix);
  return patients;
}

base::Result<std::vector<KnownPatient>> LoadKnownPatients(const std::string& path,
                                                          std::string_view label_prefix) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return base::Fail(ErrorCode::kConfigNotFound, "cannot read the known patients file", path);
  }
  std::ostringstream content;
  content << file.rdbuf();
  auto patients = ParseKnownPatients(content.str(), label_prefix);
  if (!patients) {
    base::Error error = patients.error();
    error.location = error.location.empty() ? path : path + ": " + error.location;
    return std::unexpected(std::move(error));
  }
  return patients;
}

base::Result<std::vector<KnownPatient>> SandboxBaselinePatients() {
  std::vector<KnownPatient> patients;
  // EmbeddedFiles is sorted by name, so the patients come in file order.
  for (const auto& [name, content] : base::EmbeddedFiles()) {
    if (!name.starts_with("sandbox/baseline/default/patient-")) continue;
    auto found = ParseKnownPatients(content, "baseline");
    if (!found) {
      base::Error error = found.error();
      error.location = std::string(name) + ": " + error.location;
      return std::unexpected(std::move(error));
    }
    patients.insert(patients.end(), found->begin(), found->end());
  }
  if (patients.empty()) {
    return base::Fail(ErrorCode::kInternal, "the binary holds no sandbox baseline patients");
  }
  Label(patients, "baseline");
  return patients;
}

base::Result<KnownPatient> ParseIdentifierArgument(std::string_view text, std::string label) {
  const std::size_t bar = text.find('|');
  if (bar == std::string_view::npos || bar == 0 || bar + 1 == text.size()) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "a known patient is given as SYSTEM|VALUE, both non-empty", "--patient");
  }
  return KnownPatient{std::move(label), std::string(text.substr(0, bar)),
                      std::string(text.substr(bar + 1))};
}

}  // namespace fhirbridge::verify
