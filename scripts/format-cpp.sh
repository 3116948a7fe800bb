#!/usr/bin/env bash
# clang-format (style: .clang-format) over every C++ file under cpp/. --check: report only.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find cpp -type f \( -name '*.cc' -o -name '*.h' \) | sort)
[ ${#files[@]} -gt 0 ] || exit 0
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror "${files[@]}"
else
  clang-format -i "${files[@]}"
fi
