// Precomputes kmipctl's help pages at build time (issue 14 §1: `kmipctl --help` under 150 ms).
// A help request runs no action: its output is a pure function of the command declarations,
// which are fixed when dist/ is built. Rendering it once here, with the compiled program's own
// commander path (main() with stdout and stderr captured), lets bin/kmipctl.js answer the
// exact command lines listed below from one JSON file without loading commander or any module
// of the program; any other line runs the program as before.
//
// Usage: node scripts/build-help.mjs [DIST_DIR]   (default: dist/ of this checkout)
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

/** File name of the table, next to the compiled program (bin/kmipctl.js reads it). */
export const HELP_TABLE_FILE = 'kmipctl-help.json';

const dist = resolve(process.argv[2] ?? join(fileURLToPath(new URL('..', import.meta.url)), 'dist'));
const { buildProgram, main } = await import(pathToFileURL(join(dist, 'cli', 'kmipctl.js')).href);

/** Every command path: [] for the program, then each command and subcommand. */
function paths(cmd, prefix = []) {
  const out = [prefix];
  for (const sub of cmd.commands) out.push(...paths(sub, [...prefix, sub.name()]));
  return out;
}

const program = buildProgram();
const lines = [];
for (const p of paths(program)) {
  lines.push([...p, '--help'], [...p, '-h']);
  // A group named without a subcommand prints its help (a leaf would run its action: not listed).
  const node = p.reduce((c, name) => c.commands.find((s) => s.name() === name), program);
  if (node.commands.length > 0) lines.push(p);
}
lines.push(['help']);
for (const sub of program.commands) lines.push(['help', sub.name()]);

// Rendered as a pipe sees it: commander wraps help to the terminal's width only on a TTY, and
// the table is the 80-column text (README "kmipctl": help is 80 columns wide).
const stdout = process.stdout;
const stderr = process.stderr;
const pages = [];
const pageIndex = new Map();
const page = (text) => {
  if (text === '') return -1;
  let i = pageIndex.get(text);
  if (i === undefined) { i = pages.length; pages.push(text); pageIndex.set(text, i); }
  return i;
};
const entries = {};
for (const args of lines) {
  let out = '';
  let err = '';
  const writeOut = stdout.write;
  const writeErr = stderr.write;
  Object.defineProperty(stdout, 'isTTY', { value: false, configurable: true });
  stdout.write = (s) => { out += s; return true; };
  stderr.write = (s) => { err += s; return true; };
  process.exitCode = undefined;
  try {
    await main(['node', 'kmipctl', ...args]);
  } finally {
    stdout.write = writeOut;
    stderr.write = writeErr;
    delete stdout.isTTY;
  }
  const code = process.exitCode ?? 0;
  process.exitCode = undefined;
  entries[args.join('\u0000')] = [page(out), page(err), code];
}
writeFileSync(join(dist, 'cli', HELP_TABLE_FILE), JSON.stringify({ pages, entries }));
console.log(`kmipctl help: ${Object.keys(entries).length} command lines, ${pages.length} pages → ${join(dist, 'cli', HELP_TABLE_FILE)}`);
