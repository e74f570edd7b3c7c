#pragma once

// The `synth` command: generate deterministic, deliberately messy synthetic FHIR data with
// src/synth and write it to a directory.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `synth` to `app`. When it is chosen on the command line, `run` is set to the function that
// generates the data and returns the exit code: 0 done (a one-line summary on standard output),
// 1 the output could not be written, 2 a bad option (a message naming it on standard error).
void AddSynthCommand(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
