#!/usr/bin/env bash
# Fails, listing the files, when any C++ source differs from what clang-format makes of it.
# `scripts/check-format.sh --fix` rewrites them instead.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' 'bench/*.h' 'bench/*.cc' 'fuzz/*.cc')
if ((${#files[@]} == 0)); then
  exit 0
fi
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/fhirbridge-format.$$; then
  grep -oE '^[^ :]+\.(h|cc):[0-9]+' /tmp/fhirbridge-format.$$ | sort -u | head -n 40
  rm -f /tmp/fhirbridge-format.$$
  echo "Formatting drift: run scripts/check-format.sh --fix" >&2
  exit 1
fi
rm -f /tmp/fhirbridge-format.$$
