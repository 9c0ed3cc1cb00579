// The region's audit chain in its PostgreSQL vault (issue 10 §2; src/audit/pg-chain.ts):
// what one chain shared by several core nodes costs next to the alternatives, measured side
// by side in one run on one real PostgreSQL cluster (started here, as the tests do).
//
//   one chain, W writers   — the design: W writers (each its own pool, as W nodes) append
//                            to one chain; each group commit takes the chain's advisory lock
//   per-node chains, W     — the alternative not taken: each writer its own chain (its own
//                            database on the same cluster: same WAL, same fsyncs), no lock
//   SQLite, node-local     — what a PostgreSQL core did before (core-audit.db: WAL, FULL)
//
// Every writer appends as fast as it can (yielding to the event loop every 100 records, so
// groups form as under KMIP traffic), then flushes; a row's figure is records committed per
// second over all its writers. Then the chain is verified and its records counted.
//
//   node --import tsx bench/vault-audit.ts [records per writer, default 20000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditDatabase, openAuditLog } from '../src/audit/index.ts';
import { PgAuditChain, verifyPgAuditChain } from '../src/audit/pg-chain.ts';
import { startPostgres } from '../test/helpers/pg-cluster.ts';

const N = Number(process.argv[2] ?? 20_000);

function record(i: number) {
  return {
    kind: 'kmip' as const, identity: 'CN=bench-client,O=OpenKCM', tenant: 'acme', service: 'payments',
    operation: (i % 3 === 0 ? 'Encrypt' : i % 3 === 1 ? 'Decrypt' : 'Get'), objectId: `7f3c1e2a-0000-4000-8000-${String(i).padStart(12, '0')}`,
    result: 'success' as const,
  };
}

async function write(append: (i: number) => void, flush: () => Promise<void> | void): Promise<void> {
  for (let i = 0; i < N; i++) {
    append(i);
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  await flush();
}

async function main(): Promise<void> {
  const pg = await startPostgres();
  const dir = mkdtempSync(join(tmpdir(), 'vault-audit-bench-'));
  const rows: string[] = [];
  let n = 0;
  const row = (label: string, writers: number, ms: number, note = '') => {
    const rate = Math.round((writers * N) / (ms / 1000));
    rows.push(`| ${label} | ${writers} | ${rate.toLocaleString('en-US').replace(/,/g, ' ')} | ${note} |`);
    return rate;
  };
  try {
    const shared = async (writers: number) => {
      const url = await pg.createDatabase(`chain_${n++}`);
      const chains = await Promise.all(Array.from({ length: writers }, (_, w) => PgAuditChain.open(url, { node: `n${w + 1}` })));
      const t0 = performance.now();
      await Promise.all(chains.map((c) => write((i) => c.append(record(i)), () => c.flush())));
      const ms = performance.now() - t0;
      const v0 = performance.now();
      const v = await verifyPgAuditChain(chains[0]!.pool);
      const vms = performance.now() - v0;
      if (!v.ok || v.count !== writers * N) throw new Error(`chain of ${writers} writers: ${JSON.stringify(v)}`);
      for (const c of chains) await c.close();
      return { ms, verifyRate: Math.round(v.count / (vms / 1000)) };
    };
    const perNode = async (writers: number) => {
      const chains = await Promise.all(Array.from({ length: writers }, async (_, w) => PgAuditChain.open(await pg.createDatabase(`own_${n++}`), { node: `n${w + 1}` })));
      const t0 = performance.now();
      await Promise.all(chains.map((c) => write((i) => c.append(record(i)), () => c.flush())));
      const ms = performance.now() - t0;
      for (const c of chains) await c.close();
      return ms;
    };
    const sqlite = async () => {
      const db = openAuditDatabase(join(dir, `node-${n++}.db`));
      const log = openAuditLog(db);
      const t0 = performance.now();
      await write((i) => log.append(record(i)), () => log.flush());
      const ms = performance.now() - t0;
      log.close();
      db.close();
      return ms;
    };
    // Warm-up (JIT, the cluster's caches), not reported.
    await shared(1);
    const one = await shared(1);
    const r1 = row('one chain (advisory lock per group)', 1, one.ms, `verify ${one.verifyRate.toLocaleString('en-US').replace(/,/g, ' ')} records/s`);
    const two = await shared(2);
    const r2 = row('one chain (advisory lock per group)', 2, two.ms);
    const four = await shared(4);
    const r4 = row('one chain (advisory lock per group)', 4, four.ms);
    const p2 = row('per-node chains, no lock (the alternative)', 2, await perNode(2));
    const p4 = row('per-node chains, no lock (the alternative)', 4, await perNode(4));
    const s = row('SQLite node-local chain (before)', 1, await sqlite());
    console.log(`records per writer: ${N}; default group commit (≤ 512 records, 5 ms)\n`);
    console.log('| setup | writers | records/s | note |\n|---|---|---|---|');
    for (const r of rows) console.log(r);
    console.log(`\nratios: one chain 2 writers / per-node 2 = ${(r2 / p2).toFixed(2)}; 4 writers: ${(r4 / p4).toFixed(2)}; one chain 2 writers / 1 writer = ${(r2 / r1).toFixed(2)}; PostgreSQL 1 writer / SQLite = ${(r1 / s).toFixed(2)}`);
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
