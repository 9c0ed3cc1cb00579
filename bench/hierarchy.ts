// `npm run bench:hierarchy` (issue 6): figures of the key hierarchy engine.
//
//   1. Start-up unseal (unsealAll) of 1, 100 and 1 000 tenants, each with its own L1:
//      the software provider (one key file per tenant) and, when libsofthsm2 is installed,
//      SoftHSM2 (one provider per tenant over one token, through src/hsm/pkcs11.ts; up to
//      100 distinct AES keys, shared round-robin beyond).
//   2. Kill switch under load: concurrent readers on the tenant; time from the killSwitch()
//      call to the first refused request, and to the moment every L2/L3 buffer is zero.
//   3. Object values wrapped/unwrapped per second through the hierarchy (L3 in memory), and
//      L1 wrap/unwrap per second of each provider (what an unseal or an L2 rotation costs).
//
//   node --import tsx bench/hierarchy.ts [--seconds 1] [--no-softhsm] [--tenants 1,100,1000] [--json]
//
// One Node thread; SQLite on a temp file with synchronous=FULL. Figures go to bench/README.md by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite.ts';
import { SoftwareL1Provider } from '../src/hsm/software.ts';
import type { L1Provider } from '../src/hsm/types.ts';
import { HierarchyEngine } from '../src/hierarchy/engine.ts';
import { KmipError } from '../src/kmip/errors.ts';
import { ResultReason } from '../src/ttlv/generated/enumerations.ts';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SECONDS = Number(opt('--seconds') ?? 1) || 1;
const TENANT_COUNTS = (opt('--tenants') ?? '1,100,1000').split(',').map(Number).filter((n) => n > 0);
const AS_JSON = args.includes('--json');
const WITH_SOFTHSM = !args.includes('--no-softhsm');

const out: Record<string, unknown> = {};
const say = (s: string) => { if (!AS_JSON) console.log(s); };
const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const work = mkdtempSync(join(tmpdir(), 'openkcm-bench-hier-'));
const cleanups: Array<() => Promise<unknown> | unknown> = [() => rmSync(work, { recursive: true, force: true })];

/** A provider family: opens `n` tenant L1s. */
interface Family {
  name: string;
  open(n: number): Promise<L1Provider[]>;
}

const DISTINCT_HSM_KEYS = 100;

const software: Family = {
  name: 'software',
  async open(n) {
    const dir = mkdtempSync(join(work, 'sw-'));
    const out: L1Provider[] = [];
    for (let i = 0; i < n; i++) out.push(await SoftwareL1Provider.open(join(dir, `t${i}.key`)));
    return out;
  },
};

async function softhsmFamily(): Promise<Family | undefined> {
  if (!WITH_SOFTHSM) return undefined;
  try {
    const { findSoftHsmLibrary, Pkcs11L1Provider } = await import('../src/hsm/pkcs11.ts');
    if (findSoftHsmLibrary() === undefined) return undefined;
    // The test tree's SoftHSM helper: a private token folder through SOFTHSM2_CONF.
    const { SoftHsm } = await import('../test/hsm/softhsm.ts');
    const hsm = new SoftHsm();
    cleanups.push(() => hsm.dispose());
    const pin = '1234';
    hsm.initToken('bench', pin);
    process.env.OPENKCM_BENCH_PIN = pin;
    let made = 0;
    return {
      name: 'softhsm2',
      async open(n) {
        const list: L1Provider[] = [];
        for (let i = 0; i < n; i++) {
          // Key generation goes through a child process per key (the token's "console"); past
          // DISTINCT_HSM_KEYS, tenants share keys round-robin. Each tenant still has its own
          // provider instance and its own L2 blob, so the unseal does one C_Unwrap per tenant.
          const label = `tenant-${made++ % DISTINCT_HSM_KEYS}`;
          if (made <= DISTINCT_HSM_KEYS) hsm.generateAesKey('bench', pin, { label });
          list.push(await Pkcs11L1Provider.open({ tokenLabel: 'bench', pinEnv: 'OPENKCM_BENCH_PIN', keyLabel: label, maxSessions: 2 }));
        }
        return list;
      },
    };
  } catch (e) {
    say(`(SoftHSM2 skipped: ${(e as Error).message})`);
    return undefined;
  }
}

async function freshStore(name: string): Promise<SqliteStore> {
  const s = await openSqliteStore(join(work, `${name}.db`));
  cleanups.push(() => s.close());
  return s;
}

// ---------------------------------------------------------------------------
// 1. Unseal

async function benchUnseal(family: Family, n: number): Promise<{ ms: number; perTenantMs: number }> {
  const store = await freshStore(`${family.name}-${n}`);
  const l1s = await family.open(n);
  const tenants = l1s.map((_, i) => `tenant-${i}`);
  // Provision: each tenant gets its L2 and the L3 of one service.
  const setup = new HierarchyEngine({ store, statusCheckIntervalMs: 0 });
  for (let i = 0; i < n; i++) await setup.registerTenant(tenants[i]!, l1s[i]!);
  await setup.unsealAll();
  for (const t of tenants) await setup.wrap({ tenant: t, service: 'app', uid: 'probe' }, Buffer.alloc(32));
  await setup.close();
  // Start-up as the server does it: a new engine, every tenant registered, then unsealAll.
  const engine = new HierarchyEngine({ store, statusCheckIntervalMs: 0 });
  for (let i = 0; i < n; i++) await engine.registerTenant(tenants[i]!, l1s[i]!);
  const report = await engine.unsealAll({ timeoutMs: 30_000 });
  if (report.sealed.length > 0) throw new Error(`unseal left ${report.sealed.length} tenants sealed: ${report.sealed[0]!.reason}`);
  await engine.close();
  for (const l1 of l1s) await l1.close();
  return { ms: report.ms, perTenantMs: report.ms / n };
}

// ---------------------------------------------------------------------------
// 2. Kill switch under load

async function benchKillSwitch(rounds: number, readers: number) {
  const store = await freshStore('killswitch');
  const [l1] = await software.open(1);
  const engine = new HierarchyEngine({ store, statusCheckIntervalMs: 0 });
  await engine.registerTenant('victim', l1!);
  const place = { tenant: 'victim', service: 'app', uid: 'obj' };
  const refusedMs: number[] = [];
  const zeroMs: number[] = [];
  let served = 0;
  for (let r = 0; r < rounds; r++) {
    await engine.enableTenant('victim', l1!);
    const blob = await engine.wrap(place, Buffer.alloc(64, 7));
    const buffers = engine.liveKeyBuffersForTests('victim');
    let stop = false;
    let calledAt = 0;
    let firstRefused = 0;
    const loop = async () => {
      while (!stop) {
        await new Promise((res) => setImmediate(res)); // a request arrives from a socket
        try {
          (await engine.unwrap(place, blob)).fill(0);
          served++;
        } catch (e) {
          if (!(e instanceof KmipError) || e.reason !== ResultReason.PermissionDenied) throw e;
          if (calledAt > 0 && firstRefused === 0) firstRefused = performance.now();
        }
      }
    };
    const loops = Array.from({ length: readers }, loop);
    await new Promise((res) => setTimeout(res, 50));
    calledAt = performance.now();
    const done = engine.killSwitch('victim');
    zeroMs.push(performance.now() - calledAt);
    if (!buffers.every((b) => b.every((x) => x === 0))) throw new Error('kill switch left key bytes');
    await done;
    while (firstRefused === 0) await new Promise((res) => setImmediate(res));
    stop = true;
    await Promise.all(loops);
    refusedMs.push(firstRefused - calledAt);
  }
  await engine.close();
  await l1!.close();
  return {
    rounds, readers, served,
    firstRefusedMs: { p50: pct(refusedMs, 50), p99: pct(refusedMs, 99), max: Math.max(...refusedMs) },
    zeroizedMs: { p50: pct(zeroMs, 50), max: Math.max(...zeroMs) },
  };
}

// ---------------------------------------------------------------------------
// 3. Throughput

async function rate(f: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) await f();
    n += 64;
  }
  return n / ((performance.now() - start) / 1000);
}

async function benchWrapUnwrap(valueBytes: number) {
  const store = await freshStore(`wrap-${valueBytes}`);
  const [l1] = await software.open(1);
  const engine = new HierarchyEngine({ store, statusCheckIntervalMs: 0, defaultL1: l1! });
  const place = { tenant: 'acme', service: 'app', uid: 'obj-1' };
  const value = Buffer.alloc(valueBytes, 1);
  const blob = await engine.wrap(place, value);
  const wrapPerSec = await rate(() => engine.wrap(place, value));
  const unwrapPerSec = await rate(async () => (await engine.unwrap(place, blob)).fill(0));
  await engine.close();
  await l1!.close();
  return { valueBytes, wrapPerSec, unwrapPerSec };
}

async function benchL1(family: Family) {
  const [l1] = await family.open(1);
  const key = Buffer.alloc(32, 3);
  const blob = await l1!.wrap(key, 'l2|bench|1');
  const wrapPerSec = await rate(() => l1!.wrap(key, 'l2|bench|1'));
  const unwrapPerSec = await rate(async () => (await l1!.unwrap(blob, 'l2|bench|1')).fill(0));
  await l1!.close();
  return { provider: family.name, wrapPerSec, unwrapPerSec };
}

// ---------------------------------------------------------------------------

async function main() {
  say(`OpenKCM hierarchy bench — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const families: Family[] = [software];
  const hsm = await softhsmFamily();
  if (hsm) families.push(hsm);

  say('\n1. unsealAll (each tenant its own L1; L2 + one L3 per tenant)');
  const unseal: Record<string, unknown>[] = [];
  for (const f of families) {
    for (const n of TENANT_COUNTS) {
      const r = await benchUnseal(f, n);
      unseal.push({ provider: f.name, tenants: n, ...r });
      say(`   ${f.name.padEnd(9)} ${String(n).padStart(5)} tenants: ${fmt(r.ms)} ms (${fmt(r.perTenantMs, 2)} ms per tenant)`);
    }
  }
  out.unseal = unseal;

  say('\n2. kill switch under load (software L1)');
  const ks = await benchKillSwitch(20, 8);
  out.killSwitch = ks;
  say(`   ${ks.rounds} rounds × ${ks.readers} concurrent readers (${ks.served} reads served)`);
  say(`   call → first refused request: p50 ${fmt(ks.firstRefusedMs.p50, 3)} ms, p99 ${fmt(ks.firstRefusedMs.p99, 3)} ms, max ${fmt(ks.firstRefusedMs.max, 3)} ms (budget 100 ms)`);
  say(`   call → L2/L3 buffers zero: p50 ${fmt(ks.zeroizedMs.p50, 3)} ms, max ${fmt(ks.zeroizedMs.max, 3)} ms`);

  say('\n3. throughput');
  const wu = [await benchWrapUnwrap(64), await benchWrapUnwrap(4096)];
  out.hierarchy = wu;
  for (const r of wu) say(`   hierarchy L4 ${String(r.valueBytes).padStart(5)} B value: wrap ${fmt(r.wrapPerSec, 0)}/s, unwrap ${fmt(r.unwrapPerSec, 0)}/s`);
  const l1 = [];
  for (const f of families) {
    const r = await benchL1(f);
    l1.push(r);
    say(`   L1 ${f.name.padEnd(9)} 32 B key: wrap ${fmt(r.wrapPerSec, 0)}/s, unwrap ${fmt(r.unwrapPerSec, 0)}/s`);
  }
  out.l1 = l1;
  if (AS_JSON) console.log(JSON.stringify(out, null, 2));
}

try {
  await main();
} finally {
  for (const c of cleanups.reverse()) await c();
}
