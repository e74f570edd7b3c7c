#include "sandbox/search_query.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace fhirbridge::sandbox {
namespace {

class FixedIds : public ParameterIds {
 public:
  std::optional<std::int64_t> Find(const std::string& type,
                                   const std::string& parameter) const override {
    const auto found = ids_.find(type + "." + parameter);
    if (found == ids_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::map<std::string, std::int64_t> ids_ = {{"Observation.patient", 1},
                                              {"Observation.category", 2},
                                              {"Observation.code", 3},
                                              {"Observation.date", 4},
                                              {"Observation.status", 5}};
};

Criterion Reference(std::string target) {
  return {"patient", SearchIndex::kReference, {ReferenceMatch{std::move(target)}}, false, {}};
}

Criterion Token(std::string parameter, std::optional<std::string> system, std::string code) {
  return {std::move(parameter),
          SearchIndex::kToken,
          {TokenMatch{std::move(system), std::move(code)}},
          false,
          {}};
}

// Counting estimates: how many each criterion's values would be, by parameter id bound.
std::int64_t NeverCalled(const BoundSql&) {
  ADD_FAILURE() << "no estimate expected";
  return 0;
}

std::optional<std::int64_t> NoTargets(const std::string&) { return std::nullopt; }

TEST(SearchPlanTest, APatientWithATokenCodeDrivesAPatientTokenScan) {
  StoreSearch search;
  search.type = "Observation";
  search.criteria = {Token("category", std::nullopt, "vital-signs"), Reference("Patient/1")};
  const SearchPlan plan =
      ChooseSearchPlan(search, FixedIds(), NeverCalled,
                       [](const std::string& target) -> std::optional<std::int64_t> {
                         EXPECT_EQ(target, "Patient/1");
                         return 7;
                       });
  EXPECT_EQ(plan.drive, SearchPlan::Drive::kPatientTokenScan);
  EXPECT_EQ(plan.criterion, 0u);
  EXPECT_EQ(plan.patient_criterion, 1u);
  EXPECT_EQ(plan.patient_target, 7);

  const BoundSql sql = PageSql(search, FixedIds(), plan);
  EXPECT_NE(sql.sql.find("FROM search_token AS d"), std::string::npos) << sql.sql;
  EXPECT_NE(sql.sql.find("d.patient <> 0"), std::string::npos) << sql.sql;
  // Without a system the same code may come twice; the rows are grouped per resource before
  // their JSON is read.
  EXPECT_NE(sql.sql.find("GROUP BY d.rid ORDER BY d.rid LIMIT ?"), std::string::npos) << sql.sql;
  EXPECT_NE(sql.sql.find(") AS p JOIN resource_current"), std::string::npos) << sql.sql;
  EXPECT_EQ(sql.sql.find("search_reference"), std::string::npos) << sql.sql;
}

TEST(SearchPlanTest, AnExactReferenceDrivesAnIndexScan) {
  StoreSearch search;
  search.type = "Observation";
  Criterion date{"date", SearchIndex::kDate, {DateMatch{Comparison::kGe, 0, 1}}, false, {}};
  search.criteria = {date, Reference("Patient/1")};
  const SearchPlan plan = ChooseSearchPlan(search, FixedIds(), NeverCalled, NoTargets);
  EXPECT_EQ(plan.drive, SearchPlan::Drive::kIndexScan);
  EXPECT_EQ(plan.criterion, 1u);
}

TEST(SearchPlanTest, AnExactSystemAndCodeDrivesWhenNoReferenceDoes) {
  StoreSearch search;
  search.type = "Observation";
  search.criteria = {Token("category", std::nullopt, "vital-signs"),
                     Token("code", "http://loinc.org", "8867-4")};
  const SearchPlan plan = ChooseSearchPlan(search, FixedIds(), NeverCalled, NoTargets);
  EXPECT_EQ(plan.drive, SearchPlan::Drive::kIndexScan);
  EXPECT_EQ(plan.criterion, 1u);
}

TEST(SearchPlanTest, TheFewestValuesDriveAnIndexSetAndUnselectiveOnesAScan) {
  StoreSearch search;
  search.type = "Observation";
  search.criteria = {Token("status", std::nullopt, "final"),
                     Token("category", std::nullopt, "vital-signs")};
  // The estimate binds the parameter id first: status is 5, category 2.
  const auto counts = [](std::int64_t status_rows, std::int64_t category_rows) {
    return [=](const BoundSql& sql) {
      return std::get<std::int64_t>(sql.values.front()) == 5 ? status_rows : category_rows;
    };
  };
  SearchPlan plan = ChooseSearchPlan(search, FixedIds(), counts(1500, 30), NoTargets);
  EXPECT_EQ(plan.drive, SearchPlan::Drive::kIndexSet);
  EXPECT_EQ(plan.criterion, 1u);

  plan = ChooseSearchPlan(search, FixedIds(), counts(2000, 2000), NoTargets);
  EXPECT_EQ(plan.drive, SearchPlan::Drive::kTypeScan);
}

TEST(SearchPlanTest, NegatedAndMissingCriteriaNeverDrive) {
  StoreSearch search;
  search.type = "Observation";
  Criterion negated = Reference("Patient/1");
  negated.negated = true;
  Criterion missing{"code", SearchIndex::kToken, {}, false, true};
  search.criteria = {negated, missing};
  EXPECT_EQ(ChooseSearchPlan(search, FixedIds(), NeverCalled, NoTargets).drive,
            SearchPlan::Drive::kTypeScan);
}

TEST(SearchSqlTest, AnIndexScanPageTestsOtherCriteriaOnTheDriverAndStopsAfterAPage) {
  StoreSearch search;
  search.type = "Observation";
  search.count = 50;
  search.criteria = {Reference("Patient/1"), Token("category", std::nullopt, "vital-signs")};
  SearchPlan plan;
  plan.drive = SearchPlan::Drive::kIndexScan;
  const BoundSql sql = PageSql(search, FixedIds(), plan);
  EXPECT_NE(sql.sql.find("FROM search_reference AS d"), std::string::npos) << sql.sql;
  EXPECT_NE(sql.sql.find("EXISTS (SELECT 1 FROM search_token AS t WHERE t.rid = d.rid"),
            std::string::npos)
      << sql.sql;
  EXPECT_NE(sql.sql.find("ORDER BY d.rid LIMIT"), std::string::npos) << sql.sql;
  EXPECT_EQ(std::get<std::int64_t>(sql.values.back()), 51);
  EXPECT_EQ(sql.sql.find("json FROM search"), std::string::npos);
}

TEST(SearchSqlTest, AKeysetPositionContinuesAfterTheLastEntryShown) {
  StoreSearch search;
  search.type = "Observation";
  search.sort = {{"date", SearchIndex::kDate, true}};
  search.after = SearchPosition{{std::int64_t{1700000000000}}, 42};
  const BoundSql sql = PageSql(search, FixedIds(), {});
  EXPECT_NE(sql.sql.find("q.k0 < IFNULL("), std::string::npos) << sql.sql;
  EXPECT_NE(sql.sql.find("q.rid > "), std::string::npos) << sql.sql;
  EXPECT_NE(sql.sql.find("ORDER BY q.k0 DESC, q.rid"), std::string::npos) << sql.sql;
}

TEST(SearchSqlTest, UnknownParametersMatchNothingOrEverythingWhenNegated) {
  StoreSearch search;
  search.type = "Observation";
  search.criteria = {Token("no-such-parameter", std::nullopt, "x")};
  EXPECT_NE(CountSql(search, FixedIds(), {}, std::nullopt).sql.find(" AND 0"), std::string::npos);
  search.criteria.front().negated = true;
  EXPECT_NE(CountSql(search, FixedIds(), {}, std::nullopt).sql.find(" AND 1"), std::string::npos);
}

}  // namespace
}  // namespace fhirbridge::sandbox
