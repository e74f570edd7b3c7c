#include "auth/token_source.h"

namespace fhirbridge::auth {

base::Result<std::string> FixedTokenSource::AccessToken() {
  if (rejected_) {
    return std::unexpected(base::MakeError(
        base::ErrorCode::kTokenRequestFailed,
        "the site refused the token given and a fixed token cannot be renewed; obtain a new one"));
  }
  return token_;
}

void FixedTokenSource::Invalidate(std::string_view rejected) {
  if (rejected == token_) rejected_ = true;
}

}  // namespace fhirbridge::auth
