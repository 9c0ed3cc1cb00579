// Get and Locate by Name on a large store (issue 12 §1: 1 000 000 stored objects, p99 < 2 ms,
// server RSS < 300 MB). Seed first with bench/seed.ts, then:
//
//   node --import tsx bench/scale.ts --dir DIR [--workers 1,2] [--seconds 10] [--connections 1,4]
//
// For each worker count, `openkcm serve --workers N` runs in DIR (its certs/ and data/, on-disk
// SQLite, WAL, synchronous=FULL, logs at warn) as a child process; the load comes from this
// process over mutual TLS with the development client certificate, on the same cores.
// Workloads, each a closed loop of one request in flight per connection:
//   get served        Get of a random object that was served before (Fresh already false,
//                     KMIP 2.1 §4.19): a pure read; every answer must carry 32 key bytes;
//   get never served  Get of an object never served (Fresh still true), each drawn once
//                     from a random sample: the Get also writes Fresh = false;
//   locate  Locate by Name of a uniformly random `seed-<n>` (bench/seed.ts names); every
//           answer must carry exactly one Unique Identifier.
// RSS is the sum over the server's processes (primary and workers) after the load, and the
// peak seen while it ran (sampled every 200 ms). With `--before DIR` (a worktree of an older
// commit), the same cells run against `openkcm serve` of that checkout too, on the same
// database, one server after the other: a change measured before/after in one run.
// Each Get never served turns one object's Fresh to false for good: a 1 000 000-object seed
// allows many runs, and the run says so when its sample of never-served objects runs out.
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { KmipClient } from '../src/client/index.ts';
import { Operation, NameType } from '../src/ttlv/generated/enumerations.ts';
import { Tag } from '../src/ttlv/generated/tags.ts';
import { enumeration, structure, textString } from '../src/kmip/items.ts';
import { startServerProcess } from '../scripts/fuzz/server-process.ts';
import { runClosedLoop } from './lib/load.ts';
import { keyMaterialOf, uidPayload } from './lib/kmip.ts';
import { fmtUs, markdownTable } from './lib/matrix.ts';
import { parseFlags, positiveIntegers, positiveNumber, usage, OptionError, type FlagSpec } from './lib/options.ts';
import { decode } from '../src/ttlv/decode.ts';
import { SEED_TENANT } from './seed.ts';

const FLAGS: FlagSpec[] = [
  { flag: '--dir', value: true, help: 'a directory seeded by bench/seed.ts' },
  { flag: '--workers', value: true, help: 'worker counts to measure, e.g. 1,2 (default 1)' },
  { flag: '--connections', value: true, help: 'connections per workload, e.g. 1,4 (default 1,4)' },
  { flag: '--seconds', value: true, help: 'measured seconds per cell (default 10)' },
  { flag: '--warmup', value: true, help: 'warm-up seconds per cell (default 2)' },
  { flag: '--in-process', value: true, help: 'also time N Get-like and N Locate-like store reads in this process, no TLS or scheduler hops (default 20000; 0 = skip)' },
  { flag: '--no-server', value: false, help: 'skip the server runs (the in-process pass only)' },
  { flag: '--before', value: true, help: 'also run `openkcm serve` of this other checkout (a worktree of an older commit) on the same database, as "before"' },
  { flag: '--sample', value: true, help: 'objects sampled at random to find never-served and served ones (default 200000)' },
  { flag: '--json', value: false, help: 'print the results as JSON as well' },
  { flag: '--help', value: false, help: 'this text' },
];

/** The resident set of a process and of all its descendants (Linux /proc), in bytes. */
export function treeRss(pid: number): number {
  let total = 0;
  const visit = (p: number) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/)) if (c) visit(Number(c));
    } catch {
      // gone meanwhile
    }
  };
  visit(pid);
  return total;
}

const locateByName = (name: string) => structure(Tag.RequestPayload, [
  structure(Tag.Attributes, [structure(Tag.Name, [textString(Tag.NameValue, name), enumeration(Tag.NameType, NameType.UninterpretedTextString)])]),
]);

/** KMIP 2.1 §4.19 Fresh of a stored Attributes blob: true unless a Fresh = false is there. */
function isFresh(attributes: Buffer): boolean {
  const attrs = decode(attributes);
  if (attrs.type !== 'Structure') return true;
  const f = attrs.value.find((a) => a.tag === Tag.Fresh);
  return f === undefined || f.type !== 'Boolean' || f.value;
}

/** Served objects kept at hand for the "get served" workload. */
const SERVED_POOL = 2_000;

interface Row { code: string; workers: number; workload: string; connections: number; perSecond: number; p50: number; p99: number; errors: number; rssMB: number; peakRssMB: number; load: string }

async function main(): Promise<void> {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(process.argv.slice(2), FLAGS);
  } catch (e) {
    if (e instanceof OptionError) {
      process.stderr.write(`scale: ${e.message}\n${usage('node --import tsx bench/scale.ts', FLAGS)}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (flags.has('--help')) {
    process.stdout.write(`${usage('node --import tsx bench/scale.ts', FLAGS)}\n`);
    return;
  }
  const dirFlag = flags.get('--dir');
  if (dirFlag === undefined || !existsSync(join(resolve(dirFlag), 'data', 'openkcm.db'))) {
    process.stderr.write('scale: --dir must name a directory seeded by bench/seed.ts (data/openkcm.db missing)\n');
    process.exit(2);
  }
  const dir = resolve(dirFlag);
  const workerCounts = positiveIntegers(flags.get('--workers'), 'workers', [1]);
  const connectionCounts = positiveIntegers(flags.get('--connections'), 'connections', [1, 4]);
  const seconds = positiveNumber(flags.get('--seconds'), 'seconds', 10);
  const warmup = positiveNumber(flags.get('--warmup'), 'warmup', 2);

  // The ids to Get, and how many seeded names exist (read before the server opens the file).
  const db = new Database(join(dir, 'data', 'openkcm.db'), { readonly: true });
  const uids = (db.prepare('SELECT uid FROM objects WHERE tenant = ?').pluck().all(SEED_TENANT) as string[]);
  // A random sample by rowid, split by Fresh: Gets that only read, and Gets that also write.
  const sampleSize = Math.floor(positiveNumber(flags.get('--sample'), 'sample', 200_000));
  const maxRowid = db.prepare('SELECT MAX(rowid) FROM objects').pluck().get() as number;
  const byRowid = db.prepare('SELECT uid, attributes FROM objects WHERE rowid = ? AND tenant = ?');
  const sampled = new Set<number>();
  const neverServed: string[] = [];
  const served: string[] = [];
  for (let i = 0; i < sampleSize * 4 && sampled.size < Math.min(sampleSize, maxRowid); i++) {
    const rowid = 1 + Math.floor(Math.random() * maxRowid);
    if (sampled.has(rowid)) continue;
    sampled.add(rowid);
    const r = byRowid.get(rowid, SEED_TENANT) as { uid: string; attributes: Buffer } | undefined;
    if (r !== undefined) (isFresh(r.attributes) ? neverServed : served).push(r.uid);
  }
  // Names as stored: several seeders on disjoint ranges may leave gaps between them.
  const names = (db.prepare("SELECT name FROM object_names WHERE tenant = ? AND name LIKE 'seed-%'").pluck().all(SEED_TENANT) as string[]);
  const fileMB = (db.prepare('SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()').pluck().get() as number) / 2 ** 20;
  db.close();
  process.stderr.write(`scale: ${uids.length} objects, ${names.length} seeded names, database ${fileMB.toFixed(0)} MB; sample: ${neverServed.length} never served, ${served.length} served\n`);
  const random = (n: number) => Math.floor(Math.random() * n);
  const nextNeverServed = (): string => {
    const uid = neverServed.pop();
    if (uid === undefined) throw new Error('the sample of never-served objects is used up: pass a larger --sample, or seed more objects');
    return uid;
  };

  const variants: Array<{ code: string; start: typeof startServerProcess }> = [{ code: 'this', start: startServerProcess }];
  const before = flags.get('--before');
  if (before !== undefined) {
    const other = (await import(join(resolve(before), 'scripts/fuzz/server-process.ts'))) as { startServerProcess: typeof startServerProcess };
    variants.push({ code: 'before', start: other.startServerProcess });
  }
  const rows: Row[] = [];
  for (const workers of flags.has('--no-server') ? [] : workerCounts) for (const { code, start } of variants) {
    const server = await start({ cwd: dir, args: ['--admin-listen', '127.0.0.1:0', '--log-level', 'warn'], workers, startTimeoutMs: 300_000 });
    let peak = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, treeRss(server.pid)); }, 200);
    try {
      for (const connections of connectionCounts) {
        const clients: KmipClient[] = [];
        for (let i = 0; i < connections; i++) clients.push(await KmipClient.connect({ host: '127.0.0.1', port: server.port, ...server.tls(), servername: 'localhost', timeoutMs: 60_000 }));
        try {
          const getKey = async (c: KmipClient, uid: string) => {
            const km = keyMaterialOf(await c.request(Operation.Get, uidPayload(uid)));
            if (km.length !== 32) throw new Error(`Get: ${km.length} bytes of key material`);
          };
          // Too few served objects in the sample (a fresh seed): serve some now, unmeasured.
          while (served.length < SERVED_POOL) {
            const uid = nextNeverServed();
            await getKey(clients[0]!, uid);
            served.push(uid);
          }
          const workloads: Array<[string, (c: KmipClient) => Promise<void>]> = [
            ['get served', (c) => getKey(c, served[random(served.length)]!)],
            ['get never served', (c) => getKey(c, nextNeverServed())],
            ['locate by name', async (c) => {
              const p = await c.request(Operation.Locate, locateByName(names[random(names.length)]!));
              const found = p.value.filter((x) => x.tag === Tag.UniqueIdentifier).length;
              if (found !== 1) throw new Error(`Locate by Name: ${found} identifiers`);
            }],
          ];
          for (const [workload, request] of workloads) {
            const r = await runClosedLoop({ connections: clients, request, durationMs: seconds * 1000, warmupMs: warmup * 1000 });
            const row: Row = {
              code, workers, workload, connections, perSecond: r.perSecond, p50: r.latency.percentile(50), p99: r.latency.percentile(99), errors: r.errors,
              rssMB: treeRss(server.pid) / 2 ** 20, peakRssMB: peak / 2 ** 20, load: loadavg()[0]!.toFixed(1),
            };
            rows.push(row);
            process.stderr.write(`scale: ${code}, ${workers} worker(s), ${workload}, ${connections} conn: ${Math.round(r.perSecond)}/s p50 ${fmtUs(row.p50)} p99 ${fmtUs(row.p99)} RSS ${row.rssMB.toFixed(0)} MB${r.errors ? `, ${r.errors} errors: ${r.errorSamples.join('; ')}` : ''}\n`);
          }
        } finally {
          await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
        }
      }
    } finally {
      clearInterval(sampler);
      await server.stop(20_000);
    }
  }
  // The server's own share, without the client, TLS and the scheduler's hops between three
  // processes: the store read and the L4 unwrap of a Get, the name lookup of a Locate.
  const inProcessN = Math.floor(Number(flags.get('--in-process') ?? 20_000));
  const inProcess: Array<{ what: string; n: number; p50: number; p99: number; cpuUs: number }> = [];
  if (inProcessN > 0) {
    const { openRuntime } = await import('../src/server/runtime.ts');
    const { LatencyHistogram } = await import('./lib/histogram.ts');
    const rt = await openRuntime({ dataDir: join(dir, 'data') });
    try {
      const place = (uid: string) => ({ tenant: SEED_TENANT, service: 'default', uid });
      const measure = async (what: string, op: () => Promise<void>) => {
        for (let i = 0; i < 200; i++) await op(); // warm-up (unseal, JIT)
        const h = new LatencyHistogram();
        const cpu0 = process.cpuUsage();
        for (let i = 0; i < inProcessN; i++) {
          const t0 = performance.now();
          await op();
          h.record((performance.now() - t0) * 1000);
        }
        const cpu = process.cpuUsage(cpu0);
        inProcess.push({ what, n: inProcessN, p50: h.percentile(50), p99: h.percentile(99), cpuUs: (cpu.user + cpu.system) / inProcessN });
      };
      await measure('store get + L4 unwrap (Get without TLS, policy, audit)', async () => {
        const o = await rt.store.get(SEED_TENANT, uids[random(uids.length)]!);
        if (o?.wrappedValue === undefined) throw new Error('seeded object without a value');
        (await rt.hierarchy.protector.unprotect(place(o.uid), o.wrappedValue)).fill(0);
      });
      await measure('store scan by Name, first match (Locate without TLS, policy, audit)', async () => {
        for await (const o of rt.store.scan(SEED_TENANT, { name: names[random(names.length)]! })) { void o; break; }
      });
    } finally {
      await rt.close();
    }
    process.stdout.write(`\n${markdownTable(['in process', 'ops', 'p50', 'p99', 'CPU per op'],
      inProcess.map((r) => [r.what, String(r.n), fmtUs(r.p50), fmtUs(r.p99), fmtUs(r.cpuUs)]))}\n`);
  }
  process.stdout.write(`\n${uids.length} objects, database ${fileMB.toFixed(0)} MB, ${seconds} s per cell after ${warmup} s warm-up\n\n`);
  process.stdout.write(`${markdownTable(
    ['code', 'workers', 'workload', 'connections', 'req/s', 'p50', 'p99', 'errors', 'RSS after', 'peak RSS', 'load avg'],
    rows.map((r) => [r.code, String(r.workers), r.workload, String(r.connections), String(Math.round(r.perSecond)), fmtUs(r.p50), fmtUs(r.p99), String(r.errors), `${r.rssMB.toFixed(0)} MB`, `${r.peakRssMB.toFixed(0)} MB`, r.load]),
  )}\n`);
  if (flags.has('--json')) process.stdout.write(`${JSON.stringify({ objects: uids.length, fileMB, rows, inProcess })}\n`);
}

await main();
