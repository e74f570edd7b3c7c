#pragma once

// The subset of FHIRPath that the R4 search parameter expressions use, enough to find the
// values a search parameter indexes in a resource.
//
// Supported: a type name as the first step (Observation.code; Resource and DomainResource match
// every resource) or a member name relative to the resource; member steps, which flatten arrays
// and find choice elements by their typed name (Observation.effective matches effectiveDateTime
// and effectivePeriod); `|` unions; parentheses; `x as T`, `x.as(T)` and `x.ofType(T)` on choice
// elements; `[n]` and `first()`; `where(resolve() is T)` on references; and `where(m = 'text')`
// comparing a member with a string. An expression is accepted only if it reduces to a union of
// such linear paths.
//
// Limitation: there are no type definitions, so a value's type is known only from a choice
// element's name. `as T` on an element that is not a choice, boolean logic (`and`, `exists()`)
// and every other function are refused at parse time; a search parameter using them is not
// offered.

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"

namespace fhirbridge::fhir {

// One value an expression selects: the JSON node and, when it came from a choice element, its
// FHIR type ("Quantity", "dateTime"); empty when unknown.
struct PathValue {
  const Json* node = nullptr;
  std::string_view type;
};

class FhirPath {
 public:
  // kInvalidParameter naming the position and the construct outside the subset.
  static base::Result<FhirPath> Parse(std::string_view expression);

  // The expression restricted to the paths that can select something in a resource of
  // `resource_type` (paths rooted at another type are dropped). Empty() tells when none is left.
  FhirPath ForType(std::string_view resource_type) const;

  bool Empty() const { return paths_.empty(); }

  // Every value the expression selects in `resource` (a JSON object with resourceType), in
  // document order per path and in union order across paths. The nodes point into `resource`.
  std::vector<PathValue> Evaluate(const Json& resource) const;

  // The normal form, one path per union member, for tests and diagnostics.
  std::string ToString() const;

  struct Member {
    std::string name;
  };
  struct Index {
    std::size_t position = 0;
  };
  struct OfType {
    std::string type;
  };
  struct WhereResolveIs {
    std::string type;
  };
  struct WhereEquals {
    std::string member;
    std::string text;
  };
  using Step = std::variant<Member, Index, OfType, WhereResolveIs, WhereEquals>;

  struct Path {
    std::string root_type;  // "" when the path starts at the resource itself
    std::vector<Step> steps;
  };

 private:
  std::vector<Path> paths_;
};

// The resource type a Reference node points at: its `type` member, else the type in its
// `reference` ("Patient/1", ".../Patient/1/_history/2", or a contained "#id" resolved in
// `resource`). Empty when it cannot tell.
std::string ReferencedType(const Json& reference, const Json& resource);

}  // namespace fhirbridge::fhir
