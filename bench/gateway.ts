// Krypton Gateway throughput (issue 11 §4). Real processes: `openkcm serve` (the Core) and
// `openkcm gateway` as children; the load comes from this process over HTTP keep-alive
// (the data-key API) and over KMIP (straight to the Core, one operation per request), in
// the same run so the ratios compare like with like. Also in-process figures of the
// gateway's own work without HTTP: batched wraps through the Core link, cache hits, 1 KiB
// envelopes; and the kill-switch reach (seal at the Core → first refused request).
//
//   npm run bench:gateway [-- --seconds N --concurrency C --bulk N --bulk-concurrency C]
//                         [-- --before DIR] [-- --no-kill] [-- --only TEXT,…]
// --before DIR: a second gateway process from another checkout (e.g. a worktree of main) next
// to this checkout's, on the same Core; every gateway row runs on both, one after the other,
// and prints both CPU figures per key and their ratio. --no-kill: skip the kill-switch and
// partition rounds (quick runs). bench/README.md records one run.
import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServed, type ServedEnv } from '../test/admin/serve.ts';
import { startGatewayProc, startRelay, tokenFile, type GatewayProc, type Relay } from '../test/gateway/helpers.ts';
import { KmipClient } from '../src/client/index.ts';
import { byteString, enumeration, integer, structure, textString } from '../src/kmip/items.ts';
import { Tag } from '../src/ttlv/generated/tags.ts';
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation } from '../src/ttlv/generated/enumerations.ts';
import { CoreLink } from '../src/gateway/core-link.ts';
import { L4Cache } from '../src/gateway/cache.ts';
import { EnvelopeSealer, sealEnvelope } from '../src/gateway/envelope.ts';
import { buildBinaryRequest, parseBinaryResponse } from '../src/gateway/binary.ts';

const arg = (name: string, d: number) => Number(process.argv[process.argv.indexOf(name) + 1] ?? 0) || d;
const SECONDS = arg('--seconds', 5);
const CONCURRENCY = arg('--concurrency', 64);
/** Entries per bulk request (POST /v1/datakeys count, /v1/datakeys/unwrap, /v1/encrypt/bulk). */
const BULK = arg('--bulk', 200);
/** Concurrent bulk requests: each carries BULK entries. */
const BULK_CONCURRENCY = arg('--bulk-concurrency', 4);
/** Concurrency of the latency row (cached unwrap): moderate, so p99 is the path's, not the queue's. */
const LATENCY_CONCURRENCY = arg('--latency-concurrency', 4);
const BEFORE = process.argv.includes('--before') ? process.argv[process.argv.indexOf('--before') + 1] : undefined;
/** --only TEXT[,TEXT…]: run only the rows whose name contains one of the TEXTs (quick A/B of a few rows; no kill-switch rounds). */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]?.split(',') : undefined;
const skipped = (name: string) => ONLY !== undefined && !ONLY.some((o) => name.includes(o));
const NO_KILL = process.argv.includes('--no-kill') || ONLY !== undefined;
/** --cache-max N: the gateways' cache bound (--cache-max of openkcm gateway); small, the rows run at a full cache, as a gateway does after a second at 10^5 keys/s. */
const CACHE_MAX = process.argv.includes('--cache-max') ? ['--cache-max', String(arg('--cache-max', 100_000))] : [];
const TOKEN = randomBytes(32).toString('hex');

function pct(xs: Float64Array | number[], p: number): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

interface Result {
  name: string; ops: number; perSec: number; p50: number; p99: number; extra?: string; cpuUsPerKey?: number;
  /** Rows that reach the Core (new data keys): the Core process's CPU per key, its round trips and keys per round trip. */
  coreCpuUsPerKey?: number; roundTripsPerSec?: number; keysPerRoundTrip?: number;
}
const results: Result[] = [];

/** Closed loop: `concurrency` workers call `op` back to back for SECONDS. */
async function load(name: string, op: () => Promise<void>, concurrency = CONCURRENCY, extra?: () => string): Promise<Result> {
  if (skipped(name)) return { name, ops: 0, perSec: NaN, p50: NaN, p99: NaN };
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await op();
      lat.push(performance.now() - s);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  const r: Result = { name, ops: lat.length, perSec: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), ...(extra ? { extra: extra() } : {}) };
  results.push(r);
  console.log(`${name.padEnd(46)} ${r.perSec.toFixed(0).padStart(9)}/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms${r.extra ? `  ${r.extra}` : ''}`);
  return r;
}

/** Same, synchronous op in a tight loop (in-process figures; latency per op from batches of 1000). */
function loop(name: string, op: () => void): Result {
  if (skipped(name)) return { name, ops: 0, perSec: NaN, p50: NaN, p99: NaN };
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const t0 = performance.now();
  // CPU time of this process too: on the shared machine it says more than the rate.
  const c0 = process.cpuUsage();
  while (performance.now() < end) {
    const s = performance.now();
    for (let i = 0; i < 1000; i++) op();
    lat.push((performance.now() - s) / 1000);
    n += 1000;
  }
  const c = process.cpuUsage(c0);
  const r: Result = { name, ops: n, perSec: n / ((performance.now() - t0) / 1000), p50: pct(lat, 50), p99: pct(lat, 99), cpuUsPerKey: (c.user + c.system) / n };
  results.push(r);
  console.log(`${name.padEnd(46)} ${r.perSec.toFixed(0).padStart(9)}/s  (mean per op ${(1000 / r.perSec).toFixed(4)} ms, CPU ${r.cpuUsPerKey!.toFixed(2)} µs per op)`);
  return r;
}

/**
 * CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat (clock ticks
 * of 10 ms). Per key it says what the gateway costs whatever else loads the machine.
 */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
/** Wraps a gateway row: adds the gateway process's CPU µs per key (entries: keys per op). */
async function withCpu(pid: number, entries: number, run: () => Promise<Result>): Promise<Result> {
  const c0 = cpuMs(pid);
  const r = await run();
  const us = ((cpuMs(pid) - c0) * 1000) / (r.ops * entries);
  r.cpuUsPerKey = us;
  console.log(`  gateway CPU ${us.toFixed(1)} µs per key`);
  return r;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function post(port: number, path: string, body: unknown): Promise<Record<string, any>> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), authorization: `Bearer ${TOKEN}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>;
        if (res.statusCode !== 200) reject(new Error(`${path} → ${res.statusCode}: ${b.error}`));
        else resolve(b);
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}
function postBin(port: number, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, authorization: `Bearer ${TOKEN}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`${path} → ${res.statusCode}: ${b.toString()}`));
        else resolve(b);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
function getStatus(port: number): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/v1/status', method: 'GET', agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>));
    }).on('error', reject).end();
  });
}

async function main(): Promise<void> {
  let s: ServedEnv | undefined;
  let gw: GatewayProc | undefined;
  let gwBefore: GatewayProc | undefined;
  let gwp: GatewayProc | undefined;
  let relay: Relay | undefined;
  const clients: KmipClient[] = [];
  try {
    s = await startServed();
    const served = s;
    const ctl = async (args: string[]) => {
      const r = await served.kmipctl([...args, '--json']);
      if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, any>;
    };
    await ctl(['tenant', 'create', 'acme']);
    await ctl(['service', 'create', 'acme', 'billing']);
    await ctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw')]);
    await ctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw-inproc'), '--cn', 'gw-inproc']);
    await ctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'app', '--out', join(s.cwd, 'app')]);
    await ctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw-part'), '--cn', 'gw-part']);
    gw = await startGatewayProc(s.cwd, ['--core', `127.0.0.1:${s.kmipPort}`, '--listen', '127.0.0.1:0', '--certs', join(s.cwd, 'gw'), '--token-file', tokenFile(s.cwd, TOKEN), ...CACHE_MAX]);
    const port = gw.port;
    const gateways: Array<{ label: string; proc: GatewayProc }> = [{ label: 'after', proc: gw }];
    if (BEFORE !== undefined) {
      await ctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw-before'), '--cn', 'gw-before']);
      gwBefore = await startGatewayProc(s.cwd, ['--core', `127.0.0.1:${s.kmipPort}`, '--listen', '127.0.0.1:0', '--certs', join(s.cwd, 'gw-before'), '--token-file', join(s.cwd, 'tokens'), ...CACHE_MAX], { program: join(BEFORE, 'scripts/dev-bin/openkcm.js') });
      gateways.unshift({ label: 'before', proc: gwBefore });
    }
    console.log(`gateway benchmark: ${SECONDS} s per row, ${CONCURRENCY} concurrent requests, node ${process.version}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}${BEFORE ? `; before = ${BEFORE}` : ''}`);

    /**
     * One gateway row on every gateway (before, then this checkout's): `op(port)` per request,
     * `entries` keys per request. (Binary rows run on both since main has binary bodies.)
     */
    const gwRow = async (name: string, entries: number, concurrency: number, op: (port: number) => Promise<void>, opts: { core?: boolean } = {}): Promise<Result> => {
      if (skipped(name)) return { name, ops: 0, perSec: NaN, p50: NaN, p99: NaN };
      const cpu: Record<string, number> = {};
      const coreCpu: Record<string, number> = {};
      let last: Result | undefined;
      for (const g of gateways) {
        // Rows that reach the Core: its CPU (the other process on the same cores) and the
        // gateway's own count of round trips and keys (GET /v1/status) around the row.
        const st0 = opts.core ? await getStatus(g.proc.port) : undefined;
        const k0 = cpuMs(served.pid);
        const t0 = performance.now();
        const r = await withCpu(g.proc.pid, entries, () => load(`${gateways.length > 1 ? `[${g.label}] ` : ''}${name}`, () => op(g.proc.port), concurrency));
        cpu[g.label] = r.cpuUsPerKey!;
        if (entries > 1) {
          r.extra = `${(r.perSec * entries).toFixed(0)} entries/s (${entries} per request, ${concurrency} concurrent); p99 per request`;
          console.log(`  ${r.extra}`);
        }
        if (st0 !== undefined) {
          const secs = (performance.now() - t0) / 1000;
          const st1 = await getStatus(g.proc.port);
          const trips = st1.coreRoundTrips - st0.coreRoundTrips;
          r.coreCpuUsPerKey = ((cpuMs(served.pid) - k0) * 1000) / (r.ops * entries);
          r.roundTripsPerSec = trips / secs;
          r.keysPerRoundTrip = (st1.coreItems - st0.coreItems) / Math.max(1, trips);
          coreCpu[g.label] = r.coreCpuUsPerKey;
          const line = `core CPU ${r.coreCpuUsPerKey.toFixed(1)} µs per key; core round trips ${r.roundTripsPerSec.toFixed(0)}/s, batch ${r.keysPerRoundTrip.toFixed(1)} keys per round trip`;
          r.extra = r.extra === undefined ? line : `${r.extra}; ${line}`;
          console.log(`  ${line}`);
        }
        last = r;
      }
      if (cpu.before !== undefined && cpu.after !== undefined) console.log(`  CPU per key before/after: gateway ${(cpu.before / cpu.after).toFixed(2)}${coreCpu.before !== undefined ? `, core ${(coreCpu.before / coreCpu.after!).toFixed(2)}` : ''}`);
      return last!;
    };
    /**
     * Per gateway: its hot key (for the cached unwraps), made through its own cache — again
     * before each group of unwrap rows, as the data-key rows between may have evicted it.
     */
    const hotOf = new Map<number, Record<string, any>>();
    const hotBin = new Map<number, Buffer>();
    const freshHot = async () => {
      for (const g of gateways) {
        const k = await post(g.proc.port, '/v1/datakey', { service: 'billing', context: 'hot' });
        hotOf.set(g.proc.port, k);
        hotBin.set(g.proc.port, Buffer.from(k.wrapped as string, 'base64'));
      }
    };

    // ---- through the gateway (HTTP/JSON, keep-alive)
    const dk = await gwRow('gateway POST /v1/datakey (batched wrap)', 1, CONCURRENCY, async (p) => { await post(p, '/v1/datakey', { service: 'billing', context: 'bench' }); }, { core: true });
    await freshHot();
    const one = hotOf.get(port)!;
    await gwRow('gateway POST /v1/datakey/unwrap (cached)', 1, CONCURRENCY, async (p) => { await post(p, '/v1/datakey/unwrap', { service: 'billing', wrapped: hotOf.get(p)!.wrapped, context: 'hot' }); });
    await gwRow(`gateway POST /v1/datakey/unwrap (cached), ${LATENCY_CONCURRENCY} concurrent`, 1, LATENCY_CONCURRENCY, async (p) => { await post(p, '/v1/datakey/unwrap', { service: 'billing', wrapped: hotOf.get(p)!.wrapped, context: 'hot' }); });
    const kib = randomBytes(1024).toString('base64');
    await gwRow('gateway POST /v1/encrypt 1 KiB', 1, CONCURRENCY, async (p) => { await post(p, '/v1/encrypt', { service: 'billing', plaintext: kib, context: 'env' }); });

    // ---- bulk forms: BULK entries per HTTP request; figures are entries per second, latency per request
    await gwRow(`gateway POST /v1/datakeys count ${BULK}`, BULK, BULK_CONCURRENCY, async (p) => { await post(p, '/v1/datakeys', { service: 'billing', count: BULK, context: 'bench' }); }, { core: true });
    const ctxBench = Buffer.from('bench');
    const dkBin = buildBinaryRequest({ service: 'billing', context: ctxBench, count: BULK, keyLength: 32 });
    await gwRow(`gateway POST /v1/datakeys count ${BULK}, binary`, BULK, BULK_CONCURRENCY, async (p) => { parseBinaryResponse(await postBin(p, '/v1/datakeys', dkBin), 2); }, { core: true });
    await freshHot();
    await gwRow(`gateway POST /v1/datakeys/unwrap ${BULK} cached`, BULK, BULK_CONCURRENCY, async (p) => {
      await post(p, '/v1/datakeys/unwrap', { service: 'billing', wrapped: Array.from({ length: BULK }, () => hotOf.get(p)!.wrapped as string), context: 'hot' });
    });
    const unBin = (p: number) => buildBinaryRequest({ service: 'billing', context: Buffer.from('hot'), count: BULK, entries: Array.from({ length: BULK }, () => hotBin.get(p)!) });
    await gwRow(`gateway POST /v1/datakeys/unwrap ${BULK} cached, binary`, BULK, BULK_CONCURRENCY, async (p) => { parseBinaryResponse(await postBin(p, '/v1/datakeys/unwrap', unBin(p)), 1); });
    const kibs = Array.from({ length: BULK }, () => kib);
    await gwRow(`gateway POST /v1/encrypt/bulk ${BULK} × 1 KiB`, BULK, BULK_CONCURRENCY, async (p) => { await post(p, '/v1/encrypt/bulk', { service: 'billing', plaintexts: kibs, context: 'env' }); });
    const kibBuf = Buffer.from(kib, 'base64');
    const encBin = buildBinaryRequest({ service: 'billing', context: Buffer.from('env'), count: BULK, entries: Array.from({ length: BULK }, () => kibBuf) });
    await gwRow(`gateway POST /v1/encrypt/bulk ${BULK} × 1 KiB, binary`, BULK, BULK_CONCURRENCY, async (p) => { parseBinaryResponse(await postBin(p, '/v1/encrypt/bulk', encBin), 1); });

    // ---- straight to the Core over KMIP, one operation per request
    const files = (d: string, name: string) => ({ ca: readFileSync(join(d, 'openkcm-ca.crt')), cert: readFileSync(join(d, `${name}.crt`)), key: readFileSync(join(d, `${name}.key`)) });
    const appFiles = files(join(s.cwd, 'app'), 'acme.billing');
    for (let i = 0; i < 4; i++) clients.push(await KmipClient.connect({ host: '127.0.0.1', port: s.kmipPort, ...appFiles, timeoutMs: 60_000 }));
    let rr = 0;
    const next = () => clients[rr++ % clients.length]!;
    const createAes = [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256),
        integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      ]),
    ];
    const created = await clients[0]!.request(Operation.Create, createAes);
    const uid = (created.value.find((c) => c.tag === Tag.UniqueIdentifier)!.value as string);
    await clients[0]!.request(Operation.Activate, [textString(Tag.UniqueIdentifier, uid)]);
    const coreCreate = await load('core KMIP Create AES-256 (one per request)', async () => { await next().request(Operation.Create, createAes); });
    const coreEnc = await load('core KMIP Encrypt 32 B AES-GCM (one per request)', async () => {
      await next().request(Operation.Encrypt, [
        textString(Tag.UniqueIdentifier, uid),
        structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM)]),
        byteString(Tag.Data, randomBytes(32)),
      ]);
    });
    const coreEnc1k = await load('core KMIP Encrypt 1 KiB AES-GCM (one per request)', async () => {
      await next().request(Operation.Encrypt, [
        textString(Tag.UniqueIdentifier, uid),
        structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM)]),
        byteString(Tag.Data, Buffer.from(kib, 'base64')),
      ]);
    });
    if (ONLY === undefined) {
      console.log(`ratio gateway datakey / core Create: ${(dk.perSec / coreCreate.perSec).toFixed(2)}; / core Encrypt 32 B: ${(dk.perSec / coreEnc.perSec).toFixed(2)}`);
      const env = results.filter((r) => r.name.includes('gateway POST /v1/encrypt 1 KiB')).at(-1)!;
      console.log(`ratio gateway encrypt 1 KiB / core Encrypt 1 KiB: ${(env.perSec / coreEnc1k.perSec).toFixed(2)}`);
    }

    // ---- the gateway's own work without HTTP (this process as the gateway)
    const gwFiles = files(join(s.cwd, 'gw-inproc'), 'acme.billing');
    const key = randomBytes(32);
    const ctxb = Buffer.from('bench');
    // The Core-side lever alone: the same wraps as one item each (256 items per message) and as
    // bulk-wrap items (up to 1024 keys of one service and context per item); then a data-key
    // request's BULK keys as the gateway sends them: one wrapMany job (this checkout) against
    // BULK wrap jobs joined by Promise.all (--before's link, as its makeDataKeys did). CPU per
    // key of this process (the link's own work, no HTTP) and of the Core.
    type LinkClass = typeof CoreLink;
    const OldLink: LinkClass | undefined = BEFORE === undefined ? undefined
      : ((await import(join(BEFORE, 'src/gateway/core-link.ts'))) as { CoreLink: LinkClass }).CoreLink;
    const keys = Array.from({ length: BULK }, () => randomBytes(32));
    const variants: Array<{ name: string; Link: LinkClass; perItem: number; keysPerOp: number; concurrency: number; op(l: CoreLink): Promise<unknown> }> = [
      { name: 'in-process wrap via CoreLink, one item per key', Link: CoreLink, perItem: 1, keysPerOp: 1, concurrency: 2048, op: (l) => l.wrap('billing', ctxb, key) },
      { name: 'in-process wrap via CoreLink, bulk items', Link: CoreLink, perItem: 1024, keysPerOp: 1, concurrency: 2048, op: (l) => l.wrap('billing', ctxb, key) },
      ...(OldLink === undefined ? [] : [{ name: `[before] in-process ${BULK} keys per call, a job per key`, Link: OldLink, perItem: 1024, keysPerOp: BULK, concurrency: BULK_CONCURRENCY, op: (l: CoreLink) => Promise.all(keys.map((k) => l.wrap('billing', ctxb, k))) }]),
      { name: `in-process ${BULK} keys per call, wrapMany (one job)`, Link: CoreLink, perItem: 1024, keysPerOp: BULK, concurrency: BULK_CONCURRENCY, op: (l) => l.wrapMany('billing', ctxb, keys) },
    ];
    for (const v of variants) {
      if (skipped(v.name)) continue;
      const link = new v.Link({
        client: { host: '127.0.0.1', port: s.kmipPort, ...gwFiles }, tenant: 'acme', poolSize: 2, maxBatchItems: 256, maxKeysPerItem: v.perItem, flushDelayMs: 1,
        probeIntervalMs: 200, requestTimeoutMs: 60_000, onRefused: () => undefined,
      });
      link.start();
      await link.wrap('billing', ctxb, key);
      const t0 = link.roundTrips;
      const i0 = link.itemsSent;
      const c0 = process.cpuUsage();
      const k0 = cpuMs(s.pid);
      const wraps = await load(v.name, async () => { await v.op(link); }, v.concurrency);
      const c = process.cpuUsage(c0);
      const n = wraps.ops * v.keysPerOp;
      const trips = link.roundTrips - t0;
      wraps.cpuUsPerKey = (c.user + c.system) / n;
      wraps.coreCpuUsPerKey = ((cpuMs(s.pid) - k0) * 1000) / n;
      wraps.extra = `${(wraps.perSec * v.keysPerOp).toFixed(0)} keys/s; core round trips ${(trips / SECONDS).toFixed(0)}/s, ${((link.itemsSent - i0) / Math.max(1, trips)).toFixed(0)} keys per round trip; CPU per key: link ${wraps.cpuUsPerKey.toFixed(2)} µs, core ${wraps.coreCpuUsPerKey.toFixed(2)} µs`;
      console.log(`  ${wraps.extra}`);
      await link.close();
    }
    const cache = new L4Cache({ maxEntries: 100_000, ttlMs: 60_000 });
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, randomBytes(32));
    let j = 0;
    loop('in-process cache hit (copy out, zeroize copy)', () => { const k = cache.get(`k${j++ % 1000}`)!; k.fill(0); });
    const l4 = randomBytes(32);
    const wrapped = Buffer.concat([Buffer.of(2, 0, 0, 0, 1), randomBytes(60)]);
    const p1k = randomBytes(1024);
    if (BEFORE !== undefined) {
      const old = (await import(join(BEFORE, 'src/gateway/envelope.ts'))) as typeof import('../src/gateway/envelope.ts');
      loop('[before] in-process envelope seal 1 KiB', () => { old.sealEnvelope(l4, wrapped, ctxb, p1k); });
    }
    loop('in-process envelope seal 1 KiB, one-shot sealEnvelope', () => { sealEnvelope(l4, wrapped, ctxb, p1k); });
    const sealer = new EnvelopeSealer(l4, wrapped, ctxb);
    loop('in-process envelope seal 1 KiB, EnvelopeSealer (the gateway\'s)', () => { sealer.seal(p1k); });

    if (NO_KILL) return;
    // ---- kill-switch reach: seal at the Core → first refused request at the gateway
    const reach: number[] = [];
    const reachFromStart: number[] = [];
    for (let r = 0; r < 5; r++) {
      const stop = { v: false };
      let refusedAt = 0;
      const poll = (async () => {
        while (!stop.v) {
          try { await post(port, '/v1/datakey/unwrap', { service: 'billing', wrapped: one.wrapped, context: 'hot' }); } catch { refusedAt = performance.now(); return; }
        }
      })();
      const t = performance.now();
      await ctl(['tenant', 'seal', 'acme']);
      const answered = performance.now();
      await poll;
      stop.v = true;
      reach.push(refusedAt - answered);
      reachFromStart.push(refusedAt - t);
      await ctl(['tenant', 'unseal', 'acme']);
      for (;;) { try { await post(port, '/v1/datakey', { service: 'billing' }); break; } catch { await new Promise((res) => setTimeout(res, 50)); } }
      await post(port, '/v1/datakey/unwrap', { service: 'billing', wrapped: one.wrapped, context: 'hot' });
    }
    // From the kmipctl answer (negative: the gateway refused before kmipctl had printed) and,
    // an upper bound, from the start of the kmipctl process (includes starting Node).
    console.log(`kill-switch reach, seal answered → first refusal at the gateway, 5 rounds: ${reach.map((x) => x.toFixed(0)).join(', ')} ms (max ${Math.max(...reach).toFixed(0)} ms)`);
    console.log(`  upper bound from kmipctl start: ${reachFromStart.map((x) => x.toFixed(0)).join(', ')} ms (max ${Math.max(...reachFromStart).toFixed(0)} ms)`);

    // ---- partition: a gateway (cache TTL 3 s) behind a relay that the bench cuts
    const certs = join(s.cwd, 'certs');
    const part = join(s.cwd, 'gw-part');
    relay = await startRelay({
      corePort: s.kmipPort, serverCert: join(certs, 'server.crt'), serverKey: join(certs, 'server.key'), ca: join(part, 'openkcm-ca.crt'),
      clientCert: join(part, 'acme.billing.crt'), clientKey: join(part, 'acme.billing.key'),
    });
    gwp = await startGatewayProc(s.cwd, ['--core', `127.0.0.1:${relay.port}`, '--listen', '127.0.0.1:0', '--certs', part, '--token-file', join(s.cwd, 'tokens'), '--cache-ttl', '3000']);
    const pport = gwp.port;
    const pk = await post(pport, '/v1/datakey', { service: 'billing', context: 'part' });
    const made = performance.now();
    relay.cut();
    const cutAt = performance.now();
    let lastServed = cutAt;
    for (;;) {
      try {
        await post(pport, '/v1/datakey/unwrap', { service: 'billing', wrapped: pk.wrapped, context: 'part' });
        lastServed = performance.now();
      } catch { break; }
    }
    const refused = performance.now();
    console.log(`partition, cache TTL 3000 ms: cached key served until ${(lastServed - made).toFixed(0)} ms after it was made, refused from ${(refused - made).toFixed(0)} ms (cut at ${(cutAt - made).toFixed(0)} ms)`);
  } finally {
    for (const c of clients) await c.close();
    agent.destroy();
    await gw?.stop();
    await gwBefore?.stop();
    await gwp?.stop();
    await relay?.close();
    await s?.stop();
  }
}

await main();
