#!/usr/bin/env bash
# Every test, from a fresh machine: system packages (and Ganeti 3.1's code,
# unpacked), npm packages, static checks, the CLI bundle, then the suites
# (unit, conformance, lab, integration, e2e). Lists each skipped test with
# its reason, then ends with one line: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-packages.sh || exit 2
bash scripts/node-deps.sh || exit 2

passed=0; failed=0; skipped=0
check() {
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "check passed: $name"
  else failed=$((failed + 1)); echo "check FAILED: $name"; fi
}
check typecheck npx tsc -p tsconfig.json --noEmit
check lint npx eslint . --max-warnings=0
# The CLI bundle (out/cli) that bin/hotplug-desk.cjs runs; its tests build it too.
check "build the CLI" node scripts/build-cli.mjs
check pyflakes pyflakes3 electron/on-node/node_helper.py

mkdir -p test-results
npx vitest run --reporter=default --reporter=./test/support/skip-reasons-reporter.ts --reporter=json --outputFile.json=test-results/vitest.json "$@"
vitest_rc=$?

if [[ -f test-results/vitest.json ]]; then
  read -r vp vf vs < <(node -e '
    const r = require("./test-results/vitest.json");
    console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTests ?? 0), r.numPendingTests + r.numTodoTests);
  ')
  passed=$((passed + vp)); failed=$((failed + vf)); skipped=$((skipped + vs))
  # A suite that crashed before its tests ran counts as a failure too.
  if [[ $vitest_rc -ne 0 && $vf -eq 0 ]]; then failed=$((failed + 1)); fi
else
  failed=$((failed + 1))
fi

line="$passed passed, $failed failed"
[[ $skipped -gt 0 ]] && line="$line, $skipped skipped"
echo "$line"
[[ $failed -eq 0 ]]
