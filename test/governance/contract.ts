// The governance contract (src/store/governance-async.ts), one suite run against every
// backend: SQLite (test/governance/contract-sqlite.test.ts) and PostgreSQL
// (test/governance/contract-pg.test.ts). What the CMK, the admin API and the link rely on:
// validation with the same errors, the change log written with every mutation and only
// with it, region filtering, the region snapshot consistent with the log, counters and
// name uniqueness under concurrent requests, node status bookkeeping.
import { describe, expect, it } from 'vitest';
import { GovernanceError, type GovernanceChange } from '../../src/store/governance.ts';
import type { Governance } from '../../src/store/governance-async.ts';

export interface GovernanceBackend {
  /** A fresh, empty governance store (changeRetention as given). */
  open(opts?: { changeRetention?: number }): Promise<{ gov: Governance; close(): Promise<void> }>;
}

const FP = (n: number) => n.toString(16).padStart(64, '0');

async function refused(p: Promise<unknown>, code: GovernanceError['code'], message?: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a GovernanceError').toBeInstanceOf(GovernanceError);
  expect((e as GovernanceError).code).toBe(code);
  if (message) expect((e as Error).message).toMatch(message);
}

export function governanceContract(name: string, backend: GovernanceBackend): void {
  describe(`governance contract: ${name}`, () => {
    const withGov = (fn: (g: Governance) => Promise<void>, opts?: { changeRetention?: number }) => async () => {
      const { gov, close } = await backend.open(opts);
      try { await fn(gov); } finally { await close(); }
    };

    it('tenants, services, roles, identities, grants and L1 pointers: create, read, refuse duplicates and bad input', withGov(async (g) => {
      expect(await g.isInitialised()).toBe(false);
      const gen0 = await g.generation();
      const t = await g.createTenant({ id: 'acme', name: 'Acme Corp', regions: ['eu', 'us', 'eu'] });
      expect(t).toMatchObject({ id: 'acme', name: 'Acme Corp', state: 'active' });
      expect(await g.isInitialised()).toBe(true);
      expect(await g.generation()).toBeGreaterThan(gen0);
      expect(await g.tenantRegions('acme')).toEqual(['eu', 'us']);
      expect(await g.tenantsInRegion('eu')).toEqual(['acme']);
      await refused(g.createTenant({ id: 'acme' }), 'exists', /tenant acme exists already/);
      await refused(g.createTenant({ id: 'Bad Name' }), 'invalid', /not a valid identifier/);
      expect(await g.getTenant('nope')).toBeUndefined();
      expect((await g.listTenants()).map((x) => x.id)).toEqual(['acme']);

      await g.createService({ tenant: 'acme', id: 'web' });
      await g.createService({ tenant: 'acme', id: 'batch', name: 'Batch jobs' });
      await refused(g.createService({ tenant: 'acme', id: 'web' }), 'exists');
      await refused(g.createService({ tenant: 'ghost', id: 'web' }), 'not-found', /tenant ghost does not exist/);
      expect((await g.listServices('acme')).map((s) => s.id)).toEqual(['batch', 'web']);
      expect(await g.getService('acme', 'batch')).toMatchObject({ name: 'Batch jobs' });

      const role = await g.createRole({ name: 'reader', operations: ['Get', 'Locate', 'Get'], objectTypes: ['SymmetricKey'] });
      expect(role).toEqual({ name: 'reader', operations: ['Get', 'Locate'], objectTypes: ['SymmetricKey'], builtIn: false });
      await refused(g.createRole({ name: 'admin', operations: ['Get'] }), 'exists', /built-in/);
      await refused(g.createRole({ name: 'core', operations: ['Get'] }), 'exists', /reserved/);
      await refused(g.createRole({ name: 'x', operations: ['Fly'] }), 'invalid', /not a KMIP operation name/);
      expect(await g.getRole('reader')).toEqual(role);
      expect((await g.listRoles()).filter((r) => !r.builtIn).map((r) => r.name)).toEqual(['reader']);

      const i = await g.addIdentity({ tenant: 'acme', service: 'web', role: 'reader', match: { kind: 'fingerprint', sha256: FP(1) }, certSerial: '0A:1b' });
      expect(i).toMatchObject({ tenant: 'acme', service: 'web', role: 'reader', revoked: false, certSerial: 'A1B' });
      await refused(g.addIdentity({ tenant: 'acme', service: 'web', role: 'reader', match: { kind: 'fingerprint', sha256: FP(1) }, certSerial: 'A1B' }), 'exists', /already matches/);
      await refused(g.addIdentity({ tenant: 'acme', service: 'web', role: 'nobody', match: { kind: 'fingerprint', sha256: FP(2) } }), 'not-found', /role nobody/);
      await refused(g.addIdentity({ tenant: 'acme', service: 'web', role: 'app', match: { kind: 'subject', pattern: 'CN=*' } }), 'invalid', /wildcards/);
      const gw = await g.addIdentity({ tenant: 'acme', service: 'web', role: 'gateway', match: { kind: 'fingerprint', sha256: FP(3) }, alsoServices: ['batch'] });
      expect((await g.getIdentity(gw.id))!.alsoServices).toEqual(['batch']);
      // Edited in place (kmipctl identity set-services): the change log carries the whole record.
      const seqBefore = (await g.changeBounds()).latest;
      expect((await g.setIdentityServices(gw.id, [])).alsoServices).toBeUndefined();
      expect((await g.getIdentity(gw.id))!.alsoServices).toBeUndefined();
      expect(await g.setIdentityServices(gw.id, ['batch', 'batch', 'web'])).toMatchObject({ id: gw.id, alsoServices: ['batch'] });
      const edits = await g.changesAfter(seqBefore, Number.MAX_SAFE_INTEGER, 10);
      expect(edits.map((c) => [c.entity, c.op, (c as { value?: { alsoServices?: string[] } }).value?.alsoServices])).toEqual([['identity', 'put', undefined], ['identity', 'put', ['batch']]]);
      await refused(g.setIdentityServices(gw.id, ['nope']), 'not-found', /nope/);
      await refused(g.setIdentityServices(i.id, ['batch']), 'invalid', /only an identity of role gateway/);
      await refused(g.setIdentityServices('id-missing', []), 'not-found', /id-missing/);
      expect((await g.getIdentity(gw.id))!.alsoServices).toEqual(['batch']);
      expect((await g.listIdentities({ tenant: 'acme', service: 'web' })).map((x) => x.id)).toEqual([i.id, gw.id]);
      expect(await g.getIdentity(i.id)).toEqual(i);

      const revoked = await g.revokeIdentity({ certSerial: 'a1b' });
      expect(revoked.map((x) => [x.id, x.revoked])).toEqual([[i.id, true]]);
      expect((await g.getIdentity(i.id))!.revoked).toBe(true);
      await refused(g.revokeIdentity({ fingerprint: FP(9) }), 'not-found');
      expect(await g.removeIdentity(gw.id)).toMatchObject({ id: gw.id });
      await refused(g.removeIdentity(gw.id), 'not-found');

      const grant = await g.addGrant({ tenant: 'acme', fromService: 'web', toService: 'batch', operations: ['Get'] });
      await refused(g.addGrant(grant), 'exists');
      await refused(g.addGrant({ ...grant, toService: 'web' }), 'invalid');
      expect(await g.listGrants('acme')).toEqual([grant]);
      expect(await g.removeGrant(grant)).toEqual(grant);
      expect(await g.listGrants()).toEqual([]);

      await refused(g.setL1Pointer({ tenant: 'acme', provider: 'software', config: { pin: '1234' } }), 'invalid', /secrets are not stored/);
      const p = await g.setL1Pointer({ tenant: 'acme', provider: 'pkcs11', config: { module: '/usr/lib/softhsm.so', keyLabel: 'k', pinEnv: 'PIN' } });
      expect(await g.getL1Pointer('acme')).toEqual(p);
      const removed = await g.removeL1Pointer('acme');
      expect(removed.state).toBe('removed');
      await refused(g.removeL1Pointer('acme'), 'not-found');
      await g.restoreL1Pointer('acme', p);
      expect(await g.getL1Pointer('acme')).toEqual(p);
      await g.restoreL1Pointer('acme', undefined);
      expect(await g.getL1Pointer('acme')).toBeUndefined();

      expect(await g.setTenantState('acme', 'sealed')).toMatchObject({ state: 'sealed' });
      expect((await g.getTenant('acme'))!.state).toBe('sealed');
    }));

    it('every mutation appends exactly one change per record it changed, in commit order, filtered by region', withGov(async (g) => {
      const b0 = await g.changeBounds();
      expect(b0).toEqual({ latest: 0, oldest: undefined });
      await g.createTenant({ id: 'eu-t', regions: ['eu'] });
      await g.createTenant({ id: 'us-t', regions: ['us'] });
      await g.createService({ tenant: 'eu-t', id: 's' });
      await g.createService({ tenant: 'us-t', id: 's' });
      await g.createRole({ name: 'r1', operations: ['Get'] });
      // Refused mutations leave no change behind.
      await refused(g.createService({ tenant: 'eu-t', id: 's' }), 'exists');
      await g.requestRotation('eu-t', 's');
      await g.setTenantState('us-t', 'killed');
      const { latest, oldest } = await g.changeBounds();
      expect(latest).toBe(7);
      expect(oldest).toBe(1);
      const all = await g.changesAfter(0, latest, 100);
      expect(all.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(all.map((c) => `${c.entity}:${c.op}`)).toEqual(['tenant:put', 'tenant:put', 'service:put', 'service:put', 'role:put', 'rotation:put', 'tenant:put']);
      expect(all[0]).toMatchObject({ tenant: 'eu-t', value: { id: 'eu-t', regions: ['eu'] } });
      const eu = await g.changesAfter(0, latest, 100, 'eu');
      expect(eu.map((c) => c.seq)).toEqual([1, 3, 5, 6]); // its tenant's changes and the (global) role
      expect((eu[3] as Extract<GovernanceChange, { entity: 'rotation' }>).value).toEqual({ tenant: 'eu-t', service: 's', minVersion: 2 });
      expect((await g.changesAfter(2, 5, 2)).map((c) => c.seq)).toEqual([3, 4]);
      // Core identities are not on the stream (they concern no region's data).
      await g.addCoreIdentity({ region: 'eu', node: 'n1', fingerprint: FP(7) });
      expect((await g.changeBounds()).latest).toBe(7);
    }));

    it("the tenant's Name policy (issue 13 §5): unique by default, set at creation, changed once logged, in the region snapshot", withGov(async (g) => {
      expect(await g.createTenant({ id: 'plain', regions: ['eu'] })).toMatchObject({ names: 'unique' });
      expect(await g.createTenant({ id: 'py', regions: ['eu'], names: 'duplicates-allowed' })).toMatchObject({ names: 'duplicates-allowed' });
      expect((await g.getTenant('py'))!.names).toBe('duplicates-allowed');
      expect((await g.listTenants()).map((t) => [t.id, t.names])).toEqual([['plain', 'unique'], ['py', 'duplicates-allowed']]);
      await refused(g.createTenant({ id: 'bad', names: 'sometimes' as never }), 'invalid', /names: expected 'unique' or 'duplicates-allowed'/);
      expect(await g.getTenant('bad')).toBeUndefined();
      const before = (await g.changeBounds()).latest;
      const gen = await g.generation();
      expect(await g.setTenantNames('plain', 'duplicates-allowed')).toMatchObject({ id: 'plain', names: 'duplicates-allowed', state: 'active' });
      expect(await g.generation()).toBeGreaterThan(gen);
      const changes = await g.changesAfter(before, (await g.changeBounds()).latest, 10, 'eu');
      expect(changes).toHaveLength(1);
      expect(changes[0]).toMatchObject({ entity: 'tenant', op: 'put', value: { id: 'plain', names: 'duplicates-allowed', regions: ['eu'] } });
      await refused(g.setTenantNames('plain', 'maybe' as never), 'invalid');
      await refused(g.setTenantNames('ghost', 'unique'), 'not-found');
      expect((await g.changeBounds()).latest).toBe(before + 1);
      await g.setTenantNames('plain', 'unique');
      expect((await g.regionSnapshot('eu')).tenants.map((t) => [t.id, t.names])).toEqual([['plain', 'unique'], ['py', 'duplicates-allowed']]);
    }));

    it('the change log keeps changeRetention entries; seq never goes back', withGov(async (g) => {
      await g.createTenant({ id: 't' });
      for (let i = 0; i < 5; i++) await g.createService({ tenant: 't', id: `s${i}` });
      expect(await g.changeBounds()).toEqual({ latest: 6, oldest: 4 });
      expect((await g.changesAfter(0, 6, 100)).map((c) => c.seq)).toEqual([4, 5, 6]);
    }, { changeRetention: 3 }));

    it('the region snapshot is the state after its seq: tenants of the region, their records, every role', withGov(async (g) => {
      await g.createTenant({ id: 'a', regions: ['eu'] });
      await g.createTenant({ id: 'b', regions: ['us'] });
      await g.createService({ tenant: 'a', id: 'web' });
      await g.createService({ tenant: 'b', id: 'web' });
      await g.createRole({ name: 'r', operations: ['Get'] });
      await g.addIdentity({ tenant: 'a', service: 'web', role: 'r', match: { kind: 'fingerprint', sha256: FP(1) } });
      await g.addIdentity({ tenant: 'b', service: 'web', role: 'r', match: { kind: 'fingerprint', sha256: FP(2) } });
      await g.setL1Pointer({ tenant: 'a', provider: 'software', config: { keyFile: '/k' } });
      await g.requestRotation('a', 'web');
      const s = await g.regionSnapshot('eu');
      expect(s.seq).toBe((await g.changeBounds()).latest);
      expect(s.tenants.map((t) => [t.id, t.regions])).toEqual([['a', ['eu']]]);
      expect(s.services.map((x) => `${x.tenant}/${x.id}`)).toEqual(['a/web']);
      expect(s.identities.map((x) => x.tenant)).toEqual(['a']);
      expect(s.l1Pointers.map((x) => x.tenant)).toEqual(['a']);
      expect(s.rotations).toEqual([{ tenant: 'a', service: 'web', minVersion: 2 }]);
      expect(s.roles.some((r) => r.name === 'r')).toBe(true);
      expect((await g.regionSnapshot('nowhere')).tenants).toEqual([]);
    }));

    it('concurrent requests: one name wins, version counters never repeat, every change is logged once', withGov(async (g) => {
      await g.createTenant({ id: 't' });
      await g.createService({ tenant: 't', id: 's' });
      const before = (await g.changeBounds()).latest;
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => g.createService({ tenant: 't', id: 'same' })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as GovernanceError).code).toBe('exists');
      const rotations = await Promise.all(Array.from({ length: 8 }, () => g.requestRotation('t', 's')));
      expect(rotations.map((r) => r.minVersion).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
      const changes = await g.changesAfter(before, Number.MAX_SAFE_INTEGER, 100);
      expect(changes.map((c) => c.seq)).toEqual(Array.from({ length: 9 }, (_, i) => before + 1 + i));
      // The log's order is the commit order: the rotation entries count up.
      const mins = changes.filter((c) => c.entity === 'rotation').map((c) => (c as Extract<GovernanceChange, { entity: 'rotation' }>).value.minVersion);
      expect(mins).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    }));

    it('L2 rotation requests: generations 1, 2, … per tenant, even when racing; published to the tenant\'s regions and in their snapshot', withGov(async (g) => {
      await g.createTenant({ id: 'a', regions: ['eu'] });
      await g.createTenant({ id: 'b', regions: ['us'] });
      await refused(g.requestL2Rotation('nope'), 'not-found');
      const before = (await g.changeBounds()).latest;
      const racing = await Promise.all(Array.from({ length: 6 }, () => g.requestL2Rotation('a')));
      expect(racing.map((r) => r.generation).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
      await g.requestL2Rotation('b');
      expect(await g.listL2Rotations()).toEqual([{ tenant: 'a', generation: 6 }, { tenant: 'b', generation: 1 }]);
      expect(await g.listL2Rotations('b')).toEqual([{ tenant: 'b', generation: 1 }]);
      const eu = await g.changesAfter(before, Number.MAX_SAFE_INTEGER, 100, 'eu');
      expect(eu.map((c) => c.entity === 'l2rotation' && c.value.generation)).toEqual([1, 2, 3, 4, 5, 6]);
      expect((await g.regionSnapshot('eu')).l2Rotations).toEqual([{ tenant: 'a', generation: 6 }]);
      expect((await g.regionSnapshot('us')).l2Rotations).toEqual([{ tenant: 'b', generation: 1 }]);
    }));

    it('listeners are told after a committed change, not after a refused one', withGov(async (g) => {
      let calls = 0;
      const off = g.onChange(() => { calls++; });
      await g.createTenant({ id: 't' });
      await new Promise((r) => setTimeout(r, 20));
      expect(calls).toBe(1);
      await refused(g.createTenant({ id: 't' }), 'exists');
      await new Promise((r) => setTimeout(r, 20));
      expect(calls).toBe(1);
      off();
      await g.createService({ tenant: 't', id: 's' });
      await new Promise((r) => setTimeout(r, 20));
      expect(calls).toBe(1);
    }));

    it('core identities and node statuses', withGov(async (g) => {
      const c = await g.addCoreIdentity({ region: 'eu', node: 'n1', fingerprint: FP(5).toUpperCase(), certSerial: '00ff' });
      expect(c).toMatchObject({ region: 'eu', node: 'n1', fingerprint: FP(5), certSerial: 'FF', revoked: false });
      await refused(g.addCoreIdentity({ region: 'eu', node: 'n2', fingerprint: FP(5) }), 'exists');
      expect(await g.findCoreIdentity(FP(5))).toEqual(c);
      expect(await g.isInitialised()).toBe(true);
      expect(await g.revokeCoreIdentity({ certSerial: 'ff' })).toEqual([{ ...c, revoked: true }]);
      expect(await g.revokeCoreIdentity({ id: 'core-none' })).toEqual([]);
      expect((await g.listCoreIdentities()).map((x) => x.revoked)).toEqual([true]);
      await g.recordNodeStatus({ node: 'n1', region: 'eu', status: '{"a":1}', receivedAt: '2026-01-01T00:00:00.000Z' });
      await g.recordNodeStatus({ node: 'n0', region: 'eu', status: '{"a":0}', receivedAt: '2026-01-01T00:00:00.000Z' });
      await g.recordNodeStatus({ node: 'n1', region: 'eu', status: '{"a":2}', receivedAt: '2026-01-01T00:00:01.000Z' });
      expect((await g.listNodeStatuses()).map((r) => [r.node, r.status])).toEqual([['n0', '{"a":0}'], ['n1', '{"a":2}']]);
    }));
  });
}
