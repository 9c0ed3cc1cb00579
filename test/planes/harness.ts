// Real processes for the split-planes tests and benchmark (issue 10): one `openkcm cmk`, any
// number of `openkcm core` nodes, `kmipctl` against the CMK, and KMIP clients on the cores.
// Ports are chosen up front, so a restarted process comes back on the same address (the
// cores' --cmk URL stays valid across a CMK restart).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { KmipClient, KmipResponseError } from '../../src/client/index.ts';
import { AdminClient, resolveSettings } from '../../src/cli/admin/connection.ts';
import { Operation } from '../../src/ttlv/generated/enumerations.ts';
import { cleanEnv, KMIPCTL, OPENKCM, run, type RunResult } from '../admin/serve.ts';

/** A process start on a loaded 2-core machine (tsx compiles on the fly) can take a while. */
export const START_TIMEOUT_MS = 90_000;

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 15 s. */
  stop(): Promise<number | null>;
}

export interface SpawnExtras {
  /** Node options before the script (e.g. `--heapsnapshot-signal=SIGUSR2`). */
  nodeArgs?: string[];
  /** Launcher instead of scripts/dev-bin/openkcm.js (e.g. test/link/module-recorder.mjs, which runs the same CLI). */
  script?: string;
}

export async function spawnProc(name: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; ready: RegExp } & SpawnExtras): Promise<{ proc: Proc; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script ?? OPENKCM, ...args], { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const proc: Proc = {
    name, child, exited, output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms:\n${out}`)); }, START_TIMEOUT_MS);
    const check = () => {
      const m = opts.ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        resolve(m);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code} before it was ready:\n${out}`)); });
  });
  return { proc, match };
}

export interface CmkHandle {
  proc: Proc;
  port: number;
  url: string;
  /** certs dir of the CMK (development PKI: ca.crt, server.crt/key, client.crt/key = bootstrap admin). */
  certs: string;
  admin: AdminClient;
  kmipctl(args: string[]): Promise<RunResult>;
}

export async function startCmk(root: string, port?: number, extras: SpawnExtras & { env?: NodeJS.ProcessEnv; databaseUrl?: string } = {}): Promise<CmkHandle> {
  const p = port ?? (await freePort());
  const cwd = join(root, 'cmk');
  mkdirSync(cwd, { recursive: true });
  const { databaseUrl, ...spawnExtras } = extras;
  // --database-url: the CMK on PostgreSQL (issue 10 §4); without it, cmk.db in --data.
  const db = databaseUrl !== undefined ? ['--database-url', databaseUrl] : [];
  const { proc } = await spawnProc('cmk', ['cmk', '--admin-listen', `127.0.0.1:${p}`, '--data', join(cwd, 'data'), '--certs', join(cwd, 'certs'), '--log-level', 'warn', ...db], {
    cwd, ready: /Admin API: https:\/\/127\.0\.0\.1:(\d+)/, ...spawnExtras,
  });
  const certs = join(cwd, 'certs');
  const url = `https://127.0.0.1:${p}`;
  const admin = new AdminClient(resolveSettings({ server: url, cert: join(certs, 'client.crt'), key: join(certs, 'client.key'), ca: join(certs, 'ca.crt') }, {}));
  const env = cleanEnv({ OPENKCM_ADMIN_SERVER: url, OPENKCM_ADMIN_CERT: join(certs, 'client.crt'), OPENKCM_ADMIN_KEY: join(certs, 'client.key'), OPENKCM_ADMIN_CA: join(certs, 'ca.crt') });
  return { proc, port: p, url, certs, admin, kmipctl: (args) => run(KMIPCTL, args, { cwd, env, timeoutMs: 60_000 }) };
}

export interface CoreSpec {
  name: string;
  region: string;
  /** Directory with the link certificate issued by `kmipctl cert issue --role core`. */
  linkDir: string;
  databaseUrl?: string;
  leaseMs?: number;
  failMode?: 'open' | 'closed';
  port?: number;
  /** More `openkcm core` flags (e.g. --metrics-listen). */
  args?: string[];
}

export interface CoreHandle {
  spec: CoreSpec;
  proc: Proc;
  port: number;
}

/** The one .crt/.key pair `kmipctl cert issue` wrote into `dir` (the CA file aside). */
export function issuedPair(dir: string): { cert: string; key: string } {
  const files = readdirSync(dir);
  const key = files.find((f) => f.endsWith('.key'));
  const cert = key && files.find((f) => f === key.replace(/\.key$/, '.crt'));
  if (!key || !cert) throw new Error(`no certificate and key in ${dir}: ${files.join(', ')}`);
  return { cert: join(dir, cert), key: join(dir, key) };
}

export async function startCore(root: string, cmk: { url: string; certs: string }, spec: CoreSpec): Promise<CoreHandle> {
  const port = spec.port ?? (await freePort());
  const cwd = join(root, spec.name);
  mkdirSync(cwd, { recursive: true });
  const pair = issuedPair(spec.linkDir);
  const args = ['core', '--region', spec.region, '--node', spec.name, '--cmk', cmk.url, '--certs', cmk.certs, '--cert', pair.cert, '--key', pair.key,
    '--listen', `127.0.0.1:${port}`, '--data', join(cwd, 'data'), '--log-level', 'warn'];
  if (spec.databaseUrl) args.push('--database-url', spec.databaseUrl);
  if (spec.leaseMs) args.push('--lease-ms', String(spec.leaseMs));
  if (spec.failMode) args.push('--fail-mode', spec.failMode);
  if (spec.args) args.push(...spec.args);
  const { proc } = await spawnProc(spec.name, args, { cwd, ready: /is listening on 127\.0\.0\.1:(\d+)/ });
  return { spec: { ...spec, port }, proc, port };
}

/** A KMIP client of the project on a core, with an application certificate. */
export function kmipClient(port: number, caFile: string, pair: { cert: string; key: string }): Promise<KmipClient> {
  return KmipClient.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(caFile), cert: readFileSync(pair.cert), key: readFileSync(pair.key), timeoutMs: 20_000 });
}

/** One Query on a fresh connection: undefined when served, else the refusal's message. */
export async function probe(port: number, caFile: string, pair: { cert: string; key: string }): Promise<string | undefined> {
  let c: KmipClient | undefined;
  try {
    c = await kmipClient(port, caFile, pair);
    await c.request(Operation.Query, []);
    return undefined;
  } catch (e) {
    return e instanceof KmipResponseError ? e.message : `transport: ${(e as Error).message}`;
  } finally {
    await c?.close().catch(() => undefined);
  }
}

export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
