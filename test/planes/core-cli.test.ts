// `openkcm core` bad input (issue 10 §5): each one line on stderr, exit 2, never a stack
// trace. Real processes; the CMK cases that need a CMK answering are in e2e.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ensureDevPki } from '../../src/server/devpki.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { cleanEnv, OPENKCM, run } from '../admin/serve.ts';

let dir: string;
let certs: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'openkcm-core-cli-'));
  certs = join(dir, 'certs');
  const { files } = await ensureDevPki(certs);
  copyFileSync(files.clientCert, join(certs, 'core.crt'));
  copyFileSync(files.clientKey, join(certs, 'core.key'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function core(args: string[]) {
  const r = await run(OPENKCM, ['core', ...args], { cwd: dir, env: cleanEnv(), timeoutMs: 60_000 });
  return { ...r, lines: r.stderr.trim().split('\n') };
}

function oneLineUsage(r: { code: number | null; stderr: string; lines: string[] }) {
  expect(r.code).toBe(2);
  expect(r.lines).toHaveLength(1);
  expect(r.stderr).toMatch(/^openkcm core: /);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('openkcm core: bad input → one line, exit 2', () => {
  it('no --region, a bad region, no --cmk, a --cmk that is not https', async () => {
    let r = await core(['--cmk', 'https://127.0.0.1:1']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/--region is required/);
    r = await core(['--region', 'EU Central', '--cmk', 'https://127.0.0.1:1']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/--region "EU Central"/);
    r = await core(['--region', 'eu']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/--cmk is required/);
    r = await core(['--region', 'eu', '--cmk', 'http://127.0.0.1:1']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/https/);
  }, 120_000);

  it('a missing link certificate names the flag and the kmipctl command', async () => {
    const r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--cert', join(dir, 'nope.crt')]);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/nope\.crt does not exist; give it with --cert \(issue one with: kmipctl cert issue --role core --region eu\)/);
  }, 60_000);

  it('a bad --lease-ms, --fail-mode or --database-url', async () => {
    let r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--lease-ms', '10']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/--lease-ms "10"/);
    r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--fail-mode', 'ajar']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/--fail-mode "ajar": expected closed .* or open/);
    r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--no-such-flag'/);
    r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--database-url', 'mysql://x']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/postgres:\/\//);
    // A PostgreSQL that does not answer: named (password hidden), before any CMK is asked.
    r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--data', join(dir, 'pgdata'), '--listen', '127.0.0.1:0',
      '--database-url', 'postgres://openkcm:s3cret@127.0.0.1:1/vault']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/--database-url: cannot connect to PostgreSQL at .*127\.0\.0\.1:1.*connection refused/);
    expect(r.stderr).not.toMatch(/s3cret/);
  }, 120_000);

  it('a CMK URL where nothing answers, and one where something that is not a CMK hangs', async () => {
    // A port nobody listens on: take one and close it.
    const probe: Server = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    let r = await core(['--region', 'eu', '--cmk', `https://127.0.0.1:${port}`, '--certs', certs, '--data', join(dir, 'data'), '--listen', '127.0.0.1:0']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(new RegExp(`the CMK at https://127.0.0.1:${port} does not answer: ECONNREFUSED`));
    // A plain TCP server that never speaks TLS: the handshake fails or times out, one line.
    const mute: Server = createServer((s) => { s.on('error', () => undefined); setTimeout(() => s.destroy(), 500); });
    await new Promise<void>((res) => mute.listen(0, '127.0.0.1', res));
    try {
      r = await core(['--region', 'eu', '--cmk', `https://127.0.0.1:${(mute.address() as { port: number }).port}`, '--certs', certs, '--data', join(dir, 'data'), '--listen', '127.0.0.1:0']);
      oneLineUsage(r);
      expect(r.stderr).toMatch(/CMK at https:\/\/127\.0\.0\.1:\d+/);
    } finally {
      mute.close();
    }
  }, 120_000);

  it('a SQLite vault at a newer schema version: one line naming the database, before any CMK is asked', async () => {
    const data = join(dir, 'newer');
    const store = await openSqliteStore(join(data, 'openkcm.db'));
    await store.close();
    const db = new Database(join(data, 'openkcm.db'));
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2030-01-01')").run();
    db.close();
    const r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--data', data, '--listen', '127.0.0.1:0']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/the vault database: database schema version 999 is newer than this OpenKCM understands/);
  }, 60_000);

  it('a link certificate bound to another region, or to another node than --node', async () => {
    // A certificate carrying the core SAN URI of region us, node x (self-signed: the core reads the binding before any TLS).
    const cert = join(dir, 'us-core.crt');
    const key = join(dir, 'us-core.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=core x', '-addext', 'subjectAltName=URI:openkcm://core/region/us/node/x'], { stdio: 'ignore' });
    let r = await core(['--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--cert', cert, '--key', key]);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/us-core\.crt is bound to region us, not eu: issue one with kmipctl cert issue --role core --region eu/);
    r = await core(['--region', 'us', '--node', 'y', '--cmk', 'https://127.0.0.1:1', '--certs', certs, '--cert', cert, '--key', key]);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/--node y: the link certificate .* is bound to node x/);
  }, 60_000);
});
