// /readyz (issue 14 §2): "store open, at least one tenant unsealed or none configured, audit
// writable", each made to fail for real on a real runtime (two tenants, identities, the
// SQLite database) and read over the real metrics listener: every tenant sealed by the
// hierarchy engine, the audit database refusing writes (query_only: SQLite's own refusal)
// under a real request, the store's database closed. 503 with the failing check named,
// 200 again once the condition is gone; /healthz stays 200 throughout (alive is not ready).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../helpers/http.ts';
import { Operation } from '../../src/ttlv/generated/enumerations.ts';
import { openRuntime, runtimeReadinessSources, type Runtime } from '../../src/server/runtime.ts';
import { readiness } from '../../src/server/health.ts';
import { startMetricsServer, type RunningMetricsServer } from '../../src/server/metrics-http.ts';
import { silentLogger } from '../../src/log/index.ts';
import { ALPHA, BETA, call, openWorld, type World } from '../isolation/world.ts';

async function get(m: RunningMetricsServer, path: string, method = 'GET'): Promise<{ status: number; body: any }> {
  const { port } = m.address();
  const a = await fetchText(`http://127.0.0.1:${port}${path}`, { method, timeout: 20_000 });
  return { status: a.status, body: a.body === '' ? undefined : JSON.parse(a.body) };
}

const failing = (body: { checks: { name: string; ok: boolean }[] }) => body.checks.filter((c) => !c.ok).map((c) => c.name);

async function serveReadiness(rt: Runtime): Promise<RunningMetricsServer> {
  const sources = runtimeReadinessSources(rt);
  return startMetricsServer({
    listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger(),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    readiness: () => readiness(sources),
  });
}

describe('/readyz on a runtime with tenants', () => {
  let w: World;
  let m: RunningMetricsServer;
  beforeAll(async () => {
    w = await openWorld();
    m = await serveReadiness(w.rt);
  }, 60_000);
  afterAll(async () => {
    await m?.close();
    await w?.close();
  });

  it('is ready with both tenants open', async () => {
    const r = await get(m, '/readyz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ready', checks: [
      { name: 'store', ok: true, detail: 'open' },
      { name: 'tenants', ok: true, detail: expect.stringMatching(/^2 of 2 tenants unsealed$/) },
      { name: 'audit', ok: true, detail: 'writable' },
    ] });
    expect(JSON.stringify(r.body)).not.toMatch(/tenant-alpha|tenant-beta/);
  });

  it('one tenant sealed: still ready; every tenant sealed: 503 naming the tenants check; unsealed again: ready', async () => {
    const engine = w.rt.hierarchy.engine;
    engine.seal(ALPHA.tenant, 'test: seal');
    expect((await get(m, '/readyz')).status).toBe(200);
    engine.seal(BETA.tenant, 'test: seal');
    const r = await get(m, '/readyz');
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('not ready');
    expect(failing(r.body)).toEqual(['tenants']);
    expect(r.body.checks[1].detail).toBe('0 of 2 tenants unsealed');
    expect((await get(m, '/healthz')).status).toBe(200);
    await engine.unsealTenant(BETA.tenant);
    expect((await get(m, '/readyz')).status).toBe(200);
    await engine.unsealTenant(ALPHA.tenant);
  });

  it('the audit database refuses writes under a request: 503 naming audit; writable again: ready', async () => {
    const db = w.rt.local.database;
    db.pragma('query_only = ON');
    try {
      await call(w, w.who.alphaAdmin, Operation.Query, []);
      // The record of that request cannot be committed: the log says so.
      const deadline = Date.now() + 20_000;
      while (w.rt.audit.availability().ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const r = await get(m, '/readyz');
      expect(r.status).toBe(503);
      expect(failing(r.body)).toEqual(['audit']);
      expect(r.body.checks[2].detail).toMatch(/^not writable: .*refuses writes/);
    } finally {
      db.pragma('query_only = OFF');
    }
    const deadline = Date.now() + 30_000;
    while (!w.rt.audit.availability().ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await get(m, '/readyz')).status).toBe(200);
  }, 60_000);

  it('unknown paths answer 404, other methods 405', async () => {
    expect((await get(m, '/nothing')).status).toBe(404);
    expect((await get(m, '/readyz', 'POST')).status).toBe(405);
  });
});

describe('/readyz without tenants, then with its store closed', () => {
  it('no tenant configured is ready; the closed database is 503 naming the store', async () => {
    const rt = await openRuntime();
    const m = await serveReadiness(rt);
    try {
      const r = await get(m, '/readyz');
      expect(r.status).toBe(200);
      expect(r.body.checks[1]).toEqual({ name: 'tenants', ok: true, detail: 'no tenant configured' });
      await rt.local.close();
      const closed = await get(m, '/readyz');
      expect(closed.status).toBe(503);
      expect(failing(closed.body)).toContain('store');
      expect(closed.body.checks[0].detail).toMatch(/^not usable: .*not open/);
      expect((await get(m, '/healthz')).status).toBe(200);
    } finally {
      await m.close();
      await rt.close().catch(() => undefined);
    }
  }, 60_000);
});
