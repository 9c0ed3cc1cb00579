import { afterEach, describe, expect, it } from 'vitest';
import { createObjectRepository } from '../../src/hierarchy/repository.ts';
import { KeyProtectionError } from '../../src/hierarchy/interim.ts';
import { StoreConflictError } from '../../src/store/types.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { byteString, enumeration, structure, textString } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { KeyFormatType, ObjectType, State } from '../../src/ttlv/generated/enumerations.ts';
import type { ManagedObject } from '../../src/kmip/object.ts';
import type { ObjectRepository } from '../../src/operations/types.ts';
import type { ScopedObjectRepository } from '../../src/hierarchy/repository.ts';
import { makeTestContext, type TestContext } from '../helpers/context.ts';

const keyValue = (fill: number) =>
  structure(Tag.SymmetricKey, [
    structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.alloc(32, fill))])]),
  ]);
const named = (n: string) => structure(Tag.Name, [textString(Tag.NameValue, n)]);

const newObject = (uid: string, over: Partial<ManagedObject> = {}) => ({
  uid,
  objectType: ObjectType.SymmetricKey,
  state: State.PreActive,
  attributes: [named(uid)],
  value: keyValue(0x11),
  ...over,
});

// Compile-time: hierarchy's declaration and operations' interface are the same shape, both ways.
export const _sameShape: [(r: ScopedObjectRepository) => ObjectRepository, (r: ObjectRepository) => ScopedObjectRepository] = [(r) => r, (r) => r];

describe('tenant-scoped object repository', () => {
  let t: TestContext | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('create assigns tenant, service and revision 0 and stores the value only wrapped', async () => {
    t = await makeTestContext({ tenant: 'acme', service: 'billing' });
    const obj = await t.repo.create(newObject('k1'));
    expect(obj).toMatchObject({ uid: 'k1', tenant: 'acme', service: 'billing', revision: 0 });
    const stored = await t.store.get('acme', 'k1');
    expect(stored?.wrappedValue).toBeDefined();
    expect(stored!.wrappedValue!.includes(Buffer.alloc(32, 0x11))).toBe(false);
    expect(stored!.wrappedValue!.equals(encode(keyValue(0x11)))).toBe(false);
    expect(stored).not.toHaveProperty('value');
  });

  it('load returns the value in the clear, as created', async () => {
    t = await makeTestContext();
    await t.repo.create(newObject('k1'));
    const loaded = await t.repo.load('k1');
    expect(loaded?.value).toEqual(keyValue(0x11));
    expect(loaded?.attributes).toEqual([named('k1')]);
    expect(loaded).not.toHaveProperty('wrappedValue');
  });

  it('an object without a value stays without one', async () => {
    t = await makeTestContext();
    const { value: _v, ...noValue } = newObject('nv');
    await t.repo.create(noValue);
    expect((await t.store.get('test-tenant', 'nv'))?.wrappedValue).toBeUndefined();
    expect((await t.repo.load('nv'))?.value).toBeUndefined();
  });

  it('load of a missing uid or of another tenant’s object is undefined', async () => {
    t = await makeTestContext({ tenant: 'acme' });
    const other = createObjectRepository(t.store, t.protector, { tenant: 'globex', service: 'svc' });
    await other.create(newObject('theirs'));
    expect(await t.repo.load('theirs')).toBeUndefined();
    expect(await t.repo.load('nobody')).toBeUndefined();
    expect(await other.load('theirs')).toBeDefined();
  });

  it('another service of the tenant sees the object only when its access allows it (a grant), and opens it with the owner’s binding', async () => {
    t = await makeTestContext({ tenant: 'acme', service: 'billing' });
    await t.repo.create(newObject('shared'));
    // Deny by default (issue 7): without an access decision only the owning service sees it.
    const sibling = createObjectRepository(t.store, t.protector, { tenant: 'acme', service: 'payroll' });
    expect(await sibling.load('shared')).toBeUndefined();
    const scanned: string[] = [];
    for await (const o of sibling.scan({})) scanned.push(o.uid);
    expect(scanned).toEqual([]);
    const granted = createObjectRepository(t.store, t.protector, {
      tenant: 'acme', service: 'payroll',
      access: { canReach: (o) => o.service === 'billing' || o.service === 'payroll', assertCreate: () => undefined },
    });
    const seen = await granted.load('shared');
    expect(seen?.service).toBe('billing');
    expect(seen?.value).toEqual(keyValue(0x11));
  });

  it('save re-wraps the value, bumps the revision and refuses a stale copy', async () => {
    t = await makeTestContext();
    await t.repo.create(newObject('k1'));
    const a = (await t.repo.load('k1'))!;
    const b = (await t.repo.load('k1'))!;
    a.state = State.Active;
    a.value = keyValue(0x22);
    await t.repo.save(a);
    expect(a.revision).toBe(1);
    const reloaded = (await t.repo.load('k1'))!;
    expect(reloaded.state).toBe(State.Active);
    expect(reloaded.value).toEqual(keyValue(0x22));
    b.state = State.Compromised;
    await expect(t.repo.save(b)).rejects.toBeInstanceOf(StoreConflictError);
  });

  it('save without a value erases the stored material (Destroy)', async () => {
    t = await makeTestContext();
    await t.repo.create(newObject('k1'));
    const o = (await t.repo.load('k1'))!;
    delete o.value;
    o.state = State.Destroyed;
    await t.repo.save(o);
    expect((await t.store.get('test-tenant', 'k1'))?.wrappedValue).toBeUndefined();
    expect((await t.repo.load('k1'))?.value).toBeUndefined();
  });

  it('save of another tenant’s object is refused', async () => {
    t = await makeTestContext({ tenant: 'acme' });
    const other = createObjectRepository(t.store, t.protector, { tenant: 'globex', service: 'svc' });
    const theirs = await other.create(newObject('theirs'));
    await expect(t.repo.save({ ...theirs, state: State.Compromised })).rejects.toThrow(/another tenant/);
    expect((await other.load('theirs'))?.state).toBe(State.PreActive);
  });

  it('scan yields metadata only, newest first, of this tenant only', async () => {
    t = await makeTestContext({ tenant: 'acme' });
    const other = createObjectRepository(t.store, t.protector, { tenant: 'globex', service: 'svc' });
    await t.repo.create(newObject('a1'));
    await other.create(newObject('g1', { attributes: [named('a1')] }));
    await t.repo.create(newObject('a2', { objectType: ObjectType.SecretData }));
    const all = [];
    for await (const o of t.repo.scan({})) all.push(o);
    expect(all.map((o) => o.uid)).toEqual(['a2', 'a1']);
    for (const o of all) {
      expect(o).not.toHaveProperty('value');
      expect(o).not.toHaveProperty('wrappedValue');
    }
    const byName = [];
    for await (const o of t.repo.scan({ name: 'a1' })) byName.push(o.uid);
    expect(byName).toEqual(['a1']);
  });

  it('a wrapped value copied onto another object does not open there', async () => {
    t = await makeTestContext();
    await t.repo.create(newObject('src', { value: keyValue(0x33) }));
    await t.repo.create(newObject('dst', { value: keyValue(0x44) }));
    const src = (await t.store.get('test-tenant', 'src'))!;
    const dst = (await t.store.get('test-tenant', 'dst'))!;
    dst.wrappedValue = src.wrappedValue!;
    await t.store.update(dst);
    await expect(t.repo.load('dst')).rejects.toBeInstanceOf(KeyProtectionError);
  });
});
