// Issue 16 §2: the pure scope decisions of the admin API (src/policy/admin-scope.ts), the
// tenant-admin on the KMIP side, and a check of the route table: every route a tenant-admin
// may reach says how it is kept to the caller's tenant, so a route added later cannot
// silently administer every tenant.
import { describe, expect, it } from 'vitest';
import { adminScopeOf, GLOBAL_ONLY_ROLES, mayAdministerTenant, mayRegisterIdentity } from '../../src/policy/admin-scope.ts';
import { authorize } from '../../src/policy/access.ts';
import { builtInRole } from '../../src/policy/roles.ts';
import { ADMIN_ROUTES } from '../../src/server/admin.ts';

const alpha = { kind: 'tenant', tenant: 'alpha' } as const;
const global = { kind: 'global' } as const;

describe('admin scope', () => {
  it('admin is global, tenant-admin is its tenant, other roles administer nothing', () => {
    expect(adminScopeOf({ role: 'admin', tenant: 'x' })).toEqual(global);
    expect(adminScopeOf({ role: 'tenant-admin', tenant: 'alpha' })).toEqual(alpha);
    for (const role of ['auditor', 'app', 'read-only', 'custom']) expect(adminScopeOf({ role, tenant: 'alpha' })).toBeUndefined();
  });

  it('a tenant-admin administers its own tenant only', () => {
    expect(mayAdministerTenant(alpha, 'alpha').allowed).toBe(true);
    expect(mayAdministerTenant(alpha, 'beta')).toEqual({ allowed: false, reason: 'a tenant-admin of "alpha" may not administer tenant "beta"' });
    expect(mayAdministerTenant(global, 'beta').allowed).toBe(true);
  });

  it('no privilege escalation through identities', () => {
    const fp = { kind: 'fingerprint', sha256: 'ab'.repeat(32) } as const;
    expect(mayRegisterIdentity(alpha, { tenant: 'alpha', role: 'app', match: fp }).allowed).toBe(true);
    expect(mayRegisterIdentity(alpha, { tenant: 'alpha', role: 'tenant-admin', match: fp }).allowed).toBe(true);
    expect(mayRegisterIdentity(alpha, { tenant: 'alpha', role: 'gateway' }).allowed).toBe(true);
    for (const role of GLOBAL_ONLY_ROLES) expect(mayRegisterIdentity(alpha, { tenant: 'alpha', role, match: fp }).allowed).toBe(false);
    expect([...GLOBAL_ONLY_ROLES].sort()).toEqual(['admin', 'auditor', 'core']);
    expect(mayRegisterIdentity(alpha, { tenant: 'beta', role: 'app', match: fp }).allowed).toBe(false);
    expect(mayRegisterIdentity(alpha, { tenant: 'beta', role: 'gateway' }).allowed).toBe(false);
    expect(mayRegisterIdentity(alpha, { tenant: 'alpha', role: 'app', match: { kind: 'subject', pattern: 'CN=x' } }).allowed).toBe(false);
    expect(mayRegisterIdentity(alpha, { tenant: 'alpha', role: 'app', match: { kind: 'san-uri', uri: 'spiffe://x/y' } }).allowed).toBe(false);
    expect(mayRegisterIdentity(alpha, { tenant: 'alpha', role: 'app', match: { kind: 'san-uri', uri: 'openkcm://tenant/alpha/service/s/role/app' } }).allowed).toBe(true);
    expect(mayRegisterIdentity(global, { tenant: 'beta', role: 'admin', match: { kind: 'subject', pattern: 'CN=x' } }).allowed).toBe(true);
  });

  it('on KMIP a tenant-admin reaches every service of its tenant, like admin', () => {
    const id = { id: 'i', tenant: 'alpha', service: 'ops', role: 'tenant-admin', match: { kind: 'fingerprint', sha256: 'ab'.repeat(32) } as const, revoked: false };
    const obj = { objectType: 'SymmetricKey', groups: [], service: 'billing' };
    expect(authorize(id, builtInRole('tenant-admin')!, 'Get', obj, []).allowed).toBe(true);
    expect(authorize({ ...id, role: 'app' }, builtInRole('app')!, 'Get', obj, []).allowed).toBe(false);
  });
});

describe('the admin route table', () => {
  it('every route a tenant-admin may reach declares its tenant scope; a :tenant path is scoped by it', () => {
    for (const r of ADMIN_ROUTES) {
      if (r.access === 'admin') continue;
      expect(r.scope, `${r.name} declares no scope`).toBeDefined();
      if (r.path.includes(':tenant')) expect(r.scope, r.name).toEqual({ param: 'tenant' });
    }
  });

  it('what concerns no single tenant stays with the global admin', () => {
    const globalOnly = ADMIN_ROUTES.filter((r) => r.access === 'admin').map((r) => r.name).sort();
    expect(globalOnly).toEqual(expect.arrayContaining(['l1.set', 'role.create', 'tenant.create']));
  });
});
