#!/usr/bin/env bash
# `npm test`: installs the system packages the tests need (as root), runs the whole
# vitest suite with a JSON report, and prints "N passed, N failed" derived from it.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh || exit 1
report=.vitest-report.json
rm -f "$report"
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
node scripts/vitest-summary.mjs "$report" || status=1
exit $status
