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
    CatalogueRow{ErrorCode::kSearchParameterRequired,
                 {"search-parameter-required", 400, "required",
                  "This search needs a parameter it was not given."}},
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
    CatalogueRow{ErrorCode::kResourceTypeNotEnabled,
                 {"resource-type-not-enabled", 403, "forbidden",
                  "This resource type's API is not enabled for the client on this tenant."}},
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
    CatalogueRow{ErrorCode::kUnauthenticated,
                 {"unauthenticated", 401, "login",
                  "A valid bearer token is required; get one from the token endpoint."}},
    CatalogueRow{ErrorCode::kInsufficientScope,
                 {"insufficient-scope", 403, "forbidden",
                  "The access token's scopes do not allow this request."}},
    CatalogueRow{
        ErrorCode::kOAuthInvalidRequest,
        {"invalid_request", 400, "invalid", "The token or authorization request is malformed."}},
    CatalogueRow{ErrorCode::kOAuthInvalidClient,
                 {"invalid_client", 400, "security", "The client could not be authenticated."}},
    CatalogueRow{ErrorCode::kOAuthInvalidGrant,
                 {"invalid_grant", 400, "security",
                  "The code or refresh token is invalid, expired, reused or revoked."}},
    CatalogueRow{
        ErrorCode::kOAuthUnauthorizedClient,
        {"unauthorized_client", 400, "security", "The client may not use this grant here yet."}},
    CatalogueRow{
        ErrorCode::kOAuthUnsupportedGrantType,
        {"unsupported_grant_type", 400, "not-supported", "The grant type is not supported."}},
    CatalogueRow{ErrorCode::kOAuthInvalidScope,
                 {"invalid_scope", 400, "security", "The requested scope is invalid."}},
    CatalogueRow{ErrorCode::kRateLimited,
                 {"rate-limited", 429, "throttled",
                  "This client sent more requests than the tenant allows; wait for the time in "
                  "Retry-After."}},
    CatalogueRow{ErrorCode::kConcurrencyLimited,
                 {"too-many-concurrent-requests", 429, "throttled",
                  "The tenant is busy and its wait queue is full or the wait expired; retry after "
                  "the time in Retry-After."}},
    CatalogueRow{ErrorCode::kMaintenanceWindow,
                 {"maintenance-window", 503, "transient",
                  "The tenant is down for maintenance; retry after the time in Retry-After."}},
    CatalogueRow{ErrorCode::kPagingSessionExpired,
                 {"paging-session-expired", 410, "processing",
                  "The paging session of these results has expired; run the search again."}},
    CatalogueRow{
        ErrorCode::kInjectedServerError,
        {"injected-server-error", 500, "exception", "Injected fault: an internal server error."}},
    CatalogueRow{ErrorCode::kInjectedBadGateway,
                 {"injected-bad-gateway", 502, "transient", "Injected fault: a bad gateway."}},
    CatalogueRow{ErrorCode::kInjectedServiceUnavailable,
                 {"injected-service-unavailable", 503, "transient",
                  "Injected fault: the service is unavailable."}},
    CatalogueRow{
        ErrorCode::kInjectedGatewayTimeout,
        {"injected-gateway-timeout", 504, "timeout", "Injected fault: a gateway timeout."}},
    CatalogueRow{ErrorCode::kSecretUnavailable,
                 {"secret-unavailable", 500, "security",
                  "A key or secret the configuration points to cannot be read."}},
    CatalogueRow{ErrorCode::kVaultUnreadable,
                 {"vault-unreadable", 500, "security",
                  "The token vault cannot be opened with this key: the key is wrong or the file "
                  "was altered."}},
    CatalogueRow{ErrorCode::kDiscoveryFailed,
                 {"discovery-failed", 502, "transient",
                  "The site's SMART configuration could not be discovered."}},
    CatalogueRow{ErrorCode::kTokenRequestFailed,
                 {"token-request-failed", 502, "security",
                  "The site's authorization server did not issue a token."}},
    CatalogueRow{ErrorCode::kCapabilityUnavailable,
                 {"capability-unavailable", 403, "forbidden",
                  "The site did not grant or does not offer what this feature needs."}},
    CatalogueRow{ErrorCode::kInsecureTransport,
                 {"insecure-transport", 400, "security",
                  "Plain HTTP is used only on loopback unless the site explicitly allows it."}},
    CatalogueRow{ErrorCode::kCircuitOpen,
                 {"circuit-open", 503, "transient",
                  "Requests to this site are paused after repeated failures."}},
    CatalogueRow{ErrorCode::kRetriesExhausted,
                 {"retries-exhausted", 503, "transient",
                  "The request still failed after every retry the policy allows."}},
    CatalogueRow{ErrorCode::kRemoteRejected,
                 {"remote-rejected", 502, "processing", "The site answered with an error."}},
    CatalogueRow{
        ErrorCode::kMalformedResponse,
        {"malformed-response", 502, "structure", "The site's response cannot be used as it is."}},
    CatalogueRow{ErrorCode::kLeaseLost,
                 {"lease-lost", 409, "conflict",
                  "The work item's lease expired and another worker may hold it."}},
    CatalogueRow{ErrorCode::kCancelled,
                 {"cancelled", 500, "exception", "The operation was cancelled."}},
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
  Error error;
  error.code = code;
  error.diagnostic = std::move(diagnostic);
  error.location = std::move(location);
  return error;
}

}  // namespace fhirbridge::base
