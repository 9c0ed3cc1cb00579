// The CMK's link routes over real HTTPS with mutual TLS (issue 10 §2-3): region-filtered
// snapshot, ordered change stream pushed on commit, resume without loss, 410 past the
// retention, core certificates confined to their region and to the link routes, audit
// ingest once per record, node status in `status`, many streams and dead clients.
//
// One suite, two backends: cmkLinkSuite runs on SQLite (cmk.db) in cmk-link.test.ts and in
// cmk-link-pg.test.ts with the CMK on PostgreSQL (issue 10 §4).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startExporters } from '../../src/audit/index.ts';
import { startCmkEnv, type CertFiles, type CmkEnv, type SseClient } from './helpers.ts';

const admin = (env: CmkEnv) => env.admin;

/** acme: eu; beta: us; gamma: eu + us; default (bootstrap): no region. */
async function populate(env: CmkEnv): Promise<void> {
  const a = admin(env);
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await env.call(a, method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  };
  await ok('POST', '/v1/tenants', { name: 'acme', regions: ['eu-central'] });
  await ok('POST', '/v1/tenants', { name: 'beta', regions: ['us-east'] });
  await ok('POST', '/v1/tenants', { name: 'gamma', regions: ['eu-central', 'us-east'] });
  for (const t of ['acme', 'beta', 'gamma']) {
    await ok('POST', `/v1/tenants/${t}/services`, { name: 'web' });
    await ok('POST', `/v1/tenants/${t}/services`, { name: 'batch' });
    await ok('POST', '/v1/identities', { tenant: t, service: 'web', role: 'app', fingerprint: (t.charCodeAt(0).toString(16) + '00').repeat(16).slice(0, 64) });
    await ok('POST', `/v1/tenants/${t}/grants`, { fromService: 'web', toService: 'batch', operations: ['Get'] });
    await ok('PUT', `/v1/tenants/${t}/l1`, { provider: 'aws-kms', config: { keyId: `arn:aws:kms:eu-central-1:111122223333:key/${t}`, region: 'eu-central-1' } });
  }
  await ok('POST', '/v1/roles', { name: 'reader', operations: ['Get', 'Locate'] });
}

export function cmkLinkSuite(backend: string, databaseUrl: () => Promise<string | undefined>): void {
describe(`link routes of a CMK on ${backend}`, () => {
  let env: CmkEnv;
  let eu: CertFiles;
  let us: CertFiles;
  let ap: CertFiles;
  beforeAll(async () => {
    env = await startCmkEnv({ heartbeatMs: 200, ...await dbOpt(databaseUrl) });
    await populate(env);
    eu = await env.issueCore('eu-central', 'eu-1');
    us = await env.issueCore('us-east', 'us-1');
    ap = await env.issueCore('ap-south', 'ap-1');
  }, 60_000);
  afterAll(async () => { await env?.close(); });

  it('a snapshot holds what its region serves and nothing of another region', async () => {
    const s = (await env.call(eu, 'GET', '/v1/link/snapshot')).body;
    expect(s.protocol).toBe(1);
    expect(s.region).toBe('eu-central');
    expect(s.tenants.map((t: { id: string }) => t.id).sort()).toEqual(['acme', 'gamma']);
    expect(s.tenants.find((t: { id: string }) => t.id === 'gamma').regions).toEqual(['eu-central', 'us-east']);
    for (const list of [s.services, s.identities, s.grants, s.l1Pointers]) {
      expect(list.length).toBeGreaterThan(0);
      expect(new Set(list.map((x: { tenant: string }) => x.tenant))).toEqual(new Set(['acme', 'gamma']));
    }
    expect(s.l1Pointers.every((p: { config: Record<string, unknown> }) => typeof p.config.keyId === 'string')).toBe(true);
    expect(s.roles.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(['admin', 'app', 'reader']));
    // Nothing of beta (us-east only) or of default (no region), anywhere in the document.
    const text = JSON.stringify(s);
    expect(text).not.toContain('"beta"');
    expect(text).not.toContain('key/beta');
    expect(text).not.toContain('"default"');
    expect(s.seq).toBe((await env.cmk.governance.changeBounds()).latest);

    const u = (await env.call(us, 'GET', '/v1/link/snapshot')).body;
    expect(u.tenants.map((t: { id: string }) => t.id).sort()).toEqual(['beta', 'gamma']);
    expect(JSON.stringify(u)).not.toContain('key/acme');
    const none = (await env.call(ap, 'GET', '/v1/link/snapshot')).body;
    expect(none.tenants).toEqual([]);
    expect(none.identities).toEqual([]);
  });

  it("a core certificate of region A is refused on region B's data", async () => {
    const r = await env.call(eu, 'GET', '/v1/link/snapshot?region=us-east');
    expect(r.status).toBe(403);
    expect(r.body.error.message).toContain('region eu-central');
    await expect(env.stream(eu, '/v1/link/changes?after=0&region=us-east')).rejects.toMatchObject({ status: 403 });
    const st = await env.call(eu, 'POST', '/v1/link/status', { node: 'eu-1', region: 'eu-central', at: new Date().toISOString(), seq: 1, tenants: [{ tenant: 'beta', state: 'unsealed' }] });
    expect(st.status).toBe(403);
    expect(st.body.error.message).toContain('beta');
    const au = await env.call(eu, 'POST', '/v1/link/audit', { node: 'eu-1', region: 'us-east', records: [] });
    expect(au.status).toBe(403);
    const other = await env.call(eu, 'POST', '/v1/link/audit', { node: 'us-1', region: 'eu-central', records: [] });
    expect(other.status).toBe(403);
  });

  it('a core certificate reaches no admin route; an admin certificate reaches no link route', async () => {
    for (const [m, p] of [['GET', '/v1/status'], ['GET', '/v1/tenants'], ['POST', '/v1/tenants'], ['GET', '/v1/audit/tail'], ['POST', '/v1/tenants/acme/kill']] as const) {
      const r = await env.call(eu, m, p, m === 'POST' ? { name: 'x' } : undefined);
      expect(r.status, `${m} ${p}`).toBe(403);
      expect(r.body.error.hint).toContain('link routes');
    }
    expect(await env.cmk.governance.getTenant('x')).toBeUndefined();
    expect((await env.cmk.governance.getTenant('acme'))!.state).toBe('active');
    const r = await env.call(admin(env), 'GET', '/v1/link/snapshot');
    expect(r.status).toBe(403);
    expect(r.body.error.hint).toContain('--role core');
    // Refusals are decisions worth keeping.
    const tail = (await env.call(admin(env), 'GET', '/v1/audit/tail?n=50')).body.records as Array<{ kind: string; identity: string; operation: string }>;
    expect(tail.some((x) => x.kind === 'auth-failure' && x.identity.startsWith('core eu-1 (region eu-central)') && x.operation === 'tenant.kill')).toBe(true);
  });

  it('a revoked core certificate gets nothing', async () => {
    const c = await env.issueCore('eu-central', 'doomed');
    expect((await env.call(c, 'GET', '/v1/link/snapshot')).status).toBe(200);
    const rv = await env.call(admin(env), 'POST', '/v1/certificates/revoke', { serial: c.serial });
    expect(rv.status).toBe(200);
    expect(rv.body.revoked[0]).toMatchObject({ role: 'core', node: 'doomed', revoked: true });
    expect((await env.call(c, 'GET', '/v1/link/snapshot')).status).toBe(403);
  });

  it('the stream pushes each committed change at once, in seq order, filtered by region', async () => {
    const snap = (await env.call(eu, 'GET', '/v1/link/snapshot')).body;
    const s = await env.stream(eu, `/v1/link/changes?after=${snap.seq}`);
    const u = await env.stream(us, `/v1/link/changes?after=${snap.seq}`);
    try {
      await s.until((c) => c.events.some((e) => e.event === 'heartbeat'), 'the first heartbeat');
      const latencies: number[] = [];
      const steps: Array<[string, string, unknown?]> = [
        ['POST', '/v1/tenants/acme/seal', { reason: 'test' }],
        ['POST', '/v1/tenants/beta/seal', {}],
        ['POST', '/v1/tenants/acme/services', { name: 'mail' }],
        ['POST', '/v1/tenants/gamma/unseal'],
        ['POST', '/v1/roles', { name: 'writer', operations: ['Create'] }],
        ['DELETE', '/v1/tenants/acme/grants/web/batch'],
        ['POST', '/v1/tenants/acme/services/web/rotate'],
        ['POST', '/v1/tenants/acme/kill', { reason: 'test kill' }],
      ];
      for (const [m, p, b] of steps) {
        const before = s.changes().length;
        const t0 = performance.now();
        const r = await env.call(admin(env), m, p, b);
        expect(r.status, `${m} ${p}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
        if (p.includes('/beta/')) continue; // not for eu
        await s.until((c) => c.changes().length > before, `the change of ${m} ${p}`);
        latencies.push(s.events.filter((e) => e.event === 'change').at(-1)!.receivedAt - t0);
      }
      // The kill is two mutations (state, then pointer): two commits, which on PostgreSQL may
      // reach the stream one after the other. Wait for all of them, not for the first.
      await s.until((c) => c.changes().length >= 8, 'every change of the steps');
      const got = s.changes();
      const seqs = got.map((c) => c.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(got.every((c) => c.tenant === undefined || c.tenant === 'acme' || c.tenant === 'gamma')).toBe(true);
      expect(got.map((c) => `${c.entity}:${c.tenant ?? '*'}`)).toEqual([
        'tenant:acme', 'service:acme', 'tenant:gamma', 'role:*', 'grant:acme', 'rotation:acme', 'tenant:acme', 'l1:acme',
      ]);
      expect(got[0]!.value).toMatchObject({ id: 'acme', state: 'sealed', regions: ['eu-central'] });
      expect(got[5]!.value).toEqual({ tenant: 'acme', service: 'web', minVersion: 2 });
      expect(got.at(-2)!.value.state).toBe('killed');
      expect(got.at(-1)!.value).toMatchObject({ tenant: 'acme', state: 'removed' });
      // SSE ids are the seqs (a reconnecting client sends the last one as Last-Event-ID).
      expect(s.events.filter((e) => e.event === 'change').map((e) => Number(e.id))).toEqual(seqs);
      // Pushed on commit, not on a polling tick: loose bound for a loaded 2-core machine,
      // while the heartbeat every 200 ms would not explain a median this low.
      latencies.sort((a, b) => a - b);
      expect(latencies[Math.floor(latencies.length / 2)]!).toBeLessThan(1000);
      // us-east saw beta and gamma and the role, never acme.
      await u.until((c) => c.changes().some((x) => x.entity === 'role'), 'the role on us-east');
      expect(u.changes().map((c) => `${c.entity}:${c.tenant ?? '*'}`)).toEqual(['tenant:beta', 'tenant:gamma', 'role:*']);
      // The heartbeat says how far this region is served.
      await s.until((c) => c.events.filter((e) => e.event === 'heartbeat').some((e) => JSON.parse(e.data).seq >= seqs.at(-1)!), 'a heartbeat past the last change');
    } finally {
      s.close();
      u.close();
    }
  });

  it('a stream resumed from Last-Event-ID misses nothing and repeats nothing', async () => {
    const start = (await env.cmk.governance.changeBounds()).latest;
    const first = await env.stream(us, `/v1/link/changes?after=${start}`);
    await env.call(admin(env), 'POST', '/v1/tenants/beta/services', { name: 's1' });
    await first.until((c) => c.changes().length === 1, 'one change');
    const lastId = first.events.filter((e) => e.event === 'change').at(-1)!.id!;
    first.close();
    // While the core is away: changes for it, and changes for another region in between.
    for (let i = 2; i <= 6; i++) {
      await env.call(admin(env), 'POST', '/v1/tenants/beta/services', { name: `s${i}` });
      await env.call(admin(env), 'POST', '/v1/tenants/acme/services', { name: `x${i}` });
    }
    const again = await env.stream(us, '/v1/link/changes', { 'last-event-id': lastId });
    try {
      await again.until((c) => c.changes().length >= 5, 'the five missed changes');
      await env.call(admin(env), 'POST', '/v1/tenants/gamma/services', { name: 'after' });
      await again.until((c) => c.changes().length >= 6, 'the live change after the catch-up');
      const names = [...first.changes(), ...again.changes()].map((c) => c.value.id);
      expect(names).toEqual(['s1', 's2', 's3', 's4', 's5', 's6', 'after']);
    } finally {
      again.close();
    }
  });

  it('a stream request without a position is refused with what to do', async () => {
    const r = await env.call(eu, 'GET', '/v1/link/changes');
    expect(r.status).toBe(400);
    expect(r.body.error.hint).toContain('snapshot');
    expect((await env.call(eu, 'GET', '/v1/link/changes?after=-1')).status).toBe(400);
  });

  it('audit records shipped by a core are stored once each, chained, and counted per node', async () => {
    const rec = (n: number) => ({
      nodeSeq: n, hash: n.toString(16).padStart(64, '0'),
      record: { seq: n, time: '2026-12-01T10:00:00.000Z', kind: 'kmip', identity: 'id-x', tenant: 'acme', service: 'web', operation: 'Get', objectId: `obj-${n}`, result: 'success', reason: null, detail: null },
    });
    const post = (recs: unknown[]) => env.call(eu, 'POST', '/v1/link/audit', { node: 'eu-1', region: 'eu-central', records: recs });
    // Read through the trail (SQLite or PostgreSQL alike), not by SQL.
    const shippedRecords = async (prefix: string) => (await env.cmk.audit.readAfter(0, 100_000)).filter((x) => x.detail?.startsWith(prefix));
    const count = async () => (await shippedRecords('[core eu-1 eu-central #')).length;
    let r = await post([rec(1), rec(2), rec(3)]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ node: 'eu-1', acceptedThrough: 3 });
    expect(await count()).toBe(3);
    // The answer was lost; the core sends an overlapping batch again.
    r = await post([rec(2), rec(3), rec(4), rec(5)]);
    expect(r.body.acceptedThrough).toBe(5);
    expect(await count()).toBe(5);
    r = await post([rec(4), rec(5)]);
    expect(r.body.acceptedThrough).toBe(5);
    expect(await count()).toBe(5);
    const stored = await shippedRecords('[core eu-1 eu-central #');
    expect(stored.map((x) => x.objectId)).toEqual(['obj-1', 'obj-2', 'obj-3', 'obj-4', 'obj-5']);
    expect(stored[0]).toMatchObject({ kind: 'kmip', operation: 'Get' });
    expect(stored[4]!.detail).toContain(`#5 2026-12-01T10:00:00.000Z ${rec(5).hash}`);
    // A record that breaks the audit rules is kept as a note, not lost, and the chain holds.
    r = await post([{ ...rec(6), record: { ...rec(6).record, kind: 'no-such-kind' } }]);
    expect(r.body.acceptedThrough).toBe(6);
    const note = (await shippedRecords('[core eu-1 eu-central #6 '))[0];
    expect(note).toMatchObject({ kind: 'system', result: 'failure' });
    const v = await env.call(admin(env), 'GET', '/v1/audit/verify');
    expect(v.body.result).toMatchObject({ ok: true });
    // Out of order inside one batch: refused as a whole, nothing stored.
    r = await post([rec(8), rec(7)]);
    expect(r.status).toBe(400);
    expect(await count()).toBe(6); // 1-5 and the note for 6
  });

  it('shipped records reach the SIEM exporters of the CMK', async () => {
    const path = join(env.dir, 'siem.jsonl');
    const ex = startExporters(env.cmk.audit, [{ type: 'file', path, from: 'now' }]);
    try {
      const r = await env.call(us, 'POST', '/v1/link/audit', { node: 'us-1', region: 'us-east', records: [1, 2].map((n) => ({
        nodeSeq: n, hash: 'ab'.repeat(32),
        record: { kind: 'kmip', identity: 'id-y', tenant: 'beta', service: 'web', operation: 'Encrypt', objectId: `siem-${n}`, result: 'success', time: '2026-12-01T11:00:00.000Z' },
      })) });
      expect(r.body.acceptedThrough).toBe(2);
      const deadline = Date.now() + 20_000;
      const lines = () => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
      while (lines().filter((l) => String(l.objectId ?? '').startsWith('siem-')).length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      const got = lines().filter((l) => String(l.objectId ?? '').startsWith('siem-'));
      expect(got.map((l) => l.objectId)).toEqual(['siem-1', 'siem-2']);
      expect(got[0]).toMatchObject({ tenant: 'beta', operation: 'Encrypt' });
      expect(String(got[0].detail)).toContain('[core us-1 us-east #1');
    } finally {
      await ex.close();
    }
  });

  it("a node's status shows in GET /v1/status and in l1 check; a CMK never probes an L1", async () => {
    const at = new Date().toISOString();
    const r = await env.call(eu, 'POST', '/v1/link/status', { node: 'eu-1', region: 'eu-central', at, seq: 42, tenants: [{ tenant: 'gamma', state: 'unsealed', l1Status: 'active' }] });
    expect(r.status).toBe(204);
    const st = (await env.call(admin(env), 'GET', '/v1/status')).body;
    expect(st.plane).toBe('cmk');
    expect(st.hierarchy).toBe('absent');
    expect(st.kmip).toBeNull();
    expect(st.nodes).toEqual([expect.objectContaining({ node: 'eu-1', region: 'eu-central', seq: 42, at, tenants: [{ tenant: 'gamma', state: 'unsealed', l1Status: 'active' }] })]);
    expect(st.tenants.find((t: { name: string }) => t.name === 'gamma').regions).toEqual(['eu-central', 'us-east']);
    const chk = await env.call(admin(env), 'POST', '/v1/tenants/gamma/l1/check');
    expect(chk.status).toBe(200);
    expect(chk.body.checkedBy).toBe('cores');
    expect(chk.body.nodes).toEqual([expect.objectContaining({ node: 'eu-1', l1Status: 'active', state: 'unsealed' })]);
    const cand = await env.call(admin(env), 'POST', '/v1/tenants/gamma/l1/check', { provider: 'software', config: { keyFile: '/nonexistent' } });
    expect(cand.status).toBe(409);
    expect(cand.body.error.message).toContain('never calls an L1');
    // Stored and published without a probe: a software key file that does not exist is fine here.
    const set = await env.call(admin(env), 'PUT', '/v1/tenants/gamma/l1', { provider: 'software', config: { keyFile: '/nonexistent/l1.key' } });
    expect(set.status).toBe(200);
    expect(set.body.verifiedBy).toBe('cores');
    expect(await env.cmk.governance.getL1Pointer('gamma')).toMatchObject({ provider: 'software', state: 'active' });
  });

  it('what needs key material is answered as such on a CMK; rotations are published for the cores', async () => {
    for (const p of ['/v1/tenants/gamma/rewrap', '/v1/tenants/gamma/services/web/rewrap']) {
      const r = await env.call(admin(env), 'POST', p);
      expect(r.status, p).toBe(409);
      expect(r.body.error.message).toContain('holds no key material');
    }
    const a = await env.call(admin(env), 'POST', '/v1/tenants/gamma/services/batch/rotate');
    const b = await env.call(admin(env), 'POST', '/v1/tenants/gamma/services/batch/rotate');
    expect(a.status).toBe(202);
    expect([a.body.minVersion, b.body.minVersion]).toEqual([2, 3]);
    expect(b.body.regions).toEqual(['eu-central', 'us-east']);
    const snap = (await env.call(us, 'GET', '/v1/link/snapshot')).body;
    expect(snap.rotations).toContainEqual({ tenant: 'gamma', service: 'batch', minVersion: 3 });
    // L2: each request is a generation; the snapshot carries the latest, the stream each one.
    const seq = snap.seq as number;
    const l2a = await env.call(admin(env), 'POST', '/v1/tenants/gamma/rotate-l2');
    const l2b = await env.call(admin(env), 'POST', '/v1/tenants/gamma/rotate-l2');
    expect([l2a.status, l2b.status]).toEqual([202, 202]);
    expect(l2b.body).toMatchObject({ tenant: 'gamma', l2Version: null, generation: 2, executedBy: 'cores', regions: ['eu-central', 'us-east'] });
    expect((await env.call(us, 'GET', '/v1/link/snapshot')).body.l2Rotations).toContainEqual({ tenant: 'gamma', generation: 2 });
    const changes = await env.cmk.governance.changesAfter(seq, (await env.cmk.governance.changeBounds()).latest, 100, 'us-east');
    expect(changes.filter((c) => c.entity === 'l2rotation').map((c) => c.entity === 'l2rotation' && c.value)).toEqual([{ tenant: 'gamma', generation: 1 }, { tenant: 'gamma', generation: 2 }]);
    expect((await env.cmk.audit.tail(3)).filter((r) => r.operation === 'tenant.rotate-l2').map((r) => r.detail)).toEqual([
      expect.stringMatching(/published \(generation 1\)/), expect.stringMatching(/published \(generation 2\)/)]);
  });
});

describe(`change log retention, many streams, dead clients (${backend})`, () => {
  let env: CmkEnv;
  afterEach(async () => { await env?.close(); });

  it('410 Gone when the changes after `after` are no longer kept, or `after` is ahead of the log', async () => {
    env = await startCmkEnv({ changeRetention: 5, ...await dbOpt(databaseUrl) });
    const eu = await env.issueCore('eu', 'n1');
    await env.call(env.admin, 'POST', '/v1/tenants', { name: 't', regions: ['eu'] });
    for (let i = 0; i < 12; i++) await env.call(env.admin, 'POST', '/v1/tenants/t/services', { name: `s${i}` });
    const { latest, oldest } = await env.cmk.governance.changeBounds();
    expect(latest - oldest! + 1).toBe(5);
    const gone = await env.call(eu, 'GET', `/v1/link/changes?after=${oldest! - 2}`);
    expect(gone.status).toBe(410);
    expect(gone.body.error.hint).toContain('snapshot');
    const ahead = await env.call(eu, 'GET', `/v1/link/changes?after=${latest + 10}`);
    expect(ahead.status).toBe(410);
    // The oldest kept change's predecessor is still a valid position: nothing is missing after it.
    const s = await env.stream(eu, `/v1/link/changes?after=${oldest! - 1}`);
    try {
      await s.until((c) => c.changes().length === 5, 'the five kept changes');
      expect(s.changes().map((c) => c.seq)).toEqual([oldest!, oldest! + 1, oldest! + 2, oldest! + 3, oldest! + 4]);
    } finally {
      s.close();
    }
    // A snapshot is always a valid place to start.
    const snap = (await env.call(eu, 'GET', '/v1/link/snapshot')).body;
    expect(snap.services).toHaveLength(12);
    const t = await env.stream(eu, `/v1/link/changes?after=${snap.seq}`);
    t.close();
  });

  it('many concurrent streams all get the change; a client that vanishes is cleaned up', async () => {
    env = await startCmkEnv({ heartbeatMs: 100, ...await dbOpt(databaseUrl) });
    const eu = await env.issueCore('eu', 'n1');
    await env.call(env.admin, 'POST', '/v1/tenants', { name: 't', regions: ['eu'] });
    const after = (await env.cmk.governance.changeBounds()).latest;
    const N = 40;
    const streams: SseClient[] = await Promise.all(Array.from({ length: N }, () => env.stream(eu, `/v1/link/changes?after=${after}`)));
    try {
      expect(env.cmk.link.streams()).toHaveLength(N);
      await env.call(env.admin, 'POST', '/v1/tenants/t/seal');
      await Promise.all(streams.map((s) => s.until((c) => c.changes().length === 1, 'the seal')));
      expect(streams.every((s) => s.changes()[0]!.value.state === 'sealed')).toBe(true);
      // Half the clients go away abruptly (socket destroyed, no goodbye).
      for (const s of streams.slice(0, N / 2)) s.res.socket.destroy();
      const deadline = Date.now() + 20_000;
      while (env.cmk.link.streams().length > N / 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(env.cmk.link.streams()).toHaveLength(N / 2);
      // The others keep going.
      await env.call(env.admin, 'POST', '/v1/tenants/t/unseal');
      await Promise.all(streams.slice(N / 2).map((s) => s.until((c) => c.changes().length === 2, 'the unseal')));
    } finally {
      for (const s of streams) s.close();
    }
    const deadline = Date.now() + 20_000;
    while (env.cmk.link.streams().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(env.cmk.link.streams()).toHaveLength(0);
  });
});
}

async function dbOpt(databaseUrl: () => Promise<string | undefined>): Promise<{ databaseUrl?: string }> {
  const url = await databaseUrl();
  return url === undefined ? {} : { databaseUrl: url };
}
