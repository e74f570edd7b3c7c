#include "sync/site_sync.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <utility>

#include "fhir/json.h"
#include "sync/site_page_source.h"

namespace fhirbridge::sync {

std::map<std::string, TypePermission> PermissionsFromMatrix(const auth::CapabilityMatrix& matrix,
                                                            const std::vector<std::string>& types) {
  std::map<std::string, TypePermission> permissions;
  for (const std::string& type : types) {
    const auth::CapabilityCell search = matrix.Check(type, auth::Interaction::kSearch);
    const auth::CapabilityCell read = matrix.Check(type, auth::Interaction::kRead);
    const auth::CapabilityCell history = matrix.Check(type, auth::Interaction::kHistoryType);
    TypePermission permission;
    permission.search = search.allowed;
    permission.read = read.allowed;
    permission.history = history.allowed;
    for (const auth::CapabilityCell* cell : {&search, &read, &history}) {
      if (!cell->allowed) {
        permission.reason = cell->reason;
        break;
      }
    }
    permissions.emplace(type, std::move(permission));
  }
  return permissions;
}

base::Result<std::vector<std::string>> ReadCohortFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return base::Fail(base::ErrorCode::kIoFailure, "cannot read the patient cohort file", path);
  }
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(file, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line.front() != '#') ids.push_back(line);
  }
  return ids;
}

namespace {

base::Result<std::vector<std::string>> CohortFromGroup(sites::SiteConnection& connection,
                                                       const std::string& group_id) {
  traffic::SiteRequest request;
  request.target = "Group/" + group_id;
  request.priority = traffic::Priority::kBackground;
  auto response = connection.Send(request, sites::MaintenanceMode::kWait);
  if (!response) return base::Fail(response.error());
  if (response->status() != 200) {
    return base::Fail(base::ErrorCode::kRemoteRejected,
                      "the site answered " + std::to_string(response->status()) +
                          " to reading the cohort's Group",
                      connection.config().name);
  }
  auto group = fhir::ParseJson(response->http.body);
  if (!group || !group->is_object() || group->value("resourceType", "") != "Group") {
    return base::Fail(base::ErrorCode::kMalformedResponse, "the cohort's Group is not a Group",
                      connection.config().name);
  }
  std::vector<std::string> ids;
  for (const fhir::Json& member : group->value("member", fhir::Json::array())) {
    const std::string reference =
        member.value("entity", fhir::Json::object()).value("reference", "");
    if (reference.starts_with("Patient/")) ids.push_back(reference.substr(8));
  }
  return ids;
}

}  // namespace

base::Result<std::vector<std::string>> ResolvePatientCohort(sites::SiteConnection& connection) {
  const std::string& cohort = connection.config().patient_cohort;
  if (cohort.empty() || cohort == "all") return std::vector<std::string>{};
  if (cohort.starts_with("file:")) return ReadCohortFile(cohort.substr(5));
  if (cohort.starts_with("group:")) return CohortFromGroup(connection, cohort.substr(6));
  return base::Fail(base::ErrorCode::kConfigInvalid,
                    "sync.patient_cohort is \"all\", \"group:<id>\" or \"file:<path>\"",
                    connection.config().name);
}

base::Result<PlanInputs> SitePlanInputs(sites::SiteConnection& connection) {
  const auth::CapabilityMatrix* matrix = connection.capabilities();
  const fhir::Json* statement = connection.capability_statement();
  if (matrix == nullptr || statement == nullptr) {
    return base::Fail(base::ErrorCode::kConfigInvalid, "the site's capabilities are not loaded yet",
                      connection.config().name);
  }
  auto declared = ParseCapabilityStatement(statement->dump());
  if (!declared) return base::Fail(declared.error());
  PlanInputs inputs;
  inputs.types = connection.config().sync_resource_types;
  if (inputs.types.empty()) {
    for (const auto& [type, offered] : declared->types) inputs.types.push_back(type);
  }
  inputs.permissions = PermissionsFromMatrix(*matrix, inputs.types);
  inputs.capabilities = std::move(*declared);
  auto cohort = ResolvePatientCohort(connection);
  if (!cohort) return base::Fail(cohort.error());
  inputs.patient_cohort = std::move(*cohort);
  // A Group cohort is also the Group a Bulk Data export can run on.
  const std::string& configured = connection.config().patient_cohort;
  if (configured.starts_with("group:")) inputs.export_group_id = configured.substr(6);
  return inputs;
}

SyncOptions SiteSyncOptions(sites::SiteConnection& connection, std::vector<std::string> cohort) {
  const sites::SiteConfig& config = connection.config();
  SyncOptions options;
  options.site = config.name;
  options.base_url = config.base_url;
  options.patient_cohort = std::move(cohort);
  // Bulk Data files download in parallel, one source per thread, within the site's limit on
  // requests in flight (the connection enforces it across threads in any case).
  options.export_parallel_downloads = std::max(1, static_cast<int>(config.max_concurrent));
  options.download_sources = [&connection]() -> std::unique_ptr<PageSource> {
    return std::make_unique<SitePageSource>(connection, sites::MaintenanceMode::kWait);
  };
  return options;
}

}  // namespace fhirbridge::sync
