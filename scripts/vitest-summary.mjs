// Prints "N passed, N failed[, N skipped]" from vitest's JSON report (the CI reads this
// line, not vitest's own summary). Exit code 1 when the report is missing or unreadable.
import { readFileSync } from 'node:fs';
const file = process.argv[2] ?? '.vitest-report.json';
let r;
try {
  r = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`cannot read the vitest JSON report ${file}: ${e.message}`);
  process.exit(1);
}
// A file that fails to load (syntax error, failing import, error in a hook) has no failed
// assertion but must still count as a failure.
const brokenFiles = (r.testResults ?? []).filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
).length;
const failed = (r.numFailedTests ?? 0) + brokenFiles;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
let line = `${r.numPassedTests ?? 0} passed, ${failed} failed`;
if (skipped) line += `, ${skipped} skipped`;
console.log(line);
