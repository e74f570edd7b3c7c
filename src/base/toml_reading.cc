#include "base/toml_reading.h"

#include <algorithm>
#include <utility>

namespace fhirbridge::base {
namespace {

bool IsBareKey(std::string_view key) {
  return !key.empty() && std::ranges::all_of(key, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

}  // namespace

std::string_view TomlTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string TomlChildPath(std::string_view parent, std::string_view key) {
  std::string path(parent);
  if (!path.empty()) path += '.';
  if (IsBareKey(key)) {
    path += key;
  } else {
    path += '"';
    path += key;
    path += '"';
  }
  return path;
}

void TomlProblems::Add(toml::source_position position, std::string_view path,
                       std::string_view what) {
  problems_.push_back({position.line, position.column,
                       source_name_ + ":" + std::to_string(position.line) + ":" +
                           std::to_string(position.column) + ": " + std::string(path) + ": " +
                           std::string(what)});
}

void TomlProblems::AddElsewhere(std::string_view place, std::string_view path,
                                std::string_view what) {
  problems_.push_back(
      {0, 0, std::string(place) + ": " + std::string(path) + ": " + std::string(what)});
}

void TomlProblems::CheckKeys(const toml::table& table, std::string_view path,
                             std::span<const std::string_view> allowed) {
  for (auto&& [key, node] : table) {
    if (std::ranges::find(allowed, key.str()) != allowed.end()) continue;
    std::string expected;
    for (const auto name : allowed) {
      if (!expected.empty()) expected += ", ";
      expected += name;
    }
    Add(key.source().begin, TomlChildPath(path, key.str()),
        "unknown key; expected one of " + expected);
  }
}

std::vector<std::string> TomlProblems::Lines() const {
  std::vector<const Problem*> sorted;
  for (const auto& problem : problems_) sorted.push_back(&problem);
  // toml++ keeps keys sorted, not in document order; sorting by position lets the reader fix the
  // file from top to bottom. Problems without a position come last.
  std::ranges::stable_sort(sorted, [](const Problem* left, const Problem* right) {
    const auto key = [](const Problem* problem) {
      return std::pair(problem->line == 0 ? UINT32_MAX : problem->line, problem->column);
    };
    return key(left) < key(right);
  });
  std::vector<std::string> lines;
  for (const auto* problem : sorted) lines.push_back(problem->text);
  return lines;
}

Error TomlProblems::ToError() const {
  std::string diagnostic;
  for (const auto& line : Lines()) {
    if (!diagnostic.empty()) diagnostic += '\n';
    diagnostic += line;
  }
  return MakeError(ErrorCode::kConfigInvalid, std::move(diagnostic));
}

std::optional<toml::table> ParseToml(std::string_view text, std::string_view source_name,
                                     TomlProblems& problems) {
#if TOML_EXCEPTIONS
  // toml++ reports syntax errors by throwing; this is the boundary that turns them into problems.
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& error) {
    problems.Add(error.source().begin, "toml", error.description());
    return std::nullopt;
  }
#else
  auto parsed = toml::parse(text, source_name);
  if (!parsed) {
    problems.Add(parsed.error().source().begin, "toml", parsed.error().description());
    return std::nullopt;
  }
  return std::move(parsed).table();
#endif
}

}  // namespace fhirbridge::base
