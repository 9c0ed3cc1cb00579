// Starts PyKMIP's KMIP server (Debian python3-pykmip 0.10) for a benchmark: fills
// bench/pykmip-server.conf into the run's directory (its own on-disk SQLite database,
// an empty policy directory so its built-in policies apply, a log file), launches
// bench/pykmip_server.py under /usr/bin/python3 in its own process group, and waits
// until the listener accepts TCP connections.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DevPkiFiles } from '../../src/server/devpki.ts';
import type { ServerHandle } from './openkcm-server.ts';
import { stopChild, waitForPort } from './proc.ts';

/** Debian's python3-pykmip imports only under this interpreter (CLIENTS.md). */
export const PYTHON = '/usr/bin/python3';
const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
const LAUNCHER = join(BENCH_DIR, 'pykmip_server.py');
const TEMPLATE = join(BENCH_DIR, 'pykmip-server.conf');

/** "PyKMIP x.y, Python x.y.z, OpenSSL …", or undefined when PyKMIP cannot be imported. */
export function pykmipVersion(): string | undefined {
  const r = spawnSync(PYTHON, ['-c',
    'import kmip, platform, ssl; print("PyKMIP %s, Python %s, %s" % (kmip.__version__, platform.python_version(), ssl.OPENSSL_VERSION))'],
  { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A loopback port free right now (PyKMIP's config refuses port 0, so we pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** bench/pykmip-server.conf with every ${name} replaced; an unknown or unfilled placeholder is an error. */
export function renderConfig(template: string, values: Record<string, string | number>): string {
  const out = template.replace(/\$\{(\w+)\}/g, (_, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`pykmip-server.conf: no value for \${${k}}`);
    const s = String(v);
    // A newline would let a value inject another configuration key.
    if (/[\r\n]/.test(s)) throw new Error(`pykmip-server.conf: value of \${${k}} holds a line break`);
    return s;
  });
  return out;
}

export interface PyKmipLaunch {
  pki: DevPkiFiles;
  /** Directory for the configuration, database, policies and log. */
  dir: string;
  /** PyKMIP logging level (DEBUG, INFO, WARNING, ERROR, CRITICAL); INFO is its default. */
  loggingLevel?: string;
}

export async function startPyKmip(name: string, launch: PyKmipLaunch, timeoutMs = 60_000): Promise<ServerHandle> {
  mkdirSync(join(launch.dir, 'policies'), { recursive: true });
  const port = await freePort();
  const configFile = join(launch.dir, 'server.conf');
  writeFileSync(configFile, renderConfig(readFileSync(TEMPLATE, 'utf8'), {
    hostname: '127.0.0.1',
    port,
    certificate_path: launch.pki.serverCert,
    key_path: launch.pki.serverKey,
    ca_path: launch.pki.caCert,
    policy_path: join(launch.dir, 'policies'),
    database_path: join(launch.dir, 'pykmip.db'),
    logging_level: launch.loggingLevel ?? 'INFO',
  }));
  const child = spawn(PYTHON, [LAUNCHER, configFile, join(launch.dir, 'server.log')], {
    // stdin is a pipe we never write: the launcher stops the server when it closes (we died).
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
  let ready = false;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (d.includes('READY')) ready = true; });
  const alive = () => child.exitCode === null && child.signalCode === null;
  try {
    const deadline = Date.now() + timeoutMs;
    while (!ready) {
      if (!alive()) throw new Error(`exited during start-up (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // READY is printed after bind, before listen(): wait for accepts.
    await waitForPort('127.0.0.1', port, Math.max(1000, deadline - Date.now()), alive);
  } catch (e) {
    child.stdin?.end();
    await stopChild(child, 2000);
    throw new Error(`${name} (PyKMIP server): ${(e as Error).message}${stderr ? `\n${stderr}` : ''}`);
  }
  return {
    name,
    host: '127.0.0.1',
    port,
    pid: child.pid,
    // SIGTERM is noticed at the next accept timeout (0.5 s in our launcher), then
    // KmipServer.stop() joins each session thread for up to 10 s; SIGKILL after 25 s.
    stop: () => {
      // Closing stdin is the launcher's own stop request (it lets its stdin watcher thread
      // end before KmipServer.stop() joins every thread); SIGTERM follows regardless.
      child.stdin?.end();
      return stopChild(child, 25_000);
    },
  };
}
