// GetAttributes, GetAttributeList, Add/Set/Modify/Delete Attribute through a real store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptographicAlgorithm, ObjectType, ResultReason, State } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, children, dateTime, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { create } from '../../src/operations/create.ts';
import { getAttributes } from '../../src/operations/get-attributes.ts';
import { getAttributeList } from '../../src/operations/get-attribute-list.ts';
import { addAttribute } from '../../src/operations/add-attribute.ts';
import { setAttribute } from '../../src/operations/set-attribute.ts';
import { modifyAttribute } from '../../src/operations/modify-attribute.ts';
import { deleteAttribute } from '../../src/operations/delete-attribute.ts';
import { adjustAttribute, adjustValue } from '../../src/operations/adjust-attribute.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { AdjustmentType, Operation } from '../../src/ttlv/generated/enumerations.ts';
import { requestToInternal, responseFromInternal } from '../../src/kmip/adapters/index.ts';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, 1)]);
const vendor = (n: string, v: string) =>
  structure(Tag.Attribute, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, n), textString(Tag.AttributeValue, v)]);
const NEW = (a: TtlvItem) => structure(Tag.NewAttribute, [a]);
const CUR = (a: TtlvItem) => structure(Tag.CurrentAttribute, [a]);
const REF = (tag: number) => enumeration(Tag.AttributeReference, tag);

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

async function newKey(...attrs: TtlvItem[]): Promise<string> {
  const res = await create.run(t.ctx, P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256), integer(Tag.CryptographicUsageMask, 12), ...attrs]),
  ));
  const uid = child(res, Tag.UniqueIdentifier);
  if (uid?.type !== 'TextString') throw new Error('Create returned no UID');
  return uid.value;
}

async function attrsOf(uid: string, ...refs: number[]): Promise<TtlvItem[]> {
  const res = await getAttributes.run(t.ctx, P(UID(uid), ...refs.map(REF)));
  const a = child(res, Tag.Attributes);
  if (a?.type !== 'Structure') throw new Error('no Attributes');
  return a.value;
}

async function failsWith(h: OperationHandler, payload: Struct, reason: number): Promise<void> {
  const err = await h.run(t.ctx, payload).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KmipError);
  expect((err as KmipError).reason).toBe(reason);
}

describe('GetAttributes', () => {
  it('returns referenced attributes in request order and leaves absent ones out (SKLC-M-3)', async () => {
    const uid = await newKey(name('k1'));
    const attrs = await attrsOf(uid, Tag.State, Tag.UniqueIdentifier, Tag.CryptographicLength, Tag.DeactivationDate);
    expect(attrs).toEqual([enumeration(Tag.State, State.PreActive), UID(uid), integer(Tag.CryptographicLength, 256)]);
  });
  it('returns every attribute without references, and an empty Attributes when none match', async () => {
    const uid = await newKey(name('k2'));
    const all = await attrsOf(uid);
    for (const tag of [Tag.UniqueIdentifier, Tag.ObjectType, Tag.State, Tag.Name, Tag.CryptographicAlgorithm]) {
      expect(all.some((a) => a.tag === tag)).toBe(true);
    }
    expect(await attrsOf(uid, Tag.Comment)).toEqual([]);
  });
  it('answers Object Not Found for a missing object and for another tenant\'s', async () => {
    await failsWith(getAttributes, P(UID('nope')), ResultReason.ObjectNotFound);
    const uid = await newKey();
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc');
    const err = await getAttributes.run(other.ctx, P(UID(uid))).catch((e: unknown) => e);
    expect((err as KmipError).reason).toBe(ResultReason.ObjectNotFound);
  });
  it('uses the ID Placeholder when the Unique Identifier is omitted', async () => {
    const uid = await newKey();
    t.ctx.batch.idPlaceholder = uid;
    const res = await getAttributes.run(t.ctx, P(REF(Tag.State)));
    expect(child(res, Tag.UniqueIdentifier)).toEqual(UID(uid));
    t.ctx.batch.idPlaceholder = undefined;
    await failsWith(getAttributes, P(), ResultReason.MissingData);
  });
  it('gives 1.x clients Item Not Found', async () => {
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 2 } });
    const err = await getAttributes.run(v1.ctx, P(UID('nope'))).catch((e: unknown) => e);
    expect((err as KmipError).reason).toBe(ResultReason.ItemNotFound);
  });
});

describe('GetAttributeList', () => {
  it('lists each attribute once, vendor attributes as structures (TL-M-2)', async () => {
    const uid = await newKey(name('a'), name('b'), vendor('Barcode', 'XX1'));
    const res = await getAttributeList.run(t.ctx, P(UID(uid)));
    const refs = children(res, Tag.AttributeReference);
    expect(refs.filter((r) => r.type === 'Enumeration' && r.value === Tag.Name)).toHaveLength(1);
    expect(refs).toContainEqual(structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, 'Barcode')]));
    expect(refs).toContainEqual(enumeration(Tag.AttributeReference, Tag.State));
  });
});

describe('AddAttribute', () => {
  it('adds instances, updates Last Change Date, and refuses a second single-valued one (BL-M-5)', async () => {
    const uid = await newKey();
    t.ctx.now = () => new Date(Date.now() + 10_000);
    await addAttribute.run(t.ctx, P(UID(uid), NEW(textString(Tag.Description, 'first'))));
    const after = await attrsOf(uid, Tag.Description, Tag.LastChangeDate);
    expect(after[0]).toEqual(textString(Tag.Description, 'first'));
    expect(after[1]).toEqual(dateTime(Tag.LastChangeDate, t.ctx.now()));
    await failsWith(addAttribute, P(UID(uid), NEW(textString(Tag.Description, 'dup'))), ResultReason.AttributeSingleValued);
    await addAttribute.run(t.ctx, P(UID(uid), NEW(textString(Tag.ObjectGroup, 'g1'))));
    await addAttribute.run(t.ctx, P(UID(uid), NEW(textString(Tag.ObjectGroup, 'g2'))));
    expect(await attrsOf(uid, Tag.ObjectGroup)).toHaveLength(2);
  });
  it('refuses read-only attributes and non-unique names (BL-M-7, BL-M-8)', async () => {
    const uid = await newKey(name('taken'));
    await failsWith(addAttribute, P(UID(uid), NEW(enumeration(Tag.State, State.Active))), ResultReason.AttributeReadOnly);
    await failsWith(addAttribute, P(UID(uid), NEW(name('taken'))), ResultReason.NonUniqueNameAttribute);
    await failsWith(addAttribute, P(UID(uid)), ResultReason.InvalidField);
  });
  it('activates at once when the added Activation Date has passed', async () => {
    const uid = await newKey();
    await addAttribute.run(t.ctx, P(UID(uid), NEW(dateTime(Tag.ActivationDate, new Date(Date.now() - 5000)))));
    expect(await attrsOf(uid, Tag.State)).toEqual([enumeration(Tag.State, State.Active)]);
  });
});

describe('1.x Add / Modify Attribute responses repeat the attribute (1.4 s.4.14, s.4.15)', () => {
  const V14 = { major: 1, minor: 4 };
  const v1Attr = (n: string, value: TtlvItem, index?: number) => structure(Tag.Attribute, [
    textString(Tag.AttributeName, n), ...(index === undefined ? [] : [integer(Tag.AttributeIndex, index)]), { ...value, tag: Tag.AttributeValue } as TtlvItem,
  ]);
  it('Add: the 1.x response is Unique Identifier + Attribute with the new index', async () => {
    const uid = await newKey(name('a0'));
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: V14 });
    const req = requestToInternal(V14, Operation.AddAttribute, P(UID(uid), v1Attr('Name', name('a1'))));
    const res = responseFromInternal(V14, Operation.AddAttribute, await addAttribute.run(v1.ctx, req));
    expect(res.value).toEqual([UID(uid), v1Attr('Name', name('a1'), 1)]);
    const first = responseFromInternal(V14, Operation.AddAttribute, await addAttribute.run(v1.ctx,
      requestToInternal(V14, Operation.AddAttribute, P(UID(uid), v1Attr('x-Barcode', textString(Tag.AttributeValue, 'B7'))))));
    // index 0 is not written, as in the OASIS 1.4 vectors (AX-M-1-14)
    expect(first.value).toEqual([UID(uid), v1Attr('x-Barcode', textString(Tag.AttributeValue, 'B7'))]);
  });
  it('Modify: the 1.x response is Unique Identifier + the attribute as now stored', async () => {
    const uid = await newKey(name('b0'), name('b1'));
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: V14 });
    const req = requestToInternal(V14, Operation.ModifyAttribute, P(UID(uid), v1Attr('Name', name('b9'), 1)));
    const res = responseFromInternal(V14, Operation.ModifyAttribute, await modifyAttribute.run(v1.ctx, req));
    expect(res.value).toEqual([UID(uid), v1Attr('Name', name('b9'), 1)]);
  });
  it('2.x: Add and Modify answer the Unique Identifier alone (2.1 s.6.1.2, s.6.1.34)', async () => {
    const uid = await newKey();
    const V21 = { major: 2, minor: 1 };
    const added = responseFromInternal(V21, Operation.AddAttribute, await addAttribute.run(t.ctx, P(UID(uid), NEW(textString(Tag.Comment, 'c')))));
    expect(added.value).toEqual([UID(uid)]);
    const modified = responseFromInternal(V21, Operation.ModifyAttribute, await modifyAttribute.run(t.ctx, P(UID(uid), NEW(textString(Tag.Comment, 'd')))));
    expect(modified.value).toEqual([UID(uid)]);
  });
});

describe('SetAttribute', () => {
  it('creates then replaces a single-valued attribute; refuses multi-valued and read-only', async () => {
    const uid = await newKey();
    await setAttribute.run(t.ctx, P(UID(uid), NEW(textString(Tag.Comment, 'one'))));
    await setAttribute.run(t.ctx, P(UID(uid), NEW(textString(Tag.Comment, 'two'))));
    expect(await attrsOf(uid, Tag.Comment)).toEqual([textString(Tag.Comment, 'two')]);
    await failsWith(setAttribute, P(UID(uid), NEW(name('n'))), ResultReason.MultiValuedAttribute);
    await failsWith(setAttribute, P(UID(uid), NEW(integer(Tag.CryptographicLength, 128))), ResultReason.AttributeReadOnly);
  });
  it('lets Sensitive go only from false to true', async () => {
    const uid = await newKey();
    await setAttribute.run(t.ctx, P(UID(uid), NEW({ tag: Tag.Sensitive, type: 'Boolean', value: true })));
    await failsWith(setAttribute, P(UID(uid), NEW({ tag: Tag.Sensitive, type: 'Boolean', value: false })), ResultReason.AttributeReadOnly);
  });
});

describe('ModifyAttribute', () => {
  it('modifies by Current Attribute, first instance by default, vendor attributes by name (TL-M-2)', async () => {
    const uid = await newKey(name('m1'), name('m2'), vendor('Count', '0'));
    await modifyAttribute.run(t.ctx, P(UID(uid), CUR(name('m2')), NEW(name('m3'))));
    expect(await attrsOf(uid, Tag.Name)).toEqual([name('m1'), name('m3')]);
    await modifyAttribute.run(t.ctx, P(UID(uid), NEW(name('m0'))));
    expect(await attrsOf(uid, Tag.Name)).toEqual([name('m0'), name('m3')]);
    await modifyAttribute.run(t.ctx, P(UID(uid), NEW(vendor('Count', '1'))));
    expect((await attrsOf(uid)).filter((a) => a.tag === Tag.Attribute)).toEqual([vendor('Count', '1')]);
  });
  it('answers the spec reasons', async () => {
    const uid = await newKey(name('r1'));
    await failsWith(modifyAttribute, P(UID(uid), NEW(enumeration(Tag.State, State.Compromised))), ResultReason.AttributeReadOnly);
    await failsWith(modifyAttribute, P(UID(uid), NEW(textString(Tag.Comment, 'x'))), ResultReason.AttributeNotFound);
    await failsWith(modifyAttribute, P(UID(uid), CUR(name('zz')), NEW(name('r2'))), ResultReason.AttributeInstanceNotFound);
    await failsWith(modifyAttribute, P(UID(uid), CUR(textString(Tag.Comment, 'x')), NEW(name('r2'))), ResultReason.InvalidField);
  });
  it('refuses to move the Activation Date of an Active key (SKLC-M-3)', async () => {
    const uid = await newKey(dateTime(Tag.ActivationDate, new Date(Date.now() - 1000)));
    await failsWith(modifyAttribute, P(UID(uid), NEW(dateTime(Tag.ActivationDate, new Date()))), ResultReason.WrongKeyLifecycleState);
  });
  it('uses a 1.x Attribute Index kept by the adapter', async () => {
    const uid = await newKey(name('i0'), name('i1'));
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    const res = await modifyAttribute.run(v1.ctx, P(UID(uid), structure(Tag.NewAttribute, [name('i9'), integer(Tag.AttributeIndex, 1)])));
    expect(child(res, Tag.AttributeIndex)).toEqual(integer(Tag.AttributeIndex, 1));
    expect(await attrsOf(uid, Tag.Name)).toEqual([name('i0'), name('i9')]);
  });
});

describe('DeleteAttribute', () => {
  it('deletes one instance by value or all by reference (2.x)', async () => {
    const uid = await newKey(name('d1'), name('d2'), name('d3'));
    await deleteAttribute.run(t.ctx, P(UID(uid), CUR(name('d2'))));
    expect(await attrsOf(uid, Tag.Name)).toEqual([name('d1'), name('d3')]);
    await deleteAttribute.run(t.ctx, P(UID(uid), REF(Tag.Name)));
    expect(await attrsOf(uid, Tag.Name)).toEqual([]);
    await failsWith(deleteAttribute, P(UID(uid), REF(Tag.Name)), ResultReason.AttributeNotFound);
  });
  it('refuses undeletable attributes and an empty request', async () => {
    const uid = await newKey();
    await failsWith(deleteAttribute, P(UID(uid), REF(Tag.CryptographicAlgorithm)), ResultReason.AttributeReadOnly);
    await failsWith(deleteAttribute, P(UID(uid), REF(Tag.State)), ResultReason.AttributeReadOnly);
    await failsWith(deleteAttribute, P(UID(uid)), ResultReason.InvalidField);
  });
  it('deletes vendor attributes by reference structure', async () => {
    const uid = await newKey(vendor('Barcode', 'B1'));
    await deleteAttribute.run(t.ctx, P(UID(uid), structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, 'Barcode')])));
    expect((await attrsOf(uid)).some((a) => a.tag === Tag.Attribute)).toBe(false);
  });
  it('1.x: only index 0 without an index, and PermissionDenied for read-only', async () => {
    const uid = await newKey(name('e1'), name('e2'));
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    const res = await deleteAttribute.run(v1.ctx, P(UID(uid), textString(Tag.AttributeName, 'Name')));
    expect(child(res, Tag.CurrentAttribute)).toEqual(CUR(name('e1')));
    expect(await attrsOf(uid, Tag.Name)).toEqual([name('e2')]);
    const err = await deleteAttribute.run(v1.ctx, P(UID(uid), textString(Tag.AttributeName, 'State'))).catch((e: unknown) => e);
    expect((err as KmipError).reason).toBe(ResultReason.PermissionDenied);
  });
});

describe('AdjustAttribute (2.1 s.6.1.3)', () => {
  const ADJ = (type: number, amount?: TtlvItem) => [enumeration(Tag.AdjustmentType, type), ...(amount ? [amount] : [])];
  const vendorInt = (n: string, v: number) =>
    structure(Tag.Attribute, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, n), integer(Tag.AttributeValue, v)]);
  const vref = (n: string) => structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, n)]);
  it('moves a date by an interval and activates when it falls in the past', async () => {
    const later = BigInt(Math.floor(Date.now() / 1000)) + 3600n;
    const uid = await newKey(dateTime(Tag.ActivationDate, later));
    const res = await adjustAttribute.run(t.ctx, P(UID(uid), REF(Tag.ActivationDate), ...ADJ(AdjustmentType.Decrement, { tag: Tag.AdjustmentValue, type: 'Interval', value: 7200 })));
    expect(res.value).toEqual([UID(uid)]);
    expect(await attrsOf(uid, Tag.ActivationDate, Tag.State)).toEqual([dateTime(Tag.ActivationDate, later - 7200n), enumeration(Tag.State, State.Active)]);
  });
  it('increments and negates vendor attributes, decrements intervals', async () => {
    const uid = await newKey(vendorInt('Count', 5), { tag: Tag.ProtectionPeriod, type: 'Interval', value: 100 });
    await adjustAttribute.run(t.ctx, P(UID(uid), vref('Count'), ...ADJ(AdjustmentType.Increment, integer(Tag.AdjustmentValue, 3))));
    await adjustAttribute.run(t.ctx, P(UID(uid), vref('Count'), ...ADJ(AdjustmentType.Negate)));
    expect((await attrsOf(uid)).filter((a) => a.tag === Tag.Attribute)).toEqual([vendorInt('Count', -8)]);
    await adjustAttribute.run(t.ctx, P(UID(uid), REF(Tag.ProtectionPeriod), ...ADJ(AdjustmentType.Decrement, integer(Tag.AdjustmentValue, 40))));
    expect(await attrsOf(uid, Tag.ProtectionPeriod)).toEqual([{ tag: Tag.ProtectionPeriod, type: 'Interval', value: 60 }]);
  });
  it('answers the reasons of Modify Attribute and refuses what cannot be adjusted', async () => {
    const uid = await newKey(textString(Tag.Comment, 'c'), { tag: Tag.ProtectionPeriod, type: 'Interval', value: 10 });
    // read-only (Cryptographic Length), missing, wrong type, out of range, bad requests
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.CryptographicLength), ...ADJ(AdjustmentType.Increment, integer(Tag.AdjustmentValue, 1))), ResultReason.AttributeReadOnly);
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.RotateInterval), ...ADJ(AdjustmentType.Increment, integer(Tag.AdjustmentValue, 1))), ResultReason.AttributeNotFound);
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.Comment), ...ADJ(AdjustmentType.Increment, integer(Tag.AdjustmentValue, 1))), ResultReason.InvalidDataType);
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.ProtectionPeriod), ...ADJ(AdjustmentType.Decrement, integer(Tag.AdjustmentValue, 11))), ResultReason.NumericRange);
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.ProtectionPeriod), ...ADJ(AdjustmentType.Negate)), ResultReason.InvalidDataType);
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.ProtectionPeriod), ...ADJ(AdjustmentType.Increment)), ResultReason.InvalidField);
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.ProtectionPeriod), ...ADJ(AdjustmentType.Increment, textString(Tag.AdjustmentValue, '1'))), ResultReason.InvalidField);
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.ProtectionPeriod)), ResultReason.InvalidField);
    await failsWith(adjustAttribute, P(UID(uid), ...ADJ(AdjustmentType.Negate)), ResultReason.InvalidField);
    // the value is untouched by the failures
    expect(await attrsOf(uid, Tag.ProtectionPeriod)).toEqual([{ tag: Tag.ProtectionPeriod, type: 'Interval', value: 10 }]);
  });
  it('keeps the lifecycle rules: no moving the Activation Date of an Active key, Sensitive only one way', async () => {
    const uid = await newKey(dateTime(Tag.ActivationDate, new Date(Date.now() - 1000)));
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.ActivationDate), ...ADJ(AdjustmentType.Increment, integer(Tag.AdjustmentValue, 60))), ResultReason.WrongKeyLifecycleState);
    await setAttribute.run(t.ctx, P(UID(uid), NEW({ tag: Tag.Sensitive, type: 'Boolean', value: true })));
    await failsWith(adjustAttribute, P(UID(uid), REF(Tag.Sensitive), ...ADJ(AdjustmentType.Negate)), ResultReason.AttributeReadOnly);
  });
  it('is a 2.x operation', async () => {
    const uid = await newKey();
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    const err = await adjustAttribute.run(v1.ctx, P(UID(uid), REF(Tag.ProtectionPeriod), ...ADJ(AdjustmentType.Negate))).catch((e: unknown) => e);
    expect((err as KmipError).reason).toBe(ResultReason.OperationNotSupported);
  });
  it('adjustValue stays inside each type', () => {
    expect(adjustValue(integer(Tag.AttributeValue, 2 ** 31 - 2), AdjustmentType.Increment, integer(Tag.AdjustmentValue, 1))).toEqual(integer(Tag.AttributeValue, 2 ** 31 - 1));
    expect(() => adjustValue(integer(Tag.AttributeValue, 2 ** 31 - 1), AdjustmentType.Increment, integer(Tag.AdjustmentValue, 1))).toThrow(KmipError);
    expect(() => adjustValue(integer(Tag.AttributeValue, -(2 ** 31)), AdjustmentType.Negate, undefined)).toThrow(KmipError);
    expect(adjustValue({ tag: 1, type: 'LongInteger', value: 5n }, AdjustmentType.Decrement, { tag: 2, type: 'LongInteger', value: 7n })).toEqual({ tag: 1, type: 'LongInteger', value: -2n });
    expect(() => adjustValue(integer(Tag.AttributeValue, 1), 99, integer(Tag.AdjustmentValue, 1))).toThrow(KmipError);
  });
});
