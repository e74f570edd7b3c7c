#include "fhir/json.h"

#include <nlohmann/json.hpp>

#include "fhir/resource_types.h"

namespace fhirbridge::fhir {
namespace {

// Line and column (both 1-based) of byte offset `offset` in `text`.
std::string Position(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace

base::Result<Json> ParseJson(std::string_view text) {
  if (text.empty()) return base::Fail(base::ErrorCode::kInvalidJson, "The request body is empty.");
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& error) {
    // The library's own message quotes the bytes it read last; only the position is reported.
    // nlohmann's byte counter is one past the offending byte.
    const std::size_t offset = error.byte > 0 ? error.byte - 1 : 0;
    const bool truncated = offset >= text.size();
    return base::Fail(base::ErrorCode::kInvalidJson,
                      truncated ? "The JSON body ends too early (" + Position(text, offset) + ")."
                                : "The JSON body is malformed at " + Position(text, offset) + ".");
  }
}

base::Result<Json> ParseResource(std::string_view text) {
  auto parsed = ParseJson(text);
  if (!parsed) return parsed;
  if (!parsed->is_object()) {
    return base::Fail(base::ErrorCode::kInvalidResource,
                      "The body must be a JSON object holding one FHIR resource.");
  }
  const auto type = parsed->find("resourceType");
  if (type == parsed->end() || !type->is_string()) {
    return base::Fail(base::ErrorCode::kInvalidResource, "The resource has no resourceType string.",
                      "resourceType");
  }
  if (!IsR4ResourceType(type->get_ref<const std::string&>())) {
    return base::Fail(base::ErrorCode::kInvalidResource,
                      "'" + type->get<std::string>() + "' is not a FHIR R4 resource type.",
                      "resourceType");
  }
  const auto id = parsed->find("id");
  if (id != parsed->end() && !id->is_string()) {
    return base::Fail(base::ErrorCode::kInvalidResource, "The id must be a string.", "id");
  }
  return parsed;
}

int ReplaceReferences(Json& resource,
                      const std::map<std::string, std::string, std::less<>>& replacements) {
  int replaced = 0;
  if (resource.is_object()) {
    for (auto& [key, value] : resource.items()) {
      if (key == "reference" && value.is_string()) {
        const auto found = replacements.find(value.get_ref<const std::string&>());
        if (found != replacements.end()) {
          value = found->second;
          ++replaced;
        }
      } else {
        replaced += ReplaceReferences(value, replacements);
      }
    }
  } else if (resource.is_array()) {
    for (auto& element : resource) replaced += ReplaceReferences(element, replacements);
  }
  return replaced;
}

}  // namespace fhirbridge::fhir
