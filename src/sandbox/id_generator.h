#pragma once

// Id generators for the resources a tenant creates, in the tenant's configured style.

#include <cstddef>

#include "sandbox/resource_store.h"
#include "sandbox/tenant_config.h"

namespace fhirbridge::sandbox {

// Epic ids exceed FHIR's 64-character limit (88 characters occur), so the configuration allows
// lengths up to this bound.
inline constexpr std::size_t kMinIdLength = 1;
inline constexpr std::size_t kMaxIdLength = 200;

// Returns a generator of ids in `style`:
//  - kEpic: exactly `length` characters, 'e' first, then letters and digits with an occasional
//    '.' or '-' (never last, never two in a row); from 3 characters on the last is '3'.
//  - kUuid: an RFC 4122 version 4 UUID in lowercase, 36 characters; `length` is ignored.
//  - kSequential: "1", "2", ... counted per generator (copies share the counter); `length` is
//    ignored.
// Requires kMinIdLength <= length <= kMaxIdLength for kEpic (the configuration checks it).
// The generator, and every copy of it, may be called from any thread.
IdGenerator MakeIdGenerator(IdStyle style, std::size_t length);

}  // namespace fhirbridge::sandbox
