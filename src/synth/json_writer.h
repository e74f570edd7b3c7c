#pragma once

// A minimal, fast writer of compact JSON into a std::string. The generator writes millions of
// resources, and building an nlohmann tree for each would cost several times more than the
// generation itself; this writer appends bytes directly and escapes strings on the way.

#include <cstdint>
#include <string>
#include <string_view>

namespace fhirbridge::synth {

class JsonWriter {
 public:
  // Appends to `out`, which must outlive the writer.
  explicit JsonWriter(std::string& out) : out_(out) {}

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();

  // Writes an object key. Keys are FHIR element names and are written without escaping:
  // requires `key` to hold no '"', '\\' or control characters.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Int(std::int64_t value);
  // A decimal number given as an integer count of 10^-scale units: Decimal(372, 1) writes 37.2
  // and Decimal(50, 1) writes 5.0, keeping the precision FHIR decimals carry. Requires
  // 0 <= scale <= 9.
  void Decimal(std::int64_t units, int scale);
  void Bool(bool value);

  // Key followed by a value, the common case.
  void Member(std::string_view key, std::string_view value) {
    Key(key);
    String(value);
  }
  void MemberInt(std::string_view key, std::int64_t value) {
    Key(key);
    Int(value);
  }
  void MemberBool(std::string_view key, bool value) {
    Key(key);
    Bool(value);
  }

  // Appends already-serialised JSON as one value (for cached fragments). Requires `json` to be
  // one complete, valid JSON value.
  void Raw(std::string_view json);

  std::string& out() { return out_; }

 private:
  void Separate() {
    if (need_comma_) out_.push_back(',');
  }

  std::string& out_;
  bool need_comma_ = false;
};

// Appends `value` to `out` as a JSON string literal, quotes included.
void AppendJsonString(std::string& out, std::string_view value);

// Appends `units` * 10^-scale in plain decimal notation ("37.2", "5.0", "-0.25"). Requires
// 0 <= scale <= 9.
void AppendDecimal(std::string& out, std::int64_t units, int scale);

}  // namespace fhirbridge::synth
