#include "sandbox/search.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "fhir/json_value.h"
#include "fhir/operation_outcome.h"
#include "fhir/resource_types.h"
#include "fhir/search_values.h"
#include "sandbox/id_generator.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using base::Fail;
using fhir::SearchParameter;
using fhir::SearchParamType;
using json = fhir::Json;

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";
constexpr std::string_view kCursorParameter = "_cursor";
constexpr int kCursorFormat = 1;
// Parameter names are echoed in diagnostics; longer ones are cut, as no real name is this long.
constexpr std::size_t kMaxNameInDiagnostic = 64;

// Epic's codes for the behaviours its build levels switch on.
constexpr std::string_view kEpicNoResults = "4101";
constexpr std::string_view kEpicNoParameters = "4110";
constexpr std::string_view kEpicRequiredParameter = "4111";
constexpr std::string_view kEpicUnknownParameter = "4122";
constexpr std::string_view kEpicRequiredElement = "59108";

// Result parameters a client may send that change nothing here.
constexpr std::string_view kIgnoredParameters[] = {"_format", "_pretty"};

std::string NameForDiagnostic(std::string_view name) {
  return std::string(name.substr(0, kMaxNameInDiagnostic));
}

// ---------------------------------------------------------------------------------------------
// Values.

// Splits on commas not escaped with '\'; escapes are kept for the later split on '|'.
std::vector<std::string> SplitAlternatives(std::string_view value) {
  std::vector<std::string> parts(1);
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) {
      parts.back() += value.substr(i, 2);
      ++i;
    } else if (value[i] == ',') {
      parts.emplace_back();
    } else {
      parts.back() += value[i];
    }
  }
  return parts;
}

// The position of the first '|' not escaped with '\', or npos.
std::size_t FindBar(std::string_view value, std::size_t from = 0) {
  for (std::size_t i = from; i < value.size(); ++i) {
    if (value[i] == '\\') {
      ++i;
    } else if (value[i] == '|') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Removes the search escapes: "\," "\|" "\$" "\\".
std::string Unescape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) ++i;
    out += value[i];
  }
  return out;
}

struct Prefixed {
  Comparison comparison = Comparison::kEq;
  std::string_view value;
};

// Reads an R4 prefix (eq ne gt lt ge le sa eb ap) in front of a date or number.
base::Result<Prefixed> ReadPrefix(std::string_view value, const std::string& name) {
  static constexpr std::pair<std::string_view, Comparison> kPrefixes[] = {
      {"eq", Comparison::kEq}, {"ne", Comparison::kNe}, {"gt", Comparison::kGt},
      {"lt", Comparison::kLt}, {"ge", Comparison::kGe}, {"le", Comparison::kLe},
      {"sa", Comparison::kSa}, {"eb", Comparison::kEb}, {"ap", Comparison::kAp},
  };
  if (value.size() >= 2 && std::isalpha(static_cast<unsigned char>(value[0]))) {
    for (const auto& [text, comparison] : kPrefixes) {
      if (value.starts_with(text)) return Prefixed{comparison, value.substr(2)};
    }
    return Fail(ErrorCode::kInvalidParameter,
                "The value of '" + NameForDiagnostic(name) +
                    "' starts with an unknown prefix; use eq, ne, gt, lt, ge, le, sa, eb or ap.",
                NameForDiagnostic(name));
  }
  return Prefixed{Comparison::kEq, value};
}

std::int64_t NowMilliseconds() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

base::Result<Match> DateValue(std::string_view raw, const std::string& name) {
  auto prefixed = ReadPrefix(raw, name);
  if (!prefixed) return Fail(prefixed.error());
  // An unencoded '+' of a time zone arrives as a space in a query string.
  std::string text(prefixed->value);
  std::replace(text.begin(), text.end(), ' ', '+');
  const auto range = fhir::ParseDateRange(text);
  if (!range) {
    return Fail(ErrorCode::kInvalidParameter,
                "The value of '" + NameForDiagnostic(name) +
                    "' is not a FHIR date such as 2024, 2024-05, 2024-05-03 or "
                    "2024-05-03T10:00:00Z.",
                NameForDiagnostic(name));
  }
  DateMatch match{prefixed->comparison, range->low, range->high};
  if (match.comparison == Comparison::kAp) {
    // R4 suggests 10% of the distance between now and the value.
    const std::int64_t gap = std::llabs(NowMilliseconds() - range->low);
    match.low -= gap / 10;
    match.high += gap / 10;
  }
  return Match{match};
}

base::Result<Match> NumberValue(std::string_view raw, const std::string& name, bool quantity) {
  auto prefixed = ReadPrefix(raw, name);
  if (!prefixed) return Fail(prefixed.error());
  std::string_view number_text = prefixed->value;
  NumberMatch match;
  match.comparison = prefixed->comparison;
  if (quantity) {
    // number|system|code, with system or code possibly empty.
    const std::size_t first = FindBar(number_text);
    if (first != std::string_view::npos) {
      const std::string_view rest = number_text.substr(first + 1);
      number_text = number_text.substr(0, first);
      const std::size_t second = FindBar(rest);
      const std::string system = Unescape(rest.substr(0, second));
      const std::string code =
          second == std::string_view::npos ? std::string() : Unescape(rest.substr(second + 1));
      if (!system.empty()) match.system = system;
      if (!code.empty()) match.code = code;
    }
  }
  const std::string text(number_text);
  char* end = nullptr;
  const double value = text.empty() ? 0 : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) ||
      text.find_first_of("xXpP") != std::string::npos) {
    return Fail(ErrorCode::kInvalidParameter,
                "The value of '" + NameForDiagnostic(name) + "' is not a number.",
                NameForDiagnostic(name));
  }
  // The range the value denotes at its precision: 100 is [99.5, 100.5), 1.50 is [1.495, 1.505).
  const std::size_t dot = text.find('.');
  const std::size_t exponent = text.find_first_of("eE");
  int decimals = 0;
  if (dot != std::string::npos) {
    decimals = static_cast<int>((exponent == std::string::npos ? text.size() : exponent) - dot - 1);
  }
  int power = 0;
  if (exponent != std::string::npos) power = std::atoi(text.c_str() + exponent + 1);
  const double half_unit = 0.5 * std::pow(10.0, power - decimals);
  match.value = value;
  match.low = value - half_unit;
  match.high = value + half_unit;
  if (match.comparison == Comparison::kAp) {
    const double margin = std::max(std::abs(value) * 0.1, half_unit);
    match.low = value - margin;
    match.high = value + margin;
  }
  return Match{match};
}

Match TokenValue(std::string_view raw) {
  TokenMatch match;
  const std::size_t bar = FindBar(raw);
  if (bar == std::string_view::npos) {
    match.code = Unescape(raw);
  } else {
    match.system = Unescape(raw.substr(0, bar));
    const std::string code = Unescape(raw.substr(bar + 1));
    if (!code.empty()) match.code = code;
  }
  return match;
}

// The reference targets a value stands for: "Type/id" as given, an id under every allowed type,
// or an absolute URL (made relative when it points into this tenant's base).
std::vector<Match> ReferenceValues(std::string_view raw, const SearchParameter& parameter,
                                   const std::optional<std::string>& type_modifier,
                                   std::string_view base_url) {
  std::string value = Unescape(raw);
  const std::string own_base = std::string(base_url) + "/";
  if (value.starts_with(own_base)) value = value.substr(own_base.size());
  if (const auto target = fhir::ReferenceTarget(value)) value = *target;

  std::vector<Match> matches;
  if (value.find('/') != std::string::npos || value.find(':') != std::string::npos) {
    matches.push_back(ReferenceMatch{value});
    return matches;
  }
  if (type_modifier) {
    matches.push_back(ReferenceMatch{*type_modifier + "/" + value});
    return matches;
  }
  for (const std::string& type : parameter.targets) {
    matches.push_back(ReferenceMatch{type + "/" + value});
  }
  return matches;
}

SearchIndex IndexOf(SearchParamType type) {
  switch (type) {
    case SearchParamType::kToken:
    case SearchParamType::kUri:
      return SearchIndex::kToken;
    case SearchParamType::kString:
      return SearchIndex::kString;
    case SearchParamType::kDate:
      return SearchIndex::kDate;
    case SearchParamType::kReference:
      return SearchIndex::kReference;
    case SearchParamType::kNumber:
    case SearchParamType::kQuantity:
      return SearchIndex::kNumber;
  }
  return SearchIndex::kToken;
}

// ---------------------------------------------------------------------------------------------
// The request, parsed.

struct Warning {
  std::string diagnostics;
  std::string issue_code;
  std::string_view epic_code;
};

struct ParsedSearch {
  StoreSearch store;
  std::set<std::string, std::less<>> criteria_codes;  // codes of the criteria given
  // The accepted parameters, as the links repeat them (without _count and _cursor).
  std::vector<std::pair<std::string, std::string>> link_parameters;
  std::optional<std::string> cursor;
  bool summary_count = false;
  std::vector<Warning> warnings;
};

class SearchParser {
 public:
  explicit SearchParser(const SearchCall& call)
      : call_(call),
        settings_(call.tenant.build_level().search),
        lenient_(call.lenient.value_or(settings_.lenient)),
        offered_(OfferedSearchParameters(call.tenant.build_level(), call.type)) {}

  base::Result<ParsedSearch> Parse() {
    parsed_.store.type = call_.type;
    parsed_.store.count = settings_.default_count;
    for (const auto& [name, value] : call_.parameters) {
      if (name.empty()) continue;
      if (auto handled = Handle(name, value); !handled) return Fail(handled.error());
    }
    if (auto checked = CheckRequiredParameters(); !checked) return Fail(checked.error());
    if (parsed_.summary_count) parsed_.store.count = 0;
    return std::move(parsed_);
  }

 private:
  const SearchParameter* Offered(std::string_view code) const {
    const auto found = std::ranges::lower_bound(offered_, code, {}, &SearchParameter::code);
    return found != offered_.end() && (*found)->code == code ? *found : nullptr;
  }

  // An unknown parameter, or a form of one this server does not support.
  base::Status Unknown(std::string_view name, const std::string& why) {
    const std::string shown = NameForDiagnostic(name);
    if (!lenient_) {
      base::Error error = base::MakeError(ErrorCode::kUnsupportedParameter, why, shown);
      return Fail(std::move(error));
    }
    parsed_.warnings.push_back({why + " It was ignored.", "not-supported",
                                settings_.epic_codes ? kEpicUnknownParameter : ""});
    return {};
  }

  base::Status Invalid(std::string_view name, const std::string& why) {
    return Fail(ErrorCode::kInvalidParameter, why, NameForDiagnostic(name));
  }

  base::Status Handle(const std::string& name, const std::string& value) {
    if (std::ranges::find(kIgnoredParameters, name) != std::end(kIgnoredParameters)) return {};
    if (name == kCursorParameter) {
      parsed_.cursor = value;
      return {};
    }
    if (name == "_count") return HandleCount(value);
    if (name == "_sort") return Keep(name, value, HandleSort(value));
    if (name == "_include" || name == "_revinclude") {
      return Keep(name, value, HandleInclude(name == "_revinclude", value));
    }
    if (name == "_total") return Keep(name, value, HandleTotal(value));
    if (name == "_summary") {
      if (value == "count") {
        parsed_.summary_count = true;
        return Keep(name, value, {});
      }
      if (value == "false") return Keep(name, value, {});
      return Unknown(name, "_summary=" + NameForDiagnostic(value) +
                               " is not supported; use _summary=count or false.");
    }

    const std::size_t colon = name.find(':');
    const std::string code = name.substr(0, colon);
    const std::optional<std::string> modifier =
        colon == std::string::npos ? std::nullopt : std::optional(name.substr(colon + 1));
    if (code.find('.') != std::string::npos) {
      return Unknown(
          name, "Chained parameters such as '" + NameForDiagnostic(name) + "' are not supported.");
    }
    const SearchParameter* parameter = Offered(code);
    if (parameter == nullptr) {
      return Unknown(name, "Parameter '" + NameForDiagnostic(code) + "' is not supported for " +
                               call_.type + " on this tenant.");
    }
    if (value.empty()) return {};  // R4: a parameter without a value is ignored.
    auto criterion = MakeCriterion(*parameter, name, modifier, value);
    if (!criterion) return Fail(criterion.error());
    parsed_.store.criteria.push_back(std::move(*criterion));
    parsed_.criteria_codes.insert(code);
    parsed_.link_parameters.emplace_back(name, value);
    return {};
  }

  // Records a result parameter for the links once it has been accepted.
  base::Status Keep(const std::string& name, const std::string& value, base::Status handled) {
    if (handled) parsed_.link_parameters.emplace_back(name, value);
    return handled;
  }

  base::Status HandleCount(const std::string& value) {
    std::int64_t count = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), count);
    if (error != std::errc() || end != value.data() + value.size() || count < 0) {
      return Invalid("_count", "_count must be a whole number from 0.");
    }
    // A larger page than the build level allows is not an error: the page is smaller.
    parsed_.store.count = std::min(count, settings_.max_count);
    if (count == 0) parsed_.summary_count = true;
    return {};
  }

  base::Status HandleTotal(const std::string& value) {
    if (value == "none") {
      parsed_.store.total = StoreSearch::Total::kNone;
    } else if (value == "estimate") {
      parsed_.store.total = StoreSearch::Total::kEstimate;
    } else if (value == "accurate") {
      parsed_.store.total = StoreSearch::Total::kAccurate;
    } else {
      return Invalid("_total", "_total must be none, estimate or accurate.");
    }
    return {};
  }

  base::Status HandleSort(const std::string& value) {
    parsed_.store.sort.clear();
    for (const std::string& part : SplitAlternatives(value)) {
      const bool descending = part.starts_with('-');
      const std::string code = descending ? part.substr(1) : part;
      const SearchParameter* parameter = Offered(code);
      if (parameter == nullptr) {
        return Invalid("_sort", "_sort names '" + NameForDiagnostic(code) +
                                    "', which is not a search parameter of " + call_.type +
                                    " on this tenant.");
      }
      parsed_.store.sort.push_back({parameter->code, IndexOf(parameter->type), descending});
    }
    return {};
  }

  // "Type:parameter" or "Type:parameter:TargetType".
  base::Status HandleInclude(bool reverse, const std::string& value) {
    const std::string name = reverse ? "_revinclude" : "_include";
    const std::size_t first = value.find(':');
    const std::size_t second = first == std::string::npos ? first : value.find(':', first + 1);
    const std::string source = value.substr(0, first);
    const std::string code =
        first == std::string::npos ? std::string() : value.substr(first + 1, second - first - 1);
    const std::optional<std::string> target =
        second == std::string::npos ? std::nullopt : std::optional(value.substr(second + 1));
    if (code.empty() || code == "*") {
      return Invalid(name, name + " takes Type:parameter, e.g. Observation:patient.");
    }
    if (reverse ? !call_.tenant.build_level().SupportsType(source) : source != call_.type) {
      return Invalid(name, reverse
                               ? "_revinclude names a type this tenant does not serve."
                               : "_include must start with the searched type, " + call_.type + ".");
    }
    const SearchParameter* parameter = fhir::R4SearchParameters().Find(source, code);
    if (parameter == nullptr || parameter->type != SearchParamType::kReference) {
      return Invalid(name, name + " names '" + NameForDiagnostic(code) +
                               "', which is not a reference parameter of " + source + ".");
    }
    if (target && !fhir::IsR4ResourceType(*target)) {
      return Invalid(name, name + "'s target type is not a FHIR R4 resource type.");
    }
    auto& requests = reverse ? parsed_.store.revincludes : parsed_.store.includes;
    requests.push_back({code, source, target});
    return {};
  }

  base::Result<Criterion> MakeCriterion(const SearchParameter& parameter, const std::string& name,
                                        const std::optional<std::string>& modifier,
                                        const std::string& value) {
    Criterion criterion;
    criterion.parameter = parameter.code;
    criterion.index = IndexOf(parameter.type);

    if (modifier == "missing") {
      if (value != "true" && value != "false") {
        return Fail(ErrorCode::kInvalidParameter, "':missing' takes true or false.",
                    NameForDiagnostic(name));
      }
      criterion.missing = value == "true";
      return criterion;
    }

    std::optional<std::string> type_modifier;
    bool text = false;
    StringMatch::Mode string_mode = StringMatch::Mode::kStartsWith;
    if (modifier) {
      const bool allowed =
          (parameter.type == SearchParamType::kToken &&
           (*modifier == "text" || *modifier == "not")) ||
          (parameter.type == SearchParamType::kString &&
           (*modifier == "exact" || *modifier == "contains")) ||
          (parameter.type == SearchParamType::kReference &&
           std::ranges::find(parameter.targets, *modifier) != parameter.targets.end());
      if (!allowed) {
        return Fail(ErrorCode::kUnsupportedParameter,
                    "The modifier of '" + NameForDiagnostic(name) + "' is not supported on a " +
                        std::string(fhir::SearchParamTypeCode(parameter.type)) + " parameter.",
                    NameForDiagnostic(name));
      }
      if (*modifier == "not") criterion.negated = true;
      if (*modifier == "text") text = true;
      if (*modifier == "exact") string_mode = StringMatch::Mode::kExact;
      if (*modifier == "contains") string_mode = StringMatch::Mode::kContains;
      if (parameter.type == SearchParamType::kReference) type_modifier = *modifier;
    }
    if (text) {
      criterion.parameter += fhir::kTextSuffix;
      criterion.index = SearchIndex::kString;
    }

    for (const std::string& alternative : SplitAlternatives(value)) {
      if (text) {
        criterion.any_of.push_back(StringMatch{StringMatch::Mode::kStartsWith,
                                               fhir::NormaliseSearchText(Unescape(alternative))});
        continue;
      }
      switch (parameter.type) {
        case SearchParamType::kToken:
          criterion.any_of.push_back(TokenValue(alternative));
          break;
        case SearchParamType::kUri:
          criterion.any_of.push_back(TokenMatch{std::string(), Unescape(alternative)});
          break;
        case SearchParamType::kString: {
          const std::string unescaped = Unescape(alternative);
          criterion.any_of.push_back(
              StringMatch{string_mode, string_mode == StringMatch::Mode::kExact
                                           ? unescaped
                                           : fhir::NormaliseSearchText(unescaped)});
          break;
        }
        case SearchParamType::kDate: {
          auto match = DateValue(alternative, name);
          if (!match) return Fail(match.error());
          criterion.any_of.push_back(std::move(*match));
          break;
        }
        case SearchParamType::kNumber:
        case SearchParamType::kQuantity: {
          auto match = NumberValue(alternative, name, parameter.type == SearchParamType::kQuantity);
          if (!match) return Fail(match.error());
          criterion.any_of.push_back(std::move(*match));
          break;
        }
        case SearchParamType::kReference:
          for (Match& match :
               ReferenceValues(alternative, parameter, type_modifier, call_.base_url)) {
            criterion.any_of.push_back(std::move(match));
          }
          break;
      }
    }
    return criterion;
  }

  bool Given(std::string_view code) const { return parsed_.criteria_codes.contains(code); }

  base::Error Required(std::string diagnostic, std::string_view epic_code) const {
    base::Error error = base::MakeError(ErrorCode::kSearchParameterRequired, std::move(diagnostic));
    if (settings_.epic_codes) error.epic_code = epic_code;
    return error;
  }

  // The build level's Epic rules, checked on the parameters that were accepted.
  base::Status CheckRequiredParameters() const {
    const std::string& type = call_.type;
    const auto& registry = fhir::R4SearchParameters();
    if (settings_.require_patient && type != "Patient" &&
        registry.Find(type, "patient") != nullptr) {
      const SearchParameter* subject = registry.Find(type, "subject");
      const bool subject_allowed =
          subject != nullptr &&
          std::ranges::find(subject->targets, "Patient") != subject->targets.end();
      if (!Given("patient") && !(subject_allowed && Given("subject"))) {
        return Fail(Required(type + " searches need the patient parameter" +
                                 (subject_allowed ? std::string(" (or subject)") : "") + ".",
                             kEpicRequiredParameter));
      }
    }
    if (settings_.require_category_or_code && type == "Observation" && !Given("category") &&
        !Given("code")) {
      return Fail(Required("Observation searches need a category or a code parameter.",
                           kEpicRequiredElement));
    }
    if (settings_.require_demographics && type == "Patient") {
      const bool named = Given("name") || Given("family") || Given("given");
      if (!Given("_id") && !Given("identifier") && !(named && Given("birthdate"))) {
        return Fail(Required(
            "Patient searches need _id, identifier, or a name (name, family or given) with "
            "birthdate.",
            parsed_.criteria_codes.empty() ? kEpicNoParameters : kEpicRequiredParameter));
      }
    }
    return {};
  }

  const SearchCall& call_;
  const SearchSettings& settings_;
  const bool lenient_;
  const std::vector<const SearchParameter*> offered_;
  ParsedSearch parsed_;
};

// ---------------------------------------------------------------------------------------------
// Cursors: base64url of [format, query hash, resource key, [sort values]].

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Alphabet[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kBase64Alphabet[(buffer << (6 - bits)) & 0x3F];
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const std::size_t value = kBase64Alphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// Ties a cursor to the search it came from, so that a cursor pasted onto another query is
// refused rather than silently skipping results.
std::string QueryHash(std::string_view type,
                      const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::uint64_t hash = 14695981039346656037ULL;
  const auto add = [&](std::string_view text) {
    for (const char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
    hash ^= 0xFF;
    hash *= 1099511628211ULL;
  };
  add(type);
  for (const auto& [name, value] : parameters) {
    add(name);
    add(value);
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}

std::string EncodeCursor(const SearchPosition& position, const std::string& hash) {
  json values = json::array();
  for (const SortValue& value : position.sort_values) {
    if (const auto* integer = std::get_if<std::int64_t>(&value)) {
      values.push_back(*integer);
    } else if (const auto* real = std::get_if<double>(&value)) {
      values.push_back(*real);
    } else if (const auto* text = std::get_if<std::string>(&value)) {
      values.push_back(*text);
    } else {
      values.push_back(nullptr);
    }
  }
  return Base64UrlEncode(json::array({kCursorFormat, hash, position.resource_key, values}).dump());
}

base::Result<SearchPosition> DecodeCursor(std::string_view cursor, const std::string& hash,
                                          std::size_t sort_keys) {
  const auto invalid = [] {
    return Fail(ErrorCode::kInvalidParameter,
                "The _cursor is not one this server issued for this search; follow the next "
                "link as given, or start the search again.",
                std::string(kCursorParameter));
  };
  const auto text = Base64UrlDecode(cursor);
  if (!text) return invalid();
  const json parsed = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array() || parsed.size() != 4 || parsed[0] != kCursorFormat || parsed[1] != hash ||
      !parsed[2].is_number_integer() || !parsed[3].is_array() || parsed[3].size() != sort_keys) {
    return invalid();
  }
  SearchPosition position;
  position.resource_key = parsed[2].get<std::int64_t>();
  for (const json& value : parsed[3]) {
    if (value.is_null()) {
      position.sort_values.emplace_back(nullptr);
    } else if (value.is_number_integer()) {
      position.sort_values.emplace_back(value.get<std::int64_t>());
    } else if (value.is_number_float()) {
      position.sort_values.emplace_back(value.get<double>());
    } else if (value.is_string()) {
      position.sort_values.emplace_back(value.get<std::string>());
    } else {
      return invalid();
    }
  }
  return position;
}

// ---------------------------------------------------------------------------------------------
// The Bundle.

// Percent-encodes a query component, keeping what FHIR URLs commonly show bare.
std::string EncodeQueryComponent(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' ||
        c == '/' || c == ',') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

std::string LinkUrl(const SearchCall& call, const ParsedSearch& parsed,
                    const std::optional<std::string>& cursor) {
  std::string url = call.base_url + "/" + call.type + "?";
  for (const auto& [name, value] : parsed.link_parameters) {
    url += EncodeQueryComponent(name) + "=" + EncodeQueryComponent(value) + "&";
  }
  url += "_count=" + std::to_string(parsed.summary_count ? 0 : parsed.store.count);
  if (cursor) url += "&_cursor=" + *cursor;
  return url;
}

json Issue(const Warning& warning) {
  json issue = {{"severity", "warning"}, {"code", warning.issue_code}};
  if (!warning.epic_code.empty()) {
    issue["details"] = {{"coding", json::array({{{"system", fhir::kEpicCodeSystem},
                                                 {"code", warning.epic_code}}})}};
  }
  issue["diagnostics"] = warning.diagnostics;
  return issue;
}

std::string NewUuid() {
  static const IdGenerator generator = MakeIdGenerator(IdStyle::kUuid, 0);
  return generator();
}

// Served text of a resource: `text` followed by `closing` (the store's meta cut off leaves the
// resource's closing brace to add).
struct ServedText {
  std::string_view text;
  std::string_view closing;
};

void AppendEntry(std::string& body, bool& first, std::string_view full_url, ServedText resource,
                 std::string_view mode) {
  body += first ? "" : ",";
  first = false;
  body += "{\"fullUrl\":";
  // URLs of resources are plain text; anything JSON would escape goes through the serializer.
  const bool plain = std::ranges::all_of(full_url, [](char c) {
    return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20;
  });
  if (plain) {
    body += '"';
    body += full_url;
    body += '"';
  } else {
    body += json(full_url).dump();
  }
  body += ",\"resource\":";
  body += resource.text;
  body += resource.closing;
  body += ",\"search\":{\"mode\":\"";
  body += mode;
  body += "\"}}";
}

// Finds the members of the JSON object starting at text[at] ('{'); each as [start, end) of
// `"key":value` and the key's raw text. False when the text is not such an object.
struct Member {
  std::size_t start = 0;
  std::size_t end = 0;
  std::string_view key;
  std::size_t value_start = 0;
};

std::size_t SkipSpace(std::string_view text, std::size_t at) {
  while (at < text.size() &&
         (text[at] == ' ' || text[at] == '\n' || text[at] == '\r' || text[at] == '\t')) {
    ++at;
  }
  return at;
}

std::size_t SkipString(std::string_view text, std::size_t at) {
  // Jumps from quote to quote; a quote is the end unless an odd run of backslashes escapes it.
  for (std::size_t quote = text.find('"', at + 1); quote != std::string_view::npos;
       quote = text.find('"', quote + 1)) {
    std::size_t backslashes = 0;
    while (backslashes < quote - at - 1 && text[quote - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote + 1;
  }
  return std::string_view::npos;
}

std::size_t SkipValue(std::string_view text, std::size_t at) {
  if (at >= text.size()) return std::string_view::npos;
  if (text[at] == '"') return SkipString(text, at);
  if (text[at] == '{' || text[at] == '[') {
    int depth = 0;
    for (std::size_t i = text.find_first_of("\"{}[]", at); i != std::string_view::npos;
         i = text.find_first_of("\"{}[]", i)) {
      if (text[i] == '"') {
        i = SkipString(text, i);
        if (i == std::string_view::npos) return i;
        continue;
      }
      if (text[i] == '{' || text[i] == '[') {
        ++depth;
      } else if (--depth == 0) {
        return i + 1;
      }
      ++i;
    }
    return std::string_view::npos;
  }
  std::size_t i = at;
  while (i < text.size() &&
         std::string_view(",}] \t\r\n").find(text[i]) == std::string_view::npos) {
    ++i;
  }
  return i;
}

bool ReadMembers(std::string_view text, std::size_t at, std::vector<Member>& members) {
  at = SkipSpace(text, at);
  if (at >= text.size() || text[at] != '{') return false;
  at = SkipSpace(text, at + 1);
  if (at < text.size() && text[at] == '}') return true;
  for (;;) {
    Member member;
    member.start = at;
    if (at >= text.size() || text[at] != '"') return false;
    const std::size_t key_end = SkipString(text, at);
    if (key_end == std::string_view::npos) return false;
    member.key = text.substr(at + 1, key_end - at - 2);
    at = SkipSpace(text, key_end);
    if (at >= text.size() || text[at] != ':') return false;
    member.value_start = SkipSpace(text, at + 1);
    member.end = SkipValue(text, member.value_start);
    if (member.end == std::string_view::npos) return false;
    members.push_back(member);
    at = SkipSpace(text, member.end);
    if (at < text.size() && text[at] == ',') {
      at = SkipSpace(text, at + 1);
      continue;
    }
    return at < text.size() && text[at] == '}';
  }
}

// The store appends meta at the end of a resource that came without one, as
// ,"meta":{"versionId":"N","lastUpdated":"INSTANT"}} closing the resource. Recognising exactly
// that ending (the quotes are unescaped and the last brace closes the resource, so it cannot be
// text inside a value or a nested meta) spares the scan of the whole resource. Returns the
// length without it, or npos.
std::size_t StoreMetaSuffix(std::string_view text) {
  constexpr std::string_view kStart = ",\"meta\":{\"versionId\":\"";
  constexpr std::string_view kMiddle = "\",\"lastUpdated\":\"";
  constexpr std::string_view kEnd = "\"}}";
  if (!text.ends_with(kEnd)) return std::string_view::npos;
  const std::size_t start = text.rfind(kStart);
  if (start == std::string_view::npos) return std::string_view::npos;
  std::size_t at = start + kStart.size();
  const std::size_t digits = at;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
  if (at == digits || text.substr(at, kMiddle.size()) != kMiddle) return std::string_view::npos;
  at += kMiddle.size();
  const std::string_view instant = text.substr(at, text.size() - kEnd.size() - at);
  const bool plain = std::ranges::all_of(instant, [](char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == ':' || c == '.' || c == 'T' || c == 'Z';
  });
  if (instant.empty() || !plain) return std::string_view::npos;
  return start;
}

}  // namespace

std::vector<const SearchParameter*> OfferedSearchParameters(const BuildLevel& level,
                                                            std::string_view type) {
  std::vector<const SearchParameter*> offered;
  if (!level.Supports(type, Interaction::kSearchType)) return offered;
  const SearchSettings& settings = level.search;
  const std::set<std::string, std::less<>>* listed = nullptr;
  if (settings.parameters) {
    const auto found = settings.parameters->find(type);
    if (found == settings.parameters->end()) return offered;
    listed = &found->second;
  }
  for (const SearchParameter& parameter : fhir::R4SearchParameters().ForType(type)) {
    if (listed != nullptr && !listed->contains(parameter.code)) continue;
    if (!settings.last_updated && parameter.code == "_lastUpdated") continue;
    offered.push_back(&parameter);
  }
  return offered;
}

base::Result<http::Response> Search(const SearchCall& call) {
  SearchParser parser(call);
  auto parsed = parser.Parse();
  if (!parsed) return Fail(parsed.error());
  const SearchSettings& settings = call.tenant.build_level().search;

  const std::string hash = QueryHash(call.type, parsed->link_parameters);
  if (parsed->cursor) {
    auto position = DecodeCursor(*parsed->cursor, hash, parsed->store.sort.size());
    if (!position) return Fail(position.error());
    parsed->store.after = std::move(*position);
  }

  auto page = call.tenant.store().Search(parsed->store);
  if (!page) return Fail(page.error());

  // The Bundle is written as text: stored resources are spliced in as they are, never parsed.
  std::vector<Warning> warnings = std::move(parsed->warnings);
  if (page->included_truncated) {
    warnings.push_back({"Only the first " + std::to_string(parsed->store.max_included) +
                            " included resources are in this page.",
                        "incomplete", ""});
  }
  if (settings.empty_result_outcome && page->matches.empty() && !parsed->summary_count) {
    warnings.push_back({"No resources matched the search.", "processing",
                        settings.epic_codes ? kEpicNoResults : ""});
  }

  json links = json::array();
  links.push_back({{"relation", "self"}, {"url", LinkUrl(call, *parsed, parsed->cursor)}});
  links.push_back({{"relation", "first"}, {"url", LinkUrl(call, *parsed, std::nullopt)}});
  if (page->next) {
    links.push_back(
        {{"relation", "next"}, {"url", LinkUrl(call, *parsed, EncodeCursor(*page->next, hash))}});
  }

  std::size_t expected_size = 512;
  for (const StoredVersion& match : page->matches) expected_size += match.json.size() + 160;
  for (const StoredVersion& included : page->included) {
    expected_size += included.json.size() + 160;
  }
  std::string body;
  body.reserve(expected_size);
  body += "{\"resourceType\":\"Bundle\",\"id\":\"";
  body += NewUuid();
  body += "\",\"type\":\"searchset\"";
  if (page->total) body += ",\"total\":" + std::to_string(*page->total);
  body += ",\"link\":" + links.dump();
  // FHIR JSON has no empty arrays: a page without entries has no entry member.
  const std::size_t entries_start = body.size();
  body += ",\"entry\":[";
  bool first = true;
  std::string scratch;
  const auto served = [&](const StoredVersion& stored) -> ServedText {
    if (!settings.strict_meta) return {stored.json, ""};
    // The common case, a resource whose only meta is the store's, needs no copy.
    if (const std::size_t end = StoreMetaSuffix(stored.json); end != std::string_view::npos) {
      return {std::string_view(stored.json).substr(0, end), "}"};
    }
    scratch = WithoutVersionMeta(stored.json);
    return {scratch, ""};
  };
  for (const StoredVersion& match : page->matches) {
    AppendEntry(body, first, call.base_url + "/" + match.type + "/" + match.id, served(match),
                "match");
  }
  for (const StoredVersion& included : page->included) {
    // A reference may lead to a type this tenant does not serve; it is not shown through
    // _include either.
    if (!call.tenant.build_level().SupportsType(included.type)) continue;
    AppendEntry(body, first, call.base_url + "/" + included.type + "/" + included.id,
                served(included), "include");
  }
  if (!warnings.empty()) {
    json outcome = {{"resourceType", "OperationOutcome"}, {"issue", json::array()}};
    for (const Warning& warning : warnings) outcome["issue"].push_back(Issue(warning));
    const std::string text = outcome.dump();
    AppendEntry(body, first, "urn:uuid:" + NewUuid(), {text, ""}, "outcome");
  }
  if (first) {
    body.resize(entries_start);
    body += "}";
  } else {
    body += "]}";
  }

  http::Response response;
  response.status = 200;
  response.SetHeader("Content-Type", std::string(kFhirJson));
  response.body = std::move(body);
  return response;
}

std::string WithoutVersionMeta(std::string_view json_text) {
  if (const std::size_t end = StoreMetaSuffix(json_text); end != std::string_view::npos) {
    std::string out(json_text.substr(0, end));
    out += '}';
    return out;
  }
  std::vector<Member> members;
  if (!ReadMembers(json_text, 0, members)) return std::string(json_text);
  const auto meta = std::ranges::find(members, std::string_view("meta"), &Member::key);
  if (meta == members.end()) return std::string(json_text);
  std::vector<Member> meta_members;
  if (!ReadMembers(json_text, meta->value_start, meta_members)) return std::string(json_text);
  const auto is_version = [](const Member& member) {
    return member.key == "versionId" || member.key == "lastUpdated";
  };
  if (std::ranges::none_of(meta_members, is_version)) return std::string(json_text);

  std::string kept_meta;
  for (const Member& member : meta_members) {
    if (is_version(member)) continue;
    if (!kept_meta.empty()) kept_meta += ',';
    kept_meta += json_text.substr(member.start, member.end - member.start);
  }
  std::string out = "{";
  bool first = true;
  for (const Member& member : members) {
    std::string text;
    if (&member == &*meta) {
      if (kept_meta.empty()) continue;
      text = "\"meta\":{" + kept_meta + "}";
    } else {
      text = json_text.substr(member.start, member.end - member.start);
    }
    if (!first) out += ',';
    first = false;
    out += text;
  }
  out += '}';
  return out;
}

}  // namespace fhirbridge::sandbox
