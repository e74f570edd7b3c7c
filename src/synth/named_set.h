#pragma once

// The small named patient set kept in the repository (data/synth/named-set/), which tests and
// smoke checks use. It is produced by the generator from these fixed options; a test fails when
// the committed files and the generator's output drift apart. Regenerate it with:
//
//   fhirbridge synth --patients 10 --seed 20260630 --profile realistic --format ndjson
//                    --out data/synth/named-set --overwrite
//
// (from the repository's root, with any build of fhirbridge).

#include "synth/generator.h"

namespace fhirbridge::synth {

inline constexpr std::string_view kNamedSetDirectory = "data/synth/named-set";

inline SynthOptions NamedSetOptions() {
  SynthOptions options;
  options.patients = 10;
  options.seed = 20260630;
  options.rates = DefectRates::ForProfile(Profile::kRealistic);
  options.format = OutputFormat::kNdjson;
  return options;
}

}  // namespace fhirbridge::synth
