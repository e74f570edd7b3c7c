#pragma once

// Bulk Data Access 2.0 $export on a tenant's FHIR base (HL7 FHIR Bulk Data, STU 2):
//
//   GET|POST [base]/$export, [base]/Patient/$export, [base]/Group/{id}/$export   kick-off
//   GET      [base]/bulkstatus/{job}                                              status
//   DELETE   [base]/bulkstatus/{job}                                              cancel
//   GET      [base]/bulkfiles/{job}/{n}.ndjson                                    one file
//
// The build level decides which kick-offs exist, whether _since is accepted, the resources per
// file, a simulated job duration and when results expire (BulkExportSettings). These routes sit
// under the FHIR base, so the tenant's rate limits and injected faults apply to polling and
// downloads as to any request.
//
// Kick-off rules: Prefer: respond-async is required; Accept, when sent, must allow
// application/fhir+json; _outputFormat is application/fhir+ndjson, application/ndjson or
// ndjson; _type is a comma list (repeatable) of types the level serves, and, for Patient and
// Group kick-offs, types in the patient compartment. Parameters this server does not support
// (_typeFilter, _elements, patient, includeAssociatedData, anything unknown), and _since where
// the level refuses it, answer 400 with an OperationOutcome; with Prefer: handling=lenient they
// are ignored instead and each is reported in the manifest's error files.
//
// Access, as the IG asks ("the server SHALL limit the data returned to only those FHIR resources
// for which the client is authorized"): a token needs a system/ or user/ read scope per exported
// type; a patient-context token cannot export. A type named in _type without such a scope is
// refused with 403 (under handling=lenient it is left out and reported); without _type, the
// types the token cannot read are left out and each is reported in the manifest's error files
// as a warning. A job kicked off with a token reports requiresAccessToken true, and its status,
// cancel and files then need a token of the same client whose scopes still cover its types.

#include <optional>
#include <string_view>

#include "base/result.h"
#include "http/message.h"
#include "sandbox/fhir_api.h"

namespace fhirbridge::sandbox {

struct BulkExportAnswer {
  std::string_view route;  // the route template, for logs and metrics
  base::Result<http::Response> result;
};

// Answers `call` when it is one of the routes above; nullopt otherwise.
std::optional<BulkExportAnswer> HandleBulkExportCall(const FhirCall& call);

}  // namespace fhirbridge::sandbox
