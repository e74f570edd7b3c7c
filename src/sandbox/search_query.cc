#include "sandbox/search_query.h"

#include <algorithm>
#include <limits>

namespace fhirbridge::sandbox {
namespace {

// Beyond this many index entries a criterion is not worth gathering into a set: scanning the
// type in key order and testing each resource stops at the page's end much sooner.
constexpr std::int64_t kSelectiveLimit = 2000;

// The parameter whose values place a resource in a patient's compartment; the store keeps them
// beside every token (see resource_store.cc).
constexpr std::string_view kPatientParameter = "patient";

// Missing sort values sort last in both directions: above every value (SQLite orders blobs after
// text and numbers) when ascending, below every value when descending.
constexpr std::string_view kMissingAscending = "x''";
constexpr std::string_view kMissingDescending = "-9223372036854775808";

std::string_view TableOf(SearchIndex index) {
  switch (index) {
    case SearchIndex::kToken:
      return "search_token";
    case SearchIndex::kString:
      return "search_string";
    case SearchIndex::kDate:
      return "search_date";
    case SearchIndex::kReference:
      return "search_reference";
    case SearchIndex::kNumber:
      return "search_number";
  }
  return "search_token";
}

// The column a sort key orders by.
std::string_view SortColumnOf(SearchIndex index) {
  switch (index) {
    case SearchIndex::kToken:
      return "code";
    case SearchIndex::kString:
      return "value";
    case SearchIndex::kDate:
      // Ranges sort by where they start, in both directions, so that descending is the exact
      // reverse of ascending.
      return "low";
    case SearchIndex::kReference:
      return "target";
    case SearchIndex::kNumber:
      return "value";
  }
  return "code";
}

// The smallest byte string greater than every string starting with `prefix`; "" when none is.
std::string PrefixUpperBound(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xFF) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

// Accumulates SQL text and its bound values.
class SqlWriter {
 public:
  // Binds `value` and returns its placeholder, "?N"; the placeholder may be written again.
  std::string Bind(BoundSql::Value value) {
    bound_.values.push_back(std::move(value));
    return "?" + std::to_string(bound_.values.size());
  }

  SqlWriter& operator<<(std::string_view text) {
    bound_.sql += text;
    return *this;
  }

  BoundSql Finish() { return std::move(bound_); }

 private:
  BoundSql bound_;
};

// The condition one match puts on an index row aliased `t` ("t." is passed as `t`).
std::string MatchCondition(const Match& match, const std::string& t, SqlWriter& writer) {
  if (const auto* token = std::get_if<TokenMatch>(&match)) {
    std::string condition;
    if (token->code) condition = t + "code = " + writer.Bind(*token->code);
    if (token->system) {
      if (!condition.empty()) condition += " AND ";
      condition += t + "system = " + writer.Bind(*token->system);
    }
    return condition.empty() ? "1" : "(" + condition + ")";
  }
  if (const auto* text = std::get_if<StringMatch>(&match)) {
    switch (text->mode) {
      case StringMatch::Mode::kExact:
        return t + "exact = " + writer.Bind(text->value);
      case StringMatch::Mode::kContains:
        return "instr(" + t + "value, " + writer.Bind(text->value) + ") > 0";
      case StringMatch::Mode::kStartsWith: {
        if (text->value.empty()) return "1";
        const std::string upper = PrefixUpperBound(text->value);
        std::string condition = "(" + t + "value >= " + writer.Bind(text->value);
        if (!upper.empty()) condition += " AND " + t + "value < " + writer.Bind(upper);
        return condition + ")";
      }
    }
  }
  if (const auto* date = std::get_if<DateMatch>(&match)) {
    const std::string low = writer.Bind(date->low);
    const std::string high = writer.Bind(date->high);
    const std::string contained = "(" + t + "low >= " + low + " AND " + t + "high <= " + high + ")";
    switch (date->comparison) {
      case Comparison::kEq:
        return contained;
      case Comparison::kNe:
        return "NOT " + contained;
      case Comparison::kGt:
        return t + "high > " + high;
      case Comparison::kLt:
        return t + "low < " + low;
      case Comparison::kGe:
        return "(" + t + "high > " + high + " OR " + contained + ")";
      case Comparison::kLe:
        return "(" + t + "low < " + low + " OR " + contained + ")";
      case Comparison::kSa:
        return t + "low > " + high;
      case Comparison::kEb:
        return t + "high < " + low;
      case Comparison::kAp:
        return "(" + t + "low <= " + high + " AND " + t + "high >= " + low + ")";
    }
  }
  if (const auto* number = std::get_if<NumberMatch>(&match)) {
    std::string condition;
    switch (number->comparison) {
      case Comparison::kEq:
      case Comparison::kAp:
        condition = "(" + t + "value >= " + writer.Bind(number->low) + " AND " + t + "value < " +
                    writer.Bind(number->high) + ")";
        break;
      case Comparison::kNe:
        condition = "NOT (" + t + "value >= " + writer.Bind(number->low) + " AND " + t +
                    "value < " + writer.Bind(number->high) + ")";
        break;
      case Comparison::kGt:
      case Comparison::kSa:
        condition = t + "value > " + writer.Bind(number->value);
        break;
      case Comparison::kLt:
      case Comparison::kEb:
        condition = t + "value < " + writer.Bind(number->value);
        break;
      case Comparison::kGe:
        condition = t + "value >= " + writer.Bind(number->value);
        break;
      case Comparison::kLe:
        condition = t + "value <= " + writer.Bind(number->value);
        break;
    }
    if (number->system) condition += " AND " + t + "system = " + writer.Bind(*number->system);
    if (number->code) condition += " AND " + t + "code = " + writer.Bind(*number->code);
    return "(" + condition + ")";
  }
  const auto& reference = std::get<ReferenceMatch>(match);
  return t + "target = " + writer.Bind(reference.target);
}

// "(m1 OR m2 ...)" for the criterion's matches on rows aliased as `t` says.
std::string AnyOf(const Criterion& criterion, const std::string& t, SqlWriter& writer) {
  std::string conditions;
  for (const Match& match : criterion.any_of) {
    if (!conditions.empty()) conditions += " OR ";
    conditions += MatchCondition(match, t, writer);
  }
  return conditions.empty() ? "1" : "(" + conditions + ")";
}

// The test of one criterion for the resource whose key is the SQL expression `key`.
std::string CriterionCondition(const StoreSearch& search, const Criterion& criterion,
                               const ParameterIds& ids, std::string_view key, SqlWriter& writer) {
  const auto pid = ids.Find(search.type, criterion.parameter);
  const bool wants_absence = criterion.missing ? *criterion.missing : criterion.negated;
  if (!pid) return wants_absence ? "1" : "0";

  std::string exists = "EXISTS (SELECT 1 FROM " + std::string(TableOf(criterion.index)) +
                       " AS t WHERE t.rid = " + std::string(key) +
                       " AND t.pid = " + writer.Bind(*pid);
  if (!criterion.missing) exists += " AND " + AnyOf(criterion, "t.", writer);
  exists += ")";
  return wants_absence ? "NOT " + exists : exists;
}

bool IsIndexScanDriver(const Criterion& criterion) {
  if (criterion.negated || criterion.missing || criterion.any_of.size() != 1) return false;
  if (criterion.index == SearchIndex::kReference) return true;
  if (criterion.index != SearchIndex::kToken) return false;
  const auto& token = std::get<TokenMatch>(criterion.any_of.front());
  return token.system.has_value() && token.code.has_value();
}

bool CanDrive(const Criterion& criterion) {
  return !criterion.negated && !criterion.missing && !criterion.any_of.empty();
}

// Where candidates come from and the expression of their key: FROM clause (without the
// joins the page adds) and the driver's own conditions.
struct Driver {
  std::string from;
  std::string key;
  std::string conditions;
  // The driver may yield one resource more than once (a code under two systems, a resource in
  // two patients' compartments); rows are then grouped by key, which costs nothing in key order.
  bool group_by_key = false;
};

Driver DriverFor(const StoreSearch& search, const ParameterIds& ids, const SearchPlan& plan,
                 SqlWriter& writer) {
  Driver driver;
  if (plan.drive == SearchPlan::Drive::kTypeScan) {
    driver.from = "resource_current AS c";
    driver.key = "c.rid";
    driver.conditions = "c.type = " + writer.Bind(search.type) + " AND c.deleted = 0";
    return driver;
  }
  const Criterion& criterion = search.criteria[plan.criterion];
  const auto pid = ids.Find(search.type, criterion.parameter);
  const std::string table(TableOf(criterion.index));
  // A driver is a positive criterion, so an unknown parameter matches nothing.
  const std::string parameter = pid ? writer.Bind(*pid) : "NULL";
  if (plan.drive == SearchPlan::Drive::kPatientTokenScan) {
    // The "patient <> 0" term lets SQLite use the partial index search_token_by_patient.
    driver.from = "search_token AS d";
    driver.key = "d.rid";
    driver.conditions =
        "d.patient = " + (plan.patient_target ? writer.Bind(*plan.patient_target) : "NULL") +
        " AND d.patient <> 0 AND d.pid = " + parameter + " AND " + AnyOf(criterion, "d.", writer);
    const auto& token = std::get<TokenMatch>(criterion.any_of.front());
    driver.group_by_key = !token.system.has_value();
    return driver;
  }
  if (plan.drive == SearchPlan::Drive::kIndexScan) {
    // The index entries of one exact value are ordered by resource key already.
    // Aliased "d" so that the EXISTS tests of other criteria (aliased "t") cannot capture it.
    driver.from = table + " AS d";
    driver.key = "d.rid";
    driver.conditions = "d.pid = " + parameter + " AND " + AnyOf(criterion, "d.", writer);
    driver.group_by_key = criterion.index == SearchIndex::kToken;
    return driver;
  }
  driver.from = "resource_current AS c";
  driver.key = "c.rid";
  driver.conditions = "c.rid IN (SELECT t.rid FROM " + table + " AS t WHERE t.pid = " + parameter +
                      " AND " + AnyOf(criterion, "t.", writer) + ")";
  return driver;
}

// Every condition a match must meet: the driver's and each other criterion's.
std::string MatchConditions(const StoreSearch& search, const ParameterIds& ids,
                            const SearchPlan& plan, const Driver& driver, SqlWriter& writer) {
  std::string conditions = driver.conditions;
  for (std::size_t i = 0; i < search.criteria.size(); ++i) {
    if (plan.drive != SearchPlan::Drive::kTypeScan && i == plan.criterion) continue;
    if (plan.drive == SearchPlan::Drive::kPatientTokenScan && i == plan.patient_criterion) {
      continue;
    }
    conditions += " AND " + CriterionCondition(search, search.criteria[i], ids, driver.key, writer);
  }
  return conditions;
}

std::string SortValueExpression(const StoreSearch& search, const SortKey& key,
                                const ParameterIds& ids, std::string_view resource_key,
                                SqlWriter& writer) {
  const std::string_view missing = key.descending ? kMissingDescending : kMissingAscending;
  const auto pid = ids.Find(search.type, key.parameter);
  if (!pid) return std::string(missing);
  return "IFNULL((SELECT " + std::string(key.descending ? "MAX" : "MIN") + "(s." +
         std::string(SortColumnOf(key.index)) + ") FROM " + std::string(TableOf(key.index)) +
         " AS s WHERE s.rid = " + std::string(resource_key) + " AND s.pid = " + writer.Bind(*pid) +
         "), " + std::string(missing) + ")";
}

BoundSql::Value BoundSortValue(const SortValue& value) {
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return *integer;
  if (const auto* real = std::get_if<double>(&value)) return *real;
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  return nullptr;
}

// "(k0 > a0) OR (k0 = a0 AND (... OR rid > r))", with `<` for descending keys; a missing value
// in the position is written as the sentinel it was read as.
std::string KeysetCondition(const StoreSearch& search, const SearchPosition& position,
                            std::string_view prefix, SqlWriter& writer) {
  std::string condition = std::string(prefix) + "rid > " + writer.Bind(position.resource_key);
  for (std::size_t i = search.sort.size(); i-- > 0;) {
    const SortKey& key = search.sort[i];
    const std::string_view missing = key.descending ? kMissingDescending : kMissingAscending;
    const SortValue value =
        i < position.sort_values.size() ? position.sort_values[i] : SortValue(nullptr);
    const std::string bound =
        "IFNULL(" + writer.Bind(BoundSortValue(value)) + ", " + std::string(missing) + ")";
    const std::string column = std::string(prefix) + "k" + std::to_string(i);
    condition = "(" + column + (key.descending ? " < " : " > ") + bound + " OR (" + column + " = " +
                bound + " AND " + condition + "))";
  }
  return condition;
}

std::string OrderBy(const StoreSearch& search, std::string_view prefix) {
  std::string order;
  for (std::size_t i = 0; i < search.sort.size(); ++i) {
    order += std::string(prefix) + "k" + std::to_string(i) +
             (search.sort[i].descending ? " DESC, " : ", ");
  }
  return order + std::string(prefix) + "rid";
}

SearchPlan DrivenBy(SearchPlan::Drive drive, std::size_t criterion) {
  SearchPlan plan;
  plan.drive = drive;
  plan.criterion = criterion;
  return plan;
}

constexpr std::string_view kVersionColumns =
    "v.type, v.id, v.version, v.last_updated, v.deleted, v.json, v.seq, v.method";

}  // namespace

SearchPlan ChooseSearchPlan(
    const StoreSearch& search, const ParameterIds& ids,
    const std::function<std::int64_t(const BoundSql&)>& count_rows,
    const std::function<std::optional<std::int64_t>(const std::string&)>& target_number) {
  // patient=Patient/X with a token code: the patient's token entries for that code.
  for (std::size_t p = 0; p < search.criteria.size(); ++p) {
    const Criterion& patient = search.criteria[p];
    if (patient.parameter != kPatientParameter || !IsIndexScanDriver(patient) ||
        patient.index != SearchIndex::kReference) {
      continue;
    }
    for (std::size_t i = 0; i < search.criteria.size(); ++i) {
      const Criterion& token = search.criteria[i];
      if (token.index != SearchIndex::kToken || !CanDrive(token) || token.any_of.size() != 1 ||
          !std::get<TokenMatch>(token.any_of.front()).code ||
          !ids.Find(search.type, token.parameter)) {
        continue;
      }
      SearchPlan plan;
      plan.drive = SearchPlan::Drive::kPatientTokenScan;
      plan.criterion = i;
      plan.patient_criterion = p;
      plan.patient_target = target_number(std::get<ReferenceMatch>(patient.any_of.front()).target);
      return plan;
    }
  }

  // An exact reference first (a patient's resources), then an exact system|code.
  for (const SearchIndex wanted : {SearchIndex::kReference, SearchIndex::kToken}) {
    for (std::size_t i = 0; i < search.criteria.size(); ++i) {
      const Criterion& criterion = search.criteria[i];
      if (criterion.index == wanted && IsIndexScanDriver(criterion) &&
          ids.Find(search.type, criterion.parameter)) {
        return DrivenBy(SearchPlan::Drive::kIndexScan, i);
      }
    }
  }

  SearchPlan best;
  std::int64_t fewest = kSelectiveLimit;
  for (std::size_t i = 0; i < search.criteria.size(); ++i) {
    const Criterion& criterion = search.criteria[i];
    if (!CanDrive(criterion)) continue;
    const auto pid = ids.Find(search.type, criterion.parameter);
    // A parameter no resource has a value for matches nothing: the cheapest driver there is.
    if (!pid) return DrivenBy(SearchPlan::Drive::kIndexSet, i);
    SqlWriter writer;
    writer << "SELECT COUNT(*) FROM (SELECT 1 FROM " << TableOf(criterion.index)
           << " AS t WHERE t.pid = " << writer.Bind(*pid) << " AND "
           << AnyOf(criterion, "t.", writer) << " LIMIT " << writer.Bind(kSelectiveLimit) << ")";
    const std::int64_t rows = count_rows(writer.Finish());
    if (rows < fewest) {
      fewest = rows;
      best = DrivenBy(SearchPlan::Drive::kIndexSet, i);
    }
  }
  return best;
}

BoundSql PageSql(const StoreSearch& search, const ParameterIds& ids, const SearchPlan& plan) {
  SqlWriter writer;
  const Driver driver = DriverFor(search, ids, plan, writer);
  const std::string conditions = MatchConditions(search, ids, plan, driver, writer);
  const std::int64_t limit = std::max<std::int64_t>(search.count, 0) + 1;

  if (search.sort.empty() && !driver.group_by_key) {
    // Key order straight from the driver: the scan stops after one page.
    writer << "SELECT " << driver.key << ", " << kVersionColumns << " FROM " << driver.from;
    if (driver.key != "c.rid") writer << " JOIN resource_current AS c ON c.rid = " << driver.key;
    writer << " JOIN resource_versions AS v ON v.seq = c.seq WHERE " << conditions;
    if (search.after) {
      writer << " AND " << driver.key << " > " << writer.Bind(search.after->resource_key);
    }
    writer << " ORDER BY " << driver.key << " LIMIT " << writer.Bind(limit);
    return writer.Finish();
  }
  if (search.sort.empty()) {
    // Grouped keys first, then the JSON of the page's rows only: grouping rows that carry the
    // JSON would copy every resource through the aggregate. The rows come back in no set order;
    // the caller puts them in key order.
    writer << "SELECT p.rid, " << kVersionColumns << " FROM (SELECT " << driver.key
           << " AS rid FROM " << driver.from << " WHERE " << conditions;
    if (search.after) {
      writer << " AND " << driver.key << " > " << writer.Bind(search.after->resource_key);
    }
    writer << " GROUP BY " << driver.key << " ORDER BY " << driver.key << " LIMIT "
           << writer.Bind(limit)
           << ") AS p JOIN resource_current AS c ON c.rid = p.rid"
              " JOIN resource_versions AS v ON v.seq = c.seq";
    return writer.Finish();
  }

  // Sorted by parameter values: every match's sort values are computed, the page is cut from
  // them, and only the page's rows are joined with their JSON.
  // Limitation: so the cost of a sorted page grows with the number of matches (no index holds
  // resources in the order of their values); searches narrowed by patient stay small.
  std::string keys;
  for (std::size_t i = 0; i < search.sort.size(); ++i) {
    keys += ", " + SortValueExpression(search, search.sort[i], ids, driver.key, writer) + " AS k" +
            std::to_string(i);
  }
  std::string inner =
      "SELECT " + driver.key + " AS rid" + keys + " FROM " + driver.from + " WHERE " + conditions;
  if (driver.group_by_key) inner += " GROUP BY " + driver.key;
  std::string page = "SELECT * FROM (" + inner + ") AS q";
  if (search.after) page += " WHERE " + KeysetCondition(search, *search.after, "q.", writer);
  page += " ORDER BY " + OrderBy(search, "q.") + " LIMIT " + writer.Bind(limit);

  writer << "SELECT p.rid";
  for (std::size_t i = 0; i < search.sort.size(); ++i) writer << ", p.k" << std::to_string(i);
  writer << ", " << kVersionColumns << " FROM (" << page
         << ") AS p JOIN resource_current AS c ON c.rid = p.rid"
            " JOIN resource_versions AS v ON v.seq = c.seq ORDER BY "
         << OrderBy(search, "p.");
  return writer.Finish();
}

BoundSql CountSql(const StoreSearch& search, const ParameterIds& ids, const SearchPlan& plan,
                  std::optional<std::int64_t> limit) {
  SqlWriter writer;
  const Driver driver = DriverFor(search, ids, plan, writer);
  const std::string conditions = MatchConditions(search, ids, plan, driver, writer);
  const std::string grouped = driver.group_by_key ? " GROUP BY " + driver.key : "";
  if (limit) {
    writer << "SELECT COUNT(*) FROM (SELECT 1 FROM " << driver.from << " WHERE " << conditions
           << grouped << " LIMIT " << writer.Bind(*limit) << ")";
  } else if (driver.group_by_key) {
    writer << "SELECT COUNT(*) FROM (SELECT 1 FROM " << driver.from << " WHERE " << conditions
           << grouped << ")";
  } else {
    writer << "SELECT COUNT(*) FROM " << driver.from << " WHERE " << conditions;
  }
  return writer.Finish();
}

}  // namespace fhirbridge::sandbox
