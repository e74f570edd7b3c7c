#include "synth/named_set.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "synth/output.h"

namespace fhirbridge::synth {
namespace {

std::map<std::string, std::string> CommittedFiles() {
  std::map<std::string, std::string> files;
  const std::filesystem::path directory =
      std::filesystem::path(FHIRBRIDGE_SOURCE_DIR) / kNamedSetDirectory;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() != ".ndjson") continue;
    std::ifstream file(entry.path(), std::ios::binary);
    std::ostringstream content;
    content << file.rdbuf();
    files[entry.path().stem().string()] = content.str();
  }
  return files;
}

TEST(SynthNamedSetTest, CommittedFilesMatchTheGenerator) {
  MemoryOutput output;
  ASSERT_TRUE(Generate(NamedSetOptions(), output).has_value());
  const auto committed = CommittedFiles();
  ASSERT_FALSE(committed.empty()) << "data/synth/named-set is missing";

  std::map<std::string, std::string> generated(output.streams().begin(), output.streams().end());
  for (const auto& [name, content] : generated) {
    const auto file = committed.find(name);
    ASSERT_NE(file, committed.end()) << name << ".ndjson is not committed";
    EXPECT_TRUE(file->second == content)
        << name << ".ndjson drifted from the generator; regenerate it with the command in "
        << "src/synth/named_set.h";
  }
  for (const auto& [name, content] : committed) {
    EXPECT_EQ(generated.count(name), 1u) << name << ".ndjson is committed but no longer generated";
  }
}

TEST(SynthNamedSetTest, HasTenPatientsAndAManifest) {
  const auto committed = CommittedFiles();
  const auto patients = committed.find("Patient");
  ASSERT_NE(patients, committed.end());
  std::size_t lines = 0;
  for (const char c : patients->second) lines += c == '\n' ? 1 : 0;
  EXPECT_GE(lines, 10u) << "ten patients, and any duplicates the defects add";
  EXPECT_EQ(committed.count("manifest"), 1u);
}

}  // namespace
}  // namespace fhirbridge::synth
