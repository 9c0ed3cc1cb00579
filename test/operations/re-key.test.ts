import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { create } from '../../src/operations/create.ts';
import { createKeyPair } from '../../src/operations/create-key-pair.ts';
import { reKey } from '../../src/operations/re-key.ts';
import { reKeyKeyPair } from '../../src/operations/re-key-key-pair.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, dateTime, enumeration, integer, interval, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm as Alg, LinkType, NameType, ObjectType, ResultReason, State, UniqueIdentifier,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import type { ManagedObject } from '../../src/kmip/object.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, NameType.UninterpretedTextString)]);
const reasonOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try { await p; } catch (e) { if (e instanceof KmipError) return e.reason; throw e; }
  return undefined;
};
const attr = (o: { attributes: TtlvItem[] }, tag: number) => o.attributes.find((a) => a.tag === tag);
const text = (r: Struct, tag: number) => (child(r, tag) as { value: string }).value;
const links = (o: ManagedObject) => o.attributes.filter((a) => a.tag === Tag.Link).map((l) => ({
  type: (child(l as Struct, Tag.LinkType) as { value: number }).value,
  uid: (child(l as Struct, Tag.LinkedObjectIdentifier) as { value: string }).value,
}));
const materialOf = (o: ManagedObject): Buffer =>
  (child(child(child(o.value as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;

describe('ReKey', () => {
  it('replaces a key: new material, same algorithm, name moved, links both ways, dates shifted by Offset', async () => {
    const act = new Date(Date.now() - 1000_000);
    const deact = new Date(act.getTime() + 86400_000);
    const oldUid = text(await create.run(t.ctx, structure(Tag.RequestPayload, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 128), name('disk-key'),
      dateTime(Tag.ActivationDate, act), dateTime(Tag.DeactivationDate, deact),
    ])])), Tag.UniqueIdentifier);
    const r = await reKey.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, oldUid), interval(Tag.Offset, 3600)]));
    const newUid = text(r, Tag.UniqueIdentifier);
    expect(newUid).not.toBe(oldUid);
    expect(t.ctx.batch.idPlaceholder).toBe(newUid);
    expect(t.ctx.batch.lastByOperation.get(UniqueIdentifier.ReKey)).toEqual([newUid]);

    const oldObj = (await t.repo.load(oldUid))!;
    const newObj = (await t.repo.load(newUid))!;
    expect(attr(newObj, Tag.CryptographicLength)).toMatchObject({ value: 128 });
    expect(materialOf(newObj).equals(materialOf(oldObj))).toBe(false);
    expect(attr(oldObj, Tag.Name)).toBeUndefined();
    expect(attr(newObj, Tag.Name)).toBeDefined();
    expect(links(oldObj)).toEqual([{ type: LinkType.ReplacementObjectLink, uid: newUid }]);
    expect(links(newObj)).toEqual([{ type: LinkType.ReplacedObjectLink, uid: oldUid }]);
    const initial = (attr(newObj, Tag.InitialDate) as { value: bigint }).value;
    const newAct = (attr(newObj, Tag.ActivationDate) as { value: bigint }).value;
    const newDeact = (attr(newObj, Tag.DeactivationDate) as { value: bigint }).value;
    expect(newAct - initial).toBe(3600n);
    expect(newDeact - newAct).toBe(86400n); // the old activation→deactivation distance
    expect(newObj.state).toBe(State.PreActive); // activation is an hour ahead
    expect(oldObj.state).toBe(State.Active);
  });

  it('uses the ID Placeholder and refuses key pairs, unknown and destroyed keys', async () => {
    text(await create.run(t.ctx, structure(Tag.RequestPayload, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [])])), Tag.UniqueIdentifier);
    const r = await reKey.run(t.ctx, structure(Tag.RequestPayload, []));
    expect(text(r, Tag.UniqueIdentifier)).toBe(t.ctx.batch.idPlaceholder);
    expect(await reasonOf(reKey.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, 'nope')])))).toBe(ResultReason.ObjectNotFound);
    const pair = await createKeyPair.run(t.ctx, structure(Tag.RequestPayload, [structure(Tag.CommonAttributes, [enumeration(Tag.CryptographicAlgorithm, Alg.EC)])]));
    expect(await reasonOf(reKey.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, text(pair, Tag.PrivateKeyUniqueIdentifier))])))).toBe(ResultReason.InvalidObjectType);
    const o = (await t.repo.load(text(r, Tag.UniqueIdentifier)))!;
    o.state = State.Destroyed;
    delete o.value;
    await t.repo.save(o);
    expect(await reasonOf(reKey.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, o.uid)])))).toBe(ResultReason.ObjectDestroyed);
  });
});

describe('ReKeyKeyPair', () => {
  it('replaces both halves with a linked pair of the same kind', async () => {
    const pair = await createKeyPair.run(t.ctx, structure(Tag.RequestPayload, [
      structure(Tag.CommonAttributes, [enumeration(Tag.CryptographicAlgorithm, Alg.EC), integer(Tag.CryptographicLength, 384)]),
      structure(Tag.PrivateKeyAttributes, [name('sig-priv')]), structure(Tag.PublicKeyAttributes, [name('sig-pub')]),
    ]));
    const oldPriv = text(pair, Tag.PrivateKeyUniqueIdentifier);
    const oldPub = text(pair, Tag.PublicKeyUniqueIdentifier);
    const r = await reKeyKeyPair.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.PrivateKeyUniqueIdentifier, oldPriv)]));
    const newPriv = (await t.repo.load(text(r, Tag.PrivateKeyUniqueIdentifier)))!;
    const newPub = (await t.repo.load(text(r, Tag.PublicKeyUniqueIdentifier)))!;
    expect(t.ctx.batch.idPlaceholder).toBe(newPriv.uid);
    expect(attr(newPriv, Tag.CryptographicLength)).toMatchObject({ value: 384 });
    expect(links(newPriv)).toEqual(expect.arrayContaining([{ type: LinkType.PublicKeyLink, uid: newPub.uid }, { type: LinkType.ReplacedObjectLink, uid: oldPriv }]));
    expect(links(newPub)).toEqual(expect.arrayContaining([{ type: LinkType.PrivateKeyLink, uid: newPriv.uid }, { type: LinkType.ReplacedObjectLink, uid: oldPub }]));
    expect(links((await t.repo.load(oldPriv))!)).toContainEqual({ type: LinkType.ReplacementObjectLink, uid: newPriv.uid });
    expect(links((await t.repo.load(oldPub))!)).toContainEqual({ type: LinkType.ReplacementObjectLink, uid: newPub.uid });
    expect((child(attr(newPub, Tag.Name) as Struct, Tag.NameValue) as { value: string }).value).toBe('sig-pub');
    expect(attr((await t.repo.load(oldPub))!, Tag.Name)).toBeUndefined();
    // the public key is not a valid starting point
    expect(await reasonOf(reKeyKeyPair.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.PrivateKeyUniqueIdentifier, newPub.uid)])))).toBe(ResultReason.InvalidObjectType);
  });
});
