#include "synth/json_writer.h"

#include <cassert>
#include <charconv>
#include <cstring>

namespace fhirbridge::synth {

namespace {

// True when any of the eight bytes of `word` is below 0x20, '"' or '\\' (the bytes JSON strings
// must escape), by the classic SWAR "has a byte less than n" and "has a zero byte" tricks.
bool NeedsEscape(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  const std::uint64_t control = (word - kOnes * 0x20) & ~word & kHighs;
  const std::uint64_t quote = word ^ (kOnes * '"');
  const std::uint64_t backslash = word ^ (kOnes * '\\');
  const std::uint64_t quote_zero = (quote - kOnes) & ~quote & kHighs;
  const std::uint64_t backslash_zero = (backslash - kOnes) & ~backslash & kHighs;
  return (control | quote_zero | backslash_zero) != 0;
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');

  // Most strings need no escaping: skip clean eight-byte blocks without looking at each byte.
  std::size_t clean = 0;
  while (clean + 8 <= value.size()) {
    std::uint64_t word;
    std::memcpy(&word, value.data() + clean, sizeof word);
    if (NeedsEscape(word)) break;
    clean += 8;
  }

  std::size_t clean_start = 0;
  for (std::size_t i = clean; i < value.size(); ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (byte >= 0x20 && byte != '"' && byte != '\\') continue;
    out.append(value.substr(clean_start, i - clean_start));
    clean_start = i + 1;
    switch (byte) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0xf]);
    }
  }
  out.append(value.substr(clean_start));
  out.push_back('"');
}

void AppendDecimal(std::string& out, std::int64_t units, int scale) {
  assert(scale >= 0 && scale <= 9 && "Decimal supports 0 to 9 fraction digits");
  // Work in unsigned arithmetic so that the most negative value has a magnitude.
  std::uint64_t magnitude = static_cast<std::uint64_t>(units);
  if (units < 0) {
    out.push_back('-');
    magnitude = 0 - magnitude;
  }
  std::uint64_t divisor = 1;
  for (int i = 0; i < scale; ++i) divisor *= 10;
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, magnitude / divisor);
  out.append(buffer, result.ptr);
  if (scale == 0) return;
  out.push_back('.');
  std::uint64_t fraction = magnitude % divisor;
  for (std::uint64_t place = divisor / 10; place > 0; place /= 10) {
    out.push_back(static_cast<char>('0' + fraction / place));
    fraction %= place;
  }
}

void JsonWriter::BeginObject() {
  Separate();
  out_.push_back('{');
  need_comma_ = false;
}

void JsonWriter::EndObject() {
  out_.push_back('}');
  need_comma_ = true;
}

void JsonWriter::BeginArray() {
  Separate();
  out_.push_back('[');
  need_comma_ = false;
}

void JsonWriter::EndArray() {
  out_.push_back(']');
  need_comma_ = true;
}

void JsonWriter::Key(std::string_view key) {
  Separate();
  out_.push_back('"');
  out_.append(key);
  out_.append("\":");
  need_comma_ = false;
}

void JsonWriter::String(std::string_view value) {
  Separate();
  AppendJsonString(out_, value);
  need_comma_ = true;
}

void JsonWriter::Int(std::int64_t value) {
  Separate();
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out_.append(buffer, result.ptr);
  need_comma_ = true;
}

void JsonWriter::Decimal(std::int64_t units, int scale) {
  Separate();
  AppendDecimal(out_, units, scale);
  need_comma_ = true;
}

void JsonWriter::Bool(bool value) {
  Separate();
  out_.append(value ? "true" : "false");
  need_comma_ = true;
}

void JsonWriter::Raw(std::string_view json) {
  Separate();
  out_.append(json);
  need_comma_ = true;
}

}  // namespace fhirbridge::synth
