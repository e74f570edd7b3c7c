#include "sandbox/id_generator.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fhirbridge::sandbox {
namespace {

bool IsEpicStyle(const std::string& id) {
  static const std::regex kPattern("e[A-Za-z0-9.-]*");
  if (!std::regex_match(id, kPattern)) return false;
  if (id.back() == '.' || id.back() == '-') return false;
  return id.find("..") == std::string::npos && id.find("--") == std::string::npos &&
         id.find(".-") == std::string::npos && id.find("-.") == std::string::npos;
}

TEST(IdGeneratorTest, EpicIdsHaveTheRequestedLengthAndShape) {
  for (const std::size_t length : {1u, 2u, 3u, 24u, 64u, 88u, 200u}) {
    const auto generate = MakeIdGenerator(IdStyle::kEpic, length);
    for (int i = 0; i < 200; ++i) {
      const auto id = generate();
      ASSERT_EQ(id.size(), length) << id;
      ASSERT_TRUE(IsEpicStyle(id)) << id;
      if (length >= 3) {
        ASSERT_EQ(id.back(), '3') << id;
      }
    }
  }
}

TEST(IdGeneratorTest, EpicIdsSometimesCarrySeparators) {
  const auto generate = MakeIdGenerator(IdStyle::kEpic, 88);
  int with_separator = 0;
  for (int i = 0; i < 1000; ++i) {
    if (generate().find_first_of(".-") != std::string::npos) ++with_separator;
  }
  // 86 positions at 1 in 64 each: about three ids in four carry one.
  EXPECT_GT(with_separator, 500);
  EXPECT_LT(with_separator, 950);
}

TEST(IdGeneratorTest, EpicIdsAreUniqueOverTenThousand) {
  const auto generate = MakeIdGenerator(IdStyle::kEpic, 24);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(generate());
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(IdGeneratorTest, UuidsAreLowercaseVersion4) {
  static const std::regex kUuid(
      "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  const auto generate = MakeIdGenerator(IdStyle::kUuid, 24);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    const auto id = generate();
    ASSERT_TRUE(std::regex_match(id, kUuid)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(IdGeneratorTest, SequentialCountsFromOnePerGenerator) {
  const auto first = MakeIdGenerator(IdStyle::kSequential, 24);
  const auto second = MakeIdGenerator(IdStyle::kSequential, 24);
  EXPECT_EQ(first(), "1");
  EXPECT_EQ(first(), "2");
  EXPECT_EQ(second(), "1");
  const auto copy = first;
  EXPECT_EQ(copy(), "3");
  EXPECT_EQ(first(), "4");
}

TEST(IdGeneratorTest, ConcurrentCallersNeverShareAnId) {
  for (const auto style : {IdStyle::kEpic, IdStyle::kUuid, IdStyle::kSequential}) {
    const auto generate = MakeIdGenerator(style, 24);
    std::vector<std::vector<std::string>> per_thread(4);
    std::vector<std::thread> threads;
    for (auto& ids : per_thread) {
      threads.emplace_back([&generate, &ids] {
        for (int i = 0; i < 2500; ++i) ids.push_back(generate());
      });
    }
    for (auto& thread : threads) thread.join();

    std::set<std::string> seen;
    for (const auto& ids : per_thread) seen.insert(ids.begin(), ids.end());
    EXPECT_EQ(seen.size(), 10000u);
  }
}

}  // namespace
}  // namespace fhirbridge::sandbox
