// A REAL third-party KMIP server for the kmip L1 provider's tests: PyKMIP's software server
// (Debian python3-pykmip 0.10, run with /usr/bin/python3), started as a child process with a
// configuration file, TLS certificates generated for the test (certs/devpki.ts, RSA: the
// PyKMIP TLS1.2 suite's cipher list is RSA/ECDHE-RSA), an empty operation-policy directory
// and a SQLite database in a temp dir. stop() kills the child and removes the directory.
//
// PyKMIP's server identifies a client by the common name of its certificate (which must
// carry extendedKeyUsage clientAuth) and makes it the owner of what it creates; objects are
// usable only by their owner under the default policy, so the test's "customer console"
// client uses the same client certificate as the provider.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevPki, type DevPkiFiles } from '../../certs/devpki.ts';

export const PYTHON = '/usr/bin/python3';

export function pykmipAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import kmip.services.server'], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

export interface PyKmipServer {
  host: string;
  port: number;
  pki: DevPkiFiles;
  dir: string;
  log(): string;
  stop(): Promise<void>;
  /** Stops the process, keeping its port, database and certificates for resume(). */
  halt(): Promise<void>;
  resume(): Promise<void>;
}

export async function startPyKmipServer(): Promise<PyKmipServer> {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-pykmip-'));
  const { files } = await ensureDevPki(join(dir, 'pki'), { algorithm: 'rsa-2048' });
  mkdirSync(join(dir, 'policies'));
  const port = await freePort();
  const conf = join(dir, 'server.conf');
  writeFileSync(
    conf,
    [
      '[server]',
      'hostname=127.0.0.1',
      `port=${port}`,
      `certificate_path=${files.serverCert}`,
      `key_path=${files.serverKey}`,
      `ca_path=${files.caCert}`,
      'auth_suite=TLS1.2',
      `policy_path=${join(dir, 'policies')}`,
      'enable_tls_client_auth=True',
      'logging_level=INFO',
      `database_path=${join(dir, 'pykmip.db')}`,
      '',
    ].join('\n'),
  );
  const logPath = join(dir, 'server.log');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    let stderr = '';
    const c = spawn(PYTHON, ['-m', 'kmip.services.server.server', '-f', conf, '-l', logPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    let dead = false;
    c.once('exit', () => (dead = true));
    // PyKMIP loads its policies and binds in a second or two; a loaded machine needs more.
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      if (dead) throw new Error(`pykmip server exited at start: ${stderr}\n${safeRead(logPath)}`);
      if (await portOpen(port)) return;
      await new Promise((r) => setTimeout(r, 150));
    }
    c.kill('SIGKILL');
    throw new Error(`pykmip server did not listen on ${port} within 30 s: ${stderr}`);
  };
  const stop = async () => {
    if (child === undefined || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child?.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    pki: files,
    dir,
    log: () => safeRead(logPath),
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    halt: stop,
    resume: start,
  };
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
