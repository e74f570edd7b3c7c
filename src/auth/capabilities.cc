#include "auth/capabilities.h"

#include <algorithm>
#include <array>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace fhirbridge::auth {
namespace {

using smart::Context;
using smart::Permission;

constexpr std::array kInteractions = {
    Interaction::kRead,        Interaction::kVread,  Interaction::kHistoryInstance,
    Interaction::kHistoryType, Interaction::kSearch, Interaction::kCreate,
    Interaction::kUpdate,      Interaction::kDelete, Interaction::kExport,
};
static_assert(kInteractions.size() == kInteractionCount);

// Column headings of the text table, in the order of kInteractions.
constexpr std::array<std::string_view, kInteractionCount> kColumnLabels = {
    "read", "vread", "hist-i", "hist-t", "search", "create", "update", "delete", "export"};

// How a reason names an interaction.
std::string_view InteractionWords(Interaction interaction) {
  switch (interaction) {
    case Interaction::kRead:
      return "read";
    case Interaction::kVread:
      return "vread";
    case Interaction::kHistoryInstance:
      return "instance history";
    case Interaction::kHistoryType:
      return "type history";
    case Interaction::kSearch:
      return "search";
    case Interaction::kCreate:
      return "create";
    case Interaction::kUpdate:
      return "update";
    case Interaction::kDelete:
      return "delete";
    case Interaction::kExport:
      return "Bulk Data $export";
  }
  return "";
}

Permission PermissionFor(Interaction interaction) {
  switch (interaction) {
    case Interaction::kRead:
    case Interaction::kVread:
    case Interaction::kHistoryInstance:
    case Interaction::kExport:
      return Permission::kRead;
    case Interaction::kHistoryType:
    case Interaction::kSearch:
      return Permission::kSearch;
    case Interaction::kCreate:
      return Permission::kCreate;
    case Interaction::kUpdate:
      return Permission::kUpdate;
    case Interaction::kDelete:
      return Permission::kDelete;
  }
  return Permission::kRead;
}

bool IsExportOperation(const fhir::Json& operation) {
  if (!operation.is_object()) return false;
  const auto text_of = [&](const char* key) {
    const auto found = operation.find(key);
    if (found == operation.end() || !found->is_string()) return std::string();
    std::string text = found->get<std::string>();
    std::ranges::transform(text, text.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
  };
  const std::string name = text_of("name");
  const std::string definition = text_of("definition");
  return name == "export" || name == "patient-export" || name == "group-export" ||
         (definition.find("bulkdata") != std::string::npos &&
          definition.find("export") != std::string::npos);
}

bool HasExportOperation(const fhir::Json& holder) {
  const auto operations = holder.find("operation");
  if (operations == holder.end() || !operations->is_array()) return false;
  return std::ranges::any_of(*operations, IsExportOperation);
}

std::string FilterText(const std::vector<std::pair<std::string, std::string>>& filters) {
  std::string text;
  for (const auto& [name, value] : filters) {
    if (!text.empty()) text += '&';
    text += name + "=" + value;
  }
  return text;
}

}  // namespace

std::span<const Interaction> AllInteractions() { return kInteractions; }

std::string_view InteractionName(Interaction interaction) {
  switch (interaction) {
    case Interaction::kRead:
      return "read";
    case Interaction::kVread:
      return "vread";
    case Interaction::kHistoryInstance:
      return "history-instance";
    case Interaction::kHistoryType:
      return "history-type";
    case Interaction::kSearch:
      return "search-type";
    case Interaction::kCreate:
      return "create";
    case Interaction::kUpdate:
      return "update";
    case Interaction::kDelete:
      return "delete";
    case Interaction::kExport:
      return "$export";
  }
  return "";
}

std::optional<Interaction> ParseInteractionName(std::string_view name) {
  for (const Interaction interaction : kInteractions) {
    if (InteractionName(interaction) == name) return interaction;
  }
  if (name == "search") return Interaction::kSearch;
  if (name == "export") return Interaction::kExport;
  return std::nullopt;
}

std::string CapabilityCell::RestrictionNote() const {
  if (!allowed || filters.empty()) return {};
  return "only " + FilterText(filters);
}

CapabilityMatrix::CapabilityMatrix(CapabilityMatrix&& other) noexcept
    : scopes_(std::move(other.scopes_)),
      contexts_(std::move(other.contexts_)),
      v1_only_(other.v1_only_),
      have_statement_(other.have_statement_),
      offered_(std::move(other.offered_)),
      offers_export_(other.offers_export_),
      rows_(std::move(other.rows_)),
      notes_(std::move(other.notes_)) {
  std::lock_guard lock(other.usage_mutex_);
  usage_ = std::move(other.usage_);
}

CapabilityMatrix& CapabilityMatrix::operator=(CapabilityMatrix&& other) noexcept {
  if (this == &other) return *this;
  scopes_ = std::move(other.scopes_);
  contexts_ = std::move(other.contexts_);
  v1_only_ = other.v1_only_;
  have_statement_ = other.have_statement_;
  offered_ = std::move(other.offered_);
  offers_export_ = other.offers_export_;
  rows_ = std::move(other.rows_);
  notes_ = std::move(other.notes_);
  std::scoped_lock lock(usage_mutex_, other.usage_mutex_);
  usage_ = std::move(other.usage_);
  return *this;
}

base::Result<CapabilityMatrix> CapabilityMatrix::Build(const smart::ParsedScopes& granted,
                                                       const fhir::Json* capability_statement,
                                                       const CapabilityOptions& options) {
  CapabilityMatrix matrix;
  matrix.scopes_ = granted.scopes;
  matrix.contexts_ = options.contexts;
  if (matrix.contexts_.empty()) matrix.contexts_ = {Context::kSystem};

  bool any_clinical = false;
  bool any_v2 = false;
  std::set<std::string> types(options.extra_types.begin(), options.extra_types.end());
  for (const auto& scope : granted.scopes) {
    if (!scope.clinical) continue;
    any_clinical = true;
    any_v2 = any_v2 || scope.clinical->v2;
    if (scope.clinical->resource_type != "*") types.insert(scope.clinical->resource_type);
  }
  matrix.v1_only_ = any_clinical && !any_v2;
  for (const auto& rejected : granted.rejected) {
    matrix.notes_.push_back("the granted scope \"" + rejected +
                            "\" is not a valid SMART scope and allows nothing");
  }
  if (!any_clinical) {
    matrix.notes_.push_back("no clinical scope was granted, so nothing is allowed");
  }

  if (capability_statement == nullptr) {
    matrix.notes_.push_back(
        "the site's CapabilityStatement was not read; the matrix shows what the scopes allow, and "
        "the site may still refuse interactions it does not support");
  } else {
    const fhir::Json& statement = *capability_statement;
    const auto unavailable = [](std::string what) {
      return base::Fail(base::ErrorCode::kCapabilityUnavailable, std::move(what));
    };
    if (!statement.is_object() || statement.value("resourceType", "") != "CapabilityStatement") {
      return unavailable("the document given is not a CapabilityStatement");
    }
    const fhir::Json* server = nullptr;
    if (const auto rest = statement.find("rest"); rest != statement.end() && rest->is_array()) {
      for (const auto& entry : *rest) {
        if (entry.is_object() && entry.value("mode", "") == "server") {
          server = &entry;
          break;
        }
      }
    }
    if (server == nullptr) {
      return unavailable("the CapabilityStatement has no rest entry with mode \"server\"");
    }
    matrix.have_statement_ = true;
    const std::string version = statement.value("fhirVersion", "");
    if (!version.starts_with("4.0")) {
      matrix.notes_.push_back("the CapabilityStatement declares FHIR version \"" + version +
                              "\", not R4 (4.0.x)");
    }
    matrix.offers_export_ = HasExportOperation(*server);
    if (const auto resources = server->find("resource");
        resources != server->end() && resources->is_array()) {
      for (const auto& resource : *resources) {
        if (!resource.is_object() || !resource.contains("type") || !resource["type"].is_string()) {
          continue;
        }
        const std::string type = resource["type"].get<std::string>();
        auto& codes = matrix.offered_[type];
        if (const auto interactions = resource.find("interaction");
            interactions != resource.end() && interactions->is_array()) {
          for (const auto& interaction : *interactions) {
            if (interaction.is_object() && interaction.contains("code") &&
                interaction["code"].is_string()) {
              codes.push_back(interaction["code"].get<std::string>());
            }
          }
        }
        if ((type == "Patient" || type == "Group") && HasExportOperation(resource)) {
          matrix.offers_export_ = true;
        }
        types.insert(type);
      }
    }
  }

  for (const auto& type : types) {
    CapabilityRow row;
    row.resource_type = type;
    for (std::size_t i = 0; i < kInteractionCount; ++i) {
      row.cells[i] = matrix.Decide(type, kInteractions[i]);
    }
    matrix.rows_.push_back(std::move(row));
  }
  return matrix;
}

CapabilityCell CapabilityMatrix::Decide(std::string_view resource_type,
                                        Interaction interaction) const {
  std::vector<std::string> reasons;
  const std::string type(resource_type);

  if (have_statement_) {
    if (interaction == Interaction::kExport) {
      if (!offers_export_) {
        reasons.push_back("the site's CapabilityStatement offers no Bulk Data $export");
      }
    } else if (const auto found = offered_.find(resource_type); found == offered_.end()) {
      reasons.push_back("the site's CapabilityStatement does not list " + type);
    } else if (std::ranges::find(found->second, InteractionName(interaction)) ==
               found->second.end()) {
      reasons.push_back("the site's CapabilityStatement does not offer " +
                        std::string(InteractionWords(interaction)) + " on " + type);
    }
  }

  // Export is system-level work (backend services) and needs read and search on the type.
  const std::vector<Context> contexts =
      interaction == Interaction::kExport ? std::vector<Context>{Context::kSystem} : contexts_;
  std::vector<Permission> permissions = {PermissionFor(interaction)};
  if (interaction == Interaction::kExport) permissions.push_back(Permission::kSearch);

  CapabilityCell cell;
  std::uint8_t missing = 0;
  for (const Permission permission : permissions) {
    std::optional<smart::Decision> filtered;
    std::optional<smart::Decision> unfiltered;
    for (const Context context : contexts) {
      auto decision = smart::Decide(scopes_, resource_type, permission, {context});
      if (!decision.allowed) continue;
      if (decision.filters.empty()) {
        unfiltered = std::move(decision);
        break;
      }
      if (!filtered) filtered = std::move(decision);
    }
    const auto& chosen = unfiltered ? unfiltered : filtered;
    if (!chosen) {
      missing |= static_cast<std::uint8_t>(permission);
      continue;
    }
    if (cell.scope.find(chosen->scope) == std::string::npos) {
      cell.scope += (cell.scope.empty() ? "" : " ") + chosen->scope;
    }
    for (const auto& filter : chosen->filters) cell.filters.push_back(filter);
  }
  if (missing != 0) {
    std::string suffix;
    if (v1_only_) {
      const bool writes = (missing & (static_cast<std::uint8_t>(Permission::kCreate) |
                                      static_cast<std::uint8_t>(Permission::kUpdate) |
                                      static_cast<std::uint8_t>(Permission::kDelete))) != 0;
      suffix = writes ? "write" : "read";
    } else {
      // Export asks for the pair even when one of them was granted.
      suffix = smart::PermissionLetters(interaction == Interaction::kExport
                                            ? static_cast<std::uint8_t>(Permission::kRead) |
                                                  static_cast<std::uint8_t>(Permission::kSearch)
                                            : missing);
    }
    reasons.push_back("the site did not grant " +
                      std::string(smart::ContextName(contexts.front())) + "/" + type + "." +
                      suffix);
  }

  if (!reasons.empty()) {
    CapabilityCell refused;
    for (const auto& reason : reasons) {
      refused.reason += (refused.reason.empty() ? "" : "; and ") + reason;
    }
    return refused;
  }
  cell.allowed = true;
  return cell;
}

CapabilityCell CapabilityMatrix::Check(std::string_view resource_type,
                                       Interaction interaction) const {
  for (const auto& row : rows_) {
    if (row.resource_type == resource_type) {
      return row.cells[static_cast<std::size_t>(std::ranges::find(kInteractions, interaction) -
                                                kInteractions.begin())];
    }
  }
  return Decide(resource_type, interaction);
}

CapabilityCell CapabilityMatrix::Ask(std::string_view resource_type, Interaction interaction) {
  CapabilityCell cell = Check(resource_type, interaction);
  if (!cell.allowed) return cell;
  std::lock_guard lock(usage_mutex_);
  std::string_view scopes = cell.scope;
  while (!scopes.empty()) {
    const std::size_t space = scopes.find(' ');
    ++usage_[std::string(scopes.substr(0, space))];
    if (space == std::string_view::npos) break;
    scopes.remove_prefix(space + 1);
  }
  return cell;
}

ScopeReview CapabilityMatrix::Review() const {
  ScopeReview review;
  std::lock_guard lock(usage_mutex_);
  for (const auto& scope : scopes_) {
    if (!scope.clinical) {
      review.not_reviewed.push_back(scope.text);
      continue;
    }
    const auto found = usage_.find(scope.text);
    if (found == usage_.end()) {
      review.unused.push_back(scope.text);
    } else {
      review.used.emplace_back(scope.text, found->second);
    }
  }
  return review;
}

std::string CapabilityMatrix::ToText() const {
  std::size_t width = 13;
  for (const auto& row : rows_) width = std::max(width, row.resource_type.size() + 2);

  std::ostringstream text;
  text << std::left << std::setw(static_cast<int>(width)) << "resource type";
  for (const auto label : kColumnLabels) text << std::setw(8) << label;
  text << "\n";
  std::vector<std::string> refusals;
  std::vector<std::string> restrictions;
  for (const auto& row : rows_) {
    text << std::setw(static_cast<int>(width)) << row.resource_type;
    for (std::size_t i = 0; i < kInteractionCount; ++i) {
      const auto& cell = row.cells[i];
      const std::string where =
          row.resource_type + " " + std::string(InteractionName(kInteractions[i])) + ": ";
      if (!cell.allowed) {
        text << std::setw(8) << "-";
        refusals.push_back(where + cell.reason);
      } else if (!cell.filters.empty()) {
        text << std::setw(8) << "yes*";
        restrictions.push_back(where + cell.RestrictionNote() + " (" + cell.scope + ")");
      } else {
        text << std::setw(8) << "yes";
      }
    }
    text << "\n";
  }
  if (rows_.empty()) text << "(no resource types: no clinical scope and no CapabilityStatement)\n";
  if (!restrictions.empty()) {
    text << "\nrestricted (yes*):\n";
    for (const auto& line : restrictions) text << "  " << line << "\n";
  }
  if (!refusals.empty()) {
    text << "\nnot allowed:\n";
    for (const auto& line : refusals) text << "  " << line << "\n";
  }
  if (!notes_.empty()) {
    text << "\nnotes:\n";
    for (const auto& note : notes_) text << "  " << note << "\n";
  }
  return text.str();
}

fhir::Json CapabilityMatrix::ToJson() const {
  fhir::Json json;
  json["contexts"] = fhir::Json::array();
  for (const Context context : contexts_) json["contexts"].push_back(smart::ContextName(context));
  json["capabilityStatementRead"] = have_statement_;
  json["resourceTypes"] = fhir::Json::array();
  for (const auto& row : rows_) {
    fhir::Json interactions = fhir::Json::object();
    for (std::size_t i = 0; i < kInteractionCount; ++i) {
      const auto& cell = row.cells[i];
      fhir::Json entry = {{"allowed", cell.allowed}};
      if (cell.allowed) {
        entry["scope"] = cell.scope;
        if (!cell.filters.empty()) entry["restriction"] = FilterText(cell.filters);
      } else {
        entry["reason"] = cell.reason;
      }
      interactions[std::string(InteractionName(kInteractions[i]))] = std::move(entry);
    }
    json["resourceTypes"].push_back(
        {{"resourceType", row.resource_type}, {"interactions", std::move(interactions)}});
  }
  json["notes"] = notes_;
  const ScopeReview review = Review();
  fhir::Json used = fhir::Json::array();
  for (const auto& [scope, count] : review.used)
    used.push_back({{"scope", scope}, {"uses", count}});
  json["scopeReview"] = {
      {"used", std::move(used)}, {"unused", review.unused}, {"notReviewed", review.not_reviewed}};
  return json;
}

}  // namespace fhirbridge::auth
