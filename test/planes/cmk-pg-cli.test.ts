// `openkcm cmk --database-url` (issue 10 §4-5): the CMK on PostgreSQL starts, keeps its
// governance across a restart, and bad input stops it with one line and exit 2 — a URL that
// is not PostgreSQL's, a server that does not answer, a database at a newer governance
// schema. Real processes and a real throw-away cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { GOVERNANCE_MIGRATIONS_TABLE } from '../../src/store/pg-governance.ts';
import { cleanEnv, OPENKCM, run } from '../admin/serve.ts';
import { usePostgres } from '../helpers/postgres.ts';
import { startCmk } from './harness.ts';

const pgc = usePostgres();
let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'openkcm-cmk-pg-cli-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cmk(args: string[]) {
  const r = await run(OPENKCM, ['cmk', '--data', join(dir, 'data'), '--certs', join(dir, 'certs'), '--admin-listen', '127.0.0.1:0', ...args], { cwd: dir, env: cleanEnv(), timeoutMs: 90_000 });
  return { ...r, lines: r.stderr.trim().split('\n') };
}

function oneLineUsage(r: { code: number | null; stderr: string; lines: string[] }) {
  expect(r.code, r.stderr).toBe(2);
  expect(r.lines).toHaveLength(1);
  expect(r.stderr).toMatch(/^openkcm cmk: /);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('openkcm cmk --database-url', () => {
  it('runs on PostgreSQL: governance survives a restart, nothing is written to cmk.db', async () => {
    const url = await pgc().createDatabase('cmk_cli');
    const root = join(dir, 'run');
    let c = await startCmk(root, undefined, { databaseUrl: url });
    try {
      await c.admin.post('/v1/tenants', { name: 'acme', regions: ['eu'] });
      const st = await c.admin.get<{ server: { database: string }; plane: string }>('/v1/status');
      expect(st.plane).toBe('cmk');
      expect(st.server.database).toMatch(/^postgres:\/\/.*cmk_cli \(|^postgres:\/\/.*\/cmk_cli$/);
    } finally {
      expect(await c.proc.stop()).toBe(0);
    }
    c = await startCmk(root, undefined, { databaseUrl: url });
    try {
      const t = await c.admin.get<{ tenant: { id: string; regions: string[] } }>('/v1/tenants/acme');
      expect(t.tenant).toMatchObject({ id: 'acme', regions: ['eu'] });
      const v = await c.kmipctl(['audit', 'verify']);
      expect(v.code, v.stderr).toBe(0);
    } finally {
      expect(await c.proc.stop()).toBe(0);
    }
    expect(existsSync(join(root, 'cmk', 'data', 'cmk.db'))).toBe(false);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const n = Number((await db.query('SELECT count(*) AS n FROM audit_log')).rows[0].n);
      expect(n).toBeGreaterThan(0); // the trail is in PostgreSQL
    } finally {
      await db.end();
    }
  }, 240_000);

  it('a URL that is not PostgreSQL, a server that does not answer, a newer schema: one line, exit 2', async () => {
    let r = await cmk(['--database-url', 'mysql://u:pw@127.0.0.1/db']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/postgres/i);
    expect(r.stderr).not.toContain('pw@');
    r = await cmk(['--database-url', 'postgres://u:secret@127.0.0.1:1/db']);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/connection refused/);
    expect(r.stderr).not.toContain('secret');
    const url = await pgc().createDatabase('cmk_newer');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await db.query(`CREATE TABLE ${GOVERNANCE_MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
      await db.query(`INSERT INTO ${GOVERNANCE_MIGRATIONS_TABLE} VALUES (99, 'from the future', 'x')`);
    } finally {
      await db.end();
    }
    r = await cmk(['--database-url', url]);
    oneLineUsage(r);
    expect(r.stderr).toMatch(/schema version 99 is newer/);
  }, 240_000);
});
