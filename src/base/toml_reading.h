#pragma once

// Pieces every reader of a TOML configuration file shares, so that the sandbox's tenant file and
// the runtime's site bundles report mistakes the same way: "file:line:column: key: what".

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace fhirbridge::base {

// How a TOML value's type reads in a message: "a table", "an integer", ...
std::string_view TomlTypeName(const toml::node& node);

// "parent.key", quoting keys TOML would need quoted so the path can be pasted back.
std::string TomlChildPath(std::string_view parent, std::string_view key);

// Collects every problem found in one configuration source, then answers with all of them at
// once, sorted from the top of the file to the bottom.
class TomlProblems {
 public:
  explicit TomlProblems(std::string source_name) : source_name_(std::move(source_name)) {}

  // A problem at a place in the file.
  void Add(toml::source_position position, std::string_view path, std::string_view what);
  // A problem whose place is not a file position, e.g. "environment variable X"; listed after the
  // file's problems.
  void AddElsewhere(std::string_view place, std::string_view path, std::string_view what);
  // Unknown keys of `table` (whose path is `path`), each reported at its key.
  void CheckKeys(const toml::table& table, std::string_view path,
                 std::span<const std::string_view> allowed);

  bool empty() const { return problems_.empty(); }
  std::size_t size() const { return problems_.size(); }
  // kConfigInvalid whose diagnostic holds one problem per line.
  Error ToError() const;
  // The problem lines, sorted.
  std::vector<std::string> Lines() const;

 private:
  struct Problem {
    std::uint32_t line;  // 0 for problems elsewhere: sorted last
    std::uint32_t column;
    std::string text;
  };

  std::string source_name_;
  std::vector<Problem> problems_;
};

// Parses TOML text; a syntax error is added to `problems` (with its position) and nullopt
// returned.
std::optional<toml::table> ParseToml(std::string_view text, std::string_view source_name,
                                     TomlProblems& problems);

}  // namespace fhirbridge::base
