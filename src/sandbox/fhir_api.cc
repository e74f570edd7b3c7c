#include "sandbox/fhir_api.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/clock.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"
#include "fhir/resource_types.h"
#include "sandbox/bulk_export.h"
#include "sandbox/capability_statement.h"
#include "sandbox/search.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using base::Fail;
using json = fhir::Json;

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";
constexpr std::int64_t kDefaultHistoryCount = 50;
constexpr std::int64_t kMaxHistoryCount = 1000;
// Epic's ids exceed FHIR's 64 characters; this bound only stops absurd input.
constexpr std::size_t kMaxIdLength = 200;

// Route templates, used as log fields and metric labels.
constexpr std::string_view kRouteBase = "/{tenant}/api/FHIR/R4";
constexpr std::string_view kRouteMetadata = "/{tenant}/api/FHIR/R4/metadata";
constexpr std::string_view kRouteSystemHistory = "/{tenant}/api/FHIR/R4/_history";
constexpr std::string_view kRouteType = "/{tenant}/api/FHIR/R4/{type}";
constexpr std::string_view kRouteSearch = "/{tenant}/api/FHIR/R4/{type}/_search";
constexpr std::string_view kRouteTypeHistory = "/{tenant}/api/FHIR/R4/{type}/_history";
constexpr std::string_view kRouteInstance = "/{tenant}/api/FHIR/R4/{type}/{id}";
constexpr std::string_view kRouteInstanceHistory = "/{tenant}/api/FHIR/R4/{type}/{id}/_history";
constexpr std::string_view kRouteVersion = "/{tenant}/api/FHIR/R4/{type}/{id}/_history/{vid}";
constexpr std::string_view kRouteUnknown = "/{tenant}/api/FHIR/R4/{unknown}";

enum class Prefer { kRepresentation, kMinimal, kOperationOutcome };

Prefer ParsePrefer(const http::Request& request) {
  const std::string* header = request.FindHeader("prefer");
  if (header == nullptr) return Prefer::kRepresentation;
  if (header->find("return=minimal") != std::string::npos) return Prefer::kMinimal;
  if (header->find("return=OperationOutcome") != std::string::npos) {
    return Prefer::kOperationOutcome;
  }
  return Prefer::kRepresentation;
}

std::string WeakEtag(std::int64_t version) { return "W/\"" + std::to_string(version) + "\""; }

// Reads a version number from an ETag such as W/"3" or "3".
std::optional<std::int64_t> ParseEtagVersion(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() < 3 || etag.front() != '"' || etag.back() != '"') return std::nullopt;
  etag = etag.substr(1, etag.size() - 2);
  std::int64_t version = 0;
  const auto [end, error] = std::from_chars(etag.data(), etag.data() + etag.size(), version);
  if (error != std::errc() || end != etag.data() + etag.size() || version < 1) {
    return std::nullopt;
  }
  return version;
}

std::string HttpDateOf(const std::string& instant) {
  const auto time = base::ParseInstant(instant);
  return time ? base::FormatHttpDate(*time) : std::string();
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

base::Status CheckId(std::string_view id) {
  if (IsValidId(id)) return {};
  return Fail(ErrorCode::kInvalidParameter,
              "A resource id is 1 to 200 letters, digits, '-' or '.'.", "id");
}

// The resource as the tenant serves it: stored bytes, without meta.versionId and lastUpdated
// when the build level is strict about meta (the ETag and Last-Modified headers still carry
// them).
std::string ServedJson(const Tenant& tenant, const StoredVersion& stored) {
  if (!tenant.build_level().search.strict_meta) return stored.json;
  return WithoutVersionMeta(stored.json);
}

http::Response ResourceResponse(const Tenant& tenant, int status, const StoredVersion& stored,
                                Prefer prefer) {
  http::Response response;
  response.status = status;
  response.SetHeader("ETag", WeakEtag(stored.version));
  response.SetHeader("Last-Modified", HttpDateOf(stored.last_updated));
  switch (prefer) {
    case Prefer::kRepresentation:
      response.SetHeader("Content-Type", std::string(kFhirJson));
      response.body = ServedJson(tenant, stored);
      break;
    case Prefer::kMinimal:
      break;
    case Prefer::kOperationOutcome:
      response.SetHeader("Content-Type", std::string(kFhirJson));
      response.body = fhir::OperationOutcomeWith(fhir::IssueSeverity::kInformation, "informational",
                                                 stored.type + "/" + stored.id + " is at version " +
                                                     std::to_string(stored.version) + ".")
                          .dump();
      break;
  }
  return response;
}

std::string LocationOf(const std::string& base_url, const StoredVersion& stored) {
  return base_url + "/" + stored.type + "/" + stored.id + "/_history/" +
         std::to_string(stored.version);
}

// Refuses the call unless `type` is an R4 type the build level supports with `interaction`.
base::Status CheckSupported(const Tenant& tenant, std::string_view type, Interaction interaction) {
  const BuildLevel& level = tenant.build_level();
  if (!fhir::IsR4ResourceType(type)) {
    return Fail(ErrorCode::kUnknownResourceType,
                "'" + std::string(type) + "' is not a FHIR R4 resource type.");
  }
  if (level.types_not_enabled.contains(type)) {
    return Fail(ErrorCode::kResourceTypeNotEnabled,
                "The " + std::string(type) + " API is not enabled for this client on tenant '" +
                    tenant.config().name + "' (build level '" + level.name + "').");
  }
  if (!level.SupportsType(type)) {
    return Fail(ErrorCode::kResourceTypeNotSupported,
                "Tenant '" + tenant.config().name + "' (build level '" + level.name +
                    "') does not support " + std::string(type) + ".");
  }
  if (!ImplementedInteractions().contains(interaction)) {
    return Fail(ErrorCode::kInteractionNotSupported, "This server does not implement the '" +
                                                         std::string(InteractionCode(interaction)) +
                                                         "' interaction.");
  }
  if (!level.Supports(type, interaction)) {
    return Fail(ErrorCode::kInteractionNotSupported,
                "Tenant '" + tenant.config().name + "' (build level '" + level.name +
                    "') does not support '" + std::string(InteractionCode(interaction)) + "' on " +
                    std::string(type) + ".");
  }
  return {};
}

base::Status CheckSystemSupported(const Tenant& tenant, Interaction interaction) {
  const BuildLevel& level = tenant.build_level();
  if (!level.SupportsSystem(interaction)) {
    return Fail(ErrorCode::kInteractionNotSupported,
                "Tenant '" + tenant.config().name + "' (build level '" + level.name +
                    "') does not support the '" + std::string(InteractionCode(interaction)) +
                    "' interaction.");
  }
  return {};
}

base::Status CheckContentType(const http::Request& request) {
  const std::string* content_type = request.FindHeader("content-type");
  if (content_type == nullptr) return {};
  if (content_type->find("json") != std::string::npos) return {};
  return Fail(ErrorCode::kUnsupportedMediaType,
              "Content-Type '" + content_type->substr(0, 80) +
                  "' is not accepted; send application/fhir+json.",
              "Content-Type");
}

// Parses a body that must hold a resource of `type`.
base::Result<json> ParseBodyOfType(const http::Request& request, std::string_view type) {
  if (auto checked = CheckContentType(request); !checked) return Fail(checked.error());
  auto resource = fhir::ParseResource(request.body);
  if (!resource) return resource;
  const std::string& body_type = (*resource)["resourceType"].get_ref<const std::string&>();
  if (body_type != type) {
    return Fail(ErrorCode::kWrongResourceType,
                "The body is a " + body_type + " but the URL names " + std::string(type) + ".",
                "resourceType");
  }
  return resource;
}

// The identifier and _id criteria of a conditional create, e.g. "identifier=sys|123".
struct Conditions {
  std::optional<IdentifierCriterion> identifier;
  std::optional<std::string> id;
};

base::Result<Conditions> ParseConditions(std::string_view query, std::string_view header_name) {
  Conditions conditions;
  const auto parameters = http::ParseQuery(query);
  if (parameters.empty()) {
    return Fail(ErrorCode::kInvalidPrecondition,
                std::string(header_name) + " holds no search parameters.",
                std::string(header_name));
  }
  for (const auto& [name, value] : parameters) {
    if (name == "identifier") {
      IdentifierCriterion criterion;
      const std::size_t bar = value.find('|');
      if (bar == std::string::npos) {
        criterion.value = value;
      } else {
        criterion.system = value.substr(0, bar);
        criterion.value = value.substr(bar + 1);
      }
      if (criterion.value.empty()) {
        return Fail(ErrorCode::kInvalidPrecondition,
                    "The identifier condition needs a value after '|'.", std::string(header_name));
      }
      conditions.identifier = std::move(criterion);
    } else if (name == "_id") {
      if (!IsValidId(value)) {
        return Fail(ErrorCode::kInvalidPrecondition, "The _id condition is not a valid id.",
                    std::string(header_name));
      }
      conditions.id = value;
    } else {
      // Limitation: conditions support identifier and _id; other search parameters are refused
      // rather than ignored, because ignoring one would widen the match and skip a create.
      return Fail(ErrorCode::kUnsupportedParameter,
                  "Parameter '" + name.substr(0, 64) + "' is not supported in " +
                      std::string(header_name) + "; use identifier or _id.",
                  std::string(header_name));
    }
  }
  return conditions;
}

// Ids of current resources of `type` matching every condition.
base::Result<std::vector<std::string>> FindMatches(Transaction& transaction, std::string_view type,
                                                   const Conditions& conditions) {
  std::vector<std::string> matches;
  if (conditions.identifier) {
    auto found = transaction.FindByIdentifier(type, *conditions.identifier);
    if (!found) return Fail(found.error());
    matches = std::move(*found);
    if (conditions.id) {
      std::erase_if(matches, [&](const std::string& id) { return id != *conditions.id; });
    }
    return matches;
  }
  if (conditions.id) {
    auto current = transaction.Read(type, *conditions.id);
    if (current) {
      matches.push_back(*conditions.id);
    } else if (current.error().code != ErrorCode::kNotFound &&
               current.error().code != ErrorCode::kGone) {
      return Fail(current.error());
    }
  }
  return matches;
}

// The outcome of one write, shared by the REST routes and Bundle entries.
struct WriteResult {
  int status = 200;
  StoredVersion stored;
};

// Creates `resource`, or with `if_none_exist` returns the one existing match (status 200).
base::Result<WriteResult> CreateIn(Transaction& transaction, std::string_view type,
                                   const json& resource, const std::string* if_none_exist,
                                   const std::optional<std::string>& assigned_id) {
  if (if_none_exist != nullptr) {
    auto conditions = ParseConditions(*if_none_exist, "If-None-Exist");
    if (!conditions) return Fail(conditions.error());
    auto matches = FindMatches(transaction, type, *conditions);
    if (!matches) return Fail(matches.error());
    if (matches->size() > 1) {
      return Fail(ErrorCode::kMultipleMatches,
                  "If-None-Exist matches " + std::to_string(matches->size()) + " " +
                      std::string(type) + " resources; nothing was created.",
                  "If-None-Exist");
    }
    if (matches->size() == 1) {
      auto existing = transaction.Read(type, matches->front());
      if (!existing) return Fail(existing.error());
      return WriteResult{200, std::move(*existing)};
    }
  }
  auto created = transaction.Create(type, resource, assigned_id);
  if (!created) return Fail(created.error());
  return WriteResult{201, std::move(*created)};
}

base::Result<WriteResult> UpdateIn(Transaction& transaction, const Tenant& tenant,
                                   std::string_view type, std::string_view id, const json& resource,
                                   const std::string* if_match) {
  const auto body_id = resource.find("id");
  if (body_id == resource.end()) {
    return Fail(ErrorCode::kMissingId, "The body of an update needs an id equal to the URL's.",
                "id");
  }
  if (body_id->get_ref<const std::string&>() != id) {
    return Fail(ErrorCode::kIdMismatch,
                "The body's id does not match the id in the URL; they must be equal.", "id");
  }
  std::optional<std::int64_t> expected_version;
  if (if_match != nullptr) {
    expected_version = ParseEtagVersion(*if_match);
    if (!expected_version) {
      return Fail(ErrorCode::kInvalidPrecondition,
                  "If-Match must be a version ETag such as W/\"3\".", "If-Match");
    }
  }
  const bool allow_create = tenant.build_level().update_as_create;
  auto written = transaction.Update(type, id, resource, allow_create, expected_version);
  if (!written) {
    if (written.error().code == ErrorCode::kNotFound && !allow_create) {
      return Fail(ErrorCode::kInteractionNotSupported,
                  "Update-as-create is off for build level '" + tenant.build_level().name +
                      "': " + std::string(type) +
                      " has no resource with this id. Create it with POST instead.");
    }
    return Fail(written.error());
  }
  return WriteResult{written->created ? 201 : 200, std::move(written->stored)};
}

base::Status DeleteIn(Transaction& transaction, std::string_view type, std::string_view id,
                      const std::string* if_match) {
  if (if_match != nullptr) {
    const auto expected = ParseEtagVersion(*if_match);
    if (!expected) {
      return Fail(ErrorCode::kInvalidPrecondition,
                  "If-Match must be a version ETag such as W/\"3\".", "If-Match");
    }
    auto current = transaction.Read(type, id);
    if (!current) return Fail(current.error());
    if (current->version != *expected) {
      return Fail(ErrorCode::kVersionConflict,
                  "If-Match names version " + std::to_string(*expected) +
                      " but the current version is " + std::to_string(current->version) + ".",
                  "If-Match");
    }
  }
  return transaction.Delete(type, id);
}

base::Result<std::int64_t> ParseCount(const std::string& value) {
  std::int64_t count = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), count);
  if (error != std::errc() || end != value.data() + value.size() || count < 0) {
    return Fail(ErrorCode::kInvalidParameter, "_count must be a whole number of 0 or more.",
                "_count");
  }
  return std::min(count, kMaxHistoryCount);
}

// ---------------------------------------------------------------------------------------------
// Routes.

base::Result<http::Response> Read(const FhirCall& call, const std::string& type,
                                  const std::string& id) {
  if (auto ok = CheckSupported(call.tenant, type, Interaction::kRead); !ok) return Fail(ok.error());
  if (auto ok = CheckId(id); !ok) return Fail(ok.error());
  auto stored = call.tenant.store().Read(type, id);
  if (!stored) return Fail(stored.error());

  if (const std::string* if_none_match = call.request.FindHeader("if-none-match")) {
    const auto version = ParseEtagVersion(*if_none_match);
    if (*if_none_match == "*" || (version && *version == stored->version)) {
      http::Response not_modified;
      not_modified.status = 304;
      not_modified.SetHeader("ETag", WeakEtag(stored->version));
      not_modified.SetHeader("Last-Modified", HttpDateOf(stored->last_updated));
      return not_modified;
    }
  }
  return ResourceResponse(call.tenant, 200, *stored, Prefer::kRepresentation);
}

base::Result<http::Response> Vread(const FhirCall& call, const std::string& type,
                                   const std::string& id, const std::string& version_text) {
  if (auto ok = CheckSupported(call.tenant, type, Interaction::kVread); !ok) {
    return Fail(ok.error());
  }
  if (auto ok = CheckId(id); !ok) return Fail(ok.error());
  std::int64_t version = 0;
  const auto [end, error] =
      std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
  if (error != std::errc() || end != version_text.data() + version_text.size() || version < 1) {
    return Fail(ErrorCode::kVersionNotFound,
                "Version ids on this server are whole numbers from 1; '" +
                    version_text.substr(0, 32) + "' is not one.");
  }
  auto stored = call.tenant.store().ReadVersion(type, id, version);
  if (!stored) return Fail(stored.error());
  return ResourceResponse(call.tenant, 200, *stored, Prefer::kRepresentation);
}

// Runs `write` in a store transaction, commits it, and answers with the version written (with
// Location when the write created the resource).
template <typename Write>
base::Result<http::Response> AnswerWrite(const FhirCall& call, Write write) {
  auto transaction = call.tenant.store().Begin();
  if (!transaction) return Fail(transaction.error());
  base::Result<WriteResult> written = write(**transaction);
  if (!written) return Fail(written.error());
  if (auto committed = (*transaction)->Commit(); !committed) return Fail(committed.error());

  http::Response response =
      ResourceResponse(call.tenant, written->status, written->stored, ParsePrefer(call.request));
  if (written->status == 201) {
    response.SetHeader("Location", LocationOf(call.base_url, written->stored));
  }
  return response;
}

base::Result<http::Response> Create(const FhirCall& call, const std::string& type) {
  if (auto ok = CheckSupported(call.tenant, type, Interaction::kCreate); !ok) {
    return Fail(ok.error());
  }
  auto resource = ParseBodyOfType(call.request, type);
  if (!resource) return Fail(resource.error());

  return AnswerWrite(call, [&](Transaction& transaction) {
    return CreateIn(transaction, type, *resource, call.request.FindHeader("if-none-exist"),
                    std::nullopt);
  });
}

base::Result<http::Response> Update(const FhirCall& call, const std::string& type,
                                    const std::string& id) {
  if (auto ok = CheckSupported(call.tenant, type, Interaction::kUpdate); !ok) {
    return Fail(ok.error());
  }
  if (auto ok = CheckId(id); !ok) return Fail(ok.error());
  auto resource = ParseBodyOfType(call.request, type);
  if (!resource) return Fail(resource.error());

  return AnswerWrite(call, [&](Transaction& transaction) {
    return UpdateIn(transaction, call.tenant, type, id, *resource,
                    call.request.FindHeader("if-match"));
  });
}

base::Result<http::Response> Delete(const FhirCall& call, const std::string& type,
                                    const std::string& id) {
  if (auto ok = CheckSupported(call.tenant, type, Interaction::kDelete); !ok) {
    return Fail(ok.error());
  }
  if (auto ok = CheckId(id); !ok) return Fail(ok.error());
  auto transaction = call.tenant.store().Begin();
  if (!transaction) return Fail(transaction.error());
  if (auto deleted = DeleteIn(**transaction, type, id, call.request.FindHeader("if-match"));
      !deleted) {
    return Fail(deleted.error());
  }
  if (auto committed = (*transaction)->Commit(); !committed) return Fail(committed.error());

  if (ParsePrefer(call.request) == Prefer::kMinimal) {
    http::Response response;
    response.status = 204;
    return response;
  }
  return JsonResponse(200,
                      fhir::OperationOutcomeWith(fhir::IssueSeverity::kInformation, "informational",
                                                 "Deleted " + type + "/" + id + "."));
}

// One entry of a history Bundle: request records how the version was made (POST, PUT or
// DELETE) and response what that interaction answered.
json HistoryEntry(const FhirCall& call, const StoredVersion& version) {
  const std::string& base_url = call.base_url;
  const std::string url = version.type + "/" + version.id;
  json entry = {{"fullUrl", base_url + "/" + url}};
  if (!version.deleted) entry["resource"] = json::parse(ServedJson(call.tenant, version));
  const bool created = version.method == "POST" || version.version == 1;
  entry["request"] = {{"method", version.method},
                      {"url", version.method == "POST" ? version.type : url}};
  entry["response"] = {{"status", version.deleted ? "200 OK"
                                  : created       ? "201 Created"
                                                  : "200 OK"},
                       {"etag", WeakEtag(version.version)},
                       {"lastModified", version.last_updated}};
  return entry;
}

base::Result<http::Response> History(const FhirCall& call, std::optional<std::string> type,
                                     std::optional<std::string> id) {
  HistoryQuery query;
  query.count = kDefaultHistoryCount;
  for (const auto& [name, value] : http::ParseQuery(call.request.query)) {
    if (name == "_count") {
      auto count = ParseCount(value);
      if (!count) return Fail(count.error());
      query.count = *count;
    } else if (name == "_since") {
      const auto since = base::ParseInstant(value);
      if (!since) {
        return Fail(ErrorCode::kInvalidParameter,
                    "_since must be a FHIR instant with a time zone, e.g. 2026-01-31T10:00:00Z.",
                    "_since");
      }
      query.since = base::FormatInstant(*since);
    } else if (name == "_cursor") {
      std::int64_t before = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), before);
      if (error != std::errc() || end != value.data() + value.size() || before < 1) {
        return Fail(ErrorCode::kInvalidParameter,
                    "_cursor must be copied unchanged from a next link.", "_cursor");
      }
      query.before_sequence = before;
    } else if (name == "_format") {
      continue;
    } else {
      return Fail(ErrorCode::kUnsupportedParameter,
                  "History supports _count, _since and _cursor; '" + name.substr(0, 64) +
                      "' is not supported.",
                  name.substr(0, 64));
    }
  }
  query.type = std::move(type);
  query.id = std::move(id);

  // One entry more than asked tells whether a next page exists.
  const std::int64_t page_size = query.count;
  query.count = page_size + 1;
  auto transaction = call.tenant.store().Begin();
  if (!transaction) return Fail(transaction.error());
  auto page = (*transaction)->History(query);
  if (!page) return Fail(page.error());
  const bool has_more = static_cast<std::int64_t>(page->entries.size()) > page_size;
  if (has_more) page->entries.pop_back();

  json entries = json::array();
  for (const StoredVersion& version : page->entries) {
    entries.push_back(HistoryEntry(call, version));
  }
  std::string path = call.base_url;
  if (query.type) path += "/" + *query.type;
  if (query.id) path += "/" + *query.id;
  path += "/_history";
  std::string self = path;
  if (!call.request.query.empty()) self += "?" + call.request.query;
  json links = {{{"relation", "self"}, {"url", self}}};
  if (has_more && !page->entries.empty()) {
    // The cursor is the write order of the last entry shown, so versions written while a client
    // pages (which are newer) never shift the pages it has not read yet.
    std::string next = path + "?_count=" + std::to_string(page_size);
    if (query.since) next += "&_since=" + *query.since;
    next += "&_cursor=" + std::to_string(page->entries.back().sequence);
    links.push_back({{"relation", "next"}, {"url", next}});
  }
  return JsonResponse(200, {{"resourceType", "Bundle"},
                            {"type", "history"},
                            {"total", page->total},
                            {"link", std::move(links)},
                            {"entry", std::move(entries)}});
}

// ---------------------------------------------------------------------------------------------
// Batch and transaction Bundles.

struct EntryRequest {
  std::string method;
  std::string type;
  std::string id;
  std::string version;  // for a vread GET
  std::string query;    // conditional URL parameters (unused by the supported entry kinds)
  const json* resource = nullptr;
  std::optional<std::string> if_none_exist;
  std::optional<std::string> if_match;
  std::optional<std::string> if_none_match;
};

std::string EntryLocation(std::size_t index) {
  return "Bundle.entry[" + std::to_string(index) + "]";
}

base::Result<EntryRequest> ParseEntry(const json& entry, std::size_t index) {
  const std::string where = EntryLocation(index);
  if (!entry.is_object())
    return Fail(ErrorCode::kInvalidBundle, "An entry must be an object.", where);
  const auto request = entry.find("request");
  if (request == entry.end() || !request->is_object()) {
    return Fail(ErrorCode::kInvalidBundle, "The entry has no request.", where + ".request");
  }
  const auto method = request->find("method");
  const auto url = request->find("url");
  if (method == request->end() || !method->is_string() || url == request->end() ||
      !url->is_string()) {
    return Fail(ErrorCode::kInvalidBundle, "The entry's request needs a method and a url.",
                where + ".request");
  }
  EntryRequest parsed;
  parsed.method = method->get<std::string>();
  std::string target = url->get<std::string>();
  const std::size_t question = target.find('?');
  if (question != std::string::npos) {
    parsed.query = target.substr(question + 1);
    target.resize(question);
  }
  std::vector<std::string> segments;
  if (!http::SplitPath(target, segments) || segments.empty() || segments.size() > 4 ||
      segments.size() == 3 || (segments.size() == 4 && segments[2] != "_history")) {
    return Fail(ErrorCode::kInvalidBundle,
                "The entry's request.url must be Type, Type/id or Type/id/_history/vid.",
                where + ".request.url");
  }
  parsed.type = segments[0];
  if (segments.size() >= 2) parsed.id = segments[1];
  if (segments.size() == 4) parsed.version = segments[3];

  for (const auto& [field, target_field] :
       {std::pair{"ifNoneExist", &parsed.if_none_exist}, std::pair{"ifMatch", &parsed.if_match},
        std::pair{"ifNoneMatch", &parsed.if_none_match}}) {
    const auto value = request->find(field);
    if (value != request->end() && value->is_string()) *target_field = value->get<std::string>();
  }

  const auto resource = entry.find("resource");
  if (resource != entry.end()) parsed.resource = &*resource;
  if ((parsed.method == "POST" || parsed.method == "PUT") && parsed.resource == nullptr) {
    return Fail(ErrorCode::kInvalidBundle, "A " + parsed.method + " entry needs a resource.",
                where + ".resource");
  }
  if (parsed.resource != nullptr) {
    if (!parsed.resource->is_object() || !parsed.resource->contains("resourceType") ||
        (*parsed.resource)["resourceType"] != parsed.type) {
      return Fail(ErrorCode::kWrongResourceType,
                  "The entry's resource must be a " + parsed.type + " as its request.url says.",
                  where + ".resource");
    }
  }
  const bool known_method = parsed.method == "GET" || parsed.method == "POST" ||
                            parsed.method == "PUT" || parsed.method == "DELETE";
  if (!known_method) {
    return Fail(ErrorCode::kInvalidBundle,
                "Entry method '" + parsed.method.substr(0, 16) +
                    "' is not supported; use GET, POST, PUT or DELETE.",
                where + ".request.method");
  }
  if ((parsed.method == "POST") != parsed.id.empty() ||
      (parsed.method == "POST" && !parsed.query.empty())) {
    return Fail(ErrorCode::kInvalidBundle,
                parsed.method == "POST" ? "A POST entry's url names only the type."
                                        : "A " + parsed.method + " entry's url needs an id.",
                where + ".request.url");
  }
  if (!parsed.query.empty()) {
    return Fail(ErrorCode::kUnsupportedParameter,
                "Conditional entry URLs are not supported; use ifNoneExist on POST entries.",
                where + ".request.url");
  }
  return parsed;
}

Interaction InteractionOf(const EntryRequest& entry) {
  if (entry.method == "POST") return Interaction::kCreate;
  if (entry.method == "PUT") return Interaction::kUpdate;
  if (entry.method == "DELETE") return Interaction::kDelete;
  return entry.version.empty() ? Interaction::kRead : Interaction::kVread;
}

std::string StatusLine(int status) {
  switch (status) {
    case 200:
      return "200 OK";
    case 201:
      return "201 Created";
    case 204:
      return "204 No Content";
    default:
      return std::to_string(status);
  }
}

json ResponseOf(const FhirCall& call, int status, const StoredVersion& stored, Prefer prefer) {
  json response = {{"status", StatusLine(status)},
                   {"etag", WeakEtag(stored.version)},
                   {"lastModified", stored.last_updated}};
  if (status == 201) response["location"] = LocationOf(call.base_url, stored);
  json entry = {{"response", std::move(response)}};
  if (prefer == Prefer::kRepresentation && !stored.json.empty()) {
    entry["fullUrl"] = call.base_url + "/" + stored.type + "/" + stored.id;
    entry["resource"] = json::parse(ServedJson(call.tenant, stored));
  }
  return entry;
}

// Applies one entry inside `transaction`; returns the response entry.
base::Result<json> ApplyEntry(const FhirCall& call, Transaction& transaction,
                              const EntryRequest& entry, const std::optional<std::string>& id,
                              Prefer prefer) {
  if (auto ok = CheckSupported(call.tenant, entry.type, InteractionOf(entry)); !ok) {
    return Fail(ok.error());
  }
  if (!entry.id.empty()) {
    if (auto ok = CheckId(entry.id); !ok) return Fail(ok.error());
  }
  if (entry.method == "POST") {
    auto written = CreateIn(transaction, entry.type, *entry.resource,
                            entry.if_none_exist ? &*entry.if_none_exist : nullptr, id);
    if (!written) return Fail(written.error());
    return ResponseOf(call, written->status, written->stored, prefer);
  }
  if (entry.method == "PUT") {
    auto written = UpdateIn(transaction, call.tenant, entry.type, entry.id, *entry.resource,
                            entry.if_match ? &*entry.if_match : nullptr);
    if (!written) return Fail(written.error());
    return ResponseOf(call, written->status, written->stored, prefer);
  }
  if (entry.method == "DELETE") {
    if (auto deleted = DeleteIn(transaction, entry.type, entry.id,
                                entry.if_match ? &*entry.if_match : nullptr);
        !deleted) {
      return Fail(deleted.error());
    }
    return json{{"response", {{"status", "204 No Content"}}}};
  }
  base::Result<StoredVersion> stored =
      entry.version.empty() ? transaction.Read(entry.type, entry.id) : [&]() {
        std::int64_t version = 0;
        const auto [end, error] = std::from_chars(
            entry.version.data(), entry.version.data() + entry.version.size(), version);
        if (error != std::errc() || end != entry.version.data() + entry.version.size()) {
          return base::Result<StoredVersion>(
              Fail(ErrorCode::kVersionNotFound, "Version ids are whole numbers from 1."));
        }
        return transaction.ReadVersion(entry.type, entry.id, version);
      }();
  if (!stored) return Fail(stored.error());
  return ResponseOf(call, 200, *stored, Prefer::kRepresentation);
}

json FailedEntry(const base::Error& error) {
  return {{"response",
           {{"status", std::to_string(error.info().http_status)},
            {"outcome", fhir::OperationOutcomeFor(error)}}}};
}

// The order FHIR prescribes for a transaction: deletes, creates, updates, then reads.
int TransactionRank(const EntryRequest& entry) {
  if (entry.method == "DELETE") return 0;
  if (entry.method == "POST") return 1;
  if (entry.method == "PUT") return 2;
  return 3;
}

base::Result<http::Response> ProcessTransaction(const FhirCall& call, json& bundle) {
  json& entries = bundle["entry"];
  const Prefer prefer = ParsePrefer(call.request);

  std::vector<EntryRequest> requests;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto parsed = ParseEntry(entries[i], i);
    if (!parsed) return Fail(parsed.error());
    requests.push_back(std::move(*parsed));
  }

  auto transaction = call.tenant.store().Begin();
  if (!transaction) return Fail(transaction.error());

  // Give every created entry its id first, so urn:uuid references between entries can be
  // rewritten before anything is stored.
  std::map<std::string, std::string, std::less<>> replacements;
  std::vector<std::optional<std::string>> assigned(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].method != "POST") continue;
    std::string id;
    if (requests[i].if_none_exist) {
      // A conditional create that finds its match creates nothing: references to the entry
      // must then point at the resource that already exists.
      auto conditions = ParseConditions(*requests[i].if_none_exist, "ifNoneExist");
      if (!conditions) return Fail(conditions.error());
      auto matches = FindMatches(**transaction, requests[i].type, *conditions);
      if (!matches) return Fail(matches.error());
      if (matches->size() == 1) id = matches->front();
    }
    for (int attempt = 0; attempt < 8 && id.empty(); ++attempt) {
      std::string candidate = call.tenant.id_generator()();
      auto existing = (*transaction)->Read(requests[i].type, candidate);
      if (!existing && existing.error().code == ErrorCode::kNotFound) id = std::move(candidate);
    }
    if (id.empty()) return Fail(ErrorCode::kInternal, "Could not generate a fresh id.");
    assigned[i] = id;
    const auto full_url = entries[i].find("fullUrl");
    if (full_url != entries[i].end() && full_url->is_string() &&
        full_url->get_ref<const std::string&>().starts_with("urn:uuid:")) {
      replacements[full_url->get<std::string>()] = requests[i].type + "/" + id;
    }
  }
  if (!replacements.empty()) {
    for (auto& entry : entries) {
      const auto resource = entry.find("resource");
      if (resource != entry.end()) fhir::ReplaceReferences(*resource, replacements);
    }
  }

  std::vector<std::size_t> order(requests.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return TransactionRank(requests[a]) < TransactionRank(requests[b]);
  });

  std::vector<json> responses(requests.size());
  for (const std::size_t i : order) {
    auto response = ApplyEntry(call, **transaction, requests[i], assigned[i], prefer);
    if (!response) {
      base::Error error = response.error();
      error.diagnostic = "The transaction was rolled back: entry " + std::to_string(i) + " (" +
                         requests[i].method + " " + requests[i].type +
                         ") failed: " + error.ToString();
      error.location = EntryLocation(i);
      return Fail(std::move(error));
    }
    responses[i] = std::move(*response);
  }
  if (auto committed = (*transaction)->Commit(); !committed) return Fail(committed.error());

  return JsonResponse(200, {{"resourceType", "Bundle"},
                            {"type", "transaction-response"},
                            {"entry", std::move(responses)}});
}

base::Result<http::Response> ProcessBatch(const FhirCall& call, json& bundle) {
  json& entries = bundle["entry"];
  const Prefer prefer = ParsePrefer(call.request);
  json responses = json::array();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto parsed = ParseEntry(entries[i], i);
    if (!parsed) {
      responses.push_back(FailedEntry(parsed.error()));
      continue;
    }
    auto transaction = call.tenant.store().Begin();
    if (!transaction) return Fail(transaction.error());
    auto response = ApplyEntry(call, **transaction, *parsed, std::nullopt, prefer);
    if (response) {
      if (auto committed = (*transaction)->Commit(); !committed) return Fail(committed.error());
      responses.push_back(std::move(*response));
    } else {
      responses.push_back(FailedEntry(response.error()));
    }
  }
  return JsonResponse(
      200,
      {{"resourceType", "Bundle"}, {"type", "batch-response"}, {"entry", std::move(responses)}});
}

base::Result<http::Response> ProcessBundle(const FhirCall& call) {
  if (auto ok = CheckContentType(call.request); !ok) return Fail(ok.error());
  auto bundle = fhir::ParseResource(call.request.body);
  if (!bundle) return Fail(bundle.error());
  if ((*bundle)["resourceType"] != "Bundle") {
    return Fail(ErrorCode::kInvalidBundle,
                "POST to the FHIR base takes a Bundle of type batch or transaction.",
                "resourceType");
  }
  const auto type = bundle->find("type");
  const bool is_transaction = type != bundle->end() && *type == "transaction";
  const bool is_batch = type != bundle->end() && *type == "batch";
  if (!is_transaction && !is_batch) {
    return Fail(ErrorCode::kInvalidBundle, "Bundle.type must be batch or transaction.", "type");
  }
  if (auto ok = CheckSystemSupported(
          call.tenant, is_transaction ? Interaction::kTransaction : Interaction::kBatch);
      !ok) {
    return Fail(ok.error());
  }
  auto& entries = (*bundle)["entry"];
  if (entries.is_null()) entries = json::array();
  if (!entries.is_array()) {
    return Fail(ErrorCode::kInvalidBundle, "Bundle.entry must be an array.", "entry");
  }
  return is_transaction ? ProcessTransaction(call, *bundle) : ProcessBatch(call, *bundle);
}

// ---------------------------------------------------------------------------------------------
// Search.

// Prefer: handling=strict or handling=lenient, which decides what happens to unknown parameters.
std::optional<bool> ParseHandling(const http::Request& request) {
  const std::string* header = request.FindHeader("prefer");
  if (header == nullptr) return std::nullopt;
  if (header->find("handling=lenient") != std::string::npos) return true;
  if (header->find("handling=strict") != std::string::npos) return false;
  return std::nullopt;
}

// GET [base]/Type?... and POST [base]/Type/_search with a form body (whose parameters join the
// query's).
base::Result<http::Response> SearchType(const FhirCall& call, const std::string& type,
                                        bool form_body) {
  if (auto ok = CheckSupported(call.tenant, type, Interaction::kSearchType); !ok) {
    return Fail(ok.error());
  }
  SearchCall search{call.tenant, type, http::ParseQuery(call.request.query), call.base_url,
                    ParseHandling(call.request)};
  if (form_body) {
    const std::string* content_type = call.request.FindHeader("content-type");
    if (!call.request.body.empty() &&
        (content_type == nullptr ||
         content_type->find("application/x-www-form-urlencoded") == std::string::npos)) {
      return Fail(ErrorCode::kUnsupportedMediaType,
                  "POST _search takes a form body; send Content-Type: "
                  "application/x-www-form-urlencoded.",
                  "Content-Type");
    }
    for (auto& parameter : http::ParseQuery(call.request.body)) {
      search.parameters.push_back(std::move(parameter));
    }
  }
  return Search(search);
}

// ---------------------------------------------------------------------------------------------

struct Routed {
  std::string_view route;
  base::Result<http::Response> result;
};

Routed Route(const FhirCall& call) {
  const auto& segments = call.segments;
  const std::string& method = call.request.method;
  const bool get = method == "GET" || method == "HEAD";
  const auto method_not_allowed = [&](std::string_view route) {
    return Routed{route, Fail(ErrorCode::kMethodNotAllowed, "Method " + method.substr(0, 16) +
                                                                " is not allowed on " +
                                                                std::string(route) + ".")};
  };

  if (segments.empty()) {
    if (method == "POST") return {kRouteBase, ProcessBundle(call)};
    return method_not_allowed(kRouteBase);
  }
  const std::string& first = segments[0];
  if (segments.size() == 1 && first == "metadata") {
    if (!get) return method_not_allowed(kRouteMetadata);
    return {kRouteMetadata,
            JsonResponse(200, BuildCapabilityStatement(call.tenant, ImplementedInteractions(),
                                                       call.base_url, call.server_started))};
  }
  if (segments.size() == 1 && first == "_history") {
    if (!get) return method_not_allowed(kRouteSystemHistory);
    if (auto ok = CheckSystemSupported(call.tenant, Interaction::kHistorySystem); !ok) {
      return {kRouteSystemHistory, Fail(ok.error())};
    }
    return {kRouteSystemHistory, History(call, std::nullopt, std::nullopt)};
  }
  if (auto bulk = HandleBulkExportCall(call)) return {bulk->route, std::move(bulk->result)};
  if (!fhir::IsR4ResourceType(first)) {
    return {kRouteUnknown,
            Fail(ErrorCode::kUnknownRoute, "'" + first.substr(0, 64) +
                                               "' is neither a FHIR R4 resource type nor an "
                                               "operation this server knows.")};
  }
  if (segments.size() == 1) {
    if (method == "POST") return {kRouteType, Create(call, first)};
    if (get) return {kRouteType, SearchType(call, first, /*form_body=*/false)};
    return method_not_allowed(kRouteType);
  }
  if (segments.size() == 2 && segments[1] == "_search") {
    if (method != "POST") return method_not_allowed(kRouteSearch);
    return {kRouteSearch, SearchType(call, first, /*form_body=*/true)};
  }
  if (segments.size() == 2 && segments[1] == "_history") {
    if (!get) return method_not_allowed(kRouteTypeHistory);
    if (auto ok = CheckSupported(call.tenant, first, Interaction::kHistoryType); !ok) {
      return {kRouteTypeHistory, Fail(ok.error())};
    }
    return {kRouteTypeHistory, History(call, first, std::nullopt)};
  }
  const std::string& id = segments[1];
  if (segments.size() == 2) {
    if (get) return {kRouteInstance, Read(call, first, id)};
    if (method == "PUT") return {kRouteInstance, Update(call, first, id)};
    if (method == "DELETE") return {kRouteInstance, Delete(call, first, id)};
    return method_not_allowed(kRouteInstance);
  }
  if (segments.size() == 3 && segments[2] == "_history") {
    if (!get) return method_not_allowed(kRouteInstanceHistory);
    if (auto ok = CheckSupported(call.tenant, first, Interaction::kHistoryInstance); !ok) {
      return {kRouteInstanceHistory, Fail(ok.error())};
    }
    if (auto ok = CheckId(id); !ok) return {kRouteInstanceHistory, Fail(ok.error())};
    return {kRouteInstanceHistory, History(call, first, id)};
  }
  if (segments.size() == 4 && segments[2] == "_history") {
    if (!get) return method_not_allowed(kRouteVersion);
    return {kRouteVersion, Vread(call, first, id, segments[3])};
  }
  return {kRouteUnknown, Fail(ErrorCode::kUnknownRoute,
                              "No FHIR route has this shape; see the CapabilityStatement at "
                              "[base]/metadata.")};
}

}  // namespace

const std::set<Interaction>& ImplementedInteractions() {
  static const std::set<Interaction> implemented = {
      Interaction::kRead,          Interaction::kVread,           Interaction::kUpdate,
      Interaction::kDelete,        Interaction::kHistoryInstance, Interaction::kHistoryType,
      Interaction::kCreate,        Interaction::kTransaction,     Interaction::kBatch,
      Interaction::kHistorySystem, Interaction::kSearchType,
  };
  return implemented;
}

http::Response JsonResponse(int status, const json& body) {
  http::Response response;
  response.status = status;
  response.SetHeader("Content-Type", std::string(kFhirJson));
  response.body = body.dump();
  return response;
}

http::Response ErrorResponse(const base::Error& error) {
  return JsonResponse(error.info().http_status, fhir::OperationOutcomeFor(error));
}

FhirAnswer HandleFhirCall(const FhirCall& call) {
  Routed routed = Route(call);
  FhirAnswer answer;
  answer.route = std::string(routed.route);
  if (routed.result) {
    answer.response = std::move(*routed.result);
  } else {
    answer.response = ErrorResponse(routed.result.error());
    answer.error = std::move(routed.result.error());
  }
  return answer;
}

}  // namespace fhirbridge::sandbox
