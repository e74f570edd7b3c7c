#include "cli/smoke_command.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "auth/capabilities.h"
#include "auth/token_source.h"
#include "base/clock.h"
#include "cli/exit_codes.h"
#include "cli/site_options.h"
#include "observe/log.h"
#include "sites/site_connection.h"
#include "verify/journey.h"
#include "verify/known_patients.h"
#include "verify/requester.h"
#include "verify/site_requester.h"
#include "verify/smoke_report.h"
#include "verify/smoke_runner.h"

namespace fhirbridge::cli {
namespace {

// The environment variable a bearer token is taken from when --token is not given. Preferred to
// --token, which other users of the machine can read in the process list.
constexpr const char* kTokenVariable = "FHIRBRIDGE_TOKEN";

struct SmokeCommandOptions {
  std::vector<std::string> site_names;
  std::string sites_folder = "sites";
  std::string home;
  std::string fhir_base;
  std::string site;
  std::string token;
  std::string out;
  std::string formats = "md,json,junit";
  bool json = false;
  std::vector<std::string> patients;
  std::string patients_file;
  std::vector<std::string> expected_extensions;
  int timeout_ms = 30000;
  std::string log_level = "warning";
};

int UsageError(const base::Error& error) {
  std::cerr << "fhirbridge smoke: " << error.ToString() << "\n";
  return kExitUsage;
}

base::Result<std::vector<verify::KnownPatient>> ChoosePatients(const SmokeCommandOptions& command) {
  if (!command.patients_file.empty()) {
    return verify::LoadKnownPatients(command.patients_file, "patient");
  }
  if (command.patients.empty()) return verify::SandboxBaselinePatients();
  std::vector<verify::KnownPatient> patients;
  for (std::size_t i = 0; i < command.patients.size(); ++i) {
    auto patient =
        verify::ParseIdentifierArgument(command.patients[i], "patient-" + std::to_string(i + 1));
    if (!patient) return std::unexpected(patient.error());
    patients.push_back(std::move(*patient));
  }
  return patients;
}

// "Patient=http://..." into the site's expected extensions.
base::Status AddExpectedExtension(std::string_view text, verify::SmokeSite& site) {
  const std::size_t equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == text.size()) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "an expected extension is given as TYPE=URL, e.g. Patient=http://...",
                      "--expect-extension");
  }
  site.expected_extensions[std::string(text.substr(0, equals))].emplace_back(
      text.substr(equals + 1));
  return {};
}

// The site's name in reports when --site is not given: the FHIR base's host and port.
std::string DefaultSiteName(std::string_view fhir_base) {
  std::string_view rest = fhir_base.substr(fhir_base.find("://") + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

int RunSmokeCommand(const SmokeCommandOptions& command) {
  const auto level = observe::ParseLogLevel(command.log_level);
  if (!level) {
    return UsageError(base::MakeError(base::ErrorCode::kInvalidParameter,
                                      "the log level is debug, info, warning or error",
                                      "--log-level"));
  }
  observe::SetMinimumLogLevel(*level);
  if (command.site_names.empty() == command.fhir_base.empty()) {
    return UsageError(base::MakeError(base::ErrorCode::kInvalidParameter,
                                      "name one or more sites, or give --fhir-base, not both",
                                      "SITE"));
  }
  if (!command.fhir_base.empty() && !command.fhir_base.starts_with("http://") &&
      !command.fhir_base.starts_with("https://")) {
    return UsageError(base::MakeError(base::ErrorCode::kInvalidParameter,
                                      "the FHIR base must be an http:// or https:// URL",
                                      "--fhir-base"));
  }
  auto formats = verify::ParseReportFormats(command.formats);
  if (!formats) return UsageError(formats.error());
  if (!command.patients.empty() && !command.patients_file.empty()) {
    return UsageError(base::MakeError(base::ErrorCode::kInvalidParameter,
                                      "give known patients either with --patient or with "
                                      "--patients-file, not both",
                                      "--patients-file"));
  }

  std::map<std::string, std::vector<std::string>, std::less<>> expected_extensions;
  {
    verify::SmokeSite parsed;
    for (const auto& text : command.expected_extensions) {
      if (auto added = AddExpectedExtension(text, parsed); !added) return UsageError(added.error());
    }
    expected_extensions = std::move(parsed.expected_extensions);
  }
  auto patients = ChoosePatients(command);
  if (!patients) {
    std::cerr << "fhirbridge smoke: " << patients.error().ToString() << "\n";
    return patients.error().code == base::ErrorCode::kInvalidParameter ? kExitUsage : kExitConfig;
  }

  const verify::Journey journey = verify::DefaultJourney();
  verify::SmokeReport report;
  report.journey = journey.name;
  report.generated_at = base::FormatInstant(std::chrono::system_clock::now());

  if (!command.fhir_base.empty()) {
    // Ad hoc: a token from the flag, else from the environment, else none (the token step is
    // skipped); the site client with no rate limit of its own.
    std::string token = command.token;
    if (token.empty()) {
      if (const char* value = std::getenv(kTokenVariable); value != nullptr) token = value;
    }
    std::optional<auth::FixedTokenSource> token_source;
    if (!token.empty()) token_source.emplace(token);
    sites::SiteConfig config;
    config.name = command.site.empty() ? DefaultSiteName(command.fhir_base) : command.site;
    config.base_url = command.fhir_base;
    while (config.base_url.ends_with('/')) config.base_url.pop_back();
    config.allow_plain_http = config.base_url.starts_with("http://");
    config.requests_per_second = 0;
    config.request_timeout = std::chrono::milliseconds(command.timeout_ms);
    config.max_retry_time = std::chrono::milliseconds(command.timeout_ms);
    auto connection = sites::SiteConnection::WithTokens(
        config, token_source ? &*token_source : nullptr, sites::SiteConnectionOptions{});
    if (!connection) return UsageError(connection.error());
    verify::SiteRequester requester(**connection);
    verify::SmokeSite site;
    site.name = config.name;
    site.fhir_base = config.base_url;
    site.patients = *patients;
    site.expected_extensions = expected_extensions;
    verify::SmokeDependencies dependencies;
    dependencies.requester = &requester;
    dependencies.token_source = token_source ? &*token_source : nullptr;
    report.sites.push_back(verify::RunSmoke(journey, site, dependencies));
  } else {
    const auto environment = sites::EnvironmentVariables::FromProcess();
    sites::SiteLocation location;
    location.folder = command.sites_folder;
    location.home = command.home;
    for (const std::string& name : command.site_names) {
      auto opened = sites::OpenSiteByName(location, name, environment);
      if (!opened) {
        std::cerr << "fhirbridge smoke: " << opened.error().ToString() << "\n";
        return kExitConfig;
      }
      sites::SiteConnection& connection = *opened->connection;
      verify::SiteRequester requester(connection);
      std::optional<base::Error> problem;
      verify::SmokeDependencies with_requester =
          verify::SiteSmokeDependencies(connection, &problem);
      if (problem) {
        std::cerr << "fhirbridge smoke: " << name
                  << ": no capability matrix: " << problem->ToString() << "\n";
      }
      with_requester.requester = &requester;
      verify::SmokeSite site;
      site.name = connection.config().name;
      site.fhir_base = connection.config().base_url;
      site.patients = *patients;
      site.expected_extensions = expected_extensions;
      report.sites.push_back(verify::RunSmoke(journey, site, with_requester));
    }
  }

  auto written = verify::WriteReports(report, command.out, *formats);
  if (!written) {
    std::cerr << "fhirbridge smoke: " << written.error().ToString() << "\n";
    return kExitFailure;
  }

  if (command.json) {
    nlohmann::json summary = verify::RenderJson(report);
    summary["reports"] = *written;
    std::cout << summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& result : report.sites) {
      const verify::LatencySummary latency = result.Latency();
      std::cout << result.site << ": " << (result.Passed() ? "PASSED" : "FAILED") << ", "
                << result.Count(verify::StepOutcome::kPassed) << " passed, "
                << result.Count(verify::StepOutcome::kFailed) << " failed, "
                << result.Count(verify::StepOutcome::kSkipped) << " skipped; latency p50 "
                << latency.p50_ms << " ms, p95 " << latency.p95_ms << " ms, p99 " << latency.p99_ms
                << " ms\n";
    }
    for (const auto& path : *written) std::cout << "report: " << path << "\n";
  }
  return report.Passed() ? kExitOk : kExitFailure;
}

}  // namespace

void AddSmokeCommand(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<SmokeCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "smoke",
      "Run the smoke journey (discovery, token, known patients' records) against a FHIR R4 "
      "server as synthetic transactions, and write Markdown, JSON and JUnit XML reports. Exit "
      "codes: 0 every step passed or was skipped, 1 a step failed or a report could not be "
      "written, 2 bad options, 3 a bad known patients file");
  command->add_option("SITE", options->site_names,
                      "Sites to check by name (sites/NAME.toml), one report for all; each is "
                      "reached with its bundle's authorisation and traffic limits, and steps its "
                      "live capability matrix does not allow are skipped with the reason");
  AddSiteLocationOptions(*command, options->sites_folder, options->home);
  command->add_option("--fhir-base", options->fhir_base,
                      "Instead of sites: an ad-hoc FHIR base URL, e.g. "
                      "http://127.0.0.1:8090/alpine-health/api/FHIR/R4");
  command->add_option("--site", options->site,
                      "With --fhir-base: the site's name in reports (default: the base URL's "
                      "host and port)");
  command->add_option(
      "--token", options->token,
      "With --fhir-base: bearer token to send (default: the FHIRBRIDGE_TOKEN environment variable, "
      "which is safer; without either, requests carry no token)");
  command->add_option("--out", options->out, "Directory for the reports (created if missing)")
      ->required();
  command->add_option("--format", options->formats,
                      "Reports to write, comma-separated: md, json, junit (default all three: "
                      "smoke-report.md, smoke-report.json, smoke-report.xml)");
  command->add_flag("--json", options->json,
                    "Print the JSON report (with the paths written) on standard output instead "
                    "of a summary");
  command->add_option("--patient", options->patients,
                      "A known patient's business identifier as SYSTEM|VALUE (repeatable; "
                      "default: the sandbox's baseline patients)");
  command->add_option("--patients-file", options->patients_file,
                      "Known patients from an NDJSON or Bundle file of Patient resources, e.g. "
                      "data/synth/named-set/Patient.ndjson (each patient's MRN is used)");
  command->add_option("--expect-extension", options->expected_extensions,
                      "An extension every resource of a type must carry, as TYPE=URL "
                      "(repeatable), e.g. Patient=http://hl7.org/fhir/us/core/StructureDefinition/"
                      "us-core-race");
  command->add_option("--timeout-ms", options->timeout_ms, "Timeout per request (default 30000)")
      ->check(CLI::Range(1, 600000));
  command->add_option("--log-level", options->log_level,
                      "Log lines on standard error: debug, info (one line per step), warning "
                      "(failed steps; the default) or error");
  command->callback([&run, options] { run = [options] { return RunSmokeCommand(*options); }; });
}

}  // namespace fhirbridge::cli
