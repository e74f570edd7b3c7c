#include "base/error.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace fhirbridge::base {
namespace {

TEST(ErrorCatalogueTest, EveryCodeHasAUniqueNameAndAnErrorStatus) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    const ErrorInfo& info = Describe(static_cast<ErrorCode>(i));
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate name " << info.name;
    EXPECT_GE(info.http_status, 400) << info.name;
    EXPECT_LT(info.http_status, 600) << info.name;
    EXPECT_FALSE(info.issue_code.empty()) << info.name;
    EXPECT_FALSE(info.message.empty()) << info.name;
  }
}

TEST(ErrorCatalogueTest, MapsStateErrorsToTheirFhirStatuses) {
  EXPECT_EQ(Describe(ErrorCode::kGone).http_status, 410);
  EXPECT_EQ(Describe(ErrorCode::kGone).issue_code, "deleted");
  EXPECT_EQ(Describe(ErrorCode::kVersionConflict).http_status, 412);
  EXPECT_EQ(Describe(ErrorCode::kMultipleMatches).issue_code, "multiple-matches");
  EXPECT_EQ(Describe(ErrorCode::kBodyTooLarge).http_status, 413);
}

TEST(ErrorTest, ToStringPrefersTheDiagnosticAndAddsTheLocation) {
  EXPECT_EQ(MakeError(ErrorCode::kNotFound).ToString(), "The resource does not exist.");
  EXPECT_EQ(MakeError(ErrorCode::kInvalidJson, "unexpected end of input", "line 3").ToString(),
            "unexpected end of input (at line 3)");
}

}  // namespace
}  // namespace fhirbridge::base
