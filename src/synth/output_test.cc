#include "synth/output.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fhirbridge::synth {
namespace {

class SynthDirectoryOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("fhirbridge-synth-output-" + std::to_string(std::random_device{}()));
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  std::string Read(const std::string& name) const {
    std::ifstream file(directory_ / name, std::ios::binary);
    std::ostringstream content;
    content << file.rdbuf();
    return content.str();
  }

  std::filesystem::path directory_;
};

TEST_F(SynthDirectoryOutputTest, WritesOneFilePerStream) {
  auto output = DirectoryOutput::Open(directory_, false);
  ASSERT_TRUE(output.has_value()) << output.error().ToString();
  ASSERT_TRUE((*output)->Append("Patient", "{\"a\":1}\n").has_value());
  ASSERT_TRUE((*output)->Append("manifest", "{}\n").has_value());
  ASSERT_TRUE((*output)->Append("Patient", "{\"a\":2}\n").has_value());
  ASSERT_TRUE((*output)->Close().has_value());
  EXPECT_EQ(Read("Patient.ndjson"), "{\"a\":1}\n{\"a\":2}\n");
  EXPECT_EQ(Read("manifest.ndjson"), "{}\n");
}

TEST_F(SynthDirectoryOutputTest, RefusesADirectoryWithNdjsonFilesUnlessOverwriting) {
  std::filesystem::create_directories(directory_);
  std::ofstream(directory_ / "Old.ndjson") << "{}\n";
  std::ofstream(directory_ / "README.md") << "kept\n";

  const auto refused = DirectoryOutput::Open(directory_, false);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kInvalidParameter);
  EXPECT_EQ(refused.error().location, "--out");

  auto output = DirectoryOutput::Open(directory_, true);
  ASSERT_TRUE(output.has_value());
  EXPECT_FALSE(std::filesystem::exists(directory_ / "Old.ndjson"));
  EXPECT_TRUE(std::filesystem::exists(directory_ / "README.md"));
}

TEST(SynthMemoryOutputTest, ConcatenatesAppendsPerStream) {
  MemoryOutput output;
  ASSERT_TRUE(output.Append("Bundle", "a\n").has_value());
  ASSERT_TRUE(output.Append("Bundle", "b\n").has_value());
  EXPECT_EQ(output.streams().at("Bundle"), "a\nb\n");
}

}  // namespace
}  // namespace fhirbridge::synth
