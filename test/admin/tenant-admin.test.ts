// Issue 16 §2: the tenant-scoped administrator, over the real admin API (HTTPS, mutual TLS)
// and kmipctl as a child process. A `tenant-admin` of tenant alpha administers alpha —
// services, identities, certificates, grants, seal/unseal, its own kill switch, its own audit
// records — and nothing else: every call about tenant beta, about no tenant in particular
// (new tenants, roles, L1 pointers) or that would hand out more power than its own is
// refused with 403 in the API's error shape and exactly one `auth-failure` audit record,
// and nothing changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { issueLeaf } from '../../src/server/devpki.ts';
import { openCa } from '../../src/server/ca.ts';
import { adminCall, startAdminEnv, type AdminEnv } from './helpers.ts';
import { KMIPCTL, cleanEnv, run } from './serve.ts';

type Obj = Record<string, any>;
interface Files { cert: string; key: string }

let env: AdminEnv;
let alphaAdmin: Files;
let betaApp: Obj;

/** A client certificate of the env's CA, registered nowhere (yet). */
async function leafPem(commonName: string): Promise<string> {
  const ca = await openCa(readFileSync(env.pki.caCert, 'utf8'), readFileSync(env.pki.caKey, 'utf8'));
  return (await issueLeaf({ cert: ca.cert, keys: { privateKey: ca.privateKey, publicKey: ca.publicKey } }, 'client', commonName)).certPem;
}

const call = (files: Files | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; json: Obj }> =>
  adminCall(env, method, path, body, files);
const admin = (method: string, path: string, body?: unknown) => call(undefined, method, path, body);
const alpha = (method: string, path: string, body?: unknown) => call(alphaAdmin, method, path, body);

async function ok(p: Promise<{ status: number; json: Obj }>, status = 200): Promise<Obj> {
  const r = await p;
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  return r.json;
}

/** Issues a certificate with the global admin and writes its files. */
async function issue(tenant: string, service: string, role: string): Promise<{ files: Files; answer: Obj }> {
  const answer = await ok(admin('POST', '/v1/certificates', { tenant, service, role }), 201);
  const name = `${tenant}.${service}.${role}.${Math.random().toString(36).slice(2)}`;
  return { files: { cert: env.write(`${name}.crt`, answer.certificate.pem), key: env.write(`${name}.key`, answer.privateKeyPem) }, answer };
}

beforeAll(async () => {
  env = await startAdminEnv();
  for (const t of ['alpha', 'beta']) {
    await ok(admin('POST', '/v1/tenants', { name: t }), 201);
    await ok(admin('POST', `/v1/tenants/${t}/services`, { name: 'ops' }), 201);
    await ok(admin('POST', `/v1/tenants/${t}/services`, { name: 'billing' }), 201);
  }
  alphaAdmin = (await issue('alpha', 'ops', 'tenant-admin')).files;
  betaApp = (await issue('beta', 'billing', 'app')).answer;
  // Some of beta's history, which alpha's administrator must never read.
  await ok(admin('POST', '/v1/tenants/beta/grants', { fromService: 'billing', toService: 'ops', operations: ['Get'] }), 201);
}, 60_000);
afterAll(async () => { await env?.close(); });

describe('what a tenant-admin may do in its own tenant', () => {
  it('whoami, status and tenant list show its tenant only', async () => {
    expect((await ok(alpha('GET', '/v1/whoami'))).caller).toMatchObject({ tenant: 'alpha', role: 'tenant-admin' });
    expect((await ok(alpha('GET', '/v1/tenants'))).tenants.map((t: Obj) => t.id)).toEqual(['alpha']);
    const st = await ok(alpha('GET', '/v1/status'));
    expect(st.tenants.map((t: Obj) => t.name)).toEqual(['alpha']);
    expect(st.audit).toEqual({ lastSeq: null, head: null });
    expect(st.exporters).toEqual([]);
    expect((await ok(alpha('GET', '/v1/tenants/alpha'))).tenant.id).toBe('alpha');
    expect((await ok(alpha('GET', '/v1/roles'))).roles.map((r: Obj) => r.name)).toContain('tenant-admin');
  });

  it('services, identities, certificates and grants of its tenant', async () => {
    await ok(alpha('POST', '/v1/tenants/alpha/services', { name: 'reports' }), 201);
    expect((await ok(alpha('GET', '/v1/tenants/alpha/services'))).services.map((s: Obj) => s.id)).toEqual(['billing', 'ops', 'reports']);
    expect((await ok(alpha('POST', '/v1/tenants/alpha/services/reports/rotate'))).l3Version).toBeGreaterThanOrEqual(1);

    const added = (await ok(alpha('POST', '/v1/identities', { tenant: 'alpha', service: 'reports', role: 'app', certificate: await leafPem('alpha-reports') }), 201)).identity;
    expect(added.match.kind).toBe('fingerprint');
    // Its own tenant's openkcm: URI is fine too (the store checks it names this identity).
    await ok(alpha('POST', '/v1/identities', { tenant: 'alpha', service: 'reports', role: 'read-only', sanUri: 'openkcm://tenant/alpha/service/reports/role/read-only' }), 201);
    const issued = await ok(alpha('POST', '/v1/certificates', { tenant: 'alpha', service: 'billing', role: 'app' }), 201);
    expect(issued.identity).toMatchObject({ tenant: 'alpha', role: 'app' });
    // Another administrator of the same tenant is no escalation.
    await ok(alpha('POST', '/v1/certificates', { tenant: 'alpha', service: 'ops', role: 'tenant-admin' }), 201);

    const mine = (await ok(alpha('GET', '/v1/identities'))).identities as Obj[];
    expect(mine.length).toBeGreaterThanOrEqual(4);
    expect(mine.every((i) => i.tenant === 'alpha')).toBe(true);
    expect((await ok(alpha('GET', '/v1/identities?tenant=alpha'))).identities).toHaveLength(mine.length);
    await ok(alpha('DELETE', `/v1/identities/${added.id}`));
    await ok(alpha('POST', '/v1/certificates/revoke', { serial: issued.certificate.serial }));
    expect(env.governance.getIdentity(issued.identity.id)!.revoked).toBe(true);

    await ok(alpha('POST', '/v1/tenants/alpha/grants', { fromService: 'billing', toService: 'reports', operations: ['Get'] }), 201);
    expect((await ok(alpha('GET', '/v1/tenants/alpha/grants'))).grants).toHaveLength(1);
    await ok(alpha('DELETE', '/v1/tenants/alpha/grants/billing/reports'));
  });

  it('seal and unseal its tenant; its audit records only; verify covers the whole chain', async () => {
    expect((await ok(alpha('POST', '/v1/tenants/alpha/seal', { reason: 'drill' }))).status).toMatchObject({ sealed: true });
    expect((await ok(alpha('POST', '/v1/tenants/alpha/unseal'))).status).toMatchObject({ sealed: false });
    expect((await ok(alpha('GET', '/v1/tenants/alpha/l1'))).pointer).toBeNull();

    const tail = (await ok(alpha('GET', '/v1/audit/tail?n=500'))).records as Obj[];
    expect(tail.length).toBeGreaterThan(5);
    expect(tail.every((r) => r.tenant === 'alpha')).toBe(true);
    expect(tail.map((r) => r.operation)).toEqual(expect.arrayContaining(['tenant.seal', 'tenant.unseal', 'service.create', 'cert.issue']));
    // The log itself does hold beta's records.
    expect(env.audit.tail(10_000).some((r) => r.tenant === 'beta')).toBe(true);

    const exp = await ok(alpha('GET', '/v1/audit/export?after=0&limit=3'));
    expect(exp.records).toHaveLength(3);
    expect(exp.records.every((r: Obj) => r.tenant === 'alpha')).toBe(true);
    const rest = await ok(alpha('GET', `/v1/audit/export?after=${exp.next}&limit=10000`));
    expect(rest.next).toBeNull();
    expect([...exp.records, ...rest.records].map((r: Obj) => r.seq)).toEqual(
      env.audit.readAfter(0, 100_000).filter((r) => r.tenant === 'alpha').map((r) => r.seq));

    const v = (await ok(alpha('GET', '/v1/audit/verify'))).result;
    expect(v).toMatchObject({ ok: true, scope: 'tenant', tenant: 'alpha', head: env.audit.head() });
    expect(v.count).toBe(env.audit.readAfter(0, 100_000).filter((r) => r.tenant === 'alpha').length);
  });
});

describe('what a tenant-admin may not do: 403, one audit record, nothing changed', () => {
  const betaBefore = () => ({
    tenant: env.governance.getTenant('beta'),
    services: env.governance.listServices('beta').map((s) => s.id),
    identities: env.governance.listIdentities({ tenant: 'beta' }),
    grants: env.governance.listGrants('beta'),
    sealed: env.hierarchy.status('beta').sealed,
    killed: env.hierarchy.status('beta').killed,
  });

  const refusals: [string, string, string, unknown, string, RegExp][] = [
    // [what, method, path, body, audited operation, message]
    ['create a tenant', 'POST', '/v1/tenants', { name: 'gamma' }, 'tenant.create', /may not call tenant.create: it concerns every tenant/],
    ['show another tenant', 'GET', '/v1/tenants/beta', undefined, 'tenant.show', /tenant-admin of "alpha" may not administer tenant "beta"/],
    ['show a tenant that does not exist (the same 403: no oracle)', 'GET', '/v1/tenants/nobody', undefined, 'tenant.show', /may not administer tenant "nobody"/],
    ['seal another tenant', 'POST', '/v1/tenants/beta/seal', {}, 'tenant.seal', /may not administer tenant "beta"/],
    ['unseal another tenant', 'POST', '/v1/tenants/beta/unseal', {}, 'tenant.unseal', /may not administer tenant "beta"/],
    ["another tenant's kill switch", 'POST', '/v1/tenants/beta/kill', {}, 'tenant.kill', /may not administer tenant "beta"/],
    ["another tenant's kill switch by its L1 pointer", 'DELETE', '/v1/tenants/beta/l1', undefined, 'l1.remove', /may not administer tenant "beta"/],
    ["another tenant's L1 check", 'POST', '/v1/tenants/beta/l1/check', {}, 'l1.check', /may not administer tenant "beta"/],
    ["another tenant's services", 'POST', '/v1/tenants/beta/services', { name: 'x' }, 'service.create', /may not administer tenant "beta"/],
    ["another tenant's service list", 'GET', '/v1/tenants/beta/services', undefined, 'service.list', /may not administer tenant "beta"/],
    ["another tenant's L3 rotation", 'POST', '/v1/tenants/beta/services/billing/rotate', {}, 'service.rotate', /may not administer tenant "beta"/],
    ["another tenant's L2 rotation", 'POST', '/v1/tenants/beta/rotate-l2', {}, 'tenant.rotate-l2', /may not administer tenant "beta"/],
    ["another tenant's grants", 'GET', '/v1/tenants/beta/grants', undefined, 'grant.list', /may not administer tenant "beta"/],
    ["remove another tenant's grant", 'DELETE', '/v1/tenants/beta/grants/billing/ops', undefined, 'grant.remove', /may not administer tenant "beta"/],
    ["another tenant's identities", 'GET', '/v1/identities?tenant=beta', undefined, 'identity.list', /may not administer tenant "beta"/],
    ['an identity in another tenant', 'POST', '/v1/identities', { tenant: 'beta', service: 'ops', role: 'app', fingerprint: 'cd'.repeat(32) }, 'identity.add', /may not administer tenant "beta"/],
    ['a global admin identity (escalation)', 'POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'admin', fingerprint: 'ce'.repeat(32) }, 'identity.add', /may not give the role "admin"/],
    ['an auditor of every tenant (escalation)', 'POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'auditor', fingerprint: 'cf'.repeat(32) }, 'identity.add', /may not give the role "auditor"/],
    ['a core link identity', 'POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'core', fingerprint: 'd0'.repeat(32) }, 'identity.add', /may not give the role "core"/],
    ['a bare fingerprint (cannot be checked against other tenants)', 'POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'app', fingerprint: 'd1'.repeat(32) }, 'identity.add', /not by a bare fingerprint/],
    ['a subject pattern (could capture other tenants\' certificates)', 'POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'app', subject: 'CN=billing, O=Beta' }, 'identity.add', /may not register a subject pattern/],
    ['a foreign SAN URI', 'POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'app', sanUri: 'spiffe://beta/billing' }, 'identity.add', /only the openkcm: SAN URI of its own tenant/],
    ['a certificate of role admin (escalation)', 'POST', '/v1/certificates', { tenant: 'alpha', service: 'ops', role: 'admin' }, 'cert.issue', /may not give the role "admin"/],
    ['a certificate in another tenant', 'POST', '/v1/certificates', { tenant: 'beta', service: 'ops', role: 'app' }, 'cert.issue', /may not administer tenant "beta"/],
    ['create a role (roles are shared by all tenants)', 'POST', '/v1/roles', { name: 'mine', operations: ['Get'] }, 'role.create', /may not call role.create/],
    ['set an L1 pointer (names server-side libraries and files)', 'PUT', '/v1/tenants/alpha/l1', { provider: 'software', config: { keyFile: '/tmp/x' } }, 'l1.set', /may not call l1.set/],
  ];

  it.each(refusals)('refuses: %s', async (_what, method, path, body, operation, message) => {
    const before = betaBefore();
    const identitiesBefore = env.governance.listIdentities().length;
    env.audit.flush();
    const seq = env.audit.lastSeq();
    const r = await alpha(method, path, body);
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('forbidden');
    expect(r.json.error.message).toMatch(message);
    expect(r.json.error.hint).toBeTruthy();
    env.audit.flush();
    const recs = env.audit.readAfter(seq, 100);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ kind: 'auth-failure', operation, result: 'failure', reason: 'PermissionDenied', tenant: 'alpha', service: 'ops' });
    expect(recs[0]!.detail).toContain(path.split('?')[0]);
    expect(betaBefore()).toEqual(before);
    expect(env.governance.listIdentities()).toHaveLength(identitiesBefore);
    expect(env.governance.getTenant('gamma')).toBeUndefined();
    expect(env.governance.getRole('mine')).toBeUndefined();
    expect(env.governance.getL1Pointer('alpha')).toBeUndefined();
  });

  it("refuses to remove or revoke another tenant's identity and certificate (and an unknown one alike)", async () => {
    const betaId = betaApp.identity.id as string;
    for (const [method, path, body, operation] of [
      ['DELETE', `/v1/identities/${betaId}`, undefined, 'identity.remove'],
      ['DELETE', '/v1/identities/id-does-not-exist', undefined, 'identity.remove'],
      ['POST', '/v1/certificates/revoke', { serial: betaApp.certificate.serial }, 'cert.revoke'],
      ['POST', '/v1/certificates/revoke', { fingerprint: betaApp.certificate.fingerprint }, 'cert.revoke'],
      ['POST', '/v1/certificates/revoke', { id: betaId }, 'cert.revoke'],
    ] as const) {
      env.audit.flush();
      const seq = env.audit.lastSeq();
      const r = await alpha(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json.error.code).toBe('forbidden');
      env.audit.flush();
      expect(env.audit.readAfter(seq, 100).map((x) => [x.kind, x.operation])).toEqual([['auth-failure', operation]]);
    }
    expect(env.governance.getIdentity(betaId)).toMatchObject({ tenant: 'beta', revoked: false });
  });

  it("refuses a certificate that already stands for another tenant's identity (by fingerprint or by subject pattern)", async () => {
    // beta's own certificate, registered there by fingerprint.
    const byFp = await alpha('POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'app', certificate: betaApp.certificate.pem });
    expect(byFp.status).toBe(403);
    expect(byFp.json.error.message).toMatch(/already stands for an identity of another tenant/);
    // A certificate beta recognises by a subject pattern: a fingerprint rule in alpha would outrank it.
    await ok(admin('POST', '/v1/identities', { tenant: 'beta', service: 'ops', role: 'app', subject: 'CN=beta-worker-*, O=OpenKCM development' }), 201);
    const worker = await leafPem('beta-worker-7');
    env.audit.flush();
    const seq = env.audit.lastSeq();
    const bySubject = await alpha('POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'app', certificate: worker });
    expect(bySubject.status).toBe(403);
    env.audit.flush();
    expect(env.audit.readAfter(seq, 10).map((r) => [r.kind, r.operation])).toEqual([['auth-failure', 'identity.add']]);
    expect(env.governance.listIdentities({ tenant: 'alpha' }).some((i) => i.match.kind === 'fingerprint' && i.match.sha256 === betaApp.certificate.fingerprint)).toBe(false);
    // The global admin decides such cases itself.
    await ok(admin('POST', '/v1/identities', { tenant: 'alpha', service: 'ops', role: 'app', certificate: worker }), 201);
  });

  it('refuses to check a candidate L1 configuration (it would open what it names on the server)', async () => {
    const r = await alpha('POST', '/v1/tenants/alpha/l1/check', { provider: 'software', config: { keyFile: '/etc/hostname' } });
    expect(r.status).toBe(403);
    expect(r.json.error.message).toMatch(/its tenant's own L1 only/);
  });
});

describe('kmipctl with a tenant-admin certificate', () => {
  const ctl = (args: string[]) => run(KMIPCTL, [...args, '--server', env.url, '--cert', alphaAdmin.cert, '--key', alphaAdmin.key, '--ca', env.pki.caCert], {
    cwd: env.dir, env: cleanEnv(),
  });

  it('works in its tenant and prints a refusal with a hint (exit 1) outside it', async () => {
    const list = await ctl(['tenant', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as Obj).tenants.map((t: Obj) => t.id)).toEqual(['alpha']);

    const show = await ctl(['tenant', 'show', 'beta']);
    expect(show.code).toBe(1);
    expect(show.stdout).toBe('');
    expect(show.stderr).toMatch(/^kmipctl: a tenant-admin of "alpha" may not administer tenant "beta" \(forbidden\)\n {2}hint: you administer tenant "alpha" only\n$/);

    const kill = await ctl(['tenant', 'kill', 'beta']);
    expect(kill.code).toBe(1);
    expect(kill.stderr).toMatch(/\(forbidden\)/);
    expect(env.hierarchy.status('beta').killed).toBe(false);

    const verify = await ctl(['audit', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^audit chain OK \(whole chain verified\): \d+ records of tenant alpha/);
  }, 60_000);
});

describe('its own kill switch', () => {
  it('a tenant-admin may kill its own tenant; bringing it back is the global admin\'s (l1 set)', async () => {
    const killed = await ok(alpha('POST', '/v1/tenants/alpha/kill', { reason: 'customer pulled the plug' }));
    expect(killed.status).toMatchObject({ sealed: true, killed: true });
    expect(env.governance.getTenant('alpha')!.state).toBe('killed');
    expect(env.hierarchy.status('beta').killed).toBe(false);
    const back = await alpha('PUT', '/v1/tenants/alpha/l1', { provider: 'software', config: { keyFile: env.l1KeyFile } });
    expect(back.status).toBe(403);
    expect((await ok(admin('PUT', '/v1/tenants/alpha/l1', { provider: 'software', config: { keyFile: env.l1KeyFile } }))).status.state).toBe('active');
    expect(env.hierarchy.status('alpha')).toMatchObject({ sealed: false, killed: false });
  });
});
