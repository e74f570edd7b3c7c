#pragma once

// A search as the resource store runs it: criteria on the values indexed when resources were
// written, an order, a page size and a keyset position, and the SQL that answers it.
//
// The SQL never reads resource JSON. Each criterion is an EXISTS test on one index table for
// the resource at hand; one criterion (the most selective kind present) drives the scan, so a
// search for one patient's observations walks that patient's index entries, not every
// Observation. Pages are keyset pages: the position is the sort values and the resource key of
// the last entry shown, so writes by other clients never shift a page that has not been read.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace fhirbridge::sandbox {

// The index table a parameter's values live in.
enum class SearchIndex { kToken, kString, kDate, kReference, kNumber };

// FHIR search prefixes for dates, numbers and quantities.
enum class Comparison { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb, kAp };

struct TokenMatch {
  std::optional<std::string> system;  // nullopt: any system; "": no system
  std::optional<std::string> code;    // nullopt: any code (system| searches)
};

struct StringMatch {
  enum class Mode { kStartsWith, kExact, kContains };
  Mode mode = Mode::kStartsWith;
  std::string value;  // normalised, except for kExact
};

// Bounds are inclusive; see fhir::DateRange. For kAp the bounds are already widened.
struct DateMatch {
  Comparison comparison = Comparison::kEq;
  std::int64_t low = 0;
  std::int64_t high = 0;
};

// Number and quantity values: [low, high) is the range the search value denotes at its
// precision, `value` the value as written (for gt, lt, ge and le).
struct NumberMatch {
  Comparison comparison = Comparison::kEq;
  double value = 0;
  double low = 0;
  double high = 0;
  std::optional<std::string> system;
  std::optional<std::string> code;
};

struct ReferenceMatch {
  std::string target;  // as indexed: "Type/id" or an absolute URL
};

using Match = std::variant<TokenMatch, StringMatch, DateMatch, NumberMatch, ReferenceMatch>;

// One search parameter occurrence: true when any of `any_of` matches a value of the resource
// (or, negated, when none does). With `missing` set, `any_of` is empty and the criterion tests
// whether the resource has a value at all.
struct Criterion {
  std::string parameter;  // the code values are indexed under, e.g. "code" or "code:text"
  SearchIndex index = SearchIndex::kToken;
  std::vector<Match> any_of;
  bool negated = false;
  std::optional<bool> missing;
};

struct SortKey {
  std::string parameter;
  SearchIndex index = SearchIndex::kToken;
  bool descending = false;
};

// A sort value of the last entry of a page. A resource without a value for a sort key sorts
// after every resource that has one, in both directions; nullptr stands for that.
using SortValue = std::variant<std::nullptr_t, std::int64_t, double, std::string>;

struct SearchPosition {
  std::vector<SortValue> sort_values;  // one per sort key
  std::int64_t resource_key = 0;       // the last entry's key; ties break on it, ascending
};

struct IncludeRequest {
  std::string parameter;                   // a reference parameter of the source type
  std::string source_type;                 // _include: the searched type; _revinclude: the other
  std::optional<std::string> target_type;  // only references to this type
};

struct StoreSearch {
  std::string type;
  std::vector<Criterion> criteria;  // all must hold
  std::vector<SortKey> sort;        // then by resource key, the order resources were created
  std::int64_t count = 20;          // entries per page; 0 asks for no entries
  std::optional<SearchPosition> after;
  enum class Total { kNone, kEstimate, kAccurate };
  Total total = Total::kAccurate;
  std::vector<IncludeRequest> includes;
  std::vector<IncludeRequest> revincludes;
  std::size_t max_included = 1000;  // per page
};

// SQL text with its bound values, numbered ?1, ?2, ... in order.
struct BoundSql {
  using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
  std::string sql;
  std::vector<Value> values;
};

// Parameter ids: the store numbers each (type, parameter code) pair. Returns nullopt when the
// store knows no such pair, which means no resource can have a value for it.
class ParameterIds {
 public:
  virtual ~ParameterIds() = default;
  virtual std::optional<std::int64_t> Find(const std::string& type,
                                           const std::string& parameter) const = 0;
};

// How the statements find candidate resources.
struct SearchPlan {
  enum class Drive {
    kTypeScan,   // every current resource of the type, in key order, tested by each criterion
    kIndexScan,  // the index entries of one exact value, already in key order (fast paging)
    kIndexSet,   // the keys one criterion selects, gathered and sorted first
    // One patient's token entries for one code, in key order: answers patient=X plus a token
    // with no test per resource.
    kPatientTokenScan,
  };
  Drive drive = Drive::kTypeScan;
  std::size_t criterion = 0;          // the driving criterion (for kPatientTokenScan, the token)
  std::size_t patient_criterion = 0;  // kPatientTokenScan: the patient criterion it answers too
  // kPatientTokenScan: the patient's number in the store's target table; nullopt when no
  // resource refers to that patient, so nothing matches.
  std::optional<std::int64_t> patient_target;
};

// Chooses the plan: patient=Patient/X with a token code drives a patient token scan; else a
// criterion on one exact reference or system|code drives an index scan; otherwise the
// criterion whose values are fewest (counted with `count_rows` up to a cap) drives an index set
// when it is selective; otherwise the type is scanned. `target_number` looks up a reference
// target's number.
SearchPlan ChooseSearchPlan(
    const StoreSearch& search, const ParameterIds& ids,
    const std::function<std::int64_t(const BoundSql&)>& count_rows,
    const std::function<std::optional<std::int64_t>(const std::string&)>& target_number);

// The statement that selects one page: columns are the resource key, then one column per sort
// key, then "type, id, version, last_updated, deleted, json, seq, method" of the current
// version. It returns up to count + 1 rows so that the caller can tell whether a next page
// exists: the first ones in the search's order, in that order when `sort` is given, in any
// order otherwise (the caller orders them by key). Criteria on unknown parameters match
// nothing (or everything, when negated).
BoundSql PageSql(const StoreSearch& search, const ParameterIds& ids, const SearchPlan& plan);

// The statement that counts every match (for Bundle.total); with `limit` set it stops
// counting there (for _total=estimate).
BoundSql CountSql(const StoreSearch& search, const ParameterIds& ids, const SearchPlan& plan,
                  std::optional<std::int64_t> limit);

}  // namespace fhirbridge::sandbox
