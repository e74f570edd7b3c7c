#pragma once

// The values a resource offers to search, extracted once when it is written so that a search
// compares indexed values and never reads resource JSON. Also the two value rules that search
// requests share with the index: string normalisation and the range a date denotes.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json_value.h"
#include "fhir/search_parameters.h"

namespace fhirbridge::fhir {

// The form string search compares: lower case, accents and other combining marks removed, so
// that "Müller", "MULLER" and "muller" are equal. Letters of the Latin-1 and Latin Extended-A
// blocks fold to their base letters (ß to "ss", æ to "ae"); Greek and Cyrillic capitals become
// small letters. Limitation: other scripts are kept as they are (no full Unicode case folding);
// invalid UTF-8 bytes are dropped.
std::string NormaliseSearchText(std::string_view text);

// A span of time as inclusive bounds in milliseconds since 1970-01-01T00:00:00Z. Open ends (a
// Period without start or end) use the limits below.
struct DateRange {
  std::int64_t low = 0;
  std::int64_t high = 0;
};
inline constexpr std::int64_t kEarliestInstant = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t kLatestInstant = std::numeric_limits<std::int64_t>::max();

// The range a FHIR date, dateTime or instant denotes at its precision: "2024" is the whole year,
// "2024-05" the month, "2024-05-03" the day, "2024-05-03T10:00" the minute, a time with seconds
// that second. nullopt when the text is not such a value.
// Limitation: a date without a time has no time zone, and neither has a time written without
// one; both are read as UTC.
std::optional<DateRange> ParseDateRange(std::string_view text);

struct TokenEntry {
  std::string parameter;
  std::string system;  // "" when the value has none
  std::string code;
};
struct StringEntry {
  std::string parameter;  // a token parameter's text (for :text) is indexed as "<code>:text"
  std::string normalised;
  std::string exact;
};
struct DateEntry {
  std::string parameter;
  DateRange range;
};
struct ReferenceEntry {
  std::string parameter;
  std::string target;  // "Type/id" for relative references; absolute URLs and canonicals as is
};
struct NumberEntry {
  std::string parameter;
  double value = 0;
  std::string system;  // quantities only
  std::string code;    // quantities: the code, else the unit
};

struct SearchIndexEntries {
  std::vector<TokenEntry> tokens;
  std::vector<StringEntry> strings;
  std::vector<DateEntry> dates;
  std::vector<ReferenceEntry> references;
  std::vector<NumberEntry> numbers;
};

// The suffix of the string entries holding a token parameter's text.
inline constexpr std::string_view kTextSuffix = ":text";

// Every value the registry's parameters of `resource_type` select in `resource`, without
// duplicates per parameter. Values of a shape a parameter type cannot use (a Range under a
// quantity parameter, a Reference to a contained resource) are skipped.
SearchIndexEntries ExtractSearchIndex(const SearchParameterRegistry& registry,
                                      std::string_view resource_type, const Json& resource);

// The target a reference string is indexed under: "Type/id" for relative and versioned
// references, the text unchanged otherwise; nullopt for contained ("#id") references.
// Limitation: an absolute URL is indexed as written, even when it points into this server, so
// a search by id finds relative references only (the data Epic serves uses relative ones).
std::optional<std::string> ReferenceTarget(std::string_view reference);

}  // namespace fhirbridge::fhir
