#pragma once

// The dosageInstruction of a MedicationRequest, shaped by how the drug is taken: once or twice a
// day, in the morning on an empty stomach, premixed insulin at two timings with two doses, as
// needed with a maximum per day, a taper that steps down every three days, a fixed course, or
// free text typed by hand with nothing structured.

#include <cstdint>
#include <string_view>

#include "synth/code_tables.h"
#include "synth/json_writer.h"

namespace fhirbridge::synth {

// Writes "dosageInstruction": [...] for `medication`, starting on `start_day` (days since
// 1970-01-01; tapers carry dated steps). When `free_text` is not empty, the instruction is that
// text alone.
void WriteDosageInstructions(JsonWriter& writer, const MedicationEntry& medication,
                             std::int64_t start_day, std::string_view free_text);

}  // namespace fhirbridge::synth
