#include "fhir/search_values.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace fhirbridge::fhir {
namespace {

// Milliseconds since the epoch of a UTC instant written in full.
std::int64_t At(const char* instant) {
  const auto range = ParseDateRange(instant);
  EXPECT_TRUE(range.has_value()) << instant;
  return range ? range->low : 0;
}

TEST(NormaliseSearchTextTest, LowersCaseAndRemovesAccents) {
  EXPECT_EQ(NormaliseSearchText("Müller"), "muller");
  EXPECT_EQ(NormaliseSearchText("MÜLLER"), "muller");
  EXPECT_EQ(NormaliseSearchText("Ångström-Éva"), "angstrom-eva");
  EXPECT_EQ(NormaliseSearchText("Straße Œuvre Ærø"), "strasse oeuvre aero");
  EXPECT_EQ(NormaliseSearchText("Dvořák Łódź Žižek ſ"), "dvorak lodz zizek s");
  // Decomposed text: "e" followed by a combining acute accent.
  EXPECT_EQ(NormaliseSearchText("Jose\xCC\x81"), "jose");
}

TEST(NormaliseSearchTextTest, LowersGreekAndCyrillicAndKeepsOtherScripts) {
  EXPECT_EQ(NormaliseSearchText("ΑΘΗΝΑ"), "αθηνα");
  EXPECT_EQ(NormaliseSearchText("ИВАНОВ Ёлка"), "иванов ёлка");
  EXPECT_EQ(NormaliseSearchText("東京 × ÷"), "東京 × ÷");
}

TEST(NormaliseSearchTextTest, DropsInvalidUtf8) {
  EXPECT_EQ(NormaliseSearchText("a\xFF"
                                "b\xC3"),
            "ab");
}

TEST(ParseDateRangeTest, APartialDateCoversItsWholePeriod) {
  const auto year = ParseDateRange("2024");
  ASSERT_TRUE(year.has_value());
  EXPECT_EQ(year->low, At("2024-01-01T00:00:00.000Z"));
  EXPECT_EQ(year->high, At("2024-12-31T23:59:59.999Z"));

  const auto month = ParseDateRange("2024-02");
  ASSERT_TRUE(month.has_value());
  EXPECT_EQ(month->low, At("2024-02-01T00:00:00.000Z"));
  EXPECT_EQ(month->high, At("2024-02-29T23:59:59.999Z"));

  const auto december = ParseDateRange("2023-12");
  ASSERT_TRUE(december.has_value());
  EXPECT_EQ(december->high, At("2023-12-31T23:59:59.999Z"));

  const auto day = ParseDateRange("2024-05-03");
  ASSERT_TRUE(day.has_value());
  EXPECT_EQ(day->low, At("2024-05-03T00:00:00.000Z"));
  EXPECT_EQ(day->high, At("2024-05-03T23:59:59.999Z"));
}

TEST(ParseDateRangeTest, TimesCoverTheirPrecisionAndApplyTheirOffset) {
  const auto minute = ParseDateRange("2024-05-03T10:15Z");
  ASSERT_TRUE(minute.has_value());
  EXPECT_EQ(minute->high - minute->low, 59'999);

  const auto second = ParseDateRange("2024-05-03T10:15:30+02:00");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->low, At("2024-05-03T08:15:30.000Z"));
  EXPECT_EQ(second->high, At("2024-05-03T08:15:30.999Z"));

  const auto instant = ParseDateRange("2024-05-03T10:15:30.123-05:00");
  ASSERT_TRUE(instant.has_value());
  EXPECT_EQ(instant->low, instant->high);
  EXPECT_EQ(instant->low, At("2024-05-03T15:15:30.123Z"));

  const auto tenth = ParseDateRange("2024-05-03T10:15:30.1Z");
  ASSERT_TRUE(tenth.has_value());
  EXPECT_EQ(tenth->high - tenth->low, 99);
}

TEST(ParseDateRangeTest, RefusesWhatIsNotADate) {
  for (const char* text : {"", "24", "2024-13", "2024-02-30", "2024-5-3", "2024-05-03T25:00Z",
                           "2024-05-03T10", "2024-05-03 10:00", "2024-05-03T10:00:00+2",
                           "2024-05-03T10:00:00.Z", "yesterday", "2024-05-03Z"}) {
    EXPECT_FALSE(ParseDateRange(text).has_value()) << text;
  }
}

TEST(ReferenceTargetTest, DropsHistoryAndSkipsContainedReferences) {
  EXPECT_EQ(ReferenceTarget("Patient/1"), "Patient/1");
  EXPECT_EQ(ReferenceTarget("Patient/1/_history/3"), "Patient/1");
  EXPECT_EQ(ReferenceTarget("https://x.org/fhir/Patient/1"), "https://x.org/fhir/Patient/1");
  EXPECT_EQ(ReferenceTarget("#contained"), std::nullopt);
}

template <typename Entry>
std::vector<Entry> Of(const std::vector<Entry>& entries, std::string_view parameter) {
  std::vector<Entry> selected;
  for (const Entry& entry : entries) {
    if (entry.parameter == parameter) selected.push_back(entry);
  }
  return selected;
}

TEST(ExtractSearchIndexTest, IndexesEveryParameterTypeOfAnObservation) {
  const Json observation = Json::parse(R"({
    "resourceType": "Observation", "id": "o1", "status": "final",
    "meta": {"lastUpdated": "2024-05-03T10:00:00.000Z"},
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                              "code": "vital-signs", "display": "Vital Signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"},
                        {"system": "http://loinc.org", "code": "8867-4"}],
             "text": "Heart rate"},
    "subject": {"reference": "Patient/p1"},
    "encounter": {"reference": "Encounter/e1/_history/2"},
    "effectivePeriod": {"start": "2024-05-03T09:00:00Z"},
    "valueQuantity": {"value": 72.5, "unit": "beats/min", "system": "http://unitsofmeasure.org",
                      "code": "/min"}
  })");
  const auto entries = ExtractSearchIndex(R4SearchParameters(), "Observation", observation);

  const auto codes = Of(entries.tokens, "code");
  ASSERT_EQ(codes.size(), 1u) << "duplicates are indexed once";
  EXPECT_EQ(codes[0].system, "http://loinc.org");
  EXPECT_EQ(codes[0].code, "8867-4");
  ASSERT_EQ(Of(entries.tokens, "status").size(), 1u);
  EXPECT_EQ(Of(entries.tokens, "status")[0].system, "");
  ASSERT_EQ(Of(entries.tokens, "_id").size(), 1u);
  EXPECT_EQ(Of(entries.tokens, "_id")[0].code, "o1");

  const auto text = Of(entries.strings, "code:text");
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0].normalised, "heart rate");
  EXPECT_EQ(text[0].exact, "Heart rate");
  ASSERT_EQ(Of(entries.strings, "category:text").size(), 1u);

  ASSERT_EQ(Of(entries.references, "patient").size(), 1u);
  EXPECT_EQ(Of(entries.references, "patient")[0].target, "Patient/p1");
  ASSERT_EQ(Of(entries.references, "subject").size(), 1u);
  ASSERT_EQ(Of(entries.references, "encounter").size(), 1u);
  EXPECT_EQ(Of(entries.references, "encounter")[0].target, "Encounter/e1");

  const auto dates = Of(entries.dates, "date");
  ASSERT_EQ(dates.size(), 1u);
  EXPECT_EQ(dates[0].range.low, At("2024-05-03T09:00:00.000Z"));
  EXPECT_EQ(dates[0].range.high, kLatestInstant);
  ASSERT_EQ(Of(entries.dates, "_lastUpdated").size(), 1u);

  const auto quantities = Of(entries.numbers, "value-quantity");
  ASSERT_EQ(quantities.size(), 1u);
  EXPECT_DOUBLE_EQ(quantities[0].value, 72.5);
  EXPECT_EQ(quantities[0].system, "http://unitsofmeasure.org");
  EXPECT_EQ(quantities[0].code, "/min");
}

TEST(ExtractSearchIndexTest, IndexesNamesIdentifiersAndTelecomOfAPatient) {
  const Json patient = Json::parse(R"({
    "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1978-04-12",
    "active": true,
    "name": [{"use": "official", "family": "Núñez", "given": ["Ana", "María"]}],
    "identifier": [{"system": "urn:mrn", "value": "42", "type": {"text": "MRN"}}],
    "telecom": [{"system": "email", "value": "ana@example.org"}],
    "address": [{"city": "Sandbox Falls", "postalCode": "00000"}],
    "generalPractitioner": [{"reference": "Practitioner/d1"}]
  })");
  const auto entries = ExtractSearchIndex(R4SearchParameters(), "Patient", patient);

  const auto family = Of(entries.strings, "family");
  ASSERT_EQ(family.size(), 1u);
  EXPECT_EQ(family[0].normalised, "nunez");
  EXPECT_EQ(family[0].exact, "Núñez");
  EXPECT_EQ(Of(entries.strings, "given").size(), 2u);
  // name covers family and given but not "use".
  EXPECT_EQ(Of(entries.strings, "name").size(), 3u);
  EXPECT_EQ(Of(entries.strings, "address-city").size(), 1u);

  ASSERT_EQ(Of(entries.tokens, "identifier").size(), 1u);
  EXPECT_EQ(Of(entries.tokens, "identifier")[0].system, "urn:mrn");
  EXPECT_EQ(Of(entries.tokens, "identifier")[0].code, "42");
  ASSERT_EQ(Of(entries.tokens, "email").size(), 1u);
  EXPECT_EQ(Of(entries.tokens, "phone").size(), 0u);
  ASSERT_EQ(Of(entries.tokens, "active").size(), 1u);
  EXPECT_EQ(Of(entries.tokens, "active")[0].code, "true");
  ASSERT_EQ(Of(entries.dates, "birthdate").size(), 1u);
  ASSERT_EQ(Of(entries.references, "general-practitioner").size(), 1u);
}

}  // namespace
}  // namespace fhirbridge::fhir
