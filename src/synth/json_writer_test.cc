#include "synth/json_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fhirbridge::synth {
namespace {

TEST(SynthJsonWriterTest, WritesNestedObjectsAndArraysWithCommas) {
  std::string out;
  JsonWriter writer(out);
  writer.BeginObject();
  writer.Member("a", "x");
  writer.Key("b");
  writer.BeginArray();
  writer.Int(1);
  writer.Bool(false);
  writer.BeginObject();
  writer.EndObject();
  writer.EndArray();
  writer.MemberInt("c", -5);
  writer.EndObject();
  EXPECT_EQ(out, R"({"a":"x","b":[1,false,{}],"c":-5})");
}

TEST(SynthJsonWriterTest, EscapedStringsRoundTripThroughAJsonParser) {
  const std::string tricky =
      "quote \" backslash \\ newline \n tab \t bell \x07 nul-free, long enough to cross eight-"
      "byte blocks; Zo\xC3\xAB \xE6\xB5\x8B";
  std::string out;
  AppendJsonString(out, tricky);
  EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(), tricky);

  // Every single control character, at every offset within an eight-byte block.
  for (int byte = 1; byte < 0x20; ++byte) {
    for (int offset = 0; offset < 9; ++offset) {
      std::string value(offset, 'a');
      value.push_back(static_cast<char>(byte));
      value.append("bbbbbbbb");
      std::string encoded;
      AppendJsonString(encoded, value);
      ASSERT_EQ(nlohmann::json::parse(encoded).get<std::string>(), value) << byte << " " << offset;
    }
  }
}

TEST(SynthJsonWriterTest, DecimalKeepsItsScale) {
  std::string out;
  AppendDecimal(out, 372, 1);
  out += " ";
  AppendDecimal(out, 50, 1);
  out += " ";
  AppendDecimal(out, -25, 2);
  out += " ";
  AppendDecimal(out, 7, 0);
  out += " ";
  AppendDecimal(out, 5, 3);
  EXPECT_EQ(out, "37.2 5.0 -0.25 7 0.005");
}

}  // namespace
}  // namespace fhirbridge::synth
