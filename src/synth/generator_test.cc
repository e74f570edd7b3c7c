#include "synth/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "synth/calendar.h"
#include "synth/organisation.h"
#include "synth/output.h"

namespace fhirbridge::synth {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Helpers: generate into memory and load what was written.

SynthOptions Options(std::uint64_t patients, std::uint64_t seed, Profile profile,
                     OutputFormat format = OutputFormat::kNdjson) {
  SynthOptions options;
  options.patients = patients;
  options.seed = seed;
  options.rates = DefectRates::ForProfile(profile);
  options.format = format;
  return options;
}

struct Generated {
  MemoryOutput output;
  SynthSummary summary;

  const std::string& Stream(const std::string& name) const {
    static const std::string kEmpty;
    const auto found = output.streams().find(name);
    return found == output.streams().end() ? kEmpty : found->second;
  }
};

std::unique_ptr<Generated> Synthesize(const SynthOptions& options) {
  auto generated = std::make_unique<Generated>();
  auto summary = Generate(options, generated->output);
  EXPECT_TRUE(summary.has_value()) << summary.error().ToString();
  if (summary) generated->summary = *summary;
  return generated;
}

std::vector<Json> ParseLines(const std::string& text) {
  std::vector<Json> documents;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    Json document = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(document.is_discarded()) << "line " << number << " is not JSON";
    documents.push_back(std::move(document));
  }
  return documents;
}

// Every resource of an NDJSON run, keyed by "Type/id".
struct DataSet {
  std::map<std::string, Json> resources;
  std::vector<Json> manifest;
};

DataSet Load(const Generated& generated) {
  DataSet data;
  for (const auto& [name, text] : generated.output.streams()) {
    if (name == "manifest") {
      data.manifest = ParseLines(text);
      continue;
    }
    for (Json& resource : ParseLines(text)) {
      const std::string key = resource.value("resourceType", "") + "/" + resource.value("id", "");
      EXPECT_TRUE(data.resources.emplace(key, std::move(resource)).second) << "duplicate " << key;
    }
  }
  return data;
}

// Calls `visit` with every "reference" string in `node`.
void ForEachReference(const Json& node, const std::function<void(const std::string&)>& visit) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "reference" && value.is_string()) {
        visit(value.get<std::string>());
      } else {
        ForEachReference(value, visit);
      }
    }
  } else if (node.is_array()) {
    for (const auto& element : node) ForEachReference(element, visit);
  }
}

void ForEachString(const Json& node, const std::function<void(const std::string&)>& visit) {
  if (node.is_string()) {
    visit(node.get<std::string>());
  } else if (node.is_structured()) {
    for (const auto& element : node) ForEachString(element, visit);
  }
}

bool IsType(const std::string& key, std::string_view type) {
  return key.size() > type.size() && key.compare(0, type.size(), type) == 0 &&
         key[type.size()] == '/';
}

std::set<std::string> CodingSystems(const Json& codeable) {
  std::set<std::string> systems;
  if (codeable.contains("coding")) {
    for (const auto& coding : codeable["coding"]) systems.insert(coding.value("system", ""));
  }
  return systems;
}

// Seconds since the epoch of a FHIR dateTime or instant with seconds and a zone:
// "YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm)".
std::int64_t ParseInstant(const std::string& text) {
  const auto number = [&](std::size_t at, std::size_t length) {
    return std::stoll(text.substr(at, length));
  };
  EXPECT_TRUE(text.size() >= 20 && text[4] == '-' && text[10] == 'T' && text[13] == ':') << text;
  if (text.size() < 20) return 0;
  std::int64_t seconds =
      DaysFromCivil(static_cast<int>(number(0, 4)), static_cast<int>(number(5, 2)),
                    static_cast<int>(number(8, 2))) *
          kSecondsPerDay +
      number(11, 2) * 3600 + number(14, 2) * 60 + number(17, 2);
  std::size_t zone = 19;
  if (text[zone] == '.') {
    while (zone < text.size() && text[zone] != 'Z' && text[zone] != '+' && text[zone] != '-') {
      ++zone;
    }
  }
  EXPECT_LT(zone, text.size()) << text << " has no time zone";
  if (zone >= text.size() || text[zone] == 'Z') return seconds;
  EXPECT_EQ(text.size(), zone + 6) << text;
  const std::int64_t offset = number(zone + 1, 2) * 3600 + number(zone + 4, 2) * 60;
  return text[zone] == '-' ? seconds + offset : seconds - offset;
}

// ---------------------------------------------------------------------------------------------
// Detectors: for each defect, the records in which it is visible, judged from the data alone.

constexpr std::string_view kEpicOid = "urn:oid:1.2.840.114350.";
constexpr std::string_view kLegalSex =
    "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex";
constexpr std::string_view kClinicalSex =
    "http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use";

bool HasValue(const Json& element) {
  for (const auto& [key, value] : element.items()) {
    if (key.rfind("value", 0) == 0) return true;
  }
  return false;
}

std::set<std::string> Referenced(const DataSet& data) {
  std::set<std::string> referenced;
  for (const auto& [key, resource] : data.resources) {
    if (IsType(key, "Patient")) continue;
    ForEachReference(resource, [&](const std::string& reference) { referenced.insert(reference); });
  }
  return referenced;
}

std::string Mrn(const Json& patient) {
  return patient.contains("identifier") ? patient["identifier"][0].value("value", "") : "";
}

std::set<std::string> Detect(Defect defect, const DataSet& data) {
  std::set<std::string> found;
  const auto each = [&](std::string_view type, const std::function<bool(const Json&)>& test) {
    for (const auto& [key, resource] : data.resources) {
      if (IsType(key, type) && test(resource)) found.insert(key);
    }
  };
  const auto code_of = [](const Json& resource) {
    return resource.contains("code") ? resource["code"] : Json::object();
  };

  switch (defect) {
    case Defect::kDuplicateDemographics: {
      // An unlinked Patient nothing refers to, with another MRN and the name changed, whose
      // birth year and gender equal those of a Patient that has records.
      const std::set<std::string> referenced = Referenced(data);
      each("Patient", [&](const Json& candidate) {
        const std::string key = "Patient/" + candidate["id"].get<std::string>();
        if (referenced.count(key) != 0 || candidate.contains("link")) return false;
        for (const auto& [other_key, other] : data.resources) {
          if (!IsType(other_key, "Patient") || referenced.count(other_key) == 0) continue;
          if (other["gender"] == candidate["gender"] &&
              other["birthDate"].get<std::string>().substr(0, 4) ==
                  candidate["birthDate"].get<std::string>().substr(0, 4) &&
              Mrn(other) != Mrn(candidate) &&
              other["name"][0]["text"] != candidate["name"][0]["text"]) {
            return true;
          }
        }
        return false;
      });
      break;
    }
    case Defect::kMergedRecord:
      each("Patient", [&](const Json& patient) {
        if (patient.value("active", true) || !patient.contains("link")) return false;
        const Json& link = patient["link"][0];
        if (link.value("type", "") != "replaced-by") return false;
        const auto survivor = data.resources.find(link["other"]["reference"].get<std::string>());
        if (survivor == data.resources.end() || !survivor->second.contains("link")) return false;
        const Json& back = survivor->second["link"][0];
        return back.value("type", "") == "replaces" &&
               back["other"]["reference"] == "Patient/" + patient["id"].get<std::string>();
      });
      break;
    case Defect::kMultipleCodeSystems:
      for (const auto type : {"Observation", "Condition"}) {
        each(type,
             [&](const Json& resource) { return CodingSystems(code_of(resource)).size() >= 2; });
      }
      break;
    case Defect::kDeprecatedCode:
      each("Condition", [&](const Json& resource) {
        return CodingSystems(code_of(resource)).count("http://hl7.org/fhir/sid/icd-9-cm") != 0;
      });
      break;
    case Defect::kLocalCodeOnly:
      for (const auto type : {"Observation", "Condition"}) {
        each(type, [&](const Json& resource) {
          const auto systems = CodingSystems(code_of(resource));
          return !systems.empty() && std::all_of(systems.begin(), systems.end(), [](const auto& s) {
            return s.rfind(kEpicOid, 0) == 0;
          });
        });
      }
      break;
    case Defect::kTextOnly:
      each("Observation", [&](const Json& resource) {
        return code_of(resource).contains("text") && !code_of(resource).contains("coding");
      });
      each("MedicationRequest", [&](const Json& resource) {
        return resource.contains("medicationCodeableConcept") &&
               !resource["medicationCodeableConcept"].contains("coding");
      });
      break;
    case Defect::kConditionWithoutCoding:
      each("Condition", [&](const Json& resource) {
        return resource.contains("code") && !resource["code"].contains("coding");
      });
      break;
    case Defect::kFreeTextAllergy:
      each("AllergyIntolerance", [&](const Json& resource) {
        return resource.contains("code") && !resource["code"].contains("coding");
      });
      break;
    case Defect::kReferenceToDeletedEncounter:
      for (const auto type : {"Observation", "Condition"}) {
        each(type, [&](const Json& resource) {
          return resource.contains("encounter") &&
                 data.resources.count(resource["encounter"]["reference"].get<std::string>()) == 0;
        });
      }
      break;
    case Defect::kReferenceToMissingPractitioner:
      each("Encounter", [&](const Json& resource) {
        for (const auto& participant : resource.value("participant", Json::array())) {
          if (data.resources.count(participant["individual"]["reference"].get<std::string>()) ==
              0) {
            return true;
          }
        }
        return false;
      });
      each("MedicationRequest", [&](const Json& resource) {
        return data.resources.count(resource["requester"]["reference"].get<std::string>()) == 0;
      });
      break;
    case Defect::kExtensionWithoutValue:
    case Defect::kExtensionWrongValueType:
    case Defect::kExtensionUnknownUrl:
      each("Patient", [&](const Json& patient) {
        for (const auto& extension : patient.value("extension", Json::array())) {
          const std::string url = extension.value("url", "");
          if (defect == Defect::kExtensionUnknownUrl && url != kLegalSex && url != kClinicalSex) {
            return true;
          }
          if (url != kLegalSex) continue;
          if (defect == Defect::kExtensionWithoutValue && !HasValue(extension) &&
              !extension.contains("extension")) {
            return true;
          }
          if (defect == Defect::kExtensionWrongValueType && HasValue(extension) &&
              !extension.contains("valueCodeableConcept")) {
            return true;
          }
        }
        return false;
      });
      break;
    case Defect::kMissingOptionalFields:
      each("Patient", [&](const Json& patient) {
        return !patient.contains("telecom") && !patient.contains("address") &&
               !patient.contains("communication");
      });
      each("Encounter", [&](const Json& encounter) {
        return !encounter.contains("type") && !encounter.contains("reasonCode") &&
               !encounter.contains("location") && !encounter.contains("serviceProvider");
      });
      break;
    case Defect::kYearOnlyDate: {
      const auto year_only = [&](const Json& resource, const char* field) {
        if (!resource.contains(field)) return false;
        const std::string value = resource[field];
        return value.size() == 4 &&
               std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      };
      each("Patient", [&](const Json& r) { return year_only(r, "birthDate"); });
      each("Condition", [&](const Json& r) { return year_only(r, "onsetDateTime"); });
      each("AllergyIntolerance", [&](const Json& r) { return year_only(r, "onsetDateTime"); });
      break;
    }
    case Defect::kDateTimeWithoutTimeZone: {
      // "YYYY-MM-DDThh:mm:ss" and nothing after the seconds.
      const auto no_zone = [&](const Json& value) {
        if (!value.is_string()) return false;
        const std::string text = value;
        return text.size() == 19 && text[10] == 'T';
      };
      each("Observation", [&](const Json& r) { return no_zone(r["effectiveDateTime"]); });
      each("Encounter", [&](const Json& r) { return no_zone(r["period"]["start"]); });
      break;
    }
    case Defect::kSameLastUpdated:
      for (const auto& [key, resource] : data.resources) {
        const std::string updated = resource["meta"].value("lastUpdated", "");
        if (updated.size() > 5 && updated.compare(updated.size() - 5, 5, ".000Z") == 0) {
          found.insert(key);
        }
      }
      break;
    case Defect::kNonAsciiName:
      each("Patient", [&](const Json& patient) {
        const std::string text = patient["name"][0]["text"];
        return std::any_of(text.begin(), text.end(),
                           [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
      });
      break;
    case Defect::kLongFreeText:
      for (const auto& [key, resource] : data.resources) {
        bool long_text = false;
        ForEachString(resource,
                      [&](const std::string& text) { long_text |= text.size() >= 16384; });
        if (long_text) found.insert(key);
      }
      break;
    case Defect::kDataAbsentReason:
      each("Observation", [&](const Json& r) { return r.contains("dataAbsentReason"); });
      break;
    case Defect::kLongId:
      for (const auto& [key, resource] : data.resources) {
        if (resource["id"].get<std::string>().size() == 88) found.insert(key);
      }
      break;
  }
  return found;
}

std::set<std::string> ManifestRecords(const DataSet& data, Defect defect) {
  std::set<std::string> records;
  for (const Json& line : data.manifest) {
    if (line["defect"] == Describe(defect).name)
      records.insert(line["resource"].get<std::string>());
  }
  return records;
}

// ---------------------------------------------------------------------------------------------
// Determinism

TEST(SynthGeneratorTest, SameSeedAndOptionsGiveIdenticalBytes) {
  for (const OutputFormat format : {OutputFormat::kNdjson, OutputFormat::kBundles}) {
    const auto first = Synthesize(Options(25, 77, Profile::kNegative, format));
    const auto second = Synthesize(Options(25, 77, Profile::kNegative, format));
    EXPECT_EQ(first->output.streams(), second->output.streams());
    EXPECT_FALSE(first->output.streams().empty());
  }
}

TEST(SynthGeneratorTest, DifferentSeedsGiveDifferentData) {
  const auto first = Synthesize(Options(10, 1, Profile::kRealistic));
  const auto second = Synthesize(Options(10, 2, Profile::kRealistic));
  EXPECT_NE(first->Stream("Patient"), second->Stream("Patient"));
  EXPECT_NE(first->Stream("Observation"), second->Stream("Observation"));
}

TEST(SynthGeneratorTest, ChangingOneRateLeavesRecordsWithoutThatDefectUnchanged) {
  SynthOptions options = Options(15, 5, Profile::kClean);
  const auto clean = Synthesize(options);
  options.rates.Set(Defect::kDataAbsentReason, 0.5);
  const auto messy = Synthesize(options);
  const DataSet clean_data = Load(*clean);
  const DataSet messy_data = Load(*messy);
  const std::set<std::string> changed = ManifestRecords(messy_data, Defect::kDataAbsentReason);
  ASSERT_FALSE(changed.empty());
  ASSERT_EQ(clean_data.resources.size(), messy_data.resources.size());
  for (const auto& [key, resource] : clean_data.resources) {
    const auto other = messy_data.resources.find(key);
    ASSERT_NE(other, messy_data.resources.end()) << key;
    if (changed.count(key) == 0) {
      EXPECT_EQ(resource, other->second) << key;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shape of the output

TEST(SynthGeneratorTest, EveryNdjsonLineIsAResourceWithTypeAndId) {
  for (const Profile profile : {Profile::kClean, Profile::kRealistic, Profile::kNegative}) {
    const auto generated = Synthesize(Options(8, 3, profile));
    std::uint64_t lines = 0;
    for (const auto& [name, text] : generated->output.streams()) {
      if (name == "manifest") continue;
      for (const Json& resource : ParseLines(text)) {
        ++lines;
        ASSERT_TRUE(resource.is_object());
        EXPECT_EQ(resource.value("resourceType", ""), name);
        ASSERT_TRUE(resource.contains("id") && resource["id"].is_string());
        const std::string id = resource["id"];
        EXPECT_TRUE(!id.empty() && id.size() <= 88 && std::all_of(id.begin(), id.end(), [](char c) {
          return std::isalnum(c) || c == '-' || c == '.';
        })) << id;
      }
    }
    EXPECT_EQ(lines, generated->summary.resources);
  }
}

TEST(SynthGeneratorTest, SummaryCountsWhatWasWritten) {
  const auto generated = Synthesize(Options(8, 4, Profile::kRealistic));
  const DataSet data = Load(*generated);
  std::map<std::string, std::uint64_t> counts;
  for (const auto& [key, resource] : data.resources) ++counts[resource["resourceType"]];
  EXPECT_EQ(counts, generated->summary.resources_by_type);
  EXPECT_EQ(data.manifest.size(), generated->summary.defects);
  std::uint64_t bytes = 0;
  for (const auto& [name, text] : generated->output.streams()) bytes += text.size();
  EXPECT_EQ(bytes, generated->summary.bytes);
  EXPECT_NE(
      FormatSummary(Options(8, 4, Profile::kRealistic), generated->summary, 0.5).find("8 patients"),
      std::string::npos);
}

TEST(SynthGeneratorTest, CleanProfileHasEveryResourceTypeOfTheGraph) {
  const auto generated = Synthesize(Options(30, 8, Profile::kClean));
  for (const char* type :
       {"Organization", "Location", "Practitioner", "PractitionerRole", "Medication", "Patient",
        "Encounter", "Observation", "Condition", "AllergyIntolerance", "MedicationRequest",
        "MedicationStatement", "QuestionnaireResponse"}) {
    EXPECT_GT(generated->summary.resources_by_type[type], 0u) << type;
  }
  EXPECT_EQ(generated->summary.resources_by_type["Patient"], 30u);
  EXPECT_EQ(generated->Stream("manifest"), "");
}

TEST(SynthGeneratorTest, PatientsCarryEpicIdentifiersAndExtensions) {
  const DataSet data = Load(*Synthesize(Options(5, 9, Profile::kClean)));
  const std::regex mrn_system(R"(urn:oid:1\.2\.840\.114350\.1\.13\.\d+\.1\.7\.5\.737384\.0)");
  for (const auto& [key, patient] : data.resources) {
    if (!IsType(key, "Patient")) continue;
    EXPECT_TRUE(
        std::regex_match(patient["identifier"][0]["system"].get<std::string>(), mrn_system));
    std::set<std::string> urls;
    for (const auto& extension : patient["extension"]) urls.insert(extension["url"]);
    EXPECT_EQ(urls, (std::set<std::string>{std::string(kLegalSex), std::string(kClinicalSex)}));
    EXPECT_EQ(key.size(), std::string("Patient/").size() + 24);
  }
}

TEST(SynthGeneratorTest, OrganisationsWithOtherNamesGetOtherCids) {
  SynthOptions options = Options(2, 1, Profile::kClean);
  const std::string first = Synthesize(options)->Stream("Patient");
  options.organisation_name = "Imaginary Lakes Clinic (synthetic)";
  const std::string second = Synthesize(options)->Stream("Patient");
  const std::regex cid(R"(114350\.1\.13\.(\d+)\.1\.7\.5)");
  std::smatch first_match;
  std::smatch second_match;
  ASSERT_TRUE(std::regex_search(first, first_match, cid));
  ASSERT_TRUE(std::regex_search(second, second_match, cid));
  EXPECT_NE(first_match[1].str(), second_match[1].str());
}

TEST(SynthGeneratorTest, RejectsOptionsOutOfRange) {
  MemoryOutput output;
  SynthOptions options = Options(0, 1, Profile::kClean);
  auto result = Generate(options, output);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, base::ErrorCode::kInvalidParameter);
  EXPECT_EQ(result.error().location, "--patients");
  options.patients = kMaxPatients + 1;
  EXPECT_FALSE(Generate(options, output).has_value());
  options.patients = 1;
  options.organisation_name.clear();
  result = Generate(options, output);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().location, "--organisation-name");
}

// ---------------------------------------------------------------------------------------------
// References

TEST(SynthGeneratorTest, EveryReferenceInCleanOutputResolves) {
  const DataSet data = Load(*Synthesize(Options(40, 11, Profile::kClean)));
  int references = 0;
  for (const auto& [key, resource] : data.resources) {
    ForEachReference(resource, [&](const std::string& reference) {
      ++references;
      EXPECT_EQ(data.resources.count(reference), 1u) << key << " -> " << reference;
    });
  }
  EXPECT_GT(references, 1000);
}

TEST(SynthGeneratorTest, OnlyReferencesListedAsBrokenFailToResolve) {
  const DataSet data = Load(*Synthesize(Options(25, 12, Profile::kNegative)));
  std::set<std::string> broken = ManifestRecords(data, Defect::kReferenceToDeletedEncounter);
  const auto missing = ManifestRecords(data, Defect::kReferenceToMissingPractitioner);
  broken.insert(missing.begin(), missing.end());
  ASSERT_FALSE(broken.empty());
  std::set<std::string> unresolved;
  for (const auto& [key, resource] : data.resources) {
    ForEachReference(resource, [&](const std::string& reference) {
      if (data.resources.count(reference) == 0) unresolved.insert(key);
    });
  }
  EXPECT_EQ(unresolved, broken);
}

// ---------------------------------------------------------------------------------------------
// The manifest and the defects

TEST(SynthGeneratorTest, EveryManifestEntryIsVisibleInItsRecord) {
  for (const Profile profile : {Profile::kRealistic, Profile::kNegative}) {
    const DataSet data = Load(*Synthesize(Options(25, 21, profile)));
    ASSERT_FALSE(data.manifest.empty());
    std::map<std::string, std::set<std::string>> visible;
    for (const auto& info : DefectCatalogue()) {
      visible[std::string(info.name)] = Detect(info.defect, data);
    }
    for (const Json& line : data.manifest) {
      const std::string defect = line["defect"];
      const std::string record = line["resource"];
      EXPECT_EQ(data.resources.count(record), 1u) << record;
      EXPECT_EQ(visible[defect].count(record), 1u) << defect << " is not visible in " << record;
      EXPECT_TRUE(line["path"].is_string() && line["detail"].is_string());
    }
  }
}

TEST(SynthGeneratorTest, NegativeProfileInjectsEveryDefect) {
  const auto generated = Synthesize(Options(40, 22, Profile::kNegative));
  for (const auto& info : DefectCatalogue()) {
    EXPECT_GT(generated->summary.defects_by_name[std::string(info.name)], 0u) << info.name;
  }
}

TEST(SynthGeneratorTest, CleanProfileShowsNoDefectAnywhere) {
  const DataSet data = Load(*Synthesize(Options(25, 23, Profile::kClean)));
  EXPECT_TRUE(data.manifest.empty());
  for (const auto& info : DefectCatalogue()) {
    EXPECT_EQ(Detect(info.defect, data), std::set<std::string>{}) << info.name;
  }
}

TEST(SynthGeneratorTest, ADefectAtRateZeroNeverAppearsAmongTheOthers) {
  for (const auto& info : DefectCatalogue()) {
    SynthOptions options = Options(5, 24, Profile::kNegative);
    options.rates.Set(info.defect, 0);
    options.rates.Set(Defect::kLongFreeText, info.defect == Defect::kLongFreeText ? 0 : 0.003);
    const DataSet data = Load(*Synthesize(options));
    EXPECT_EQ(ManifestRecords(data, info.defect), std::set<std::string>{}) << info.name;
    EXPECT_EQ(Detect(info.defect, data), std::set<std::string>{}) << info.name;
  }
}

TEST(SynthGeneratorTest, EachKnobAloneProducesItsDefectAndOnlyIt) {
  for (const auto& info : DefectCatalogue()) {
    SynthOptions options =
        Options(info.defect == Defect::kLongFreeText ? 1 : 5, 25, Profile::kClean);
    options.rates.Set(info.defect, 1.0);
    const DataSet data = Load(*Synthesize(options));

    std::set<std::string> names;
    for (const Json& line : data.manifest) names.insert(line["defect"]);
    EXPECT_EQ(names, std::set<std::string>{std::string(info.name)}) << info.name;

    const std::set<std::string> listed = ManifestRecords(data, info.defect);
    EXPECT_FALSE(listed.empty()) << info.name;
    EXPECT_EQ(Detect(info.defect, data), listed) << info.name;
    for (const auto& other : DefectCatalogue()) {
      if (other.defect == info.defect) continue;
      EXPECT_EQ(Detect(other.defect, data), std::set<std::string>{})
          << other.name << " appears when only " << info.name << " is on";
    }
  }
}

TEST(SynthGeneratorTest, RateOneReachesEveryEligibleRecord) {
  SynthOptions options = Options(10, 26, Profile::kClean);
  options.rates.Set(Defect::kDataAbsentReason, 1);
  options.rates.Set(Defect::kFreeTextAllergy, 1);
  const DataSet data = Load(*Synthesize(options));
  for (const auto& [key, resource] : data.resources) {
    if (IsType(key, "Observation") && !resource.contains("component")) {
      EXPECT_TRUE(resource.contains("dataAbsentReason")) << key;
    }
    if (IsType(key, "AllergyIntolerance")) {
      EXPECT_FALSE(resource["code"].contains("coding")) << key;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Plausibility of the clean profile

TEST(SynthGeneratorTest, CleanDataIsClinicallyPlausible) {
  const DataSet data = Load(*Synthesize(Options(40, 31, Profile::kClean)));
  const std::int64_t as_of_day = DaysFromCivil(kAsOfYear, kAsOfMonth, kAsOfDay);
  const std::int64_t as_of_limit = (as_of_day + 1) * kSecondsPerDay + 12 * 3600;
  const auto day_of = [](const std::string& date) {
    return DaysFromCivil(std::stoi(date.substr(0, 4)), std::stoi(date.substr(5, 2)),
                         std::stoi(date.substr(8, 2)));
  };

  std::map<std::string, std::int64_t> birth_days;
  for (const auto& [key, patient] : data.resources) {
    if (!IsType(key, "Patient")) continue;
    const std::int64_t birth = day_of(patient["birthDate"]);
    EXPECT_LT(birth, as_of_day) << key;
    EXPECT_GT(birth, as_of_day - 110 * 366) << key;
    birth_days[key] = birth;
  }

  // Encounters: ordered periods, never after the as-of date, never overlapping per patient.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> periods;
  std::map<std::string, std::vector<std::pair<std::int64_t, std::int64_t>>> by_patient;
  for (const auto& [key, encounter] : data.resources) {
    if (!IsType(key, "Encounter")) continue;
    const std::int64_t start = ParseInstant(encounter["period"]["start"]);
    const std::int64_t end =
        encounter["period"].contains("end") ? ParseInstant(encounter["period"]["end"]) : 0;
    if (end != 0) {
      EXPECT_LT(start, end) << key;
    }
    EXPECT_LT(std::max(start, end), as_of_limit) << key;
    const std::string status = encounter["status"];
    if (status == "in-progress") {
      EXPECT_EQ(end, 0) << key;
    }
    if (status == "finished") {
      EXPECT_NE(end, 0) << key;
    }
    const std::string subject = encounter["subject"]["reference"];
    EXPECT_GT(start, birth_days[subject] * kSecondsPerDay) << key;
    periods[key] = {start, end};
    if (status != "cancelled") by_patient[subject].push_back({start, end == 0 ? as_of_limit : end});
  }
  for (auto& [patient, spans] : by_patient) {
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) {
      EXPECT_LE(spans[i - 1].second, spans[i].first) << "overlapping encounters for " << patient;
    }
  }

  // Observations inside their encounter, values in physiological ranges.
  const std::map<std::string, std::pair<double, double>> ranges = {
      {"8867-4", {40, 185}},  {"9279-1", {8, 60}},   {"8310-5", {35.5, 40.5}},
      {"59408-5", {84, 100}}, {"29463-7", {2, 250}}, {"8302-2", {45, 210}},
      {"39156-5", {8, 70}},   {"8480-6", {75, 210}}, {"8462-4", {40, 125}},
  };
  int checked_values = 0;
  for (const auto& [key, observation] : data.resources) {
    if (!IsType(key, "Observation")) continue;
    const auto& period = periods.at(observation["encounter"]["reference"].get<std::string>());
    const std::int64_t effective = ParseInstant(observation["effectiveDateTime"]);
    const std::int64_t issued = ParseInstant(observation["issued"]);
    EXPECT_GE(effective, period.first) << key;
    EXPECT_LE(effective, issued) << key;
    if (period.second != 0) {
      EXPECT_LE(effective, period.second) << key;
    }
    EXPECT_LT(issued, as_of_limit) << key;

    std::vector<std::pair<std::string, double>> values;
    if (observation.contains("valueQuantity")) {
      values.push_back({observation["code"]["coding"][0]["code"],
                        observation["valueQuantity"]["value"].get<double>()});
    }
    for (const auto& component : observation.value("component", Json::array())) {
      values.push_back({component["code"]["coding"][0]["code"],
                        component["valueQuantity"]["value"].get<double>()});
    }
    for (const auto& [code, value] : values) {
      const auto range = ranges.find(code);
      if (range == ranges.end()) continue;
      ++checked_values;
      EXPECT_GE(value, range->second.first) << key << " " << code;
      EXPECT_LE(value, range->second.second) << key << " " << code;
    }
  }
  EXPECT_GT(checked_values, 500);

  // Conditions after birth, abated after onset; orders within their encounter.
  for (const auto& [key, resource] : data.resources) {
    if (IsType(key, "Condition")) {
      const std::int64_t onset = day_of(resource["onsetDateTime"]);
      EXPECT_GE(onset, birth_days[resource["subject"]["reference"]]) << key;
      EXPECT_LE(onset, as_of_day) << key;
      if (resource.contains("abatementDateTime")) {
        EXPECT_GE(day_of(resource["abatementDateTime"]), onset) << key;
      }
    }
    if (IsType(key, "MedicationRequest")) {
      const auto& period = periods.at(resource["encounter"]["reference"].get<std::string>());
      const std::int64_t authored = ParseInstant(resource["authoredOn"]);
      EXPECT_GE(authored, period.first) << key;
      if (period.second != 0) {
        EXPECT_LE(authored, period.second) << key;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bundles

TEST(SynthGeneratorTest, BundlesAreSelfContainedIdempotentTransactions) {
  const auto generated = Synthesize(Options(20, 41, Profile::kRealistic, OutputFormat::kBundles));
  const std::vector<Json> bundles = ParseLines(generated->Stream("Bundle"));
  ASSERT_EQ(bundles.size(), 21u) << "one for the organisation graph, one per patient";

  // References that may point outside their Bundle: the deliberately broken ones.
  std::set<std::string> broken_records;
  for (const Json& line : ParseLines(generated->Stream("manifest"))) {
    ASSERT_TRUE(line.contains("fullUrl"));
    const std::string defect = line["defect"];
    if (defect.rfind("reference-to-", 0) == 0) broken_records.insert(line["fullUrl"]);
  }

  const std::regex uuid(
      R"(urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");
  for (const Json& bundle : bundles) {
    EXPECT_EQ(bundle["resourceType"], "Bundle");
    EXPECT_EQ(bundle["type"], "transaction");
    std::set<std::string> full_urls;
    for (const Json& entry : bundle["entry"]) {
      const std::string full_url = entry["fullUrl"];
      EXPECT_TRUE(std::regex_match(full_url, uuid)) << full_url;
      EXPECT_TRUE(full_urls.insert(full_url).second) << "duplicate entry " << full_url;
    }
    for (const Json& entry : bundle["entry"]) {
      const Json& resource = entry["resource"];
      EXPECT_FALSE(resource.contains("id")) << "a POST entry leaves the id to the server";
      EXPECT_EQ(entry["request"]["method"], "POST");
      EXPECT_EQ(entry["request"]["url"], resource["resourceType"]);
      const Json& identifier =
          resource["identifier"].is_array() ? resource["identifier"][0] : resource["identifier"];
      EXPECT_EQ(entry["request"]["ifNoneExist"].get<std::string>(),
                "identifier=" + identifier["system"].get<std::string>() + "|" +
                    identifier["value"].get<std::string>());
      ForEachReference(resource, [&](const std::string& reference) {
        if (reference.rfind("urn:uuid:", 0) == 0) {
          EXPECT_EQ(full_urls.count(reference), 1u) << reference << " is not in its Bundle";
        } else {
          EXPECT_EQ(broken_records.count(entry["fullUrl"]), 1u)
              << entry["fullUrl"] << " has an unlisted literal reference " << reference;
        }
      });
    }
  }
}

TEST(SynthGeneratorTest, BundlesHoldTheSameResourcesAsNdjson) {
  const auto ndjson = Synthesize(Options(15, 42, Profile::kRealistic));
  const auto bundles = Synthesize(Options(15, 42, Profile::kRealistic, OutputFormat::kBundles));
  std::map<std::string, std::set<std::string>> unique_entries;
  for (const Json& bundle : ParseLines(bundles->Stream("Bundle"))) {
    for (const Json& entry : bundle["entry"]) {
      unique_entries[entry["resource"]["resourceType"]].insert(entry["fullUrl"]);
    }
  }
  std::map<std::string, std::uint64_t> counts;
  for (const auto& [type, urls] : unique_entries) counts[type] = urls.size();
  EXPECT_EQ(counts, ndjson->summary.resources_by_type);
  EXPECT_EQ(ndjson->summary.resources_by_type, bundles->summary.resources_by_type);
  EXPECT_EQ(ndjson->summary.defects_by_name, bundles->summary.defects_by_name);
}

// ---------------------------------------------------------------------------------------------
// Streaming

TEST(SynthGeneratorTest, OutputArrivesPatientByPatient) {
  // A counting output sees the graph first, then a Bundle per patient: nothing is held back.
  class CountingOutput final : public SynthOutput {
   public:
    base::Status Append(std::string_view name, std::string_view lines) override {
      if (name == "Bundle") ++bundles;
      largest = std::max(largest, lines.size());
      return {};
    }
    int bundles = 0;
    std::size_t largest = 0;
  };
  CountingOutput output;
  SynthOptions options = Options(300, 51, Profile::kClean, OutputFormat::kBundles);
  ASSERT_TRUE(Generate(options, output).has_value());
  EXPECT_EQ(output.bundles, 301);
  EXPECT_LT(output.largest, 1u << 20) << "no append holds more than one patient";
}

TEST(SynthGeneratorTest, AFailingOutputStopsGeneration) {
  class FailingOutput final : public SynthOutput {
   public:
    base::Status Append(std::string_view, std::string_view) override {
      ++calls;
      return base::Fail(base::ErrorCode::kIoFailure, "disk full");
    }
    int calls = 0;
  };
  FailingOutput output;
  const auto result = Generate(Options(100, 1, Profile::kClean), output);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, base::ErrorCode::kIoFailure);
  EXPECT_EQ(output.calls, 1);
}

}  // namespace
}  // namespace fhirbridge::synth
