#pragma once

// Data files compiled into the binary (see cmake/embed_files.cmake): the default sandbox tenant
// file and baseline. Keys are paths relative to the repository's data/ folder, for example
// "sandbox/tenants.toml".

#include <map>
#include <string_view>

namespace fhirbridge::base {

const std::map<std::string_view, std::string_view>& EmbeddedFiles();

}  // namespace fhirbridge::base
