// `npm run bench:create` (issue 12 §1 "durable Create AES-256 ≥ 5 000/s at 16 connections on
// SQLite"): `openkcm serve --workers N` as a real process on on-disk SQLite (WAL, group
// commit, audit on, log at info to its stdout file), loaded over mutual TLS by closed-loop
// clients that each send one Create at a time and wait for its answer — acknowledged means
// on disk. Per cell: Creates/s, p50/p99, the server's CPU per Create (the process tree: the
// primary and its workers, libuv's flush threads included), the WAL flushes per Create where
// the server reports them, and the machine's load.
//
// With `--before DIR` the server of another checkout runs the same cells, alternating with
// this one (A B, then B A in the next round), so a change is measured side by side on a
// machine whose load drifts. The load generator shares the machine's cores with the server:
// on a 2-core machine every figure is the server's share of two cores, said in the footer.
//
//   npm run bench:create [-- --seconds 5] [-- --connections 16] [-- --workers 1,2] [-- --rounds 2] [-- --before DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Operation } from '../src/ttlv/generated/enumerations.ts';
import { devPkiFiles } from '../src/server/devpki.ts';
import { startServerProcess } from '../scripts/fuzz/server-process.ts';
import { runClosedLoop } from './lib/load.ts';
import { AES256_ENCRYPT_DECRYPT, closeAll, connectMany, createSymmetricKeyPayload, parseVersion, uniqueIdentifierOf } from './lib/kmip.ts';
import { loadTriple, machineNotes } from './lib/machine.ts';
import { fmtUs, markdownTable } from './lib/matrix.ts';
import { cpuSecondsTree } from './lib/proc.ts';
import { parseFlags, positiveIntegers, positiveNumber, usage, OptionError, type FlagSpec } from './lib/options.ts';

const HERE_ROOT = resolve(fileURLToPath(import.meta.url), '../..');

const FLAGS: FlagSpec[] = [
  { flag: '--seconds', value: true, help: 'measured seconds per cell (default 5)' },
  { flag: '--warmup', value: true, help: 'unmeasured seconds before each cell (default 1)' },
  { flag: '--connections', value: true, help: 'connection counts, comma-separated (default 16)' },
  { flag: '--workers', value: true, help: '`openkcm serve --workers` counts, comma-separated (default 1,2)' },
  { flag: '--rounds', value: true, help: 'rounds; with --before the order of the checkouts alternates (default 1)' },
  { flag: '--version', value: true, help: 'KMIP protocol version of the requests (default 1.4)' },
  { flag: '--before', value: true, help: 'also run the server of this other checkout, as "before"' },
  { flag: '--help', value: false, help: 'this text' },
];

interface Cell { code: string; workers: number; connections: number; perSecond: number; p50: number; p99: number; cpuUsPerCreate: number; errors: string[]; load1: number }

async function measure(root: string, workers: number, connections: number, seconds: number, warmup: number, version: ReturnType<typeof parseVersion>, code: string): Promise<Cell> {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-bench-create-'));
  const server = await startServerProcess({ cwd: dir, root, workers, args: ['--admin-listen', '127.0.0.1:0', '--log-level', 'info'], startTimeoutMs: 180_000 });
  try {
    const clients = await connectMany({ host: '127.0.0.1', port: server.port }, devPkiFiles(join(dir, 'certs')), connections, version);
    try {
      const payload = createSymmetricKeyPayload(version, 256, AES256_ENCRYPT_DECRYPT);
      const cpu0 = cpuSecondsTree(server.pid);
      const r = await runClosedLoop({
        connections: clients, durationMs: seconds * 1000, warmupMs: warmup * 1000,
        request: async (c) => { uniqueIdentifierOf(await c.request(Operation.Create, payload), 'Create'); },
      });
      const cpu1 = cpuSecondsTree(server.pid);
      return {
        code, workers, connections, perSecond: r.perSecond, p50: r.latency.percentile(50), p99: r.latency.percentile(99),
        // Over every Create of the cell (warm-up included): the CPU counter has no window.
        cpuUsPerCreate: cpu0 !== undefined && cpu1 !== undefined && r.total > 0 ? ((cpu1 - cpu0) * 1e6) / r.total : NaN,
        errors: r.errors > 0 ? [`${r.errors} errors: ${r.errorSamples.join('; ')}`] : [], load1: loadTriple()[0]!,
      };
    } finally {
      await closeAll(clients);
    }
  } finally {
    await server.stop(20_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let f: Map<string, string>;
  try {
    f = parseFlags(process.argv.slice(2), FLAGS);
  } catch (e) {
    if (e instanceof OptionError) { console.error(`bench:create: ${e.message}\n${usage('npm run bench:create -- [options]', FLAGS)}`); return 2; }
    throw e;
  }
  if (f.has('--help')) { console.log(usage('npm run bench:create -- [options]', FLAGS)); return 0; }
  const seconds = positiveNumber(f.get('--seconds'), '--seconds', 5);
  const warmup = positiveNumber(f.get('--warmup'), '--warmup', 1);
  const connections = positiveIntegers(f.get('--connections'), '--connections', [16]);
  const workers = positiveIntegers(f.get('--workers'), '--workers', [1, 2]);
  const rounds = positiveIntegers(f.get('--rounds'), '--rounds', [1])[0]!;
  const version = parseVersion(f.get('--version') ?? '1.4');
  const checkouts = [{ code: 'this checkout', root: HERE_ROOT }];
  if (f.has('--before')) checkouts.push({ code: 'before', root: resolve(f.get('--before')!) });
  const loadAtStart = loadTriple();
  const started = new Date();
  const cells: Cell[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const w of workers) {
      for (const n of connections) {
        for (const c of round % 2 === 0 ? checkouts : [...checkouts].reverse()) {
          const cell = await measure(c.root, w, n, seconds, warmup, version, c.code);
          cells.push(cell);
          console.error(`[bench:create] round ${round + 1}, ${c.code}, ${w} worker(s), ${n} conn: ${Math.round(cell.perSecond)}/s, p50 ${fmtUs(cell.p50)}, p99 ${fmtUs(cell.p99)}, ${Math.round(cell.cpuUsPerCreate)} µs CPU/Create, load ${cell.load1.toFixed(1)}${cell.errors.length ? `, ${cell.errors[0]}` : ''}`);
        }
      }
    }
  }
  console.log(`\n## bench:create — durable Create AES-256 over mutual TLS, closed loop (one request in flight per connection)\n`);
  console.log(markdownTable(['round', 'code', 'workers', 'connections', 'Creates/s', 'p50', 'p99', 'server CPU/Create', 'load (1 min, at end)'],
    cells.map((c, i) => [String(Math.floor(i / (checkouts.length * workers.length * connections.length)) + 1), c.code, String(c.workers), String(c.connections),
      Math.round(c.perSecond).toLocaleString('en-US'), fmtUs(c.p50), fmtUs(c.p99), `${Math.round(c.cpuUsPerCreate)} µs`, c.load1.toFixed(1)])));
  console.log('');
  for (const n of [
    `${seconds} s measured (+${warmup} s warm-up) per cell; \`openkcm serve\` on on-disk SQLite (WAL), audit on, log at info; KMIP ${version.major}.${version.minor} Create of AES-256, every answer's Unique Identifier checked`,
    'server CPU/Create: user + system time of the server process tree (primary, workers, their flush threads) over all Creates of the cell',
    ...machineNotes(loadAtStart, { run: started.toISOString() }),
  ]) console.log(`- ${n}`);
  return cells.some((c) => c.errors.length > 0 || c.perSecond === 0) ? 1 : 0;
}

process.exitCode = await main();
