#include "cli/synth_command.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "synth/generator.h"
#include "synth/output.h"

namespace fhirbridge::cli {
namespace {

struct SynthCommandOptions {
  std::uint64_t patients = 100;
  std::uint64_t seed = 1;
  std::string profile = "realistic";
  std::string format = "ndjson";
  std::string out;
  std::vector<std::string> defects;
  std::string organisation_name = synth::SynthOptions{}.organisation_name;
  bool overwrite = false;
};

int Report(const base::Error& error) {
  std::cerr << "fhirbridge synth: " << error.ToString() << "\n";
  return error.code == base::ErrorCode::kInvalidParameter ? kExitUsage : kExitFailure;
}

int RunSynth(const SynthCommandOptions& command) {
  synth::SynthOptions options;
  options.patients = command.patients;
  options.seed = command.seed;
  options.organisation_name = command.organisation_name;
  options.format =
      command.format == "bundles" ? synth::OutputFormat::kBundles : synth::OutputFormat::kNdjson;
  // CLI11 has already checked the profile's name.
  options.rates = synth::DefectRates::ForProfile(
      synth::ProfileFromName(command.profile).value_or(synth::Profile::kRealistic));
  for (const auto& override_text : command.defects) {
    if (auto applied = options.rates.ApplyOverride(override_text); !applied) {
      return Report(applied.error());
    }
  }

  auto output = synth::DirectoryOutput::Open(command.out, command.overwrite);
  if (!output) return Report(output.error());

  const auto started = std::chrono::steady_clock::now();
  auto summary = synth::Generate(options, **output);
  auto closed = (*output)->Close();
  if (!summary) return Report(summary.error());
  if (!closed) return Report(closed.error());
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  std::cout << synth::FormatSummary(options, *summary, elapsed.count()) << "\n";
  return kExitOk;
}

}  // namespace

void AddSynthCommand(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<SynthCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "synth",
      "Generate deterministic, deliberately messy synthetic FHIR R4 data (Epic-flavoured) with a "
      "manifest of every defect injected");
  command->add_option("--patients", options->patients, "Number of patients (default 100)")
      ->check(CLI::Range(std::uint64_t{1}, synth::kMaxPatients));
  command->add_option("--seed", options->seed,
                      "Seed; the same seed and options give byte-identical output (default 1)");
  command
      ->add_option("--profile", options->profile,
                   "clean (no defects), realistic (modest rates) or negative (high rates); "
                   "default realistic")
      ->check(CLI::IsMember({"clean", "realistic", "negative"}));
  command
      ->add_option("--format", options->format,
                   "ndjson (one file per resource type) or bundles (one transaction Bundle per "
                   "patient, in Bundle.ndjson); default ndjson")
      ->check(CLI::IsMember({"ndjson", "bundles"}));
  command->add_option("--out", options->out, "Output directory (created if missing)")->required();
  command->add_option("--defect", options->defects,
                      "Override one defect's rate as name=rate (repeatable), e.g. --defect "
                      "duplicate-demographics=0.1. Defects: " +
                          synth::DefectNameList());
  command->add_option("--organisation-name", options->organisation_name,
                      "Name of the simulated organisation; it also decides its OIDs");
  command->add_flag("--overwrite", options->overwrite,
                    "Replace the .ndjson files already in the output directory");
  command->callback([&run, options] { run = [options] { return RunSynth(*options); }; });
}

}  // namespace fhirbridge::cli
