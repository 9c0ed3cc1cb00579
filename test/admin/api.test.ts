// The admin API over real HTTPS with mutual TLS (src/server/admin.ts): who may call it, each
// route, bad input answered 400 naming the field, the kill switch and its recovery, and the
// audit record every change leaves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createCa, issueLeaf } from '../../src/server/devpki.ts';
import { openCa } from '../../src/server/ca.ts';
import { CliError, EXIT_CONNECT, EXIT_FAILED } from '../../src/cli/output.ts';
import { startAdminEnv, type AdminEnv } from './helpers.ts';

let env: AdminEnv;
beforeAll(async () => { env = await startAdminEnv(); }, 60_000);
afterAll(async () => { await env?.close(); });

type Obj = Record<string, any>;

/** One request with the admin certificate, whatever the status; raw body text for malformed-input tests. */
function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}, files?: { cert: string; key: string }): Promise<{ status: number; json: Obj }> {
  const cert = readFileSync(files?.cert ?? env.pki.clientCert);
  const key = readFileSync(files?.key ?? env.pki.clientKey);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, env.url), { method, cert, key, ca: readFileSync(env.pki.caCert), headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
const json = (method: string, path: string, body: unknown) => raw(method, path, JSON.stringify(body), { 'content-type': 'application/json' });

function failure(p: Promise<unknown>): Promise<CliError> {
  return p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  });
}

describe('authentication and roles', () => {
  it('refuses a certificate of another CA at the TLS handshake (exit code 3)', async () => {
    const other = await createCa('stranger');
    const leaf = await issueLeaf(other, 'client', 'stranger');
    const e = await failure(env.client({ cert: env.write('s.crt', leaf.certPem), key: env.write('s.key', leaf.keyPem) }).get('/v1/status'));
    expect(e.exitCode).toBe(EXIT_CONNECT);
  });

  it('refuses a certificate of our CA that is no identity, and audits it', async () => {
    // A leaf signed by the env's own CA, never registered as an identity.
    const ours = await openCa(readFileSync(env.pki.caCert, 'utf8'), readFileSync(env.pki.caKey, 'utf8'));
    const leaf = await issueLeaf({ cert: ours.cert, keys: { privateKey: ours.privateKey, publicKey: ours.publicKey } }, 'client', 'nobody');
    const files = { cert: env.write('n.crt', leaf.certPem), key: env.write('n.key', leaf.keyPem) };
    const r = await raw('GET', '/v1/tenants', undefined, {}, files);
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('forbidden');
    expect(r.json.error.message).toMatch(/not a registered identity/);
    expect(r.json.error.hint).toBeTruthy();
    const last = env.audit.tail(1)[0]!;
    expect(last).toMatchObject({ kind: 'auth-failure', result: 'failure', reason: 'PermissionDenied', operation: 'admin.authenticate' });
  });

  it('refuses a non-admin role (app) and lets the auditor read only the audit log', async () => {
    await env.client().post('/v1/tenants', { name: 'roles' });
    await env.client().post('/v1/tenants/roles/services', { name: 'svc' });
    const app = await env.client().post<Obj>('/v1/certificates', { tenant: 'roles', service: 'svc', role: 'app' });
    const appFiles = { cert: env.write('app.crt', app.certificate.pem), key: env.write('app.key', app.privateKeyPem) };
    const denied = await raw('GET', '/v1/tenants', undefined, {}, appFiles);
    expect(denied.status).toBe(403);
    expect(denied.json.error.message).toMatch(/role "app" may not call tenant.list/);
    expect(env.audit.tail(1)[0]).toMatchObject({ kind: 'auth-failure', operation: 'tenant.list', tenant: 'roles', service: 'svc' });
    expect((await raw('GET', '/v1/audit/tail', undefined, {}, appFiles)).status).toBe(403);

    const aud = await env.client().post<Obj>('/v1/certificates', { tenant: 'roles', service: 'svc', role: 'auditor' });
    const audFiles = { cert: env.write('aud.crt', aud.certificate.pem), key: env.write('aud.key', aud.privateKeyPem) };
    const tail = await raw('GET', '/v1/audit/tail?n=3', undefined, {}, audFiles);
    expect(tail.status).toBe(200);
    expect(tail.json.records).toHaveLength(3);
    expect((await raw('GET', '/v1/audit/verify', undefined, {}, audFiles)).json.result.ok).toBe(true);
    expect((await raw('POST', '/v1/tenants', JSON.stringify({ name: 'x' }), { 'content-type': 'application/json' }, audFiles)).status).toBe(403);

    // Revoked: the same certificate is refused from then on.
    await env.client().post('/v1/certificates/revoke', { serial: aud.certificate.serial });
    expect((await raw('GET', '/v1/audit/tail', undefined, {}, audFiles)).status).toBe(403);
  });
});

describe('bad input → 400 naming the field', () => {
  it.each([
    ['POST', '/v1/tenants', {}, /field "name" is required/],
    ['POST', '/v1/tenants', { name: 'Bad Name' }, /field "name": "Bad Name" is not a valid name/],
    ['POST', '/v1/tenants', { name: 'ok', color: 'blue' }, /field "color" is not known here/],
    ['POST', '/v1/tenants', { name: 7 }, /field "name" must be a non-empty string/],
    ['POST', '/v1/roles', { name: 'r1', operations: ['Get', 'Frobnicate'] }, /field "operations": "Frobnicate" is not a KMIP operation name/],
    ['POST', '/v1/roles', { name: 'r1', operations: [] }, /field "operations" must be a non-empty array/],
    ['POST', '/v1/roles', { name: 'r1', operations: ['Get'], objectTypes: ['Key'] }, /field "objectTypes": "Key" is not a KMIP object type/],
    ['POST', '/v1/identities', { tenant: 'default', service: 'default', role: 'app' }, /exactly one of the fields "fingerprint", "certificate", "subject" or "sanUri"/],
    ['POST', '/v1/identities', { tenant: 'default', service: 'default', role: 'app', fingerprint: 'abc' }, /field "fingerprint" must be a SHA-256 fingerprint/],
    ['POST', '/v1/certificates', { tenant: 'default', service: 'default', role: 'app', days: 0 }, /field "days" must be a whole number from 1 to 825/],
    ['POST', '/v1/certificates', { tenant: 'default', service: 'default', role: 'app', algorithm: 'dsa' }, /field "algorithm" must be one of ec-p256, rsa-2048/],
    ['POST', '/v1/certificates/revoke', { serial: 'zz' }, /field "serial" must be a certificate serial number/],
    ['PUT', '/v1/tenants/default/l1', { provider: 'hsm', config: {} }, /field "provider" must be one of software, pkcs11, aws-kms, kmip, vault-transit/],
    ['PUT', '/v1/tenants/default/l1', { provider: 'software' }, /field "config" is required/],
    ['PUT', '/v1/tenants/default/l1', { provider: 'pkcs11', config: { tokenLabel: 't', keyLabel: 'k', pin: '1234' } }, /config\.pin: a PIN value is not accepted/],
    ['PUT', '/v1/tenants/default/l1', { provider: 'aws-kms', config: {} }, /config\.keyId: required/],
    ['POST', '/v1/tenants/default/grants', { fromService: 'default', toService: 'default', operations: ['Get'] }, /"fromService" and "toService" are the same/],
  ])('%s %s %j', async (method, path, body, message) => {
    const r = await json(method, path, body);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('bad-request');
    expect(r.json.error.message).toMatch(message);
  });

  it('refuses malformed JSON, a wrong content type, a huge body, unknown paths and methods', async () => {
    const bad = await raw('POST', '/v1/tenants', '{"name":', { 'content-type': 'application/json' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/not valid JSON/);
    expect((await raw('POST', '/v1/tenants', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await raw('POST', '/v1/tenants', JSON.stringify({ name: 'x'.repeat(70_000) }), { 'content-type': 'application/json' })).status).toBe(413);
    expect((await raw('POST', '/v1/tenants', '[1]', { 'content-type': 'application/json' })).json.error.message).toMatch(/JSON object/);
    const nf = await raw('GET', '/v1/nothing');
    expect(nf.status).toBe(404);
    const na = await raw('DELETE', '/v1/tenants');
    expect(na.status).toBe(405);
    expect(na.json.error.hint).toMatch(/GET or POST|POST or GET/);
    expect((await raw('GET', '/v1/audit/tail?n=abc')).json.error.message).toMatch(/query parameter "n"/);
  });

  it('answers 404 / 409 with hints for missing and existing things', async () => {
    const missing = await json('POST', '/v1/tenants/ghost/services', { name: 's' });
    expect(missing.status).toBe(404);
    expect(missing.json.error.hint).toMatch(/kmipctl tenant create ghost/);
    await json('POST', '/v1/tenants', { name: 'dup' });
    const dup = await json('POST', '/v1/tenants', { name: 'dup' });
    expect(dup.status).toBe(409);
    expect(dup.json.error.code).toBe('exists');
    const noRole = await json('POST', '/v1/certificates', { tenant: 'dup', service: 'x', role: 'app' });
    expect(noRole.status).toBe(404);
    expect(noRole.json.error.message).toMatch(/service "x" does not exist in tenant "dup"/);
    // A refused change is audited as a failure, naming the route.
    expect(env.audit.tail(1)[0]).toMatchObject({ kind: 'admin', operation: 'cert.issue', result: 'failure', reason: 'ItemNotFound' });
  });
});

describe('routes', () => {
  it('tenants, services, roles, identities, grants, status — each change audited', async () => {
    const c = env.client();
    const before = env.audit.lastSeq();
    expect((await c.post<Obj>('/v1/tenants', { name: 'acme' })).tenant).toMatchObject({ id: 'acme', state: 'active' });
    await c.post('/v1/tenants/acme/services', { name: 'billing' });
    await c.post('/v1/tenants/acme/services', { name: 'reports' });
    expect((await c.get<Obj>('/v1/tenants')).tenants.map((t: Obj) => t.id)).toContain('acme');
    expect((await c.get<Obj>('/v1/tenants/acme/services')).services.map((s: Obj) => s.id)).toEqual(['billing', 'reports']);

    const role = await c.post<Obj>('/v1/roles', { name: 'readers', operations: ['Get', 'Locate'], objectTypes: ['SymmetricKey'] });
    expect(role.role).toMatchObject({ name: 'readers', builtIn: false });
    expect((await c.get<Obj>('/v1/roles')).roles.map((r: Obj) => r.name)).toEqual(expect.arrayContaining(['admin', 'app', 'read-only', 'auditor', 'readers']));
    expect((await c.get<Obj>('/v1/roles/readers')).role.operations).toEqual(['Get', 'Locate']);

    const id = (await c.post<Obj>('/v1/identities', { tenant: 'acme', service: 'billing', role: 'readers', fingerprint: 'AB:'.repeat(31) + 'AB' })).identity;
    expect(id.match).toEqual({ kind: 'fingerprint', sha256: 'ab'.repeat(32) });
    const subj = (await c.post<Obj>('/v1/identities', { tenant: 'acme', service: 'reports', role: 'app', subject: 'CN=reports-*, O=Acme' })).identity;
    expect((await c.get<Obj>('/v1/identities?tenant=acme')).identities).toHaveLength(2);
    await c.delete(`/v1/identities/${subj.id}`);
    expect((await c.get<Obj>('/v1/identities?tenant=acme')).identities).toHaveLength(1);

    await c.post('/v1/tenants/acme/grants', { fromService: 'billing', toService: 'reports', operations: ['Get'] });
    expect((await c.get<Obj>('/v1/tenants/acme/grants')).grants).toEqual([{ tenant: 'acme', fromService: 'billing', toService: 'reports', operations: ['Get'] }]);
    await c.delete('/v1/tenants/acme/grants/billing/reports');
    expect((await c.get<Obj>('/v1/tenants/acme/grants')).grants).toEqual([]);

    const show = await c.get<Obj>('/v1/tenants/acme');
    expect(show.services).toHaveLength(2);
    expect(show.identities).toBe(1);
    const status = await c.get<Obj>('/v1/status');
    expect(status.caller).toMatchObject({ tenant: 'default', service: 'default', role: 'admin' });
    expect(status.hierarchy).toBe('running');
    expect(status.tenants.map((t: Obj) => t.name)).toContain('acme');

    const ops = env.audit.readAfter(before, 100).map((r) => r.operation);
    expect(ops).toEqual(['tenant.create', 'service.create', 'service.create', 'role.create', 'identity.add', 'identity.add', 'identity.remove', 'grant.add', 'grant.remove']);
    for (const r of env.audit.readAfter(before, 100)) expect(r.identity).toContain(`sha256:${env.adminFingerprint}`);
  });

  it('cert issue returns a key and a certificate carrying the identity URI, registered by fingerprint and serial', async () => {
    const c = env.client();
    const r = await c.post<Obj>('/v1/certificates', { tenant: 'acme', service: 'billing', role: 'app', days: 10 });
    expect(r.certificate.uri).toBe('openkcm://tenant/acme/service/billing/role/app');
    expect(r.privateKeyPem).toMatch(/BEGIN PRIVATE KEY/);
    expect(r.identity).toMatchObject({ tenant: 'acme', service: 'billing', role: 'app', revoked: false, match: { kind: 'fingerprint', sha256: r.certificate.fingerprint } });
    expect(r.kmip).toEqual({ host: '127.0.0.1', port: 5696 });
    const rec = env.audit.tail(1)[0]!;
    expect(rec).toMatchObject({ operation: 'cert.issue', tenant: 'acme', objectId: r.identity.id });
    expect(JSON.stringify(env.audit.tail(5))).not.toMatch(/PRIVATE KEY/);
    const rv = await c.post<Obj>('/v1/certificates/revoke', { fingerprint: r.certificate.fingerprint });
    expect(rv.revoked.map((i: Obj) => i.id)).toEqual([r.identity.id]);
  });

  it('seal, unseal, kill switch, and recovery only through a new pointer to a valid L1', async () => {
    const c = env.client();
    await c.post('/v1/tenants', { name: 'kill' });
    await c.post('/v1/tenants/kill/services', { name: 'app' });
    await env.hierarchy.unsealTenant('kill');
    expect((await c.post<Obj>('/v1/tenants/kill/services/app/rotate')).l3Version).toBeGreaterThanOrEqual(1);

    const sealed = await c.post<Obj>('/v1/tenants/kill/seal', { reason: 'maintenance' });
    expect(sealed.status).toMatchObject({ sealed: true, sealKind: 'explicit', reason: 'maintenance' });
    expect(env.governance.getTenant('kill')!.state).toBe('sealed');
    const rot = await failure(c.post('/v1/tenants/kill/services/app/rotate'));
    expect(rot.message).toMatch(/sealed/);
    expect((await c.post<Obj>('/v1/tenants/kill/unseal')).status.sealed).toBe(false);
    expect(env.governance.getTenant('kill')!.state).toBe('active');

    // A pointer of its own, then the kill switch.
    const set = await c.put<Obj>('/v1/tenants/kill/l1', { provider: 'software', config: { keyFile: env.l1KeyFile } });
    expect(set.status.state).toBe('active');
    expect(set.pointer).toMatchObject({ provider: 'software', state: 'active' });
    expect((await c.post<Obj>('/v1/tenants/kill/l1/check')).status.state).toBe('active');
    const killed = await c.post<Obj>('/v1/tenants/kill/kill', { reason: 'customer revoked access' });
    expect(killed.status).toMatchObject({ sealed: true, killed: true, sealKind: 'kill-switch' });
    expect(env.governance.getTenant('kill')!.state).toBe('killed');
    expect(env.governance.getL1Pointer('kill')!.state).toBe('removed');
    expect(env.hierarchy.liveKeyBuffersForTests('kill')).toEqual([]);
    expect(env.audit.tail(1)[0]).toMatchObject({ kind: 'kill', operation: 'tenant.kill', tenant: 'kill', detail: 'customer revoked access' });

    const un = await failure(c.post('/v1/tenants/kill/unseal'));
    expect(un.exitCode).toBe(EXIT_FAILED);
    expect(un.message).toMatch(/was killed/);
    expect(un.hint).toMatch(/kmipctl l1 set kill/);
    // A pointer to an L1 that does not exist is refused, the tenant stays killed.
    const badL1 = await failure(c.put('/v1/tenants/kill/l1', { provider: 'pkcs11', config: { library: '/nonexistent/libsofthsm2.so', tokenLabel: 't', keyLabel: 'k', pinEnv: 'NO_SUCH_PIN' } }));
    expect(badL1.message).toMatch(/cannot open the pkcs11 L1/);
    expect(env.hierarchy.status('kill').sealed).toBe(true);
    // The still-valid root key brings it back.
    const back = await c.put<Obj>('/v1/tenants/kill/l1', { provider: 'software', config: { keyFile: env.l1KeyFile } });
    expect(back.status.state).toBe('active');
    expect(env.hierarchy.status('kill')).toMatchObject({ sealed: false, killed: false });
    expect(env.governance.getTenant('kill')!.state).toBe('active');

    // Removing the pointer is the kill switch too.
    await c.delete('/v1/tenants/kill/l1');
    expect(env.hierarchy.status('kill')).toMatchObject({ sealed: true, killed: true });
    expect((await c.get<Obj>('/v1/tenants/kill/l1')).pointer.state).toBe('removed');
  });

  it('audit tail, export pages and verify', async () => {
    const c = env.client();
    const tail = await c.get<Obj>('/v1/audit/tail?n=2');
    expect(tail.records).toHaveLength(2);
    const all = await c.get<Obj>('/v1/audit/export?after=0&limit=5');
    expect(all.records.map((r: Obj) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(all.next).toBe(5);
    expect((await c.get<Obj>('/v1/audit/verify')).result).toMatchObject({ ok: true });
  });
});

describe('without the hierarchy engine', () => {
  it('seal and kill still change the governance state (the KMIP access control refuses by it); rotation answers 503', async () => {
    const bare = await startAdminEnv({ withoutHierarchy: true });
    try {
      const c = bare.client();
      await c.post('/v1/tenants', { name: 'solo' });
      await c.post('/v1/tenants/solo/services', { name: 's' });
      const rot = await failure(c.post('/v1/tenants/solo/services/s/rotate'));
      expect(rot.message).toMatch(/hierarchy engine is not running in this server \(unavailable\)/);
      expect((await c.post<Obj>('/v1/tenants/solo/seal')).state).toBe('sealed');
      expect((await c.post<Obj>('/v1/tenants/solo/unseal')).state).toBe('active');
      expect((await c.post<Obj>('/v1/tenants/solo/kill')).state).toBe('killed');
      expect(bare.governance.getTenant('solo')!.state).toBe('killed');
      expect((await c.get<Obj>('/v1/status')).hierarchy).toBe('absent');
    } finally {
      await bare.close();
    }
  });
});
