#pragma once

// The known patients a smoke run looks for, by business identifier (an MRN's system and value).
// They come from the sandbox's baseline patients (compiled into the binary), from the named
// synthetic set (data/synth/named-set/Patient.ndjson), from any NDJSON or Bundle file of Patient
// resources, or from the command line.
//
// A known patient has a label ("baseline-1", "patient-2") that reports use in place of anything
// that could identify the person; the identifier itself never leaves the request.

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace fhirbridge::verify {

struct KnownPatient {
  std::string label;
  std::string identifier_system;
  std::string identifier_value;
};

// The patients of the sandbox's default baseline (data/sandbox/baseline/default/patient-*.json),
// labelled "baseline-1", "baseline-2", ... in file order.
base::Result<std::vector<KnownPatient>> SandboxBaselinePatients();

// Reads Patient resources from `text`: NDJSON (one resource per line) or one JSON Bundle, and
// takes from each its medical record number (the identifier typed MR, else the first with a
// system and a value). Patients are labelled `label_prefix` + "-1", "-2", ... in order.
// kInvalidJson or kInvalidResource (naming the line or entry, never its content) for bad input;
// kInvalidResource also for a Patient without a usable identifier or a text without patients.
base::Result<std::vector<KnownPatient>> ParseKnownPatients(std::string_view text,
                                                           std::string_view label_prefix);

// ParseKnownPatients on the file at `path`; kConfigNotFound when it cannot be read, and errors
// located at the path.
base::Result<std::vector<KnownPatient>> LoadKnownPatients(const std::string& path,
                                                          std::string_view label_prefix);

// "SYSTEM|VALUE" from the command line; kInvalidParameter unless both parts are non-empty.
base::Result<KnownPatient> ParseIdentifierArgument(std::string_view text, std::string label);

}  // namespace fhirbridge::verify
