// The contract every ObjectStore backend passes (DESIGN.md §6.6). SQLite runs it today
// (sqlite.test.ts); the PostgreSQL store will call runObjectStoreContract with its factory.
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredObject } from '../../src/kmip/object.ts';
import { StoreConflictError, type ObjectStore } from '../../src/store/types.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, LinkType, NameType, ObjectType, State } from '../../src/ttlv/generated/enumerations.ts';

export interface ContractSubject {
  store: ObjectStore;
  /** Called after the store is closed (remove files, drop schemas…). */
  dispose?: () => Promise<void>;
}

const name = (value: string): TtlvItem => ({
  tag: Tag.Name,
  type: 'Structure',
  value: [
    { tag: Tag.NameValue, type: 'TextString', value },
    { tag: Tag.NameType, type: 'Enumeration', value: NameType.UninterpretedTextString },
  ],
});
const group = (value: string): TtlvItem => ({ tag: Tag.ObjectGroup, type: 'TextString', value });
const algorithm = (value: number): TtlvItem => ({ tag: Tag.CryptographicAlgorithm, type: 'Enumeration', value });
const length = (value: number): TtlvItem => ({ tag: Tag.CryptographicLength, type: 'Integer', value });

let seq = 0;
/** A stored object with unique uid; `attributes` defaults to none. */
export function makeStored(over: Partial<StoredObject> = {}): StoredObject {
  seq += 1;
  return {
    uid: `obj-${process.pid}-${seq}-${Math.random().toString(36).slice(2, 8)}`,
    tenant: 'tenant-a',
    service: 'svc',
    objectType: ObjectType.SymmetricKey,
    state: State.PreActive,
    revision: 0,
    attributes: [],
    wrappedValue: Buffer.from(`wrapped-${seq}`),
    ...over,
  };
}

async function collect(it: AsyncIterable<StoredObject>): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of it) out.push(o);
  return out;
}
const uids = (objs: StoredObject[]) => objs.map((o) => o.uid);

export function runObjectStoreContract(label: string, factory: () => Promise<ContractSubject>): void {
  describe(`ObjectStore contract: ${label}`, () => {
    let subject: ContractSubject | undefined;
    const open = async () => {
      subject = await factory();
      return subject.store;
    };
    afterEach(async () => {
      if (subject === undefined) return;
      await subject.store.close();
      await subject.dispose?.();
      subject = undefined;
    });

    it('insert then get returns the same object, attributes of every type intact', async () => {
      const store = await open();
      const attributes: TtlvItem[] = [
        name('alpha'),
        name('alpha-alias'),
        group('g1'),
        algorithm(CryptographicAlgorithm.AES),
        length(256),
        { tag: Tag.InitialDate, type: 'DateTime', value: 1_700_000_000n },
        { tag: Tag.Link, type: 'Structure', value: [
          { tag: Tag.LinkType, type: 'Enumeration', value: LinkType.PublicKeyLink },
          { tag: Tag.LinkedObjectIdentifier, type: 'TextString', value: 'other-uid' },
        ] },
        { tag: Tag.Fresh, type: 'Boolean', value: true },
        { tag: Tag.UsageLimitsTotal, type: 'LongInteger', value: 2n ** 40n },
        { tag: Tag.Attribute, type: 'Structure', value: [
          { tag: Tag.VendorIdentification, type: 'TextString', value: 'x' },
          { tag: Tag.AttributeName, type: 'TextString', value: 'x-purpose' },
          { tag: Tag.AttributeValue, type: 'ByteString', value: Buffer.from([0, 1, 2, 255]) },
        ] },
      ];
      const obj = makeStored({ attributes, state: State.Active, revision: 3 });
      await store.insert(obj);
      const got = await store.get('tenant-a', obj.uid);
      expect(got).toEqual(obj);
    });

    it('an object without a wrapped value comes back without one', async () => {
      const store = await open();
      const obj = makeStored({ state: State.Destroyed });
      delete obj.wrappedValue;
      await store.insert(obj);
      const got = await store.get('tenant-a', obj.uid);
      expect(got).toBeDefined();
      expect(got!.wrappedValue).toBeUndefined();
      expect('wrappedValue' in got! && got!.wrappedValue !== undefined).toBe(false);
    });

    it('get of a missing uid, or of another tenant’s uid, is undefined', async () => {
      const store = await open();
      const obj = makeStored();
      await store.insert(obj);
      expect(await store.get('tenant-a', 'no-such-uid')).toBeUndefined();
      expect(await store.get('tenant-b', obj.uid)).toBeUndefined();
    });

    it('a second insert of the same uid in the same tenant is a conflict and changes nothing', async () => {
      const store = await open();
      const obj = makeStored({ attributes: [name('first')] });
      await store.insert(obj);
      await expect(store.insert({ ...obj, attributes: [name('second')], state: State.Active })).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.get('tenant-a', obj.uid)).toEqual(obj);
      expect(uids(await collect(store.scan('tenant-a', { name: 'second' })))).toEqual([]);
    });

    // Unique Identifiers are scoped per tenant (issue 16): a uid held by one tenant is free
    // in every other, so the store can never tell a tenant that another one holds it.
    it('two tenants hold the same uid independently: insert, get, update, scan and delete of one never touch the other', async () => {
      const store = await open();
      const uid = makeStored().uid;
      const a = makeStored({ uid, tenant: 'tenant-a', service: 'svc-a', attributes: [name('shared-name'), group('grp-a'), length(128)], wrappedValue: Buffer.from('value-a') });
      const b = makeStored({ uid, tenant: 'tenant-b', service: 'svc-b', objectType: ObjectType.SecretData, state: State.Active, attributes: [name('shared-name'), group('grp-b')], wrappedValue: Buffer.from('value-b') });
      await store.insert(a);
      await store.insert(b);
      const snapshotA: StoredObject = { ...a, attributes: [...a.attributes], wrappedValue: Buffer.from(a.wrappedValue!) };
      expect(await store.get('tenant-a', uid)).toEqual(a);
      expect(await store.get('tenant-b', uid)).toEqual(b);
      expect(await store.get('tenant-c', uid)).toBeUndefined();
      // Each tenant's second insert of the uid conflicts in that tenant only.
      await expect(store.insert({ ...b })).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.get('tenant-a', uid)).toEqual(snapshotA);

      const q = async (tenant: string, f: Parameters<ObjectStore['scan']>[1]) => (await collect(store.scan(tenant, f))).map((o) => `${o.tenant}/${o.uid}/${o.objectType}`);
      const rowA = `tenant-a/${uid}/${ObjectType.SymmetricKey}`;
      const rowB = `tenant-b/${uid}/${ObjectType.SecretData}`;
      expect(await q('tenant-a', {})).toEqual([rowA]);
      expect(await q('tenant-b', {})).toEqual([rowB]);
      expect(await q('tenant-a', { name: 'shared-name' })).toEqual([rowA]);
      expect(await q('tenant-b', { name: 'shared-name' })).toEqual([rowB]);
      expect(await q('tenant-a', { objectGroup: 'grp-b' })).toEqual([]);
      expect(await q('tenant-b', { objectGroup: 'grp-b' })).toEqual([rowB]);
      expect(await q('tenant-b', { name: 'shared-name', objectGroup: 'grp-a' })).toEqual([]);

      // Updating B (rewriting its names and groups) leaves A's row and lookups as they were.
      b.attributes = [name('renamed-b'), group('grp-b2')];
      b.state = State.Deactivated;
      b.wrappedValue = Buffer.from('value-b2');
      await store.update(b);
      expect(b.revision).toBe(1);
      expect(await store.get('tenant-a', uid)).toEqual(snapshotA);
      expect(await store.get('tenant-b', uid)).toEqual(b);
      expect(await q('tenant-a', { name: 'shared-name' })).toEqual([rowA]);
      expect(await q('tenant-a', { objectGroup: 'grp-a' })).toEqual([rowA]);
      expect(await q('tenant-b', { name: 'shared-name' })).toEqual([]);
      expect(await q('tenant-b', { name: 'renamed-b' })).toEqual([rowB]);
      // A's revision is its own: an update of A at A's revision succeeds although B moved on.
      const a2 = (await store.get('tenant-a', uid))!;
      a2.state = State.Active;
      await store.update(a2);
      expect(a2.revision).toBe(1);
      expect((await store.get('tenant-b', uid))!.state).toBe(State.Deactivated);
      // A stale update of B is a conflict and does not reach A.
      await expect(store.update({ ...b, revision: 0, state: State.Compromised })).rejects.toBeInstanceOf(StoreConflictError);
      expect((await store.get('tenant-a', uid))!.state).toBe(State.Active);

      // Deleting B removes B and its lookups only.
      expect(await store.delete('tenant-b', uid)).toBe(true);
      expect(await store.get('tenant-b', uid)).toBeUndefined();
      expect(await q('tenant-b', { name: 'renamed-b' })).toEqual([]);
      expect(await q('tenant-b', { objectGroup: 'grp-b2' })).toEqual([]);
      expect(await store.get('tenant-a', uid)).toEqual(a2);
      expect(await q('tenant-a', { name: 'shared-name' })).toEqual([rowA]);
      expect(await q('tenant-a', { objectGroup: 'grp-a' })).toEqual([rowA]);
      // And B may take the uid again, still beside A.
      const b2 = makeStored({ uid, tenant: 'tenant-b', attributes: [name('again')] });
      await store.insert(b2);
      expect(await store.get('tenant-b', uid)).toEqual(b2);
      expect(await store.get('tenant-a', uid)).toEqual(a2);
      expect(await store.delete('tenant-a', uid)).toBe(true);
      expect(await store.get('tenant-b', uid)).toEqual(b2);
      expect(await q('tenant-b', { name: 'again' })).toEqual([`tenant-b/${uid}/${ObjectType.SymmetricKey}`]);
    });

    it('concurrent inserts of one uid by two tenants both succeed; by one tenant, exactly one', async () => {
      const store = await open();
      const uid = makeStored().uid;
      const results = await Promise.allSettled([
        store.insert(makeStored({ uid, tenant: 'tenant-a' })),
        store.insert(makeStored({ uid, tenant: 'tenant-b' })),
        store.insert(makeStored({ uid, tenant: 'tenant-a' })),
      ]);
      // Which of tenant-a's two inserts wins is the backend's business; tenant-b's always succeeds.
      expect(results[1]!.status).toBe('fulfilled');
      const aResults = [results[0]!, results[2]!];
      expect(aResults.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = aResults.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
      expect(lost.reason).toBeInstanceOf(StoreConflictError);
      expect((await store.get('tenant-a', uid))?.tenant).toBe('tenant-a');
      expect((await store.get('tenant-b', uid))?.tenant).toBe('tenant-b');
    });

    it('update bumps the revision, stores the change and refuses a stale revision', async () => {
      const store = await open();
      const obj = makeStored({ attributes: [name('before')] });
      await store.insert(obj);
      const a = (await store.get('tenant-a', obj.uid))!;
      const b = (await store.get('tenant-a', obj.uid))!;
      a.state = State.Active;
      a.attributes = [name('after'), algorithm(CryptographicAlgorithm.AES)];
      a.wrappedValue = Buffer.from('rewrapped');
      await store.update(a);
      expect(a.revision).toBe(1);
      expect(await store.get('tenant-a', obj.uid)).toEqual(a);
      b.state = State.Deactivated;
      await expect(store.update(b)).rejects.toBeInstanceOf(StoreConflictError);
      expect(b.revision).toBe(0);
      expect((await store.get('tenant-a', obj.uid))!.state).toBe(State.Active);
      await store.update(a);
      expect(a.revision).toBe(2);
      expect((await store.get('tenant-a', obj.uid))!.revision).toBe(2);
    });

    it('update of a missing object, or through another tenant, is a conflict and changes nothing', async () => {
      const store = await open();
      await expect(store.update(makeStored())).rejects.toBeInstanceOf(StoreConflictError);
      const obj = makeStored();
      await store.insert(obj);
      const foreign = { ...obj, tenant: 'tenant-b', state: State.Compromised };
      await expect(store.update(foreign)).rejects.toBeInstanceOf(StoreConflictError);
      expect((await store.get('tenant-a', obj.uid))!.state).toBe(State.PreActive);
    });

    it('update can erase the wrapped value (Destroy keeps the metadata)', async () => {
      const store = await open();
      const obj = makeStored({ state: State.Active });
      await store.insert(obj);
      delete obj.wrappedValue;
      obj.state = State.Destroyed;
      await store.update(obj);
      const got = await store.get('tenant-a', obj.uid);
      expect(got?.state).toBe(State.Destroyed);
      expect(got?.wrappedValue).toBeUndefined();
    });

    it('scan yields newest first by creation, unaffected by later updates', async () => {
      const store = await open();
      const objs = [makeStored(), makeStored(), makeStored(), makeStored()];
      for (const o of objs) await store.insert(o);
      objs[0]!.attributes = [name('touched')];
      await store.update(objs[0]!);
      expect(uids(await collect(store.scan('tenant-a', {})))).toEqual(uids(objs).reverse());
    });

    it('scan filters by object type, states, algorithm and length', async () => {
      const store = await open();
      const aes128 = makeStored({ attributes: [algorithm(CryptographicAlgorithm.AES), length(128)], state: State.Active });
      const aes256 = makeStored({ attributes: [algorithm(CryptographicAlgorithm.AES), length(256)], state: State.PreActive });
      const hmac = makeStored({ attributes: [algorithm(CryptographicAlgorithm.HMAC_SHA256), length(256)], state: State.Active });
      const secret = makeStored({ objectType: ObjectType.SecretData, state: State.Deactivated });
      const pub = makeStored({ objectType: ObjectType.PublicKey, attributes: [algorithm(CryptographicAlgorithm.RSA), length(2048)], state: State.Compromised });
      for (const o of [aes128, aes256, hmac, secret, pub]) await store.insert(o);
      const q = async (f: Parameters<ObjectStore['scan']>[1]) => uids(await collect(store.scan('tenant-a', f)));
      expect(await q({ objectType: ObjectType.SymmetricKey })).toEqual(uids([hmac, aes256, aes128]));
      expect(await q({ objectType: ObjectType.SecretData })).toEqual([secret.uid]);
      expect(await q({ states: [State.Active] })).toEqual(uids([hmac, aes128]));
      expect(await q({ states: [State.Active, State.Compromised, State.PreActive] })).toEqual(uids([pub, hmac, aes256, aes128]));
      expect(await q({ cryptographicAlgorithm: CryptographicAlgorithm.AES })).toEqual(uids([aes256, aes128]));
      expect(await q({ cryptographicLength: 256 })).toEqual(uids([hmac, aes256]));
      expect(await q({ cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: 128 })).toEqual([aes128.uid]);
      expect(await q({ objectType: ObjectType.SymmetricKey, states: [State.Active], cryptographicLength: 256 })).toEqual([hmac.uid]);
      expect(await q({ objectType: ObjectType.Certificate })).toEqual([]);
      expect(await q({ states: [] })).toEqual([]);
    });

    it('scan filters by any of an object’s names and groups', async () => {
      const store = await open();
      const a = makeStored({ attributes: [name('shared'), name('only-a'), group('g1')] });
      const b = makeStored({ attributes: [name('shared'), group('g1'), group('g2')] });
      const c = makeStored({ attributes: [name('only-c')], objectType: ObjectType.SecretData });
      for (const o of [a, b, c]) await store.insert(o);
      const q = async (f: Parameters<ObjectStore['scan']>[1]) => uids(await collect(store.scan('tenant-a', f)));
      expect(await q({ name: 'shared' })).toEqual(uids([b, a]));
      expect(await q({ name: 'only-a' })).toEqual([a.uid]);
      expect(await q({ name: 'only' })).toEqual([]); // exact, not a prefix
      expect(await q({ objectGroup: 'g1' })).toEqual(uids([b, a]));
      expect(await q({ objectGroup: 'g2' })).toEqual([b.uid]);
      expect(await q({ name: 'shared', objectGroup: 'g2' })).toEqual([b.uid]);
      expect(await q({ name: 'only-c', objectType: ObjectType.SymmetricKey })).toEqual([]);
    });

    it('an object with the same name twice is yielded once', async () => {
      const store = await open();
      const o = makeStored({ attributes: [name('dup'), name('dup'), group('g'), group('g')] });
      await store.insert(o);
      expect(uids(await collect(store.scan('tenant-a', { name: 'dup' })))).toEqual([o.uid]);
      expect(uids(await collect(store.scan('tenant-a', { objectGroup: 'g' })))).toEqual([o.uid]);
    });

    it('update rewrites the name and group lookups', async () => {
      const store = await open();
      const o = makeStored({ attributes: [name('old'), group('old-g')] });
      await store.insert(o);
      o.attributes = [name('new'), group('new-g')];
      await store.update(o);
      const q = async (f: Parameters<ObjectStore['scan']>[1]) => uids(await collect(store.scan('tenant-a', f)));
      expect(await q({ name: 'old' })).toEqual([]);
      expect(await q({ objectGroup: 'old-g' })).toEqual([]);
      expect(await q({ name: 'new' })).toEqual([o.uid]);
      expect(await q({ objectGroup: 'new-g' })).toEqual([o.uid]);
    });

    it('destroyed objects are left out unless includeDestroyed', async () => {
      const store = await open();
      const live = makeStored({ attributes: [name('k')], state: State.Active });
      const gone = makeStored({ attributes: [name('k')], state: State.Destroyed });
      const goneC = makeStored({ attributes: [name('k')], state: State.DestroyedCompromised });
      delete gone.wrappedValue;
      delete goneC.wrappedValue;
      for (const o of [live, gone, goneC]) await store.insert(o);
      const q = async (f: Parameters<ObjectStore['scan']>[1]) => uids(await collect(store.scan('tenant-a', f)));
      expect(await q({})).toEqual([live.uid]);
      expect(await q({ name: 'k' })).toEqual([live.uid]);
      expect(await q({ states: [State.Destroyed] })).toEqual([]);
      expect(await q({ includeDestroyed: true })).toEqual(uids([goneC, gone, live]));
      expect(await q({ name: 'k', includeDestroyed: true })).toEqual(uids([goneC, gone, live]));
      expect(await q({ states: [State.Destroyed], includeDestroyed: true })).toEqual([gone.uid]);
    });

    it('tenants are isolated in scan and delete', async () => {
      const store = await open();
      const a = makeStored({ tenant: 'tenant-a', attributes: [name('same'), group('grp')] });
      const b = makeStored({ tenant: 'tenant-b', attributes: [name('same'), group('grp')] });
      await store.insert(a);
      await store.insert(b);
      for (const f of [{}, { name: 'same' }, { objectGroup: 'grp' }, { objectType: ObjectType.SymmetricKey }, { includeDestroyed: true }]) {
        expect(uids(await collect(store.scan('tenant-a', f)))).toEqual([a.uid]);
        expect(uids(await collect(store.scan('tenant-b', f)))).toEqual([b.uid]);
      }
      expect(await store.delete('tenant-b', a.uid)).toBe(false);
      expect(await store.get('tenant-a', a.uid)).toBeDefined();
      expect(uids(await collect(store.scan('tenant-c', {})))).toEqual([]);
    });

    it('scan pages through more objects than one page, in order, and stops early on break', async () => {
      const store = await open();
      const all: StoredObject[] = [];
      // 600 is over two pages of the SQLite store (256); states alternate so the per-state walks interleave.
      for (let i = 0; i < 600; i++) {
        const o = makeStored({ state: i % 3 === 0 ? State.Active : i % 3 === 1 ? State.PreActive : State.Deactivated, attributes: [group(i % 2 ? 'odd' : 'even')] });
        all.push(o);
        await store.insert(o);
      }
      const newestFirst = uids(all).reverse();
      expect(uids(await collect(store.scan('tenant-a', {})))).toEqual(newestFirst);
      const activeOrPre = all.filter((o) => o.state !== State.Deactivated);
      expect(uids(await collect(store.scan('tenant-a', { states: [State.Active, State.PreActive] })))).toEqual(uids(activeOrPre).reverse());
      expect(uids(await collect(store.scan('tenant-a', { objectGroup: 'odd' })))).toEqual(uids(all.filter((_, i) => i % 2)).reverse());
      const firstThree: string[] = [];
      for await (const o of store.scan('tenant-a', {})) {
        firstThree.push(o.uid);
        if (firstThree.length === 3) break;
      }
      expect(firstThree).toEqual(newestFirst.slice(0, 3));
    });

    it('objects inserted while a scan runs do not disturb it', async () => {
      const store = await open();
      const before: StoredObject[] = [];
      for (let i = 0; i < 300; i++) {
        const o = makeStored();
        before.push(o);
        await store.insert(o);
      }
      const seen: string[] = [];
      for await (const o of store.scan('tenant-a', {})) {
        seen.push(o.uid);
        if (seen.length % 100 === 0) await store.insert(makeStored());
      }
      // Every object that existed when the scan began is seen exactly once, newest first.
      const existed = new Set(uids(before));
      expect(seen.filter((u) => existed.has(u))).toEqual(uids(before).reverse());
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('concurrent inserts: each settles on its own, a duplicate fails alone, order follows the calls', async () => {
      const store = await open();
      const objs = Array.from({ length: 40 }, (_, i) => makeStored({ attributes: [name(`c${i}`)] }));
      const dup = { ...objs[7]! };
      const results = await Promise.allSettled([...objs.slice(0, 20).map((o) => store.insert(o)), store.insert(dup), ...objs.slice(20).map((o) => store.insert(o))]);
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
      expect((results[20] as PromiseRejectedResult).reason).toBeInstanceOf(StoreConflictError);
      expect(uids(await collect(store.scan('tenant-a', {})))).toEqual(uids(objs).reverse());
      expect(uids(await collect(store.scan('tenant-a', { name: 'c39' })))).toEqual([objs[39]!.uid]);
    });

    it('concurrent updates from the same revision: exactly one wins', async () => {
      const store = await open();
      const o = makeStored();
      await store.insert(o);
      const copies = await Promise.all(Array.from({ length: 5 }, () => store.get('tenant-a', o.uid)));
      copies.forEach((c, i) => (c!.attributes = [name(`writer-${i}`)]));
      const results = await Promise.allSettled(copies.map((c) => store.update(c!)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreConflictError);
      const stored = (await store.get('tenant-a', o.uid))!;
      expect(stored.revision).toBe(1);
      expect(stored.attributes).toEqual([name(`writer-${won[0]}`)]);
      expect(uids(await collect(store.scan('tenant-a', { name: `writer-${won[0]}` })))).toEqual([o.uid]);
    });

    it('delete removes the object and its name and group lookups', async () => {
      const store = await open();
      const o = makeStored({ attributes: [name('del'), group('del-g')] });
      await store.insert(o);
      expect(await store.delete('tenant-a', o.uid)).toBe(true);
      expect(await store.delete('tenant-a', o.uid)).toBe(false);
      expect(await store.get('tenant-a', o.uid)).toBeUndefined();
      expect(await collect(store.scan('tenant-a', { name: 'del' }))).toEqual([]);
      expect(await collect(store.scan('tenant-a', { objectGroup: 'del-g' }))).toEqual([]);
      // The uid is free again.
      await store.insert(makeStored({ uid: o.uid }));
    });

    it('after close every call fails and close is idempotent', async () => {
      const store = await open();
      await store.insert(makeStored());
      await store.close();
      await expect(store.get('tenant-a', 'x')).rejects.toThrow();
      await expect(store.insert(makeStored())).rejects.toThrow();
      await expect(collect(store.scan('tenant-a', {}))).rejects.toThrow();
      await store.close();
    });
  });
}

/**
 * Object i of the Locate-plan suites (SQLite and PostgreSQL): every fourth in tenant-b, the
 * rest in tenant-a; key or secret data by parity; the four states in turn; one Name each,
 * ten Object Groups; all AES-256.
 */
export function planObject(i: number): StoredObject {
  return makeStored({
    uid: `p${i}`,
    tenant: i % 4 === 0 ? 'tenant-b' : 'tenant-a',
    objectType: i % 2 ? ObjectType.SymmetricKey : ObjectType.SecretData,
    state: (i % 4) + 1,
    attributes: [
      structure(Tag.Name, [textString(Tag.NameValue, `name-${i}`)]),
      textString(Tag.ObjectGroup, `group-${i % 10}`),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
    ],
  });
}

/** The uids a scan of tenant-a for Active or Compromised symmetric keys must give among planObject(0…count-1), newest first, by brute force. */
export function activeOrCompromisedKeysOfTenantA(count: number): string[] {
  return Array.from({ length: count }, (_, i) => i)
    .filter((i) => i % 4 !== 0 && i % 2 === 1 && [State.Active, State.Compromised].includes(((i % 4) + 1) as 2 | 4))
    .reverse()
    .map((i) => `p${i}`);
}
