// `npm run bench:ceiling` (issue 12 §1): OpenKCM against the ceiling of this machine — a bare
// Node TLS loop that only frames requests and AES-256-GCM-encrypts 64 bytes (bench/lib/
// bare-loop.ts) — and against PyKMIP's server, in one run, with the same client, the same
// TLS settings and the same pre-encoded requests, printed as ratios:
//
//   - Encrypt AES-256-GCM of 64 B with a server-chosen IV, Get of a 32-byte key, Create of an
//     AES-256 key (durable: OpenKCM on-disk SQLite, WAL, acknowledged ⇒ on disk);
//   - 1 and 16 connections, one request in flight per connection (closed loop);
//   - then each server at half of its own 16-connection rate (paced), for p50/p99 below
//     saturation.
//
//   npm run bench:ceiling [-- --seconds 5] [-- --connections 1,16] [-- --workloads encrypt,get,create]
//                         [-- --no-pykmip] [-- --no-half] [-- --log-level info] [-- --json FILE] [-- --cpu-prof DIR]
//                         [-- --workers 1,2]   (+ `openkcm serve --workers N`, node:cluster, for each N)
//
// Requests are KMIP 1.4 by default (PyKMIP 0.10 speaks 1.0–2.0; Tag Length and the
// Authenticated Encryption Tag of GCM exist since 1.4), encoded once per workload and sent as
// bytes, so the load generator — which shares the machine's cores with the servers — spends
// its time reading answers, not building requests. Every answer is decoded and checked.
import { createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decode } from '../src/ttlv/decode.ts';
import { encode } from '../src/ttlv/encode.ts';
import { Operation, ResultStatus } from '../src/ttlv/generated/enumerations.ts';
import { Tag } from '../src/ttlv/generated/tags.ts';
import { structure, type Struct } from '../src/kmip/items.ts';
import { buildRequestMessage, parseResponseMessage } from '../src/kmip/message.ts';
import type { ProtocolVersion } from '../src/kmip/version.ts';
import type { KmipClient } from '../src/client/index.ts';
import { ensureDevPki } from '../src/server/devpki.ts';
import { LOG_LEVELS, type LogLevel } from '../src/log/index.ts';
import {
  AES_CBC_PKCS5, AES_GCM, AES256_ENCRYPT_DECRYPT, connectMany, closeAll, createKey, createSymmetricKeyPayload, encryptPayload,
  keyMaterialOf, parseVersion, readEncryptResponse, uidPayload, uniqueIdentifierOf, type SymmetricCipher,
} from './lib/kmip.ts';
import { runMatrix, renderTable, resultsJson, fmtRate, fmtRatio, fmtUs, label, markdownTable, type CellResult, type CellSpec, type Workload } from './lib/matrix.ts';
import { runPaced, type PacedResult } from './lib/paced.ts';
import { cpuSecondsTree } from './lib/proc.ts';
import { startOpenKcm, startOpenKcmServe, type ServerHandle } from './lib/openkcm-server.ts';
import { startBareLoop } from './lib/bare-loop.ts';
import { startPyKmip, pykmipVersion } from './lib/pykmip.ts';
import { machineNotes, loadTriple } from './lib/machine.ts';
import {
  parseFlags, positiveNumber, nonNegativeNumber, positiveIntegers, oneOf, usage, OptionError, type FlagSpec,
} from './lib/options.ts';

const BARE = 'bare loop';
const OPENKCM = 'OpenKCM';
const BEFORE = 'OpenKCM (before)';
const PYKMIP = 'PyKMIP';
const WORKLOADS = ['encrypt', 'get', 'create'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

const FLAGS: FlagSpec[] = [
  { flag: '--seconds', env: 'BENCH_SECONDS', value: true, help: 'measured seconds per cell and server (default 5)' },
  { flag: '--warmup', env: 'BENCH_WARMUP', value: true, help: 'unmeasured seconds before each cell (default 1)' },
  { flag: '--connections', env: 'BENCH_CONNECTIONS', value: true, help: 'connection counts, comma-separated (default 1,16); the largest is the saturating one' },
  { flag: '--workloads', value: true, help: `comma-separated subset of ${WORKLOADS.join(',')} (default all)` },
  { flag: '--version', env: 'BENCH_KMIP_VERSION', value: true, help: 'KMIP protocol version of the requests, 1.4 or later (default 1.4)' },
  { flag: '--no-pykmip', value: false, help: 'bare loop and OpenKCM only' },
  { flag: '--no-half', value: false, help: 'skip the runs at half the saturating load' },
  { flag: '--log-level', env: 'BENCH_LOG_LEVEL', value: true, help: 'OpenKCM log level (default info, to a file as `openkcm serve` would write it)' },
  { flag: '--before', value: true, help: 'also run OpenKCM from this other checkout (e.g. a worktree of the previous commit) as "OpenKCM (before)": a lever measured before/after in one run' },
  { flag: '--workers', value: true, help: 'also run `openkcm serve --workers N` for each N of this list (e.g. 1,2), as "OpenKCM serve ×N": the scaling over workers, with the load generator on the same cores' },
  { flag: '--json', value: true, help: 'also write the results as JSON to this file' },
  { flag: '--cpu-prof', value: true, help: 'write a V8 CPU profile of the OpenKCM server into this directory' },
  { flag: '--keep', value: false, help: 'keep the temporary directory (databases, logs, PKI)' },
  { flag: '--help', value: false, help: 'this text' },
];

/** Targets of issue 12 §1, OpenKCM ÷ bare loop at 1 and 16 connections. */
const RATIO_TARGET: Partial<Record<string, Record<number, number>>> = {
  'Encrypt AES-256-GCM 64 B': { 1: 0.75, 16: 0.6 },
  'Get AES-256 (32 B)': { 1: 0.75, 16: 0.6 },
};
const CREATE_TARGET_PER_SECOND = 5000;
const HALF_LOAD_P99_TARGET_US = 1000;

interface Ctx { bytes: Buffer; check(payload: Struct): void; note?: string }

/** Sends pre-encoded request bytes; resolves to the Response Payload of a successful answer. */
async function exchange(client: KmipClient, bytes: Buffer): Promise<Struct> {
  const resp = parseResponseMessage(decode(await client.sendBytes(bytes)));
  const item = resp.batchItems[0];
  if (item === undefined) throw new Error('the response holds no batch item');
  if (item.resultStatus !== ResultStatus.Success) throw new Error(`operation failed: reason ${item.resultReason}: ${item.resultMessage ?? ''}`);
  return item.payload ?? structure(Tag.ResponsePayload, []);
}

const requestBytes = (v: ProtocolVersion, operation: number, payload: Struct): Buffer =>
  encode(buildRequestMessage({ protocolVersion: v }, [{ operation, payload }]));

function decryptLocally(key: Buffer, c: SymmetricCipher, r: ReturnType<typeof readEncryptResponse>): Buffer {
  if (!r.iv) throw new Error('the answer carries no IV although the server had to generate one');
  if (c === AES_GCM) {
    if (r.tag?.length !== 16) throw new Error('no 16-byte Authenticated Encryption Tag');
    const d = createDecipheriv('aes-256-gcm', key, r.iv, { authTagLength: 16 });
    d.setAuthTag(r.tag);
    return Buffer.concat([d.update(r.data), d.final()]);
  }
  const d = createDecipheriv('aes-256-cbc', key, r.iv);
  return Buffer.concat([d.update(r.data), d.final()]);
}

function encryptWorkload(): Workload<Ctx> {
  const plain = randomBytes(64);
  return {
    name: 'Encrypt AES-256-GCM 64 B',
    async prepare(server, client) {
      const uid = await createKey(client);
      await client.request(Operation.Activate, uidPayload(uid));
      const key = keyMaterialOf(await client.request(Operation.Get, uidPayload(uid)));
      const probe = async (c: SymmetricCipher) => {
        const r = readEncryptResponse(await client.request(Operation.Encrypt, encryptPayload(uid, plain, c)));
        if (!decryptLocally(key, c, r).equals(plain)) throw new Error('the ciphertext does not decrypt to the data sent');
      };
      let cipher = AES_GCM;
      let note: string | undefined;
      try {
        await probe(AES_GCM);
      } catch (e) {
        // Only PyKMIP may fall back (bench/crypto.ts has the same rule), and the table says so.
        if (server.name !== PYKMIP) throw e;
        cipher = AES_CBC_PKCS5;
        await probe(cipher);
        note = `**${server.name} ran ${cipher.label}, not AES-256-GCM** (${(e as Error).message})`;
      }
      const expected = cipher === AES_GCM ? 64 : 80;
      return {
        bytes: requestBytes(client.version, Operation.Encrypt, encryptPayload(uid, plain, cipher)),
        check(p) {
          const r = readEncryptResponse(p);
          if (r.data.length !== expected) throw new Error(`Encrypt: ${r.data.length} bytes of ciphertext, expected ${expected}`);
          if (cipher === AES_GCM && r.tag?.length !== 16) throw new Error('Encrypt: no 16-byte Authenticated Encryption Tag');
        },
        ...(note !== undefined ? { note } : {}),
      };
    },
    request: async (client, ctx) => ctx.check(await exchange(client, ctx.bytes)),
    note: (_s, ctx) => ctx.note,
  };
}

function getWorkload(): Workload<Ctx> {
  return {
    name: 'Get AES-256 (32 B)',
    async prepare(_server, client) {
      const uid = await createKey(client);
      const material = keyMaterialOf(await client.request(Operation.Get, uidPayload(uid)));
      if (material.length !== 32) throw new Error(`Get: expected 32 bytes of key material, got ${material.length}`);
      return {
        bytes: requestBytes(client.version, Operation.Get, uidPayload(uid)),
        check(p) { if (!keyMaterialOf(p).equals(material)) throw new Error('Get: key material differs from the first answer'); },
      };
    },
    request: async (client, ctx) => ctx.check(await exchange(client, ctx.bytes)),
  };
}

function createWorkload(): Workload<Ctx> {
  return {
    name: 'Create AES-256 (durable)',
    async prepare(_server, client) {
      return {
        bytes: requestBytes(client.version, Operation.Create, createSymmetricKeyPayload(client.version, 256, AES256_ENCRYPT_DECRYPT)),
        check(p) { uniqueIdentifierOf(p, 'Create'); },
      };
    },
    request: async (client, ctx) => ctx.check(await exchange(client, ctx.bytes)),
  };
}

interface HalfResult { workload: string; server: string; paced: PacedResult; cpuUsPerRequest?: number }

async function main(): Promise<number> {
  let f: Map<string, string>;
  try {
    f = parseFlags(process.argv.slice(2), FLAGS);
  } catch (e) {
    if (e instanceof OptionError) { console.error(`bench:ceiling: ${e.message}`); return 2; }
    throw e;
  }
  if (f.has('--help')) { console.log(usage('npm run bench:ceiling -- [options]', FLAGS)); return 0; }
  let seconds: number, warmup: number, conns: number[], version: ProtocolVersion, logLevel: LogLevel, chosen: WorkloadName[], workerCounts: number[];
  try {
    seconds = positiveNumber(f.get('--seconds'), '--seconds', 5);
    warmup = nonNegativeNumber(f.get('--warmup'), '--warmup', 1);
    conns = positiveIntegers(f.get('--connections'), '--connections', [1, 16]);
    workerCounts = f.has('--workers') ? positiveIntegers(f.get('--workers'), '--workers', []) : [];
    version = parseVersion(f.get('--version') ?? '1.4');
    if (version.major === 1 && version.minor < 4) throw new OptionError('--version: AES-GCM needs Tag Length, defined since KMIP 1.4');
    logLevel = oneOf(f.get('--log-level'), '--log-level', LOG_LEVELS, 'info');
    const w = (f.get('--workloads') ?? WORKLOADS.join(',')).split(',').map((s) => s.trim());
    for (const x of w) if (!(WORKLOADS as readonly string[]).includes(x)) throw new OptionError(`--workloads: unknown workload "${x}" (${WORKLOADS.join(', ')})`);
    chosen = w as WorkloadName[];
  } catch (e) {
    console.error(`bench:ceiling: ${(e as Error).message}`);
    return 2;
  }
  const withPyKmip = !f.has('--no-pykmip');
  const pyVersion = withPyKmip ? pykmipVersion() : undefined;
  if (withPyKmip && pyVersion === undefined) {
    console.error('bench:ceiling: PyKMIP is not importable by /usr/bin/python3 (apt-get install -y python3-pykmip), or pass --no-pykmip');
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-bench-ceiling-'));
  const servers: ServerHandle[] = [];
  const log = (s: string) => console.error(`[bench:ceiling] ${s}`);
  try {
    const { files: pki } = await ensureDevPki(join(dir, 'pki'), { algorithm: 'ec-p256' });
    servers.push(await startBareLoop(BARE, { pki, version }));
    servers.push(await startOpenKcm(OPENKCM, {
      pki, dataDir: join(dir, 'openkcm'), logLevel, logFile: join(dir, 'openkcm.log'),
      ...(f.has('--cpu-prof') ? { cpuProfileDir: f.get('--cpu-prof')! } : {}),
    }));
    if (f.has('--before')) {
      // The other checkout's own launcher, so its server runs its own code.
      const other = (await import(join(resolve(f.get('--before')!), 'bench/lib/openkcm-server.ts'))) as typeof import('./lib/openkcm-server.ts');
      servers.push(await other.startOpenKcm(BEFORE, { pki, dataDir: join(dir, 'openkcm-before'), logLevel, logFile: join(dir, 'openkcm-before.log') }));
    }
    for (const n of workerCounts) {
      servers.push(await startOpenKcmServe(`OpenKCM serve ×${n}`, {
        pki, dir: join(dir, `openkcm-serve-${n}`), workers: n, logLevel, logFile: join(dir, `openkcm-serve-${n}.log`),
      }));
    }
    if (withPyKmip) servers.push(await startPyKmip(PYKMIP, { pki, dir: join(dir, 'pykmip'), loggingLevel: logLevel === 'silent' ? 'WARNING' : 'INFO' }));
    log(`servers: ${servers.map((s) => `${s.name} on ${s.host}:${s.port} (pid ${s.pid})`).join(', ')}`);

    const all: Record<WorkloadName, () => Workload<Ctx>> = { encrypt: encryptWorkload, get: getWorkload, create: createWorkload };
    const workloads = chosen.map((w) => all[w]());
    const cells: CellSpec[] = conns.map((c) => ({ connections: c, depth: 1 }));
    const started = new Date();
    const loadAtStart = loadTriple();
    const { results, notes: cipherNotes } = await runMatrix(servers, workloads, cells, { pki, version, durationMs: seconds * 1000, warmupMs: warmup * 1000, log });

    // Half the saturating load, per server: half of its own rate at the largest connection count.
    const half: HalfResult[] = [];
    if (!f.has('--no-half')) {
      const maxConns = Math.max(...conns);
      // The contexts of runMatrix are private to it: prepare again on one connection.
      for (const w of workloads) {
        for (const s of servers) {
          const sat = results.find((r) => r.workload === w.name && r.server === s.name && r.connections === maxConns);
          if (!sat || sat.load.perSecond <= 0) continue;
          const [c0] = await connectMany(s, pki, 1, version);
          const ctx = await w.prepare(s, c0!).finally(() => closeAll([c0!]));
          const clients = await connectMany(s, pki, maxConns, version);
          try {
            const cpu0 = cpuSecondsTree(s.pid);
            const paced = await runPaced({
              connections: clients, request: (c, seq) => w.request(c, ctx, seq), rate: sat.load.perSecond / 2,
              durationMs: seconds * 1000, warmupMs: warmup * 1000,
            });
            const cpu1 = cpuSecondsTree(s.pid);
            const h: HalfResult = { workload: w.name, server: s.name, paced };
            if (cpu0 !== undefined && cpu1 !== undefined && paced.total > 0) h.cpuUsPerRequest = ((cpu1 - cpu0) * 1e6) / paced.total;
            half.push(h);
            log(`${w.name} half load ${s.name}: ${fmtRate(paced.perSecond)} of ${fmtRate(paced.rate)} req/s, p50 ${fmtUs(paced.latency.percentile(50))}, p99 ${fmtUs(paced.latency.percentile(99))}, late ${paced.late}`);
          } finally {
            await closeAll(clients);
          }
        }
      }
    }

    const names = servers.map((s) => s.name);
    console.log(`\n## bench:ceiling — OpenKCM against the bare TLS loop${withPyKmip ? ' and PyKMIP' : ''}\n`);
    for (const w of workloads) {
      console.log(`### ${w.name}\n`);
      console.log(renderTable(results.filter((r) => r.workload === w.name), names, BARE));
      console.log('');
    }
    console.log(`### Targets (issue 12 §1)\n`);
    const withBefore = f.has('--before');
    console.log(markdownTable(['workload', 'connections', 'OpenKCM req/s', 'OpenKCM ÷ bare loop', 'target', withPyKmip ? 'OpenKCM ÷ PyKMIP' : '',
      ...(withBefore ? ['req/s ÷ before', 'CPU/req ÷ before'] : [])].filter(Boolean), targetRows(results, withPyKmip, withBefore)));
    console.log('');
    if (half.length > 0) {
      console.log(`### At half the saturating load (${Math.max(...conns)} connections, paced)\n`);
      console.log(markdownTable(['workload', 'server', 'target req/s', 'achieved', 'late sends', 'p50', 'p99', 'CPU/req', 'p99 target'], half.map((h) => [
        h.workload, h.server, fmtRate(h.paced.rate), fmtRate(h.paced.perSecond), String(h.paced.late),
        fmtUs(h.paced.latency.percentile(50)), fmtUs(h.paced.latency.percentile(99)),
        h.cpuUsPerRequest !== undefined ? fmtUs(h.cpuUsPerRequest) : '—',
        h.server.startsWith(OPENKCM) && RATIO_TARGET[h.workload] ? `< ${fmtUs(HALF_LOAD_P99_TARGET_US)}: ${h.paced.latency.percentile(99) < HALF_LOAD_P99_TARGET_US ? 'met' : 'missed'}` : '',
      ])));
      console.log('');
    }
    const notes = machineNotes(loadAtStart, {
      'PyKMIP': pyVersion ? `${pyVersion} (Debian python3-pykmip)` : undefined,
      'run': `${started.toISOString()}; ${seconds} s measured + ${warmup} s warm-up per cell and server; KMIP ${version.major}.${version.minor} requests encoded once, answers decoded and checked; TLS 1.2 (ECDHE-ECDSA, P-256)`,
      'OpenKCM': `on-disk SQLite (WAL; an acknowledged Create is on disk), audit group-committed, log level ${logLevel} to a file`,
    });
    for (const n of [
      ...cipherNotes,
      'bare loop: Node TLS with the listener\'s settings, frames by the 8-byte TTLV header, AES-256-GCM of 64 B with a random IV per request, canned answers (bench/lib/bare-loop.ts).',
      'req/s: successful requests per second in the window; p50/p99: latency as the client sees it; CPU/req: user+system CPU of the server\'s processes per request (/proc).',
      ...notes,
    ]) console.log(`- ${n}`);
    if (f.has('--json')) {
      writeFileSync(f.get('--json')!, JSON.stringify({
        started, notes, results: resultsJson(results),
        half: half.map((h) => ({ workload: h.workload, server: h.server, rate: h.paced.rate, perSecond: h.paced.perSecond, late: h.paced.late,
          p50Us: h.paced.latency.percentile(50), p99Us: h.paced.latency.percentile(99), cpuUsPerRequest: h.cpuUsPerRequest })),
      }, null, 2));
      log(`results written to ${f.get('--json')}`);
    }
    const failed = [...results.filter((r) => r.load.errors > 0 || r.load.completed === 0).map((r) => `${r.workload}/${r.server}/${label(r)}: ${r.load.errorSamples.join(' | ') || 'nothing completed'}`),
      ...half.filter((h) => h.paced.errors > 0).map((h) => `${h.workload}/${h.server}/half: ${h.paced.errorSamples.join(' | ')}`)];
    if (failed.length > 0) {
      console.error(`\nbench:ceiling: ${failed.length} cell(s) had failures: ${failed.join('; ')}`);
      return 1;
    }
    return 0;
  } finally {
    for (const s of servers.reverse()) {
      const how = await s.stop().catch((e: Error) => `stop failed: ${e.message}`);
      log(`${s.name} stopped (${how})`);
    }
    if (f.has('--keep')) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function targetRows(results: readonly CellResult[], withPyKmip: boolean, withBefore: boolean): string[][] {
  const rows: string[][] = [];
  for (const r of results) {
    if (r.server !== OPENKCM) continue;
    const same = (name: string) => results.find((x) => x.server === name && x.workload === r.workload && x.connections === r.connections && x.depth === r.depth);
    const bare = same(BARE);
    const py = same(PYKMIP);
    const ratio = bare ? r.load.perSecond / bare.load.perSecond : NaN;
    let target = '';
    const t = RATIO_TARGET[r.workload]?.[r.connections];
    if (t !== undefined) target = `≥ ${Math.round(t * 100)} %: ${ratio >= t ? 'met' : 'missed'}`;
    else if (r.workload.startsWith('Create') && r.connections >= 16) target = `≥ ${CREATE_TARGET_PER_SECOND.toLocaleString('en-US')}/s: ${r.load.perSecond >= CREATE_TARGET_PER_SECOND ? 'met' : 'missed'}`;
    const row = [r.workload, label(r), fmtRate(r.load.perSecond), Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)} %` : '—', target];
    if (withPyKmip) row.push(py ? fmtRatio(r.load.perSecond / py.load.perSecond) : '—');
    if (withBefore) {
      const b = same(BEFORE);
      row.push(b ? fmtRatio(r.load.perSecond / b.load.perSecond) : '—', b && r.cpuUsPerRequest !== undefined && b.cpuUsPerRequest !== undefined ? fmtRatio(r.cpuUsPerRequest / b.cpuUsPerRequest) : '—');
    }
    rows.push(row);
  }
  return rows;
}

process.exitCode = await main();
