#!/usr/bin/env node
// Thin launcher: runs the compiled admin CLI (dist/cli/kmipctl.js, built from src/ by
// `npm run build`, which `npm install` and `npm ci` run through the `prepare` script).
// No TypeScript loader at run time (issue 14 §1). Tests run the sources instead
// (test/helpers/cli.ts), so a stale dist/ can never decide a test.
//
// CommonJS on purpose (.cjs in an ESM package): a help request is answered here without ever
// starting Node's ESM loader, which costs a bare `node` about 25 ms more than a CommonJS file
// (bench/README.md "Start-up"); everything else imports the ESM program.
'use strict';
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const dist = join(__dirname, '..', 'dist', 'cli');
const program = join(dist, 'kmipctl.js');

// Source maps (stack traces point into src/*.ts; tsc emits .js.map files) on for every run but
// a request for help: once they are on, Node 20 reads and parses each module's .map file as
// the module loads, and a help request runs no action whose stack trace anyone would read.
const args = process.argv.slice(2);
const options = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
const help = args.length === 0 || args[0] === 'help' || options.includes('--help') || options.includes('-h');

/**
 * The help page of a command line that `npm run build` rendered (scripts/build-help.mjs, with
 * the program's own commander path); undefined for any other line, or when the table is
 * missing or unreadable — then the program runs and prints the same text itself.
 */
function prerenderedHelp(argv) {
  let table;
  try {
    table = JSON.parse(readFileSync(join(dist, 'kmipctl-help.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const entry = table.entries && table.entries[argv.join('\u0000')];
  if (!Array.isArray(entry)) return undefined;
  return { out: table.pages[entry[0]], err: table.pages[entry[1]], code: entry[2] };
}

const page = help ? prerenderedHelp(args) : undefined;
if (page !== undefined) {
  if (page.out !== undefined) process.stdout.write(page.out);
  if (page.err !== undefined) process.stderr.write(page.err);
  process.exitCode = page.code;
} else if (!existsSync(program)) {
  process.stderr.write('kmipctl: the compiled program is missing (dist/); run `npm run build` in the checkout\n');
  process.exitCode = 1;
} else {
  if (!help) process.setSourceMapsEnabled(true);
  import(pathToFileURL(program).href).catch((e) => {
    process.stderr.write(`kmipctl: internal error: ${(e && e.stack) || String(e)}\n`);
    process.exitCode = 1;
  });
}
