#!/usr/bin/env bash
# Installs the Debian packages fhirbridge needs to build, test and benchmark. Safe to run again:
# it installs only what is missing, and does nothing at all when everything is present.
set -euo pipefail

readonly packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang-format clang-tidy
  libboost-dev libsimdjson-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libsqlite3-dev libcurl4-openssl-dev libssl-dev libpq-dev postgresql
  libgtest-dev libgmock-dev libbenchmark-dev libxml2-dev
  wrk nodejs curl
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
# Debian's nodejs leaves npm to a package of its own; NodeSource's nodejs includes it.
if ! command -v npm >/dev/null 2>&1 && [[ ! " ${missing[*]} " =~ " nodejs " ]]; then
  missing+=(npm)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then as_root=(sudo); fi
echo "setup: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}"
if ! command -v npm >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends npm
fi
