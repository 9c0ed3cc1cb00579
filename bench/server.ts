// `npm run bench:server` (issue 3 §6): Create (AES-256) and Get (of one pre-created key)
// per second, latency p50/p99, with 1 and 16 connections over mutual TLS, against OpenKCM
// and PyKMIP's server (Debian python3-pykmip) in the same run, with the ratio per cell.
//
//   npm run bench:server [-- --seconds 5] [-- --connections 1,16] [-- --pipeline 8]
//                        [-- --memory] [-- --postgres] [-- --no-pykmip] [-- --version 1.2] [-- --json FILE]
//
// - --postgres adds an OpenKCM column on a PostgreSQL vault: a throw-away cluster started for
//   the run (test/helpers/pg-cluster.ts, initdb into the temporary directory) with fsync and
//   synchronous_commit on, as in production; inserts are group-committed (src/store/postgres.ts).
// - Both servers run in their own process on 127.0.0.1 with one generated PKI (EC P-256,
//   client certificate with extendedKeyUsage clientAuth), each with an on-disk SQLite
//   database in the run's temporary directory: OpenKCM with WAL and synchronous=FULL, as
//   in production (--memory adds an in-memory OpenKCM column); PyKMIP with its own
//   SQLAlchemy/SQLite file. Both log at their default level (info) to a file.
// - The same client code (src/client) sends the same KMIP 1.2 requests (PyKMIP's default
//   version; --version to change) to both; each connection has one request in flight, as
//   a client waiting for each answer; --pipeline N adds rows with N in flight.
// - Bounded: every cell runs --warmup then --seconds; nothing here is a timed test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Operation } from '../src/ttlv/generated/enumerations.ts';
import type { LogLevel } from '../src/log/index.ts';
import { LOG_LEVELS } from '../src/log/index.ts';
import { createKey, createSymmetricKeyPayload, AES256_ENCRYPT_DECRYPT, keyMaterialOf, parseVersion, uidPayload, uniqueIdentifierOf } from './lib/kmip.ts';
import { runMatrix, renderTable, resultsJson, type CellSpec, type Workload } from './lib/matrix.ts';
import type { ServerHandle } from './lib/openkcm-server.ts';
import { startComparedServers } from './lib/servers.ts';
import { pykmipVersion } from './lib/pykmip.ts';
import { machineNotes, loadTriple } from './lib/machine.ts';
import { startPostgres, type PostgresCluster } from '../test/helpers/pg-cluster.ts';
import {
  parseFlags, positiveNumber, nonNegativeNumber, positiveIntegers, oneOf, usage, OptionError, type FlagSpec,
} from './lib/options.ts';

const FLAGS: FlagSpec[] = [
  { flag: '--seconds', env: 'BENCH_SECONDS', value: true, help: 'measured seconds per cell and server (default 5)' },
  { flag: '--warmup', env: 'BENCH_WARMUP', value: true, help: 'unmeasured seconds before each cell (default 1)' },
  { flag: '--connections', env: 'BENCH_CONNECTIONS', value: true, help: 'connection counts, comma-separated (default 1,16)' },
  { flag: '--pipeline', env: 'BENCH_PIPELINE', value: true, help: 'also run every cell with N requests in flight per connection' },
  { flag: '--version', env: 'BENCH_KMIP_VERSION', value: true, help: 'KMIP protocol version of the requests (default 1.2)' },
  { flag: '--memory', value: false, help: 'also run OpenKCM on an in-memory SQLite database' },
  { flag: '--no-pykmip', value: false, help: 'OpenKCM only' },
  { flag: '--postgres', value: false, help: 'also run OpenKCM on a PostgreSQL vault (a durable throw-away cluster started for the run)' },
  { flag: '--log-level', env: 'BENCH_LOG_LEVEL', value: true, help: 'OpenKCM log level (default info; PyKMIP logs at INFO, or WARNING when this is silent)' },
  { flag: '--json', value: true, help: 'also write the results as JSON to this file' },
  { flag: '--cpu-prof', value: true, help: 'write V8 CPU profiles of the OpenKCM server processes into this directory' },
  { flag: '--keep', value: false, help: 'keep the temporary directory (databases, logs, PKI)' },
  { flag: '--help', value: false, help: 'this text' },
];

async function main(): Promise<number> {
  let f: Map<string, string>;
  try {
    f = parseFlags(process.argv.slice(2), FLAGS);
  } catch (e) {
    if (e instanceof OptionError) { console.error(`bench:server: ${e.message}`); return 2; }
    throw e;
  }
  if (f.has('--help')) { console.log(usage('npm run bench:server -- [options]', FLAGS)); return 0; }
  let seconds: number, warmup: number, conns: number[], pipeline: number | undefined, version, logLevel: LogLevel;
  try {
    seconds = positiveNumber(f.get('--seconds'), '--seconds', 5);
    warmup = nonNegativeNumber(f.get('--warmup'), '--warmup', 1);
    conns = positiveIntegers(f.get('--connections'), '--connections', [1, 16]);
    pipeline = f.has('--pipeline') ? positiveIntegers(f.get('--pipeline'), '--pipeline', [])[0] : undefined;
    version = parseVersion(f.get('--version') ?? '1.2');
    logLevel = oneOf(f.get('--log-level'), '--log-level', LOG_LEVELS, 'info');
  } catch (e) {
    console.error(`bench:server: ${(e as Error).message}`);
    return 2;
  }
  const withPyKmip = !f.has('--no-pykmip');
  const pyVersion = withPyKmip ? pykmipVersion() : undefined;
  if (withPyKmip && pyVersion === undefined) {
    console.error('bench:server: PyKMIP is not importable by /usr/bin/python3 (apt-get install -y python3-pykmip), or pass --no-pykmip');
    return 1;
  }

  const cells: CellSpec[] = conns.map((c) => ({ connections: c, depth: 1 }));
  if (pipeline !== undefined && pipeline > 1) cells.push(...conns.map((c) => ({ connections: c, depth: pipeline })));

  const dir = mkdtempSync(join(tmpdir(), 'openkcm-bench-server-'));
  const servers: ServerHandle[] = [];
  const log = (s: string) => console.error(`[bench:server] ${s}`);
  let cluster: PostgresCluster | undefined;
  try {
    if (f.has('--postgres')) {
      cluster = await startPostgres({ durable: true, database: 'openkcm_bench' });
      log(`PostgreSQL on 127.0.0.1:${cluster.port} (durable: fsync, synchronous_commit on)`);
    }
    const pki = await startComparedServers(servers, {
      dir, logLevel, memory: f.has('--memory'), withPyKmip, log,
      ...(cluster !== undefined ? { postgresUrl: cluster.url } : {}),
      ...(f.has('--cpu-prof') ? { cpuProfDir: f.get('--cpu-prof')! } : {}),
    });

    const workloads = [createWorkload(version), getWorkload()];
    const started = new Date();
    const loadAtStart = loadTriple();
    const { results } = await runMatrix(servers, workloads, cells, { pki, version, durationMs: seconds * 1000, warmupMs: warmup * 1000, log });

    const names = servers.map((s) => s.name);
    const table = renderTable(results, names, withPyKmip ? 'PyKMIP' : undefined);
    const notes = machineNotes(loadAtStart, {
      'PyKMIP': pyVersion ? `${pyVersion} (Debian python3-pykmip)` : undefined,
      'run': `${started.toISOString()}; ${seconds} s measured + ${warmup} s warm-up per cell and server; KMIP ${version.major}.${version.minor}; TLS 1.2 (ECDHE-ECDSA, P-256) for every server`,
    });
    console.log(`\n## bench:server — Create (AES-256) and Get over mutual TLS\n`);
    console.log(table);
    console.log('');
    for (const n of [
      'req/s: successful requests per second in the measured window; p50/p99: latency per request as the client sees it (write → whole answer decoded).',
      'CPU/req: user+system CPU of the server\'s processes (PyKMIP: its process and its multiprocessing manager) per request, from /proc.',
      'Ratios are OpenKCM/PyKMIP of the same cell: req/s higher is better, latency lower is better.',
      'OpenKCM: on-disk SQLite (WAL, synchronous=FULL) unless marked memory or PostgreSQL (objects and hierarchy keys in PostgreSQL 15, fsync and synchronous_commit on, group commit; governance and audit in SQLite); PyKMIP: its SQLAlchemy SQLite file (rollback journal, synchronous=FULL).',
      ...notes,
    ]) console.log(`- ${n}`);
    const failed = results.filter((r) => r.load.errors > 0 || r.load.completed === 0);
    if (f.has('--json')) {
      writeFileSync(f.get('--json')!, JSON.stringify({ started, notes, results: resultsJson(results) }, null, 2));
      log(`results written to ${f.get('--json')}`);
    }
    if (failed.length > 0) {
      console.error(`\nbench:server: ${failed.length} cell(s) had failures: ${failed.map((r) => `${r.workload}/${r.server}/${r.connections}: ${r.load.errorSamples.join(' | ') || 'nothing completed'}`).join('; ')}`);
      return 1;
    }
    return 0;
  } finally {
    for (const s of servers.reverse()) {
      const how = await s.stop().catch((e: Error) => `stop failed: ${e.message}`);
      log(`${s.name} stopped (${how})`);
    }
    await cluster?.stop();
    if (f.has('--keep')) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** Create of an AES-256 key; every answer must carry a new Unique Identifier. */
function createWorkload(version: ReturnType<typeof parseVersion>): Workload<{ payload: ReturnType<typeof createSymmetricKeyPayload> }> {
  const payload = createSymmetricKeyPayload(version, 256, AES256_ENCRYPT_DECRYPT);
  return {
    name: 'Create AES-256',
    prepare: async () => ({ payload }),
    request: async (client, ctx) => uniqueIdentifierOf(await client.request(Operation.Create, ctx.payload), 'Create'),
  };
}

/** Get of one key created beforehand; every answer must carry the same 32 bytes of key material. */
function getWorkload(): Workload<{ payload: ReturnType<typeof uidPayload>; material: Buffer }> {
  return {
    name: 'Get AES-256',
    prepare: async (_server, client) => {
      const uid = await createKey(client);
      const payload = uidPayload(uid);
      const material = keyMaterialOf(await client.request(Operation.Get, payload));
      if (material.length !== 32) throw new Error(`Get: expected 32 bytes of key material, got ${material.length}`);
      return { payload, material };
    },
    request: async (client, ctx) => {
      const m = keyMaterialOf(await client.request(Operation.Get, ctx.payload));
      if (!m.equals(ctx.material)) throw new Error('Get: key material differs from the first answer');
    },
  };
}

process.exitCode = await main();
