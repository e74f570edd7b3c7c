#pragma once

// Sync by site name: what a site bundle and its live capability matrix say about a sync run.
// The types come from sync.resource_types (every type the CapabilityStatement declares when the
// bundle lists none), the permissions from the capability matrix (so the plan names the missing
// scope as the reason a type cannot be synced), and the patient cohort from sync.patient_cohort.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "auth/capabilities.h"
#include "base/result.h"
#include "sites/site_connection.h"
#include "sync/engine.h"
#include "sync/plan.h"

namespace fhirbridge::sync {

// Search, read and type history of each of `types` as the matrix decides them; the reason is
// the first refusal's (search, then read, then history).
std::map<std::string, TypePermission> PermissionsFromMatrix(const auth::CapabilityMatrix& matrix,
                                                            const std::vector<std::string>& types);

// Patient ids from a file, one a line; blank lines and lines starting with '#' are skipped.
// kIoFailure when the file cannot be read.
base::Result<std::vector<std::string>> ReadCohortFile(const std::string& path);

// The patient ids of sync.patient_cohort: none for "all"; the lines of the file for
// "file:<path>" (blank lines and '#' comments skipped); the Patient members of the Group for
// "group:<id>", read through the connection. kConfigInvalid for another form, kIoFailure for an
// unreadable file, kRemoteRejected / kMalformedResponse for a Group that cannot be read.
base::Result<std::vector<std::string>> ResolvePatientCohort(sites::SiteConnection& connection);

// The plan inputs of a connection whose capabilities are loaded (SiteConnection::
// LoadCapabilities): kConfigInvalid before; kMalformedResponse when the statement does not read.
base::Result<PlanInputs> SitePlanInputs(sites::SiteConnection& connection);

// The engine's options for the site: its name, base URL and cohort, and Bulk Data downloads
// through `connection` (which must outlive the options) up to traffic.max_concurrent at once.
SyncOptions SiteSyncOptions(sites::SiteConnection& connection, std::vector<std::string> cohort);

}  // namespace fhirbridge::sync
