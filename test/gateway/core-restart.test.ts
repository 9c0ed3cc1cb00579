// Issue 11 §5 "restart of either side", the Core's side: `openkcm serve` stopped and started
// again on the same data and port while a gateway runs. Meanwhile cached keys are served and
// nothing new is wrapped (`the core is unreachable`); afterwards the gateway reconnects by
// itself and a blob wrapped before the restart unwraps at the Core again.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, KMIPCTL, OPENKCM, run } from '../admin/serve.ts';
import { post, startGatewayProc, tokenFile, waitFor, type GatewayProc } from './helpers.ts';

const cwd = mkdtempSync(join(tmpdir(), 'openkcm-gw-restart-'));
let core: ChildProcess | undefined;
let gw: GatewayProc | undefined;
afterAll(async () => {
  await gw?.stop();
  await stopCore();
  rmSync(cwd, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function startCore(kmipPort: number): Promise<number> {
  const child = spawn(process.execPath, [OPENKCM, 'serve', '--listen', `127.0.0.1:${kmipPort}`, '--admin-listen', '127.0.0.1:0', '--log-level', 'warn'], {
    cwd, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'],
  });
  core = child;
  let stderr = '';
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`openkcm serve did not start:\n${stderr}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const admin = /Admin API: https:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (admin && /listening on 127\.0\.0\.1:\d+/.test(stderr)) { clearTimeout(timer); resolve(Number(admin[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`openkcm serve exited with ${code}:\n${stderr}`)); });
  });
}

async function stopCore(): Promise<void> {
  const c = core;
  if (c === undefined || c.exitCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (c.exitCode === null) c.kill('SIGKILL');
}

describe('gateway across a Core restart', () => {
  it('serves cached keys while the Core is down, reconnects when it is back', async () => {
    const kmipPort = await freePort();
    const adminPort = await startCore(kmipPort);
    const ctl = async (args: string[]) => {
      const r = await run(KMIPCTL, [...args, '--json'], { cwd, env: cleanEnv({ OPENKCM_ADMIN_SERVER: `https://127.0.0.1:${adminPort}` }) });
      if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')}: ${r.stderr}`);
    };
    await ctl(['tenant', 'create', 'acme']);
    await ctl(['service', 'create', 'acme', 'billing']);
    await ctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(cwd, 'gw')]);
    const token = randomBytes(32).toString('hex');
    gw = await startGatewayProc(cwd, ['--core', `127.0.0.1:${kmipPort}`, '--listen', '127.0.0.1:0', '--certs', join(cwd, 'gw'), '--token-file', tokenFile(cwd, token), '--probe-interval', '100']);
    const g = gw;
    const api = (path: string, body: unknown) => post(g.port, path, body, token);
    const dk = await api('/v1/datakey', { service: 'billing', context: 'c' });
    expect(dk.status).toBe(200);

    await stopCore();
    const cached = await api('/v1/datakey/unwrap', { service: 'billing', wrapped: dk.body.wrapped, context: 'c' });
    expect(cached.body.plaintext).toBe(dk.body.plaintext);
    const fresh = await api('/v1/datakey', { service: 'billing' });
    expect(fresh.status).toBe(503);
    expect(fresh.body.error).toMatch(/^the core is unreachable/);

    await startCore(kmipPort);
    await waitFor(async () => (await api('/v1/datakey', { service: 'billing' })).status === 200, 30_000, 100);
    // Rewrap always goes to the Core: the blob of before the restart still opens there.
    const rw = await api('/v1/datakey/rewrap', { service: 'billing', wrapped: dk.body.wrapped, context: 'c' });
    expect(rw.status).toBe(200);
    expect(rw.body.l3Version).toBe(1);
  }, 180_000);
});
