#pragma once

// Structured JSON-lines logging that cannot carry PHI.
//
// The API has no field for request or response bodies, raw URLs, header values or free text
// chosen at run time: messages and attribute keys must be string literals (checked at compile
// time), query strings pass through RedactQuery, and errors contribute only their catalogue name
// and their PHI-free diagnostic. Every line carries time, level, event, subsystem and, where
// known, tenant or site, correlation id, route template, status and latency.
//
// Thread safety: Log() may be called from any thread; lines are never interleaved.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/error.h"

namespace fhirbridge::observe {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// A string fixed at compile time. Constructible only from a string literal (or another
// constant expression), so run-time data such as a patient's name cannot become one.
class Literal {
 public:
  template <std::size_t N>
  consteval Literal(const char (&text)[N]) : text_(text, N - 1) {}  // NOLINT: implicit by design

  std::string_view view() const { return text_; }

 private:
  std::string_view text_;
};

// An attribute value: numbers, booleans, literals, or an identifier the caller vouches is not
// PHI (a tenant name, a resource type, a catalogue code) wrapped in NonPhi.
struct NonPhi {
  std::string value;
};
using AttributeValue = std::variant<std::int64_t, double, bool, Literal, NonPhi>;

struct Attribute {
  Literal key;
  AttributeValue value;
};

struct LogEvent {
  LogLevel level = LogLevel::kInfo;
  Literal event = "unnamed";      // stable event name, e.g. "http.request"
  Literal subsystem = "general";  // e.g. "sandbox.http"
  Literal message = "";           // what happened and, for problems, what to do next
  std::string tenant;             // sandbox tenant name
  std::string site;               // runtime site name
  std::string correlation_id;
  std::string route;  // a route template such as "/{tenant}/api/FHIR/R4/{type}/{id}"
  std::string method;
  std::string query;  // must come from RedactQuery
  int status = 0;
  std::optional<double> latency_ms;
  std::optional<base::Error> error;  // logged as its catalogue name and diagnostic
  std::vector<Attribute> attributes;
};

// Query parameters whose values are never identifying (paging, sorting, formatting, summary
// controls) and may be logged verbatim.
bool IsLoggableQueryParameter(std::string_view name);

// Rewrites a raw query string ("name=Smith&_count=10") so that only allow-listed parameters keep
// their values: "name=[redacted]&_count=10". Parameter names are kept (they describe the shape
// of a request, not a patient); names that are not plain identifiers are replaced too.
std::string RedactQuery(std::string_view raw_query);

// Configures where log lines go. Defaults: standard error, info level. A null stream restores
// standard error. The stream must outlive its use by Log().
void SetLogStream(std::ostream* stream);
void SetMinimumLogLevel(LogLevel level);
LogLevel MinimumLogLevel();
std::string_view LogLevelName(LogLevel level);
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// Writes one JSON line for `event` if its level is at or above the minimum.
void Log(const LogEvent& event);

// Renders the JSON line Log() would write, without the trailing newline. Exposed for tests.
std::string RenderLogLine(const LogEvent& event);

}  // namespace fhirbridge::observe
