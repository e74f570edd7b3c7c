#include "observe/log.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <ostream>

#include "base/clock.h"

namespace fhirbridge::observe {
namespace {

// Parameters that steer paging, sorting, the shape of the answer or its format. Their values
// name search parameters, element paths, resource types, formats or counts, never a patient.
// _since is a client's checkpoint for history and bulk export, not a clinical date. Anything
// that filters by content (name, identifier, birthdate, _id, _lastUpdated, _content, _text,
// _filter) stays out: its value can single out a person.
constexpr std::array<std::string_view, 16> kLoggableQueryParameters = {
    "_contained", "_containedType", "_count",        "_elements", "_format",     "_getpagesoffset",
    "_include",   "_offset",        "_outputFormat", "_pretty",   "_revinclude", "_since",
    "_sort",      "_summary",       "_total",        "_type",
};

// A parameter name longer than this is more likely data pasted into the wrong place than a name.
constexpr std::size_t kMaxLoggedParameterNameLength = 64;

constexpr std::string_view kRedacted = "[redacted]";

// Keys written by RenderLogLine itself; an attribute may not reuse one, or the line would carry
// the same key twice.
constexpr std::array<std::string_view, 16> kReservedKeys = {
    "time",       "level",          "event",        "subsystem",  "message", "tenant",
    "site",       "correlation_id", "method",       "route",      "query",   "status",
    "latency_ms", "error",          "error_detail", "attributes",
};

struct LogSink {
  std::mutex mutex;
  std::ostream* stream = &std::cerr;  // guarded by mutex
  std::atomic<LogLevel> minimum_level{LogLevel::kInfo};
};

LogSink& Sink() {
  static LogSink sink;
  return sink;
}

bool IsPlainParameterName(std::string_view name) {
  if (name.empty() || name.size() > kMaxLoggedParameterNameLength) return false;
  return std::ranges::all_of(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
  });
}

// Length of the well-formed UTF-8 sequence starting at text[pos], or 0 if the bytes there are
// not one (truncated, overlong, a surrogate, or beyond U+10FFFF).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const auto is_continuation = [](unsigned char c) { return (c & 0xC0) == 0x80; };
  const unsigned char lead = byte(0);
  const std::size_t remaining = text.size() - pos;

  if (lead >= 0xC2 && lead <= 0xDF) {
    return remaining >= 2 && is_continuation(byte(1)) ? 2 : 0;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (remaining < 3 || !is_continuation(byte(1)) || !is_continuation(byte(2))) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (lead == 0xED && byte(1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (remaining < 4 || !is_continuation(byte(1)) || !is_continuation(byte(2)) ||
        !is_continuation(byte(3))) {
      return 0;
    }
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (lead == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Appends `text` as a quoted JSON string. Written by hand rather than through nlohmann::json
// because every log line passes through here: it appends straight into the line being built,
// with no intermediate DOM or allocation per field. Control characters become \u00XX, valid
// UTF-8 is copied as is, and each byte of invalid UTF-8 becomes U+FFFD so the line stays valid.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x20 || c == 0x7F) {
        out.append("\\u00");
        out.push_back(kHexDigits[c >> 4]);
        out.push_back(kHexDigits[c & 0x0F]);
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++pos;
      continue;
    }
    const std::size_t length = Utf8SequenceLength(text, pos);
    if (length == 0) {
      out.append("\xEF\xBF\xBD");
      ++pos;
      continue;
    }
    out.append(text.substr(pos, length));
    pos += length;
  }
  out.push_back('"');
}

void AppendKey(std::string& out, std::string_view key) {
  if (out.size() > 1) out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
}

void AppendStringField(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  AppendJsonString(out, value);
}

void AppendOptionalStringField(std::string& out, std::string_view key, std::string_view value) {
  if (!value.empty()) AppendStringField(out, key, value);
}

// JSON has no NaN or infinity; such a value is written as null rather than break the line.
void AppendDouble(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void AppendInteger(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void AppendAttributeValue(std::string& out, const AttributeValue& value) {
  std::visit(
      [&out](const auto& alternative) {
        using T = std::decay_t<decltype(alternative)>;
        if constexpr (std::is_same_v<T, std::int64_t>) {
          AppendInteger(out, alternative);
        } else if constexpr (std::is_same_v<T, double>) {
          AppendDouble(out, alternative);
        } else if constexpr (std::is_same_v<T, bool>) {
          out.append(alternative ? "true" : "false");
        } else if constexpr (std::is_same_v<T, Literal>) {
          AppendJsonString(out, alternative.view());
        } else {
          AppendJsonString(out, alternative.value);
        }
      },
      value);
}

}  // namespace

bool IsLoggableQueryParameter(std::string_view name) {
  // A modifier ("_include:iterate") does not change what kind of value the parameter takes.
  const std::string_view base_name = name.substr(0, name.find(':'));
  return std::ranges::find(kLoggableQueryParameters, base_name) != kLoggableQueryParameters.end();
}

std::string RedactQuery(std::string_view raw_query) {
  std::string redacted;
  redacted.reserve(raw_query.size());
  while (!raw_query.empty()) {
    const std::size_t end = raw_query.find('&');
    const std::string_view part = raw_query.substr(0, end);
    raw_query = end == std::string_view::npos ? std::string_view() : raw_query.substr(end + 1);
    if (part.empty()) continue;

    const std::size_t equals = part.find('=');
    const std::string_view name = part.substr(0, equals);
    const bool has_value = equals != std::string_view::npos;

    if (!redacted.empty()) redacted.push_back('&');
    if (!IsPlainParameterName(name)) {
      redacted.append(kRedacted);
      if (has_value) {
        redacted.push_back('=');
        redacted.append(kRedacted);
      }
      continue;
    }
    if (!has_value || IsLoggableQueryParameter(name)) {
      redacted.append(part);
      continue;
    }
    redacted.append(name);
    redacted.push_back('=');
    redacted.append(kRedacted);
  }
  return redacted;
}

void SetLogStream(std::ostream* stream) {
  LogSink& sink = Sink();
  const std::lock_guard lock(sink.mutex);
  sink.stream = stream != nullptr ? stream : &std::cerr;
}

void SetMinimumLogLevel(LogLevel level) {
  Sink().minimum_level.store(level, std::memory_order_relaxed);
}

LogLevel MinimumLogLevel() { return Sink().minimum_level.load(std::memory_order_relaxed); }

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  assert(false && "every LogLevel has a name");
  return "unknown";
}

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning" || name == "warn") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

std::string RenderLogLine(const LogEvent& event) {
  std::string line;
  line.reserve(256);
  line.push_back('{');

  AppendStringField(line, "time", base::FormatInstant(std::chrono::system_clock::now()));
  AppendStringField(line, "level", LogLevelName(event.level));
  AppendStringField(line, "event", event.event.view());
  AppendStringField(line, "subsystem", event.subsystem.view());
  AppendOptionalStringField(line, "message", event.message.view());
  AppendOptionalStringField(line, "tenant", event.tenant);
  AppendOptionalStringField(line, "site", event.site);
  AppendOptionalStringField(line, "correlation_id", event.correlation_id);
  AppendOptionalStringField(line, "method", event.method);
  AppendOptionalStringField(line, "route", event.route);
  AppendOptionalStringField(line, "query", event.query);
  if (event.status != 0) {
    AppendKey(line, "status");
    AppendInteger(line, event.status);
  }
  if (event.latency_ms.has_value()) {
    AppendKey(line, "latency_ms");
    if (std::isfinite(*event.latency_ms)) {
      char buffer[48];
      const int length = std::snprintf(buffer, sizeof buffer, "%.3f", *event.latency_ms);
      line.append(buffer, static_cast<std::size_t>(std::clamp(length, 0, 47)));
    } else {
      line.append("null");
    }
  }
  if (event.error.has_value()) {
    AppendStringField(line, "error", base::Describe(event.error->code).name);
    AppendOptionalStringField(line, "error_detail", event.error->diagnostic);
  }

  // Sorted by key so that lines for the same event read alike however the caller built them.
  std::vector<const Attribute*> attributes;
  attributes.reserve(event.attributes.size());
  for (const Attribute& attribute : event.attributes) attributes.push_back(&attribute);
  std::ranges::stable_sort(attributes, {}, [](const Attribute* a) { return a->key.view(); });
  for (const Attribute* attribute : attributes) {
    assert(std::ranges::find(kReservedKeys, attribute->key.view()) == kReservedKeys.end() &&
           "an attribute key must not repeat a standard log field");
    AppendKey(line, attribute->key.view());
    AppendAttributeValue(line, attribute->value);
  }

  line.push_back('}');
  return line;
}

void Log(const LogEvent& event) {
  LogSink& sink = Sink();
  if (event.level < sink.minimum_level.load(std::memory_order_relaxed)) return;

  // Rendered before taking the lock so that threads only queue for the write itself.
  std::string line = RenderLogLine(event);
  line.push_back('\n');

  const std::lock_guard lock(sink.mutex);
  sink.stream->write(line.data(), static_cast<std::streamsize>(line.size()));
  sink.stream->flush();
}

}  // namespace fhirbridge::observe
