#pragma once

// FHIR R4 search for one tenant: `GET [base]/Type?...` and `POST [base]/Type/_search`.
//
// Parameters come from the R4 SearchParameter definitions (fhir/search_parameters.h), narrowed
// by the tenant's build level (SearchSettings). Supported: token (system|code, |code, code,
// :text, :not), string (starts-with ignoring case and accents, :exact, :contains), date with
// every R4 prefix and implicit ranges, reference (id, Type/id, absolute URL, :Type), number,
// quantity and uri, :missing on all of them; _id, _lastUpdated, _count, _sort (several keys,
// '-' for descending), _include and _revinclude, _summary=count, _total. Values separated by
// commas are alternatives; repeated parameters must all hold.
//
// Pages are keyset pages: the next link carries an opaque cursor (the sort values and key of the
// last entry shown, bound to the query), so pages stay correct while other clients write.
//
// Limitation: chained parameters (subject.name), _has, _include:iterate, _elements, _contained,
// _summary other than count and false, composite and special parameters, and the modifiers
// :above, :below, :in, :not-in, :of-type and :identifier are not supported; they are refused,
// or ignored with a warning where the build level is lenient. A page includes at most 1,000
// resources through _include and _revinclude, and says so in a warning entry when it stops.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "fhir/search_parameters.h"
#include "http/message.h"
#include "sandbox/build_level.h"
#include "sandbox/tenant.h"

namespace fhirbridge::sandbox {

// The parameters `level` offers on `type`: the supported R4 ones, narrowed by the level's lists
// and switches, sorted by code. Empty for a type the level cannot search.
std::vector<const fhir::SearchParameter*> OfferedSearchParameters(const BuildLevel& level,
                                                                  std::string_view type);

struct SearchCall {
  Tenant& tenant;
  std::string type;  // a type the build level supports with search-type (checked by the caller)
  // Decoded name/value pairs, in request order: the query, then a POST's form body.
  std::vector<std::pair<std::string, std::string>> parameters;
  std::string base_url;  // the tenant's absolute FHIR base, for fullUrl and links
  // Prefer: handling=lenient (true) or strict (false); nullopt follows the build level.
  std::optional<bool> lenient;
};

// Runs the search and answers with a searchset Bundle (200), or the refusal: kInvalidParameter
// for malformed values, prefixes, sort keys and cursors; kUnsupportedParameter for unknown
// parameters when strict; kSearchParameterRequired for the build level's required parameters.
base::Result<http::Response> Search(const SearchCall& call);

// `json` (a stored resource) without meta.versionId and meta.lastUpdated, and without meta when
// nothing else is left in it; the text is returned unchanged when it has neither.
std::string WithoutVersionMeta(std::string_view json);

}  // namespace fhirbridge::sandbox
