// Issue 14 §1: `kmipctl --help` under 150 ms. What keeps it there is what a help request
// does not load: the commands are declared in src/cli/admin/commands.ts and each action
// imports its implementation (and the admin API client, node:https, the KMIP codec, the
// store drivers) when it runs. This runs kmipctl (from its sources, test/helpers/cli.ts)
// under module-trace.mjs, which records every module the process loads, and checks the
// list; no timing (bench/startup.ts measures that).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KMIPCTL } from '../helpers/cli.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TRACE = fileURLToPath(new URL('./module-trace.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kmipctl-lazy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a help request may load of src/: the program root and the declarations. */
const HELP_FILES = ['src/cli/admin/commands.ts', 'src/cli/admin/options.ts', 'src/cli/kmipctl.ts', 'src/cli/ttlv-commands.ts'];
/** The production dependencies (package.json), of which help needs commander alone. */
const PRODUCTION = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);

interface Loaded {
  code: number | null;
  /** Files of src/, relative to the checkout. */
  src: string[];
  /** Production dependencies loaded (ESM or CommonJS). */
  packages: string[];
  /** node: builtins initialised. */
  builtins: Set<string>;
}

let runs = 0;
/** Runs kmipctl with `args` in an empty directory (no certs/, no server) and returns what it loaded. */
async function loaded(args: string[]): Promise<Loaded> {
  const traceFile = join(dir, `trace-${++runs}.txt`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TRACE, KMIPCTL, ...args], {
      cwd: dir, stdio: 'ignore', env: { ...process.env, MODULE_TRACE_FILE: traceFile, NODE_OPTIONS: '' },
    });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  const lines = readFileSync(traceFile, 'utf8').split('\n').filter((l) => l !== '');
  const paths = lines.filter((l) => !l.startsWith('node:')).map((l) => (l.startsWith('file:') ? fileURLToPath(l.replace(/\?.*$/, '')) : l));
  const src = [...new Set(paths.map((p) => relative(root, p).split(sep).join('/')).filter((p) => p.startsWith('src/')))].sort();
  const names = new Set(paths.map((p) => /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(p)?.[1]?.replace('\\', '/')).filter((n): n is string => n !== undefined));
  return { code, src, packages: PRODUCTION.filter((p) => names.has(p)).sort(), builtins: new Set(lines.filter((l) => l.startsWith('node:'))) };
}

describe('kmipctl help loads the declarations only (issue 14 §1)', () => {
  it.each([
    [['--help']],
    [['tenant', '--help']],
    [['key', 'create', '--help']],
    [['help', 'audit']],
    [['ttlv', 'decode', '--help']],
    [['--server', 'https://127.0.0.1:5697', 'cert', 'issue', '--help']],
  ])('kmipctl %j: no command implementation, no admin client, no dependency but commander', async (args) => {
    const r = await loaded(args);
    expect(r.code).toBe(0);
    expect(r.src).toEqual(HELP_FILES);
    expect(r.packages).toEqual(['commander']);
    for (const b of ['node:https', 'node:http', 'node:tls']) expect(r.builtins.has(b), b).toBe(false);
  });

  it('the trace sees what a command loads when it runs (so the check above can fail)', async () => {
    // No certs/ in the directory: the admin client is built, fails to read the certificate, exit 2.
    const admin = await loaded(['tenant', 'list']);
    expect(admin.code).toBe(2);
    expect(admin.src).toEqual(expect.arrayContaining(['src/cli/admin/tenant.ts', 'src/cli/admin/common.ts', 'src/cli/admin/connection.ts', 'src/cli/output.ts']));
    expect(admin.builtins.has('node:https')).toBe(true);
    // A local chain check loads the SQLite driver (a CommonJS package) before it looks for the file.
    const audit = await loaded(['audit', 'verify', '--database', join(dir, 'missing.db')]);
    expect(audit.code).toBe(2);
    expect(audit.packages).toEqual(expect.arrayContaining(['better-sqlite3', 'commander']));
    expect(audit.src).toEqual(expect.arrayContaining(['src/cli/admin/audit.ts', 'src/audit/index.ts']));
  });
});
