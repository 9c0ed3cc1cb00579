// A second OpenKCM as another KMIP server, for the kmip L1 provider's tests: `openkcm serve`
// as a child process on a fresh directory (development PKI generated, bootstrap mode: every
// certificate of its CA acts as admin of tenant `default`). stop() sends SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPENKCM } from '../helpers/cli.ts';

const BIN = OPENKCM;

export interface OpenKcmChild {
  host: string;
  port: number;
  servername: string;
  caFile: string;
  certFile: string;
  clientKeyFile: string;
  stop(): Promise<void>;
}

export async function startOpenKcmChild(): Promise<OpenKcmChild> {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-l1-peer-'));
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--data', 'data', '--certs', 'certs'], {
    cwd: dir,
    // One process (test/admin/serve.ts cleanEnv says why).
    env: { PATH: process.env.PATH ?? '', OPENKCM_WORKERS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = Date.now() + 60_000;
  // The listener logs `listening` before the admin API starts and the banner is written.
  while (!(out.includes('"event":"listening"') && err.includes('Admin API:'))) {
    if (child.exitCode !== null) throw new Error(`openkcm serve exited with ${child.exitCode}: ${err}`);
    if (Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`openkcm serve did not start within 60 s: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const port = JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!).port as number;
  return {
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    caFile: join(dir, 'certs', 'ca.crt'),
    certFile: join(dir, 'certs', 'client.crt'),
    clientKeyFile: join(dir, 'certs', 'client.key'),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
