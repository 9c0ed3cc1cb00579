// The regional audit chain on a real PostgreSQL (src/audit/pg-chain.ts; issue 10 §2): several
// writers — the core nodes of one region — append to one hash chain in the vault database.
// Two writers with their own connection pools append at once and give one chain that
// verifies; tampering is named as on SQLite; a database that refuses writes makes the
// writer unavailable without losing a record; `kmipctl audit verify --database-url` checks
// the chain from outside.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgAuditChain, verifyPgAuditChain } from '../../src/audit/pg-chain.ts';
import { cleanEnv, KMIPCTL, run } from '../admin/serve.ts';
import { usePostgres } from '../helpers/postgres.ts';

const pgc = usePostgres();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'openkcm-pgchain-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

const kmipctlVerify = (url: string) => run(KMIPCTL, ['audit', 'verify', '--database-url', url], { cwd: dir, env: cleanEnv(), timeoutMs: 60_000 });

/** Appends `n` records from `node` in bursts, yielding to the event loop between bursts so the two writers' commits overlap. */
async function writeMany(chain: PgAuditChain, node: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    chain.append({ kind: 'kmip', identity: `app of ${node}`, tenant: 'acme', service: 'web', operation: 'Get', objectId: `obj-${i}`, result: 'success', detail: `${node} #${i}` });
    if (i % 25 === 24) await new Promise((r) => setImmediate(r));
  }
  await chain.flush();
}

describe('one audit chain appended by several core nodes (PostgreSQL)', () => {
  let url: string;

  it('two writers at once: one contiguous chain that verifies, each node\'s records in its own order', async () => {
    url = await pgc().createDatabase('chain_two');
    const [a, b] = await Promise.all([PgAuditChain.open(url, { node: 'a1' }), PgAuditChain.open(url, { node: 'a2' })]);
    try {
      await Promise.all([writeMany(a, 'a1', 1500), writeMany(b, 'a2', 1500)]);
      const v = await verifyPgAuditChain(a.pool);
      expect(v).toMatchObject({ ok: true, count: 3000, lastSeq: 3000 });
      const rows = await sql<{ seq: string; node: string; detail: string }>(url, 'SELECT seq, node, detail FROM audit_log ORDER BY seq');
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
      for (const node of ['a1', 'a2']) {
        const mine = rows.filter((r) => r.node === node).map((r) => Number(/#(\d+)$/.exec(r.detail)![1]));
        expect(mine).toEqual(Array.from({ length: 1500 }, (_, i) => i));
      }
      // The writers really took turns: the chain switches node many times, not once.
      const switches = rows.filter((r, i) => i > 0 && r.node !== rows[i - 1]!.node).length;
      expect(switches).toBeGreaterThan(1);
      // Each writer knows where its own last record landed (what shipping waits for).
      expect([a.lastOwnSeq(), b.lastOwnSeq()]).toContain(3000);
      expect(Math.min(a.lastOwnSeq(), b.lastOwnSeq())).toBeGreaterThan(0);
      // The node is part of the hash: records read back verify with it, and the writer's own check agrees.
      expect((await a.verify()).ok).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
    const r = await kmipctlVerify(url);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/audit chain OK: 3000 records, last seq 3000, head [0-9a-f]{64}/);
  }, 180_000);

  it('append-only: UPDATE, DELETE and TRUNCATE are refused by the database', async () => {
    for (const stmt of ["UPDATE audit_log SET detail = 'x' WHERE seq = 1", 'DELETE FROM audit_log WHERE seq = 1', 'TRUNCATE audit_log']) {
      await expect(sql(url, stmt)).rejects.toThrow(/append-only/);
    }
  });

  it('tampering is named: a record moved to another node is "modified", a removed one "deleted" (kmipctl exits 1)', async () => {
    await sql(url, 'ALTER TABLE audit_log DISABLE TRIGGER USER');
    await sql(url, "UPDATE audit_log SET node = CASE node WHEN 'a1' THEN 'a2' ELSE 'a1' END WHERE seq = 10");
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      expect(await verifyPgAuditChain(pool)).toMatchObject({ ok: false, seq: 10, problem: 'modified' });
      const r = await kmipctlVerify(url);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/audit chain BROKEN at record seq 10: modified/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      await sql(url, "UPDATE audit_log SET node = CASE node WHEN 'a1' THEN 'a2' ELSE 'a1' END WHERE seq = 10");
      expect((await verifyPgAuditChain(pool)).ok).toBe(true);
      await sql(url, 'DELETE FROM audit_log WHERE seq = 20');
      expect(await verifyPgAuditChain(pool)).toMatchObject({ ok: false, seq: 20, problem: 'deleted' });
    } finally {
      await pool.end();
    }
  });

  it('a database that refuses writes: unavailable (the core refuses service), nothing dropped, resumes by itself', async () => {
    const u = await pgc().createDatabase('chain_refuse');
    const chain = await PgAuditChain.open(u, { node: 'a1' });
    try {
      chain.append({ kind: 'system', operation: 'test.before', result: 'success' });
      await chain.flush();
      // The table gone from under the writer: every commit fails until it is back.
      await sql(u, 'ALTER TABLE audit_log RENAME TO audit_log_away');
      for (let i = 0; i < 5; i++) chain.append({ kind: 'system', operation: 'test.during', result: 'success', detail: String(i) });
      await expect(chain.flush()).rejects.toThrow(/audit_log/);
      expect(chain.availability()).toMatchObject({ ok: false, reason: expect.stringMatching(/refuses writes .*5 record\(s\) queued/) });
      await sql(u, 'ALTER TABLE audit_log_away RENAME TO audit_log');
      const end = Date.now() + 30_000;
      while (chain.pendingCount() > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(chain.pendingCount()).toBe(0);
      expect(chain.availability()).toEqual({ ok: true });
      const rows = await sql<{ operation: string; detail: string | null }>(u, 'SELECT operation, detail FROM audit_log ORDER BY seq');
      expect(rows.map((r) => r.operation)).toEqual(['test.before', ...Array(5).fill('test.during')]);
      expect(rows.slice(1).map((r) => r.detail)).toEqual(['0', '1', '2', '3', '4']);
      expect(await chain.verify()).toMatchObject({ ok: true, count: 6 });
    } finally {
      await chain.close();
    }
  }, 60_000);

  it('kmipctl audit verify --database-url: bad URL, unreachable server, database without a chain: one line each', async () => {
    const bad = await run(KMIPCTL, ['audit', 'verify', '--database-url', 'mysql://x@h/db'], { cwd: dir, env: cleanEnv(), timeoutMs: 60_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a PostgreSQL URL/);
    const empty = await pgc().createDatabase('chain_none');
    const none = await kmipctlVerify(empty);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no audit_log table/);
    const gone = await kmipctlVerify(pgc().urlFor('no_such_db'));
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/cannot connect to PostgreSQL/);
    for (const r of [bad, none, gone]) expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});
