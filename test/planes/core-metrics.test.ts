// /metrics, /healthz and /readyz of `openkcm core --metrics-listen` (issue 14 §2 for the
// regional core), real processes: an `openkcm cmk`, one tenant pinned to region eu with a
// software L1 key file, one `openkcm core` on its SQLite vault. KMIP load through the core
// over mutual TLS, then the Prometheus text read from the core's metrics listener (mutual
// TLS by default, with the KMIP listener's certificate and CA). Counts are exact: the
// counters are read before and after the load, so the readiness probes of the set-up do
// not blur them. Nothing secret may appear: the key bytes fetched, the L1 key file, the
// private keys of the PKI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fetchText } from '../helpers/http.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KmipClient } from '../../src/client/index.ts';
import { Operation } from '../../src/ttlv/generated/enumerations.ts';
import { createKey, keyMaterialOf, uidPayload } from '../../bench/lib/kmip.ts';
import { REQUIRED_FAMILIES, samples } from '../helpers/metrics.ts';
import { cleanEnv, OPENKCM, run } from '../admin/serve.ts';
import { issuedPair, kmipClient, probe, startCmk, startCore, until, type CmkHandle, type CoreHandle } from './harness.ts';

let dir: string;
let cmk: CmkHandle | undefined;
let core: CoreHandle | undefined;
let metricsUrl: string;
let app: { cert: string; key: string };
let l1Key: string;
const TENANT = 'acme';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'openkcm-core-metrics-'));
  cmk = await startCmk(dir);
  l1Key = join(dir, 'acme-l1.key');
  await cmk.admin.post('/v1/tenants', { name: TENANT, regions: ['eu'] });
  await cmk.admin.post(`/v1/tenants/${TENANT}/services`, { name: 'web' });
  await cmk.admin.put(`/v1/tenants/${TENANT}/l1`, { provider: 'software', config: { keyFile: l1Key } });
  for (const [args, what] of [
    [['cert', 'issue', '--tenant', TENANT, '--service', 'web', '--role', 'app', '--out', join(dir, 'app')], 'app certificate'],
    [['cert', 'issue', '--role', 'core', '--region', 'eu', '--name', 'm1', '--out', join(dir, 'link')], 'core certificate'],
  ] as const) {
    const r = await cmk.kmipctl([...args]);
    if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
  }
  app = issuedPair(join(dir, 'app'));
  // Port 0: the banner names the address the listener got.
  core = await startCore(dir, cmk, { name: 'm1', region: 'eu', linkDir: join(dir, 'link'), args: ['--metrics-listen', '127.0.0.1:0'] });
  const m = /Metrics: (https:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(core.proc.output());
  if (!m) throw new Error(`no metrics banner:\n${core.proc.output()}`);
  metricsUrl = m[1]!;
  // The core unseals the tenant with its L1 after the snapshot: wait until it serves.
  await until(async () => ((await probe(core!.port, join(cmk!.certs, 'ca.crt'), app)) === undefined ? true : undefined), 60_000, 'the core serving acme');
}, 300_000);

afterAll(async () => {
  await core?.proc.stop().catch(() => undefined);
  await cmk?.proc.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

/** GET on the metrics listener; `client` presents the CMK's development client certificate (same CA as the core's KMIP listener). */
async function get(path: string, client = true): Promise<{ status: number; type: string; body: string }> {
  const certs = cmk!.certs;
  const a = await fetchText(`${metricsUrl}${path}`, {
    ca: readFileSync(join(certs, 'ca.crt')), timeout: 30_000,
    ...(client ? { cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')) } : {}),
  });
  return { status: a.status, type: String(a.headers['content-type']), body: a.body };
}

const counter = (text: string, name: string, labels: string) => samples(text, name).get(labels) ?? 0;

describe('openkcm core --metrics-listen: /metrics, /healthz, /readyz', () => {
  it('counts the KMIP requests sent through the core exactly; nothing secret in the text', async () => {
    const before = (await get('/metrics')).body;
    const ca = join(cmk!.certs, 'ca.crt');
    const clients: KmipClient[] = [await kmipClient(core!.port, ca, app), await kmipClient(core!.port, ca, app)];
    const keyHex: string[] = [];
    try {
      const uids: string[] = [];
      for (const c of clients) for (let i = 0; i < 6; i++) uids.push(await createKey(c));
      for (const u of uids.slice(0, 4)) keyHex.push(keyMaterialOf(await clients[0]!.request(Operation.Get, uidPayload(u))).toString('hex'));
      await expect(clients[1]!.request(Operation.Get, uidPayload('no-such-object'))).rejects.toThrow(/ObjectNotFound/);
      const r = await get('/metrics');
      expect(r.status).toBe(200);
      expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = r.body;
      for (const f of REQUIRED_FAMILIES) expect(text, f).toMatch(new RegExp(`^# TYPE ${f} `, 'm'));
      const delta = (name: string, labels: string) => counter(text, name, labels) - counter(before, name, labels);
      expect(delta('openkcm_kmip_requests_total', '{operation="Create",result="Success",version="2.1"}')).toBe(12);
      expect(delta('openkcm_kmip_requests_total', '{operation="Get",result="Success",version="2.1"}')).toBe(4);
      expect(delta('openkcm_kmip_requests_total', '{operation="Get",result="ObjectNotFound",version="2.1"}')).toBe(1);
      expect(delta('openkcm_kmip_request_duration_seconds_count', '{operation="Create"}')).toBe(12);
      expect(delta('openkcm_kmip_request_duration_seconds_count', '{operation="Get"}')).toBe(5);
      // Both load connections are open now (the set-up's probes closed theirs).
      expect(samples(text, 'openkcm_kmip_connections_open').get('{state="authenticated"}')).toBe(2);
      expect(samples(text, 'openkcm_info').get('{component="core"}')).toBe(1);
      expect(samples(text, 'openkcm_tenants').get('{state="unsealed"}')).toBe(1);
      // The core opened the tenant's L2 with its L1 (recursive unsealing): observed calls.
      expect([...samples(text, 'openkcm_l1_calls_total')].filter(([l]) => l.includes('provider="software"') && l.includes('outcome="ok"')).reduce((a, [, v]) => a + v, 0)).toBeGreaterThanOrEqual(1);
      expect(delta('openkcm_audit_commit_duration_seconds_count', '')).toBeGreaterThan(0);
      expect(delta('openkcm_store_commit_duration_seconds_count', '{store="sqlite"}')).toBeGreaterThan(0);

      const pemBody = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
      const l1 = readFileSync(l1Key);
      const secrets = [
        ...keyHex, ...keyHex.map((h) => Buffer.from(h, 'hex').toString('base64')),
        l1.toString('hex'), l1.toString('base64'), l1.toString('utf8').trim(),
        ...pemBody(app.key), ...pemBody(issuedPair(join(dir, 'link')).key), ...pemBody(join(cmk!.certs, 'server.key')), ...pemBody(join(cmk!.certs, 'ca.key')),
      ].filter((x) => x.length >= 16);
      expect(keyHex).toHaveLength(4);
      for (const s of secrets) expect(text.includes(s), `a secret (${s.slice(0, 8)}…) in /metrics`).toBe(false);
      expect(text).not.toMatch(/PRIVATE KEY|BEGIN /);
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  }, 300_000);

  it('/healthz and /readyz answer 200 with a client certificate; without one the listener refuses', async () => {
    const h = await get('/healthz');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toMatchObject({ status: 'alive' });
    const r = await get('/readyz');
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'ready', checks: [{ name: 'store', ok: true }, { name: 'tenants', ok: true, detail: '1 of 1 tenants unsealed' }, { name: 'audit', ok: true }] });
    expect(r.body).not.toContain(TENANT);
    // Mutual TLS by default, as serve's.
    await expect(get('/metrics', false)).rejects.toThrow();
  }, 60_000);

  it('a bad --metrics-listen or one on the KMIP port is one line, exit 2', async () => {
    const base = ['core', '--region', 'eu', '--cmk', 'https://127.0.0.1:1', '--certs', cmk!.certs, '--cert', issuedPair(join(dir, 'link')).cert,
      '--key', issuedPair(join(dir, 'link')).key, '--listen', '127.0.0.1:5696'];
    for (const [extra, re] of [
      [['--metrics-listen', 'nowhere'], /^openkcm core: --metrics-listen "nowhere" is not HOST:PORT/],
      [['--metrics-listen', '127.0.0.1:5696'], /^openkcm core: --metrics-listen: port 5696 is the KMIP \(TTLV\) port/],
      [['--metrics-listen', '127.0.0.1:9464', '--metrics-tls', 'maybe'], /^openkcm core: --metrics-tls "maybe": expected true or false/],
    ] as const) {
      const r = await run(OPENKCM, [...base, ...extra], { cwd: dir, env: cleanEnv(), timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  }, 180_000);
});
