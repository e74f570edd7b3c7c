#pragma once

// The catalogue of defects the synthetic data generator can inject, the three sandbox profiles
// and their rates. Each defect is a named knob with a rate: the probability that an eligible
// record (see `applies_to`) carries it. Every injected instance is listed in the manifest.

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"

namespace fhirbridge::synth {

enum class Defect {
  kDuplicateDemographics,
  kMergedRecord,
  kMultipleCodeSystems,
  kDeprecatedCode,
  kLocalCodeOnly,
  kTextOnly,
  kConditionWithoutCoding,
  kFreeTextAllergy,
  kReferenceToDeletedEncounter,
  kReferenceToMissingPractitioner,
  kExtensionWithoutValue,
  kExtensionUnknownUrl,
  kExtensionWrongValueType,
  kMissingOptionalFields,
  kYearOnlyDate,
  kDateTimeWithoutTimeZone,
  kSameLastUpdated,
  kNonAsciiName,
  kLongFreeText,
  kDataAbsentReason,
  kLongId,
};

inline constexpr std::size_t kDefectCount = static_cast<std::size_t>(Defect::kLongId) + 1;

struct DefectInfo {
  Defect defect;
  std::string_view name;        // the knob's name on the command line and in the manifest
  std::string_view applies_to;  // which records are eligible
  std::string_view effect;      // what the defect looks like in the data
  double realistic_rate;
  double negative_rate;
};

// Returns the catalogue row of `defect`. Never fails.
const DefectInfo& Describe(Defect defect);

// Every defect, in catalogue order.
std::span<const DefectInfo> DefectCatalogue();

// The defect whose name is `name`, if any.
std::optional<Defect> DefectFromName(std::string_view name);

// clean: for prototyping, no defects. realistic: pre-production, modest rates. negative:
// broken on purpose, high rates.
enum class Profile { kClean, kRealistic, kNegative };

std::optional<Profile> ProfileFromName(std::string_view name);
std::string_view ProfileName(Profile profile);

// One rate per defect, each in [0, 1].
class DefectRates {
 public:
  // All rates 0.
  DefectRates() = default;

  static DefectRates ForProfile(Profile profile);

  double rate(Defect defect) const { return rates_[static_cast<std::size_t>(defect)]; }
  // Requires 0 <= rate <= 1.
  void Set(Defect defect, double rate);

  // Applies an override written "name=rate", e.g. "duplicate-demographics=0.1". Returns
  // kInvalidParameter naming the problem (unknown defect, listing the known ones; or a rate that
  // is not a number from 0 to 1).
  base::Status ApplyOverride(std::string_view text);

 private:
  std::array<double, kDefectCount> rates_{};
};

// The names of all defects, comma-separated, for help and error messages.
std::string DefectNameList();

}  // namespace fhirbridge::synth
