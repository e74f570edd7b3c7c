#include "sandbox/traffic_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "sandbox/traffic_config_toml.h"

namespace fhirbridge::sandbox {
namespace {

using std::string_view_literals::operator""sv;
using Json = fhir::Json;
using Path = std::vector<std::string>;

constexpr std::array kTrafficKeys = {"requests_per_second"sv, "burst"sv, "max_concurrent"sv,
                                     "queue_size"sv, "queue_timeout_ms"sv};
constexpr std::array kFaultKeys = {"seed"sv,
                                   "latency_ms"sv,
                                   "latency_jitter_ms"sv,
                                   "error_rates"sv,
                                   "drop_connection_rate"sv,
                                   "missing_next_link_rate"sv,
                                   "expired_page_rate"sv,
                                   "slow_last_page_ms"sv,
                                   "reset_every_minutes"sv,
                                   "maintenance_windows"sv};
constexpr std::array kErrorRateKeys = {"500"sv, "502"sv, "503"sv, "504"sv};
static_assert(kErrorRateKeys.size() == kInjectedErrorStatuses.size());

// Bounds that keep a mistyped number from stalling clients for hours or exhausting memory.
constexpr std::int64_t kMaxDelayMs = 60'000;
constexpr std::int64_t kMaxQueueTimeoutMs = 600'000;
constexpr double kMaxRequestsPerSecond = 1e6;
constexpr std::int64_t kMaxBurst = 1'000'000;
constexpr std::int64_t kMaxConcurrent = 100'000;
constexpr std::int64_t kMaxQueueSize = 100'000;
// A reset is a transaction on the tenant's store; more often than this would be all it does.
constexpr double kMinResetMinutes = 0.01;
constexpr double kMaxResetMinutes = 10'080;  // a week
constexpr std::size_t kMaxMaintenanceWindows = 64;
// TOML integers are signed 64-bit; the same bound keeps a seed portable between file and API.
constexpr std::int64_t kMaxSeed = std::numeric_limits<std::int64_t>::max();

std::string_view JsonTypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a float";
    case Json::value_t::null:
      return "null";
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return "nothing";
}

std::string Join(std::span<const std::string_view> items) {
  std::string joined;
  for (const auto item : items) {
    if (!joined.empty()) joined += ", ";
    joined += item;
  }
  return joined;
}

bool IsBareKey(std::string_view key) {
  return !key.empty() && std::ranges::all_of(key, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

Path Child(const Path& parent, std::string_view key) {
  Path path = parent;
  path.emplace_back(key);
  return path;
}

// Walks one settings object, recording every problem with its path.
class SettingsReader {
 public:
  explicit SettingsReader(std::vector<SettingsProblem>& problems) : problems_(problems) {}

  void Problem(Path path, std::string what, bool at_key = false) {
    problems_.push_back({std::move(path), std::move(what), at_key});
  }

  bool IsObject(const Json& value, const Path& path) {
    if (value.is_object()) return true;
    Problem(path, "must be an object of settings, not " + std::string(JsonTypeName(value)));
    return false;
  }

  void CheckKeys(const Json& object, const Path& path, std::span<const std::string_view> allowed) {
    for (const auto& [key, value] : object.items()) {
      if (std::ranges::find(allowed, key) != allowed.end()) continue;
      Problem(Child(path, key), "unknown key; expected one of " + Join(allowed), true);
    }
  }

  // The value at `key`, unless it is missing or null (which mean "the default").
  static const Json* Find(const Json& object, std::string_view key) {
    const auto found = object.find(key);
    if (found == object.end() || found->is_null()) return nullptr;
    return &*found;
  }

  std::optional<std::int64_t> Integer(const Json& object, std::string_view key, const Path& path,
                                      std::int64_t minimum, std::int64_t maximum) {
    const Json* value = Find(object, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number_integer()) {
      Problem(Child(path, key), "must be an integer, not " + std::string(JsonTypeName(*value)));
      return std::nullopt;
    }
    const bool too_large = value->is_number_unsigned() &&
                           value->get<std::uint64_t>() >
                               static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const std::int64_t number = too_large ? maximum : value->get<std::int64_t>();
    if (too_large || number < minimum || number > maximum) {
      Problem(Child(path, key), "is out of range; expected " + std::to_string(minimum) + " to " +
                                    std::to_string(maximum));
      return std::nullopt;
    }
    return number;
  }

  std::optional<double> Number(const Json& object, std::string_view key, const Path& path,
                               double minimum, double maximum, std::string_view expected) {
    const Json* value = Find(object, key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number()) {
      Problem(Child(path, key), "must be a number, not " + std::string(JsonTypeName(*value)));
      return std::nullopt;
    }
    const double number = value->get<double>();
    if (!std::isfinite(number) || number < minimum || number > maximum) {
      Problem(Child(path, key), "is out of range; expected " + std::string(expected));
      return std::nullopt;
    }
    return number;
  }

  std::optional<double> Rate(const Json& object, std::string_view key, const Path& path) {
    return Number(object, key, path, 0, 1, "a fraction from 0 to 1");
  }

  std::optional<std::chrono::milliseconds> Milliseconds(const Json& object, std::string_view key,
                                                        const Path& path, std::int64_t maximum) {
    const auto value = Integer(object, key, path, 0, maximum);
    if (!value) return std::nullopt;
    return std::chrono::milliseconds(*value);
  }

 private:
  std::vector<SettingsProblem>& problems_;
};

}  // namespace

double TrafficSettings::BucketCapacity() const {
  if (burst > 0) return burst;
  return std::max(1.0, std::ceil(requests_per_second));
}

std::chrono::milliseconds FaultSettings::ResetInterval() const {
  return std::chrono::milliseconds(std::llround(reset_every_minutes * 60'000));
}

TrafficSettings ReadTrafficSettings(const Json& object, std::vector<SettingsProblem>& problems) {
  SettingsReader reader(problems);
  TrafficSettings settings;
  const Path root;
  if (!reader.IsObject(object, root)) return settings;
  reader.CheckKeys(object, root, kTrafficKeys);

  if (auto rate = reader.Number(object, "requests_per_second", root, 0, kMaxRequestsPerSecond,
                                "0 (no limit) to 1000000")) {
    settings.requests_per_second = *rate;
  }
  if (auto burst = reader.Integer(object, "burst", root, 0, kMaxBurst)) {
    settings.burst = static_cast<std::uint32_t>(*burst);
  }
  if (auto slots = reader.Integer(object, "max_concurrent", root, 0, kMaxConcurrent)) {
    settings.max_concurrent = static_cast<std::uint32_t>(*slots);
  }
  if (auto size = reader.Integer(object, "queue_size", root, 0, kMaxQueueSize)) {
    settings.queue_size = static_cast<std::uint32_t>(*size);
  }
  if (auto timeout = reader.Milliseconds(object, "queue_timeout_ms", root, kMaxQueueTimeoutMs)) {
    settings.queue_timeout = *timeout;
  }
  return settings;
}

FaultSettings ReadFaultSettings(const Json& object, std::vector<SettingsProblem>& problems) {
  SettingsReader reader(problems);
  FaultSettings settings;
  const Path root;
  if (!reader.IsObject(object, root)) return settings;
  reader.CheckKeys(object, root, kFaultKeys);

  if (auto seed = reader.Integer(object, "seed", root, 0, kMaxSeed)) {
    settings.seed = static_cast<std::uint64_t>(*seed);
  }
  if (auto latency = reader.Milliseconds(object, "latency_ms", root, kMaxDelayMs)) {
    settings.latency = *latency;
  }
  if (auto jitter = reader.Milliseconds(object, "latency_jitter_ms", root, kMaxDelayMs)) {
    settings.latency_jitter = *jitter;
  }

  if (const Json* rates = SettingsReader::Find(object, "error_rates")) {
    const Path rates_path = Child(root, "error_rates");
    if (reader.IsObject(*rates, rates_path)) {
      reader.CheckKeys(*rates, rates_path, kErrorRateKeys);
      double total = 0;
      for (std::size_t i = 0; i < kErrorRateKeys.size(); ++i) {
        if (auto rate = reader.Rate(*rates, kErrorRateKeys[i], rates_path)) {
          settings.error_rates[i] = *rate;
          total += *rate;
        }
      }
      // A small tolerance, so that rates such as 0.1 + 0.2 + 0.7 written in decimal still pass.
      if (total > 1 + 1e-9) reader.Problem(rates_path, "the rates add up to more than 1");
    }
  }

  if (auto rate = reader.Rate(object, "drop_connection_rate", root)) {
    settings.drop_connection_rate = *rate;
  }
  if (auto rate = reader.Rate(object, "missing_next_link_rate", root)) {
    settings.missing_next_link_rate = *rate;
  }
  if (auto rate = reader.Rate(object, "expired_page_rate", root)) {
    settings.expired_page_rate = *rate;
  }
  if (auto delay = reader.Milliseconds(object, "slow_last_page_ms", root, kMaxDelayMs)) {
    settings.slow_last_page = *delay;
  }
  if (auto minutes = reader.Number(object, "reset_every_minutes", root, 0, kMaxResetMinutes,
                                   "0 (never) or 0.01 to 10080")) {
    if (*minutes > 0 && *minutes < kMinResetMinutes) {
      reader.Problem(Child(root, "reset_every_minutes"),
                     "is out of range; expected 0 (never) or 0.01 to 10080");
    } else {
      settings.reset_every_minutes = *minutes;
    }
  }

  if (const Json* windows = SettingsReader::Find(object, "maintenance_windows")) {
    const Path windows_path = Child(root, "maintenance_windows");
    if (!windows->is_array()) {
      reader.Problem(windows_path,
                     "must be an array of strings, not " + std::string(JsonTypeName(*windows)));
    } else if (windows->size() > kMaxMaintenanceWindows) {
      reader.Problem(windows_path, "lists more than 64 windows");
    } else {
      for (std::size_t i = 0; i < windows->size(); ++i) {
        const Json& window = (*windows)[i];
        const Path window_path = Child(windows_path, "[" + std::to_string(i) + "]");
        if (!window.is_string()) {
          reader.Problem(window_path, "must be a string, not " + std::string(JsonTypeName(window)));
          continue;
        }
        auto parsed = MaintenanceWindow::Parse(window.get_ref<const std::string&>());
        if (!parsed) {
          reader.Problem(window_path, parsed.error().diagnostic);
          continue;
        }
        settings.maintenance_windows.push_back(std::move(*parsed));
      }
    }
  }
  return settings;
}

Json TrafficSettingsJson(const TrafficSettings& settings) {
  Json json = Json::object();
  json["requests_per_second"] = settings.requests_per_second;
  json["burst"] = settings.burst;
  json["max_concurrent"] = settings.max_concurrent;
  json["queue_size"] = settings.queue_size;
  json["queue_timeout_ms"] = settings.queue_timeout.count();
  return json;
}

Json FaultSettingsJson(const FaultSettings& settings) {
  Json json = Json::object();
  json["seed"] = settings.seed ? Json(*settings.seed) : Json(nullptr);
  json["latency_ms"] = settings.latency.count();
  json["latency_jitter_ms"] = settings.latency_jitter.count();
  Json rates = Json::object();
  for (std::size_t i = 0; i < kErrorRateKeys.size(); ++i) {
    rates[std::string(kErrorRateKeys[i])] = settings.error_rates[i];
  }
  json["error_rates"] = std::move(rates);
  json["drop_connection_rate"] = settings.drop_connection_rate;
  json["missing_next_link_rate"] = settings.missing_next_link_rate;
  json["expired_page_rate"] = settings.expired_page_rate;
  json["slow_last_page_ms"] = settings.slow_last_page.count();
  json["reset_every_minutes"] = settings.reset_every_minutes;
  Json windows = Json::array();
  for (const MaintenanceWindow& window : settings.maintenance_windows) {
    windows.push_back(window.text());
  }
  json["maintenance_windows"] = std::move(windows);
  return json;
}

std::string SettingsPath(std::span<const std::string> path) {
  std::string text;
  for (const std::string& key : path) {
    if (key.starts_with('[')) {
      text += key;
      continue;
    }
    if (!text.empty()) text += '.';
    text += IsBareKey(key) ? key : "\"" + key + "\"";
  }
  return text;
}

// The tenant file side: toml++ tables become JSON for the one reader, and the reader's paths are
// mapped back to lines and columns.
namespace {

struct TomlPlace {
  toml::source_position key;
  toml::source_position value;
};
using TomlPlaces = std::map<std::string, TomlPlace, std::less<>>;

// Converts `node`, recording where each path is. TOML dates and times have no JSON form: they are
// reported here and become null, which the reader takes as "the default", so each is reported
// once.
Json TomlToJson(const toml::node& node, const Path& path, TomlPlaces& places,
                const std::function<void(const toml::node&, const Path&)>& refuse) {
  if (const auto* table = node.as_table()) {
    Json object = Json::object();
    for (auto&& [key, child] : *table) {
      const Path child_path = Child(path, key.str());
      places[SettingsPath(child_path)] = {key.source().begin, child.source().begin};
      object[std::string(key.str())] = TomlToJson(child, child_path, places, refuse);
    }
    return object;
  }
  if (const auto* array = node.as_array()) {
    Json elements = Json::array();
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& child = *array->get(i);
      const Path child_path = Child(path, "[" + std::to_string(i) + "]");
      places[SettingsPath(child_path)] = {child.source().begin, child.source().begin};
      elements.push_back(TomlToJson(child, child_path, places, refuse));
    }
    return elements;
  }
  if (const auto* text = node.as_string()) return text->get();
  if (const auto* integer = node.as_integer()) return integer->get();
  if (const auto* number = node.as_floating_point()) return number->get();
  if (const auto* flag = node.as_boolean()) return flag->get();
  refuse(node, path);
  return nullptr;
}

// Where a problem should point: its own key or value, else the nearest enclosing one that exists.
toml::source_position PlaceOf(const SettingsProblem& problem, const TomlPlaces& places) {
  for (std::size_t length = problem.path.size(); length > 0; --length) {
    const auto found = places.find(SettingsPath(std::span(problem.path).first(length)));
    if (found == places.end()) continue;
    return problem.at_key && length == problem.path.size() ? found->second.key
                                                           : found->second.value;
  }
  return places.at("").value;
}

}  // namespace

void ReadTenantTrafficTables(const toml::table& tenant, std::string_view tenant_path,
                             TrafficSettings& traffic, FaultSettings& faults,
                             const TomlProblemSink& report) {
  for (const std::string_view name : {"traffic"sv, "faults"sv}) {
    const toml::node* node = tenant.get(name);
    if (node == nullptr) continue;
    const std::string table_path = std::string(tenant_path) + "." + std::string(name);
    if (!node->is_table()) {
      report(node->source().begin, table_path,
             "must be a table, not " + std::string(TomlTypeName(*node)));
      continue;
    }

    TomlPlaces places;
    places[""] = {node->source().begin, node->source().begin};
    const auto refuse = [&](const toml::node& value, const Path& path) {
      report(value.source().begin, table_path + "." + SettingsPath(path),
             "must not be a TOML " + std::string(TomlTypeName(value)).substr(2) +
                 "; write instants as strings, such as \"2026-05-01T10:00:00Z\"");
    };
    const Json settings = TomlToJson(*node, {}, places, refuse);

    std::vector<SettingsProblem> problems;
    if (name == "traffic") {
      traffic = ReadTrafficSettings(settings, problems);
    } else {
      faults = ReadFaultSettings(settings, problems);
    }
    for (const SettingsProblem& problem : problems) {
      const std::string suffix = SettingsPath(problem.path);
      report(
          PlaceOf(problem, places),
          suffix.empty() ? table_path : table_path + (suffix.starts_with('[') ? "" : ".") + suffix,
          problem.what);
    }
  }
}

}  // namespace fhirbridge::sandbox
