#include "sandbox/tenant_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "base/embedded_files.h"
#include "fhir/resource_types.h"
#include "sandbox/auth_config_toml.h"
#include "sandbox/bulk_export_config_toml.h"
#include "sandbox/id_generator.h"
#include "sandbox/search_config_toml.h"
#include "sandbox/traffic_config_toml.h"

namespace fhirbridge::sandbox {
namespace {

using std::string_view_literals::operator""sv;

constexpr std::string_view kDefaultConfigKey = "sandbox/tenants.toml";
constexpr std::string_view kBaselinePrefix = "sandbox/baseline/";

constexpr std::array kTopLevelKeys = {"server"sv, "build_levels"sv, "tenants"sv};
constexpr std::array kServerKeys = {"host"sv, "port"sv, "threads"sv, "max_header_bytes"sv,
                                    "max_body_bytes"sv};
constexpr std::array kBuildLevelKeys = {
    "description"sv, "software_version"sv,     "update_as_create"sv,     "system_interactions"sv,
    "resources"sv,   kSearchBuildLevelKeys[0], kSearchBuildLevelKeys[1], kBulkExportBuildLevelKey};
constexpr std::array kTenantKeys = {"name"sv,      "display_name"sv, "build_level"sv, "id_style"sv,
                                    "id_length"sv, "storage"sv,      "baseline"sv,    "traffic"sv,
                                    "faults"sv,    "auth"sv};

// Bounds that keep a mistyped number from starving or exhausting the server.
constexpr std::int64_t kMaxThreads = 1024;
constexpr std::int64_t kMaxHeaderBytesLimit = 1024 * 1024;
constexpr std::int64_t kMaxBodyBytesLimit = 1024 * 1024 * 1024;

constexpr std::string_view kMemoryStorage = ":memory:";

// Tenant and build level names become URL segments and CapabilityStatement names.
bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  const auto allowed = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!allowed(name.front())) return false;
  return std::ranges::all_of(name, [&](char c) { return allowed(c) || c == '-'; });
}

bool IsBareKey(std::string_view key) {
  return !key.empty() && std::ranges::all_of(key, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// "parent.key", quoting keys TOML would need quoted so the path can be pasted back.
std::string ChildPath(std::string_view parent, std::string_view key) {
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

std::string IndexPath(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string Join(std::span<const std::string_view> items) {
  std::string joined;
  for (const auto item : items) {
    if (!joined.empty()) joined += ", ";
    joined += item;
  }
  return joined;
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool BaselineExists(std::string_view name) {
  const std::string prefix = std::string(kBaselinePrefix) + std::string(name) + "/";
  const auto& files = base::EmbeddedFiles();
  const auto first = files.lower_bound(prefix);
  return first != files.end() && first->first.starts_with(prefix);
}

// A case-insensitive match in the R4 list, to suggest a fix for "patient" or "Allergyintolerance".
std::optional<std::string_view> SuggestResourceType(std::string_view name) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  for (const auto type : fhir::R4ResourceTypes()) {
    if (std::ranges::equal(type, name, {}, lower, lower)) return type;
  }
  return std::nullopt;
}

// Walks the parsed document, converting it into a SandboxConfig and recording every problem.
class ConfigReader {
 public:
  explicit ConfigReader(std::string_view source_name) : source_name_(source_name) {}

  base::Result<SandboxConfig> Read(const toml::table& root) {
    SandboxConfig config;
    CheckKeys(root, "", kTopLevelKeys);

    if (const auto* server = TableAt(root, "server", "")) ReadServer(*server, config.server);

    if (const auto* levels = TableAt(root, "build_levels", "")) {
      for (auto&& [key, node] : *levels) ReadBuildLevel(key, node, config.build_levels);
    }

    const auto* tenants_node = root.get("tenants");
    if (tenants_node == nullptr) {
      ProblemAtStart("tenants", "at least one [[tenants]] table is required");
    } else if (const auto* tenants = tenants_node->as_array()) {
      ReadTenants(*tenants, config);
    } else {
      Problem(*tenants_node, "tenants",
              std::string("must be an array of tables ([[tenants]]), not ") +
                  std::string(TomlTypeName(*tenants_node)));
    }

    if (!problems_.empty()) return Failure();
    return config;
  }

  base::Error ParseFailure(const toml::source_region& where, std::string_view description) {
    AddProblem(where.begin, "toml", description);
    return Failure().error();
  }

 private:
  struct ProblemLine {
    toml::source_position position;
    std::string text;
  };

  // Problems are found table by table, and toml++ keeps keys sorted, not in document order;
  // sorting by position lets the reader fix the file from top to bottom.
  std::unexpected<base::Error> Failure() {
    std::ranges::stable_sort(problems_, [](const ProblemLine& left, const ProblemLine& right) {
      return std::pair(left.position.line, left.position.column) <
             std::pair(right.position.line, right.position.column);
    });
    std::string diagnostic;
    for (const auto& problem : problems_) {
      if (!diagnostic.empty()) diagnostic += '\n';
      diagnostic += problem.text;
    }
    return base::Fail(base::ErrorCode::kConfigInvalid, std::move(diagnostic));
  }

  void AddProblem(toml::source_position position, std::string_view path, std::string_view what) {
    problems_.push_back({position, std::string(source_name_) + ":" + std::to_string(position.line) +
                                       ":" + std::to_string(position.column) + ": " +
                                       std::string(path) + ": " + std::string(what)});
  }

  void Problem(const toml::source_region& where, std::string_view path, std::string_view what) {
    AddProblem(where.begin, path, what);
  }

  void Problem(const toml::node& node, std::string_view path, std::string_view what) {
    Problem(node.source(), path, what);
  }

  // For what is missing from the document as a whole, which has no better position.
  void ProblemAtStart(std::string_view path, std::string_view what) {
    AddProblem({.line = 1, .column = 1}, path, what);
  }

  // A missing key is reported where its table starts, which is the header the user must edit.
  void Missing(const toml::table& table, std::string_view path) {
    if (table.source().begin.line == 0) {
      ProblemAtStart(path, "is required");
    } else {
      Problem(table, path, "is required");
    }
  }

  void WrongType(const toml::node& node, std::string_view path, std::string_view expected) {
    Problem(node, path,
            "must be " + std::string(expected) + ", not " + std::string(TomlTypeName(node)));
  }

  void CheckKeys(const toml::table& table, std::string_view path,
                 std::span<const std::string_view> allowed) {
    for (auto&& [key, node] : table) {
      if (std::ranges::find(allowed, key.str()) != allowed.end()) continue;
      Problem(key.source(), ChildPath(path, key.str()),
              "unknown key; expected one of " + Join(allowed));
    }
  }

  const toml::table* TableAt(const toml::table& parent, std::string_view key,
                             std::string_view parent_path) {
    const auto* node = parent.get(key);
    if (node == nullptr) return nullptr;
    if (const auto* table = node->as_table()) return table;
    WrongType(*node, ChildPath(parent_path, key), "a table");
    return nullptr;
  }

  std::optional<std::string> StringAt(const toml::table& table, std::string_view key,
                                      std::string_view table_path, bool required = false) {
    const auto path = ChildPath(table_path, key);
    const auto* node = table.get(key);
    if (node == nullptr) {
      if (required) Missing(table, path);
      return std::nullopt;
    }
    if (const auto* value = node->as_string()) return value->get();
    WrongType(*node, path, "a string");
    return std::nullopt;
  }

  std::optional<bool> BooleanAt(const toml::table& table, std::string_view key,
                                std::string_view table_path) {
    const auto* node = table.get(key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_boolean()) return value->get();
    WrongType(*node, ChildPath(table_path, key), "a boolean (true or false)");
    return std::nullopt;
  }

  // An integer in [minimum, maximum]; anything else is reported and gives nullopt.
  std::optional<std::int64_t> IntegerAt(const toml::table& table, std::string_view key,
                                        std::string_view table_path, std::int64_t minimum,
                                        std::int64_t maximum) {
    const auto path = ChildPath(table_path, key);
    const auto* node = table.get(key);
    if (node == nullptr) return std::nullopt;
    const auto* value = node->as_integer();
    if (value == nullptr) {
      WrongType(*node, path, "an integer");
      return std::nullopt;
    }
    if (value->get() < minimum || value->get() > maximum) {
      Problem(*node, path,
              std::to_string(value->get()) + " is out of range; expected " +
                  std::to_string(minimum) + " to " + std::to_string(maximum));
      return std::nullopt;
    }
    return value->get();
  }

  // The strings of an array, each with its node so that later checks can point at it.
  std::vector<std::pair<std::string, const toml::node*>> StringsAt(const toml::node& node,
                                                                   std::string_view path) {
    std::vector<std::pair<std::string, const toml::node*>> strings;
    const auto* array = node.as_array();
    if (array == nullptr) {
      WrongType(node, path, "an array of strings");
      return strings;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = *array->get(i);
      if (const auto* value = element.as_string()) {
        strings.emplace_back(value->get(), &element);
      } else {
        WrongType(element, IndexPath(path, i), "a string");
      }
    }
    return strings;
  }

  void ReadServer(const toml::table& table, ServerSettings& server) {
    CheckKeys(table, "server", kServerKeys);

    if (auto host = StringAt(table, "host", "server")) {
      if (host->empty() || host->find_first_of(" \t\r\n") != std::string::npos) {
        Problem(*table.get("host"), "server.host",
                "must be a host name or IP address without spaces, e.g. \"127.0.0.1\"");
      } else {
        server.host = std::move(*host);
      }
    }
    if (auto port = IntegerAt(table, "port", "server", 1, 65535)) {
      server.port = static_cast<unsigned short>(*port);
    }
    if (auto threads = IntegerAt(table, "threads", "server", 0, kMaxThreads)) {
      server.threads = static_cast<unsigned>(*threads);
    }
    if (auto bytes = IntegerAt(table, "max_header_bytes", "server", 1, kMaxHeaderBytesLimit)) {
      server.max_header_bytes = static_cast<std::size_t>(*bytes);
    }
    if (auto bytes = IntegerAt(table, "max_body_bytes", "server", 1, kMaxBodyBytesLimit)) {
      server.max_body_bytes = static_cast<std::size_t>(*bytes);
    }
  }

  void ReadBuildLevel(const toml::key& key, const toml::node& node,
                      std::map<std::string, BuildLevel, std::less<>>& levels) {
    const auto path = ChildPath("build_levels", key.str());
    BuildLevel level;
    level.name = std::string(key.str());

    if (!IsValidName(level.name)) {
      Problem(key.source(), path,
              "build level names must match [a-z0-9][a-z0-9-]{0,62}, e.g. \"epic-2024-aug\"");
    }
    const auto* table = node.as_table();
    if (table == nullptr) {
      WrongType(node, path, "a table");
      // Recorded all the same, so that tenants naming it are not reported as well.
      levels.emplace(level.name, std::move(level));
      return;
    }
    CheckKeys(*table, path, kBuildLevelKeys);

    if (auto text = StringAt(*table, "description", path)) level.description = std::move(*text);
    if (auto text = StringAt(*table, "software_version", path)) {
      level.software_version = std::move(*text);
    }
    if (auto flag = BooleanAt(*table, "update_as_create", path)) level.update_as_create = *flag;

    if (const auto* system = table->get("system_interactions")) {
      const auto system_path = ChildPath(path, "system_interactions");
      std::size_t index = 0;
      for (const auto& [code, element] : StringsAt(*system, system_path)) {
        const auto element_path = IndexPath(system_path, index++);
        const auto interaction = ParseKnownInteraction(code, *element, element_path);
        if (!interaction) continue;
        if (!IsSystemInteraction(*interaction)) {
          Problem(*element, element_path,
                  Quote(code) + " is a type interaction; list it under the resource types in " +
                      path + ".resources");
        } else if (!level.system_interactions.insert(*interaction).second) {
          Problem(*element, element_path, Quote(code) + " is listed twice");
        }
      }
    }

    const auto resources_path = ChildPath(path, "resources");
    const auto* resources_node = table->get("resources");
    if (resources_node == nullptr) {
      Missing(*table, resources_path);
    } else if (const auto* resources = resources_node->as_table()) {
      for (auto&& [type_key, interactions_node] : *resources) {
        ReadResource(type_key, interactions_node, path, level);
      }
      if (resources->empty()) {
        Problem(*resources, resources_path, "lists no resource types");
      }
    } else {
      WrongType(*resources_node, resources_path, "a table of resource type = [interaction codes]");
    }

    ReadBuildLevelSearch(*table, path, level,
                         [this](toml::source_position position, std::string_view key_path,
                                std::string_view what) { AddProblem(position, key_path, what); });
    ReadBuildLevelBulkExport(
        *table, path, level,
        [this](toml::source_position position, std::string_view key_path, std::string_view what) {
          AddProblem(position, key_path, what);
        });

    levels.emplace(level.name, std::move(level));
  }

  void ReadResource(const toml::key& type_key, const toml::node& interactions_node,
                    std::string_view level_path, BuildLevel& level) {
    const std::string type(type_key.str());
    const auto type_path = ChildPath(ChildPath(level_path, "resources"), type);
    if (!fhir::IsR4ResourceType(type)) {
      std::string what = Quote(type) + " is not a FHIR R4 resource type";
      if (const auto suggestion = SuggestResourceType(type)) {
        what += "; did you mean " + Quote(*suggestion) + "?";
      }
      Problem(type_key.source(), type_path, what);
      return;
    }

    auto& interactions = level.resources[type];
    std::size_t index = 0;
    const auto codes = StringsAt(interactions_node, type_path);
    for (const auto& [code, element] : codes) {
      const auto element_path = IndexPath(type_path, index++);
      const auto interaction = ParseKnownInteraction(code, *element, element_path);
      if (!interaction) continue;
      if (IsSystemInteraction(*interaction)) {
        Problem(*element, element_path,
                Quote(code) + " applies to the whole server; list it in " +
                    ChildPath(level_path, "system_interactions"));
      } else if (!interactions.insert(*interaction).second) {
        Problem(*element, element_path, Quote(code) + " is listed twice");
      }
    }
    if (interactions_node.is_array() && interactions_node.as_array()->empty()) {
      Problem(interactions_node, type_path,
              "lists no interactions; remove the type or add at least \"read\"");
    }
  }

  std::optional<Interaction> ParseKnownInteraction(std::string_view code, const toml::node& element,
                                                   std::string_view element_path) {
    if (auto interaction = ParseInteraction(code)) return interaction;
    Problem(element, element_path,
            "unknown interaction " + Quote(code) +
                "; expected one of read, vread, update, delete, history-instance, history-type, "
                "create, search-type, transaction, batch, history-system");
    return std::nullopt;
  }

  void ReadTenants(const toml::array& tenants, SandboxConfig& config) {
    if (tenants.empty()) {
      Problem(tenants, "tenants", "at least one [[tenants]] table is required");
      return;
    }
    // Where each name and storage file was first used, to point duplicates at the original.
    std::map<std::string, std::uint32_t, std::less<>> name_lines;
    std::map<std::string, std::uint32_t, std::less<>> storage_lines;

    for (std::size_t i = 0; i < tenants.size(); ++i) {
      const auto& node = *tenants.get(i);
      const auto path = IndexPath("tenants", i);
      const auto* table = node.as_table();
      if (table == nullptr) {
        WrongType(node, path, "a table");
        continue;
      }
      auto tenant = ReadTenant(*table, path, config.build_levels);
      if (!tenant) continue;

      const auto* name_node = table->get("name");
      if (const auto [first, inserted] =
              name_lines.emplace(tenant->name, name_node->source().begin.line);
          !inserted) {
        Problem(*name_node, ChildPath(path, "name"),
                "duplicate tenant name " + Quote(tenant->name) + "; first used on line " +
                    std::to_string(first->second));
      }
      if (tenant->storage != kMemoryStorage) {
        const auto* storage_node = table->get("storage");
        if (const auto [first, inserted] =
                storage_lines.emplace(tenant->storage, storage_node->source().begin.line);
            !inserted) {
          Problem(*storage_node, ChildPath(path, "storage"),
                  "this file is already the storage of another tenant (line " +
                      std::to_string(first->second) + "); each tenant needs its own file");
        }
      }
      config.tenants.push_back(std::move(*tenant));
    }
  }

  // Returns the tenant if its required keys are usable; other problems are recorded and the
  // tenant still returned, so that duplicate checks see it.
  std::optional<TenantConfig> ReadTenant(
      const toml::table& table, std::string_view path,
      const std::map<std::string, BuildLevel, std::less<>>& build_levels) {
    CheckKeys(table, path, kTenantKeys);
    TenantConfig tenant;
    bool usable = true;

    if (auto name = StringAt(table, "name", path, /*required=*/true)) {
      if (!IsValidName(*name)) {
        Problem(*table.get("name"), ChildPath(path, "name"),
                Quote(*name) +
                    " is not a valid tenant name; it must match [a-z0-9][a-z0-9-]{0,62} because "
                    "it is a URL segment");
      }
      tenant.name = std::move(*name);
    } else {
      usable = false;
    }

    if (auto display_name = StringAt(table, "display_name", path)) {
      tenant.display_name = std::move(*display_name);
    } else {
      tenant.display_name = tenant.name;
    }

    if (auto level = StringAt(table, "build_level", path, /*required=*/true)) {
      if (!build_levels.contains(*level)) {
        std::vector<std::string_view> known;
        for (const auto& [known_name, unused] : build_levels) known.push_back(known_name);
        Problem(*table.get("build_level"), ChildPath(path, "build_level"),
                "unknown build level " + Quote(*level) +
                    "; defined: " + (known.empty() ? std::string("none") : Join(known)));
      }
      tenant.build_level = std::move(*level);
    }

    if (auto style = StringAt(table, "id_style", path)) {
      if (*style == "epic") {
        tenant.id_style = IdStyle::kEpic;
      } else if (*style == "uuid") {
        tenant.id_style = IdStyle::kUuid;
      } else if (*style == "sequential") {
        tenant.id_style = IdStyle::kSequential;
      } else {
        Problem(*table.get("id_style"), ChildPath(path, "id_style"),
                "unknown id style " + Quote(*style) +
                    "; expected one of \"epic\", \"uuid\", \"sequential\"");
      }
    }

    if (auto length = IntegerAt(table, "id_length", path, static_cast<std::int64_t>(kMinIdLength),
                                static_cast<std::int64_t>(kMaxIdLength))) {
      tenant.id_length = static_cast<std::size_t>(*length);
    }

    if (auto storage = StringAt(table, "storage", path)) {
      if (const auto problem = StorageProblem(*storage)) {
        Problem(*table.get("storage"), ChildPath(path, "storage"), *problem);
      }
      tenant.storage = std::move(*storage);
    }

    if (auto baseline = StringAt(table, "baseline", path)) {
      if (!IsValidName(*baseline) || !BaselineExists(*baseline)) {
        Problem(*table.get("baseline"), ChildPath(path, "baseline"),
                "no baseline named " + Quote(*baseline) +
                    " is compiled in; baselines are the folders of data/sandbox/baseline/");
      }
      tenant.baseline = std::move(*baseline);
    }

    const TomlProblemSink report = [this](toml::source_position position, std::string_view key_path,
                                          std::string_view what) {
      AddProblem(position, key_path, what);
    };
    ReadTenantTrafficTables(table, path, tenant.traffic, tenant.faults, report);
    ReadTenantAuthTable(table, path, tenant.auth, report);

    if (!usable) return std::nullopt;
    return tenant;
  }

  static std::optional<std::string> StorageProblem(std::string_view storage) {
    if (storage == kMemoryStorage) return std::nullopt;
    if (storage.empty()) return "must be \":memory:\" or the path of a SQLite file, not empty";
    if (storage.starts_with(':')) {
      return "only \":memory:\" may start with ':'; for a file use a path such as "
             "\"var/alpine-health.sqlite\"";
    }
    if (storage.starts_with("file:")) return "must be a plain path, not a SQLite URI";
    if (storage.ends_with('/')) return "is a directory; give the path of a SQLite file";
    if (storage.find_first_of(std::string_view("\0\n\r", 3)) != std::string_view::npos) {
      return "contains a control character";
    }
    return std::nullopt;
  }

  std::string_view source_name_;
  std::vector<ProblemLine> problems_;
};

}  // namespace

base::Result<SandboxConfig> ParseSandboxConfig(std::string_view toml_text,
                                               std::string_view source_name) {
  ConfigReader reader(source_name);
#if TOML_EXCEPTIONS
  // toml++ reports syntax errors by throwing; this is the boundary that turns them into a Result.
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    return base::Fail(reader.ParseFailure(error.source(), error.description()));
  }
  return reader.Read(root);
#else
  auto parsed = toml::parse(toml_text, source_name);
  if (!parsed) {
    return base::Fail(reader.ParseFailure(parsed.error().source(), parsed.error().description()));
  }
  return reader.Read(parsed.table());
#endif
}

base::Result<SandboxConfig> LoadSandboxConfig(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return base::Fail(base::ErrorCode::kConfigNotFound, "cannot open the sandbox configuration " +
                                                            path + ": " + std::strerror(errno) +
                                                            "; check the path and its permissions");
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "cannot read the sandbox configuration " + path);
  }
  return ParseSandboxConfig(text.str(), path);
}

base::Result<SandboxConfig> DefaultSandboxConfig() {
  const auto& files = base::EmbeddedFiles();
  const auto found = files.find(kDefaultConfigKey);
  if (found == files.end()) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "the binary was built without data/sandbox/tenants.toml");
  }
  return ParseSandboxConfig(found->second, "embedded:sandbox/tenants.toml");
}

}  // namespace fhirbridge::sandbox
