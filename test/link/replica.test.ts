// The core's governance replica (src/link/replica.ts): a snapshot, then changes applied in
// order, read by the same access control as `openkcm serve`.
import { afterEach, describe, expect, it } from 'vitest';
import { GovernanceReplica, LinkProtocolError } from '../../src/link/replica.ts';
import { GovernanceAccess } from '../../src/server/runtime.ts';
import type { LinkChange, LinkSnapshot } from '../../src/link/protocol.ts';
import type { ClientIdentity } from '../../src/operations/types.ts';

const AT = '2026-01-01T00:00:00.000Z';
const FP = 'a'.repeat(64);

function snapshot(over: Partial<LinkSnapshot> = {}): LinkSnapshot {
  return {
    protocol: 1, seq: 10, region: 'eu', at: AT,
    tenants: [{ id: 'acme', name: 'Acme', state: 'active', createdAt: AT, names: 'unique' as const, regions: ['eu'] }],
    services: [{ tenant: 'acme', id: 'web', name: 'web', createdAt: AT }, { tenant: 'acme', id: 'batch', name: 'batch', createdAt: AT }],
    roles: [{ name: 'reader', operations: ['Get'], builtIn: false }],
    identities: [{ id: 'id-1', tenant: 'acme', service: 'web', role: 'app', match: { kind: 'fingerprint', sha256: FP }, revoked: false, createdAt: AT }],
    grants: [],
    l1Pointers: [{ tenant: 'acme', provider: 'software', config: { keyFile: '/tmp/x' }, state: 'active', updatedAt: AT }],
    rotations: [],
    ...over,
  };
}

const who = (fingerprint = FP): ClientIdentity => ({ fingerprint, subject: 'CN=x', sans: [], tenant: '', service: '' } as unknown as ClientIdentity);

let replica: GovernanceReplica | undefined;
afterEach(async () => { await replica?.close(); replica = undefined; });

describe('GovernanceReplica', () => {
  it('serves the snapshot through GovernanceAccess, never in bootstrap mode', async () => {
    replica = await GovernanceReplica.open('eu');
    const access = new GovernanceAccess(replica.governance);
    expect(access.isBootstrap()).toBe(false);
    expect(access.authenticate(who()).ok).toBe(false); // empty: deny everyone
    replica.loadSnapshot(snapshot());
    const a = access.authenticate(who());
    expect(a.ok && a.principal.identity.id).toBe('id-1');
    expect(replica.seq).toBe(10);
    expect(replica.tenant('acme')?.l1?.provider).toBe('software');
    expect(replica.governance.getRole('reader')?.operations).toEqual(['Get']);
  });

  it('keeps the latest L2 rotation request per tenant, from the snapshot and from the stream', async () => {
    replica = await GovernanceReplica.open('eu');
    replica.loadSnapshot(snapshot());
    expect(replica.l2RotationOf('acme')).toBeUndefined(); // a CMK that published none
    replica.loadSnapshot(snapshot({ l2Rotations: [{ tenant: 'acme', generation: 3 }] }));
    expect(replica.l2RotationOf('acme')).toEqual({ tenant: 'acme', generation: 3 });
    expect(replica.apply({ seq: 11, at: AT, tenant: 'acme', entity: 'l2rotation', op: 'put', value: { tenant: 'acme', generation: 4 } })).toBe(true);
    expect(replica.l2RotationOf('acme')).toEqual({ tenant: 'acme', generation: 4 });
    // The tenant leaves the region: its request goes with it.
    expect(replica.apply({ seq: 12, at: AT, tenant: 'acme', entity: 'tenant', op: 'delete', key: { id: 'acme' } })).toBe(true);
    expect(replica.l2RotationOf('acme')).toBeUndefined();
  });

  it("carries the tenant's Name policy to the access control, unique when an older CMK sends none (issue 13 §5)", async () => {
    replica = await GovernanceReplica.open('eu');
    const access = new GovernanceAccess(replica.governance);
    replica.loadSnapshot(snapshot({ tenants: [{ id: 'acme', name: 'Acme', state: 'active', createdAt: AT, names: 'duplicates-allowed', regions: ['eu'] }] }));
    expect(replica.governance.getTenant('acme')?.names).toBe('duplicates-allowed');
    const a = access.authenticate(who());
    expect(a.ok && a.principal.names).toBe('duplicates-allowed');
    // A tenant record without `names` (a CMK older than the policy): the default.
    const legacy = { id: 'acme', name: 'Acme', state: 'active', createdAt: AT, regions: ['eu'] } as unknown as LinkSnapshot['tenants'][number];
    expect(replica.apply({ seq: 11, at: AT, tenant: 'acme', entity: 'tenant', op: 'put', value: legacy })).toBe(true);
    const b = access.authenticate(who());
    expect(b.ok && b.principal.names).toBe('unique');
  });

  it('a change takes effect on the next authenticate; old or repeated changes are ignored', async () => {
    replica = await GovernanceReplica.open('eu');
    replica.loadSnapshot(snapshot());
    const access = new GovernanceAccess(replica.governance);
    expect(access.authenticate(who()).ok).toBe(true);
    const revoke: LinkChange = { seq: 11, at: AT, tenant: 'acme', entity: 'identity', op: 'put',
      value: { id: 'id-1', tenant: 'acme', service: 'web', role: 'app', match: { kind: 'fingerprint', sha256: FP }, revoked: true, createdAt: AT } };
    expect(replica.apply(revoke)).toBe(true);
    const a = access.authenticate(who());
    expect(a.ok).toBe(false);
    expect(!a.ok && a.reason).toMatch(/revoked/);
    // Replayed (a resumed stream overlapping): no effect, seq unchanged.
    expect(replica.apply({ ...revoke, seq: 11 })).toBe(false);
    expect(replica.apply({ seq: 9, at: AT, entity: 'identity', op: 'delete', key: { id: 'id-1' } })).toBe(false);
    expect(replica.seq).toBe(11);
    // Killed on the CMK → refused by the access control as well.
    replica.apply({ seq: 12, at: AT, tenant: 'acme', entity: 'tenant', op: 'put', value: { id: 'acme', name: 'Acme', state: 'killed', createdAt: AT, names: 'unique' as const, regions: ['eu'] } });
    replica.apply({ seq: 13, at: AT, tenant: 'acme', entity: 'identity', op: 'put',
      value: { id: 'id-1', tenant: 'acme', service: 'web', role: 'app', match: { kind: 'fingerprint', sha256: FP }, revoked: false, createdAt: AT } });
    const k = access.authenticate(who());
    expect(!k.ok && k.reason).toBe('tenant acme is killed');
  });

  it("a gateway identity's other services (migration 10) reach the core with the identity record", async () => {
    replica = await GovernanceReplica.open('eu');
    const gw = { id: 'id-gw', tenant: 'acme', service: 'web', role: 'gateway', match: { kind: 'fingerprint' as const, sha256: FP }, revoked: false, createdAt: AT, alsoServices: ['batch'] };
    replica.loadSnapshot(snapshot({ identities: [gw] }));
    const access = new GovernanceAccess(replica.governance);
    const a = access.authenticate(who());
    expect(a.ok && a.principal.identity.alsoServices).toEqual(['batch']);
    // A change that drops the list takes it away.
    const { alsoServices: _dropped, ...without } = gw;
    replica.apply({ seq: 11, at: AT, tenant: 'acme', entity: 'identity', op: 'put', value: without });
    const b = access.authenticate(who());
    expect(b.ok && b.principal.identity.alsoServices).toBeUndefined();
  });

  it('every entity kind: grant, role, service, l1, rotation, tenant delete', async () => {
    replica = await GovernanceReplica.open('eu');
    replica.loadSnapshot(snapshot());
    let seq = 10;
    const ch = (c: Record<string, unknown>) => replica!.apply({ seq: ++seq, at: AT, ...c } as LinkChange);
    ch({ tenant: 'acme', entity: 'grant', op: 'put', value: { tenant: 'acme', fromService: 'batch', toService: 'web', operations: ['Get'] } });
    expect(replica.governance.listGrants('acme')).toHaveLength(1);
    ch({ tenant: 'acme', entity: 'grant', op: 'delete', key: { tenant: 'acme', fromService: 'batch', toService: 'web' } });
    expect(replica.governance.listGrants('acme')).toHaveLength(0);
    ch({ entity: 'role', op: 'put', value: { name: 'reader', operations: ['Get', 'Locate'], builtIn: false } });
    expect(replica.governance.getRole('reader')?.operations).toEqual(['Get', 'Locate']);
    ch({ entity: 'role', op: 'put', value: { name: 'admin', operations: [], builtIn: true } });
    expect(replica.governance.getRole('admin')?.operations).toEqual(['*']); // built-ins are code
    ch({ entity: 'role', op: 'delete', key: { name: 'reader' } });
    expect(replica.governance.getRole('reader')).toBeUndefined();
    ch({ tenant: 'acme', entity: 'l1', op: 'put', value: { tenant: 'acme', provider: 'software', config: { keyFile: '/tmp/x' }, state: 'removed', updatedAt: AT } });
    expect(replica.tenant('acme')?.l1?.state).toBe('removed');
    ch({ tenant: 'acme', entity: 'rotation', op: 'put', value: { tenant: 'acme', service: 'web', minVersion: 2 } });
    ch({ tenant: 'acme', entity: 'rotation', op: 'put', value: { tenant: 'acme', service: 'web', minVersion: 3 } });
    expect(replica.rotationList()).toEqual([{ tenant: 'acme', service: 'web', minVersion: 3 }]);
    ch({ tenant: 'acme', entity: 'service', op: 'delete', key: { tenant: 'acme', id: 'batch' } });
    expect(replica.governance.getService('acme', 'batch')).toBeUndefined();
    ch({ tenant: 'acme', entity: 'tenant', op: 'delete', key: { id: 'acme' } });
    expect(replica.tenant('acme')).toBeUndefined();
    expect(replica.governance.listIdentities()).toEqual([]);
    expect(replica.rotationList()).toEqual([]);
  });

  it('a tenant put that is not pinned to this region removes it here', async () => {
    replica = await GovernanceReplica.open('eu');
    replica.loadSnapshot(snapshot());
    replica.apply({ seq: 11, at: AT, tenant: 'acme', entity: 'tenant', op: 'put', value: { id: 'acme', name: 'Acme', state: 'active', createdAt: AT, names: 'unique' as const, regions: ['us'] } });
    expect(replica.tenant('acme')).toBeUndefined();
    expect(new GovernanceAccess(replica.governance).authenticate(who()).ok).toBe(false);
  });

  it('a snapshot replaces everything; one of another region or protocol is refused', async () => {
    replica = await GovernanceReplica.open('eu');
    replica.loadSnapshot(snapshot());
    replica.loadSnapshot(snapshot({ seq: 20, tenants: [], services: [], identities: [], l1Pointers: [] }));
    expect(replica.tenants()).toEqual([]);
    expect(replica.seq).toBe(20);
    expect(() => replica!.loadSnapshot(snapshot({ region: 'us' }))).toThrow(/region us.*serves region eu/);
    expect(() => replica!.loadSnapshot(snapshot({ protocol: 2 as 1 }))).toThrow(LinkProtocolError);
    expect(replica.seq).toBe(20);
  });
});
