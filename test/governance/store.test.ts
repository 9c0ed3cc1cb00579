// GovernanceStore (src/store/governance.ts): CRUD, validation and error codes over the real
// SQLite store with migration 5.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { GovernanceError, GovernanceStore, BUILT_IN_ROLE_TABLE } from '../../src/store/governance.ts';
import { BUILT_IN_ROLES } from '../../src/policy/roles.ts';
import type { PolicyGrant, PolicyIdentity } from '../../src/policy/access.ts';
import type { Grant, Identity } from '../../src/store/governance.ts';

const FP = 'ab'.repeat(32);

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof GovernanceError) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('expected a GovernanceError');
}

let store: SqliteStore;
let gov: GovernanceStore;
beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  gov = new GovernanceStore(store.database);
});
afterEach(async () => { await store.close(); });

describe('GovernanceStore', () => {
  it('starts uninitialised; the first tenant initialises it for good', () => {
    expect(gov.isInitialised()).toBe(false);
    const g0 = gov.generation();
    gov.createTenant({ id: 'acme', name: 'Acme Corp' });
    expect(gov.isInitialised()).toBe(true);
    expect(gov.generation()).toBeGreaterThan(g0);
  });

  it('tenants: create, get, list, state; duplicates and bad ids refused', () => {
    const t = gov.createTenant({ id: 'acme' });
    expect(t).toMatchObject({ id: 'acme', name: 'acme', state: 'active' });
    gov.createTenant({ id: 'globex', name: 'Globex' });
    expect(gov.listTenants().map((x) => x.id)).toEqual(['acme', 'globex']);
    expect(code(() => gov.createTenant({ id: 'acme' }))).toMatch(/^exists: tenant acme/);
    expect(code(() => gov.createTenant({ id: 'Bad Name' }))).toMatch(/^invalid: tenant: "Bad Name" is not a valid identifier/);
    expect(code(() => gov.createTenant({ id: 'a/b' }))).toMatch(/^invalid/);
    expect(code(() => gov.createTenant({ id: 'ok', name: 'x\ny' }))).toMatch(/^invalid: name/);
    expect(gov.setTenantState('acme', 'sealed').state).toBe('sealed');
    expect(gov.getTenant('acme')?.state).toBe('sealed');
    expect(code(() => gov.setTenantState('acme', 'gone' as never))).toMatch(/^invalid: state/);
    expect(code(() => gov.setTenantState('nope', 'active'))).toMatch(/^not-found: tenant nope/);
    expect(gov.getTenant('nope')).toBeUndefined();
  });

  it('services live inside an existing tenant', () => {
    gov.createTenant({ id: 'acme' });
    const s = gov.createService({ tenant: 'acme', id: 'billing', name: 'Billing' });
    expect(s).toMatchObject({ tenant: 'acme', id: 'billing', name: 'Billing' });
    gov.createService({ tenant: 'acme', id: 'crm' });
    expect(gov.listServices('acme').map((x) => x.id)).toEqual(['billing', 'crm']);
    expect(code(() => gov.createService({ tenant: 'acme', id: 'crm' }))).toMatch(/^exists/);
    expect(code(() => gov.createService({ tenant: 'nope', id: 'crm' }))).toMatch(/^not-found: tenant nope/);
    expect(code(() => gov.listServices('nope'))).toMatch(/^not-found/);
    expect(gov.getService('acme', 'zzz')).toBeUndefined();
  });

  it('roles: built-ins listed and not replaceable; custom roles validated', () => {
    expect(gov.listRoles().filter((r) => r.builtIn).map((r) => r.name)).toEqual(['admin', 'tenant-admin', 'app', 'read-only', 'auditor', 'gateway']);
    expect(code(() => gov.createRole({ name: 'admin', operations: ['Get'] }))).toMatch(/^exists: role admin exists already \(built-in\)/);
    const r = gov.createRole({ name: 'hsm-ops', operations: ['Get', 'Encrypt', 'Get'], objectTypes: ['SymmetricKey'], objectGroups: ['payments'] });
    expect(r).toEqual({ name: 'hsm-ops', operations: ['Get', 'Encrypt'], objectTypes: ['SymmetricKey'], objectGroups: ['payments'], builtIn: false });
    expect(gov.getRole('hsm-ops')).toEqual(r);
    expect(code(() => gov.createRole({ name: 'x', operations: ['Fly'] }))).toMatch(/^invalid: operations: "Fly" is not a KMIP operation name/);
    expect(code(() => gov.createRole({ name: 'x', operations: [] }))).toMatch(/^invalid: operations/);
    expect(code(() => gov.createRole({ name: 'x', operations: ['Get'], objectTypes: ['Banana'] }))).toMatch(/^invalid: objectTypes: "Banana"/);
    expect(gov.getRole('missing')).toBeUndefined();
  });

  it('the store and the policy carry the same built-in roles, and record shapes agree', () => {
    expect(BUILT_IN_ROLE_TABLE.map((r) => ({ ...r, operations: [...r.operations] })))
      .toEqual(BUILT_IN_ROLES.map((r) => ({ ...r, operations: [...r.operations] })));
    // Type-level: governance records are usable where the policy expects its shapes.
    const i: Identity = { id: 'x', tenant: 't', service: 's', role: 'app', match: { kind: 'fingerprint', sha256: FP }, revoked: false, createdAt: '' };
    const g: Grant = { tenant: 't', fromService: 'a', toService: 'b', operations: ['Get'] };
    const pi: PolicyIdentity = i;
    const pg: PolicyGrant = g;
    expect(pi.id).toBe('x');
    expect(pg.toService).toBe('b');
  });

  it('identities: add by fingerprint, subject or SAN URI; validated; duplicates refused', () => {
    gov.createTenant({ id: 'acme' });
    gov.createService({ tenant: 'acme', id: 'billing' });
    const a = gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'fingerprint', sha256: FP.toUpperCase().match(/../g)!.join(':') } });
    expect(a.match).toEqual({ kind: 'fingerprint', sha256: FP });
    expect(a.id).toMatch(/^id-/);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'read-only', match: { kind: 'fingerprint', sha256: FP } }))).toMatch(/^exists/);
    gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'read-only', match: { kind: 'subject', pattern: 'CN=reporter-*, O=Acme' } });
    const u = gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'san-uri', uri: 'openkcm://tenant/acme/service/billing/role/app' }, certSerial: '0a:BC' });
    expect(u.certSerial).toBe('ABC');
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'san-uri', uri: 'openkcm://tenant/other/service/billing/role/app' } })))
      .toMatch(/^invalid: match.uri: an openkcm: URI must name this identity's tenant, service and role/);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'subject', pattern: 'CN=*' } }))).toMatch(/^invalid: match.pattern: a pattern made only of wildcards/);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'fingerprint', sha256: 'abc' } }))).toMatch(/^invalid: fingerprint/);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'nope', role: 'app', match: { kind: 'fingerprint', sha256: 'cd'.repeat(32) } }))).toMatch(/^not-found: service nope/);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'ghost', match: { kind: 'fingerprint', sha256: 'cd'.repeat(32) } }))).toMatch(/^not-found: role ghost/);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'other' } as never }))).toMatch(/^invalid: match.kind/);
    expect(gov.listIdentities({ tenant: 'acme' })).toHaveLength(3);
    expect(gov.listIdentities({ tenant: 'acme', service: 'other' })).toHaveLength(0);
  });

  it('a gateway identity carries the other services it may act for (migration 10); no other role does', () => {
    gov.createTenant({ id: 'acme' });
    for (const id of ['billing', 'orders', 'search']) gov.createService({ tenant: 'acme', id });
    gov.createTenant({ id: 'beta' });
    gov.createService({ tenant: 'beta', id: 'ledger' });
    const g = gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'gateway', match: { kind: 'fingerprint', sha256: FP }, alsoServices: ['orders', 'search', 'orders', 'billing'] });
    // Deduplicated, its own service left out.
    expect(g.alsoServices).toEqual(['orders', 'search']);
    expect(gov.getIdentity(g.id)?.alsoServices).toEqual(['orders', 'search']);
    expect(gov.changesAfter(0, Number.MAX_SAFE_INTEGER, 100).find((c) => c.entity === 'identity')).toMatchObject({ op: 'put', value: { alsoServices: ['orders', 'search'] } });
    const plain = gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'gateway', match: { kind: 'fingerprint', sha256: 'cd'.repeat(32) } });
    expect(plain.alsoServices).toBeUndefined();
    expect('alsoServices' in gov.getIdentity(plain.id)!).toBe(false);
    const fp = 'ef'.repeat(32);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'fingerprint', sha256: fp }, alsoServices: ['orders'] })))
      .toBe('invalid: alsoServices: only an identity of role gateway acts for several services (this one is role app)');
    // Services of another tenant do not exist in this one.
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'gateway', match: { kind: 'fingerprint', sha256: fp }, alsoServices: ['ledger'] })))
      .toBe('not-found: service ledger does not exist in tenant acme');
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'gateway', match: { kind: 'fingerprint', sha256: fp }, alsoServices: ['Bad'] }))).toMatch(/^invalid: alsoServices: "Bad" is not a valid identifier/);
    expect(code(() => gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'gateway', match: { kind: 'fingerprint', sha256: fp }, alsoServices: 'orders' as never }))).toMatch(/^invalid: alsoServices: expected a list/);
    // Nothing was written by the refused calls.
    expect(gov.listIdentities({ tenant: 'acme' })).toHaveLength(2);
  });

  it('identities: revoke by id, fingerprint or serial; remove', () => {
    gov.createTenant({ id: 'acme' });
    gov.createService({ tenant: 'acme', id: 'billing' });
    const a = gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'fingerprint', sha256: FP } });
    const b = gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'san-uri', uri: 'openkcm://tenant/acme/service/billing/role/app' }, certSerial: '01ff' });
    const c = gov.addIdentity({ tenant: 'acme', service: 'billing', role: 'app', match: { kind: 'fingerprint', sha256: 'cd'.repeat(32) } });
    expect(gov.revokeIdentity({ fingerprint: FP }).map((x) => x.id)).toEqual([a.id]);
    expect(gov.revokeIdentity({ certSerial: '1FF' }).map((x) => x.id)).toEqual([b.id]);
    expect(gov.revokeIdentity({ id: c.id })[0]!.revoked).toBe(true);
    expect(gov.listIdentities().every((i) => i.revoked)).toBe(true);
    expect(code(() => gov.revokeIdentity({ certSerial: 'dead' }))).toMatch(/^not-found: no identity with certificate serial DEAD/);
    expect(gov.removeIdentity(a.id).id).toBe(a.id);
    expect(gov.getIdentity(a.id)).toBeUndefined();
    expect(code(() => gov.removeIdentity(a.id))).toMatch(/^not-found/);
  });

  it('grants between two services of one tenant', () => {
    gov.createTenant({ id: 'acme' });
    gov.createService({ tenant: 'acme', id: 'a' });
    gov.createService({ tenant: 'acme', id: 'b' });
    const g = gov.addGrant({ tenant: 'acme', fromService: 'a', toService: 'b', operations: ['Get', 'Encrypt'] });
    expect(gov.listGrants('acme')).toEqual([g]);
    expect(code(() => gov.addGrant({ tenant: 'acme', fromService: 'a', toService: 'b', operations: ['Get'] }))).toMatch(/^exists/);
    expect(code(() => gov.addGrant({ tenant: 'acme', fromService: 'a', toService: 'a', operations: ['Get'] }))).toMatch(/^invalid: toService/);
    expect(code(() => gov.addGrant({ tenant: 'acme', fromService: 'a', toService: 'zz', operations: ['Get'] }))).toMatch(/^not-found: service zz/);
    expect(code(() => gov.addGrant({ tenant: 'acme', fromService: 'b', toService: 'a', operations: ['Teleport'] }))).toMatch(/^invalid: operations/);
    expect(gov.removeGrant({ tenant: 'acme', fromService: 'a', toService: 'b' })).toEqual(g);
    expect(gov.listGrants()).toEqual([]);
    expect(code(() => gov.removeGrant({ tenant: 'acme', fromService: 'a', toService: 'b' }))).toMatch(/^not-found/);
  });

  it('L1 pointers hold references only; remove marks removed', () => {
    gov.createTenant({ id: 'acme' });
    const p = gov.setL1Pointer({ tenant: 'acme', provider: 'pkcs11', config: { tokenLabel: 'acme', keyLabel: 'root', pinEnv: 'ACME_PIN' } });
    expect(gov.getL1Pointer('acme')).toEqual(p);
    expect(code(() => gov.setL1Pointer({ tenant: 'acme', provider: 'pkcs11', config: { tokenLabel: 'acme', pin: '1234' } }))).toMatch(/^invalid: config.pin: secrets are not stored/);
    expect(code(() => gov.setL1Pointer({ tenant: 'acme', provider: 'aws-kms', config: { keyId: 'k', secretAccessKey: 'x' } }))).toMatch(/^invalid: config.secretAccessKey/);
    expect(code(() => gov.setL1Pointer({ tenant: 'acme', provider: 'vault' as never, config: {} }))).toMatch(/^invalid: provider/);
    expect(code(() => gov.setL1Pointer({ tenant: 'acme', provider: 'software', config: { keyFile: { nested: 1 } } }))).toMatch(/^invalid: config.keyFile/);
    expect(code(() => gov.setL1Pointer({ tenant: 'ghost', provider: 'software', config: {} }))).toMatch(/^not-found/);
    expect(gov.removeL1Pointer('acme').state).toBe('removed');
    expect(gov.getL1Pointer('acme')?.state).toBe('removed');
    expect(code(() => gov.removeL1Pointer('acme'))).toMatch(/^not-found/);
    expect(gov.setL1Pointer({ tenant: 'acme', provider: 'software', config: { keyFile: '/k' } }).state).toBe('active');
  });

  it('sees changes written by another connection to the same database file (generation)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'gov-'));
    const s1 = await openSqliteStore(join(dir, 'db'));
    const s2 = await openSqliteStore(join(dir, 'db'));
    try {
      const g1 = new GovernanceStore(s1.database);
      const g2 = new GovernanceStore(s2.database);
      const before = g1.generation();
      g2.createTenant({ id: 'acme' });
      expect(g1.generation()).toBeGreaterThan(before);
      expect(g1.getTenant('acme')?.id).toBe('acme');
    } finally {
      await s1.close();
      await s2.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
