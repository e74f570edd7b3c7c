#pragma once

// Small helpers that write common FHIR data types with a JsonWriter.

#include <cstdint>
#include <string_view>

#include "synth/json_writer.h"

namespace fhirbridge::synth {

// {"system": ..., "code": ..., "display": ...}; display left out when empty.
inline void WriteCoding(JsonWriter& writer, std::string_view system, std::string_view code,
                        std::string_view display) {
  writer.BeginObject();
  writer.Member("system", system);
  writer.Member("code", code);
  if (!display.empty()) writer.Member("display", display);
  writer.EndObject();
}

// A CodeableConcept with one coding and a text, as the value of `key`.
inline void WriteConcept(JsonWriter& writer, std::string_view key, std::string_view system,
                         std::string_view code, std::string_view display,
                         std::string_view text = {}) {
  writer.Key(key);
  writer.BeginObject();
  writer.Key("coding");
  writer.BeginArray();
  WriteCoding(writer, system, code, display);
  writer.EndArray();
  writer.Member("text", text.empty() ? display : text);
  writer.EndObject();
}

// The same as an array element.
inline void WriteConceptValue(JsonWriter& writer, std::string_view system, std::string_view code,
                              std::string_view display) {
  writer.BeginObject();
  writer.Key("coding");
  writer.BeginArray();
  WriteCoding(writer, system, code, display);
  writer.EndArray();
  writer.Member("text", display);
  writer.EndObject();
}

// A one-element array of CodeableConcept as the value of `key` (category, type, ...).
inline void WriteConceptArray(JsonWriter& writer, std::string_view key, std::string_view system,
                              std::string_view code, std::string_view display) {
  writer.Key(key);
  writer.BeginArray();
  WriteConceptValue(writer, system, code, display);
  writer.EndArray();
}

// A UCUM Quantity; `units` counts 10^-scale.
inline void WriteQuantity(JsonWriter& writer, std::string_view key, std::int64_t units, int scale,
                          std::string_view unit, std::string_view ucum) {
  writer.Key(key);
  writer.BeginObject();
  writer.Key("value");
  writer.Decimal(units, scale);
  writer.Member("unit", unit);
  writer.Member("system", "http://unitsofmeasure.org");
  writer.Member("code", ucum);
  writer.EndObject();
}

// "identifier": [{"use": ..., "system": ..., "value": ...}]
inline void WriteIdentifier(JsonWriter& writer, std::string_view use, std::string_view system,
                            std::string_view value) {
  writer.Key("identifier");
  writer.BeginArray();
  writer.BeginObject();
  writer.Member("use", use);
  writer.Member("system", system);
  writer.Member("value", value);
  writer.EndObject();
  writer.EndArray();
}

// "meta": {"lastUpdated": ...}
inline void WriteMeta(JsonWriter& writer, std::string_view last_updated) {
  writer.Key("meta");
  writer.BeginObject();
  writer.Member("lastUpdated", last_updated);
  writer.EndObject();
}

}  // namespace fhirbridge::synth
