#pragma once

// The `smoke` command: run the smoke journey (src/verify) against a FHIR server and write its
// reports (Markdown, JSON, JUnit XML).

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `smoke` to `app`. When it is chosen, `run` is set to the function that runs the journey
// and returns the exit code: 0 every step passed or was skipped; 1 a step failed or the reports
// could not be written; 2 a bad option; 3 the known patients file is missing or invalid.
void AddSmokeCommand(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
