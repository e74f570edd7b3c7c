#include "base/error.h"

#include <array>
#include <cassert>

namespace fhirbridge::base {
namespace {

struct CatalogueRow {
  ErrorCode code;
  ErrorInfo info;
};

// The catalogue, in ErrorCode order; a static_assert below keeps the two in step.
constexpr std::array kCatalogue = {
    CatalogueRow{ErrorCode::kInvalidJson,
                 {"invalid-json", 400, "structure", "The request body is not valid JSON."}},
    CatalogueRow{
        ErrorCode::kInvalidResource,
        {"invalid-resource", 400, "structure", "The request body is not a valid FHIR resource."}},
    CatalogueRow{ErrorCode::kWrongResourceType,
                 {"wrong-resource-type", 400, "invalid",
                  "The resourceType of the body does not match the request URL."}},
    CatalogueRow{ErrorCode::kIdMismatch,
                 {"id-mismatch", 400, "invalid",
                  "The id in the body does not match the id in the request URL."}},
    CatalogueRow{ErrorCode::kMissingId,
                 {"missing-id", 400, "required", "An update needs an id in the body."}},
    CatalogueRow{ErrorCode::kInvalidParameter,
                 {"invalid-parameter", 400, "invalid", "A request parameter has a bad value."}},
    CatalogueRow{ErrorCode::kUnsupportedParameter,
                 {"unsupported-parameter", 400, "not-supported",
                  "A request parameter is not supported here."}},
    CatalogueRow{ErrorCode::kInvalidBundle,
                 {"invalid-bundle", 400, "invalid",
                  "The Bundle cannot be processed as a batch or transaction."}},
    CatalogueRow{ErrorCode::kInvalidPrecondition,
                 {"invalid-precondition", 400, "invalid", "A conditional header has a bad value."}},
    CatalogueRow{ErrorCode::kBodyTooLarge,
                 {"body-too-large", 413, "too-long", "The request body exceeds the size limit."}},
    CatalogueRow{
        ErrorCode::kHeaderTooLarge,
        {"header-too-large", 431, "too-long", "The request headers exceed the size limit."}},
    CatalogueRow{ErrorCode::kMalformedHttp,
                 {"malformed-http", 400, "structure", "The HTTP request is malformed."}},
    CatalogueRow{ErrorCode::kUnsupportedMediaType,
                 {"unsupported-media-type", 415, "not-supported",
                  "Only application/fhir+json and application/json bodies are accepted."}},
    CatalogueRow{ErrorCode::kUnknownRoute,
                 {"unknown-route", 404, "not-found", "No route matches this request."}},
    CatalogueRow{ErrorCode::kUnknownTenant,
                 {"unknown-tenant", 404, "not-found", "No tenant has this name."}},
    CatalogueRow{
        ErrorCode::kUnknownResourceType,
        {"unknown-resource-type", 404, "not-supported", "This is not a FHIR R4 resource type."}},
    CatalogueRow{ErrorCode::kResourceTypeNotSupported,
                 {"resource-type-not-supported", 404, "not-supported",
                  "The tenant's build level does not support this resource type."}},
    CatalogueRow{ErrorCode::kInteractionNotSupported,
                 {"interaction-not-supported", 405, "not-supported",
                  "The tenant's build level does not support this interaction."}},
    CatalogueRow{ErrorCode::kMethodNotAllowed,
                 {"method-not-allowed", 405, "not-supported",
                  "This HTTP method is not allowed on this route."}},
    CatalogueRow{ErrorCode::kNotFound,
                 {"not-found", 404, "not-found", "The resource does not exist."}},
    CatalogueRow{
        ErrorCode::kVersionNotFound,
        {"version-not-found", 404, "not-found", "The resource has no version with this id."}},
    CatalogueRow{ErrorCode::kGone, {"gone", 410, "deleted", "The resource has been deleted."}},
    CatalogueRow{ErrorCode::kVersionConflict,
                 {"version-conflict", 412, "conflict",
                  "The resource has changed since the version given in If-Match."}},
    CatalogueRow{ErrorCode::kMultipleMatches,
                 {"multiple-matches", 412, "multiple-matches",
                  "The condition matches more than one resource."}},
    CatalogueRow{ErrorCode::kTransactionFailed,
                 {"transaction-failed", 400, "processing",
                  "The transaction failed and none of its entries was applied."}},
    CatalogueRow{ErrorCode::kConfigInvalid,
                 {"config-invalid", 400, "invalid", "The configuration is invalid."}},
    CatalogueRow{ErrorCode::kConfigNotFound,
                 {"config-not-found", 404, "not-found", "The configuration file was not found."}},
    CatalogueRow{ErrorCode::kStorageFailure,
                 {"storage-failure", 500, "exception", "The storage layer failed."}},
    CatalogueRow{ErrorCode::kIoFailure, {"io-failure", 500, "exception", "An I/O call failed."}},
    CatalogueRow{ErrorCode::kInternal,
                 {"internal", 500, "exception", "An internal error occurred."}},
};

constexpr bool CatalogueIsInCodeOrder() {
  for (std::size_t i = 0; i < kCatalogue.size(); ++i) {
    if (static_cast<std::size_t>(kCatalogue[i].code) != i) return false;
  }
  return static_cast<std::size_t>(ErrorCode::kInternal) + 1 == kCatalogue.size();
}
static_assert(CatalogueIsInCodeOrder(), "kCatalogue rows must follow the ErrorCode enum order");

}  // namespace

const ErrorInfo& Describe(ErrorCode code) {
  const auto index = static_cast<std::size_t>(code);
  assert(index < kCatalogue.size() && "every ErrorCode has a catalogue row");
  return kCatalogue[index].info;
}

std::string Error::ToString() const {
  std::string text = diagnostic.empty() ? std::string(info().message) : diagnostic;
  if (!location.empty()) text += " (at " + location + ")";
  return text;
}

Error MakeError(ErrorCode code, std::string diagnostic, std::string location) {
  return Error{code, std::move(diagnostic), std::move(location)};
}

}  // namespace fhirbridge::base
