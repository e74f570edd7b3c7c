#!/usr/bin/env bash
# Installs the Debian packages fhirbridge needs to build, test and benchmark, and the npm test
# peers. Safe to run again: it installs only what is missing.
set -euo pipefail

readonly packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang-format clang-tidy
  libboost-dev libsimdjson-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libsqlite3-dev libcurl4-openssl-dev libssl-dev libpq-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  wrk nodejs curl
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

# npm ships with nodejs on some Debian images and separately on others.
if ! command -v npm >/dev/null 2>&1; then
  "${sudo_cmd[@]:-}" apt-get install -y -qq --no-install-recommends npm
fi
