// `npm run bench:hotpath` (issue 12 §1–2): the server's own CPU per request, without TLS, the
// load generator or the scheduler in the figure. The same KMIP 1.4 request bytes as
// bench:ceiling (Encrypt AES-256-GCM of 64 B with a server-chosen IV, Get of a 32-byte key,
// durable Create) go through `engine.handleBytes` of a real runtime — on-disk SQLite (WAL),
// audit group-committed, the development certificate registered as admin so identity
// mapping and access control run, logs at info to a file through pino's asynchronous
// destination — from N concurrent callers (as N connections would), and every answer is
// checked. The figure is CPU time of the whole process (process.cpuUsage: the main thread,
// the flushes on libuv's pool, GC) per request, and requests per CPU-second.
//
// On a machine shared with other work, req/s says how much CPU the process was given;
// CPU per request says what the server spends, and moves far less with the load. With
// `--before DIR` the same measurement runs from another checkout's sources in alternation
// with this one (rounds A B A B …), so a lever is measured before/after side by side.
//
// With `--metrics`, this checkout runs twice in alternation, without and with the Prometheus
// metrics (openRuntime({ metrics }): the request counters and latency cells of
// src/server/metrics.ts on the path of every item), which is what metrics cost a request.
//
// With `--paired` (and --before or --metrics), each round is one process holding every
// checkout's runtime, measured in alternating slices of --slice-ms: the fairest A/B this
// machine allows, as both see the same load within a second (separate processes minutes
// apart were seen to differ by 2× at load 10–20).
//
//   npm run bench:hotpath [-- --seconds 3] [-- --rounds 3] [-- --concurrency 16] [-- --paired] [-- --slice-ms 500]
//                         [-- --workloads encrypt,get,create] [-- --before DIR] [-- --metrics] [-- --log-level info] [-- --cpu-prof DIR]
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineNotes, loadTriple } from './lib/machine.ts';
import { markdownTable } from './lib/matrix.ts';
import { parseFlags, positiveNumber, positiveIntegers, OptionError, usage, type FlagSpec } from './lib/options.ts';

const SELF = fileURLToPath(import.meta.url);
const HERE_ROOT = resolve(SELF, '../..');
const WORKLOADS = ['encrypt', 'get', 'create'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

const FLAGS: FlagSpec[] = [
  { flag: '--seconds', value: true, help: 'measured seconds per workload and round (default 3)' },
  { flag: '--rounds', value: true, help: 'rounds per checkout, alternating with --before (default 3; the median is printed)' },
  { flag: '--concurrency', value: true, help: 'concurrent callers, as connections (default 16)' },
  { flag: '--workloads', value: true, help: `comma-separated subset of ${WORKLOADS.join(',')} (default all)` },
  { flag: '--before', value: true, help: 'also measure the sources of this other checkout, in alternation' },
  { flag: '--paired', value: false, help: 'with --before/--metrics: every checkout in one process per round, measured in alternating slices (the same machine load for both)' },
  { flag: '--slice-ms', value: true, help: 'slice length of --paired in ms (default 500)' },
  { flag: '--metrics', value: false, help: 'also measure this checkout with Prometheus metrics on, in alternation' },
  { flag: '--log-level', value: true, help: 'log level of the runtime (default info, to a file)' },
  { flag: '--cpu-prof', value: true, help: 'write a V8 CPU profile of each measured window (main thread) into this directory' },
  { flag: '--help', value: false, help: 'this text' },
];

interface ChildArgs { root: string; workload: WorkloadName; seconds: number; concurrency: number; logLevel: string; dir: string; metrics?: boolean; profile?: string }
interface PairedArgs { checkouts: Array<{ root: string; metrics?: boolean }>; workload: WorkloadName; seconds: number; sliceMs: number; concurrency: number; logLevel: string; dir: string }
interface ChildResult { ops: number; cpuUs: number; /** of which system time (kernel: system calls, the disk flushes) */ sysUs?: number; wallMs: number; errors: number; error?: string; counted?: number }

// ---------------------------------------------------------------------------
// The measuring child: imports the runtime from `root` (this checkout or --before).

/** One checkout's runtime in this process, ready to answer the workload's request. */
interface Target {
  /** One request: sends the bytes, checks the answer. */
  exchange(): Promise<void>;
  /** Requests the metrics counted (with --metrics), to show they were on. */
  counted(): Promise<number | undefined>;
  close(): Promise<void>;
}

async function openTarget(a: { root: string; workload: WorkloadName; logLevel: string; dir: string; metrics?: boolean }): Promise<Target> {
  const src = (p: string) => import(join(a.root, 'src', p));
  const { createLogger } = await src('log/index.ts') as typeof import('../src/log/index.ts');
  const { openRuntime } = await src('server/runtime.ts') as typeof import('../src/server/runtime.ts');
  const { ensureDevPki } = await src('server/devpki.ts') as typeof import('../src/server/devpki.ts');
  const { encode } = await src('ttlv/encode.ts') as typeof import('../src/ttlv/encode.ts');
  const { decode } = await src('ttlv/decode.ts') as typeof import('../src/ttlv/decode.ts');
  const { buildRequestMessage, parseResponseMessage } = await src('kmip/message.ts') as typeof import('../src/kmip/message.ts');
  const { Operation, ResultStatus } = await src('ttlv/generated/enumerations.ts') as typeof import('../src/ttlv/generated/enumerations.ts');
  const { Tag } = await src('ttlv/generated/tags.ts') as typeof import('../src/ttlv/generated/tags.ts');
  const { structure } = await src('kmip/items.ts') as typeof import('../src/kmip/items.ts');
  const kmip = await import('./lib/kmip.ts');
  const { pino } = await import('pino');

  const { files: pki } = await ensureDevPki(join(a.dir, 'pki'), { algorithm: 'ec-p256' });
  const destination = a.logLevel !== 'silent' ? pino.destination({ dest: join(a.dir, 'openkcm.log'), sync: false, mkdir: true }) : undefined;
  const logger = createLogger({ level: a.logLevel as 'info', ...(destination ? { destination } : {}) });
  mkdirSync(join(a.dir, 'data'), { recursive: true });
  const metrics = a.metrics === true ? new (await src('server/metrics.ts') as typeof import('../src/server/metrics.ts')).OpenKcmMetrics({ component: 'serve' }) : undefined;
  const runtime = await openRuntime({ dataDir: join(a.dir, 'data'), logger, bootstrapClientCertFile: pki.clientCert, ...(metrics ? { metrics } : {}) });
  // The identity a TLS connection of the development client certificate would carry.
  const cert = new X509Certificate(readFileSync(pki.clientCert));
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).map((s) => s.trim()).filter(Boolean);
  const identity = runtime.engine.identify({
    subject: cert.subject.split('\n').reverse().join(', '), sans, fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    tenant: 'default', service: 'default', serial: cert.serialNumber,
  });
  const connLog = logger.child({ identity });
  const v = { major: 1, minor: 4 };
  const bytesOf = (operation: number, payload: ReturnType<typeof structure>) => encode(buildRequestMessage({ protocolVersion: v }, [{ operation, payload }]));
  const send = async (bytes: Buffer) => {
    const resp = parseResponseMessage(decode(await runtime.engine.handleBytes(bytes, identity, connLog)));
    const item = resp.batchItems[0];
    if (item?.resultStatus !== ResultStatus.Success) throw new Error(`operation failed: ${item?.resultReason} ${item?.resultMessage ?? ''}`);
    return item.payload ?? structure(Tag.ResponsePayload, []);
  };

  let bytes: Buffer;
  let check: (p: ReturnType<typeof structure>) => void;
  const createBytes = bytesOf(Operation.Create, kmip.createSymmetricKeyPayload(v, 256, kmip.AES256_ENCRYPT_DECRYPT));
  if (a.workload === 'create') {
    bytes = createBytes;
    check = (p) => { kmip.uniqueIdentifierOf(p, 'Create'); };
  } else {
    const uid = kmip.uniqueIdentifierOf(await send(createBytes), 'Create');
    if (a.workload === 'get') {
      bytes = bytesOf(Operation.Get, kmip.uidPayload(uid));
      const material = kmip.keyMaterialOf(await send(bytes));
      check = (p) => { if (!kmip.keyMaterialOf(p).equals(material)) throw new Error('Get: key material differs from the first answer'); };
    } else {
      await send(bytesOf(Operation.Activate, kmip.uidPayload(uid)));
      bytes = bytesOf(Operation.Encrypt, kmip.encryptPayload(uid, randomBytes(64), kmip.AES_GCM));
      check = (p) => {
        const r = kmip.readEncryptResponse(p);
        if (r.data.length !== 64 || r.tag?.length !== 16 || r.iv === undefined) throw new Error('Encrypt: unexpected answer');
      };
    }
  }
  return {
    exchange: async () => { check(await send(bytes)); },
    async counted() {
      if (metrics === undefined) return undefined;
      let n = 0;
      for (const m of (await metrics.text()).matchAll(/^openkcm_kmip_requests_total\{[^}]*result="Success"[^}]*\} (\d+)$/gm)) n += Number(m[1]);
      return n;
    },
    async close() {
      await runtime.close();
      destination?.flushSync();
    },
  };
}

/**
 * `concurrency` callers of one target, each request in a turn of its own (as one read from
 * a socket is): the engine may answer within microtasks, which would otherwise starve the
 * timers (and the audit flush). While paused, callers finish what they sent and wait.
 */
class Callers {
  ops = 0;
  errors = 0;
  firstError: string | undefined;
  private running = false;
  private inFlight = 0;
  private stopped = false;
  private wake: Array<() => void> = [];
  private drained: (() => void) | undefined;
  private readonly loops: Promise<void>[];
  constructor(private readonly target: Target, concurrency: number) {
    this.loops = Array.from({ length: concurrency }, () => this.loop());
  }
  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (!this.running) { await new Promise<void>((r) => this.wake.push(r)); continue; }
      await new Promise<void>((r) => setImmediate(r));
      if (!this.running) continue;
      this.inFlight++;
      try {
        await this.target.exchange();
        this.ops++;
      } catch (e) {
        this.errors++;
        this.firstError ??= (e as Error).message;
      }
      if (--this.inFlight === 0 && !this.running) this.drained?.();
    }
  }
  resume(): void {
    this.running = true;
    for (const w of this.wake.splice(0)) w();
  }
  /** Stops sending; resolves once every request sent has been answered. */
  pause(): Promise<void> {
    this.running = false;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((r) => { this.drained = () => { this.drained = undefined; r(); }; });
  }
  async stop(): Promise<void> {
    await this.pause();
    this.stopped = true;
    for (const w of this.wake.splice(0)) w();
    await Promise.all(this.loops);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function child(a: ChildArgs): Promise<ChildResult> {
  const target = await openTarget(a);
  const callers = new Callers(target, a.concurrency);
  callers.resume();
  await sleep(1000); // warm-up: JIT, caches, the first group commits
  // The profile covers the measured window only: start-up (module loading, the database's
  // migrations) and the warm-up would otherwise be a large share of it.
  const profiler = a.profile !== undefined ? await startProfiler() : undefined;
  const ops0 = callers.ops;
  const errors0 = callers.errors;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(a.seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  const ops = callers.ops - ops0;
  const errors = callers.errors - errors0;
  if (profiler !== undefined) await profiler.stopInto(a.profile!);
  await callers.stop();
  const counted = await target.counted();
  await target.close();
  return {
    ops, cpuUs: cpu.user + cpu.system, sysUs: cpu.system, wallMs, errors,
    ...(callers.firstError !== undefined ? { error: callers.firstError } : {}), ...(counted !== undefined ? { counted } : {}),
  };
}

/**
 * --paired: every checkout's runtime in this one process, measured in alternating slices
 * (A B B A A B …), one at a time: a checkout's callers run for a slice and are then paused
 * until every request they sent is answered, so each slice counts whole requests and the CPU
 * they took, and both checkouts see the same load of the machine within a second. A
 * checkout's background work (its audit group commit of the last records) may fall into the
 * next slice: a few ms against slices of hundreds.
 */
async function pairedChild(a: PairedArgs): Promise<ChildResult[]> {
  const targets: Target[] = [];
  for (const [i, c] of a.checkouts.entries()) {
    targets.push(await openTarget({ root: c.root, workload: a.workload, logLevel: a.logLevel, dir: join(a.dir, String(i)), ...(c.metrics ? { metrics: true } : {}) }));
  }
  const callers = targets.map((t) => new Callers(t, a.concurrency));
  const results: ChildResult[] = callers.map(() => ({ ops: 0, cpuUs: 0, wallMs: 0, errors: 0 }));
  for (const c of callers) { c.resume(); await sleep(1000); await c.pause(); } // warm-up, each
  const slices = Math.max(1, Math.round((a.seconds * 1000) / a.sliceMs));
  for (let k = 0; k < slices; k++) {
    const order = k % 2 === 0 ? callers.map((_, i) => i) : callers.map((_, i) => i).reverse();
    for (const i of order) {
      const c = callers[i]!;
      const ops0 = c.ops;
      const errors0 = c.errors;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      c.resume();
      await sleep(a.sliceMs);
      await c.pause();
      const cpu = process.cpuUsage(cpu0);
      const r = results[i]!;
      r.ops += c.ops - ops0;
      r.errors += c.errors - errors0;
      r.cpuUs += cpu.user + cpu.system;
      r.sysUs = (r.sysUs ?? 0) + cpu.system;
      r.wallMs += performance.now() - t0;
    }
  }
  for (const [i, c] of callers.entries()) {
    await c.stop();
    if (c.firstError !== undefined) results[i]!.error = c.firstError;
    const counted = await targets[i]!.counted();
    if (counted !== undefined) results[i]!.counted = counted;
    await targets[i]!.close();
  }
  return results;
}

/** A V8 CPU profile of this thread from now until stopInto(file). */
async function startProfiler(): Promise<{ stopInto(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stopInto(file) {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(resolve(file, '..'), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

// ---------------------------------------------------------------------------
// The parent: alternates checkouts and workloads, prints medians.

function runChild(a: ChildArgs): ChildResult {
  return runNode<ChildResult>(['--child', JSON.stringify(a)], a.seconds);
}

function runPaired(a: PairedArgs): ChildResult[] {
  return runNode<ChildResult[]>(['--paired-child', JSON.stringify(a)], a.seconds * a.checkouts.length);
}

function runNode<T>(args: string[], seconds: number): T {
  const out = execFileSync(process.execPath, [
    '--import', 'tsx', SELF, ...args,
  ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: (seconds * 2 + 180) * 1000 });
  const line = out.trim().split('\n').pop()!;
  return JSON.parse(line) as T;
}

const median = (xs: number[]) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<number> {
  let f: Map<string, string>;
  let seconds: number, rounds: number, concurrency: number, sliceMs: number, chosen: WorkloadName[];
  try {
    f = parseFlags(process.argv.slice(2), FLAGS);
    if (f.has('--help')) { console.log(usage('npm run bench:hotpath -- [options]', FLAGS)); return 0; }
    seconds = positiveNumber(f.get('--seconds'), '--seconds', 3);
    rounds = positiveIntegers(f.get('--rounds'), '--rounds', [3])[0]!;
    concurrency = positiveIntegers(f.get('--concurrency'), '--concurrency', [16])[0]!;
    sliceMs = positiveNumber(f.get('--slice-ms'), '--slice-ms', 500);
    if (f.has('--paired') && f.has('--cpu-prof')) throw new OptionError('--cpu-prof profiles one checkout per process; leave out --paired');
    const w = (f.get('--workloads') ?? WORKLOADS.join(',')).split(',').map((s) => s.trim());
    for (const x of w) if (!(WORKLOADS as readonly string[]).includes(x)) throw new OptionError(`--workloads: unknown workload "${x}" (${WORKLOADS.join(', ')})`);
    chosen = w as WorkloadName[];
  } catch (e) {
    console.error(`bench:hotpath: ${(e as Error).message}`);
    return 2;
  }
  const logLevel = f.get('--log-level') ?? 'info';
  const checkouts: Array<{ name: string; root: string; metrics?: boolean }> = [{ name: 'this checkout', root: HERE_ROOT }];
  if (f.has('--before')) checkouts.push({ name: 'before', root: resolve(f.get('--before')!) });
  if (f.has('--metrics')) checkouts.push({ name: 'with metrics', root: HERE_ROOT, metrics: true });
  const tmp = mkdtempSync(join(tmpdir(), 'openkcm-bench-hotpath-'));
  const loadAtStart = loadTriple();
  const started = new Date();
  const results = new Map<string, ChildResult[]>();
  try {
    for (let r = 0; r < rounds; r++) {
      for (const w of chosen) {
        const report = (c: { name: string }, res: ChildResult) => {
          const key = `${w}|${c.name}`;
          results.set(key, [...(results.get(key) ?? []), res]);
          console.error(`[bench:hotpath] round ${r + 1} ${w} ${c.name}: ${fmt(res.ops / (res.wallMs / 1000))} req/s, ${fmt(res.cpuUs / res.ops, 1)} µs CPU/req${res.sysUs !== undefined ? ` (${Math.round((res.sysUs / res.cpuUs) * 100)} % system)` : ''}${res.errors ? `, ${res.errors} errors (${res.error})` : ''}${res.counted !== undefined ? `, ${fmt(res.counted)} requests counted by the metrics` : ''}`);
        };
        if (f.has('--paired')) {
          const dir = join(tmp, `paired-${w}-${r}`);
          const res = runPaired({ checkouts: checkouts.map((c) => ({ root: c.root, ...(c.metrics ? { metrics: true } : {}) })), workload: w, seconds, sliceMs, concurrency, logLevel, dir });
          rmSync(dir, { recursive: true, force: true });
          checkouts.forEach((c, i) => report(c, res[i]!));
          continue;
        }
        // Alternate which checkout goes first, so a drift of the machine's load hits both.
        const order = r % 2 === 0 ? checkouts : [...checkouts].reverse();
        for (const c of order) {
          const dir = join(tmp, `${c.name.replace(/\W/g, '_')}-${w}-${r}`);
          const profile = f.has('--cpu-prof') ? join(resolve(f.get('--cpu-prof')!), `${c.name.replace(/\W/g, '_')}-${w}-${r + 1}.cpuprofile`) : undefined;
          const res = runChild({ root: c.root, workload: w, seconds, concurrency, logLevel, dir, ...(c.metrics ? { metrics: true } : {}), ...(profile ? { profile } : {}) });
          rmSync(dir, { recursive: true, force: true });
          report(c, res);
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const rows: string[][] = [];
  let failed = false;
  for (const w of chosen) {
    const base = results.get(`${w}|this checkout`)!;
    const cpuHere = median(base.map((x) => x.cpuUs / x.ops));
    for (const c of checkouts) {
      const rs = results.get(`${w}|${c.name}`)!;
      if (rs.some((x) => x.errors > 0 || x.ops === 0 || (c.metrics === true && (x.counted ?? 0) < x.ops))) failed = true;
      const cpu = median(rs.map((x) => x.cpuUs / x.ops));
      rows.push([w, c.name, fmt(median(rs.map((x) => x.ops / (x.wallMs / 1000)))), fmt(cpu, 1), fmt(1e6 / cpu),
        rs.map((x) => fmt(x.cpuUs / x.ops, 0)).join(' / '), c.name === 'this checkout' ? '1' : `${(cpuHere / cpu).toFixed(2)}×`]);
    }
  }
  console.log(`\n## bench:hotpath — the server's CPU per request in process (engine.handleBytes, ${concurrency} concurrent callers)\n`);
  console.log(markdownTable(['workload', 'code', 'req/s (median)', 'CPU µs/req (median)', 'req per CPU-second', 'CPU µs/req per round', 'CPU/req ÷ before'], rows));
  console.log('');
  for (const n of [
    `${rounds} round(s) of ${seconds} s (+1 s warm-up) per workload and checkout, ${f.has('--paired') ? `all checkouts in one process per round, alternating in slices of ${sliceMs} ms (each slice drained: whole requests only)` : 'alternating'}; on-disk SQLite (WAL), audit group-committed, log ${logLevel} to a file (async); KMIP 1.4 requests encoded once, answers decoded and checked (the decode of the answer is in the figure)`,
    ...machineNotes(loadAtStart, { run: started.toISOString() }),
  ]) console.log(`- ${n}`);
  return failed ? 1 : 0;
}

/** A measuring child: runs, prints its result as the last line of stdout, exits. */
async function childMain<A extends { workload: string }>(what: string, run: (a: A) => Promise<unknown>): Promise<never> {
  const a = JSON.parse(process.argv[3]!) as A;
  try {
    process.stdout.write(`${JSON.stringify(await run(a))}\n`);
    process.exit(0);
  } catch (e) {
    console.error(`bench:hotpath ${what} (${a.workload}): ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  }
}

if (process.argv[2] === '--paired-child') {
  await childMain<PairedArgs>('paired child', pairedChild);
} else if (process.argv[2] === '--child') {
  await childMain<ChildArgs>('child', child);
} else {
  process.exitCode = await main();
}
