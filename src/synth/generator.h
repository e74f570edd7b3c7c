#pragma once

// fhirbridge's synthetic, deliberately messy data generator: an Epic-flavoured organisation
// graph and any number of patients, with defects injected at chosen rates and listed in a
// manifest.
//
// Contract:
//  - Deterministic: the same options give byte-identical output on every run and platform.
//  - Streaming: one patient is generated, written and forgotten at a time; memory does not grow
//    with the number of patients (only the organisation graph, about one practitioner per
//    1,500 patients, is kept).
//  - NDJSON: one stream per resource type ("Patient", ...), one resource per line, literal
//    references ("Patient/<id>").
//  - Bundles: one stream, "Bundle"; the first line is a transaction of the organisation graph,
//    then one transaction per patient. Entries have urn:uuid fullUrls and POST requests with
//    ifNoneExist on the resource's business identifier; references between entries use the
//    fullUrls. Resources carry no id (the server assigns it).
//  - Manifest: stream "manifest", one JSON object per injected defect:
//    {"resource": "Type/id", ["fullUrl": ...,] "defect": name, "path": ..., "detail": ...}.
//    The resource is named by its NDJSON id in both formats.
//
// Limitation: generation runs on one thread. Patients are independent (each has its own random
// streams), so it could be split across threads; one core already produces a few hundred
// thousand resources a second, more than a seeder can post.

#include <cstdint>
#include <map>
#include <string>

#include "base/result.h"
#include "synth/defects.h"
#include "synth/emitter.h"

namespace fhirbridge::synth {

inline constexpr std::uint64_t kMaxPatients = 10'000'000;

struct SynthOptions {
  std::uint64_t patients = 10;  // 1 to kMaxPatients
  std::uint64_t seed = 1;
  DefectRates rates;  // all 0 unless set, e.g. from DefectRates::ForProfile
  OutputFormat format = OutputFormat::kNdjson;
  std::string organisation_name = "Fictional Valley Health (synthetic)";
};

struct SynthSummary {
  std::map<std::string, std::uint64_t> resources_by_type;  // types with at least one resource
  std::map<std::string, std::uint64_t> defects_by_name;    // defects injected at least once
  std::uint64_t resources = 0;
  std::uint64_t defects = 0;
  std::uint64_t bytes = 0;  // written to the output, manifest included
};

// Generates the data `options` describe into `output`. Returns kInvalidParameter for options out
// of range (naming the option), or the output's error when a write fails.
base::Result<SynthSummary> Generate(const SynthOptions& options, SynthOutput& output);

// One line for people: patients, resources per type, defects, size, time and throughput.
std::string FormatSummary(const SynthOptions& options, const SynthSummary& summary, double seconds);

}  // namespace fhirbridge::synth
