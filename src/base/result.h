#pragma once

// Result<T>: a value or an Error. Expected failures travel as Results; callers propagate them
// explicitly. Exceptions are reserved for the HTTP and CLI edges.

#include <expected>

#include "base/error.h"

namespace fhirbridge::base {

template <typename T>
using Result = std::expected<T, Error>;

// Result of an operation that yields nothing on success.
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string diagnostic = {},
                                   std::string location = {}) {
  return std::unexpected(MakeError(code, std::move(diagnostic), std::move(location)));
}

inline std::unexpected<Error> Fail(Error error) { return std::unexpected(std::move(error)); }

}  // namespace fhirbridge::base
