// Single sign-on for administrators (issue 14 §4) against a real OpenID provider
// (oidc-provider, test/helpers/oidc-provider.ts) and the real admin listener (HTTPS, the
// development PKI, SQLite governance and audit): the console's authorization-code + PKCE
// login driven over plain HTTP, role mapping, bearer tokens, and every refusal — expired,
// wrong audience, wrong issuer, tampered signature, unmapped person, untrusted certificate —
// answered 401/403 with a one-line reason and exactly one audit record each.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { adminCall, startAdminEnv, type AdminEnv } from './helpers.ts';
import { ADMIN_AUDIENCE, CONSOLE_CLIENT, newSigningKey, OTHER_RESOURCE, startTestIdp, type SigningKey, type TestIdp } from '../helpers/oidc-provider.ts';
import { OidcSso, SSO_LOGIN_COOKIE, SSO_SESSION_COOKIE, SsoRefusal } from '../../src/server/sso.ts';
import { ensureDevPki } from '../../src/server/devpki.ts';
import { silentLogger } from '../../src/log/index.ts';

const PEOPLE = { alice: ['staff', 'kms-admins'], bob: ['kms-auditors'], carol: ['acme-kms'], dave: ['staff'], erin: ['acme-kms', 'beta-kms'] };
const ROBOTS = { 'robot-admin': ['kms-admins'], 'robot-acme': ['acme-kms'], 'robot-nobody': ['staff'] };
const ROLES = { 'kms-admins': 'admin', 'kms-auditors': 'auditor', 'acme-kms': 'tenant-admin:acme', 'beta-kms': 'tenant-admin:beta' };

interface Reply { status: number; headers: import('node:http').IncomingHttpHeaders; text: string; json: Record<string, any> }

let idp: TestIdp;
let env: AdminEnv;
let key1: SigningKey;
let sso: OidcSso;

/** One HTTPS request to the admin listener, without a client certificate unless given. */
function call(method: string, path: string, o: { headers?: Record<string, string>; body?: unknown; cert?: { cert: string; key: string } } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, env.url), {
      method, ca: readFileSync(env.pki.caCert),
      ...(o.cert ? { cert: readFileSync(o.cert.cert), key: readFileSync(o.cert.key) } : {}),
      headers: { ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: Record<string, any> = {};
        try { json = JSON.parse(text || '{}'); } catch { /* HTML */ }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (o.body !== undefined) req.write(JSON.stringify(o.body));
    req.end();
  });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const setCookie = (r: Reply, name: string) => (r.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`));
const cookieValue = (c: string | undefined) => c?.split(';')[0]!.split('=')[1];

/** Runs `f`, and answers the audit records it added. */
async function auditOf(f: () => Promise<unknown>) {
  env.audit.flush();
  const seq = env.audit.lastSeq();
  await f();
  env.audit.flush();
  return env.audit.readAfter(seq, 100);
}

/** The whole console login for `user`; answers the session cookie value (or the refused callback). */
async function login(user: string): Promise<{ session?: string; callback: Reply }> {
  const start = await call('GET', '/auth/login?return=/console/tenants');
  expect(start.status).toBe(302);
  const state = cookieValue(setCookie(start, SSO_LOGIN_COOKIE));
  const back = await idp.login(start.headers.location!, user);
  const u = new URL(back);
  const callback = await call('GET', u.pathname + u.search, { headers: { cookie: `${SSO_LOGIN_COOKIE}=${state}` } });
  const session = cookieValue(setCookie(callback, SSO_SESSION_COOKIE));
  return { ...(session ? { session } : {}), callback };
}

beforeAll(async () => {
  idp = await startTestIdp(PEOPLE, ROBOTS);
  key1 = await newSigningKey('key-1');
  sso = new OidcSso({
    settings: {
      issuer: idp.issuer, clientId: CONSOLE_CLIENT.id, clientSecret: CONSOLE_CLIENT.secret, audience: ADMIN_AUDIENCE,
      redirectUrl: undefined, roleClaim: 'groups', roles: ROLES, scopes: 'openid email groups', sessionTtlSeconds: 600,
    },
    logger: silentLogger(),
    // Key rotation below: the refetch on an unknown key id is not held back by the cooldown.
    jwksCooldownMs: 0,
  });
  env = await startAdminEnv({ sso });
  env.governance.createTenant({ id: 'acme' });
  env.governance.createTenant({ id: 'beta' });
  idp.configure({ redirectUri: `${env.url}/auth/callback`, keys: [key1] });
}, 60_000);

afterAll(async () => {
  await env?.close();
  await idp?.close();
});

describe('console login (authorization code + PKCE) through the real provider', () => {
  it('signs alice in as admin: session cookie HttpOnly, Secure, SameSite=Strict, bounded; /auth/me; the API; logout revokes it server-side', async () => {
    const records = await auditOf(async () => {
      const { session, callback } = await login('alice');
      expect(callback.status).toBe(200);
      expect(callback.text).toContain('url=/console/tenants');
      const c = setCookie(callback, SSO_SESSION_COOKIE)!;
      expect(c).toMatch(/; HttpOnly/);
      expect(c).toMatch(/; Secure/);
      expect(c).toMatch(/; SameSite=Strict/);
      expect(c).toMatch(/; Max-Age=600/);
      expect(c).toMatch(/; Path=\//);
      const cookie = { cookie: `${SSO_SESSION_COOKIE}=${session}` };
      const me = await call('GET', '/auth/me', { headers: cookie });
      expect(me.json).toMatchObject({ sso: { configured: true, issuer: idp.issuer }, authenticated: true, via: 'session', subject: 'alice', name: 'alice@example.test', role: 'admin', tenant: null });
      const tenants = await call('GET', '/v1/tenants', { headers: cookie });
      expect(tenants.status).toBe(200);
      expect(tenants.json.tenants.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(['default', 'acme', 'beta']));
      const created = await call('POST', '/v1/tenants', { headers: cookie, body: { name: 'gamma' } });
      expect(created.status).toBe(201);
      const out = await call('POST', '/auth/logout', { headers: cookie });
      expect(out.json.loggedOut).toBe(true);
      expect(setCookie(out, SSO_SESSION_COOKIE)).toMatch(/Max-Age=0/);
      // The same cookie, replayed after logout: refused, because the session is gone here.
      const after = await call('GET', '/v1/tenants', { headers: cookie });
      expect(after.status).toBe(401);
      expect(after.json.error.message).toBe('console session refused: the console session is unknown or was logged out; sign in again at /auth/login');
    });
    expect(records.map((r) => [r.kind, r.operation, r.result])).toEqual([
      ['admin', 'admin.login', 'success'], ['admin', 'tenant.create', 'success'], ['admin', 'admin.logout', 'success'], ['auth-failure', 'admin.authenticate', 'failure'],
    ]);
    expect(records[1]!.identity).toBe('sso:alice (alice@example.test) via session');
  });

  it('maps roles: bob the auditor reads the audit trail and changes nothing; carol administers acme only', async () => {
    const bob = { cookie: `${SSO_SESSION_COOKIE}=${(await login('bob')).session}` };
    expect((await call('GET', '/v1/audit/tail?n=5', { headers: bob })).status).toBe(200);
    const refused = await auditOf(async () => {
      const r = await call('POST', '/v1/tenants', { headers: bob, body: { name: 'delta' } });
      expect(r.status).toBe(403);
    });
    expect(refused.map((r) => [r.kind, r.identity])).toEqual([['auth-failure', 'sso:bob (bob@example.test) via session']]);
    const carol = { cookie: `${SSO_SESSION_COOKIE}=${(await login('carol')).session}` };
    expect((await call('GET', '/auth/me', { headers: carol })).json).toMatchObject({ role: 'tenant-admin', tenant: 'acme' });
    expect((await call('POST', '/v1/tenants/acme/services', { headers: carol, body: { name: 'billing' } })).status).toBe(201);
    const other = await call('POST', '/v1/tenants/beta/services', { headers: carol, body: { name: 'billing' } });
    expect(other.status).toBe(403);
    expect(other.json.error.message).toContain('may not administer tenant "beta"');
  });

  it('refuses a person whose groups map to no role, or to two tenants (403, one audit record each), and a callback from another browser', async () => {
    for (const [user, reason] of [
      ['dave', 'no value of the "groups" claim is mapped to a role (sso.roles)'],
      ['erin', 'the "groups" claim maps to several roles (tenant-admin:acme, tenant-admin:beta); a person must map to one'],
    ] as const) {
      const records = await auditOf(async () => {
        const { session, callback } = await login(user);
        expect(session).toBeUndefined();
        expect(callback.status).toBe(403);
        expect(callback.json.error.message).toBe(reason);
      });
      expect(records.map((r) => [r.kind, r.operation, r.identity])).toEqual([['auth-failure', 'admin.login', `sso:${user} (${user}@example.test) via login`]]);
    }
    // The IdP's redirect replayed without the login cookie (login CSRF): refused, and the code is not redeemed.
    const start = await call('GET', '/auth/login');
    const back = new URL(await idp.login(start.headers.location!, 'alice'));
    const records = await auditOf(async () => {
      const r = await call('GET', back.pathname + back.search);
      expect(r.status).toBe(401);
      expect(r.json.error.message).toContain('not started by this browser');
    });
    expect(records.map((r) => r.kind)).toEqual(['auth-failure']);
  });

  it('ends a session at its lifetime (sso.sessionTtlSeconds), whatever the browser keeps: 401, audited', async () => {
    const cookie = { cookie: `${SSO_SESSION_COOKIE}=${(await login('alice')).session}` };
    expect((await call('GET', '/v1/tenants', { headers: cookie })).status).toBe(200);
    // Only the clock moves (Date), timers and sockets run as usual.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 601_000);
      const records = await auditOf(async () => {
        const r = await call('GET', '/v1/tenants', { headers: cookie });
        expect(r.status).toBe(401);
        expect(r.json.error.message).toBe('console session refused: the console session expired; sign in again at /auth/login');
      });
      expect(records.map((r) => [r.kind, r.identity])).toEqual([['auth-failure', 'sso:alice (alice@example.test) via session']]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses an open redirect after login: only paths of this listener', async () => {
    const start = await call('GET', '/auth/login?return=//evil.example/');
    const state = cookieValue(setCookie(start, SSO_LOGIN_COOKIE));
    expect(setCookie(start, SSO_LOGIN_COOKIE)).toMatch(/HttpOnly; Secure; SameSite=Lax/);
    const back = new URL(await idp.login(start.headers.location!, 'alice'));
    const cb = await call('GET', back.pathname + back.search, { headers: { cookie: `${SSO_LOGIN_COOKIE}=${state}` } });
    expect(cb.text).toContain('url=/console/"');
  });
});

describe('bearer tokens on the admin API', () => {
  it('accepts a token of the IdP for the admin audience and maps its groups', async () => {
    const t = await idp.robotToken('robot-admin');
    const r = await call('GET', '/v1/tenants', { headers: bearer(t) });
    expect(r.status).toBe(200);
    expect((await call('GET', '/auth/me', { headers: bearer(t) })).json).toMatchObject({ authenticated: true, via: 'bearer', subject: 'robot-admin', role: 'admin' });
    const acme = await idp.robotToken('robot-acme');
    expect((await call('GET', '/v1/tenants/acme', { headers: bearer(acme) })).status).toBe(200);
    expect((await call('GET', '/v1/tenants/beta', { headers: bearer(acme) })).status).toBe(403);
  });

  it('refuses expired, wrong-audience, wrong-issuer, tampered and unmapped tokens: a clear reason and one audit record each', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = await idp.robotToken('robot-admin');
    const [h, p, s] = good.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const cases: Array<[string, string, number, string]> = [
      ['expired', await idp.sign(key1, { iss: idp.issuer, aud: ADMIN_AUDIENCE, sub: 'robot-admin', groups: ['kms-admins'], iat: now - 7200, exp: now - 3600 }), 401,
        `bearer token refused: the token expired (exp ${now - 3600}, now `],
      ['wrong audience', await idp.robotToken('robot-admin', OTHER_RESOURCE), 401,
        `bearer token refused: the token's audience "payroll-api" does not include "${ADMIN_AUDIENCE}"`],
      ['wrong issuer', await idp.sign(key1, { iss: 'https://idp.attacker.example', aud: ADMIN_AUDIENCE, sub: 'robot-admin', groups: ['kms-admins'], exp: now + 300 }), 401,
        `bearer token refused: the token's issuer "https://idp.attacker.example" is not "${idp.issuer}"`],
      // The payload changed to a more powerful sub and kept the IdP's signature.
      ['tampered', `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'robot-acme-escalated' })).toString('base64url')}.${s}`, 401,
        'bearer token refused: the token signature does not verify with the issuer\'s key'],
      ['not a JWT', 'abc.def', 401, 'bearer token refused: the token is not a well-formed signed JWT'],
      ['unmapped', await idp.robotToken('robot-nobody'), 403, 'bearer token refused: no value of the "groups" claim is mapped to a role (sso.roles)'],
    ];
    for (const [what, token, status, message] of cases) {
      const records = await auditOf(async () => {
        const r = await call('POST', '/v1/tenants', { headers: bearer(token), body: { name: `never-${what.replace(/ /g, '-')}` } });
        expect(r.status, what).toBe(status);
        expect(r.json.error.message.startsWith(message), `${what}: ${r.json.error.message}`).toBe(true);
        expect(r.json.error.message).not.toContain('\n');
      });
      expect(records.map((r) => [r.kind, r.operation, r.result, r.reason]), what).toEqual([['auth-failure', 'admin.authenticate', 'failure', 'PermissionDenied']]);
      expect(records[0]!.detail).toContain('POST /v1/tenants');
    }
    expect(env.governance.listTenants().map((t) => t.id).filter((id) => id.startsWith('never-'))).toEqual([]);
  });

  it('follows a key rotation at the IdP: a token under the new key verifies without a restart; the withdrawn key stops verifying', async () => {
    const old = await idp.robotToken('robot-admin');
    expect((await call('GET', '/v1/tenants', { headers: bearer(old) })).status).toBe(200);
    const key2 = await newSigningKey('key-2');
    idp.configure({ redirectUri: `${env.url}/auth/callback`, keys: [key2] });
    const fresh = await idp.robotToken('robot-admin');
    expect(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid).toBe('key-2');
    expect((await call('GET', '/v1/tenants', { headers: bearer(fresh) })).status).toBe(200);
    const r = await call('GET', '/v1/tenants', { headers: bearer(await idp.sign(key1, { iss: idp.issuer, aud: ADMIN_AUDIENCE, sub: 'x', groups: ['kms-admins'], exp: Math.floor(Date.now() / 1000) + 300 })) });
    expect(r.status).toBe(401);
    expect(r.json.error.message).toBe('bearer token refused: the token is signed with a key the issuer does not publish');
    idp.configure({ redirectUri: `${env.url}/auth/callback`, keys: [key1] });
  });
});

describe('an IdP that cannot be used', () => {
  const settings = (issuer: string) => ({
    issuer, clientId: CONSOLE_CLIENT.id, audience: ADMIN_AUDIENCE, redirectUrl: undefined, roleClaim: 'groups', roles: ROLES, scopes: 'openid', sessionTtlSeconds: 600,
  });
  it('answers 503 with the reason when the IdP is down or names another issuer, and retries later', async () => {
    const down = new OidcSso({ settings: settings('http://127.0.0.1:9'), logger: silentLogger() });
    await expect(down.verifyBearer('a.b.c')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/^the identity provider's discovery document http:\/\/127\.0\.0\.1:9\/\.well-known\/openid-configuration cannot be read: /) });
    // A trailing slash is another issuer (OIDC Discovery §4.3): the document names it without.
    const slash = new OidcSso({ settings: settings(`${idp.issuer}/`), logger: silentLogger() });
    const e = await slash.beginLogin('/').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SsoRefusal);
    expect((e as SsoRefusal).message).toBe(`the discovery document at ${idp.issuer}/.well-known/openid-configuration names the issuer "${idp.issuer}", not the configured "${idp.issuer}/" (check sso.issuer, including a trailing slash)`);
  });
});

describe('the listener with SSO on', () => {
  it('keeps mutual TLS working, and refuses a request with no credential (401) on every route but /auth/*', async () => {
    expect((await adminCall(env, 'GET', '/v1/tenants')).status).toBe(200);
    expect((await call('GET', '/auth/me', { cert: { cert: env.pki.clientCert, key: env.pki.clientKey } })).json).toMatchObject({ authenticated: true, via: 'certificate', role: 'admin' });
    for (const path of ['/v1/tenants', '/v1/status', '/v1/audit/tail', '/v1/whoami', '/v1/nothing-here']) {
      const r = await call('GET', path);
      expect(r.status, path).toBe(401);
      expect(r.json.error.message).toBe('no client certificate, bearer token or console session');
    }
    const me = await call('GET', '/auth/me');
    expect(me.json).toEqual({ sso: { configured: true, issuer: idp.issuer, login: '/auth/login', logout: '/auth/logout' }, authenticated: false });
  });

  it('refuses a client certificate of another CA (401, audited), even with a valid token beside it', async () => {
    const other = await ensureDevPki(join(env.dir, 'other-pki'));
    const token = await idp.robotToken('robot-admin');
    const records = await auditOf(async () => {
      const r = await call('GET', '/v1/tenants', { cert: { cert: other.files.clientCert, key: other.files.clientKey }, headers: bearer(token) });
      expect(r.status).toBe(401);
      expect(r.json.error.message).toMatch(/^client certificate not trusted: /);
    });
    expect(records.map((r) => r.kind)).toEqual(['auth-failure']);
  });

  it('refuses a cross-origin change with a session cookie', async () => {
    const cookie = `${SSO_SESSION_COOKIE}=${(await login('alice')).session}`;
    const r = await call('POST', '/v1/tenants', { headers: { cookie, origin: 'https://evil.example' }, body: { name: 'never-cors' } });
    expect(r.status).toBe(403);
    expect(r.json.error.message).toBe('cross-origin POST refused (Origin https://evil.example)');
  });
});
