// Locate (s.6.1.28) over a real store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptographicAlgorithm, ObjectGroupMember, ObjectType, ResultReason, RevocationReasonCode, State, StorageStatusMask } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, children, dateTime, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { create } from '../../src/operations/create.ts';
import { locate } from '../../src/operations/locate.ts';
import { activate } from '../../src/operations/activate.ts';
import { revoke } from '../../src/operations/revoke.ts';
import { destroy } from '../../src/operations/destroy.ts';
import { setAttr } from '../../src/policy/attributes.ts';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const A = (...items: TtlvItem[]) => structure(Tag.Attributes, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, 1)]);

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

async function newKey(len: number, ...attrs: TtlvItem[]): Promise<string> {
  const res = await create.run(t.ctx, P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, len), ...attrs]),
  ));
  return (child(res, Tag.UniqueIdentifier) as { value: string }).value;
}

async function found(payload: Struct, ctx = t.ctx): Promise<string[]> {
  const res = await locate.run(ctx, payload);
  return children(res, Tag.UniqueIdentifier).map((c) => c.value as string);
}

describe('Locate', () => {
  it('matches every given attribute, newest first, and sets the ID Placeholder only for one match', async () => {
    const k1 = await newKey(128, name('L1'), integer(Tag.CryptographicUsageMask, 4 | 8), textString(Tag.ObjectGroup, 'g'));
    const k2 = await newKey(256, name('L2'), integer(Tag.CryptographicUsageMask, 4), textString(Tag.ObjectGroup, 'g'));
    expect(await found(P(A()))).toEqual([k2, k1]);
    expect(t.ctx.batch.idPlaceholder).toBeUndefined();
    expect(await found(P(A(name('L1'))))).toEqual([k1]);
    expect(t.ctx.batch.idPlaceholder).toBe(k1);
    expect(await found(P(A(integer(Tag.CryptographicLength, 256), enumeration(Tag.ObjectType, ObjectType.SymmetricKey))))).toEqual([k2]);
    expect(await found(P(A(textString(Tag.ObjectGroup, 'g'))))).toEqual([k2, k1]);
    // usage mask: all requested bits
    expect(await found(P(A(integer(Tag.CryptographicUsageMask, 4))))).toEqual([k2, k1]);
    expect(await found(P(A(integer(Tag.CryptographicUsageMask, 8))))).toEqual([k1]);
    expect(await found(P(A(name('nope'))))).toEqual([]);
    expect(await found(P(A(enumeration(Tag.ObjectType, ObjectType.SecretData))))).toEqual([]);
  });
  it('pages with Offset/Maximum Items and reports Located Items', async () => {
    const ks = [await newKey(128), await newKey(128), await newKey(128)].reverse();
    const res = await locate.run(t.ctx, P(integer(Tag.MaximumItems, 1), integer(Tag.OffsetItems, 1), A()));
    expect(child(res, Tag.LocatedItems)).toEqual(integer(Tag.LocatedItems, 3));
    expect(children(res, Tag.UniqueIdentifier).map((c) => c.value)).toEqual([ks[1]]);
    expect(child(await locate.run(t.ctx, P(A())), Tag.LocatedItems)).toBeUndefined();
    await expect(locate.run(t.ctx, P(integer(Tag.MaximumItems, -1), A()))).rejects.toBeInstanceOf(KmipError);
  });
  it('treats a date given twice as an inclusive range (BL-M-4)', async () => {
    const k = await newKey(128, dateTime(Tag.ProtectStopDate, 1000n));
    expect(await found(P(A(dateTime(Tag.ProtectStopDate, 900n), dateTime(Tag.ProtectStopDate, 1000n))))).toEqual([k]);
    expect(await found(P(A(dateTime(Tag.ProtectStopDate, 1000n))))).toEqual([k]);
    expect(await found(P(A(dateTime(Tag.ProtectStopDate, 1001n), dateTime(Tag.ProtectStopDate, 2000n))))).toEqual([]);
  });
  it('filters by State, including states reached by dates', async () => {
    const pre = await newKey(128);
    const act = await newKey(128);
    await activate.run(t.ctx, P(UID(act)));
    const dated = await newKey(128, dateTime(Tag.ActivationDate, new Date(Date.now() - 60_000)));
    expect(await found(P(A(enumeration(Tag.State, State.Active))))).toEqual([dated, act]);
    expect(await found(P(A(enumeration(Tag.State, State.PreActive))))).toEqual([pre]);
  });
  it('leaves destroyed objects out unless the Storage Status Mask asks for them (2.x)', async () => {
    const gone = await newKey(128);
    const kept = await newKey(128);
    await destroy.run(t.ctx, P(UID(gone)));
    expect(await found(P(A()))).toEqual([kept]);
    expect(await found(P(integer(Tag.StorageStatusMask, StorageStatusMask.DestroyedStorage), A()))).toEqual([gone]);
    expect(await found(P(integer(Tag.StorageStatusMask, StorageStatusMask.DestroyedStorage | StorageStatusMask.OnLineStorage), A()))).toEqual([kept, gone]);
    expect(await found(P(integer(Tag.StorageStatusMask, StorageStatusMask.ArchivalStorage), A()))).toEqual([]);
  });
  it('matches links, application information and vendor attributes (TL-M-2)', async () => {
    const asi = structure(Tag.ApplicationSpecificInformation, [textString(Tag.ApplicationNamespace, 'LIBRARY-LTO'), textString(Tag.ApplicationData, 'ABC')]);
    const vend = structure(Tag.Attribute, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, 'Barcode'), textString(Tag.AttributeValue, 'XX1')]);
    const k = await newKey(256, asi, vend);
    await newKey(256);
    expect(await found(P(A(asi)))).toEqual([k]);
    expect(await found(P(A(vend)))).toEqual([k]);
    const otherValue = structure(Tag.Attribute, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, 'Barcode'), textString(Tag.AttributeValue, 'no')]);
    expect(await found(P(A(otherValue)))).toEqual([]);
  });
  it('Group Member Fresh returns only fresh objects', async () => {
    const setFresh = async (uid: string, value: boolean) => {
      const obj = (await t.repo.load(uid))!;
      setAttr(obj.attributes, { tag: Tag.Fresh, type: 'Boolean', value });
      await t.repo.save(obj);
    };
    const freshKey = await newKey(128, textString(Tag.ObjectGroup, 'fg'));
    const usedKey = await newKey(128, textString(Tag.ObjectGroup, 'fg'));
    await setFresh(freshKey, true);
    await setFresh(usedKey, false);
    const group = A(textString(Tag.ObjectGroup, 'fg'));
    expect(await found(P(enumeration(Tag.ObjectGroupMember, ObjectGroupMember.GroupMemberFresh), group))).toEqual([freshKey]);
    expect(await found(P(enumeration(Tag.ObjectGroupMember, ObjectGroupMember.GroupMemberDefault), group))).toEqual([usedKey, freshKey]);
  });
  it('sees nothing of another tenant, and needs Attributes in 2.x', async () => {
    await newKey(128, name('mine'));
    const other = await makeContextFor(t.store, t.protector, 'other', 'svc');
    expect(await found(P(A(name('mine'))), other.ctx)).toEqual([]);
    expect(await found(P(A()), other.ctx)).toEqual([]);
    const err = await locate.run(t.ctx, P()).catch((e: unknown) => e);
    expect((err as KmipError).reason).toBe(ResultReason.InvalidField);
    const bad = await locate.run(t.ctx, P(A(integer(Tag.BatchCount, 1)))).catch((e: unknown) => e);
    expect((bad as KmipError).reason).toBe(ResultReason.InvalidAttribute);
  });
  it('finds compromised keys by State', async () => {
    const k = await newKey(128);
    await revoke.run(t.ctx, P(UID(k), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, RevocationReasonCode.KeyCompromise)])));
    expect(await found(P(A(enumeration(Tag.State, State.Compromised))))).toEqual([k]);
  });
});
