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
// Source maps (stack traces point into src/*.ts; tsc emits .js.map files) on for every run but
// a request for help: once they are on, Node 20 reads and parses the .map file of each module
// as it loads, and `openkcm --help` still loads the server's modules (bench/README.md
// "Start-up"). No arguments is `openkcm serve`, not help.
const args = process.argv.slice(2);
const options = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
const help = args[0] === 'help' || options.includes('--help') || options.includes('-h');
if (!help) process.setSourceMapsEnabled(true);
await import(program.href);
