// `npm run bench:crypto` (issue 4, "Tests and figures"): Encrypt of 64 bytes with
// AES-256-GCM over mutual TLS with 1 and 16 connections (req/s, p50, p99), beside Node's
// raw in-process AES-256-GCM rate for the same 64 bytes, and PyKMIP's server under the
// same load, all in one run, with ratios.
//
//   npm run bench:crypto [-- --seconds 5] [-- --connections 1,16] [-- --pipeline 8]
//                        [-- --memory] [-- --no-pykmip] [-- --json FILE]
//
// - Servers as in bench/server.ts: each in its own process on 127.0.0.1, one generated
//   PKI, on-disk SQLite, default (info) logging to a file.
// - Requests are KMIP 1.4: Tag Length (Cryptographic Parameters) and the Authenticated
//   Encryption Tag of the response exist since 1.4 (KMIP 1.4 §2.1.5, §4.29). Per server:
//   Create AES-256 (Encrypt|Decrypt), Activate, Get of the key, then one Encrypt checked
//   by decrypting it locally with the key; under load every answer must carry 64 bytes of
//   ciphertext and a 16-byte tag. The IV is left to the server (generated and returned),
//   as a client that does not manage nonces would do.
// - PyKMIP 0.10's server implements GCM encryption when Tag Length is given; if its
//   answer cannot be verified, its column runs AES-256-CBC-PKCS5 instead and the output
//   says so in plain words.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Operation } from '../src/ttlv/generated/enumerations.ts';
import { LOG_LEVELS, type LogLevel } from '../src/log/index.ts';
import type { KmipClient } from '../src/client/index.ts';
import {
  AES_CBC_PKCS5, AES_GCM, createKey, encryptPayload, keyMaterialOf, parseVersion, readEncryptResponse, uidPayload,
  type SymmetricCipher,
} from './lib/kmip.ts';
import { runMatrix, renderTable, resultsJson, fmtRate, fmtRatio, fmtUs, label, markdownTable, type CellSpec, type Workload } from './lib/matrix.ts';
import { rateOf } from './lib/load.ts';
import type { ServerHandle } from './lib/openkcm-server.ts';
import { startComparedServers } from './lib/servers.ts';
import { pykmipVersion } from './lib/pykmip.ts';
import { machineNotes, loadTriple } from './lib/machine.ts';
import {
  parseFlags, positiveNumber, nonNegativeNumber, positiveIntegers, oneOf, usage, OptionError, type FlagSpec,
} from './lib/options.ts';

const DATA_BYTES = 64;

const FLAGS: FlagSpec[] = [
  { flag: '--seconds', env: 'BENCH_SECONDS', value: true, help: 'measured seconds per cell and server (default 5)' },
  { flag: '--warmup', env: 'BENCH_WARMUP', value: true, help: 'unmeasured seconds before each cell (default 1)' },
  { flag: '--connections', env: 'BENCH_CONNECTIONS', value: true, help: 'connection counts, comma-separated (default 1,16)' },
  { flag: '--pipeline', env: 'BENCH_PIPELINE', value: true, help: 'also run every cell with N requests in flight per connection' },
  { flag: '--version', env: 'BENCH_KMIP_VERSION', value: true, help: 'KMIP protocol version of the requests, 1.4 or later (default 1.4)' },
  { flag: '--memory', value: false, help: 'also run OpenKCM on an in-memory SQLite database' },
  { flag: '--no-pykmip', value: false, help: 'OpenKCM only' },
  { flag: '--log-level', env: 'BENCH_LOG_LEVEL', value: true, help: 'OpenKCM log level (default info; PyKMIP logs at INFO, or WARNING when this is silent)' },
  { flag: '--json', value: true, help: 'also write the results as JSON to this file' },
  { flag: '--cpu-prof', value: true, help: 'write V8 CPU profiles of the OpenKCM server processes into this directory' },
  { flag: '--keep', value: false, help: 'keep the temporary directory (databases, logs, PKI)' },
  { flag: '--help', value: false, help: 'this text' },
];

interface EncryptCtx {
  payload: ReturnType<typeof encryptPayload>;
  cipher: SymmetricCipher;
  expectedBytes: number;
  substituted?: string;
}

/** Local decryption of a server's answer with the key from Get: proves the server really encrypted `plain`. */
function verifyLocally(key: Buffer, c: SymmetricCipher, plain: Buffer, r: ReturnType<typeof readEncryptResponse>): void {
  if (!r.iv) throw new Error('the answer carries no IV although the server had to generate one');
  let out: Buffer;
  if (c === AES_GCM) {
    if (!r.tag || r.tag.length !== c.tagLength) throw new Error(`expected a ${c.tagLength}-byte Authenticated Encryption Tag, got ${r.tag?.length ?? 'none'}`);
    const d = createDecipheriv('aes-256-gcm', key, r.iv, { authTagLength: r.tag.length });
    d.setAuthTag(r.tag);
    out = Buffer.concat([d.update(r.data), d.final()]);
  } else {
    const d = createDecipheriv('aes-256-cbc', key, r.iv);
    out = Buffer.concat([d.update(r.data), d.final()]);
  }
  if (!out.equals(plain)) throw new Error('the ciphertext does not decrypt to the data sent');
}

function encryptWorkload(): Workload<EncryptCtx> {
  const plain = randomBytes(DATA_BYTES);
  const expectedBytes = (c: SymmetricCipher) => (c === AES_GCM ? DATA_BYTES : DATA_BYTES + 16); // PKCS5 adds a block at 64 B
  const probe = async (client: KmipClient, uid: string, key: Buffer, c: SymmetricCipher) => {
    const r = readEncryptResponse(await client.request(Operation.Encrypt, encryptPayload(uid, plain, c)));
    verifyLocally(key, c, plain, r);
  };
  return {
    name: `Encrypt ${DATA_BYTES} B`,
    async prepare(server, client) {
      const uid = await createKey(client);
      await client.request(Operation.Activate, uidPayload(uid));
      const key = keyMaterialOf(await client.request(Operation.Get, uidPayload(uid)));
      try {
        await probe(client, uid, key, AES_GCM);
        return { payload: encryptPayload(uid, plain, AES_GCM), cipher: AES_GCM, expectedBytes: expectedBytes(AES_GCM) };
      } catch (e) {
        // Only PyKMIP gets a substitute: OpenKCM must do GCM (issue 4), a failure is a failure.
        if (!server.name.startsWith('PyKMIP')) throw new Error(`${server.name}: AES-256-GCM Encrypt failed: ${(e as Error).message}`);
        await probe(client, uid, key, AES_CBC_PKCS5);
        return {
          payload: encryptPayload(uid, plain, AES_CBC_PKCS5), cipher: AES_CBC_PKCS5, expectedBytes: expectedBytes(AES_CBC_PKCS5),
          substituted: `AES-256-GCM failed (${(e as Error).message})`,
        };
      }
    },
    async request(client, ctx) {
      const r = readEncryptResponse(await client.request(Operation.Encrypt, ctx.payload));
      if (r.data.length !== ctx.expectedBytes) throw new Error(`Encrypt: ${r.data.length} bytes of ciphertext, expected ${ctx.expectedBytes}`);
      if (ctx.cipher === AES_GCM && r.tag?.length !== 16) throw new Error('Encrypt: no 16-byte Authenticated Encryption Tag');
    },
    note(server, ctx) {
      return ctx.substituted
        ? `**${server.name} ran ${ctx.cipher.label}, not AES-256-GCM**: ${ctx.substituted}. Its column measures CBC-PKCS5.`
        : `${server.name}: ${ctx.cipher.label}, server-generated IV, checked by decrypting one answer locally with the key from Get.`;
    },
  };
}

/** Node's own AES-256-GCM on 64 bytes in this process, one thread: what one core can do without KMIP. */
function rawGcmRate(ms: number) {
  const key = randomBytes(32);
  const data = randomBytes(DATA_BYTES);
  // A fresh random 96-bit IV per call, as a server that generates nonces pays for.
  return rateOf(() => {
    const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
    c.update(data);
    c.final();
    c.getAuthTag();
  }, ms);
}

function rawCbcRate(ms: number) {
  const key = randomBytes(32);
  const data = randomBytes(DATA_BYTES);
  return rateOf(() => {
    const c = createCipheriv('aes-256-cbc', key, randomBytes(16));
    c.update(data);
    c.final();
  }, ms);
}

async function main(): Promise<number> {
  let f: Map<string, string>;
  try {
    f = parseFlags(process.argv.slice(2), FLAGS);
  } catch (e) {
    if (e instanceof OptionError) { console.error(`bench:crypto: ${e.message}`); return 2; }
    throw e;
  }
  if (f.has('--help')) { console.log(usage('npm run bench:crypto -- [options]', FLAGS)); return 0; }
  let seconds: number, warmup: number, conns: number[], pipeline: number | undefined, version, logLevel: LogLevel;
  try {
    seconds = positiveNumber(f.get('--seconds'), '--seconds', 5);
    warmup = nonNegativeNumber(f.get('--warmup'), '--warmup', 1);
    conns = positiveIntegers(f.get('--connections'), '--connections', [1, 16]);
    pipeline = f.has('--pipeline') ? positiveIntegers(f.get('--pipeline'), '--pipeline', [])[0] : undefined;
    version = parseVersion(f.get('--version') ?? '1.4');
    if (version.major === 1 && version.minor < 4) throw new OptionError('--version: AES-GCM needs Tag Length, defined since KMIP 1.4');
    logLevel = oneOf(f.get('--log-level'), '--log-level', LOG_LEVELS, 'info');
  } catch (e) {
    console.error(`bench:crypto: ${(e as Error).message}`);
    return 2;
  }
  const withPyKmip = !f.has('--no-pykmip');
  const pyVersion = withPyKmip ? pykmipVersion() : undefined;
  if (withPyKmip && pyVersion === undefined) {
    console.error('bench:crypto: PyKMIP is not importable by /usr/bin/python3 (apt-get install -y python3-pykmip), or pass --no-pykmip');
    return 1;
  }
  const cells: CellSpec[] = conns.map((c) => ({ connections: c, depth: 1 }));
  if (pipeline !== undefined && pipeline > 1) cells.push(...conns.map((c) => ({ connections: c, depth: pipeline })));

  const dir = mkdtempSync(join(tmpdir(), 'openkcm-bench-crypto-'));
  const servers: ServerHandle[] = [];
  const log = (s: string) => console.error(`[bench:crypto] ${s}`);
  try {
    const pki = await startComparedServers(servers, {
      dir, logLevel, memory: f.has('--memory'), withPyKmip, log,
      ...(f.has('--cpu-prof') ? { cpuProfDir: f.get('--cpu-prof')! } : {}),
    });

    const started = new Date();
    const loadAtStart = loadTriple();
    // The in-process baseline first, while the servers are idle (they were just started).
    const rawMs = Math.min(seconds, 3) * 1000;
    const rawGcm = rawGcmRate(rawMs);
    log(`Node AES-256-GCM ${DATA_BYTES} B in process: ${fmtRate(rawGcm.perSecond)} ops/s, ${fmtRate(rawGcm.perCpuSecond)} per CPU-second`);
    const { results, notes: cipherNotes } = await runMatrix(servers, [encryptWorkload()], cells, {
      pki, version, durationMs: seconds * 1000, warmupMs: warmup * 1000, log,
    });
    const substituted = cipherNotes.some((n) => n.includes('not AES-256-GCM'));
    const rawCbc = substituted ? rawCbcRate(rawMs) : undefined;

    const names = servers.map((s) => s.name);
    console.log(`\n## bench:crypto — Encrypt of ${DATA_BYTES} bytes over mutual TLS\n`);
    console.log(renderTable(results, names, withPyKmip ? 'PyKMIP' : undefined));
    console.log('');

    // Each server cell as a fraction of what one core does in process: the cost of KMIP,
    // TLS, the key lookup and the logging around one 64-byte encryption.
    const rawRow = (name: string, r: typeof rawGcm) =>
      [name, fmtRate(r.perSecond), fmtRate(r.perCpuSecond), fmtUs(1e6 / r.perCpuSecond)];
    const rawRows: string[][] = [rawRow(`Node crypto AES-256-GCM, ${DATA_BYTES} B, random 12-byte IV, 1 thread`, rawGcm)];
    if (rawCbc) rawRows.push(rawRow(`Node crypto AES-256-CBC-PKCS5, ${DATA_BYTES} B, random IV, 1 thread`, rawCbc));
    console.log(markdownTable(['in-process baseline', 'ops/s (wall)', 'ops/CPU-s', 'CPU/op'], rawRows));
    console.log('');
    // Each server cell against what one core does in process: the cost of KMIP, TLS, the
    // key lookup and the logging around one 64-byte encryption. Wall-clock rates and CPU
    // per operation, the latter being the steadier of the two on a shared machine.
    const fracRows = results.map((r) => {
      const raw = r.server.startsWith('PyKMIP') && substituted && rawCbc ? rawCbc : rawGcm;
      const rawCpuUs = 1e6 / raw.perCpuSecond;
      return [
        `${r.server}, ${label(r)}`, fmtRate(r.load.perSecond), fmtRatio(raw.perSecond / r.load.perSecond),
        r.cpuUsPerRequest !== undefined ? fmtRatio(r.cpuUsPerRequest / rawCpuUs) : '—',
      ];
    });
    console.log(markdownTable(['server cell', 'req/s', 'in-process ops/s ÷ req/s', 'server CPU/req ÷ in-process CPU/op'], fracRows));
    console.log('');
    const notes = machineNotes(loadAtStart, {
      'PyKMIP': pyVersion ? `${pyVersion} (Debian python3-pykmip)` : undefined,
      'run': `${started.toISOString()}; ${seconds} s measured + ${warmup} s warm-up per cell and server; KMIP ${version.major}.${version.minor}; TLS 1.2 (ECDHE-ECDSA, P-256) for every server`,
    });
    for (const n of [
      ...cipherNotes,
      'req/s: successful requests per second in the measured window; p50/p99: latency per request as the client sees it.',
      'CPU/req: user+system CPU of the server\'s processes per request, from /proc. Ratios are OpenKCM/PyKMIP of the same cell.',
      ...notes,
    ]) console.log(`- ${n}`);
    if (f.has('--json')) {
      writeFileSync(f.get('--json')!, JSON.stringify({
        started, notes: [...cipherNotes, ...notes],
        raw: { gcm: rawGcm, cbc: rawCbc }, results: resultsJson(results),
      }, null, 2));
      log(`results written to ${f.get('--json')}`);
    }
    const failed = results.filter((r) => r.load.errors > 0 || r.load.completed === 0);
    if (failed.length > 0) {
      console.error(`\nbench:crypto: ${failed.length} cell(s) had failures: ${failed.map((r) => `${r.server}/${r.connections}: ${r.load.errorSamples.join(' | ') || 'nothing completed'}`).join('; ')}`);
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

process.exitCode = await main();
