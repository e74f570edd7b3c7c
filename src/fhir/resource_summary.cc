#include "fhir/resource_summary.h"

#include <simdjson.h>

#include <array>
#include <initializer_list>

#include "base/clock.h"
#include "fhir/resource_summary_dom.h"

namespace fhirbridge::fhir {
namespace {

using simdjson::dom::element;

constexpr std::array<std::string_view, 7> kClinicalTypes = {
    "Patient",           "Encounter",          "Observation", "Condition", "AllergyIntolerance",
    "MedicationRequest", "MedicationStatement"};

// Follows object keys from `start`; empty when any step is missing or not an object.
std::optional<element> Dig(element start, std::initializer_list<std::string_view> keys) {
  element current = start;
  for (const std::string_view key : keys) {
    if (current.at_key(key).get(current) != simdjson::SUCCESS) return std::nullopt;
  }
  return current;
}

std::optional<element> FirstOf(std::optional<element> array) {
  simdjson::dom::array items;
  if (!array || array->get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  for (const element item : items) return item;
  return std::nullopt;
}

std::optional<std::string> Text(std::optional<element> value) {
  std::string_view text;
  if (!value || value->get_string().get(text) != simdjson::SUCCESS) return std::nullopt;
  return std::string(text);
}

std::optional<std::string> TextAt(element start, std::initializer_list<std::string_view> keys) {
  return Text(Dig(start, keys));
}

// The first present of several dateTime elements, as written.
std::optional<std::string> FirstText(element start,
                                     std::initializer_list<std::array<std::string_view, 2>> paths) {
  for (const auto& path : paths) {
    auto text = path[1].empty() ? TextAt(start, {path[0]}) : TextAt(start, {path[0], path[1]});
    if (text) return text;
  }
  return std::nullopt;
}

// The first coding of a CodeableConcept: its system and code.
void ReadFirstCoding(std::optional<element> codeable_concept, ClinicalView& view) {
  if (!codeable_concept) return;
  const auto coding = FirstOf(Dig(*codeable_concept, {"coding"}));
  if (!coding) return;
  view.code_system = TextAt(*coding, {"system"});
  view.code = TextAt(*coding, {"code"});
}

// The code of the first coding of the first CodeableConcept in an array.
std::optional<std::string> FirstCategoryCode(element resource) {
  const auto category = FirstOf(Dig(resource, {"category"}));
  if (!category) return std::nullopt;
  return Text(Dig(FirstOf(Dig(*category, {"coding"})).value_or(element()), {"code"}));
}

std::optional<std::string> StatusCode(element resource, std::string_view concept_name) {
  const auto codeable_concept = Dig(resource, {concept_name});
  if (!codeable_concept) return std::nullopt;
  const auto coding = FirstOf(Dig(*codeable_concept, {"coding"}));
  if (!coding) return std::nullopt;
  return TextAt(*coding, {"code"});
}

std::int64_t WholeNumber(std::string_view text) {
  if (text.empty() || text.size() > 18) return 0;
  std::int64_t number = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return 0;
    number = number * 10 + (c - '0');
  }
  return number;
}

std::optional<std::int64_t> Microseconds(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  const auto instant = base::ParseInstant(*text);
  if (!instant) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(instant->time_since_epoch()).count();
}

// Which element feeds each column, per type.
ClinicalView ReadView(std::string_view type, const std::string& id, element resource) {
  ClinicalView view;
  if (type == "Patient") {
    view.patient_reference = "Patient/" + id;
    bool active = false;
    if (const auto value = Dig(resource, {"active"});
        value && value->get_bool().get(active) == simdjson::SUCCESS) {
      view.status = active ? "active" : "inactive";
    }
    view.gender = TextAt(resource, {"gender"});
    view.birth_date = TextAt(resource, {"birthDate"});
  } else if (type == "Encounter") {
    view.status = TextAt(resource, {"status"});
    view.category = TextAt(resource, {"class", "code"});
    ReadFirstCoding(FirstOf(Dig(resource, {"type"})), view);
    view.patient_reference = TextAt(resource, {"subject", "reference"});
    view.effective = TextAt(resource, {"period", "start"});
  } else if (type == "Observation") {
    view.status = TextAt(resource, {"status"});
    view.category = FirstCategoryCode(resource);
    ReadFirstCoding(Dig(resource, {"code"}), view);
    view.patient_reference = TextAt(resource, {"subject", "reference"});
    view.encounter_reference = TextAt(resource, {"encounter", "reference"});
    view.effective = FirstText(resource, {{"effectiveDateTime", ""},
                                          {"effectivePeriod", "start"},
                                          {"effectiveInstant", ""},
                                          {"issued", ""}});
    double value = 0;
    if (const auto number = Dig(resource, {"valueQuantity", "value"});
        number && number->get_double().get(value) == simdjson::SUCCESS) {
      view.value_number = value;
    }
    view.value_unit = TextAt(resource, {"valueQuantity", "unit"});
    if (!view.value_unit) view.value_unit = TextAt(resource, {"valueQuantity", "code"});
  } else if (type == "Condition") {
    view.status = StatusCode(resource, "clinicalStatus");
    view.category = FirstCategoryCode(resource);
    ReadFirstCoding(Dig(resource, {"code"}), view);
    view.patient_reference = TextAt(resource, {"subject", "reference"});
    view.encounter_reference = TextAt(resource, {"encounter", "reference"});
    view.effective = FirstText(
        resource, {{"onsetDateTime", ""}, {"onsetPeriod", "start"}, {"recordedDate", ""}});
  } else if (type == "AllergyIntolerance") {
    view.status = StatusCode(resource, "clinicalStatus");
    view.category = Text(FirstOf(Dig(resource, {"category"})));
    ReadFirstCoding(Dig(resource, {"code"}), view);
    view.patient_reference = TextAt(resource, {"patient", "reference"});
    view.encounter_reference = TextAt(resource, {"encounter", "reference"});
    view.effective = FirstText(resource, {{"onsetDateTime", ""}, {"recordedDate", ""}});
  } else if (type == "MedicationRequest") {
    view.status = TextAt(resource, {"status"});
    view.category = TextAt(resource, {"intent"});
    ReadFirstCoding(Dig(resource, {"medicationCodeableConcept"}), view);
    view.patient_reference = TextAt(resource, {"subject", "reference"});
    view.encounter_reference = TextAt(resource, {"encounter", "reference"});
    view.effective = TextAt(resource, {"authoredOn"});
  } else if (type == "MedicationStatement") {
    view.status = TextAt(resource, {"status"});
    if (const auto category = Dig(resource, {"category"})) {
      view.category = Text(Dig(FirstOf(Dig(*category, {"coding"})).value_or(element()), {"code"}));
    }
    ReadFirstCoding(Dig(resource, {"medicationCodeableConcept"}), view);
    view.patient_reference = TextAt(resource, {"subject", "reference"});
    view.encounter_reference = TextAt(resource, {"context", "reference"});
    view.effective = FirstText(
        resource, {{"effectiveDateTime", ""}, {"effectivePeriod", "start"}, {"dateAsserted", ""}});
  }
  view.effective_us = Microseconds(view.effective);
  return view;
}

}  // namespace

bool HasClinicalView(std::string_view resource_type) {
  for (const std::string_view type : kClinicalTypes) {
    if (type == resource_type) return true;
  }
  return false;
}

struct ResourceSummariser::Parser {
  simdjson::dom::parser parser;
  std::string padded;  // the resource copied with simdjson's padding after it
};

ResourceSummariser::ResourceSummariser() : parser_(std::make_unique<Parser>()) {}
ResourceSummariser::~ResourceSummariser() = default;

ResourceSummary ResourceSummariser::Summarise(std::string_view raw) {
  // The DOM parser reads up to SIMDJSON_PADDING bytes past the end; a reused buffer holds them.
  parser_->padded.assign(raw);
  parser_->padded.append(simdjson::SIMDJSON_PADDING, '\0');
  element resource;
  if (parser_->parser.parse(parser_->padded.data(), raw.size(), false).get(resource) !=
      simdjson::SUCCESS) {
    ResourceSummary summary;
    summary.problem = "the resource is not valid JSON";
    return summary;
  }
  return SummariseParsed(resource);
}

ResourceSummary SummariseParsed(element resource) {
  ResourceSummary summary;
  if (!resource.is_object()) {
    summary.problem = "the resource is not a JSON object";
    return summary;
  }
  auto type = TextAt(resource, {"resourceType"});
  if (!type || type->empty()) {
    summary.problem = "the resource has no string resourceType";
    return summary;
  }
  summary.resource_type = std::move(*type);
  auto id = TextAt(resource, {"id"});
  if (!id || id->empty()) {
    summary.problem = "the resource has no string id";
    return summary;
  }
  summary.id = std::move(*id);
  summary.well_formed = true;

  summary.version_id = TextAt(resource, {"meta", "versionId"}).value_or("");
  summary.version_number = WholeNumber(summary.version_id);
  summary.last_updated = TextAt(resource, {"meta", "lastUpdated"}).value_or("");
  summary.last_updated_us = Microseconds(summary.last_updated).value_or(0);

  if (HasClinicalView(summary.resource_type)) {
    summary.view = ReadView(summary.resource_type, summary.id, resource);
  }
  return summary;
}

struct BundlePageReader::Parser {
  simdjson::ondemand::parser parser;
};

BundlePageReader::BundlePageReader() : parser_(std::make_unique<Parser>()) {}
BundlePageReader::~BundlePageReader() = default;

base::Result<BundlePage> BundlePageReader::Read(std::string& bundle) {
  const auto malformed = [](std::string diagnostic) {
    return base::Fail(base::ErrorCode::kMalformedResponse, std::move(diagnostic));
  };
  bundle.reserve(bundle.size() + simdjson::SIMDJSON_PADDING);
  const simdjson::padded_string_view text(bundle.data(), bundle.size(), bundle.capacity());

  simdjson::ondemand::document document;
  simdjson::ondemand::object root;
  if (parser_->parser.iterate(text).get(document) != simdjson::SUCCESS ||
      document.get_object().get(root) != simdjson::SUCCESS) {
    return malformed("the page is not a JSON object");
  }

  BundlePage page;
  bool is_bundle = false;
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return malformed("the page is not valid JSON");
    }
    if (key == "resourceType") {
      std::string_view type;
      is_bundle = field.value().get_string().get(type) == simdjson::SUCCESS && type == "Bundle";
      continue;
    }
    if (key != "entry") continue;
    simdjson::ondemand::array entries;
    if (field.value().get_array().get(entries) != simdjson::SUCCESS) {
      return malformed("Bundle.entry is not an array");
    }
    std::size_t index = 0;
    for (auto entry_value : entries) {
      simdjson::ondemand::object entry;
      if (entry_value.get_object().get(entry) != simdjson::SUCCESS) {
        return malformed("Bundle.entry[" + std::to_string(index) + "] is not an object");
      }
      bool has_resource = false;
      for (auto entry_field : entry) {
        std::string_view entry_key;
        if (entry_field.unescaped_key().get(entry_key) != simdjson::SUCCESS) {
          return malformed("Bundle.entry[" + std::to_string(index) + "] is not valid JSON");
        }
        if (entry_key != "resource") continue;
        simdjson::ondemand::object resource;
        std::string_view raw;
        if (entry_field.value().get_object().get(resource) != simdjson::SUCCESS ||
            resource.raw_json().get(raw) != simdjson::SUCCESS) {
          return malformed("Bundle.entry[" + std::to_string(index) +
                           "].resource is not a JSON object");
        }
        page.resources.push_back(raw);
        has_resource = true;
      }
      if (!has_resource) ++page.entries_without_resource;
      ++index;
    }
  }
  if (!is_bundle) return malformed("the page is not a Bundle (resourceType is not \"Bundle\")");
  return page;
}

}  // namespace fhirbridge::fhir
