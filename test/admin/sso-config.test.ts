// Single sign-on configuration (issue 14 §4): the sso.* keys, each refused with a ConfigError
// that names the key when wrong; the client secret by reference; and `openkcm serve` with a
// bad SSO configuration stops at start with one line and exit status 2.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { resolveSsoSettings } from '../../src/server/sso.ts';
import { claimValues, roleFromClaims } from '../../src/policy/sso-claims.ts';
import { OPENKCM } from '../helpers/cli.ts';

const base = { OPENKCM_SSO_ISSUER: 'https://idp.example/realms/corp', OPENKCM_SSO_CLIENT_ID: 'openkcm', OPENKCM_SSO_ROLES: '{"kms-admins":"admin","acme":"tenant-admin:acme"}' };

describe('sso.* configuration', () => {
  it('is absent unless configured, and complete with defaults once issuer, client id and roles are set', () => {
    expect(loadConfig({ env: {} }).sso).toBeUndefined();
    expect(loadConfig({ env: base }).sso).toEqual({
      issuer: 'https://idp.example/realms/corp', clientId: 'openkcm', clientSecretEnv: undefined, clientSecretFile: undefined,
      audience: 'openkcm', redirectUrl: undefined, roleClaim: 'groups', roles: { 'kms-admins': 'admin', acme: 'tenant-admin:acme' },
      scopes: 'openid profile email', sessionTtlSeconds: 3600,
    });
  });

  it('reads the same settings from a JSON file (roles as an object)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-sso-'));
    try {
      writeFileSync(join(dir, 'c.json'), JSON.stringify({ sso: {
        issuer: 'https://login.example/tenant/v2.0', clientId: 'abc', clientSecretFile: 'secret.txt', audience: 'api://abc',
        roleClaim: 'roles', roles: { 'OpenKCM.Admin': 'admin', 'OpenKCM.Auditor': 'auditor' }, sessionTtlSeconds: 900,
      } }));
      const c = loadConfig({ env: { OPENKCM_CONFIG: join(dir, 'c.json') } }).sso!;
      expect(c).toMatchObject({ audience: 'api://abc', roleClaim: 'roles', clientSecretFile: join(dir, 'secret.txt'), sessionTtlSeconds: 900 });
      expect(c.roles).toEqual({ 'OpenKCM.Admin': 'admin', 'OpenKCM.Auditor': 'auditor' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ OPENKCM_SSO_ISSUER: 'https://idp.example' }, 'configuration env OPENKCM_SSO_ISSUER "sso.clientId": is missing'],
    [{ ...base, OPENKCM_SSO_ISSUER: 'http://idp.example' }, 'configuration env OPENKCM_SSO_ISSUER "sso.issuer": "http://idp.example" is not https://'],
    [{ ...base, OPENKCM_SSO_ISSUER: 'https://idp.example/?x=1' }, 'carries a query'],
    [{ ...base, OPENKCM_SSO_ROLES: '{"g":"root"}' }, '"sso.roles": "g" maps to "root"'],
    [{ ...base, OPENKCM_SSO_ROLES: '{}' }, 'maps no claim value'],
    [{ ...base, OPENKCM_SSO_ROLES: '[' }, 'is not valid JSON'],
    [{ ...base, OPENKCM_SSO_SESSION_TTL: '86400' }, '"sso.sessionTtlSeconds": 86400 is out of range'],
    [{ ...base, OPENKCM_SSO_SCOPES: 'profile email' }, 'lacks openid'],
    [{ ...base, OPENKCM_SSO_CLIENT_SECRET_ENV: 'X', OPENKCM_SSO_CLIENT_SECRET_FILE: '/s' }, 'both set'],
    [{ ...base, OPENKCM_SSO_CLIENT_SECRET_ENV: 'not a name' }, 'is not an environment variable name'],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it('allows http:// only for a loopback issuer (development IdP)', () => {
    expect(loadConfig({ env: { ...base, OPENKCM_SSO_ISSUER: 'http://127.0.0.1:8080/realms/dev' } }).sso?.issuer).toBe('http://127.0.0.1:8080/realms/dev');
  });

  it('resolves the client secret from the named environment variable or file, never from the config itself', () => {
    const c = loadConfig({ env: { ...base, OPENKCM_SSO_CLIENT_SECRET_ENV: 'OPENKCM_SSO_CLIENT_SECRET', OPENKCM_SSO_CLIENT_SECRET: 's3cret' } }).sso!;
    expect(JSON.stringify(c)).not.toContain('s3cret');
    expect(resolveSsoSettings(c, { OPENKCM_SSO_CLIENT_SECRET: 's3cret' }).clientSecret).toBe('s3cret');
    expect(() => resolveSsoSettings(c, {})).toThrow('sso.clientSecretEnv names OPENKCM_SSO_CLIENT_SECRET, which is not set (or empty)');
    expect(() => resolveSsoSettings({ ...c, clientSecretEnv: undefined, clientSecretFile: '/nonexistent/secret' }, {})).toThrow('cannot read sso.clientSecretFile /nonexistent/secret: ENOENT');
    expect(resolveSsoSettings({ ...c, clientSecretEnv: undefined }, {}).clientSecret).toBeUndefined();
  });
});

describe('role mapping from claims', () => {
  const roles = { admins: 'admin', audit: 'auditor', acme: 'tenant-admin:acme', beta: 'tenant-admin:beta' };
  it('maps one value, lets admin win over the others, refuses two tenants, no claim, nothing mapped', () => {
    expect(roleFromClaims({ groups: 'audit' }, 'groups', roles)).toMatchObject({ allowed: true, role: { role: 'auditor', tenant: '' } });
    expect(roleFromClaims({ groups: ['audit', 'admins', 'acme'] }, 'groups', roles)).toMatchObject({ allowed: true, role: { role: 'admin' } });
    expect(roleFromClaims({ groups: ['acme', 'x'] }, 'groups', roles)).toMatchObject({ allowed: true, role: { role: 'tenant-admin', tenant: 'acme' } });
    expect(roleFromClaims({ groups: ['acme', 'beta'] }, 'groups', roles)).toMatchObject({ allowed: false });
    expect(roleFromClaims({ groups: ['audit', 'acme'] }, 'groups', roles)).toMatchObject({ allowed: false });
    expect(roleFromClaims({}, 'groups', roles)).toEqual({ allowed: false, reason: 'the token has no "groups" claim (a string or a list of strings) to map to a role' });
    expect(roleFromClaims({ groups: ['toString', '__proto__'] }, 'groups', roles)).toMatchObject({ allowed: false });
  });
  it('reads nested claims (Keycloak realm_access.roles) and claim names holding dots (URL claims)', () => {
    expect(claimValues({ realm_access: { roles: ['a', 'b'] } }, 'realm_access.roles')).toEqual(['a', 'b']);
    expect(claimValues({ 'https://example.com/roles': ['x'] }, 'https://example.com/roles')).toEqual(['x']);
    expect(claimValues({ groups: [1, 'a'] }, 'groups')).toEqual(['a']);
  });
});

describe('openkcm serve with a bad SSO configuration', () => {
  it('stops at start with one line naming what to fix (exit 2)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-sso-cli-'));
    try {
      for (const [env, line] of [
        [{ ...base, OPENKCM_SSO_CLIENT_SECRET_ENV: 'OPENKCM_SSO_CLIENT_SECRET' }, 'openkcm: configuration: sso.clientSecretEnv names OPENKCM_SSO_CLIENT_SECRET, which is not set (or empty)'],
        [{ ...base, OPENKCM_SSO_ROLES: '{"g":"superuser"}' }, 'openkcm: configuration env OPENKCM_SSO_ROLES "sso.roles": "g" maps to "superuser"; expected'],
      ] as const) {
        const r = spawnSync(process.execPath, [OPENKCM, 'serve', '--listen', '127.0.0.1:0', '--data', join(dir, 'data'), '--certs', join(dir, 'certs')], {
          env: { PATH: process.env.PATH, HOME: process.env.HOME, OPENKCM_WORKERS: '1', ...env }, encoding: 'utf8', timeout: 120_000,
        });
        expect(r.status).toBe(2);
        const lines = r.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]!.startsWith(line), r.stderr).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
