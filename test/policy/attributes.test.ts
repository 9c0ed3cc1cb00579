import { describe, expect, it } from 'vitest';
import { ObjectType, ResultReason, State } from '../../src/ttlv/generated/enumerations.ts';
import { Tag, TAG_INFO } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { dateTime, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import {
  ATTRIBUTE_RULES, attributeIn, checkClientAttributes, getAttrs, itemsEqual, parseAttributeReference, removeAttr, setAttr,
  withObjectMeta,
} from '../../src/policy/attributes.ts';

const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, 1)]);
const vendor = (v: string, n: string, value: TtlvItem['value'] = 'x') =>
  structure(Tag.Attribute, [textString(Tag.VendorIdentification, v), textString(Tag.AttributeName, n), { tag: Tag.AttributeValue, type: 'TextString', value } as TtlvItem]);

function reasonOf(f: () => void): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
  return undefined;
}

describe('attribute table', () => {
  it('takes tag numbers and since/removed from TAG_INFO', () => {
    for (const rule of ATTRIBUTE_RULES.values()) {
      const info = TAG_INFO.get(rule.tag)!;
      expect(info.name).toBe(rule.name);
      expect(rule.since).toBe(info.since);
      expect(rule.removed).toBe(info.removed);
    }
    expect(ATTRIBUTE_RULES.get(Tag.OperationPolicyName)?.removed).toBe('2.0');
    expect(ATTRIBUTE_RULES.get(Tag.CertificateSubjectCN)?.setBy).toBe('server');
  });
  it('knows single and multi-instance attributes', () => {
    expect(ATTRIBUTE_RULES.get(Tag.Name)?.multi).toBe(true);
    expect(ATTRIBUTE_RULES.get(Tag.Link)?.multi).toBe(true);
    expect(ATTRIBUTE_RULES.get(Tag.ObjectGroup)?.multi).toBe(true);
    expect(ATTRIBUTE_RULES.get(Tag.Description)?.multi).toBe(false);
    expect(ATTRIBUTE_RULES.get(Tag.State)?.multi).toBe(false);
  });
});

describe('checkClientAttributes', () => {
  it('refuses server-set attributes everywhere with Attribute Read Only', () => {
    for (const when of ['create', 'register', 'add', 'set', 'modify', 'delete'] as const) {
      expect(reasonOf(() => checkClientAttributes([enumeration(Tag.State, State.Compromised)], when))).toBe(ResultReason.AttributeReadOnly);
      expect(reasonOf(() => checkClientAttributes([integer(Tag.CertificateLength, 12)], when))).toBe(ResultReason.AttributeReadOnly);
    }
  });
  it('lets creation attributes in at Create but not later', () => {
    const alg = enumeration(Tag.CryptographicAlgorithm, 3);
    expect(reasonOf(() => checkClientAttributes([alg], 'create'))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([alg], 'add'))).toBe(ResultReason.AttributeReadOnly);
    expect(reasonOf(() => checkClientAttributes([alg], 'modify'))).toBe(ResultReason.AttributeReadOnly);
  });
  it('refuses a repeated single-instance attribute at creation, allows repeated names', () => {
    const d = textString(Tag.Description, 'a');
    expect(reasonOf(() => checkClientAttributes([d, d], 'create'))).toBe(ResultReason.AttributeSingleValued);
    expect(reasonOf(() => checkClientAttributes([name('a'), name('b')], 'create'))).toBeUndefined();
  });
  it('refuses Set on a multi-instance attribute', () => {
    expect(reasonOf(() => checkClientAttributes([name('a')], 'set'))).toBe(ResultReason.MultiValuedAttribute);
    expect(reasonOf(() => checkClientAttributes([textString(Tag.Comment, 'c')], 'set'))).toBeUndefined();
  });
  it('applies the state limits of the date attributes', () => {
    const act = dateTime(Tag.ActivationDate, 10n);
    expect(reasonOf(() => checkClientAttributes([act], 'modify', { state: State.PreActive }))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([act], 'modify', { state: State.Active }))).toBe(ResultReason.WrongKeyLifecycleState);
    const deact = dateTime(Tag.DeactivationDate, 10n);
    expect(reasonOf(() => checkClientAttributes([deact], 'modify', { state: State.Active }))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([deact], 'modify', { state: State.Deactivated }))).toBe(ResultReason.WrongKeyLifecycleState);
  });
  it('refuses non-attributes, wrong types, and attributes of other object types', () => {
    expect(reasonOf(() => checkClientAttributes([enumeration(Tag.KeyFormatType, 1)], 'create'))).toBe(ResultReason.AttributeReadOnly);
    expect(reasonOf(() => checkClientAttributes([integer(Tag.BatchCount, 1)], 'add'))).toBe(ResultReason.InvalidAttribute);
    expect(reasonOf(() => checkClientAttributes([integer(Tag.Description, 1)], 'add'))).toBe(ResultReason.InvalidAttributeValue);
    expect(reasonOf(() => checkClientAttributes([dateTime(Tag.ProcessStartDate, 1n)], 'add', { objectType: ObjectType.OpaqueObject }))).toBe(ResultReason.InvalidAttribute);
    expect(reasonOf(() => checkClientAttributes([dateTime(Tag.ProcessStartDate, 1n)], 'add', { objectType: ObjectType.SymmetricKey, state: State.PreActive }))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([integer(Tag.CertificateLength, 1)], 'register', { objectType: ObjectType.SymmetricKey }))).toBe(ResultReason.InvalidAttribute);
  });
  it('lets Process Start / Protect Stop Date on every cryptographic object (BL-M-4-21, CS-AC-M-8)', () => {
    for (const objectType of [ObjectType.SecretData, ObjectType.PrivateKey, ObjectType.PublicKey, ObjectType.SymmetricKey, ObjectType.SplitKey]) {
      for (const tag of [Tag.ProcessStartDate, Tag.ProtectStopDate]) {
        expect(reasonOf(() => checkClientAttributes([dateTime(tag, 1n)], 'register', { objectType }))).toBeUndefined();
      }
    }
    expect(reasonOf(() => checkClientAttributes([dateTime(Tag.ProtectStopDate, 1n)], 'register', { objectType: ObjectType.OpaqueObject }))).toBe(ResultReason.InvalidAttribute);
  });
  it('lets a client state Fresh at creation (BL-M-13) and Certificate Type at Register (BL-M-10), never change them later', () => {
    const fresh = { tag: Tag.Fresh, type: 'Boolean', value: true } as TtlvItem;
    expect(reasonOf(() => checkClientAttributes([fresh], 'register'))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([fresh], 'create'))).toBeUndefined();
    const ct = enumeration(Tag.CertificateType, 1);
    expect(reasonOf(() => checkClientAttributes([ct], 'register', { objectType: ObjectType.Certificate }))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([ct], 'create', { objectType: ObjectType.Certificate }))).toBe(ResultReason.AttributeReadOnly);
    for (const when of ['add', 'set', 'modify', 'delete'] as const) {
      expect(reasonOf(() => checkClientAttributes([fresh], when))).toBe(ResultReason.AttributeReadOnly);
      expect(reasonOf(() => checkClientAttributes([ct], when, { objectType: ObjectType.Certificate }))).toBe(ResultReason.AttributeReadOnly);
    }
    expect(reasonOf(() => checkClientAttributes([{ tag: Tag.Fresh, type: 'Integer', value: 1 }], 'register'))).toBe(ResultReason.InvalidAttributeValue);
  });
  it('accepts client vendor attributes and refuses server ones', () => {
    expect(reasonOf(() => checkClientAttributes([vendor('x', 'Barcode')], 'add'))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([vendor('y', 'Secret')], 'add'))).toBe(ResultReason.AttributeReadOnly);
    expect(reasonOf(() => checkClientAttributes([structure(Tag.Attribute, [textString(Tag.AttributeName, 'n')])], 'add'))).toBe(ResultReason.InvalidAttribute);
  });
  it('Import restores server-set attributes but still checks their shape (2.1 s.6.1.24)', () => {
    expect(reasonOf(() => checkClientAttributes([enumeration(Tag.State, State.Active), dateTime(Tag.InitialDate, 1n), vendor('y', 'Srv')], 'import'))).toBeUndefined();
    expect(reasonOf(() => checkClientAttributes([integer(Tag.State, 2)], 'import'))).toBe(ResultReason.InvalidAttributeValue);
    expect(reasonOf(() => checkClientAttributes([dateTime(Tag.InitialDate, 1n), dateTime(Tag.InitialDate, 2n)], 'import'))).toBe(ResultReason.AttributeSingleValued);
    expect(reasonOf(() => checkClientAttributes([integer(Tag.CertificateLength, 5)], 'import', { objectType: ObjectType.SymmetricKey }))).toBe(ResultReason.InvalidAttribute);
  });
  it('refuses deleting undeletable attributes', () => {
    expect(reasonOf(() => checkClientAttributes([integer(Tag.CryptographicUsageMask, 4)], 'delete'))).toBe(ResultReason.AttributeReadOnly);
    expect(reasonOf(() => checkClientAttributes([name('n')], 'delete'))).toBeUndefined();
  });
});

describe('helpers', () => {
  it('setAttr replaces every instance in place; removeAttr removes all', () => {
    const attrs: TtlvItem[] = [textString(Tag.Comment, 'a'), name('n'), textString(Tag.Comment, 'b')];
    setAttr(attrs, textString(Tag.Comment, 'c'));
    expect(attrs).toEqual([textString(Tag.Comment, 'c'), name('n')]);
    setAttr(attrs, vendor('x', 'k', 'v1'));
    setAttr(attrs, vendor('x', 'k', 'v2'));
    setAttr(attrs, vendor('x', 'other', 'v3'));
    expect(getAttrs(attrs, Tag.Attribute)).toHaveLength(2);
    expect(removeAttr(attrs, Tag.Attribute)).toBe(2);
  });
  it('withObjectMeta puts Unique Identifier, Object Type and State first', () => {
    const all = withObjectMeta({ uid: 'u1', objectType: ObjectType.SecretData, state: State.Active, attributes: [name('n')] });
    expect(all.map((a) => a.tag)).toEqual([Tag.UniqueIdentifier, Tag.ObjectType, Tag.State, Tag.Name]);
  });
  it('itemsEqual compares structures deeply and byte strings by content', () => {
    expect(itemsEqual(name('a'), name('a'))).toBe(true);
    expect(itemsEqual(name('a'), name('b'))).toBe(false);
    expect(itemsEqual({ tag: 1, type: 'ByteString', value: Buffer.from('ab') }, { tag: 1, type: 'ByteString', value: Buffer.from('ab') })).toBe(true);
  });
  it('parses attribute references in 2.x and 1.x forms', () => {
    expect(parseAttributeReference(enumeration(Tag.AttributeReference, Tag.State))).toEqual({ tag: Tag.State });
    expect(parseAttributeReference(textString(Tag.AttributeName, 'Cryptographic Length'))).toEqual({ tag: Tag.CryptographicLength });
    expect(parseAttributeReference(textString(Tag.AttributeName, 'x-Barcode'))).toEqual({ tag: Tag.Attribute, vendor: 'x', name: 'Barcode' });
    expect(reasonOf(() => parseAttributeReference(enumeration(Tag.AttributeReference, Tag.BatchCount)))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => parseAttributeReference(textString(Tag.AttributeName, 'Nonsense')))).toBe(ResultReason.InvalidField);
  });
  it('an empty Vendor Identification with a standard Attribute Name is the standard attribute (PyKMIP 0.10 delete_attribute)', () => {
    const ref = (vendor: string, n: string) => structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, vendor), textString(Tag.AttributeName, n)]);
    expect(parseAttributeReference(ref('', 'Name'))).toEqual({ tag: Tag.Name });
    expect(parseAttributeReference(ref('', 'Cryptographic Length'))).toEqual({ tag: Tag.CryptographicLength });
    expect(parseAttributeReference(ref('', 'CryptographicLength'))).toEqual({ tag: Tag.CryptographicLength });
    expect(parseAttributeReference(ref('acme', 'Name'))).toEqual({ tag: Tag.Attribute, vendor: 'acme', name: 'Name' });
    expect(reasonOf(() => parseAttributeReference(ref('', 'Barcode')))).toBe(ResultReason.InvalidField);
  });
  it('attributeIn wants exactly one attribute and reads a 1.x index', () => {
    expect(attributeIn(structure(Tag.NewAttribute, [name('a'), integer(Tag.AttributeIndex, 2)]), 'New Attribute')).toEqual({ attr: name('a'), index: 2 });
    expect(reasonOf(() => attributeIn(structure(Tag.NewAttribute, []), 'New Attribute'))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => attributeIn(structure(Tag.NewAttribute, [name('a'), name('b')]), 'New Attribute'))).toBe(ResultReason.InvalidField);
  });
});
