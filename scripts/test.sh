#!/usr/bin/env bash
# The test command: build, check formatting, run the whole suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
if command -v clang-format >/dev/null; then
  git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
  echo "clang-format: all files formatted"
fi
ctest --test-dir build --output-on-failure -j2 --timeout 900
