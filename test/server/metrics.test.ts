// /metrics, /healthz and /readyz of `openkcm serve` (issue 14 §2), real processes end to end:
// KMIP load over real mutual TLS (2.1 and 1.4 clients, successes and failures, a refused
// handshake), then the Prometheus text read from the metrics listener. One process first
// (HTTPS without a client certificate, as configured), then `--workers 2`, whose primary
// must sum what both workers counted. Nothing secret may appear in the text: the key bytes
// the test fetched, the L1 key file, the private keys of the PKI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fetchText } from '../helpers/http.ts';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmipClient } from '../../src/client/index.ts';
import { Operation } from '../../src/ttlv/generated/enumerations.ts';
import { createKey, keyMaterialOf, uidPayload } from '../../bench/lib/kmip.ts';
import { OPENKCM } from '../helpers/cli.ts';
import { cleanEnv } from '../admin/serve.ts';
import { REQUIRED_FAMILIES, samples } from '../helpers/metrics.ts';


interface Served {
  cwd: string;
  kmipPort: number;
  metricsUrl: string;
  pem: { ca: Buffer; cert: Buffer; key: Buffer };
  stop(): Promise<void>;
}

async function serve(args: string[], env: Record<string, string>): Promise<Served> {
  const cwd = mkdtempSync(join(tmpdir(), 'openkcm-metrics-'));
  const child: ChildProcess = spawn(process.execPath, [OPENKCM, 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn', ...args], {
    cwd, env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const found = await new Promise<{ kmip: number; metrics: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`openkcm serve did not start within 150 s:\n${stderr}`)), 150_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const kmip = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      const metrics = /Metrics: (https?:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(stderr);
      if (kmip && metrics) { clearTimeout(timer); resolve({ kmip: Number(kmip[1]), metrics: metrics[1]! }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`openkcm serve exited with ${code}:\n${stderr}`)); });
  });
  const certs = join(cwd, 'certs');
  return {
    cwd, kmipPort: found.kmip, metricsUrl: found.metrics,
    pem: { ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')) },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

/** GET over HTTPS; `client` presents the dev client certificate. */
async function get(s: Served, path: string, client = false): Promise<{ status: number; type: string; body: string }> {
  const a = await fetchText(`${s.metricsUrl}${path}`, { ca: s.pem.ca, ...(client ? { cert: s.pem.cert, key: s.pem.key } : {}), timeout: 30_000 });
  return { status: a.status, type: String(a.headers['content-type']), body: a.body };
}

const sum = (m: Map<string, number>, filter: (labels: string) => boolean = () => true) => [...m].filter(([l]) => filter(l)).reduce((a, [, v]) => a + v, 0);

/** A TLS handshake without a client certificate on the KMIP port: refused by the server. */
function refusedHandshake(s: Served): Promise<void> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: '127.0.0.1', port: s.kmipPort, ca: s.pem.ca, servername: 'localhost', rejectUnauthorized: false });
    const done = () => { sock.destroy(); resolve(); };
    sock.on('error', done);
    sock.on('close', done);
    sock.on('secureConnect', () => sock.write(Buffer.alloc(8)));
  });
}

function secretsOf(s: Served, keyHex: string[]): string[] {
  const pemBody = (f: string) => readFileSync(join(s.cwd, f), 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
  const l1 = readFileSync(join(s.cwd, 'data', 'l1-software.key'));
  return [
    ...keyHex, ...keyHex.map((h) => Buffer.from(h, 'hex').toString('base64')),
    l1.toString('hex'), l1.toString('base64'), l1.toString('utf8').trim(),
    ...pemBody('certs/client.key'), ...pemBody('certs/server.key'), ...pemBody('certs/ca.key'),
  ].filter((x) => x.length >= 16);
}

describe('openkcm serve: /metrics, /healthz, /readyz (one process, HTTPS without client certificate)', () => {
  let s: Served;
  const clients: KmipClient[] = [];
  beforeAll(async () => {
    s = await serve([], { OPENKCM_METRICS_CLIENT_CERT: 'false' });
  }, 180_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await s?.stop();
  }, 60_000);

  it('counts real KMIP traffic by operation, result and version; nothing secret in the text', async () => {
    for (let i = 0; i < 3; i++) clients.push(await KmipClient.connect({ host: '127.0.0.1', port: s.kmipPort, ...s.pem, timeoutMs: 60_000 }));
    const old = await KmipClient.connect({ host: '127.0.0.1', port: s.kmipPort, ...s.pem, timeoutMs: 60_000, version: { major: 1, minor: 4 } });
    clients.push(old);
    const uids = await Promise.all(clients.slice(0, 3).map(async (c) => { const u: string[] = []; for (let i = 0; i < 10; i++) u.push(await createKey(c)); return u; }));
    const keyHex: string[] = [];
    for (const u of uids.flat().slice(0, 5)) keyHex.push(keyMaterialOf(await clients[0]!.request(Operation.Get, uidPayload(u))).toString('hex'));
    for (let i = 0; i < 4; i++) await createKey(old);
    await expect(clients[1]!.request(Operation.Get, uidPayload('no-such-object'))).rejects.toThrow(/ObjectNotFound/);
    await refusedHandshake(s);

    const r = await get(s, '/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = r.body;
    for (const f of REQUIRED_FAMILIES) expect(text, f).toMatch(new RegExp(`^# TYPE ${f} `, 'm'));

    const req = samples(text, 'openkcm_kmip_requests_total');
    expect(req.get('{operation="Create",result="Success",version="2.1"}')).toBe(30);
    expect(req.get('{operation="Create",result="Success",version="1.4"}')).toBe(4);
    expect(req.get('{operation="Get",result="Success",version="2.1"}')).toBe(5);
    expect(req.get('{operation="Get",result="ObjectNotFound",version="2.1"}')).toBe(1);
    // One latency sample per item that ran: 34 Creates, 6 Gets.
    expect(samples(text, 'openkcm_kmip_request_duration_seconds_count').get('{operation="Create"}')).toBe(34);
    expect(samples(text, 'openkcm_kmip_request_duration_seconds_count').get('{operation="Get"}')).toBe(6);
    expect(samples(text, 'openkcm_kmip_batch_items_count').get('')).toBe(40);
    expect(samples(text, 'openkcm_kmip_connections_open').get('{state="authenticated"}')).toBe(4);
    expect(sum(samples(text, 'openkcm_tls_handshake_failures_total'), (l) => l.includes('reason="no-certificate"') || l.includes('reason="protocol-error"'))).toBeGreaterThanOrEqual(1);
    expect(samples(text, 'openkcm_tenants').get('{state="unsealed"}')).toBe(1);
    // The tenant's L2 was wrapped or unwrapped by the (development) L1 at least once.
    expect(sum(samples(text, 'openkcm_l1_calls_total'), (l) => l.includes('provider="software"') && l.includes('outcome="ok"'))).toBeGreaterThanOrEqual(1);
    expect(samples(text, 'openkcm_audit_commit_duration_seconds_count').get('')).toBeGreaterThan(0);
    expect(sum(samples(text, 'openkcm_store_commit_duration_seconds_count'))).toBeGreaterThan(0);
    expect(samples(text, 'process_cpu_seconds_total').get('')).toBeGreaterThan(0);

    for (const secret of secretsOf(s, keyHex)) expect(text.includes(secret), `a secret (${secret.slice(0, 8)}…) in /metrics`).toBe(false);
    expect(text).not.toMatch(/PRIVATE KEY|BEGIN /);
  }, 300_000);

  it('/healthz and /readyz answer JSON with 200; unknown paths and methods are refused plainly', async () => {
    const h = await get(s, '/healthz');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toMatchObject({ status: 'alive' });
    const r = await get(s, '/readyz');
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'ready', checks: [{ name: 'store', ok: true }, { name: 'tenants', ok: true }, { name: 'audit', ok: true }] });
    // Nothing names a tenant: counts only.
    expect(r.body).not.toContain('default');
    const n = await get(s, '/nope');
    expect(n.status).toBe(404);
    expect(JSON.parse(n.body).error).toMatch(/\/metrics/);
  }, 60_000);
});

describe('openkcm serve --workers 2: /metrics sums both workers, /readyz asks both', () => {
  let s: Served;
  const clients: KmipClient[] = [];
  beforeAll(async () => {
    // Mutual TLS on the metrics listener (the default).
    s = await serve(['--workers', '2'], {});
  }, 240_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await s?.stop();
  }, 60_000);

  it('counts from both workers add up to the traffic sent', async () => {
    // The cluster hands connections to the workers in turn: 4 connections, 2 on each.
    for (let i = 0; i < 4; i++) clients.push(await KmipClient.connect({ host: '127.0.0.1', port: s.kmipPort, ...s.pem, timeoutMs: 60_000 }));
    await Promise.all(clients.map(async (c) => { for (let i = 0; i < 6; i++) await createKey(c); }));
    // Without a client certificate: refused (mutual TLS by default).
    await expect(get(s, '/metrics')).rejects.toThrow();
    const text = (await get(s, '/metrics', true)).body;
    expect(samples(text, 'openkcm_kmip_requests_total').get('{operation="Create",result="Success",version="2.1"}')).toBe(24);
    expect(samples(text, 'openkcm_kmip_connections_open').get('{state="authenticated"}')).toBe(4);
    // Same-valued gauges are not doubled.
    expect(samples(text, 'openkcm_info').get('{component="serve"}')).toBe(1);
    expect(samples(text, 'openkcm_tenants').get('{state="unsealed"}')).toBe(1);
    // Both workers served: each made its own L1 call to open the tenant.
    expect(sum(samples(text, 'openkcm_l1_calls_total'), (l) => l.includes('outcome="ok"'))).toBeGreaterThanOrEqual(2);
    const ready = await get(s, '/readyz', true);
    expect(ready.status, ready.body).toBe(200);
    const names = (JSON.parse(ready.body).checks as { name: string }[]).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['worker 1 store', 'worker 2 store', 'worker 1 audit', 'worker 2 tenants']));
  }, 300_000);
});
