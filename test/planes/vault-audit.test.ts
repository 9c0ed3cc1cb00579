// The region's audit chain in its PostgreSQL vault, shipped to the CMK (issue 10 §2 "Audit"),
// with real processes only: `openkcm cmk`, two `openkcm core` nodes (a1, a2) of region eu on
// one real PostgreSQL vault, KMIP traffic from the project's client, `kmipctl audit verify
// --database-url` on the vault. Checks: both nodes append to one chain that verifies; while
// the CMK is down the records wait in the vault and reach the CMK once each when it is back;
// a node killed (SIGKILL) with records not yet shipped leaves them to the other node, which
// takes over the shipping lease and ships them.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { child, enumeration, integer, structure } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation } from '../../src/ttlv/generated/enumerations.ts';
import { AUDIT_SHIP_LOCK_KEY } from '../../src/audit/pg-chain.ts';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.ts';
import { cleanEnv, KMIPCTL, run } from '../admin/serve.ts';
import { issuedPair, kmipClient, startCmk, startCore, until, type CmkHandle, type CoreHandle, type CoreSpec } from './harness.ts';

let root: string;
let pgc: PostgresCluster;
let vault: string;
let cmk: CmkHandle;
let app: { cert: string; key: string };
const cores = new Map<string, CoreHandle>();
let db: pg.Client;

async function ok(p: Promise<{ code: number | null; stdout: string; stderr: string }>, what: string): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'openkcm-vaultaudit-'));
  pgc = await startPostgres();
  vault = await pgc.createDatabase('vault_eu');
  cmk = await startCmk(root);
  const l1 = join(root, 'l1');
  mkdirSync(l1, { recursive: true });
  await cmk.admin.post('/v1/tenants', { name: 'acme', regions: ['eu'] });
  await cmk.admin.post('/v1/tenants/acme/services', { name: 'web' });
  await cmk.admin.put('/v1/tenants/acme/l1', { provider: 'software', config: { keyFile: join(l1, 'acme.key') } });
  await ok(cmk.kmipctl(['cert', 'issue', '--tenant', 'acme', '--service', 'web', '--role', 'app', '--out', join(root, 'apps')]), 'app certificate');
  app = issuedPair(join(root, 'apps'));
  for (const name of ['a1', 'a2']) {
    await ok(cmk.kmipctl(['cert', 'issue', '--role', 'core', '--region', 'eu', '--name', name, '--out', join(root, 'links', name)]), `core certificate ${name}`);
  }
  // a1 first: it creates the vault schema; a2 then finds it.
  for (const name of ['a1', 'a2']) {
    const spec: CoreSpec = { name, region: 'eu', linkDir: join(root, 'links', name), databaseUrl: vault };
    cores.set(name, await startCore(root, cmk, spec));
  }
  db = new pg.Client({ connectionString: vault });
  await db.connect();
}, 300_000);

afterAll(async () => {
  await db?.end().catch(() => undefined);
  await Promise.all([...cores.values()].map((c) => c.proc.stop().catch(() => undefined)));
  await cmk?.proc.stop().catch(() => undefined);
  await pgc?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 120_000);

/** `n` Creates on a core, on `parallel` connections at once. */
async function traffic(name: string, n: number, parallel = 4): Promise<void> {
  const port = cores.get(name)!.port;
  const caFile = join(cmk.certs, 'ca.crt');
  await Promise.all(Array.from({ length: parallel }, async (_, w) => {
    const c = await kmipClient(port, caFile, app);
    try {
      for (let i = w; i < n; i += parallel) {
        const r = await c.request(Operation.Create, [
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          structure(Tag.Attributes, [
            enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256),
            integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
          ]),
        ]);
        expect(child(r, Tag.UniqueIdentifier)).toBeDefined();
      }
    } finally {
      await c.close();
    }
  }));
}

const head = async () => Number((await db.query<{ n: string | null }>('SELECT MAX(seq) AS n FROM audit_log')).rows[0]!.n ?? 0);
const cursor = async () => Number((await db.query<{ seq: string }>("SELECT seq FROM audit_ship_cursor WHERE name = 'cmk-link'")).rows[0]?.seq ?? 0);
const nodeRecords = async (node: string) => Number((await db.query<{ n: string }>('SELECT COUNT(*) AS n FROM audit_log WHERE node = $1', [node])).rows[0]!.n);
/** The node whose session holds the shipping lease, from PostgreSQL's own lock table. */
async function shipper(): Promise<string | undefined> {
  const r = await db.query<{ app: string }>(
    "SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objid = $1",
    [AUDIT_SHIP_LOCK_KEY],
  );
  return r.rows[0] ? /openkcm-audit-ship (\S+)/.exec(r.rows[0].app)?.[1] : undefined;
}

interface Shipped { node: string; regionSeq: number; hash: string }
/** Every record of region eu's chain in the CMK's trail, with the position and hash it had in the vault. */
async function shippedToCmk(): Promise<Shipped[]> {
  const out: Shipped[] = [];
  for (let after = 0; ;) {
    const page = await cmk.admin.get<{ records: { detail: string | null }[]; next: number | null }>(`/v1/audit/export?after=${after}&limit=10000`);
    for (const r of page.records) {
      const m = /^\[core (\S+) eu region#(\d+) \S+ ([0-9a-f]{64})\]/.exec(r.detail ?? '');
      if (m) out.push({ node: m[1]!, regionSeq: Number(m[2]), hash: m[3]! });
    }
    if (page.next === null) return out;
    after = page.next;
  }
}

/** Every record of the vault chain is in the CMK trail exactly once, with its vault hash. */
async function expectAllShippedOnce(): Promise<void> {
  const h = await head();
  await until(async () => ((await cursor()) >= h ? true : undefined), 90_000, `the ship cursor reaching ${h}`);
  const shipped = await shippedToCmk();
  const seqs = shipped.map((s) => s.regionSeq).sort((a, b) => a - b);
  expect(seqs.slice(0, h)).toEqual(Array.from({ length: h }, (_, i) => i + 1));
  expect(new Set(seqs).size).toBe(seqs.length); // no record twice
  const rows = (await db.query<{ seq: string; node: string; hash: string }>('SELECT seq, node, hash FROM audit_log WHERE seq <= $1 ORDER BY seq', [h])).rows;
  const bySeq = new Map(shipped.map((s) => [s.regionSeq, s]));
  for (const r of rows) expect(bySeq.get(Number(r.seq)), `region seq ${r.seq}`).toMatchObject({ node: r.node, hash: r.hash });
}

const verifyVault = () => run(KMIPCTL, ['audit', 'verify', '--database-url', vault], { cwd: root, env: cleanEnv(), timeoutMs: 60_000 });

describe("the region's audit chain in its PostgreSQL vault (issue 10 §2)", () => {
  it('two nodes appending at once give one chain that verifies; the CMK receives it once', async () => {
    await until(async () => ((await shipper()) !== undefined ? true : undefined), 60_000, 'a node holding the shipping lease');
    const before = { a1: await nodeRecords('a1'), a2: await nodeRecords('a2') };
    await Promise.all([traffic('a1', 60), traffic('a2', 60)]);
    await until(async () => ((await nodeRecords('a1')) >= before.a1 + 60 && (await nodeRecords('a2')) >= before.a2 + 60 ? true : undefined), 30_000, 'both nodes\' records in the chain');
    const r = await verifyVault();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/audit chain OK: \d+ records/);
    // Both nodes' records interleave on the one chain (not two chains one after the other).
    const nodes = (await db.query<{ node: string }>('SELECT node FROM audit_log ORDER BY seq')).rows.map((x) => x.node);
    expect(new Set(nodes)).toEqual(new Set(['a1', 'a2']));
    expect(nodes.filter((n, i) => i > 0 && n !== nodes[i - 1]).length).toBeGreaterThan(1);
    await expectAllShippedOnce();
  }, 240_000);

  it('CMK down: the records wait in the vault; CMK back: every one of them reaches the CMK once', async () => {
    await cmk.proc.stop();
    const before = await head();
    await Promise.all([traffic('a1', 40), traffic('a2', 40)]);
    await until(async () => ((await head()) >= before + 80 ? true : undefined), 30_000, 'the records of the outage in the chain');
    // Nothing of it can have been shipped: the cursor is behind the head.
    expect(await cursor()).toBeLessThanOrEqual(before);
    cmk = await startCmk(root, cmk.port);
    await expectAllShippedOnce();
    expect((await verifyVault()).code).toBe(0);
  }, 240_000);

  it('the node holding the shipping lease is killed with records unshipped: the other node ships them', async () => {
    const victim = await until(shipper, 60_000, 'the shipping node');
    const survivor = victim === 'a1' ? 'a2' : 'a1';
    await cmk.proc.stop();
    const mine = await nodeRecords(victim);
    await traffic(victim, 40);
    await until(async () => ((await nodeRecords(victim)) >= mine + 40 ? true : undefined), 30_000, `${victim}'s records committed`);
    const unshipped = await head();
    expect(await cursor()).toBeLessThan(unshipped);
    cores.get(victim)!.proc.child.kill('SIGKILL');
    await cores.get(victim)!.proc.exited;
    cores.delete(victim);
    cmk = await startCmk(root, cmk.port);
    await until(async () => ((await shipper()) === survivor ? true : undefined), 60_000, `${survivor} taking over the shipping lease`);
    await expectAllShippedOnce();
    const shipped = await shippedToCmk();
    expect(shipped.filter((s) => s.node === victim && s.regionSeq > mine).length).toBeGreaterThanOrEqual(40);
    // The survivor says in the CMK trail that it sent them (the ingest summary names the sender).
    const trail = await cmk.admin.get<{ records: { detail: string | null }[] }>('/v1/audit/tail?n=10000');
    expect(trail.records.some((r) => new RegExp(`of the region eu chain, sent by core ${survivor}`).test(r.detail ?? ''))).toBe(true);
    expect((await verifyVault()).code).toBe(0);
  }, 300_000);
});
