#include "sites/site_bundle.h"

#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/sha256.h"
#include "base/toml_reading.h"
#include "fhir/resource_types.h"
#include "smart/scopes.h"

extern char** environ;

namespace fhirbridge::sites {
namespace {

using std::string_view_literals::operator""sv;

enum class Kind { kString, kBoolean, kInteger, kNumber, kStringArray, kDate };

struct FieldSpec {
  std::string_view section;
  std::string_view key;
  Kind kind;
};

constexpr std::array kSections = {"site"sv,     "auth"sv, "traffic"sv, "features"sv,
                                  "schedule"sv, "sync"sv, "runbook"sv};

constexpr std::array kFields = {
    FieldSpec{"site", "display_name", Kind::kString},
    FieldSpec{"site", "environment", Kind::kString},
    FieldSpec{"site", "base_url", Kind::kString},
    FieldSpec{"site", "tenant_id", Kind::kString},
    FieldSpec{"site", "organisation_id", Kind::kString},
    FieldSpec{"auth", "mode", Kind::kString},
    FieldSpec{"auth", "client_id", Kind::kString},
    FieldSpec{"auth", "key", Kind::kString},
    FieldSpec{"auth", "key_algorithm", Kind::kString},
    FieldSpec{"auth", "client_secret", Kind::kString},
    FieldSpec{"auth", "scopes", Kind::kStringArray},
    FieldSpec{"auth", "redirect_uri", Kind::kString},
    FieldSpec{"auth", "send_scope", Kind::kBoolean},
    FieldSpec{"traffic", "requests_per_second", Kind::kNumber},
    FieldSpec{"traffic", "burst", Kind::kInteger},
    FieldSpec{"traffic", "max_concurrent", Kind::kInteger},
    FieldSpec{"traffic", "connect_timeout_ms", Kind::kInteger},
    FieldSpec{"traffic", "request_timeout_ms", Kind::kInteger},
    FieldSpec{"traffic", "max_retry_time_ms", Kind::kInteger},
    FieldSpec{"traffic", "allow_plain_http", Kind::kBoolean},
    FieldSpec{"traffic", "proxy", Kind::kString},
    FieldSpec{"features", "writeback", Kind::kStringArray},
    FieldSpec{"features", "dry_run", Kind::kBoolean},
    FieldSpec{"schedule", "maintenance_windows", Kind::kStringArray},
    FieldSpec{"schedule", "read_only_windows", Kind::kStringArray},
    FieldSpec{"sync", "resource_types", Kind::kStringArray},
    FieldSpec{"sync", "patient_cohort", Kind::kString},
    FieldSpec{"runbook", "build_level", Kind::kString},
    FieldSpec{"runbook", "contacts", Kind::kStringArray},
    FieldSpec{"runbook", "quirks", Kind::kStringArray},
    FieldSpec{"runbook", "go_live", Kind::kDate},
    FieldSpec{"runbook", "notes", Kind::kString},
};

constexpr std::string_view kVariablePrefix = "FHIRBRIDGE_SITE_";
constexpr std::string_view kMasked = "****";

// Bounds that keep a mistyped number from hammering a site or waiting for days.
constexpr double kMaxRequestsPerSecond = 10'000;
constexpr std::int64_t kMaxBurst = 100'000;
constexpr std::int64_t kMaxConcurrent = 1'000;
constexpr std::int64_t kMaxTimeoutMs = 3'600'000;         // an hour
constexpr std::int64_t kMaxRetryTimeMs = 24 * 3'600'000;  // a day

std::string Upper(std::string_view text) {
  std::string upper;
  for (const char c : text) {
    upper += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return upper;
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool IsValidSiteName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  const auto allowed = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!allowed(name.front())) return false;
  return std::ranges::all_of(name, [&](char c) { return allowed(c) || c == '-'; });
}

std::string_view KindDescription(Kind kind) {
  switch (kind) {
    case Kind::kString:
      return "a string";
    case Kind::kBoolean:
      return "a boolean (true or false)";
    case Kind::kInteger:
      return "an integer";
    case Kind::kNumber:
      return "a number";
    case Kind::kStringArray:
      return "an array of strings";
    case Kind::kDate:
      return "a date such as 2026-03-01";
  }
  return "a value";
}

// A case-insensitive match in the R4 list, to suggest a fix for "observation".
std::optional<std::string_view> SuggestResourceType(std::string_view name) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  for (const auto type : fhir::R4ResourceTypes()) {
    if (std::ranges::equal(type, name, {}, lower, lower)) return type;
  }
  return std::nullopt;
}

std::optional<toml::table> TryParseToml(const std::string& text) {
#if TOML_EXCEPTIONS
  try {
    return toml::parse(text);
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
#else
  auto parsed = toml::parse(text);
  if (!parsed) return std::nullopt;
  return std::move(parsed).table();
#endif
}

// An environment variable's text as a TOML node of the field's kind; nullptr if it does not read.
std::unique_ptr<toml::node> OverrideNode(Kind kind, const std::string& text) {
  const std::string_view trimmed = Trim(text);
  switch (kind) {
    case Kind::kString:
      return std::make_unique<toml::value<std::string>>(text);
    case Kind::kBoolean:
      if (trimmed == "true") return std::make_unique<toml::value<bool>>(true);
      if (trimmed == "false") return std::make_unique<toml::value<bool>>(false);
      return nullptr;
    case Kind::kInteger: {
      std::int64_t value = 0;
      const auto [end, error] =
          std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
      if (error != std::errc() || end != trimmed.data() + trimmed.size() || trimmed.empty()) {
        return nullptr;
      }
      return std::make_unique<toml::value<std::int64_t>>(value);
    }
    case Kind::kNumber: {
      double value = 0;
      const auto [end, error] =
          std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
      if (error != std::errc() || end != trimmed.data() + trimmed.size() || trimmed.empty() ||
          !std::isfinite(value)) {
        return nullptr;
      }
      return std::make_unique<toml::value<double>>(value);
    }
    case Kind::kDate: {
      auto parsed = TryParseToml("v = " + std::string(trimmed));
      if (!parsed || !parsed->get("v") || !parsed->get("v")->is_date()) return nullptr;
      return std::make_unique<toml::value<toml::date>>(*parsed->get("v")->value<toml::date>());
    }
    case Kind::kStringArray: {
      if (trimmed.starts_with('[')) {
        auto parsed = TryParseToml("v = " + std::string(trimmed));
        if (!parsed || !parsed->get("v") || !parsed->get("v")->is_array()) return nullptr;
        return std::make_unique<toml::array>(*parsed->get("v")->as_array());
      }
      auto array = std::make_unique<toml::array>();
      if (trimmed.empty()) return array;
      std::string_view rest = trimmed;
      while (true) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = Trim(rest.substr(0, comma));
        if (item.empty()) return nullptr;
        array->push_back(std::string(item));
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
      }
      return array;
    }
  }
  return nullptr;
}

// The parts of an absolute URL the checks need.
struct UrlParts {
  std::string scheme;
  std::string user_info;
  std::string host;
  bool has_query_or_fragment = false;
};

std::optional<UrlParts> SplitUrl(std::string_view url) {
  const std::size_t separator = url.find("://");
  if (separator == std::string_view::npos || separator == 0) return std::nullopt;
  if (std::ranges::any_of(url, [](unsigned char c) { return std::isspace(c) || c < 0x20; })) {
    return std::nullopt;
  }
  UrlParts parts;
  parts.scheme = std::string(url.substr(0, separator));
  std::ranges::transform(parts.scheme, parts.scheme.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string_view rest = url.substr(separator + 3);
  const std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    parts.user_info = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  parts.host = std::string(authority);
  parts.has_query_or_fragment = rest.find_first_of("?#") != std::string_view::npos;
  if (parts.host.empty() || parts.host.starts_with(':')) return std::nullopt;
  return parts;
}

// "https://user:secret@proxy:3128" -> "https://user:****@proxy:3128".
std::string MaskUrlPassword(std::string_view url) {
  const std::size_t separator = url.find("://");
  if (separator == std::string_view::npos) return std::string(url);
  const std::size_t authority_start = separator + 3;
  const std::size_t authority_end = url.find_first_of("/?#", authority_start);
  const std::string_view authority = url.substr(authority_start, authority_end - authority_start);
  const std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const std::size_t colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) return std::string(url);
  std::string masked(url.substr(0, authority_start + colon + 1));
  masked += kMasked;
  masked += url.substr(authority_start + at);
  return masked;
}

bool IsVariableName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::ranges::all_of(name,
                             [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
}

std::string FormatDate(const std::chrono::year_month_day& date) {
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return text;
}

// Walks one parsed bundle (with the environment's overrides applied to the tree), converting it
// into a SiteConfig and recording every problem.
class BundleReader {
 public:
  BundleReader(std::string_view source_name, std::string_view site_name)
      : problems_(std::string(source_name)), site_name_(site_name) {}

  base::Result<LoadedSite> Read(toml::table& root, const EnvironmentVariables& environment,
                                const std::vector<std::string>& sibling_names) {
    LoadedSite site;
    SiteConfig& config = site.config;
    config.name = std::string(site_name_);
    if (!IsValidSiteName(site_name_)) {
      problems_.Add({.line = 1, .column = 1}, "(file name)",
                    Quote(site_name_) +
                        " is not a valid site name; name the file [a-z0-9][a-z0-9-]{0,62}.toml, "
                        "e.g. \"epic-sandbox.toml\", because the name is used in commands and "
                        "environment variables");
    }

    problems_.CheckKeys(root, "", kSections);
    for (const auto section : kSections) {
      const toml::node* node = root.get(section);
      if (node == nullptr) continue;
      if (const auto* table = node->as_table()) {
        std::vector<std::string_view> keys;
        for (const auto& field : kFields) {
          if (field.section == section) keys.push_back(field.key);
        }
        problems_.CheckKeys(*table, section, keys);
      } else {
        Report(node, section,
               "must be a table ([" + std::string(section) + "]), not " +
                   std::string(base::TomlTypeName(*node)));
      }
    }

    ApplyOverrides(root, environment, sibling_names);
    site.overrides = overrides_;
    root_ = &root;

    ReadSite(config);
    ReadAuth(config);
    ReadTraffic(config);
    ReadFeatures(config);
    ReadSchedule(config);
    ReadSync(config);
    ReadRunbook(config);

    if (!problems_.empty()) return base::Fail(problems_.ToError());
    return site;
  }

  base::Error ParseFailure() { return problems_.ToError(); }
  base::TomlProblems& problems() { return problems_; }

 private:
  // Where a problem with `path` is: the variable that set it, or its place in the file.
  void Report(const toml::node* node, std::string_view path, std::string_view what) {
    std::string key(path.substr(0, path.find('[')));
    if (const auto found = overrides_.find(key); found != overrides_.end()) {
      problems_.AddElsewhere("environment variable " + found->second, path, what);
      return;
    }
    toml::source_position position{.line = 1, .column = 1};
    if (node != nullptr && node->source().begin.line != 0) position = node->source().begin;
    problems_.Add(position, path, what);
  }

  void ApplyOverrides(toml::table& root, const EnvironmentVariables& environment,
                      const std::vector<std::string>& sibling_names) {
    std::set<std::string> known;
    for (const auto& field : kFields) {
      const std::string key = std::string(field.section) + "." + std::string(field.key);
      const std::string variable = OverrideVariableName(site_name_, key);
      known.insert(variable);
      const std::string* text = environment.Find(variable);
      if (text == nullptr) continue;

      auto node = OverrideNode(field.kind, *text);
      if (node == nullptr) {
        problems_.AddElsewhere("environment variable " + variable, key,
                               "must be " + std::string(KindDescription(field.kind)) +
                                   "; the value given does not read as one (it is not repeated "
                                   "here in case it is secret)");
        continue;
      }
      toml::node* section = root.get(field.section);
      if (section == nullptr) {
        root.insert(field.section, toml::table{});
        section = root.get(field.section);
      }
      if (!section->is_table()) continue;  // already reported
      section->as_table()->insert_or_assign(field.key, std::move(*node));
      overrides_[key] = variable;
    }

    const std::string prefix = std::string(kVariablePrefix) + Upper(site_name_) + "_";
    for (const auto& [variable, unused] : environment.values) {
      if (!variable.starts_with(prefix) || known.contains(variable)) continue;
      const bool belongs_to_sibling = std::ranges::any_of(sibling_names, [&](const auto& sibling) {
        const std::string sibling_prefix = std::string(kVariablePrefix) + Upper(sibling) + "_";
        return sibling != site_name_ && sibling_prefix.size() > prefix.size() &&
               variable.starts_with(sibling_prefix);
      });
      if (belongs_to_sibling) continue;
      problems_.AddElsewhere("environment variable " + variable, "(override)",
                             "names no key of site " + Quote(site_name_) +
                                 "; overrides are written " + prefix + "<SECTION>_<KEY>, e.g. " +
                                 OverrideVariableName(site_name_, "auth.client_id"));
    }
  }

  // The node of `section.key`, if present.
  const toml::node* Node(std::string_view section, std::string_view key) const {
    const auto* table = root_->get(section);
    if (table == nullptr || !table->is_table()) return nullptr;
    return table->as_table()->get(key);
  }

  static std::string Path(std::string_view section, std::string_view key) {
    return std::string(section) + "." + std::string(key);
  }

  void Missing(std::string_view section, std::string_view key) {
    const toml::node* table = root_->get(section);
    Report(table, Path(section, key), "is required");
  }

  void WrongType(const toml::node& node, std::string_view path, std::string_view expected) {
    Report(&node, path,
           "must be " + std::string(expected) + ", not " + std::string(base::TomlTypeName(node)));
  }

  std::optional<std::string> String(std::string_view section, std::string_view key,
                                    bool required = false) {
    const auto* node = Node(section, key);
    if (node == nullptr) {
      if (required) Missing(section, key);
      return std::nullopt;
    }
    if (const auto* value = node->as_string()) {
      if (required && Trim(value->get()).empty()) {
        Report(node, Path(section, key), "is required and must not be empty");
        return std::nullopt;
      }
      return value->get();
    }
    WrongType(*node, Path(section, key), "a string");
    return std::nullopt;
  }

  std::optional<bool> Boolean(std::string_view section, std::string_view key) {
    const auto* node = Node(section, key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_boolean()) return value->get();
    WrongType(*node, Path(section, key), "a boolean (true or false)");
    return std::nullopt;
  }

  std::optional<std::int64_t> Integer(std::string_view section, std::string_view key,
                                      std::int64_t minimum, std::int64_t maximum) {
    const auto* node = Node(section, key);
    if (node == nullptr) return std::nullopt;
    const auto* value = node->as_integer();
    if (value == nullptr) {
      WrongType(*node, Path(section, key), "an integer");
      return std::nullopt;
    }
    if (value->get() < minimum || value->get() > maximum) {
      Report(node, Path(section, key),
             std::to_string(value->get()) + " is out of range; expected " +
                 std::to_string(minimum) + " to " + std::to_string(maximum));
      return std::nullopt;
    }
    return value->get();
  }

  std::optional<double> Number(std::string_view section, std::string_view key, double minimum,
                               double maximum) {
    const auto* node = Node(section, key);
    if (node == nullptr) return std::nullopt;
    double number = 0;
    if (const auto* integer = node->as_integer()) {
      number = static_cast<double>(integer->get());
    } else if (const auto* floating = node->as_floating_point()) {
      number = floating->get();
    } else {
      WrongType(*node, Path(section, key), "a number");
      return std::nullopt;
    }
    if (!std::isfinite(number) || number < minimum || number > maximum) {
      std::ostringstream range;
      range << minimum << " to " << maximum;
      Report(node, Path(section, key), "is out of range; expected " + range.str());
      return std::nullopt;
    }
    return number;
  }

  // The strings of an array, each with its node and path so that later checks can point at it.
  struct Item {
    std::string text;
    const toml::node* node;
    std::string path;
  };
  std::vector<Item> Strings(std::string_view section, std::string_view key) {
    std::vector<Item> items;
    const auto* node = Node(section, key);
    if (node == nullptr) return items;
    const auto path = Path(section, key);
    const auto* array = node->as_array();
    if (array == nullptr) {
      WrongType(*node, path, "an array of strings");
      return items;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = *array->get(i);
      const std::string element_path = path + "[" + std::to_string(i) + "]";
      if (const auto* value = element.as_string()) {
        items.push_back({value->get(), &element, element_path});
      } else {
        WrongType(element, element_path, "a string");
      }
    }
    return items;
  }

  // Resource types, each an R4 type and listed once.
  std::vector<std::string> ResourceTypes(std::string_view section, std::string_view key) {
    std::vector<std::string> types;
    for (const auto& item : Strings(section, key)) {
      if (!fhir::IsR4ResourceType(item.text)) {
        std::string what = Quote(item.text) + " is not a FHIR R4 resource type";
        if (const auto suggestion = SuggestResourceType(item.text)) {
          what += "; did you mean " + Quote(*suggestion) + "?";
        }
        Report(item.node, item.path, what);
      } else if (std::ranges::find(types, item.text) != types.end()) {
        Report(item.node, item.path, Quote(item.text) + " is listed twice");
      } else {
        types.push_back(item.text);
      }
    }
    return types;
  }

  void ReadSite(SiteConfig& config) {
    config.display_name = String("site", "display_name").value_or(config.name);

    if (auto environment = String("site", "environment", /*required=*/true)) {
      if (*environment == "sandbox") {
        config.environment = Environment::kSandbox;
      } else if (*environment == "pre-production") {
        config.environment = Environment::kPreProduction;
      } else if (*environment == "production") {
        config.environment = Environment::kProduction;
      } else {
        Report(Node("site", "environment"), "site.environment",
               "unknown environment " + Quote(*environment) +
                   "; expected one of \"sandbox\", \"pre-production\", \"production\"");
      }
    }
    if (auto url = String("site", "base_url", /*required=*/true)) {
      while (url->ends_with('/')) url->pop_back();
      config.base_url = std::move(*url);
    }
    config.tenant_id = String("site", "tenant_id").value_or("");
    config.organisation_id = String("site", "organisation_id").value_or("");
  }

  void ReadAuth(SiteConfig& config) {
    if (auto mode = String("auth", "mode", /*required=*/true)) {
      if (*mode == "backend-services") {
        config.auth_mode = AuthMode::kBackendServices;
      } else if (*mode == "ehr-launch") {
        config.auth_mode = AuthMode::kEhrLaunch;
      } else if (*mode == "standalone") {
        config.auth_mode = AuthMode::kStandalone;
      } else {
        Report(Node("auth", "mode"), "auth.mode",
               "unknown mode " + Quote(*mode) +
                   "; expected one of \"backend-services\", \"ehr-launch\", \"standalone\"");
      }
    }
    if (auto client_id = String("auth", "client_id", /*required=*/true)) {
      if (std::ranges::any_of(*client_id, [](unsigned char c) { return std::isspace(c); })) {
        Report(Node("auth", "client_id"), "auth.client_id", "must not contain spaces");
      }
      config.client_id = std::move(*client_id);
    }

    config.key_reference = Reference("key", config.auth_mode == AuthMode::kBackendServices);
    if (auto algorithm = String("auth", "key_algorithm", /*required=*/false)) {
      if (*algorithm != "RS384" && *algorithm != "ES384") {
        Report(Node("auth", "key_algorithm"), "auth.key_algorithm",
               "must be \"RS384\" or \"ES384\" (the algorithms SMART backend services name)");
      } else if (config.auth_mode != AuthMode::kBackendServices) {
        Report(Node("auth", "key_algorithm"), "auth.key_algorithm",
               "only backend services sign with auth.key; remove it");
      }
      config.key_algorithm = std::move(*algorithm);
    }
    config.client_secret_reference = Reference("client_secret", false);
    if (config.auth_mode == AuthMode::kBackendServices && !config.client_secret_reference.empty()) {
      Report(Node("auth", "client_secret"), "auth.client_secret",
             "backend services authenticate with the signed assertion of auth.key; remove the "
             "client secret");
    }

    ReadScopes(config);

    if (auto send_scope = Boolean("auth", "send_scope")) config.send_scope = *send_scope;

    const bool launch = config.auth_mode != AuthMode::kBackendServices;
    if (auto redirect = String("auth", "redirect_uri", /*required=*/launch)) {
      const auto* node = Node("auth", "redirect_uri");
      const auto parts = SplitUrl(*redirect);
      if (!launch) {
        Report(node, "auth.redirect_uri",
               "only the ehr-launch and standalone modes use a redirect URI; remove it");
      } else if (!parts || (parts->scheme != "https" && parts->scheme != "http")) {
        Report(node, "auth.redirect_uri", "must be an absolute http(s) URL");
      } else if (parts->has_query_or_fragment && redirect->find('#') != std::string::npos) {
        Report(node, "auth.redirect_uri", "must not have a fragment");
      }
      config.redirect_uri = std::move(*redirect);
    }
  }

  // A "file:" or "env:" reference; a literal secret is refused without being repeated.
  std::string Reference(std::string_view key, bool required) {
    auto text = String("auth", key, required);
    if (!text) return {};
    if (auto parsed = ParseSecretReference(*text); !parsed) {
      Report(Node("auth", key), Path("auth", key), parsed.error().diagnostic);
      return {};
    }
    return std::move(*text);
  }

  void ReadScopes(SiteConfig& config) {
    for (const auto& item : Strings("auth", "scopes")) {
      const auto parsed = smart::ParseScopes(item.text);
      if (parsed.scopes.size() + parsed.rejected.size() != 1) {
        Report(item.node, item.path,
               "must be exactly one scope; write each scope as its own string");
        continue;
      }
      if (!parsed.rejected.empty()) {
        Report(item.node, item.path,
               Quote(item.text) +
                   " is not a valid SMART scope; clinical scopes read "
                   "context/Type.permissions, e.g. \"system/Observation.rs\" or "
                   "\"patient/Patient.read\"");
        continue;
      }
      if (std::ranges::find(config.scopes, item.text) != config.scopes.end()) {
        Report(item.node, item.path, Quote(item.text) + " is listed twice");
        continue;
      }
      const auto& clinical = parsed.scopes.front().clinical;
      if (clinical && clinical->resource_type != "*" &&
          !fhir::IsR4ResourceType(clinical->resource_type)) {
        std::string what = Quote(clinical->resource_type) + " is not a FHIR R4 resource type";
        if (const auto suggestion = SuggestResourceType(clinical->resource_type)) {
          what += "; did you mean " + Quote(*suggestion) + "?";
        }
        Report(item.node, item.path, what);
        continue;
      }
      if (clinical) {
        const bool system = clinical->context == smart::Context::kSystem;
        if (config.auth_mode == AuthMode::kBackendServices && !system) {
          Report(item.node, item.path,
                 "backend services act for no patient or user; use system/ scopes, e.g. \"system/" +
                     clinical->resource_type + "." +
                     smart::PermissionLetters(clinical->permissions) + "\"");
        } else if (config.auth_mode != AuthMode::kBackendServices && system) {
          Report(item.node, item.path,
                 "system/ scopes belong to backend services; a launch grants patient/ or user/ "
                 "scopes");
        }
      }
      config.scopes.push_back(item.text);
    }
    if (config.auth_mode == AuthMode::kEhrLaunch && !config.scopes.empty() &&
        std::ranges::find(config.scopes, "launch") == config.scopes.end()) {
      Report(Node("auth", "scopes"), "auth.scopes",
             "an EHR launch must request the \"launch\" scope to receive the EHR's context");
    }
  }

  void ReadTraffic(SiteConfig& config) {
    if (auto rate = Number("traffic", "requests_per_second", 0, kMaxRequestsPerSecond)) {
      config.requests_per_second = *rate;
    }
    if (auto burst = Integer("traffic", "burst", 1, kMaxBurst)) {
      config.burst = static_cast<std::uint32_t>(*burst);
    }
    if (auto concurrent = Integer("traffic", "max_concurrent", 1, kMaxConcurrent)) {
      config.max_concurrent = static_cast<std::uint32_t>(*concurrent);
    }
    if (auto timeout = Integer("traffic", "connect_timeout_ms", 1, kMaxTimeoutMs)) {
      config.connect_timeout = std::chrono::milliseconds(*timeout);
    }
    if (auto timeout = Integer("traffic", "request_timeout_ms", 1, kMaxTimeoutMs)) {
      config.request_timeout = std::chrono::milliseconds(*timeout);
    }
    if (auto retry = Integer("traffic", "max_retry_time_ms", 0, kMaxRetryTimeMs)) {
      config.max_retry_time = std::chrono::milliseconds(*retry);
    }
    if (auto plain = Boolean("traffic", "allow_plain_http")) config.allow_plain_http = *plain;
    if (config.allow_plain_http && config.environment == Environment::kProduction) {
      Report(Node("traffic", "allow_plain_http"), "traffic.allow_plain_http",
             "must not be true for a production site; production traffic carries PHI and "
             "tokens and goes over https only");
    }
    if (auto proxy = String("traffic", "proxy")) {
      const auto* node = Node("traffic", "proxy");
      const auto parts = SplitUrl(*proxy);
      if (proxy->empty()) {
        // No proxy.
      } else if (!parts || (parts->scheme != "http" && parts->scheme != "https" &&
                            parts->scheme != "socks5" && parts->scheme != "socks5h")) {
        Report(node, "traffic.proxy",
               "must be a proxy URL such as \"http://proxy.example.org:3128\" (http, https, "
               "socks5 or socks5h)");
      } else if (parts->user_info.find(':') != std::string::npos &&
                 !overrides_.contains("traffic.proxy")) {
        Report(node, "traffic.proxy",
               "holds a password; the bundle is kept in version control, so give the proxy URL "
               "with its credentials through " +
                   OverrideVariableName(site_name_, "traffic.proxy") + " instead");
      }
      config.proxy = std::move(*proxy);
    }

    // Checked here, after allow_plain_http is known.
    if (!config.base_url.empty()) {
      const auto* node = Node("site", "base_url");
      const auto parts = SplitUrl(config.base_url);
      if (!parts || (parts->scheme != "https" && parts->scheme != "http")) {
        Report(node, "site.base_url",
               "must be an absolute https URL such as "
               "\"https://fhir.example.org/api/FHIR/R4\"");
      } else if (!parts->user_info.empty()) {
        Report(node, "site.base_url", "must not carry credentials");
      } else if (parts->has_query_or_fragment) {
        Report(node, "site.base_url", "must not have a query or a fragment");
      } else if (parts->scheme == "http" && !config.allow_plain_http) {
        Report(node, "site.base_url",
               "is plain http; use https, or set traffic.allow_plain_http = true for a local "
               "sandbox");
      }
    }
  }

  void ReadFeatures(SiteConfig& config) {
    config.writeback_types = ResourceTypes("features", "writeback");
    if (auto dry_run = Boolean("features", "dry_run")) config.dry_run = *dry_run;
  }

  std::vector<base::TimeWindow> Windows(std::string_view key) {
    std::vector<base::TimeWindow> windows;
    for (const auto& item : Strings("schedule", key)) {
      auto window = base::TimeWindow::Parse(item.text);
      if (!window) {
        Report(item.node, item.path, window.error().diagnostic);
      } else {
        windows.push_back(std::move(*window));
      }
    }
    return windows;
  }

  void ReadSchedule(SiteConfig& config) {
    config.maintenance_windows = Windows("maintenance_windows");
    config.read_only_windows = Windows("read_only_windows");
  }

  void ReadSync(SiteConfig& config) {
    config.sync_resource_types = ResourceTypes("sync", "resource_types");
    if (auto cohort = String("sync", "patient_cohort")) {
      const bool valid =
          *cohort == "all" ||
          (cohort->starts_with("group:") && cohort->size() > 6 &&
           std::ranges::all_of(cohort->substr(6),
                               [](unsigned char c) {
                                 return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '|';
                               })) ||
          (cohort->starts_with("file:") && cohort->size() > 5);
      if (!valid) {
        Report(Node("sync", "patient_cohort"), "sync.patient_cohort",
               "must be \"all\", \"group:<Group id>\" or \"file:<path of a list of Patient ids>\"");
      }
      config.patient_cohort = std::move(*cohort);
    }
  }

  void ReadRunbook(SiteConfig& config) {
    config.build_level = String("runbook", "build_level").value_or("");
    for (auto& item : Strings("runbook", "contacts")) config.contacts.push_back(item.text);
    for (auto& item : Strings("runbook", "quirks")) config.quirks.push_back(item.text);
    if (const auto* node = Node("runbook", "go_live")) {
      if (const auto date = node->value<toml::date>(); date && node->is_date()) {
        const std::chrono::year_month_day day{std::chrono::year(date->year),
                                              std::chrono::month(date->month),
                                              std::chrono::day(date->day)};
        if (day.ok()) {
          config.go_live = day;
        } else {
          Report(node, "runbook.go_live", "is not a calendar date");
        }
      } else {
        WrongType(*node, "runbook.go_live", "a date such as 2026-03-01 (no quotes)");
      }
    }
    config.notes = String("runbook", "notes").value_or("");
  }

  base::TomlProblems problems_;
  std::string_view site_name_;
  std::map<std::string, std::string> overrides_;
  const toml::table* root_ = nullptr;
};

std::vector<std::string> WindowTexts(const std::vector<base::TimeWindow>& windows) {
  std::vector<std::string> texts;
  for (const auto& window : windows) texts.push_back(window.text());
  return texts;
}

// The configuration by section, with `mask` hiding passwords in URLs.
fhir::Json ConfigJson(const SiteConfig& config, bool mask) {
  const auto url = [&](const std::string& text) { return mask ? MaskUrlPassword(text) : text; };
  fhir::Json json;
  json["site"] = {{"name", config.name},
                  {"display_name", config.display_name},
                  {"environment", EnvironmentName(config.environment)},
                  {"base_url", url(config.base_url)},
                  {"tenant_id", config.tenant_id},
                  {"organisation_id", config.organisation_id}};
  json["auth"] = {{"mode", AuthModeName(config.auth_mode)},
                  {"client_id", config.client_id},
                  {"key", config.key_reference},
                  {"key_algorithm", config.key_algorithm},
                  {"client_secret", config.client_secret_reference},
                  {"scopes", config.scopes},
                  {"redirect_uri", config.redirect_uri},
                  {"send_scope", config.send_scope}};
  json["traffic"] = {{"requests_per_second", config.requests_per_second},
                     {"burst", config.burst},
                     {"max_concurrent", config.max_concurrent},
                     {"connect_timeout_ms", config.connect_timeout.count()},
                     {"request_timeout_ms", config.request_timeout.count()},
                     {"max_retry_time_ms", config.max_retry_time.count()},
                     {"allow_plain_http", config.allow_plain_http},
                     {"proxy", url(config.proxy)}};
  json["features"] = {{"writeback", config.writeback_types}, {"dry_run", config.dry_run}};
  json["schedule"] = {{"maintenance_windows", WindowTexts(config.maintenance_windows)},
                      {"read_only_windows", WindowTexts(config.read_only_windows)}};
  json["sync"] = {{"resource_types", config.sync_resource_types},
                  {"patient_cohort", config.patient_cohort}};
  json["runbook"] = {
      {"build_level", config.build_level},
      {"contacts", config.contacts},
      {"quirks", config.quirks},
      {"go_live", config.go_live ? fhir::Json(FormatDate(*config.go_live)) : fhir::Json(nullptr)},
      {"notes", config.notes}};
  return json;
}

base::Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "cannot open the site bundle " + path.string() + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "cannot read the site bundle " + path.string());
  }
  return text.str();
}

}  // namespace

std::string_view EnvironmentName(Environment environment) {
  switch (environment) {
    case Environment::kSandbox:
      return "sandbox";
    case Environment::kPreProduction:
      return "pre-production";
    case Environment::kProduction:
      return "production";
  }
  return "sandbox";
}

std::string_view AuthModeName(AuthMode mode) {
  switch (mode) {
    case AuthMode::kBackendServices:
      return "backend-services";
    case AuthMode::kEhrLaunch:
      return "ehr-launch";
    case AuthMode::kStandalone:
      return "standalone";
  }
  return "backend-services";
}

EnvironmentVariables EnvironmentVariables::FromProcess() {
  EnvironmentVariables variables;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    variables.values.emplace(std::string(text.substr(0, equals)),
                             std::string(text.substr(equals + 1)));
  }
  return variables;
}

const std::string* EnvironmentVariables::Find(std::string_view name) const {
  const auto found = values.find(name);
  return found == values.end() ? nullptr : &found->second;
}

std::string OverrideVariableName(std::string_view site_name, std::string_view key) {
  std::string name(kVariablePrefix);
  name += Upper(site_name);
  name += '_';
  for (const char c : key) {
    name += c == '.' ? '_' : (c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  }
  return name;
}

std::vector<std::string> SiteBundleKeys() {
  std::vector<std::string> keys;
  for (const auto& field : kFields) {
    keys.push_back(std::string(field.section) + "." + std::string(field.key));
  }
  return keys;
}

base::Result<LoadedSite> ParseSiteBundle(std::string_view toml_text, std::string_view source_name,
                                         std::string_view site_name,
                                         const EnvironmentVariables& environment,
                                         const std::vector<std::string>& sibling_names) {
  BundleReader reader(source_name, site_name);
  auto root = base::ParseToml(toml_text, source_name, reader.problems());
  if (!root) return base::Fail(reader.ParseFailure());
  auto site = reader.Read(*root, environment, sibling_names);
  if (!site) return site;
  site->config.source_path = std::string(source_name);
  site->fingerprint = base::Sha256Hex(CanonicalSiteConfig(site->config));
  return site;
}

base::Result<std::vector<std::string>> ListSiteNames(const std::filesystem::path& folder) {
  std::error_code error;
  std::filesystem::directory_iterator entries(folder, error);
  if (error) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "cannot read the site folder " + folder.string() + ": " + error.message() +
                          "; give the folder of the site bundles with --dir");
  }
  std::vector<std::string> names;
  for (const auto& entry : entries) {
    if (entry.path().extension() != ".toml") continue;
    if (!entry.is_regular_file(error)) continue;
    names.push_back(entry.path().stem().string());
  }
  if (names.empty()) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "the site folder " + folder.string() +
                          " holds no site bundles (*.toml); see sites/examples/");
  }
  std::ranges::sort(names);
  return names;
}

base::Result<LoadedSite> LoadSite(const std::filesystem::path& folder, std::string_view name,
                                  const EnvironmentVariables& environment) {
  auto names = ListSiteNames(folder);
  if (!names) return base::Fail(names.error());
  if (std::ranges::find(*names, name) == names->end()) {
    std::string known;
    for (const auto& known_name : *names) known += (known.empty() ? "" : ", ") + known_name;
    return base::Fail(base::ErrorCode::kConfigNotFound, "no site named " + Quote(name) + " in " +
                                                            folder.string() +
                                                            "; the sites there are " + known);
  }
  const auto path = folder / (std::string(name) + ".toml");
  auto text = ReadFile(path);
  if (!text) return base::Fail(text.error());
  return ParseSiteBundle(*text, path.string(), name, environment, *names);
}

base::Result<std::vector<LoadedSite>> LoadSites(const std::filesystem::path& folder,
                                                const EnvironmentVariables& environment) {
  auto names = ListSiteNames(folder);
  if (!names) return base::Fail(names.error());
  std::vector<LoadedSite> sites;
  std::string problems;
  for (const auto& name : *names) {
    const auto path = folder / (name + ".toml");
    auto text = ReadFile(path);
    base::Result<LoadedSite> site =
        text ? ParseSiteBundle(*text, path.string(), name, environment, *names)
             : base::Result<LoadedSite>(base::Fail(text.error()));
    if (site) {
      sites.push_back(std::move(*site));
      continue;
    }
    if (!problems.empty()) problems += '\n';
    problems += site.error().diagnostic;
  }
  if (!problems.empty()) return base::Fail(base::ErrorCode::kConfigInvalid, std::move(problems));
  return sites;
}

std::string CanonicalSiteConfig(const SiteConfig& config) {
  // nlohmann::json (unlike ordered_json) keeps object keys sorted.
  const nlohmann::json sorted = nlohmann::json::parse(ConfigJson(config, false).dump());
  return sorted.dump();
}

namespace {

// "auth.key" -> "available" or "unavailable: why", for each reference the site has.
std::map<std::string, std::string> SecretAvailability(const SiteConfig& config,
                                                      const EnvironmentVariables& environment) {
  std::map<std::string, std::string> availability;
  for (const auto& [key, text] :
       {std::pair<std::string, const std::string&>("auth.key", config.key_reference),
        {"auth.client_secret", config.client_secret_reference}}) {
    if (text.empty()) continue;
    auto reference = ParseSecretReference(text);
    if (!reference) continue;  // the reader refused it already
    const auto available = CheckSecretAvailable(*reference, environment);
    availability[key] =
        available ? std::string("available") : "unavailable: " + available.error().diagnostic;
  }
  return availability;
}

}  // namespace

fhir::Json SiteToJson(const LoadedSite& site, const EnvironmentVariables* environment) {
  fhir::Json json = ConfigJson(site.config, true);
  json["source"] = site.config.source_path;
  json["fingerprint"] = site.fingerprint;
  fhir::Json overrides = fhir::Json::object();
  for (const auto& [key, variable] : site.overrides) overrides[key] = variable;
  json["overrides"] = std::move(overrides);
  if (environment != nullptr) {
    fhir::Json secrets = fhir::Json::object();
    for (const auto& [key, state] : SecretAvailability(site.config, *environment)) {
      secrets[key] = state;
    }
    json["secrets"] = std::move(secrets);
  }
  return json;
}

std::string SiteToText(const LoadedSite& site, const EnvironmentVariables* environment) {
  const auto availability = environment != nullptr ? SecretAvailability(site.config, *environment)
                                                   : std::map<std::string, std::string>{};
  const fhir::Json json = ConfigJson(site.config, true);
  std::ostringstream text;
  text << "site " << site.config.name << " (" << site.config.source_path << ")\n";
  text << "fingerprint " << site.fingerprint << "\n";
  for (const auto& [section, fields] : json.items()) {
    text << "[" << section << "]\n";
    for (const auto& [key, value] : fields.items()) {
      const std::string path = section + "." + key;
      text << "  " << key << " = " << value.dump();
      if (const auto found = site.overrides.find(path); found != site.overrides.end()) {
        text << "    # from " << found->second;
      }
      if (const auto found = availability.find(path); found != availability.end()) {
        text << "    # " << found->second;
      }
      text << "\n";
    }
  }
  return text.str();
}

base::Result<SecretReference> ParseSecretReference(std::string_view text) {
  SecretReference reference;
  if (text.starts_with("file:") && text.size() > 5) {
    reference.kind = SecretReference::Kind::kFile;
    reference.target = std::string(text.substr(5));
    return reference;
  }
  if (text.starts_with("env:") && IsVariableName(text.substr(4))) {
    reference.kind = SecretReference::Kind::kEnvironment;
    reference.target = std::string(text.substr(4));
    return reference;
  }
  return base::Fail(base::ErrorCode::kConfigInvalid,
                    "must be a reference, \"file:/path/to/key\" or \"env:VARIABLE\"; the value "
                    "is not repeated here because it may be a secret, which never belongs in a "
                    "bundle");
}

base::Status CheckSecretAvailable(const SecretReference& reference,
                                  const EnvironmentVariables& environment) {
  if (reference.kind == SecretReference::Kind::kEnvironment) {
    const std::string* value = environment.Find(reference.target);
    if (value == nullptr || value->empty()) {
      return base::Fail(base::ErrorCode::kSecretUnavailable,
                        "the environment variable " + reference.target +
                            " named by \"env:" + reference.target + "\" is not set");
    }
    return {};
  }
  const std::string named = "\"file:" + reference.target + "\"";
  struct stat status {};
  if (::stat(reference.target.c_str(), &status) != 0) {
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      "cannot find the file named by " + named + ": " + std::strerror(errno));
  }
  if (S_ISDIR(status.st_mode)) return {};  // a key ring folder; auth::KeyRing checks its keys
  if ((status.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      named + " can be read by other users; run chmod 600 on it");
  }
  if (status.st_size == 0 || ::access(reference.target.c_str(), R_OK) != 0) {
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      "the file named by " + named + " is empty or unreadable");
  }
  return {};
}

base::Result<base::Secret> ResolveSecret(const SecretReference& reference,
                                         const EnvironmentVariables& environment) {
  if (reference.kind == SecretReference::Kind::kEnvironment) {
    const std::string* value = environment.Find(reference.target);
    if (value == nullptr || value->empty()) {
      return base::Fail(base::ErrorCode::kSecretUnavailable,
                        "the environment variable " + reference.target +
                            " named by \"env:" + reference.target + "\" is not set");
    }
    return base::Secret(*value);
  }

  const std::string named = "\"file:" + reference.target + "\"";
  struct stat status {};
  if (::stat(reference.target.c_str(), &status) != 0) {
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      "cannot find the file named by " + named + ": " + std::strerror(errno));
  }
  if (S_ISDIR(status.st_mode)) {
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      named +
                          " is a folder, not a file; a key ring folder is opened with "
                          "auth::KeyRing instead");
  }
  if ((status.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
    return base::Fail(
        base::ErrorCode::kSecretUnavailable,
        named + " can be read by other users (mode " + mode + "); run chmod 600 on it");
  }
  std::ifstream file(reference.target, std::ios::binary);
  if (!file) {
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      "cannot open the file named by " + named + ": " + std::strerror(errno));
  }
  // Sized once, so that no reallocation leaves a copy of the secret behind.
  std::string content(static_cast<std::size_t>(status.st_size), '\0');
  file.read(content.data(), static_cast<std::streamsize>(content.size()));
  if (!file || content.empty()) {
    base::CleanseString(content);
    return base::Fail(base::ErrorCode::kSecretUnavailable,
                      "the file named by " + named + " is empty or unreadable");
  }
  return base::Secret::Take(content);
}

}  // namespace fhirbridge::sites
