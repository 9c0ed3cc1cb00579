// `npm run fuzz -- --count N [--seed S] [--connections C] [--deadline MS] [--target host:port --certs DIR [--pid PID]] [--vectors DIR] [--findings DIR]`
// Mutational fuzzing of a live OpenKCM server over mutual TLS with every request of the
// OASIS vectors as seeds (scripts/fuzz/). Without --target it starts `openkcm serve` in a
// temporary directory and watches the process (exit = crash, RSS sampled each second).
// Prints a summary; exit 0 when there was no crash, hang, bad response or unexpected
// close and a sane request still works afterwards, 1 otherwise, 2 on a usage error.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCorpus } from './fuzz/corpus.ts';
import { runFuzz, type FuzzSummary } from './fuzz/driver.ts';
import { startServerProcess, type ServerProcess } from './fuzz/server-process.ts';

const USAGE = 'usage: npm run fuzz -- --count N [--seed S] [--connections C] [--deadline MS] [--target HOST:PORT --certs DIR [--pid PID]] [--vectors DIR] [--findings DIR] [--json FILE] [--log-level LEVEL of the started server]';

function usage(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const known = new Set(['count', 'seed', 'connections', 'deadline', 'target', 'certs', 'pid', 'vectors', 'findings', 'json', 'log-level']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !known.has(m[1]!)) usage(`unknown argument ${JSON.stringify(a)}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) usage(`--${m[1]} needs a value`);
    out[m[1]!] = v;
  }
  return out;
}

function whole(args: Record<string, string>, key: string, dflt: number, min = 1): number {
  const raw = args[key];
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min) usage(`--${key} ${JSON.stringify(raw)}: expected a whole number >= ${min}`);
  return Number(raw);
}

export function formatSummary(s: FuzzSummary): string {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const lines = [
    `messages          ${s.messages} in ${(s.ms / 1000).toFixed(1)} s (${Math.round((s.messages * 1000) / Math.max(1, s.ms))}/s) on ${s.connections} connections (${s.connectFailures} connect failures)`,
    `responses         ${s.responses}; closes: ${s.expectedCloses} expected (unframed/oversized), ${s.unexpectedCloses} unexpected`,
    `crash             ${s.crashed ? 'YES' : 'no'}; hangs ${s.hangs}; bad responses ${s.badResponses}; sane request after: ${s.saneAfter === undefined ? 'not tried' : s.saneAfter ? 'ok' : 'FAILED'}`,
    s.rss ? `RSS               start ${mib(s.rss.start)}, end ${mib(s.rss.end)}, max ${mib(s.rss.max)} (growth ${mib(s.rss.end - s.rss.start)}, ${s.rss.samples} samples)` : 'RSS               not sampled (no pid)',
    `results           ${Object.entries(s.results).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `mutations         ${Object.entries(s.mutations).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ];
  for (const f of s.findings.slice(0, 20)) lines.push(`finding           ${f}`);
  return lines.join('\n');
}

export function passed(s: FuzzSummary): boolean {
  return !s.crashed && s.hangs === 0 && s.badResponses === 0 && s.unexpectedCloses === 0 && s.saneAfter === true;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const count = whole(args, 'count', 10_000);
  const seed = whole(args, 'seed', Date.now() % 2 ** 31, 0);
  const connections = whole(args, 'connections', 16);
  const deadlineMs = whole(args, 'deadline', 30_000);
  const root = resolve(fileURLToPath(import.meta.url), '../..');
  const vectors = resolve(args.vectors ?? join(root, 'spec', 'kmip-vectors'));
  let corpus;
  try {
    corpus = await loadCorpus(vectors);
  } catch (e) {
    usage(`cannot read the vectors at ${vectors}: ${(e as Error).message} (pass --vectors DIR)`);
  }
  let server: ServerProcess | undefined;
  let dir: string | undefined;
  let target: { host: string; port: number; tls: { ca: Buffer; cert: Buffer; key: Buffer }; pid?: number };
  if (args.target !== undefined) {
    const m = /^(.+):(\d+)$/.exec(args.target);
    if (!m) usage(`--target ${JSON.stringify(args.target)}: expected HOST:PORT`);
    if (args.certs === undefined) usage('--target needs --certs DIR (ca.crt, client.crt, client.key)');
    const read = (f: string) => { try { return readFileSync(join(args.certs!, f)); } catch { return usage(`--certs ${args.certs}: cannot read ${f}`); } };
    target = { host: m[1]!, port: Number(m[2]), tls: { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') } };
    if (args.pid !== undefined) target.pid = whole(args, 'pid', 0);
  } else {
    dir = mkdtempSync(join(tmpdir(), 'openkcm-fuzz-'));
    server = await startServerProcess({ cwd: dir, args: ['--log-level', args['log-level'] ?? 'warn'] });
    target = { host: '127.0.0.1', port: server.port, tls: server.tls(), pid: server.pid };
  }
  process.stdout.write(`fuzz: ${count} messages, seed ${seed}, ${connections} connections, ${corpus.length} seed requests from ${vectors}\n`);
  // Ctrl-C (or SIGTERM of a nightly job's timeout) ends the run with a summary of what was sent.
  const abort = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { process.stdout.write(`fuzz: ${sig}: stopping early\n`); abort.abort(); });
  const summary = await runFuzz({
    signal: abort.signal,
    host: target.host, port: target.port, tls: target.tls, corpus, count, seed, connections, deadlineMs,
    ...(target.pid !== undefined ? { pid: target.pid } : {}),
    ...(server ? { exited: server.exited } : {}),
    ...(args.findings ? { findingsDir: resolve(args.findings) } : {}),
    progressEvery: Math.max(1000, Math.round(count / 20)),
    log: (l) => process.stdout.write(`fuzz: ${l}\n`),
  });
  process.stdout.write(`${formatSummary(summary)}\n`);
  if (args.json) (await import('node:fs')).writeFileSync(args.json, JSON.stringify({ seed, count, ...summary }, null, 2));
  const ok = passed(summary);
  if (server) {
    // Error-level log lines are not failures by themselves (a refused audit record is logged
    // as one), but each distinct message is worth a look.
    const errors = server.stdout().split('\n').filter((l) => /"level":(50|60)/.test(l));
    const distinct = new Map<string, number>();
    for (const l of errors) {
      let key = l.slice(0, 200);
      try { const j = JSON.parse(l) as { msg?: string; err?: { type?: string; message?: string } }; key = `${j.msg} ${j.err?.type ?? ''}: ${(j.err?.message ?? '').slice(0, 160)}`; } catch { /* not JSON */ }
      distinct.set(key, (distinct.get(key) ?? 0) + 1);
    }
    for (const [k, n] of distinct) process.stdout.write(`server error log  ${n} × ${k}\n`);
    // At --log-level info: why the server closed connections (handshake refusals included).
    const reasons = new Map<string, number>();
    for (const l of server.stdout().split('\n')) {
      const m = /"event":"(handshake_failed|connection_refused)"|"event":"connection".*"reason":"([a-z-]+)"/.exec(l);
      if (m) reasons.set(m[1] ?? `closed:${m[2]}`, (reasons.get(m[1] ?? `closed:${m[2]}`) ?? 0) + 1);
    }
    if (reasons.size > 0) process.stdout.write(`server closes      ${[...reasons].map(([k, n]) => `${k} ${n}`).join(', ')}\n`);
    await server.stop();
    if (ok) rmSync(dir!, { recursive: true, force: true });
    else process.stdout.write(`server directory kept for inspection: ${dir}\n`);
  }
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { process.stderr.write(`fuzz: ${(e as Error).stack ?? e}\n`); process.exit(1); });
}
