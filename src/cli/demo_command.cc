#include "cli/demo_command.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/exit_codes.h"
#include "demo/demo.h"
#include "fhir/json.h"

namespace fhirbridge::cli {
namespace {

struct DemoCommandOptions {
  std::string folder = "fhirbridge-demo";
  bool fresh = false;
  std::uint64_t patients = demo::DemoOptions{}.patients;
  int port = demo::DemoOptions{}.port;
  bool json = false;
};

int RunDemoCommand(const DemoCommandOptions& command) {
  demo::DemoOptions options;
  options.folder = command.folder;
  options.fresh = command.fresh;
  options.patients = command.patients;
  options.port = static_cast<unsigned short>(command.port);
  auto summary = demo::RunDemo(options);
  if (!summary) {
    std::cerr << "fhirbridge demo: " << summary.error().ToString() << "\n";
    return summary.error().code == base::ErrorCode::kConfigInvalid ? kExitConfig : kExitFailure;
  }
  if (command.json) {
    std::cout << demo::SummaryJson(*summary).dump(2) << "\n";
  } else {
    std::cout << demo::FormatSummary(*summary);
  }
  return summary->Succeeded() ? kExitOk : kExitFailure;
}

}  // namespace

void AddDemoCommand(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<DemoCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "demo",
      "Start the embedded sandbox with three organisations that differ as real sites do "
      "(narrow scopes; a strict rate limit and a maintenance window; injected faults on an "
      "Epic-strict build level), seed them, register the app, write site bundles, then sync "
      "each into one SQLite store, smoke-test it and print a summary. A second run reuses the "
      "folder and syncs incrementally");
  command->add_option("--dir", options->folder,
                      "The demo's folder (default ./fhirbridge-demo); logs, keys, bundles, "
                      "stores and reports all go there");
  command->add_flag("--fresh", options->fresh,
                    "Remove what an earlier run left in the folder and start again");
  command->add_option("--patients", options->patients, "Synthetic patients per site (default 25)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000}));
  command
      ->add_option("--port", options->port,
                   "Sandbox port to try first (default 8095); when taken, any free port")
      ->check(CLI::Range(0, 65535));
  command->add_flag("--json", options->json, "Print the summary as one JSON object");
  command->callback([&run, options] { run = [options] { return RunDemoCommand(*options); }; });
}

}  // namespace fhirbridge::cli
