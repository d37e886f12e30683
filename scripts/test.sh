#!/usr/bin/env bash
# The whole test suite: install, build (release) and test, then build under
# ASan+UBSan (preset dev) and test again. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test
jobs=$(nproc)
if [[ -f tests/browser/package.json ]]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "== release build + tests"
cmake --preset release
cmake --build --preset release -j"$jobs"
ctest --preset release -j"$jobs"
echo "== ASan+UBSan build + tests"
cmake --preset dev
cmake --build --preset dev -j"$jobs"
ctest --preset dev -j"$jobs"
