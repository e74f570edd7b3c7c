#pragma once

// The exit codes of every fhirbridge command, documented in the README.

namespace fhirbridge::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work failed (a port taken, a server refusing)
inline constexpr int kExitUsage = 2;    // the command line is wrong
inline constexpr int kExitConfig = 3;   // a configuration or key file is missing or invalid

}  // namespace fhirbridge::cli
