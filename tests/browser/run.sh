#!/usr/bin/env bash
# ctest entry for the dashboard browser test. Exits 77 (skip) only when the
# browser or the test's node_modules are missing; scripts/test.sh installs
# both (scripts/deps.sh --test, then `npm ci` here).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed (scripts/deps.sh --test installs nodejs)"
  exit 77
fi
if [[ ! -x /usr/bin/chromium ]]; then
  echo "SKIP: /usr/bin/chromium is missing (apt-get install chromium; scripts/deps.sh --test)"
  exit 77
fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  echo "SKIP: $here/node_modules is missing: run (cd tests/browser && npm ci)"
  exit 77
fi
exec node "$here/dashboard.test.mjs" "$@"
