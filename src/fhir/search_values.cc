#include "fhir/search_values.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

namespace fhirbridge::fhir {
namespace {

using std::string_view_literals::operator""sv;

// What each code point of U+00C0..U+017F folds to: its base letter or letters, capital and
// small letters alike; the two symbols of the block (multiplication and division signs) stay.
constexpr std::array<std::string_view, 0x180 - 0xC0> kLatinFolding = {
    // U+00C0..U+00CF: À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "ae"sv,
    "c"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    // U+00D0..U+00DF: Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß
    "d"sv,
    "n"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "\xC3\x97"sv,
    "o"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "y"sv,
    "th"sv,
    "ss"sv,
    // U+00E0..U+00EF
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "ae"sv,
    "c"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    // U+00F0..U+00FF: ð ñ ò ó ô õ ö ÷ ø ù ú û ü ý þ ÿ
    "d"sv,
    "n"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "\xC3\xB7"sv,
    "o"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "y"sv,
    "th"sv,
    "y"sv,
    // U+0100..U+017F (Latin Extended-A), in pairs of capital and small letter.
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "a"sv,
    "c"sv,
    "c"sv,
    "c"sv,
    "c"sv,
    "c"sv,
    "c"sv,
    "c"sv,
    "c"sv,
    "d"sv,
    "d"sv,
    "d"sv,
    "d"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "e"sv,
    "g"sv,
    "g"sv,
    "g"sv,
    "g"sv,
    "g"sv,
    "g"sv,
    "g"sv,
    "g"sv,
    "h"sv,
    "h"sv,
    "h"sv,
    "h"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "i"sv,
    "ij"sv,
    "ij"sv,
    "j"sv,
    "j"sv,
    "k"sv,
    "k"sv,
    "k"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "l"sv,
    "n"sv,
    "n"sv,
    "n"sv,
    "n"sv,
    "n"sv,
    "n"sv,
    "n"sv,
    "n"sv,
    "n"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "o"sv,
    "oe"sv,
    "oe"sv,
    "r"sv,
    "r"sv,
    "r"sv,
    "r"sv,
    "r"sv,
    "r"sv,
    "s"sv,
    "s"sv,
    "s"sv,
    "s"sv,
    "s"sv,
    "s"sv,
    "s"sv,
    "s"sv,
    "t"sv,
    "t"sv,
    "t"sv,
    "t"sv,
    "t"sv,
    "t"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "u"sv,
    "w"sv,
    "w"sv,
    "y"sv,
    "y"sv,
    "y"sv,
    "z"sv,
    "z"sv,
    "z"sv,
    "z"sv,
    "z"sv,
    "z"sv,
    "s"sv,
};

void AppendUtf8(char32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Decodes the code point at `text[i]`, advancing `i`; nullopt (and one byte skipped) for bytes
// that are not valid UTF-8.
std::optional<char32_t> NextCodePoint(std::string_view text, std::size_t& i) {
  const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
  const unsigned char first = byte(i);
  std::size_t length = 0;
  char32_t code_point = 0;
  if (first < 0x80) {
    ++i;
    return first;
  }
  if ((first & 0xE0) == 0xC0) {
    length = 2;
    code_point = first & 0x1F;
  } else if ((first & 0xF0) == 0xE0) {
    length = 3;
    code_point = first & 0x0F;
  } else if ((first & 0xF8) == 0xF0) {
    length = 4;
    code_point = first & 0x07;
  } else {
    ++i;
    return std::nullopt;
  }
  if (i + length > text.size()) {
    ++i;
    return std::nullopt;
  }
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return std::nullopt;
    }
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  i += length;
  return code_point;
}

// ---------------------------------------------------------------------------------------------
// Dates.

bool ReadDigits(std::string_view text, std::size_t& at, std::size_t count, int& value) {
  if (at + count > text.size()) return false;
  value = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const char c = text[at + k];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  at += count;
  return true;
}

bool Expect(std::string_view text, std::size_t& at, char wanted) {
  if (at >= text.size() || text[at] != wanted) return false;
  ++at;
  return true;
}

std::int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(day)};
  return std::chrono::sys_days(date).time_since_epoch().count();
}

constexpr std::int64_t kMillisecondsPerDay = 86'400'000;

// ---------------------------------------------------------------------------------------------
// Extraction.

std::string_view StringMember(const Json& object, std::string_view name) {
  const auto found = object.find(name);
  if (found == object.end() || !found->is_string()) return {};
  return found->get_ref<const std::string&>();
}

class Extractor {
 public:
  explicit Extractor(SearchIndexEntries& entries) : entries_(entries) {}

  void Add(const SearchParameter& parameter, const PathValue& value) {
    const Json& node = *value.node;
    switch (parameter.type) {
      case SearchParamType::kToken:
        AddToken(parameter.code, node);
        break;
      case SearchParamType::kUri:
        if (node.is_string()) Token(parameter.code, "", node.get_ref<const std::string&>());
        break;
      case SearchParamType::kString:
        AddString(parameter.code, node);
        break;
      case SearchParamType::kDate:
        AddDate(parameter.code, node);
        break;
      case SearchParamType::kReference:
        AddReference(parameter.code, node);
        break;
      case SearchParamType::kNumber:
        if (node.is_number()) Number(parameter.code, node.get<double>(), "", "");
        break;
      case SearchParamType::kQuantity:
        AddQuantity(parameter.code, node);
        break;
    }
  }

 private:
  void Token(const std::string& parameter, std::string_view system, std::string_view code) {
    if (code.empty()) return;
    if (!seen_tokens_.emplace(parameter, std::string(system), std::string(code)).second) return;
    entries_.tokens.push_back({parameter, std::string(system), std::string(code)});
  }

  void Text(const std::string& parameter, std::string_view text) {
    if (text.empty()) return;
    String(parameter + std::string(kTextSuffix), text);
  }

  void String(const std::string& parameter, std::string_view text) {
    if (text.empty()) return;
    if (!seen_strings_.emplace(parameter, std::string(text)).second) return;
    std::string normalised = NormaliseSearchText(text);
    entries_.strings.push_back({parameter, std::move(normalised), std::string(text)});
  }

  void Number(const std::string& parameter, double value, std::string_view system,
              std::string_view code) {
    entries_.numbers.push_back({parameter, value, std::string(system), std::string(code)});
  }

  // Coding, CodeableConcept, Identifier, ContactPoint, or a primitive code, string or boolean.
  void AddToken(const std::string& parameter, const Json& node) {
    if (node.is_string()) {
      Token(parameter, "", node.get_ref<const std::string&>());
      return;
    }
    if (node.is_boolean()) {
      Token(parameter, "", node.get<bool>() ? "true" : "false");
      return;
    }
    if (!node.is_object()) return;
    if (const auto coding = node.find("coding"); coding != node.end() && coding->is_array()) {
      for (const Json& element : *coding) {
        if (element.is_object()) AddCoding(parameter, element);
      }
      Text(parameter, StringMember(node, "text"));
      return;
    }
    if (node.contains("code")) {
      AddCoding(parameter, node);
      return;
    }
    if (node.contains("value")) {
      // Identifier or ContactPoint: system|value.
      Token(parameter, StringMember(node, "system"), StringMember(node, "value"));
      if (const auto type = node.find("type"); type != node.end() && type->is_object()) {
        Text(parameter, StringMember(*type, "text"));
      }
      return;
    }
    Text(parameter, StringMember(node, "text"));
  }

  void AddCoding(const std::string& parameter, const Json& coding) {
    Token(parameter, StringMember(coding, "system"), StringMember(coding, "code"));
    Text(parameter, StringMember(coding, "display"));
  }

  // A primitive string, or the text parts of a HumanName or an Address.
  void AddString(const std::string& parameter, const Json& node) {
    if (node.is_string()) {
      String(parameter, node.get_ref<const std::string&>());
      return;
    }
    if (!node.is_object()) return;
    static constexpr std::array kTextParts = {"text"sv,   "family"sv,     "given"sv,  "prefix"sv,
                                              "suffix"sv, "line"sv,       "city"sv,   "district"sv,
                                              "state"sv,  "postalCode"sv, "country"sv};
    for (const std::string_view part : kTextParts) {
      const auto found = node.find(part);
      if (found == node.end()) continue;
      if (found->is_string()) {
        String(parameter, found->get_ref<const std::string&>());
      } else if (found->is_array()) {
        for (const Json& element : *found) {
          if (element.is_string()) String(parameter, element.get_ref<const std::string&>());
        }
      }
    }
  }

  void Date(const std::string& parameter, DateRange range) {
    entries_.dates.push_back({parameter, range});
  }

  // A date, dateTime or instant; a Period; or a Timing's events.
  void AddDate(const std::string& parameter, const Json& node) {
    if (node.is_string()) {
      if (const auto range = ParseDateRange(node.get_ref<const std::string&>())) {
        Date(parameter, *range);
      }
      return;
    }
    if (!node.is_object()) return;
    if (node.contains("start") || node.contains("end")) {
      const auto start = ParseDateRange(StringMember(node, "start"));
      const auto end = ParseDateRange(StringMember(node, "end"));
      if (!start && !end) return;
      Date(parameter, {start ? start->low : kEarliestInstant, end ? end->high : kLatestInstant});
      return;
    }
    if (const auto events = node.find("event"); events != node.end() && events->is_array()) {
      for (const Json& event : *events) AddDate(parameter, event);
    }
  }

  void AddReference(const std::string& parameter, const Json& node) {
    std::string_view text;
    if (node.is_string()) {
      // A canonical: the version after '|' does not take part in matching.
      text = node.get_ref<const std::string&>();
      text = text.substr(0, text.find('|'));
    } else if (node.is_object()) {
      text = StringMember(node, "reference");
    }
    if (text.empty()) return;
    auto target = ReferenceTarget(text);
    if (!target) return;
    if (!seen_references_.emplace(parameter, *target).second) return;
    entries_.references.push_back({parameter, std::move(*target)});
  }

  // Quantity and its profiles (Age, Duration, ...). Range and SampledData are skipped.
  void AddQuantity(const std::string& parameter, const Json& node) {
    if (node.is_number()) {
      Number(parameter, node.get<double>(), "", "");
      return;
    }
    if (!node.is_object()) return;
    const auto value = node.find("value");
    if (value == node.end() || !value->is_number()) return;
    std::string_view code = StringMember(node, "code");
    if (code.empty()) code = StringMember(node, "unit");
    Number(parameter, value->get<double>(), StringMember(node, "system"), code);
  }

  SearchIndexEntries& entries_;
  std::set<std::tuple<std::string, std::string, std::string>> seen_tokens_;
  std::set<std::pair<std::string, std::string>> seen_strings_;
  std::set<std::pair<std::string, std::string>> seen_references_;
};

}  // namespace

std::string NormaliseSearchText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto decoded = NextCodePoint(text, i);
    if (!decoded) continue;
    const char32_t c = *decoded;
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c));
    } else if (c >= 0x300 && c <= 0x36F) {
      // Combining diacritical marks, as in decomposed text ("e" followed by U+0301).
      continue;
    } else if (c >= 0xC0 && c < 0x180) {
      out += kLatinFolding[c - 0xC0];
    } else if ((c >= 0x391 && c <= 0x3A9) || (c >= 0x410 && c <= 0x42F)) {
      AppendUtf8(c + 0x20, out);
    } else if (c >= 0x400 && c <= 0x40F) {
      AppendUtf8(c + 0x50, out);
    } else {
      AppendUtf8(c, out);
    }
  }
  return out;
}

std::optional<DateRange> ParseDateRange(std::string_view text) {
  std::size_t at = 0;
  int year = 0;
  int month = 1;
  int day = 1;
  if (!ReadDigits(text, at, 4, year)) return std::nullopt;

  // The precision reached decides the width of the range.
  enum class Precision { kYear, kMonth, kDay, kMinute, kSecond, kFraction };
  Precision precision = Precision::kYear;
  if (at < text.size()) {
    if (!Expect(text, at, '-') || !ReadDigits(text, at, 2, month) || month < 1 || month > 12) {
      return std::nullopt;
    }
    precision = Precision::kMonth;
  }
  if (at < text.size()) {
    if (!Expect(text, at, '-') || !ReadDigits(text, at, 2, day) || day < 1) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year(year),
                                           std::chrono::month(static_cast<unsigned>(month)),
                                           std::chrono::day(static_cast<unsigned>(day))};
    if (!date.ok()) return std::nullopt;
    precision = Precision::kDay;
  }
  int hour = 0;
  int minute = 0;
  int second = 0;
  int millisecond = 0;
  int fraction_digits = 0;
  std::int64_t offset_minutes = 0;
  if (at < text.size()) {
    if (!Expect(text, at, 'T') || !ReadDigits(text, at, 2, hour) || !Expect(text, at, ':') ||
        !ReadDigits(text, at, 2, minute) || hour > 23 || minute > 59) {
      return std::nullopt;
    }
    precision = Precision::kMinute;
    if (at < text.size() && text[at] == ':') {
      ++at;
      if (!ReadDigits(text, at, 2, second) || second > 59) return std::nullopt;
      precision = Precision::kSecond;
      if (at < text.size() && text[at] == '.') {
        ++at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
          if (fraction_digits < 3) millisecond = millisecond * 10 + (text[at] - '0');
          ++fraction_digits;
          ++at;
        }
        if (fraction_digits == 0) return std::nullopt;
        for (int k = fraction_digits; k < 3; ++k) millisecond *= 10;
        precision = Precision::kFraction;
      }
    }
    if (at < text.size()) {
      if (text[at] == 'Z') {
        ++at;
      } else if (text[at] == '+' || text[at] == '-') {
        const int sign = text[at] == '-' ? -1 : 1;
        ++at;
        int offset_hours = 0;
        int offset_minute = 0;
        if (!ReadDigits(text, at, 2, offset_hours) || !Expect(text, at, ':') ||
            !ReadDigits(text, at, 2, offset_minute) || offset_hours > 14 || offset_minute > 59) {
          return std::nullopt;
        }
        offset_minutes = sign * (offset_hours * 60 + offset_minute);
      } else {
        return std::nullopt;
      }
    }
  }
  if (at != text.size()) return std::nullopt;

  const auto start_of = [](int y, int m, int d) {
    return DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) *
           kMillisecondsPerDay;
  };
  DateRange range;
  switch (precision) {
    case Precision::kYear:
      range = {start_of(year, 1, 1), start_of(year + 1, 1, 1) - 1};
      break;
    case Precision::kMonth:
      range = {start_of(year, month, 1),
               month == 12 ? start_of(year + 1, 1, 1) - 1 : start_of(year, month + 1, 1) - 1};
      break;
    case Precision::kDay:
      range = {start_of(year, month, day), start_of(year, month, day) + kMillisecondsPerDay - 1};
      break;
    case Precision::kMinute:
    case Precision::kSecond:
    case Precision::kFraction: {
      const std::int64_t low = start_of(year, month, day) +
                               ((hour * 60 + minute) * 60 + second) * 1000LL + millisecond -
                               offset_minutes * 60'000;
      std::int64_t width = 1;
      if (precision == Precision::kMinute) width = 60'000;
      if (precision == Precision::kSecond) width = 1000;
      if (precision == Precision::kFraction && fraction_digits < 3) {
        width = fraction_digits == 1 ? 100 : 10;
      }
      range = {low, low + width - 1};
      break;
    }
  }
  return range;
}

std::optional<std::string> ReferenceTarget(std::string_view reference) {
  if (reference.empty() || reference.starts_with('#')) return std::nullopt;
  if (const std::size_t history = reference.find("/_history/"); history != std::string_view::npos) {
    reference = reference.substr(0, history);
  }
  return std::string(reference);
}

SearchIndexEntries ExtractSearchIndex(const SearchParameterRegistry& registry,
                                      std::string_view resource_type, const Json& resource) {
  SearchIndexEntries entries;
  Extractor extractor(entries);
  for (const SearchParameter& parameter : registry.ForType(resource_type)) {
    for (const PathValue& value : parameter.expression.Evaluate(resource)) {
      extractor.Add(parameter, value);
    }
  }
  return entries;
}

}  // namespace fhirbridge::fhir
