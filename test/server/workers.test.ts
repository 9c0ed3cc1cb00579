// `openkcm serve --workers 2` (issue 12, src/cli/serve-workers.ts, src/server/cluster.ts),
// real processes end to end: KMIP connections spread over both workers by the cluster's
// round robin, the admin API in worker 1, kmipctl against it. Each worker holds its own
// copy of the tenant's keys, so every act on them must reach both: rotation, seal,
// unseal, and the kill switch (refused on every connection, no key byte left in any
// worker when `kmipctl tenant kill` returns). The audit trail written by both workers under
// load stays one chain (`kmipctl audit verify`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KmipClient } from '../../src/client/index.ts';
import { Operation } from '../../src/ttlv/generated/enumerations.ts';
import { createKey, keyMaterialOf, uidPayload } from '../../bench/lib/kmip.ts';
import { startServed, type ServedEnv } from '../admin/serve.ts';

const CONNECTIONS = 6;
/** Each kmipctl call starts a Node process: seconds apiece on the loaded 2-core test machine. */
const TEST_TIMEOUT_MS = 300_000;

let s: ServedEnv;
let clients: KmipClient[] = [];

type Obj = Record<string, any>;
interface WorkerReport { worker: number; pid: number; sealed: boolean; killed: boolean; keyBuffers: number; nonZeroKeyBytes: number; services: { service: string; currentVersion: number }[] }

async function json(args: string[]): Promise<Obj> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}

async function workers(): Promise<WorkerReport[]> {
  return (await json(['tenant', 'show', 'default'])).workers as WorkerReport[];
}

/** What each connection gets for `uid`: the key bytes (hex) or the failure. */
async function getOnEveryConnection(uid: string): Promise<string[]> {
  return Promise.all(clients.map(async (c) => {
    try {
      return keyMaterialOf(await c.request(Operation.Get, uidPayload(uid))).toString('hex');
    } catch (e) {
      return `refused: ${(e as Error).message}`;
    }
  }));
}

beforeAll(async () => {
  s = await startServed({ args: ['--workers', '2'] });
  const certs = join(s.cwd, 'certs');
  const pem = { ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')) };
  for (let i = 0; i < CONNECTIONS; i++) clients.push(await KmipClient.connect({ host: '127.0.0.1', port: s.kmipPort, ...pem, timeoutMs: 60_000 }));
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  clients = [];
  await s?.stop();
}, 60_000);

describe('openkcm serve --workers 2', () => {
  it('both workers serve, each with its own keys; objects and the audit chain are shared', async () => {
    // Every connection creates; the cluster hands connections to the workers in turn.
    const uids = await Promise.all(clients.map((c) => createKey(c)));
    // Any object reads the same from every connection, whichever worker created it.
    for (const uid of uids) {
      const got = await getOnEveryConnection(uid);
      expect(got[0]).toMatch(/^[0-9a-f]{64}$/);
      expect(got).toEqual(got.map(() => got[0]));
    }
    const ws = await workers();
    expect(ws.map((w) => w.worker)).toEqual([1, 2]);
    expect(new Set(ws.map((w) => w.pid)).size).toBe(2);
    // Positive control for the kill-switch test below: both hold live key bytes now.
    for (const w of ws) {
      expect(w.sealed).toBe(false);
      expect(w.nonZeroKeyBytes).toBeGreaterThan(0);
    }

    // Load from both workers at once, then one chain: no fork, no gap.
    await Promise.all(clients.map(async (c) => { for (let i = 0; i < 40; i++) await createKey(c); }));
    const before = await json(['status']);
    const verify = await s.kmipctl(['audit', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^audit chain OK: \d+ records/);
    const records = Number(/OK: (\d+) records/.exec(verify.stdout)![1]);
    // Creates of this test alone: 6 + 240, each one record.
    expect(records).toBeGreaterThanOrEqual(CONNECTIONS * 41);
    expect(before.audit.lastSeq).toBeGreaterThanOrEqual(CONNECTIONS * 41);
  }, TEST_TIMEOUT_MS);

  it('an L3 rotation reaches every worker: both wrap new values under the new version', async () => {
    const before = (await workers()).map((w) => w.services.find((x) => x.service === 'default')?.currentVersion);
    expect(before).toEqual([1, 1]);
    await json(['service', 'rotate', 'default', 'default']);
    // Answered after every worker re-read its L3 ring.
    const after = (await workers()).map((w) => w.services.find((x) => x.service === 'default')?.currentVersion);
    expect(after).toEqual([2, 2]);
    const uid = await createKey(clients[1]!);
    expect(new Set(await getOnEveryConnection(uid)).size).toBe(1);
  }, TEST_TIMEOUT_MS);

  it('seal and unseal reach every worker', async () => {
    const uid = await createKey(clients[0]!);
    await json(['tenant', 'seal', 'default']);
    // The seal's broadcast is not awaited by the route: wait for both (bounded generously
    // for a loaded machine; bench/workers.ts measures the delay).
    const until = Date.now() + 20_000;
    let ws = await workers();
    while (!ws.every((w) => w.sealed && w.keyBuffers === 0) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
      ws = await workers();
    }
    for (const w of ws) expect(w).toMatchObject({ sealed: true, keyBuffers: 0, nonZeroKeyBytes: 0 });
    for (const g of await getOnEveryConnection(uid)) expect(g).toMatch(/^refused: .*PermissionDenied/);

    await json(['tenant', 'unseal', 'default']);
    // Unseal answers after every worker has unsealed with its own L1 call.
    for (const w of await workers()) expect(w).toMatchObject({ sealed: false, killed: false });
    const got = await getOnEveryConnection(uid);
    expect(new Set(got).size).toBe(1);
    expect(got[0]).toMatch(/^[0-9a-f]{64}$/);
  }, TEST_TIMEOUT_MS);

  it('the kill switch refuses on every connection of every worker and leaves no key bytes in any', async () => {
    const uid = await createKey(clients[2]!);
    for (const w of await workers()) expect(w.nonZeroKeyBytes).toBeGreaterThan(0);
    await json(['tenant', 'kill', 'default', '--reason', 'workers test']);
    // No waiting: the kill answers once every worker has sealed.
    const ws = await workers();
    expect(ws).toHaveLength(2);
    for (const w of ws) expect(w).toMatchObject({ sealed: true, killed: true, keyBuffers: 0, nonZeroKeyBytes: 0 });
    const got = await getOnEveryConnection(uid);
    expect(got).toHaveLength(CONNECTIONS);
    for (const g of got) expect(g).toMatch(/^refused: /);
    const verify = await s.kmipctl(['audit', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
  }, TEST_TIMEOUT_MS);
});
