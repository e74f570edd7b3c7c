#pragma once

// The one error catalogue of fhirbridge. Every expected failure is an ErrorCode; the catalogue
// gives each code its HTTP status, its FHIR OperationOutcome issue code and a default message,
// so the sandbox's answers, the CLI's messages and the logs always agree.

#include <string>
#include <string_view>

namespace fhirbridge::base {

enum class ErrorCode {
  // Input and protocol.
  kInvalidJson,
  kInvalidResource,
  kWrongResourceType,
  kIdMismatch,
  kMissingId,
  kInvalidParameter,
  kUnsupportedParameter,
  kSearchParameterRequired,
  kInvalidBundle,
  kInvalidPrecondition,
  kBodyTooLarge,
  kHeaderTooLarge,
  kMalformedHttp,
  kUnsupportedMediaType,
  // Routing and capability.
  kUnknownRoute,
  kUnknownTenant,
  kUnknownResourceType,
  kResourceTypeNotSupported,
  kResourceTypeNotEnabled,
  kInteractionNotSupported,
  kMethodNotAllowed,
  // Resource state.
  kNotFound,
  kVersionNotFound,
  kGone,
  kVersionConflict,
  kMultipleMatches,
  kTransactionFailed,
  // Authorization (SMART and OAuth 2.0). The OAuth error codes keep their RFC 6749 meaning.
  kUnauthenticated,
  kInsufficientScope,
  kOAuthInvalidRequest,
  kOAuthInvalidClient,
  kOAuthInvalidGrant,
  kOAuthUnauthorizedClient,
  kOAuthUnsupportedGrantType,
  kOAuthInvalidScope,
  // Traffic shaping and injected faults.
  kRateLimited,
  kConcurrencyLimited,
  kMaintenanceWindow,
  kPagingSessionExpired,
  kInjectedServerError,
  kInjectedBadGateway,
  kInjectedServiceUnavailable,
  kInjectedGatewayTimeout,
  // The runtime talking to sites.
  kSecretUnavailable,
  kVaultUnreadable,
  kDiscoveryFailed,
  kTokenRequestFailed,
  kCapabilityUnavailable,
  kInsecureTransport,
  kCircuitOpen,
  kRetriesExhausted,
  kRemoteRejected,
  kMalformedResponse,
  kLeaseLost,
  kCancelled,
  // Configuration.
  kConfigInvalid,
  kConfigNotFound,
  // Infrastructure.
  kStorageFailure,
  kIoFailure,
  kInternal,
};

// One row of the catalogue.
struct ErrorInfo {
  std::string_view name;        // stable, machine-readable, e.g. "not-found"; used in logs
  int http_status;              // status the sandbox answers with
  std::string_view issue_code;  // OperationOutcome.issue.code (FHIR IssueType)
  std::string_view message;     // default human-readable message
};

// Returns the catalogue row for `code`. Never fails: every code has a row.
const ErrorInfo& Describe(ErrorCode code);

// An expected failure: a catalogue code plus a diagnostic specific to this occurrence (what was
// wrong and, where it helps, what to do next) and an optional location (a FHIRPath expression,
// a header name, or "file:line:column" for configuration). Must never hold PHI: diagnostics name
// fields and positions, never patient values.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string diagnostic;
  std::string location;
  // Epic's own code for this refusal (e.g. "4111"), for the sandbox's Epic-like build levels;
  // OperationOutcomes carry it beside the catalogue code. Empty otherwise.
  std::string epic_code;

  const ErrorInfo& info() const { return Describe(code); }
  // "diagnostic (at location)" or the catalogue message when no diagnostic was given.
  std::string ToString() const;
};

Error MakeError(ErrorCode code, std::string diagnostic = {}, std::string location = {});

}  // namespace fhirbridge::base
