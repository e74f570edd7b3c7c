#pragma once

// The seeder: fills a FHIR R4 server with the synthetic data generator's output, idempotently.
//
// Over HTTP (SeedFhirServer), the generator's transaction Bundles are posted to the server's
// base URL. Every entry is a conditional create keyed on the resource's business identifier
// (ifNoneExist), and references between entries are urn:uuid fullUrls the server resolves, so
// a second run with the same options creates nothing and a run after a reset restores the whole
// graph. Several patients' Bundles are merged into one transaction of about
// `entries_per_request` entries (shared resources, which every patient's Bundle repeats, are
// sent once per request). A merged transaction the server refuses is retried one patient at a
// time, so that one bad record fails only its own patient.
//
// Into a fhirbridge sandbox (BulkLoadSandbox), the generator's NDJSON (resources with their
// own ids and literal references) is posted to the admin route
// POST /admin/tenants/{tenant}/bulk-load in requests of about `bulk_request_bytes`; each
// request is all or nothing, and resources already present (same type and id) are left alone,
// so this path is idempotent too.
//
// The two paths give the same resources different ids (the server's, or the generator's), so a
// tenant is seeded through one of them: seeding both ways stores each record twice, and the
// second HTTP run then finds two matches per identifier (412).
//
// Politeness: 429 and 503 are retried after the server's Retry-After (delay-seconds or an
// HTTP date; capped by `max_retry_wait`) or, without one, an exponential back-off; so are
// connection failures, which is safe because every request is idempotent. A 401 invalidates
// the token and retries once with a fresh one.
//
// Reports count distinct resources per type: created, already present, failed. Failures keep
// the server's OperationOutcome diagnostics, which fhirbridge's sandbox keeps free of patient
// data; another server's diagnostics are its own, so callers print them to the user and never
// to logs.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_source.h"
#include "base/result.h"
#include "synth/generator.h"

namespace fhirbridge::synth {

struct SeedOptions {
  SynthOptions synth;                        // what to generate; the format is chosen by the path
  std::size_t entries_per_request = 500;     // HTTP: entries per merged transaction (at least 1)
  std::size_t bulk_request_bytes = 4 << 20;  // bulk: NDJSON bytes per request (at most)
  int max_attempts = 6;                      // per request, retries included
  std::chrono::milliseconds max_retry_wait{30000};
  std::chrono::milliseconds first_backoff{200};  // doubles per retry without Retry-After
  std::chrono::milliseconds request_timeout{300000};
};

struct SeedTypeCounts {
  std::uint64_t created = 0;
  std::uint64_t already_present = 0;
  std::uint64_t failed = 0;
};

struct SeedFailure {
  int status = 0;               // the server's HTTP status
  std::uint64_t resources = 0;  // resources of the refused request
  std::string diagnostics;      // the OperationOutcome's issue codes and diagnostics
};

struct SeedReport {
  std::map<std::string, SeedTypeCounts> by_type;
  std::vector<SeedFailure> failures;  // the first kMaxReportedFailures
  std::uint64_t failed_requests = 0;
  std::uint64_t requests = 0;  // sent, retries included
  std::uint64_t retries = 0;
  std::uint64_t bytes_sent = 0;

  std::uint64_t Created() const;
  std::uint64_t AlreadyPresent() const;
  std::uint64_t Failed() const;
};

inline constexpr std::size_t kMaxReportedFailures = 20;

// Seeds the FHIR server at `fhir_base` (e.g. "http://127.0.0.1:8090/open-lab/api/FHIR/R4") over
// HTTP with transaction Bundles. `tokens` (may be null: no Authorization header) provides the
// bearer token. Returns the report, in which refused patients count as failed; fails as a whole
// (kRemoteRejected with the server's diagnostics, kRetriesExhausted, kTokenRequestFailed,
// kIoFailure, kMalformedResponse) when the server cannot be seeded at all: it is unreachable,
// refuses the token, or does not support transactions.
base::Result<SeedReport> SeedFhirServer(const SeedOptions& options, std::string_view fhir_base,
                                        auth::TokenSource* tokens);

// Bulk-loads the generated NDJSON into tenant `tenant` of the fhirbridge sandbox at `origin`
// (e.g. "http://127.0.0.1:8090"). Fails as a whole on the first refused request (kRemoteRejected
// naming the line the sandbox reported); requests before it stay loaded.
base::Result<SeedReport> BulkLoadSandbox(const SeedOptions& options, std::string_view origin,
                                         std::string_view tenant);

// Lines for people: per type created / already present / failed, totals, failures.
std::string FormatSeedReport(const SeedReport& report, double seconds);

// The report as JSON text, for --json.
std::string SeedReportJson(const SeedReport& report, double seconds);

}  // namespace fhirbridge::synth
