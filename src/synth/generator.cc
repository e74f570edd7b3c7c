#include "synth/generator.h"

#include <cstdio>

#include "synth/organisation.h"
#include "synth/patient_generator.h"

namespace fhirbridge::synth {

base::Result<SynthSummary> Generate(const SynthOptions& options, SynthOutput& output) {
  if (options.patients < 1 || options.patients > kMaxPatients) {
    return base::Fail(
        base::ErrorCode::kInvalidParameter,
        "The number of patients must be from 1 to " + std::to_string(kMaxPatients) + ".",
        "--patients");
  }
  if (options.organisation_name.empty() || options.organisation_name.size() > 200) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "The organisation name must have 1 to 200 characters.",
                      "--organisation-name");
  }

  Emitter emitter(options.format, options.seed);
  auto organisation =
      WriteOrganisation(options.organisation_name, options.patients, options.seed, emitter, output);
  if (!organisation) return base::Fail(organisation.error());

  PatientGenerator patients(*organisation, options.rates, options.seed, emitter);
  for (std::uint64_t index = 0; index < options.patients; ++index) {
    if (auto written = patients.Generate(index, output); !written) {
      return base::Fail(written.error());
    }
  }

  SynthSummary summary;
  const EmitterCounts& counts = emitter.counts();
  for (std::size_t i = 0; i < kResourceTypeCount; ++i) {
    if (counts.resources[i] == 0) continue;
    summary.resources_by_type[std::string(TypeName(static_cast<ResourceType>(i)))] =
        counts.resources[i];
    summary.resources += counts.resources[i];
  }
  for (const auto& info : DefectCatalogue()) {
    const std::uint64_t count = counts.defects[static_cast<std::size_t>(info.defect)];
    if (count == 0) continue;
    summary.defects_by_name[std::string(info.name)] = count;
    summary.defects += count;
  }
  summary.bytes = counts.bytes;
  return summary;
}

std::string FormatSummary(const SynthOptions& options, const SynthSummary& summary,
                          double seconds) {
  std::string line = "synth: " + std::to_string(options.patients) + " patients, " +
                     std::to_string(summary.resources) + " resources (";
  bool first = true;
  for (const auto& [type, count] : summary.resources_by_type) {
    if (!first) line += ", ";
    line += type + " " + std::to_string(count);
    first = false;
  }
  line += "), " + std::to_string(summary.defects) + " defects injected";
  char figures[160];
  const double safe_seconds = seconds > 0 ? seconds : 1e-9;
  std::snprintf(figures, sizeof figures, ", %.1f MB in %.2f s (%.0f resources/s, %.1f MB/s)",
                static_cast<double>(summary.bytes) / 1e6, seconds,
                static_cast<double>(summary.resources) / safe_seconds,
                static_cast<double>(summary.bytes) / 1e6 / safe_seconds);
  line += figures;
  return line;
}

}  // namespace fhirbridge::synth
