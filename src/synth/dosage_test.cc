#include "synth/dosage.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "synth/calendar.h"

namespace fhirbridge::synth {
namespace {

nlohmann::json Dosage(std::string_view rxnorm, std::string_view free_text = {}) {
  for (const MedicationEntry& medication : Medications()) {
    if (medication.rxnorm != rxnorm) continue;
    std::string out = "{";
    JsonWriter writer(out);
    WriteDosageInstructions(writer, medication, DaysFromCivil(2026, 1, 10), free_text);
    out += "}";
    return nlohmann::json::parse(out)["dosageInstruction"];
  }
  ADD_FAILURE() << "no medication " << rxnorm;
  return {};
}

TEST(SynthDosageTest, TaperStepsDownOverDatedPeriods) {
  const auto steps = Dosage("312617");  // prednisone
  ASSERT_EQ(steps.size(), 4u);
  double previous = 1e9;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i]["sequence"], i + 1);
    const double dose = steps[i]["doseAndRate"][0]["doseQuantity"]["value"];
    EXPECT_LT(dose, previous);
    previous = dose;
    EXPECT_TRUE(steps[i]["timing"]["repeat"].contains("boundsPeriod"));
  }
  EXPECT_EQ(steps[0]["timing"]["repeat"]["boundsPeriod"]["start"], "2026-01-10");
  EXPECT_EQ(steps[3]["timing"]["repeat"]["boundsPeriod"]["end"], "2026-01-21");
}

TEST(SynthDosageTest, AsNeededCarriesAReasonAndADailyMaximum) {
  const auto dosage = Dosage("313782")[0];  // acetaminophen
  EXPECT_EQ(dosage["asNeededCodeableConcept"]["coding"][0]["code"], "22253000");
  EXPECT_EQ(dosage["maxDosePerPeriod"]["numerator"]["value"], 3000);
  EXPECT_EQ(dosage["timing"]["repeat"]["periodMax"], 6);
}

TEST(SynthDosageTest, PremixedInsulinHasTwoTimingsWithTwoDoses) {
  const auto dosage = Dosage("106892");
  ASSERT_EQ(dosage.size(), 2u);
  EXPECT_EQ(dosage[0]["timing"]["repeat"]["when"][0], "ACM");
  EXPECT_EQ(dosage[1]["timing"]["repeat"]["when"][0], "ACV");
  EXPECT_GT(dosage[0]["doseAndRate"][0]["doseQuantity"]["value"],
            dosage[1]["doseAndRate"][0]["doseQuantity"]["value"]);
}

TEST(SynthDosageTest, FreeTextInstructionsHaveNothingStructured) {
  const auto dosage = Dosage("314076", "See instructions given at visit");
  ASSERT_EQ(dosage.size(), 1u);
  EXPECT_EQ(dosage[0], nlohmann::json({{"text", "See instructions given at visit"}}));
}

TEST(SynthDosageTest, EveryFormularyDrugGetsAnInstructionWithText) {
  for (const MedicationEntry& medication : Medications()) {
    const auto dosage = Dosage(medication.rxnorm);
    ASSERT_FALSE(dosage.empty()) << medication.rxnorm;
    for (const auto& instruction : dosage) {
      EXPECT_FALSE(instruction.value("text", "").empty()) << medication.rxnorm;
      EXPECT_TRUE(instruction.contains("timing")) << medication.rxnorm;
    }
  }
}

}  // namespace
}  // namespace fhirbridge::synth
