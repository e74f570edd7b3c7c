#pragma once

// Generates one patient at a time: demographics, a general practitioner and specialists from the
// organisation graph, a history of encounters with vital signs, laboratory results, conditions,
// allergies, medication orders, legacy medication statements and questionnaire responses, and
// the defects the rates ask for. A patient depends only on the seed, its index and the graph, so
// patients can be generated in any order and none is kept after it is written.
//
// Limitation: the history covers the last six years before the as-of date; older problems,
// allergies and legacy medication statements carry dates before it but no encounters. Records
// added by duplicate-demographics and merged-record carry demographics only, as a second
// registration or a merged-away chart does.
//
// Determinism: clinical content comes from one random stream per patient; every defect decision
// is a separate hash of (seed, patient, record, defect), and defect details come from streams of
// their own. Changing a rate therefore never changes the content of records that do not carry
// that defect.

#include <cstdint>

#include "base/result.h"
#include "synth/defects.h"
#include "synth/emitter.h"
#include "synth/organisation.h"

namespace fhirbridge::synth {

class PatientGenerator {
 public:
  // All three must outlive the generator.
  PatientGenerator(const Organisation& organisation, const DefectRates& rates, std::uint64_t seed,
                   Emitter& emitter)
      : organisation_(organisation), rates_(rates), seed_(seed), emitter_(emitter) {}

  // Generates patient `index` (0-based) and writes it, and any records its defects add, as one
  // unit. Fails only when `output` fails.
  base::Status Generate(std::uint64_t index, SynthOutput& output);

 private:
  const Organisation& organisation_;
  const DefectRates& rates_;
  std::uint64_t seed_;
  Emitter& emitter_;
};

}  // namespace fhirbridge::synth
