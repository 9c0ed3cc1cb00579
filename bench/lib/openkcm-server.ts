// Runs OpenKCM for a benchmark in its own Node process, as production does: the load
// generator and the server must not share one event loop (PyKMIP's server runs in its own
// process too). The parent calls startOpenKcm(); this same file is the child's entry point
// (forked with `--import tsx`), which opens the runtime with openRuntime() and the mTLS
// listener with startServer(), reports its port over IPC and closes both on 'stop' or
// SIGTERM.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DevPkiFiles } from '../../src/server/devpki.ts';
import type { LogLevel } from '../../src/log/index.ts';
import { stopChild } from './proc.ts';

export interface OpenKcmLaunch {
  pki: DevPkiFiles;
  /** Data directory (on-disk SQLite, WAL, synchronous=FULL); undefined = in-memory SQLite. */
  dataDir?: string;
  /** PostgreSQL vault for objects and hierarchy keys (governance and audit stay in dataDir). */
  databaseUrl?: string;
  /** pino level; lines go to `logFile` (default: nothing is written when 'silent'). */
  logLevel: LogLevel;
  logFile?: string;
  /** Write a V8 CPU profile of the server process into this directory (node --cpu-prof). */
  cpuProfileDir?: string;
}

export interface ServerHandle {
  name: string;
  host: string;
  port: number;
  pid: number | undefined;
  /** Stops the server; says whether it had to be killed. */
  stop(): Promise<'exited' | 'killed'>;
}

/**
 * `openkcm serve --workers N` as the installed program runs it from the sources (scripts/dev-bin,
 * as the tests do): every worker of node:cluster serves the one port (issue 12 §2 "every core").
 * `dir` gets `certs/` (a copy of the bench's development PKI, so the same client is accepted
 * and its certificate becomes the admin identity at the first start) and `data/` (on-disk
 * SQLite). The log lines (stdout, pino JSON) go to `logFile`, as a service manager would write
 * them; the process group is stopped together.
 */
export async function startOpenKcmServe(name: string, launch: { pki: DevPkiFiles; dir: string; workers: number; logLevel: LogLevel; logFile: string }, timeoutMs = 120_000): Promise<ServerHandle> {
  mkdirSync(join(launch.dir, 'certs'), { recursive: true });
  for (const f of ['caCert', 'caKey', 'serverCert', 'serverKey', 'clientCert', 'clientKey'] as const) {
    copyFileSync(launch.pki[f], join(launch.dir, 'certs', basename(launch.pki[f])));
  }
  const log = openSync(launch.logFile, 'a');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENKCM_')) env[k] = v;
  const child = spawn(process.execPath, [
    join(ROOT, 'scripts', 'dev-bin', 'openkcm.js'), 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--data', 'data', '--certs', 'certs', '--workers', String(launch.workers), '--log-level', launch.logLevel,
  ], { cwd: launch.dir, env, stdio: ['ignore', log, 'pipe'], detached: true });
  closeSync(log);
  let err = '';
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${name}: not listening after ${timeoutMs} ms:\n${err.slice(-4000)}`)); child.kill('SIGKILL'); }, timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-20_000);
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) { clearTimeout(timer); resolvePort(Number(m[1])); }
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${name}: exited during start-up (${code ?? signal}):\n${err.slice(-4000)}`)); });
  });
  child.removeAllListeners('exit');
  return { name, host: '127.0.0.1', port, pid: child.pid, stop: () => stopChild(child, 15_000) };
}

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

type FromChild = { type: 'ready'; port: number } | { type: 'error'; message: string };

const SELF = fileURLToPath(import.meta.url);

export async function startOpenKcm(name: string, launch: OpenKcmLaunch, timeoutMs = 30_000): Promise<ServerHandle> {
  const child: ChildProcess = fork(SELF, ['--child', JSON.stringify(launch)], {
    execArgv: ['--import', 'tsx', ...(launch.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${launch.cpuProfileDir}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true, // own process group, so stopChild() can SIGKILL everything it started
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${name}: not ready after ${timeoutMs} ms`)); child.kill('SIGKILL'); }, timeoutMs);
    child.once('message', (m: FromChild) => {
      clearTimeout(timer);
      if (m.type === 'ready') resolve(m.port);
      else reject(new Error(`${name}: ${m.message}`));
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${name}: exited during start-up (${code ?? signal})`)); });
  });
  child.removeAllListeners('exit');
  return {
    name,
    host: '127.0.0.1',
    port,
    pid: child.pid,
    stop: async () => {
      // Ask over IPC first (a graceful close of the listener and the store), then signals.
      if (child.connected) child.send('stop');
      return stopChild(child, 10_000);
    },
  };
}

async function childMain(launch: OpenKcmLaunch): Promise<void> {
  const send = (m: FromChild) => process.send?.(m);
  try {
    const { createLogger } = await import('../../src/log/index.ts');
    const { openRuntime } = await import('../../src/server/runtime.ts');
    const { startServer } = await import('../../src/server/listener.ts');
    const level = launch.logLevel;
    const { pino } = await import('pino');
    // Asynchronous writes (sonic-boom, flushed on stop), as pino's default destination on the
    // stdout of `openkcm serve`: the server pays for its log lines as it would in production.
    const destination = launch.logFile && level !== 'silent' ? pino.destination({ dest: launch.logFile, sync: false }) : undefined;
    const logger = createLogger({ level, ...(destination ? { destination } : {}) });
    if (launch.dataDir) mkdirSync(launch.dataDir, { recursive: true });
    // As `openkcm serve` does on a first start with its development PKI: the client
    // certificate becomes the admin identity of tenant default / service default, so every
    // request goes through identity mapping and access control as in production.
    const runtime = await openRuntime({
      ...(launch.dataDir ? { dataDir: launch.dataDir } : {}), logger, bootstrapClientCertFile: launch.pki.clientCert,
      ...(launch.databaseUrl ? { databaseUrl: launch.databaseUrl } : {}),
    });
    const server = await startServer(
      {
        listen: { host: '127.0.0.1', port: 0 },
        tls: { caFile: launch.pki.caCert, certFile: launch.pki.serverCert, keyFile: launch.pki.serverKey },
      },
      { engine: runtime.engine, logger },
    );
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      await server.close(2_000);
      await runtime.close();
      destination?.flushSync();
      process.exit(0);
    };
    process.on('message', (m) => { if (m === 'stop') void stop(); });
    process.on('SIGTERM', () => void stop());
    // The parent died without stopping us: do not linger.
    process.on('disconnect', () => void stop());
    send({ type: 'ready', port: server.address().port });
  } catch (e) {
    send({ type: 'error', message: (e as Error).stack ?? String(e) });
    process.exit(1);
  }
}

if (process.argv[2] === '--child' && process.argv[1] === SELF) {
  await childMain(JSON.parse(process.argv[3]!) as OpenKcmLaunch);
}
