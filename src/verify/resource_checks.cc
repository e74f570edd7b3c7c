#include "verify/resource_checks.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace fhirbridge::verify {
namespace {

bool HasContent(const fhir::Json& value) {
  if (value.is_null()) return false;
  if (value.is_string()) return !value.get_ref<const std::string&>().empty();
  if (value.is_array() || value.is_object()) return !value.empty();
  return true;
}

}  // namespace

bool HasElement(const fhir::Json& resource, std::string_view field) {
  if (!resource.is_object()) return false;
  if (field.ends_with("[x]")) {
    const std::string_view stem = field.substr(0, field.size() - 3);
    for (const auto& [key, value] : resource.items()) {
      if (key.size() > stem.size() && key.starts_with(stem) &&
          std::isupper(static_cast<unsigned char>(key[stem.size()])) != 0 && HasContent(value)) {
        return true;
      }
    }
    return false;
  }
  const auto found = resource.find(field);
  return found != resource.end() && HasContent(*found);
}

std::vector<std::string> MissingElements(const fhir::Json& resource,
                                         const std::vector<std::string>& required) {
  std::vector<std::string> missing;
  for (const auto& field : required) {
    if (!HasElement(resource, field)) missing.push_back(field);
  }
  return missing;
}

std::vector<std::string> MissingExtensions(const fhir::Json& resource,
                                           const std::vector<std::string>& expected) {
  std::vector<std::string> missing;
  const auto extensions = resource.is_object() ? resource.find("extension") : resource.end();
  for (const auto& url : expected) {
    bool found = false;
    if (extensions != resource.end() && extensions->is_array()) {
      for (const auto& extension : *extensions) {
        if (extension.is_object() && extension.value("url", std::string()) == url) {
          found = true;
          break;
        }
      }
    }
    if (!found) missing.push_back(url);
  }
  return missing;
}

bool ReferencesPatient(const fhir::Json& resource, std::string_view field,
                       std::string_view patient_id) {
  if (!resource.is_object()) return false;
  const auto target = resource.find(field);
  if (target == resource.end() || !target->is_object()) return false;
  const auto reference = target->find("reference");
  if (reference == target->end() || !reference->is_string()) return false;
  const std::string& text = reference->get_ref<const std::string&>();
  const std::string relative = "Patient/" + std::string(patient_id);
  return text == relative || text.ends_with("/" + relative);
}

MedicationForm ClassifyMedication(const fhir::Json& resource) {
  if (!resource.is_object()) return MedicationForm::kMissing;
  const auto reference = resource.find("medicationReference");
  if (reference != resource.end() && reference->is_object() && HasContent(*reference)) {
    return MedicationForm::kReference;
  }
  const auto concept_ = resource.find("medicationCodeableConcept");
  if (concept_ == resource.end() || !concept_->is_object()) return MedicationForm::kMissing;
  const auto codings = concept_->find("coding");
  if (codings != concept_->end() && codings->is_array()) {
    for (const auto& coding : *codings) {
      if (coding.is_object() && coding.contains("code") && coding["code"].is_string() &&
          !coding["code"].get_ref<const std::string&>().empty()) {
        return MedicationForm::kCoded;
      }
    }
  }
  const auto text = concept_->find("text");
  if (text != concept_->end() && text->is_string() && HasContent(*text)) {
    return MedicationForm::kFreeText;
  }
  return MedicationForm::kMissing;
}

std::string_view MedicationFormName(MedicationForm form) {
  switch (form) {
    case MedicationForm::kCoded:
      return "coded";
    case MedicationForm::kReference:
      return "by reference";
    case MedicationForm::kFreeText:
      return "free text";
    case MedicationForm::kMissing:
      return "none";
  }
  return "none";
}

}  // namespace fhirbridge::verify
