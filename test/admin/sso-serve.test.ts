// Single sign-on through the real programs (issue 14 §4): `openkcm serve` configured with
// sso.* from the environment (the client secret by reference) against the real test IdP,
// and `kmipctl` with a bearer token from a file — next to the development admin
// certificate, which keeps working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { fetchText, type HttpAnswer } from '../helpers/http.ts';
import { join } from 'node:path';
import { startServed, type ServedEnv } from './serve.ts';
import { ADMIN_AUDIENCE, CONSOLE_CLIENT, newSigningKey, OTHER_RESOURCE, startTestIdp, type TestIdp } from '../helpers/oidc-provider.ts';

let idp: TestIdp;
let served: ServedEnv;

beforeAll(async () => {
  idp = await startTestIdp({ alice: ['kms-admins'] }, { 'robot-admin': ['kms-admins'], 'robot-auditor': ['kms-auditors'] });
  served = await startServed({
    env: {
      OPENKCM_SSO_ISSUER: idp.issuer, OPENKCM_SSO_CLIENT_ID: CONSOLE_CLIENT.id, OPENKCM_SSO_AUDIENCE: ADMIN_AUDIENCE,
      OPENKCM_SSO_ROLES: JSON.stringify({ 'kms-admins': 'admin', 'kms-auditors': 'auditor' }),
      OPENKCM_SSO_SCOPES: 'openid email groups',
      OPENKCM_SSO_CLIENT_SECRET_ENV: 'IDP_CONSOLE_SECRET', IDP_CONSOLE_SECRET: CONSOLE_CLIENT.secret,
    },
  });
  idp.configure({ redirectUri: `https://127.0.0.1:${served.adminPort}/auth/callback`, keys: [await newSigningKey('serve-key')] });
}, 120_000);

afterAll(async () => {
  await served?.stop();
  await idp?.close();
});

function get(path: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return fetchText(`https://127.0.0.1:${served.adminPort}${path}`, { ca: readFileSync(join(served.cwd, 'certs', 'ca.crt')), headers });
}

describe('openkcm serve with sso.* and kmipctl --token-file', () => {
  it('signs a person in through the console flow with the client secret read from the named variable', async () => {
    const start = await get('/auth/login');
    expect(start.status).toBe(302);
    const state = start.headers['set-cookie']!.find((c) => c.startsWith('__Host-openkcm-login='))!.split(';')[0]!;
    const back = new URL(await idp.login(start.headers.location!, 'alice'));
    // The token endpoint accepts only client_secret_basic with the right secret: a wrong or
    // missing secret would make this callback 401.
    const cb = await get(back.pathname + back.search, { cookie: state });
    expect(cb.status, cb.body).toBe(200);
    const session = cb.headers['set-cookie']!.find((c) => c.startsWith('__Host-openkcm-session='))!.split(';')[0]!;
    const me = JSON.parse((await get('/auth/me', { cookie: session })).body);
    expect(me).toMatchObject({ authenticated: true, via: 'session', subject: 'alice', role: 'admin' });
  });

  it('kmipctl works with a bearer token (no certificate sent), is refused with a wrong-audience one, and still works with the admin certificate', async () => {
    const tokenFile = join(served.cwd, 'token');
    writeFileSync(tokenFile, `${await idp.robotToken('robot-admin')}\n`, { mode: 0o600 });
    // No client certificate files at all: the token alone gets in.
    const noCert = { OPENKCM_ADMIN_CERT: join(served.cwd, 'absent.crt'), OPENKCM_ADMIN_KEY: join(served.cwd, 'absent.key') };
    const ok = await served.kmipctl(['tenant', 'create', 'from-sso', '--token-file', tokenFile], noCert);
    expect(ok.code, ok.stderr).toBe(0);
    const auditor = await idp.robotToken('robot-auditor');
    const refused = await served.kmipctl(['tenant', 'create', 'never', '--json'], { ...noCert, OPENKCM_ADMIN_TOKEN: auditor });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('role "auditor" may not call tenant.create');
    writeFileSync(tokenFile, await idp.robotToken('robot-admin', OTHER_RESOURCE));
    const wrong = await served.kmipctl(['tenant', 'list', '--token-file', tokenFile], noCert);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`bearer token refused: the token's audience "payroll-api" does not include "${ADMIN_AUDIENCE}"`);
    const cert = await served.kmipctl(['tenant', 'list', '--json']);
    expect(cert.code, cert.stderr).toBe(0);
    expect(JSON.parse(cert.stdout).tenants.map((t: { id: string }) => t.id)).toContain('from-sso');
    const audit = await served.kmipctl(['audit', 'tail', '-n', '50', '--json']);
    const records = JSON.parse(audit.stdout).records as Array<{ kind: string; operation: string; identity: string; result: string }>;
    expect(records.find((r) => r.operation === 'tenant.create' && r.result === 'success')?.identity).toBe('sso:robot-admin via bearer');
    expect(records.filter((r) => r.kind === 'auth-failure').map((r) => r.identity)).toEqual(expect.arrayContaining(['sso:robot-auditor via bearer']));
  });
});
