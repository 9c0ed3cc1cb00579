// End to end through the operations, on a database file: restart and unseal through each
// tenant's own L1; the L1 key gone → that tenant is locked out for good (no second copy of
// its L2 exists anywhere), the other tenant keeps working; and the migration of a database
// written by the interim protector (issue 6).
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import { createInterimProtector, INTERIM_DEK_NAME } from '../../src/hierarchy/interim.ts';
import { openHierarchy, type HierarchyBackingStore } from '../../src/hierarchy/hierarchy-protector.ts';
import { createObjectRepository } from '../../src/hierarchy/repository.ts';
import { l2Context } from '../../src/hierarchy/keyring.ts';
import type { KeyProtector } from '../../src/hierarchy/types.ts';
import { create } from '../../src/operations/create.ts';
import { get } from '../../src/operations/get.ts';
import { child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm as Alg, ObjectType, ResultReason, State } from '../../src/ttlv/generated/enumerations.ts';
import { makeContextFor } from '../helpers/context.ts';
import { reasonOf, SteeredL1, TempDirs } from './engine-helpers.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

const noCheck = { statusCheckIntervalMs: 0 };

async function createKey(store: SqliteStore, protector: KeyProtector, tenant: string, service: string): Promise<string> {
  const { ctx } = await makeContextFor(store, protector, tenant, service);
  const r = await create.run(ctx, structure(Tag.RequestPayload, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256)]),
  ]));
  return (child(r, Tag.UniqueIdentifier) as { value: string }).value;
}

/** The key material Get answers. */
async function material(store: SqliteStore, protector: KeyProtector, tenant: string, service: string, uid: string): Promise<Buffer> {
  const { ctx } = await makeContextFor(store, protector, tenant, service);
  const g = await get.run(ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
  const kb = child(child(g, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
  const kv = child(kb, Tag.KeyValue) as Struct;
  return Buffer.from((child(kv, Tag.KeyMaterial) as { value: Buffer }).value);
}

const formats = (store: SqliteStore): number[] =>
  (store.database.prepare('SELECT wrapped_value FROM objects WHERE wrapped_value IS NOT NULL ORDER BY uid').all() as { wrapped_value: Buffer }[]).map((r) => r.wrapped_value[0]!);

describe('restart and lockout', () => {
  it('unseals each tenant through its own L1 after a restart; with one L1 key deleted that tenant is locked out, the other serves', async () => {
    const dir = dirs.make();
    const dbPath = join(dir, 'openkcm.db');
    const keyA = join(dir, 'alpha-l1.key');
    const keyB = join(dir, 'beta-l1.key');

    // Day 1: both tenants create a key.
    let store = await openSqliteStore(dbPath);
    let l1A = await SoftwareL1Provider.open(keyA);
    let l1B = await SoftwareL1Provider.open(keyB);
    let h = await openHierarchy(store, { ...noCheck, tenants: { alpha: l1A, beta: l1B } });
    const uidA = await createKey(store, h.protector, 'alpha', 'db');
    const uidB = await createKey(store, h.protector, 'beta', 'db');
    const matA = await material(store, h.protector, 'alpha', 'db', uidA);
    const matB = await material(store, h.protector, 'beta', 'db', uidB);
    await h.close();
    await store.close();

    // Day 2: a restart unseals both through their L1s; the same key material comes back.
    store = await openSqliteStore(dbPath);
    h = await openHierarchy(store, { ...noCheck, tenants: { alpha: l1A, beta: l1B } });
    expect(h.unseal.unsealed.sort()).toEqual(['alpha', 'beta']);
    expect(await material(store, h.protector, 'alpha', 'db', uidA)).toEqual(matA);
    expect(await material(store, h.protector, 'beta', 'db', uidB)).toEqual(matB);
    // Deleting the key while running: the L1 check sees it revoked and seals at once.
    unlinkSync(keyA);
    await h.engine.checkL1Status();
    expect(h.engine.status('alpha')).toMatchObject({ sealed: true, sealKind: 'l1-status' });
    expect(h.engine.status('beta').sealed).toBe(false);
    await h.close();
    await store.close();
    await l1A.close();

    // Day 3: the operator "restores" by letting the provider create a fresh key file. It is
    // another key: the stored L2 of alpha does not open under it, nor under beta's L1, nor
    // under anything else: there is no second copy.
    l1A = await SoftwareL1Provider.open(keyA);
    store = await openSqliteStore(dbPath);
    h = await openHierarchy(store, { ...noCheck, retryIntervalMs: 0, defaultL1: l1B, tenants: { alpha: l1A, beta: l1B } });
    expect(h.unseal.unsealed).toEqual(['beta']);
    expect(h.unseal.sealed).toEqual([{ tenant: 'alpha', reason: expect.stringMatching(/^unseal failed: software L1 unwrap failed/) }]);
    // Every path into alpha is refused, however often it is tried.
    for (let i = 0; i < 3; i++) {
      expect(await reasonOf(material(store, h.protector, 'alpha', 'db', uidA))).toBe(ResultReason.PermissionDenied);
      expect(await reasonOf(createKey(store, h.protector, 'alpha', 'db'))).toBe(ResultReason.PermissionDenied);
      expect(await reasonOf(h.engine.assertUnsealed('alpha'))).toBe(ResultReason.PermissionDenied);
    }
    expect(await material(store, h.protector, 'beta', 'db', uidB)).toEqual(matB);
    await createKey(store, h.protector, 'beta', 'db');

    // What the database holds for alpha: exactly one wrapped L2, openable by neither L1; no other blob.
    const l2 = await store.listL2Keys('alpha');
    expect(l2).toHaveLength(1);
    await expect(l1A.unwrap(l2[0]!.wrapped, l2Context('alpha', 1))).rejects.toThrow();
    await expect(l1B.unwrap(l2[0]!.wrapped, l2Context('alpha', 1))).rejects.toThrow();
    expect(store.database.prepare('SELECT COUNT(*) AS n FROM system_blobs').get()).toEqual({ n: 0 });
    // Every table row of alpha that carries a blob: its objects' wrapped values, one L2, one L3.
    const db = store.database;
    const blobRows: Record<string, number> = {};
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]) {
      const cols = db.prepare(`PRAGMA table_info(${name})`).all() as { name: string; type: string }[];
      if (!cols.some((c) => c.name === 'tenant') || !cols.some((c) => c.type === 'BLOB')) continue;
      const n = (db.prepare(`SELECT COUNT(*) AS n FROM ${name} WHERE tenant = 'alpha'`).get() as { n: number }).n;
      if (n > 0) blobRows[name] = n;
    }
    expect(blobRows).toEqual({ objects: 1, l2_keys: 1, l3_keys: 1 });
    await h.close();
    await store.close();
    await l1A.close();
    await l1B.close();
  });
});

describe('migration from the interim protector', () => {
  async function interimDatabase() {
    const dir = dirs.make();
    const dbPath = join(dir, 'openkcm.db');
    const l1 = await SoftwareL1Provider.open(join(dir, 'l1.key'));
    const store = await openSqliteStore(dbPath);
    const interim = await createInterimProtector(l1, store);
    const keys: { tenant: string; service: string; uid: string; mat: Buffer }[] = [];
    for (const [tenant, service] of [['t1', 's1'], ['t1', 's2'], ['t2', 's1'], ['t2', 's1'], ['t1', 's1']] as const) {
      const uid = await createKey(store, interim, tenant, service);
      keys.push({ tenant, service, uid, mat: await material(store, interim, tenant, service, uid) });
    }
    interim.close();
    await store.close();
    return { dbPath, l1, keys };
  }

  it('re-wraps every value under the hierarchy page by page, resumes after a crash, then deletes the interim key', async () => {
    const { dbPath, l1, keys } = await interimDatabase();
    let store = await openSqliteStore(dbPath);
    expect(formats(store)).toEqual([1, 1, 1, 1, 1]);

    // A crash during the second page: the first page is committed, the rest still interim.
    let pages = 0;
    const crashing = Object.create(store) as HierarchyBackingStore;
    crashing.replaceWrappedValues = async (changes) => {
      if (++pages === 2) throw new Error('power cut');
      return store.replaceWrappedValues(changes);
    };
    await expect(openHierarchy(crashing, { ...noCheck, defaultL1: l1, migrationPageSize: 2 })).rejects.toThrow('power cut');
    expect(formats(store).sort()).toEqual([1, 1, 1, 2, 2]);
    expect(await store.getSystemBlob(INTERIM_DEK_NAME)).toBeDefined();
    await store.close();

    store = await openSqliteStore(dbPath);
    const h = await openHierarchy(store, { ...noCheck, defaultL1: l1, migrationPageSize: 2 });
    expect(h.migration).toEqual({ migrated: 3, pending: 0, interimKeyDeleted: true });
    expect(formats(store)).toEqual([2, 2, 2, 2, 2]);
    expect(await store.getSystemBlob(INTERIM_DEK_NAME)).toBeUndefined();
    for (const k of keys) expect(await material(store, h.protector, k.tenant, k.service, k.uid)).toEqual(k.mat);
    expect((await store.listL3Keys('t1')).map((r) => r.service)).toEqual(['s1', 's2']);
    await h.close();
    await store.close();
  });

  it('leaves a sealed tenant\'s values interim (still refused while sealed) and finishes once it unseals', async () => {
    const { dbPath, l1, keys } = await interimDatabase();
    const t2L1 = new SteeredL1(l1);
    t2L1.mode = 'fail';
    let store = await openSqliteStore(dbPath);
    let h = await openHierarchy(store, { ...noCheck, defaultL1: l1, tenants: { t2: t2L1 }, retryIntervalMs: 60_000 });
    expect(h.migration).toEqual({ migrated: 3, pending: 2, interimKeyDeleted: false });
    expect(await store.getSystemBlob(INTERIM_DEK_NAME)).toBeDefined();
    const t1 = keys.find((k) => k.tenant === 't1')!;
    const t2 = keys.find((k) => k.tenant === 't2')!;
    expect(await material(store, h.protector, t1.tenant, t1.service, t1.uid)).toEqual(t1.mat);
    // The interim key could open t2's value, but the seal comes first.
    expect(await reasonOf(material(store, h.protector, t2.tenant, t2.service, t2.uid))).toBe(ResultReason.PermissionDenied);
    await h.close();
    await store.close();

    t2L1.mode = 'ok';
    store = await openSqliteStore(dbPath);
    h = await openHierarchy(store, { ...noCheck, defaultL1: l1, tenants: { t2: t2L1 } });
    expect(h.migration).toEqual({ migrated: 2, pending: 0, interimKeyDeleted: true });
    for (const k of keys) expect(await material(store, h.protector, k.tenant, k.service, k.uid)).toEqual(k.mat);
    await h.close();
    await store.close();
  });
  it('pages over every tenant by (tenant, uid): one Unique Identifier held by three tenants is migrated three times', async () => {
    const dir = dirs.make();
    const dbPath = join(dir, 'openkcm.db');
    const l1 = await SoftwareL1Provider.open(join(dir, 'l1.key'));
    let store = await openSqliteStore(dbPath);
    const interim = await createInterimProtector(l1, store);
    const value = (tenant: string) => structure(Tag.SecretData, [textString(Tag.Description, `value of ${tenant}`)]);
    for (const tenant of ['t1', 't2', 't3']) {
      const repo = createObjectRepository(store, interim, { tenant, service: 's' });
      // Unique Identifiers are per tenant (store migration 6): 'shared' exists three times.
      await repo.create({ uid: 'shared', objectType: ObjectType.SecretData, state: State.Active, attributes: [], value: value(tenant) });
      await repo.create({ uid: `own-${tenant}`, objectType: ObjectType.SecretData, state: State.Active, attributes: [], value: value(tenant) });
    }
    interim.close();
    await store.close();

    store = await openSqliteStore(dbPath);
    const h = await openHierarchy(store, { ...noCheck, defaultL1: l1, migrationPageSize: 1 });
    expect(h.migration).toEqual({ migrated: 6, pending: 0, interimKeyDeleted: true });
    expect(formats(store)).toEqual([2, 2, 2, 2, 2, 2]);
    for (const tenant of ['t1', 't2', 't3']) {
      const repo = createObjectRepository(store, h.protector, { tenant, service: 's' });
      expect((await repo.load('shared'))?.value).toEqual(value(tenant));
    }
    await h.close();
    await store.close();
  });
});
