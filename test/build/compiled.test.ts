// Issue 14 §1: the compiled program, built fresh from the sources of this checkout (never
// the checkout's own dist/, which may be stale), laid out as the npm package lays it out
// (package.json, bin/, dist/) with only the production dependencies beside it: no tsx, no
// TypeScript, no src/. It must answer --help, start `openkcm serve` on a fresh directory
// with the default file layout, serve KMIP over mutual TLS and the admin API to kmipctl,
// and stop cleanly on SIGTERM. scripts/check-package.sh does the same from a real
// `npm pack` + `npm install` in an empty directory (CI step; it needs the registry).
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { cleanEnv } from '../admin/serve.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'openkcm-compiled-'));
const pkg = join(tmp, 'package');
/** No loader, no inherited options: the compiled program alone. */
const env = (() => { const e = cleanEnv(); delete e.NODE_OPTIONS; return e; })();

/** Production packages of the lock file (what `npm install openkcm` brings), top-level names. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([p, info]) => p.startsWith('node_modules/') && !p.slice('node_modules/'.length).includes('/node_modules/') && !info.dev)
    .map(([p]) => p.slice('node_modules/'.length))
    .filter((name) => existsSync(join(root, 'node_modules', name)));
}

beforeAll(async () => {
  mkdirSync(pkg);
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  // What package.json "files" ships beside dist/ (bin/, and the web console's static files).
  const shipped = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] }).files.filter((f) => f.replace(/\/$/, '') !== 'dist');
  for (const f of shipped) cpSync(join(root, f), join(pkg, f), { recursive: true });
  // The project's own build configuration, with the output redirected into the package.
  await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: root });
  for (const name of productionPackages()) {
    mkdirSync(dirname(join(pkg, 'node_modules', name)), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), join(pkg, 'node_modules', name), 'dir');
  }
  // The second half of `npm run build`: kmipctl's help pages rendered from the compiled program.
  await run(process.execPath, [join(root, 'scripts', 'build-help.mjs'), join(pkg, 'dist')], { cwd: root });
}, 600_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length + 1));
}

describe('the compiled program (dist/, production dependencies only)', () => {
  it('is JavaScript with source maps, and no dev dependency is within its reach', () => {
    const out = files(join(pkg, 'dist'));
    expect(out).toContain('cli/openkcm.js');
    expect(out).toContain('cli/kmipctl.js');
    expect(out.filter((f) => f.endsWith('.ts'))).toEqual([]);
    for (const js of out.filter((f) => f.endsWith('.js'))) expect(out, `${js} has no source map`).toContain(`${js}.map`);
    // Relative imports were rewritten from .ts to .js (rewriteRelativeImportExtensions).
    expect(readFileSync(join(pkg, 'dist', 'cli', 'kmipctl.js'), 'utf8')).toMatch(/from ["']\.\/ttlv-commands\.js["']/);
    const map = JSON.parse(readFileSync(join(pkg, 'dist', 'cli', 'openkcm.js.map'), 'utf8')) as { sources: string[] };
    expect(map.sources[0]).toMatch(/src\/cli\/openkcm\.ts$/);
    for (const dev of ['tsx', 'typescript', 'vitest', 'fast-check']) expect(existsSync(join(pkg, 'node_modules', dev)), dev).toBe(false);
    expect(existsSync(join(pkg, 'node_modules', 'better-sqlite3'))).toBe(true);
  });

  it('answers kmipctl --help and openkcm --help', async () => {
    const k = await run(process.execPath, [join(pkg, 'bin', 'kmipctl.cjs'), '--help'], { cwd: tmp, env });
    expect(k.stdout).toMatch(/^Usage: kmipctl/);
    expect(k.stdout).toContain('status');
    const o = await run(process.execPath, [join(pkg, 'bin', 'openkcm.js'), '--help'], { cwd: tmp, env });
    expect(o.stdout).toMatch(/^Usage: openkcm/);
    expect(o.stdout).toContain('serve');
  });

  it('prints kmipctl help from the pages rendered at build time, the same text, stream and exit code as the program', async () => {
    const launch = (bin: string, args: string[]) => run(process.execPath, [bin, ...args], { cwd: tmp, env })
      .then((r) => ({ out: r.stdout, err: r.stderr, code: 0 }), (e: { stdout: string; stderr: string; code: number }) => ({ out: e.stdout, err: e.stderr, code: e.code }));
    const launcher = join(pkg, 'bin', 'kmipctl.cjs');
    const program = join(pkg, 'dist', 'cli', 'kmipctl.js'); // runs commander: the live help
    for (const args of [['--help'], ['-h'], [], ['tenant', '--help'], ['help', 'tenant'], ['tenant'], ['cert', 'issue', '--help'], ['--server', 'x', '--help'], ['bogus']]) {
      expect(await launch(launcher, args), args.join(' ')).toEqual(await launch(program, args));
    }
    // The launcher really answers from the table: a page changed there is what it prints.
    const tableFile = join(pkg, 'dist', 'cli', 'kmipctl-help.json');
    const original = readFileSync(tableFile, 'utf8');
    const table = JSON.parse(original) as { pages: string[]; entries: Record<string, [number, number, number]> };
    table.pages[table.entries['tenant\u0000--help']![0]] = 'from the table\n';
    writeFileSync(tableFile, JSON.stringify(table));
    try {
      expect((await launch(launcher, ['tenant', '--help'])).out).toBe('from the table\n');
    } finally {
      writeFileSync(tableFile, original);
    }
    // Without the table (a dist/ built by tsc alone), the program prints the help itself.
    rmSync(tableFile);
    try {
      expect(await launch(launcher, ['tenant', '--help'])).toEqual(await launch(program, ['tenant', '--help']));
    } finally {
      writeFileSync(tableFile, original);
    }
  });

  it('serves KMIP and the admin API from a fresh directory, then stops on SIGTERM', async () => {
    const cwd = join(tmp, 'run');
    mkdirSync(cwd);
    // The defaults (./data, ./certs, development PKI and L1), on ports of the system's choice.
    const child = spawn(process.execPath, [join(pkg, 'bin', 'openkcm.js'), 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const banner = await new Promise<RegExpExecArray>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no banner within 120 s:\n${out}\n${err}`)), 120_000);
        const check = () => {
          const m = /listening on 127\.0\.0\.1:(\d+)[\s\S]*Admin API: (https:\/\/127\.0\.0\.1:\d+)/.exec(err);
          if (m) { clearTimeout(timer); resolve(m); }
        };
        child.stderr.on('data', check);
        void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited with ${code}:\n${out}\n${err}`)); });
      });
      const port = Number(banner[1]);
      // A clone has no kmipctl on PATH: the banner says how to run it (issue 14 §1b).
      expect(err).toContain(`try: npx kmipctl status --server ${banner[2]}`);
      const certs = join(cwd, 'certs');
      const c = await KmipClient.connect({
        host: '127.0.0.1', port, ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')),
        key: readFileSync(join(certs, 'client.key')), servername: 'localhost', version: { major: 1, minor: 4 },
      });
      try {
        expect((await c.requestItem(Operation.DiscoverVersions)).resultStatus).toBe(ResultStatus.Success);
      } finally {
        await c.close();
      }
      // kmipctl from the package, on its defaults (./certs), with the admin URL the banner printed.
      const status = await run(process.execPath, [join(pkg, 'bin', 'kmipctl.cjs'), 'status', '--server', banner[2]!, '--json'], { cwd, env });
      expect(JSON.parse(status.stdout)).toBeTypeOf('object');
      // The web console (issue 14 §3) comes from the package's console/ folder, at the URL the banner printed.
      expect(err).toContain(`Web console: ${banner[2]}/console/`);
      const page = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        httpsGet(`${banner[2]}/console/`, { ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')) }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        }).on('error', reject);
      });
      expect(page.status).toBe(200);
      expect(page.body).toContain('<title>OpenKCM console</title>');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
