// The key hierarchy engine over the real SQLite store and the software L1 (issue 6, "The
// hierarchy"): blob binding, sealing, rotation, unseal with timeouts, lazy unseal, the
// periodic L1 check and the persisted kill switch.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { HierarchyEngine, type HierarchyEngineOptions } from '../../src/hierarchy/engine.ts';
import { HierarchyBlobError, l2Context, l3Aad, l4Aad, L4_BLOB_V1 } from '../../src/hierarchy/keyring.ts';
import { KeyProtectionError } from '../../src/hierarchy/interim.ts';
import { createObjectRepository } from '../../src/hierarchy/repository.ts';
import { openHierarchy, type OpenedHierarchy } from '../../src/hierarchy/hierarchy-protector.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { ObjectType, ResultReason, State } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { allZero, reasonOf, SteeredL1, softwareL1, TempDirs } from './engine-helpers.ts';

const dirs = new TempDirs();
const toClose: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of toClose.splice(0).reverse()) await c();
});
afterAll(() => dirs.cleanup());

async function memStore(): Promise<SqliteStore> {
  const s = await openSqliteStore(':memory:');
  toClose.push(() => s.close());
  return s;
}

async function engineOn(store: SqliteStore, opts: Partial<HierarchyEngineOptions> = {}): Promise<HierarchyEngine> {
  const e = new HierarchyEngine({ store, statusCheckIntervalMs: 0, ...opts });
  toClose.push(() => e.close());
  return e;
}

const place = { tenant: 'acme', service: 'billing', uid: 'uid-1' };
const secret = Buffer.from('an object value in TTLV, pretend');

describe('blobs and their places', () => {
  it('creates L2 under the L1 on first use, L3 per service, and L4 blobs naming the L3 version', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const engine = await engineOn(store, { defaultL1: l1 });
    const blob = await engine.wrap(place, secret);
    expect(blob[0]).toBe(L4_BLOB_V1);
    expect(blob.readUInt32BE(1)).toBe(1);
    expect(blob.includes(secret)).toBe(false);
    expect(await engine.unwrap(place, blob)).toEqual(secret);

    const l2 = await store.listL2Keys('acme');
    expect(l2).toHaveLength(1);
    expect(l2[0]).toMatchObject({ version: 1, current: true });
    // The stored L2 opens only through the L1 and only under its own context.
    expect((await l1.unwrap(l2[0]!.wrapped, l2Context('acme', 1))).length).toBe(32);
    await expect(l1.unwrap(l2[0]!.wrapped, l2Context('other', 1))).rejects.toThrow();
    const l3 = await store.listL3Keys('acme');
    expect(l3.map((r) => [r.service, r.version, r.l2Version, r.current])).toEqual([['billing', 1, 1, true]]);
    expect(JSON.parse((await store.getTenantL1('acme'))!.providerRef)).toMatchObject({ provider: 'software' });
    expect(engine.status('acme')).toMatchObject({ sealed: false, l2Version: 1, services: [{ service: 'billing', currentVersion: 1, versions: [1] }] });
  });

  it('the associated data strings have the documented shape and stay injective', () => {
    expect(l2Context('acme', 3)).toBe('l2|acme|3');
    expect(l3Aad('acme', 'billing', 2, 1)).toBe('l3|acme|billing|2|1');
    expect(l4Aad('acme', 'billing', 'u1', 2)).toBe('l4|acme|billing|u1|2');
    expect(l4Aad('a|b', 'c', 'u', 1)).not.toBe(l4Aad('a', 'b|c', 'u', 1));
    expect(l4Aad('a%7Cb', 'c', 'u', 1)).not.toBe(l4Aad('a|b', 'c', 'u', 1));
  });

  it('a blob moved to another object, service or tenant does not open', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const engine = await engineOn(store, { defaultL1: l1 });
    const blob = await engine.wrap(place, secret);
    // Make every target place exist and be unsealed, so only the binding can refuse.
    for (const other of [
      { ...place, uid: 'uid-2' },
      { ...place, service: 'payroll' },
      { ...place, tenant: 'globex' },
      { tenant: 'globex', service: 'billing', uid: 'uid-1' },
    ]) {
      await engine.wrap(other, Buffer.from('x'));
      await expect(engine.unwrap(other, blob), JSON.stringify(other)).rejects.toBeInstanceOf(HierarchyBlobError);
    }
    // Names that differ only in where a '|' sits are different places.
    const odd = await engine.wrap({ tenant: 'a|b', service: 'c', uid: 'u' }, secret);
    await engine.wrap({ tenant: 'a', service: 'b|c', uid: 'u' }, secret);
    await expect(engine.unwrap({ tenant: 'a', service: 'b|c', uid: 'u' }, odd)).rejects.toBeInstanceOf(KeyProtectionError);
    // An altered byte, a truncated blob, a foreign format.
    const flipped = Buffer.from(blob);
    flipped[flipped.length - 1]! ^= 1;
    await expect(engine.unwrap(place, flipped)).rejects.toThrow(/fails authentication/);
    await expect(engine.unwrap(place, blob.subarray(0, 20))).rejects.toThrow(/not a hierarchy-wrapped blob/);
    await expect(engine.unwrap(place, Buffer.concat([Buffer.of(0x01), blob.subarray(1)]))).rejects.toThrow(/not a hierarchy-wrapped blob/);
  });

  it('an L3 blob moved to another service or version does not open', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const engine = await engineOn(store, { defaultL1: l1 });
    await engine.wrap(place, secret);
    await engine.wrap({ ...place, service: 'payroll' }, secret);
    // Swap the two services' L3 blobs in the store: each is bound to its (tenant, service, version, L2 version).
    const db = store.database;
    const get = (s: string) => (db.prepare('SELECT wrapped FROM l3_keys WHERE tenant = ? AND service = ?').get('acme', s) as { wrapped: Buffer }).wrapped;
    const a = get('billing');
    const b = get('payroll');
    db.prepare('UPDATE l3_keys SET wrapped = ? WHERE service = ?').run(b, 'billing');
    db.prepare('UPDATE l3_keys SET wrapped = ? WHERE service = ?').run(a, 'payroll');
    const fresh = await engineOn(store, { defaultL1: l1 });
    const report = await fresh.unsealAll();
    expect(report.sealed).toEqual([{ tenant: 'acme', reason: expect.stringMatching(/L3 blob \(l3\|acme\|billing\|1\|1\) fails authentication/) }]);
  });
});

describe('sealing', () => {
  it('an explicit seal zeroizes every L2/L3 buffer, refuses with PermissionDenied, spares other tenants, and lasts until unsealTenant', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const engine = await engineOn(store, { defaultL1: l1, retryIntervalMs: 0 });
    const blob = await engine.wrap(place, secret);
    await engine.wrap({ ...place, service: 'payroll' }, secret);
    const other = await engine.wrap({ ...place, tenant: 'globex' }, secret);
    const live = engine.liveKeyBuffersForTests('acme');
    expect(live).toHaveLength(3); // L2, two L3s
    expect(live.some(allZero)).toBe(false);

    engine.seal('acme', 'operator request');
    expect(live.every(allZero)).toBe(true);
    expect(engine.liveKeyBuffersForTests('acme')).toEqual([]);
    const err = await engine.unwrap(place, blob).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmipError);
    expect((err as KmipError).reason).toBe(ResultReason.PermissionDenied);
    expect((err as KmipError).message).toBe('tenant acme is sealed: operator request');
    expect(await reasonOf(engine.wrap(place, secret))).toBe(ResultReason.PermissionDenied);
    expect(await reasonOf(engine.assertUnsealed('acme'))).toBe(ResultReason.PermissionDenied);
    expect(engine.status('acme')).toMatchObject({ sealed: true, sealKind: 'explicit', reason: 'operator request' });
    // An explicit seal does not heal on access, even with no retry delay.
    expect(await reasonOf(engine.assertUnsealed('acme'))).toBe(ResultReason.PermissionDenied);
    expect(await engine.unwrap({ ...place, tenant: 'globex' }, other)).toEqual(secret);

    expect((await engine.unsealTenant('acme')).sealed).toBe(false);
    expect(await engine.unwrap(place, blob)).toEqual(secret);
  });

  it('the repository passes the sealed error on from load and save', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const h = await openHierarchy(store, { defaultL1: l1, statusCheckIntervalMs: 0 });
    toClose.push(() => h.close());
    const repo = createObjectRepository(store, h.protector, { tenant: 'acme', service: 'billing' });
    const value = { tag: Tag.SymmetricKey, type: 'Structure' as const, value: [] };
    const obj = await repo.create({ uid: 'k1', objectType: ObjectType.SymmetricKey, state: State.PreActive, attributes: [], value });
    expect((await repo.load('k1'))?.value).toEqual(value);
    h.engine.seal('acme', 'maintenance');
    expect(await reasonOf(repo.load('k1'))).toBe(ResultReason.PermissionDenied);
    expect(await reasonOf(repo.save(obj))).toBe(ResultReason.PermissionDenied);
    expect(await reasonOf(repo.create({ uid: 'k2', objectType: ObjectType.SymmetricKey, state: State.PreActive, attributes: [], value }))).toBe(ResultReason.PermissionDenied);
  });
});

describe('rotation', () => {
  it('L3 rotation: new wraps use the new version, old blobs still open, reads and rewrapAll move values to it', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const h = await openHierarchy(store, { defaultL1: l1, statusCheckIntervalMs: 0 });
    toClose.push(() => h.close());
    const repo = createObjectRepository(store, h.protector, { tenant: 'acme', service: 'billing' });
    const value = { tag: Tag.SecretData, type: 'Structure' as const, value: [] };
    for (const uid of ['a', 'b', 'c']) await repo.create({ uid, objectType: ObjectType.SecretData, state: State.Active, attributes: [], value });
    const version = async (uid: string) => HierarchyEngine.blobL3Version((await store.get('acme', uid))!.wrappedValue!);
    expect(await version('a')).toBe(1);

    expect(await h.engine.rotateL3('acme', 'billing')).toBe(2);
    expect((await store.listL3Keys('acme', 'billing')).map((r) => [r.version, r.current])).toEqual([[1, false], [2, true]]);
    expect((await h.engine.wrap({ tenant: 'acme', service: 'billing', uid: 'z' }, secret)).readUInt32BE(1)).toBe(2);

    // Read: the value opens under v1 and is re-wrapped under v2 in the background.
    expect((await repo.load('a'))?.value).toEqual(value);
    await h.close(); // waits for background re-wraps (and seals)
    expect(await version('a')).toBe(2);
    expect(await version('b')).toBe(1);

    const h2 = await openHierarchy(store, { defaultL1: l1, statusCheckIntervalMs: 0, rewrapOnRead: false });
    toClose.push(() => h2.close());
    const repo2 = createObjectRepository(store, h2.protector, { tenant: 'acme', service: 'billing' });
    // Save: always under the current version.
    const b = (await repo2.load('b'))!;
    expect(await version('b')).toBe(1); // rewrapOnRead off
    await repo2.save(b);
    expect(await version('b')).toBe(2);
    expect(await h2.engine.rewrapAll('acme')).toEqual({ examined: 3, rewrapped: 1, skipped: 0 });
    expect(await version('c')).toBe(2);
    expect((await repo2.load('c'))?.value).toEqual(value);
  });

  it('rotation to a target version: two engines on one vault, one holding a stale ring, make exactly one new L3 version', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const a = await engineOn(store, { defaultL1: l1 });
    const b = await engineOn(store, { defaultL1: l1 });
    await a.wrap(place, secret);
    await b.wrap(place, secret); // b's ring holds v1 and keeps it: nothing tells b of a's rotation
    expect(await a.rotateL3('acme', 'billing', { below: 2 })).toBe(2);
    // b asked for the same rotation (the CMK's minVersion 2): the vault already has it.
    expect(await b.rotateL3('acme', 'billing', { below: 2 })).toBe(2);
    expect((await store.listL3Keys('acme', 'billing')).map((r) => r.version)).toEqual([1, 2]);
    // b now wraps under v2 too, and a later request makes v3 once.
    expect((await b.wrap({ ...place, uid: 'uid-2' }, secret)).readUInt32BE(1)).toBe(2);
    expect(await b.rotateL3('acme', 'billing', { below: 3 })).toBe(3);
    expect(await a.rotateL3('acme', 'billing', { below: 3 })).toBe(3);
    expect((await store.listL3Keys('acme', 'billing')).map((r) => r.version)).toEqual([1, 2, 3]);
  });

  it('L2 rotation re-wraps every L3 under the new L2, leaves one L2, and survives a restart', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const engine = await engineOn(store, { defaultL1: l1 });
    const b1 = await engine.wrap(place, secret);
    await engine.rotateL3('acme', 'billing');
    const b2 = await engine.wrap({ ...place, service: 'payroll' }, secret);
    const oldL2 = (await store.listL2Keys('acme'))[0]!.wrapped;

    expect(await engine.rotateL2('acme')).toBe(2);
    const l2 = await store.listL2Keys('acme');
    expect(l2.map((r) => [r.version, r.current])).toEqual([[2, true]]);
    expect(l2[0]!.wrapped.equals(oldL2)).toBe(false);
    expect((await store.listL3Keys('acme')).every((r) => r.l2Version === 2)).toBe(true);
    expect(await engine.unwrap(place, b1)).toEqual(secret);

    const restarted = await engineOn(store, { defaultL1: l1 });
    expect((await restarted.unsealAll()).unsealed).toEqual(['acme']);
    expect(await restarted.unwrap(place, b1)).toEqual(secret);
    expect(await restarted.unwrap({ ...place, service: 'payroll' }, b2)).toEqual(secret);
    expect(restarted.status('acme').l2Version).toBe(2);
  });

  it('rotation of a sealed tenant is refused', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const engine = await engineOn(store, { defaultL1: l1 });
    await engine.wrap(place, secret);
    engine.seal('acme', 'x');
    expect(await reasonOf(engine.rotateL3('acme', 'billing'))).toBe(ResultReason.PermissionDenied);
    expect(await reasonOf(engine.rotateL2('acme'))).toBe(ResultReason.PermissionDenied);
  });
});

describe('unsealing', () => {
  it('unsealAll: a tenant whose L1 hangs stays sealed after the timeout, the others serve; it unseals lazily once its L1 answers', async () => {
    const store = await memStore();
    const { l1: shared } = await softwareL1(dirs);
    const steered = new SteeredL1((await softwareL1(dirs)).l1);
    let clock = 1_000_000;
    const setup = await engineOn(store, { defaultL1: shared });
    await setup.registerTenant('slow', steered);
    for (const t of ['t1', 't2', 'slow']) await setup.wrap({ tenant: t, service: 's', uid: 'u' }, secret);
    const blob = await setup.wrap({ tenant: 'slow', service: 's', uid: 'u' }, secret);
    await setup.close();

    const engine = await engineOn(store, { defaultL1: shared, retryIntervalMs: 10_000, now: () => clock });
    await engine.registerTenant('slow', steered);
    steered.mode = 'hang';
    const t0 = performance.now();
    const report = await engine.unsealAll({ timeoutMs: 150 });
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(report.unsealed.sort()).toEqual(['t1', 't2']);
    expect(report.sealed).toEqual([{ tenant: 'slow', reason: expect.stringMatching(/unseal failed: L1 did not answer within 150 ms/) }]);
    expect(await reasonOf(engine.unwrap({ tenant: 'slow', service: 's', uid: 'u' }, blob))).toBe(ResultReason.PermissionDenied);

    // The L1 is back, but within the retry interval nobody asks it again.
    steered.mode = 'ok';
    const before = steered.calls.unwrap;
    expect(await reasonOf(engine.assertUnsealed('slow'))).toBe(ResultReason.PermissionDenied);
    expect(steered.calls.unwrap).toBe(before);
    clock += 10_000;
    expect(await engine.unwrap({ tenant: 'slow', service: 's', uid: 'u' }, blob)).toEqual(secret);
    expect(steered.calls.unwrap).toBe(before + 1);
  });

  it('concurrent first requests of a sealed tenant share one unseal', async () => {
    const store = await memStore();
    const steered = new SteeredL1((await softwareL1(dirs)).l1);
    const engine = await engineOn(store, { defaultL1: steered });
    await engine.wrap(place, secret);
    const engine2 = await engineOn(store, { defaultL1: steered });
    const before = steered.calls.unwrap;
    await Promise.all(Array.from({ length: 20 }, (_, i) => engine2.wrap({ ...place, uid: `u${i}` }, secret)));
    expect(steered.calls.unwrap).toBe(before + 1);
  });

  it('a tenant with no L1 at all stays sealed with a clear reason', async () => {
    const store = await memStore();
    const engine = await engineOn(store);
    const err = await engine.wrap(place, secret).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: ResultReason.PermissionDenied, message: 'tenant acme is sealed: unseal failed: no L1 key is configured for this tenant' });
  });
});

describe('a tenant whose own L1 fails to open', () => {
  it('stays sealed with that reason, and the default L1 is never tried in its place', async () => {
    const store = await memStore();
    const steered = new SteeredL1((await softwareL1(dirs)).l1);
    const h = await openHierarchy(store, { statusCheckIntervalMs: 0, retryIntervalMs: 0, defaultL1: steered, tenants: { acme: new Error('key alpha-l1 not found in token t1') } });
    toClose.push(() => h.close());
    expect(h.unseal.sealed).toEqual([{ tenant: 'acme', reason: 'unseal failed: L1 unavailable: key alpha-l1 not found in token t1' }]);
    const err = await h.engine.wrap(place, secret).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: ResultReason.PermissionDenied, message: 'tenant acme is sealed: unseal failed: L1 unavailable: key alpha-l1 not found in token t1' });
    expect(steered.calls).toEqual({ wrap: 0, unwrap: 0, status: 0 });
    expect(await store.listL2Keys('acme')).toEqual([]);
  });
});

describe('periodic L1 status check', () => {
  it('disabled or revoked seals; unreachable seals only past the grace period; active again unseals', async () => {
    const store = await memStore();
    const steered = new SteeredL1((await softwareL1(dirs)).l1);
    let clock = 5_000_000;
    const engine = await engineOn(store, { defaultL1: steered, unreachableGraceMs: 60_000, retryIntervalMs: 1_000, now: () => clock });
    const blob = await engine.wrap(place, secret);
    const live = engine.liveKeyBuffersForTests('acme');

    steered.reportStatus = { state: 'disabled', detail: 'DisableKey in the customer console' };
    await engine.checkL1Status();
    expect(engine.status('acme')).toMatchObject({ sealed: true, sealKind: 'l1-status', reason: 'L1 key disabled: DisableKey in the customer console' });
    expect(live.every(allZero)).toBe(true);

    steered.reportStatus = { state: 'active' };
    clock += 1_000;
    await engine.checkL1Status();
    expect(engine.status('acme').sealed).toBe(false);
    expect(await engine.unwrap(place, blob)).toEqual(secret);

    steered.reportStatus = { state: 'unreachable', detail: 'timeout' };
    await engine.checkL1Status();
    clock += 59_000;
    await engine.checkL1Status();
    expect(engine.status('acme').sealed).toBe(false);
    clock += 2_000;
    await engine.checkL1Status();
    expect(engine.status('acme')).toMatchObject({ sealed: true, reason: 'L1 unreachable for more than 60 s: timeout' });

    steered.reportStatus = { state: 'revoked', detail: 'key deleted' };
    await engine.checkL1Status();
    expect(engine.status('acme').reason).toBe('L1 key revoked: key deleted');
  });

  it('runs on its own at the configured interval, and a hanging status() counts as unreachable', async () => {
    const store = await memStore();
    const steered = new SteeredL1((await softwareL1(dirs)).l1);
    const engine = await engineOn(store, { defaultL1: steered, statusCheckIntervalMs: 20, l1TimeoutMs: 30, unreachableGraceMs: 0 });
    await engine.wrap(place, secret);
    steered.mode = 'hang';
    await expect.poll(() => engine.status('acme').sealed, { timeout: 2_000, interval: 10 }).toBe(true);
    expect(engine.status('acme').reason).toMatch(/L1 unreachable .*L1 did not answer within 30 ms \(status\)/);
  });
});

describe('kill switch', () => {
  it('seals at once, persists the disabled pointer across a restart, and only enableTenant lifts it', async () => {
    const store = await memStore();
    const { l1 } = await softwareL1(dirs);
    const engine = await engineOn(store, { defaultL1: l1, retryIntervalMs: 0 });
    const blob = await engine.wrap(place, secret);
    const live = engine.liveKeyBuffersForTests('acme');
    const done = engine.killSwitch('acme');
    // Synchronous part: sealed and zeroized before the promise settles.
    expect(engine.isSealed('acme')).toBe(true);
    expect(live.every(allZero)).toBe(true);
    await done;
    expect((await store.getTenantL1('acme'))?.state).toBe('disabled');
    expect(await reasonOf(engine.unwrap(place, blob))).toBe(ResultReason.PermissionDenied);
    expect((await engine.unsealTenant('acme')).sealKind).toBe('kill-switch');

    const restarted = await engineOn(store, { defaultL1: l1, retryIntervalMs: 0 });
    await restarted.registerTenant('acme', l1);
    const report = await restarted.unsealAll();
    expect(report.sealed).toEqual([{ tenant: 'acme', reason: 'the L1 pointer is disabled (kill switch)' }]);
    const err = (await restarted.unwrap(place, blob).catch((e: unknown) => e)) as KmipError;
    expect(err.message).toBe('tenant acme is sealed: the L1 pointer is disabled (kill switch)');

    expect((await restarted.enableTenant('acme', l1)).sealed).toBe(false);
    expect(await restarted.unwrap(place, blob)).toEqual(secret);
  });
});
