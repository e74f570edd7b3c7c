#include "sandbox/bulk_export.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "fhir/json.h"
#include "fhir/operation_outcome.h"
#include "fhir/resource_types.h"
#include "fhir/search_parameters.h"
#include "fhir/search_values.h"
#include "sandbox/access_control.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using base::Fail;
using json = fhir::Json;
using Parameters = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kRouteSystemExport = "/{tenant}/api/FHIR/R4/$export";
constexpr std::string_view kRoutePatientExport = "/{tenant}/api/FHIR/R4/Patient/$export";
constexpr std::string_view kRouteGroupExport = "/{tenant}/api/FHIR/R4/Group/{id}/$export";
constexpr std::string_view kRouteStatus = "/{tenant}/api/FHIR/R4/bulkstatus/{job}";
constexpr std::string_view kRouteFile = "/{tenant}/api/FHIR/R4/bulkfiles/{job}/{file}";

constexpr std::string_view kStatusSegment = "bulkstatus";
constexpr std::string_view kFilesSegment = "bulkfiles";
constexpr std::string_view kNdjsonSuffix = ".ndjson";

// The values _outputFormat may take; all mean NDJSON.
constexpr std::string_view kOutputFormats[] = {"application/fhir+ndjson", "application/ndjson",
                                               "ndjson"};

std::string_view LevelName(ExportLevel level) {
  switch (level) {
    case ExportLevel::kSystem:
      return "[base]/$export";
    case ExportLevel::kPatient:
      return "[base]/Patient/$export";
    case ExportLevel::kGroup:
      return "[base]/Group/{id}/$export";
  }
  return "";
}

bool LevelOffered(const BulkExportSettings& settings, ExportLevel level) {
  switch (level) {
    case ExportLevel::kSystem:
      return settings.system;
    case ExportLevel::kPatient:
      return settings.patient;
    case ExportLevel::kGroup:
      return settings.group;
  }
  return false;
}

// Whether a Prefer header holds `token`; clients send one header with a comma list or several.
bool PreferHas(const http::Request& request, std::string_view token) {
  return std::ranges::any_of(request.headers, [&](const http::Header& header) {
    return header.name == "prefer" && header.value.find(token) != std::string::npos;
  });
}

// A resource type whose resources can be in a patient's compartment.
bool InPatientCompartment(std::string_view type) {
  return type == "Patient" || fhir::R4SearchParameters().Find(type, "patient") != nullptr;
}

// The kick-off's parameters: the query's, and for POST those of a Parameters body.
base::Result<Parameters> KickOffParameters(const http::Request& request) {
  Parameters parameters = http::ParseQuery(request.query);
  if (request.method != "POST" || request.body.empty()) return parameters;

  auto body = fhir::ParseResource(request.body);
  if (!body) return Fail(body.error());
  if (body->value("resourceType", "") != "Parameters") {
    return Fail(ErrorCode::kWrongResourceType,
                "A POST kick-off carries a Parameters resource (or no body).", "resourceType");
  }
  const auto list = body->find("parameter");
  if (list == body->end()) return parameters;
  if (!list->is_array()) {
    return Fail(ErrorCode::kInvalidResource, "Parameters.parameter must be an array.",
                "Parameters.parameter");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& parameter = (*list)[i];
    const std::string where = "Parameters.parameter[" + std::to_string(i) + "]";
    if (!parameter.is_object() || !parameter.contains("name") || !parameter["name"].is_string()) {
      return Fail(ErrorCode::kInvalidResource, "Each parameter needs a name.", where);
    }
    std::optional<std::string> value;
    for (const char* key : {"valueString", "valueInstant", "valueCode", "valueUri"}) {
      const auto found = parameter.find(key);
      if (found != parameter.end() && found->is_string()) value = found->get<std::string>();
    }
    const auto reference = parameter.find("valueReference");
    if (reference != parameter.end() && reference->is_object()) {
      value = reference->value("reference", "");
    }
    if (!value) {
      return Fail(ErrorCode::kInvalidResource,
                  "The parameter needs a valueString, valueInstant, valueCode, valueUri or "
                  "valueReference.",
                  where);
    }
    parameters.emplace_back(parameter["name"].get<std::string>(), std::move(*value));
  }
  return parameters;
}

std::vector<std::string> SplitCommas(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

// Collects what a kick-off asks for. Problems refuse the kick-off, or under
// Prefer: handling=lenient become warnings for the manifest's error files.
class KickOffReader {
 public:
  KickOffReader(const FhirCall& call, ExportLevel level)
      : call_(call),
        tenant_(call.tenant),
        level_(tenant_.build_level()),
        export_level_(level),
        lenient_(PreferHas(call.request, "handling=lenient")) {}

  base::Result<ExportJobRequest> Read() {
    auto parameters = KickOffParameters(call_.request);
    if (!parameters) return Fail(parameters.error());

    std::vector<std::string> named_types;
    bool type_given = false;
    for (const auto& [name, value] : *parameters) {
      if (name == "_type") {
        type_given = true;
        for (std::string& type : SplitCommas(value)) named_types.push_back(std::move(type));
      } else if (name == "_since") {
        if (auto read = ReadSince(value); !read) return Fail(read.error());
      } else if (name == "_outputFormat") {
        if (std::ranges::find(kOutputFormats, value) == std::end(kOutputFormats)) {
          if (auto noted = RefuseOrNote(base::MakeError(
                  ErrorCode::kUnsupportedParameter,
                  "_outputFormat must be application/fhir+ndjson, application/ndjson or ndjson.",
                  "_outputFormat"));
              !noted) {
            return Fail(noted.error());
          }
        }
      } else if (name == "_typeFilter" || name == "_elements" || name == "patient" ||
                 name == "includeAssociatedData") {
        // Limitation: these optional Bulk Data parameters are not implemented; refusing them
        // (rather than ignoring them) keeps a client from taking a wider export for a filtered
        // one.
        if (auto noted = RefuseOrNote(base::MakeError(
                ErrorCode::kUnsupportedParameter,
                name + " is not supported by this server's $export; leave it out, or send "
                       "Prefer: handling=lenient to have it ignored.",
                name));
            !noted) {
          return Fail(noted.error());
        }
      } else {
        if (auto noted = RefuseOrNote(base::MakeError(
                ErrorCode::kUnsupportedParameter,
                "'" + name.substr(0, 64) + "' is not a $export parameter this server knows.",
                name.substr(0, 64)));
            !noted) {
          return Fail(noted.error());
        }
      }
    }

    if (auto chosen = ChooseTypes(type_given, named_types); !chosen) return Fail(chosen.error());
    return std::move(request_);
  }

 private:
  base::Status RefuseOrNote(base::Error error) {
    if (!lenient_) return Fail(std::move(error));
    request_.messages.push_back(
        fhir::OperationOutcomeWith(fhir::IssueSeverity::kWarning, error.info().issue_code,
                                   "Ignored under Prefer: handling=lenient: " + error.diagnostic));
    return {};
  }

  base::Status ReadSince(const std::string& value) {
    const auto since = base::ParseInstant(value);
    if (!since) {
      return Fail(ErrorCode::kInvalidParameter,
                  "_since must be a FHIR instant with a time zone, e.g. 2026-01-31T10:00:00Z.",
                  "_since");
    }
    if (!level_.bulk_export.since) {
      base::Error refused = base::MakeError(
          ErrorCode::kUnsupportedParameter,
          "Tenant '" + tenant_.config().name + "' (build level '" + level_.name +
              "') does not support _since on $export; export everything and compare, or use "
              "another strategy.",
          "_since");
      if (level_.search.epic_codes) refused.epic_code = "4100";
      return RefuseOrNote(std::move(refused));
    }
    request_.since = base::FormatInstant(*since);
    return {};
  }

  // Whether `type` can be exported by this kick-off; the refusal says why not.
  base::Status CheckExportable(const std::string& type) const {
    if (!fhir::IsR4ResourceType(type)) {
      return Fail(ErrorCode::kInvalidParameter,
                  "_type names '" + type.substr(0, 64) + "', which is not a FHIR R4 resource type.",
                  "_type");
    }
    if (!level_.SupportsType(type)) {
      return Fail(ErrorCode::kUnsupportedParameter,
                  "Tenant '" + tenant_.config().name + "' (build level '" + level_.name +
                      "') does not export " + type + ".",
                  "_type");
    }
    if (export_level_ != ExportLevel::kSystem && !InPatientCompartment(type)) {
      return Fail(ErrorCode::kUnsupportedParameter,
                  type + " is outside the patient compartment, so " +
                      std::string(LevelName(export_level_)) +
                      " does not export it; a system-level export does.",
                  "_type");
    }
    return {};
  }

  base::Status ChooseTypes(bool type_given, const std::vector<std::string>& named_types) {
    const AccessGrant* grant = call_.grant;
    if (grant != nullptr && !grant->patient.empty()) {
      return Fail(ErrorCode::kInsufficientScope,
                  "Bulk export needs system/ or user/ scopes; a token for one patient's record "
                  "cannot export.");
    }
    const auto may_read = [&](const std::string& type) {
      return grant == nullptr ? base::Status{} : CheckScope(*grant, type, Interaction::kRead);
    };

    std::set<std::string, std::less<>> chosen;
    if (type_given) {
      if (named_types.empty()) {
        return Fail(ErrorCode::kInvalidParameter, "_type lists no resource type.", "_type");
      }
      for (const std::string& type : named_types) {
        if (auto exportable = CheckExportable(type); !exportable) {
          if (auto noted = RefuseOrNote(exportable.error()); !noted) return noted;
          continue;
        }
        if (auto allowed = may_read(type); !allowed) {
          if (auto noted = RefuseOrNote(allowed.error()); !noted) return noted;
          continue;
        }
        if (chosen.insert(type).second) request_.types.push_back(type);
      }
      return {};
    }

    // Without _type: every type the level serves (in the compartment, for patient cohorts)
    // that the token may read.
    for (const auto& [type, interactions] : level_.resources) {
      if (export_level_ != ExportLevel::kSystem && !InPatientCompartment(type)) continue;
      if (auto allowed = may_read(type); !allowed) {
        request_.messages.push_back(fhir::OperationOutcomeWith(
            fhir::IssueSeverity::kWarning, "forbidden",
            type + " was not exported: the token has no read scope for it."));
        continue;
      }
      request_.types.push_back(type);
    }
    return {};
  }

  const FhirCall& call_;
  Tenant& tenant_;
  const BuildLevel& level_;
  ExportLevel export_level_;
  bool lenient_;
  ExportJobRequest request_;
};

// The members of Group `id` as "Patient/{id}" (inactive members left out).
base::Result<std::set<std::string, std::less<>>> GroupMembers(Tenant& tenant,
                                                              const std::string& id) {
  auto stored = tenant.store().Read("Group", id);
  if (!stored) return Fail(stored.error());
  const json group = json::parse(stored->json, nullptr, /*allow_exceptions=*/false);
  std::set<std::string, std::less<>> members;
  const auto member_list = group.is_object() ? group.find("member") : group.end();
  if (!group.is_object() || member_list == group.end() || !member_list->is_array()) {
    return members;
  }
  for (const json& member : *member_list) {
    if (!member.is_object() || member.value("inactive", false)) continue;
    const auto entity = member.find("entity");
    if (entity == member.end() || !entity->is_object()) continue;
    const auto target = fhir::ReferenceTarget(entity->value("reference", ""));
    if (target && target->starts_with("Patient/")) members.insert(*target);
  }
  return members;
}

base::Result<http::Response> KickOff(const FhirCall& call, ExportLevel level,
                                     const std::string* group_id) {
  Tenant& tenant = call.tenant;
  const BuildLevel& build_level = tenant.build_level();
  if (!LevelOffered(build_level.bulk_export, level)) {
    return Fail(ErrorCode::kInteractionNotSupported,
                "Tenant '" + tenant.config().name + "' (build level '" + build_level.name +
                    "') does not offer " + std::string(LevelName(level)) +
                    "; its CapabilityStatement lists the operations it offers.");
  }
  const std::string& method = call.request.method;
  if (method != "GET" && method != "POST") {
    return Fail(ErrorCode::kMethodNotAllowed,
                "A Bulk Data kick-off is GET or POST, not " + method.substr(0, 16) + ".");
  }
  if (!PreferHas(call.request, "respond-async")) {
    return Fail(ErrorCode::kInvalidParameter,
                "A Bulk Data kick-off needs the header Prefer: respond-async.", "Prefer");
  }
  if (const std::string* accept = call.request.FindHeader("accept");
      accept != nullptr && accept->find("application/fhir+json") == std::string::npos &&
      accept->find("*/*") == std::string::npos) {
    return Fail(ErrorCode::kInvalidParameter,
                "A Bulk Data kick-off answers in application/fhir+json; send that as Accept.",
                "Accept");
  }

  KickOffReader reader(call, level);
  auto request = reader.Read();
  if (!request) return Fail(request.error());
  request->level = level;

  std::string path = "/$export";
  if (level == ExportLevel::kPatient) path = "/Patient/$export";
  if (level == ExportLevel::kGroup) {
    auto members = GroupMembers(tenant, *group_id);
    if (!members) return Fail(members.error());
    request->group_members = std::move(*members);
    path = "/Group/" + *group_id + "/$export";
  }
  request->request_url = call.base_url + path;
  if (!call.request.query.empty()) request->request_url += "?" + call.request.query;
  if (call.grant != nullptr) {
    request->client_id = call.grant->client_id;
    request->requires_access_token = true;
  }

  auto job = tenant.bulk_exports().Start(std::move(*request));
  if (!job) {
    if (job.error().code != ErrorCode::kConcurrencyLimited) return Fail(job.error());
    http::Response busy = ErrorResponse(job.error());
    busy.SetHeader("Retry-After", "1");
    return busy;
  }
  http::Response response = JsonResponse(
      202, fhir::OperationOutcomeWith(fhir::IssueSeverity::kInformation, "informational",
                                      "The export has started; poll the URL in Content-Location."));
  response.SetHeader("Content-Location",
                     call.base_url + "/" + std::string(kStatusSegment) + "/" + *job);
  return response;
}

// Status, cancel and files need what the kick-off had: a token of the same client whose scopes
// still cover the exported types.
base::Status CheckJobAccess(const FhirCall& call, const ExportJobView& job) {
  if (!job.requires_access_token) return {};
  if (call.grant == nullptr) {
    return Fail(ErrorCode::kUnauthenticated,
                "This export was started with a bearer token; its status and files need one "
                "too.");
  }
  if (call.grant->client_id != job.client_id) {
    return Fail(ErrorCode::kInsufficientScope, "This export was started by another client.");
  }
  for (const std::string& type : job.types) {
    if (auto allowed = CheckScope(*call.grant, type, Interaction::kRead); !allowed) {
      return allowed;
    }
  }
  return {};
}

base::Error NoSuchJob() {
  return base::MakeError(ErrorCode::kNotFound,
                         "No export job has this id: it never existed, was cancelled (DELETE), or "
                         "its results expired. Start a new export.");
}

std::string FileUrl(const FhirCall& call, std::string_view job, std::size_t index) {
  return call.base_url + "/" + std::string(kFilesSegment) + "/" + std::string(job) + "/" +
         std::to_string(index) + std::string(kNdjsonSuffix);
}

json Manifest(const FhirCall& call, std::string_view job_id, const ExportJobView& job) {
  json output = json::array();
  json deleted = json::array();
  json error = json::array();
  for (const ExportFileInfo& file : job.files) {
    json item = {
        {"type", file.type}, {"url", FileUrl(call, job_id, file.index)}, {"count", file.count}};
    switch (file.kind) {
      case ExportFileKind::kOutput:
        output.push_back(std::move(item));
        break;
      case ExportFileKind::kDeleted:
        deleted.push_back(std::move(item));
        break;
      case ExportFileKind::kError:
        error.push_back(std::move(item));
        break;
    }
  }
  json manifest = {{"transactionTime", job.transaction_time},
                   {"request", job.request_url},
                   {"requiresAccessToken", job.requires_access_token},
                   {"output", std::move(output)},
                   {"error", std::move(error)}};
  if (!deleted.empty()) manifest["deleted"] = std::move(deleted);
  return manifest;
}

base::Result<http::Response> Status(const FhirCall& call, const std::string& job_id) {
  BulkExportJobs& jobs = call.tenant.bulk_exports();
  const std::optional<ExportJobView> job = jobs.Find(job_id);
  if (!job) return Fail(NoSuchJob());
  if (auto allowed = CheckJobAccess(call, *job); !allowed) return Fail(allowed.error());

  if (call.request.method == "DELETE") {
    if (!jobs.Cancel(job_id)) return Fail(NoSuchJob());
    return JsonResponse(
        202, fhir::OperationOutcomeWith(fhir::IssueSeverity::kInformation, "informational",
                                        "The export was cancelled and its files removed."));
  }
  if (call.request.method != "GET") {
    return Fail(ErrorCode::kMethodNotAllowed,
                "A Bulk Data status URL takes GET (poll) or DELETE (cancel).");
  }

  switch (job->state) {
    case ExportJobView::State::kInProgress: {
      http::Response response;
      response.status = 202;
      response.SetHeader("Retry-After", std::to_string(job->retry_after.count()));
      response.SetHeader("X-Progress", job->progress);
      return response;
    }
    case ExportJobView::State::kFailed:
      return Fail(*job->failure);
    case ExportJobView::State::kComplete:
      break;
  }
  http::Response response;
  response.status = 200;
  response.SetHeader("Content-Type", "application/json");
  response.SetHeader("Expires", base::FormatHttpDate(job->expires));
  response.body = Manifest(call, job_id, *job).dump();
  return response;
}

base::Result<http::Response> DownloadFile(const FhirCall& call, const std::string& job_id,
                                          const std::string& file_name) {
  if (call.request.method != "GET") {
    return Fail(ErrorCode::kMethodNotAllowed, "A Bulk Data file takes GET only.");
  }
  std::size_t index = 0;
  const bool named_well = file_name.ends_with(kNdjsonSuffix) && [&] {
    const std::string_view digits(file_name.data(), file_name.size() - kNdjsonSuffix.size());
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    return error == std::errc() && end == digits.data() + digits.size() && !digits.empty();
  }();
  BulkExportJobs& jobs = call.tenant.bulk_exports();
  const std::optional<ExportJobView> job = jobs.Find(job_id);
  if (!job) return Fail(NoSuchJob());
  if (auto allowed = CheckJobAccess(call, *job); !allowed) return Fail(allowed.error());
  const auto content = named_well ? jobs.File(job_id, index) : nullptr;
  if (content == nullptr) {
    return Fail(ErrorCode::kNotFound,
                "This export has no such file (yet); the manifest at its status URL lists them.");
  }
  http::Response response;
  response.status = 200;
  response.SetHeader("Content-Type", "application/fhir+ndjson");
  response.body = *content;
  return response;
}

}  // namespace

std::optional<BulkExportAnswer> HandleBulkExportCall(const FhirCall& call) {
  const auto& segments = call.segments;
  if (segments.size() == 1 && segments[0] == "$export") {
    return BulkExportAnswer{kRouteSystemExport, KickOff(call, ExportLevel::kSystem, nullptr)};
  }
  if (segments.size() == 2 && segments[0] == "Patient" && segments[1] == "$export") {
    return BulkExportAnswer{kRoutePatientExport, KickOff(call, ExportLevel::kPatient, nullptr)};
  }
  if (segments.size() == 3 && segments[0] == "Group" && segments[2] == "$export") {
    return BulkExportAnswer{kRouteGroupExport, KickOff(call, ExportLevel::kGroup, &segments[1])};
  }
  if (segments.size() == 2 && segments[0] == kStatusSegment) {
    return BulkExportAnswer{kRouteStatus, Status(call, segments[1])};
  }
  if (segments.size() == 3 && segments[0] == kFilesSegment) {
    return BulkExportAnswer{kRouteFile, DownloadFile(call, segments[1], segments[2])};
  }
  return std::nullopt;
}

}  // namespace fhirbridge::sandbox
