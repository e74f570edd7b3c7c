#include "synth/dosage.h"

#include <initializer_list>
#include <string>

#include "synth/calendar.h"
#include "synth/fhir_writing.h"

namespace fhirbridge::synth {
namespace {

std::string Decimal(std::int64_t units, int scale) {
  std::string text;
  AppendDecimal(text, units, scale);
  return text;
}

}  // namespace

void WriteDosageInstructions(JsonWriter& writer, const MedicationEntry& medication,
                             std::int64_t start_day, std::string_view free_text) {
  writer.Key("dosageInstruction");
  writer.BeginArray();
  if (!free_text.empty()) {
    // Instructions typed by hand: nothing structured.
    writer.BeginObject();
    writer.Member("text", free_text);
    writer.EndObject();
    writer.EndArray();
    return;
  }

  const std::string_view route_text = medication.route_snomed == "26643006"   ? "by mouth"
                                      : medication.route_snomed == "34206005" ? "under the skin"
                                                                              : "by inhalation";
  const auto dose_text = [&](std::int64_t units) {
    return Decimal(units, medication.dose_scale) + " " + std::string(medication.dose_unit);
  };
  const auto begin = [&](int sequence, const std::string& text) {
    writer.BeginObject();
    writer.MemberInt("sequence", sequence);
    writer.Member("text", text);
  };
  const auto route_and_dose = [&](std::int64_t units) {
    WriteConcept(writer, "route", kSnomed, medication.route_snomed, medication.route_display);
    writer.Key("doseAndRate");
    writer.BeginArray();
    writer.BeginObject();
    WriteQuantity(writer, "doseQuantity", units, medication.dose_scale, medication.dose_unit,
                  medication.dose_ucum);
    writer.EndObject();
    writer.EndArray();
  };
  const auto daily = [&](int frequency, std::initializer_list<std::string_view> when) {
    writer.Key("timing");
    writer.BeginObject();
    writer.Key("repeat");
    writer.BeginObject();
    if (frequency > 0) {
      writer.MemberInt("frequency", frequency);
      writer.MemberInt("period", 1);
      writer.Member("periodUnit", "d");
    }
    if (when.size() > 0) {
      writer.Key("when");
      writer.BeginArray();
      for (const auto event : when) writer.String(event);
      writer.EndArray();
    }
    writer.EndObject();
    writer.EndObject();
  };
  const std::int64_t dose = medication.dose_units;

  switch (medication.dosing) {
    case Dosing::kOnceDaily:
      begin(1, "Take " + dose_text(dose) + " " + std::string(route_text) + " once daily");
      daily(1, {});
      route_and_dose(dose);
      writer.EndObject();
      break;
    case Dosing::kOnceDailyMorningEmptyStomach:
      begin(1, "Take " + dose_text(dose) + " " + std::string(route_text) +
                   " every morning on an empty stomach");
      writer.Key("additionalInstruction");
      writer.BeginArray();
      writer.BeginObject();
      writer.Member("text", "On an empty stomach, 30 to 60 minutes before breakfast");
      writer.EndObject();
      writer.EndArray();
      daily(1, {"MORN"});
      route_and_dose(dose);
      writer.EndObject();
      break;
    case Dosing::kTwiceDailyWithMeals:
      begin(1, "Take " + dose_text(dose) + " " + std::string(route_text) +
                   " twice daily with breakfast and dinner");
      daily(0, {"CM", "CV"});
      route_and_dose(dose);
      writer.EndObject();
      break;
    case Dosing::kSeveralTimings:
      // Premixed insulin: a larger dose before breakfast, a smaller one before dinner.
      begin(1, "Inject " + dose_text(dose) + " " + std::string(route_text) + " before breakfast");
      daily(0, {"ACM"});
      route_and_dose(dose);
      writer.EndObject();
      begin(2, "Inject " + dose_text(dose / 2) + " " + std::string(route_text) + " before dinner");
      daily(0, {"ACV"});
      route_and_dose(dose / 2);
      writer.EndObject();
      break;
    case Dosing::kInhaledTwiceDaily:
      begin(1, "Inhale " + dose_text(dose) + " twice daily; rinse mouth after use");
      daily(2, {});
      route_and_dose(dose);
      writer.EndObject();
      break;
    case Dosing::kAsNeeded: {
      const bool wheeze = medication.route_snomed == "447694001";
      const bool naproxen = medication.rxnorm == "198014";
      const bool ibuprofen = medication.rxnorm == "310965";
      const std::int64_t period = naproxen ? 12 : (ibuprofen ? 6 : 4);
      const std::int64_t period_max = naproxen ? 0 : (ibuprofen ? 8 : 6);
      const std::int64_t maximum = wheeze ? 12
                                          : (naproxen ? 1000 : (ibuprofen ? 1200 : 3000)) *
                                                (medication.dose_scale == 0 ? 1 : 10);
      std::string text = "Take " + dose_text(dose) + " " + std::string(route_text) + " every " +
                         std::to_string(period);
      if (period_max != 0) text += " to " + std::to_string(period_max);
      text += " hours as needed for ";
      text += wheeze ? "wheezing" : "pain";
      text += "; no more than " + dose_text(maximum) + " a day";
      begin(1, text);
      writer.Key("timing");
      writer.BeginObject();
      writer.Key("repeat");
      writer.BeginObject();
      writer.MemberInt("frequency", 1);
      writer.MemberInt("period", period);
      if (period_max != 0) writer.MemberInt("periodMax", period_max);
      writer.Member("periodUnit", "h");
      writer.EndObject();
      writer.EndObject();
      if (wheeze) {
        WriteConcept(writer, "asNeededCodeableConcept", kSnomed, "56018004", "Wheezing");
      } else {
        WriteConcept(writer, "asNeededCodeableConcept", kSnomed, "22253000", "Pain");
      }
      route_and_dose(dose);
      writer.Key("maxDosePerPeriod");
      writer.BeginObject();
      WriteQuantity(writer, "numerator", maximum, medication.dose_scale, medication.dose_unit,
                    medication.dose_ucum);
      WriteQuantity(writer, "denominator", 1, 0, "day", "d");
      writer.EndObject();
      writer.EndObject();
      break;
    }
    case Dosing::kTaper: {
      // Four steps of three days, each 10 mg less.
      for (int step = 0; step < 4; ++step) {
        const std::int64_t step_dose = dose - 10 * step * (medication.dose_scale == 0 ? 1 : 10);
        const std::int64_t first = start_day + 3 * step;
        std::string text = "Take " + dose_text(step_dose) + " " + std::string(route_text) +
                           " once daily on days " + std::to_string(3 * step + 1) + " to " +
                           std::to_string(3 * step + 3);
        if (step < 3) text += ", then";
        begin(step + 1, text);
        writer.Key("timing");
        writer.BeginObject();
        writer.Key("repeat");
        writer.BeginObject();
        writer.Key("boundsPeriod");
        writer.BeginObject();
        std::string date;
        AppendDate(date, first);
        writer.Member("start", date);
        date.clear();
        AppendDate(date, first + 2);
        writer.Member("end", date);
        writer.EndObject();
        writer.MemberInt("frequency", 1);
        writer.MemberInt("period", 1);
        writer.Member("periodUnit", "d");
        writer.EndObject();
        writer.EndObject();
        route_and_dose(step_dose);
        writer.EndObject();
      }
      break;
    }
    case Dosing::kCourse: {
      const bool amoxicillin = medication.rxnorm == "308192";
      const int per_day = amoxicillin ? 3 : 2;
      const int days = amoxicillin ? 10 : 5;
      begin(1, "Take " + dose_text(dose) + " " + std::string(route_text) + " " +
                   (per_day == 3 ? "three times" : "twice") + " daily for " + std::to_string(days) +
                   " days");
      writer.Key("timing");
      writer.BeginObject();
      writer.Key("repeat");
      writer.BeginObject();
      writer.Key("boundsDuration");
      writer.BeginObject();
      writer.MemberInt("value", days);
      writer.Member("unit", "days");
      writer.Member("system", "http://unitsofmeasure.org");
      writer.Member("code", "d");
      writer.EndObject();
      writer.MemberInt("frequency", per_day);
      writer.MemberInt("period", 1);
      writer.Member("periodUnit", "d");
      writer.EndObject();
      writer.EndObject();
      route_and_dose(dose);
      writer.EndObject();
      break;
    }
  }
  writer.EndArray();
}

}  // namespace fhirbridge::synth
