#!/usr/bin/env node
// Thin launcher: runs the compiled server CLI (dist/cli/openkcm.js, built from src/ by
// `npm run build`, which `npm install` and `npm ci` run through the `prepare` script).
// No TypeScript loader at run time (issue 14 §1). Tests run the sources instead
// (test/helpers/cli.ts), so a stale dist/ can never decide a test.
import { existsSync } from 'node:fs';

const program = new URL('../dist/cli/openkcm.js', import.meta.url);
if (!existsSync(program)) {
  process.stderr.write('openkcm: the compiled program is missing (dist/); run `npm run build` in the checkout\n');
  process.exit(1);
}
process.setSourceMapsEnabled(true); // stack traces point into src/*.ts (tsc emits .js.map files)
await import(program.href);
