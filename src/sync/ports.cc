#include "sync/ports.h"

namespace fhirbridge::sync {

const std::string* FetchResponse::FindHeader(std::string_view lower_case_name) const {
  for (const http::Header& header : headers) {
    if (header.name == lower_case_name) return &header.value;
  }
  return nullptr;
}

}  // namespace fhirbridge::sync
