// Version adapters 1.x ⇄ 2.1 (src/kmip/adapters): per operation, both directions, with the
// shapes of the OASIS 1.4 / 2.1 vector pairs; the version filter; custom attributes and
// the 1.x-only Operation Policy Name; malformed 1.x input.
import { describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, LinkType, NameType, ObjectType,
  Operation, ProtectionStorageMask, QueryFunction, ResultReason, State,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import {
  boolean, byteString, child, dateTime, enumeration, integer, structure, textString, type Struct,
} from '../../src/kmip/items.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import {
  attributeFromV1, attributeToV1, filterForVersion, requestToInternal, responseFromInternal, resultReasonForVersion, TEMPLATE_NAMES_TAG,
} from '../../src/kmip/adapters/index.ts';
import { attributeByName, parseCustomName, V1_ONLY_ATTRIBUTE_TAGS } from '../../src/kmip/attribute-names.ts';

const V1_0 = { major: 1, minor: 0 };
const V1_2 = { major: 1, minor: 2 };
const V1_3 = { major: 1, minor: 3 };
const V1_4 = { major: 1, minor: 4 };
const V2_0 = { major: 2, minor: 0 };
const V2_1 = { major: 2, minor: 1 };

const req = (...c: TtlvItem[]) => structure(Tag.RequestPayload, c);
const resp = (...c: TtlvItem[]) => structure(Tag.ResponsePayload, c);
const uid = (s = 'uid-1') => textString(Tag.UniqueIdentifier, s);
/** 1.x Attribute{Name, Index?, Value}. */
const attr1 = (name: string, value: TtlvItem | null, index?: number): Struct => structure(Tag.Attribute, [
  textString(Tag.AttributeName, name),
  ...(index !== undefined ? [integer(Tag.AttributeIndex, index)] : []),
  ...(value ? [{ ...value, tag: Tag.AttributeValue } as TtlvItem] : []),
]);
const v = (item: TtlvItem) => item; // readability: a value whose tag is replaced by attr1
const vendor = (vid: string, name: string, value: TtlvItem) => structure(Tag.Attribute, [
  textString(Tag.VendorIdentification, vid), textString(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem,
]);
const name2 = (n: string) => structure(Tag.Name, [textString(Tag.NameValue, n), enumeration(Tag.NameType, NameType.UninterpretedTextString)]);
const cum = (bits: number) => integer(Tag.CryptographicUsageMask, bits);

function kmipError(fn: () => unknown): KmipError {
  try { fn(); } catch (e) { if (e instanceof KmipError) return e; throw e; }
  throw new Error('expected a KmipError');
}

describe('attribute names (1.4 s.3 ⇄ 2.1 s.4)', () => {
  it('maps spec names to tags, including 1.x-only attributes', () => {
    expect(attributeByName('Cryptographic Usage Mask')?.tag).toBe(Tag.CryptographicUsageMask);
    expect(attributeByName('X.509 Certificate Identifier')?.tag).toBe(Tag.X_509CertificateIdentifier);
    expect(attributeByName('PKCS#12 Friendly Name')?.tag).toBe(Tag.PKCS_12FriendlyName);
    expect(attributeByName('Operation Policy Name')?.tag).toBe(Tag.OperationPolicyName);
    expect(attributeByName('cryptographic algorithm')?.tag).toBe(Tag.CryptographicAlgorithm);
    // A tag that is a field, not an attribute.
    expect(attributeByName('Block Cipher Mode')).toBeUndefined();
    expect(V1_ONLY_ATTRIBUTE_TAGS.has(Tag.OperationPolicyName)).toBe(true);
    expect(V1_ONLY_ATTRIBUTE_TAGS.has(Tag.Name)).toBe(false);
  });
  it('parses custom names', () => {
    expect(parseCustomName('x-Barcode')).toEqual({ vendor: 'x', name: 'Barcode' });
    expect(parseCustomName('y-a-b')).toEqual({ vendor: 'y', name: 'a-b' });
    expect(parseCustomName('x-')).toBeUndefined();
    expect(parseCustomName('z-foo')).toBeUndefined();
  });
});

describe('attributeFromV1 / attributeToV1 (1.4 s.2.1.1, 2.1 s.4.60)', () => {
  it('standard attribute: value under its own tag, and back', () => {
    const a = attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES));
    const item = attributeFromV1(a);
    expect(item).toEqual(enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES));
    expect(attributeToV1(item)).toEqual(a);
  });
  it('structured attribute keeps its children', () => {
    const a = attr1('Link', structure(0, [enumeration(Tag.LinkType, LinkType.PublicKeyLink), textString(Tag.LinkedObjectIdentifier, 'pk')]));
    const item = attributeFromV1(a);
    expect(item).toEqual(structure(Tag.Link, [enumeration(Tag.LinkType, LinkType.PublicKeyLink), textString(Tag.LinkedObjectIdentifier, 'pk')]));
    expect(attributeToV1(item, 2)).toEqual(attr1('Link', structure(0, (item as Struct).value), 2));
  });
  it('x-/y- custom attributes ⇄ vendor attributes "x"/"y"', () => {
    const a = attr1('x-ID', textString(0, 'TL-M-1-14-ID'));
    const item = attributeFromV1(a);
    expect(item).toEqual(vendor('x', 'ID', textString(0, 'TL-M-1-14-ID')));
    expect(attributeToV1(item)).toEqual(a);
    const y = attr1('y-serial', integer(0, 7));
    expect(attributeToV1(attributeFromV1(y))).toEqual(y);
  });
  it('Operation Policy Name (Synology) survives a round trip under its own tag', () => {
    const a = attr1('Operation Policy Name', textString(0, 'default'));
    const item = attributeFromV1(a);
    expect(item).toEqual(textString(Tag.OperationPolicyName, 'default'));
    expect(attributeToV1(item)).toEqual(a);
  });
  it('keeps test-vector placeholders on values', () => {
    const a = structure(Tag.Attribute, [
      textString(Tag.AttributeName, 'Activation Date'),
      { tag: Tag.AttributeValue, type: 'DateTime', value: 0n, placeholder: '$NOW' },
    ]);
    expect(attributeFromV1(a)).toEqual({ tag: Tag.ActivationDate, type: 'DateTime', value: 0n, placeholder: '$NOW' });
  });
  it('refuses malformed 1.x attributes with InvalidField and a precise message', () => {
    let e = kmipError(() => attributeFromV1(attr1('Cryptographic Length', textString(0, '256'))));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.message).toMatch(/Cryptographic Length.*Integer.*TextString/);
    e = kmipError(() => attributeFromV1(attr1('Colour', textString(0, 'blue'))));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.message).toMatch(/unknown attribute name "Colour"/);
    e = kmipError(() => attributeFromV1(attr1('Cryptographic Length', null)));
    expect(e.message).toMatch(/Attribute Value is required/);
    e = kmipError(() => attributeFromV1(structure(Tag.Attribute, [integer(Tag.AttributeName, 3)])));
    expect(e.message).toMatch(/Attribute Name must be a Text String/);
    e = kmipError(() => attributeFromV1(structure(Tag.Attribute, [textString(Tag.AttributeName, 'State'), enumeration(Tag.State, 1)])));
    expect(e.message).toMatch(/unexpected State inside Attribute/);
    e = kmipError(() => attributeFromV1(structure(Tag.Attribute, [])));
    expect(e.message).toMatch(/Attribute Name is required/);
  });
  it('attributeToV1 refuses what 1.x cannot name', () => {
    expect(() => attributeToV1(vendor('acme', 'color', textString(0, 'red')))).toThrow(/no KMIP 1.x form/);
    expect(() => attributeToV1(enumeration(Tag.BlockCipherMode, 1))).toThrow(/no KMIP 1.x form/);
  });
});

describe('requests 1.x → 2.1', () => {
  it('Create: Template-Attribute → Attributes (SKLC-M-1)', () => {
    const p = req(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
        attr1('Cryptographic Length', integer(0, 256)),
        attr1('Cryptographic Usage Mask', integer(0, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt)),
        attr1('Name', structure(0, name2('SKLC-M-1-14').value)),
        attr1('Operation Policy Name', textString(0, 'default')),
        attr1('x-Purpose', textString(0, 'backup')),
      ]),
    );
    expect(requestToInternal(V1_4, Operation.Create, p)).toEqual(req(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        integer(Tag.CryptographicLength, 256),
        cum(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
        name2('SKLC-M-1-14'),
        textString(Tag.OperationPolicyName, 'default'),
        vendor('x', 'Purpose', textString(0, 'backup')),
      ]),
    ));
  });
  it('Create: template Names travel, in order, in the internal marker first in Attributes (1.4 s.2.1.8)', () => {
    const p = req(enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [name2('t1'), attr1('Cryptographic Length', integer(0, 256)), name2('t2')]));
    expect(requestToInternal(V1_2, Operation.Create, p)).toEqual(req(enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [structure(TEMPLATE_NAMES_TAG, [name2('t1'), name2('t2')]), integer(Tag.CryptographicLength, 256)])));
  });
  it('Create: a template Name that is not a structure is an InvalidField', () => {
    const p = req(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.TemplateAttribute, [textString(Tag.Name, 'tmpl')]));
    expect(kmipError(() => requestToInternal(V1_2, Operation.Create, p)).reason).toBe(ResultReason.InvalidField);
  });
  it('Create: a Template-Attribute that is not a structure is an InvalidMessage', () => {
    const p = req(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), integer(Tag.TemplateAttribute, 1));
    expect(kmipError(() => requestToInternal(V1_2, Operation.Create, p)).reason).toBe(ResultReason.InvalidMessage);
  });
  it('Create Key Pair: Common / Private / Public Template-Attribute → Common / Private / Public Attributes (AKLC-M-1)', () => {
    const p = req(
      structure(Tag.CommonTemplateAttribute, [attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.RSA)), attr1('Cryptographic Length', integer(0, 2048))]),
      structure(Tag.PrivateKeyTemplateAttribute, [attr1('Name', structure(0, name2('priv').value)), attr1('Cryptographic Usage Mask', integer(0, CryptographicUsageMask.Sign))]),
      structure(Tag.PublicKeyTemplateAttribute, [attr1('Name', structure(0, name2('pub').value)), attr1('Cryptographic Usage Mask', integer(0, CryptographicUsageMask.Verify))]),
    );
    expect(requestToInternal(V1_4, Operation.CreateKeyPair, p)).toEqual(req(
      structure(Tag.CommonAttributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA), integer(Tag.CryptographicLength, 2048)]),
      structure(Tag.PrivateKeyAttributes, [name2('priv'), cum(CryptographicUsageMask.Sign)]),
      structure(Tag.PublicKeyAttributes, [name2('pub'), cum(CryptographicUsageMask.Verify)]),
    ));
  });
  it('Register: Template-Attribute → Attributes, Key Value attributes → Attributes (1.4 s.2.1.4)', () => {
    const key = Buffer.alloc(16, 1);
    const p = req(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [attr1('Operation Policy Name', textString(0, 'default'))]),
      structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
        structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key), attr1('Cryptographic Usage Mask', integer(0, 12))]),
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        integer(Tag.CryptographicLength, 128),
      ])]),
    );
    expect(requestToInternal(V1_2, Operation.Register, p)).toEqual(req(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [textString(Tag.OperationPolicyName, 'default')]),
      structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
        structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key), structure(Tag.Attributes, [cum(12)])]),
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        integer(Tag.CryptographicLength, 128),
      ])]),
    ));
  });
  it('Register of a Template object: Template{Attribute×n} → Template{Attributes} (1.4 s.2.2.6), and back for Get', () => {
    const p = req(enumeration(Tag.ObjectType, ObjectType.Template), structure(Tag.TemplateAttribute, [attr1('Name', structure(0, name2('tmpl').value))]),
      structure(Tag.Template, [attr1('Cryptographic Length', integer(0, 128))]));
    expect(requestToInternal(V1_0, Operation.Register, p)).toEqual(req(enumeration(Tag.ObjectType, ObjectType.Template),
      structure(Tag.Attributes, [name2('tmpl')]), structure(Tag.Template, [structure(Tag.Attributes, [integer(Tag.CryptographicLength, 128)])])));
    const back = responseFromInternal(V1_0, Operation.Get, structure(Tag.ResponsePayload, [
      enumeration(Tag.ObjectType, ObjectType.Template), textString(Tag.UniqueIdentifier, 'u'),
      structure(Tag.Template, [structure(Tag.Attributes, [integer(Tag.CryptographicLength, 128)])]),
    ]));
    expect(child(back, Tag.Template)).toEqual(structure(Tag.Template, [attr1('Cryptographic Length', integer(0, 128))]));
  });
  it('Register of a Template holding something other than Attributes is an InvalidField', () => {
    const p = req(enumeration(Tag.ObjectType, ObjectType.Template), structure(Tag.TemplateAttribute, []), structure(Tag.Template, [integer(Tag.CryptographicLength, 1)]));
    expect(kmipError(() => requestToInternal(V1_0, Operation.Register, p)).reason).toBe(ResultReason.InvalidField);
  });
  it('Re-key: Template-Attribute → Attributes, Offset kept', () => {
    const p = req(uid(), { tag: Tag.Offset, type: 'Interval', value: 3600 }, structure(Tag.TemplateAttribute, [attr1('Activation Date', dateTime(0, 1000n))]));
    expect(requestToInternal(V1_1(), Operation.ReKey, p)).toEqual(req(uid(), { tag: Tag.Offset, type: 'Interval', value: 3600 }, structure(Tag.Attributes, [dateTime(Tag.ActivationDate, 1000n)])));
  });
  it('Locate: Attribute×n → Attributes, other fields first (SASED-M-3); no attributes → empty Attributes', () => {
    const p = req(
      integer(Tag.MaximumItems, 5),
      attr1('Object Group', textString(0, 'SASED-M-2-14-group')),
      attr1('Object Type', enumeration(0, ObjectType.SecretData)),
      attr1('x-Barcode', textString(0, 'AB1234')),
    );
    expect(requestToInternal(V1_4, Operation.Locate, p)).toEqual(req(
      integer(Tag.MaximumItems, 5),
      structure(Tag.Attributes, [
        textString(Tag.ObjectGroup, 'SASED-M-2-14-group'),
        enumeration(Tag.ObjectType, ObjectType.SecretData),
        vendor('x', 'Barcode', textString(0, 'AB1234')),
      ]),
    ));
    expect(requestToInternal(V1_0, Operation.Locate, req())).toEqual(req(structure(Tag.Attributes, [])));
  });
  it('Get Attributes: Attribute Name×n → Attribute Reference×n (AKLC-M-1, SASED-M-3)', () => {
    const p = req(uid(), textString(Tag.AttributeName, 'State'), textString(Tag.AttributeName, 'x-CustomAttribute4'), textString(Tag.AttributeName, 'Operation Policy Name'));
    expect(requestToInternal(V1_4, Operation.GetAttributes, p)).toEqual(req(
      uid(),
      enumeration(Tag.AttributeReference, Tag.State),
      structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, 'CustomAttribute4')]),
      enumeration(Tag.AttributeReference, Tag.OperationPolicyName),
    ));
    const e = kmipError(() => requestToInternal(V1_4, Operation.GetAttributes, req(uid(), textString(Tag.AttributeName, 'Nope'))));
    expect(e.reason).toBe(ResultReason.InvalidField);
  });
  it('Add Attribute: Attribute → New Attribute; a non-zero index is refused (1.4 s.4.14)', () => {
    const p = req(uid(), attr1('x-attribute1', textString(0, 'Value1')));
    expect(requestToInternal(V1_4, Operation.AddAttribute, p)).toEqual(req(uid(), structure(Tag.NewAttribute, [vendor('x', 'attribute1', textString(0, 'Value1'))])));
    const e = kmipError(() => requestToInternal(V1_4, Operation.AddAttribute, req(uid(), attr1('x-a', textString(0, 'v'), 2))));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.message).toMatch(/Attribute Index/);
  });
  it('Modify Attribute: Attribute{Name, Index, Value} → New Attribute + Attribute Index (0 when omitted)', () => {
    expect(requestToInternal(V1_4, Operation.ModifyAttribute, req(uid(), attr1('x-attribute1', textString(0, 'ModifiedValue1'))))).toEqual(
      req(uid(), structure(Tag.NewAttribute, [vendor('x', 'attribute1', textString(0, 'ModifiedValue1'))]), integer(Tag.AttributeIndex, 0)));
    expect(requestToInternal(V1_2, Operation.ModifyAttribute, req(uid(), attr1('Name', structure(0, name2('second').value), 1)))).toEqual(
      req(uid(), structure(Tag.NewAttribute, [name2('second')]), integer(Tag.AttributeIndex, 1)));
  });
  it('Delete Attribute: Attribute Name + Index → Attribute Reference + Attribute Index', () => {
    expect(requestToInternal(V1_4, Operation.DeleteAttribute, req(uid(), textString(Tag.AttributeName, 'x-attribute1')))).toEqual(
      req(uid(), structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, 'attribute1')]), integer(Tag.AttributeIndex, 0)));
    expect(requestToInternal(V1_4, Operation.DeleteAttribute, req(uid(), textString(Tag.AttributeName, 'Link'), integer(Tag.AttributeIndex, 3)))).toEqual(
      req(uid(), enumeration(Tag.AttributeReference, Tag.Link), integer(Tag.AttributeIndex, 3)));
    expect(kmipError(() => requestToInternal(V1_4, Operation.DeleteAttribute, req(uid()))).message).toMatch(/Attribute Name is required/);
    expect(kmipError(() => requestToInternal(V1_4, Operation.DeleteAttribute, req(uid(), textString(Tag.AttributeName, 'Link'), integer(Tag.AttributeIndex, -1)))).reason)
      .toBe(ResultReason.InvalidField);
  });
  it('Certify: Certificate Request → Certificate Request Value', () => {
    const csr = Buffer.from('3082', 'hex');
    expect(requestToInternal(V1_2, Operation.Certify, req(uid(), enumeration(Tag.CertificateRequestType, 2), byteString(Tag.CertificateRequest, csr)))).toEqual(
      req(uid(), enumeration(Tag.CertificateRequestType, 2), byteString(Tag.CertificateRequestValue, csr)));
  });
  it('Get, Encrypt, Revoke, Query: same shape in both versions', () => {
    const get = req(uid(), structure(Tag.KeyWrappingSpecification, [enumeration(Tag.WrappingMethod, 1), structure(Tag.EncryptionKeyInformation, [uid('k')])]));
    expect(requestToInternal(V1_4, Operation.Get, get)).toEqual(get);
    const enc = req(uid(), structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, 1)]), byteString(Tag.Data, Buffer.from('00', 'hex')));
    expect(requestToInternal(V1_4, Operation.Encrypt, enc)).toEqual(enc);
    const rev = req(uid(), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, 1)]));
    expect(requestToInternal(V1_0, Operation.Revoke, rev)).toEqual(rev);
    const q = req(enumeration(Tag.QueryFunction, QueryFunction.QueryOperations));
    expect(requestToInternal(V1_0, Operation.Query, q)).toEqual(q);
  });
});

function V1_1() { return { major: 1, minor: 1 }; }

describe('requests 2.x', () => {
  it('are passed through unchanged', () => {
    const p = req(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES)]));
    expect(requestToInternal(V2_1, Operation.Create, p)).toBe(p);
    expect(requestToInternal(V2_0, Operation.Create, p)).toBe(p);
  });
  it('may not use tags Reserved in 2.x (Attribute Index, Template-Attribute, Operation Policy Name)', () => {
    let e = kmipError(() => requestToInternal(V2_1, Operation.DeleteAttribute, req(uid(), enumeration(Tag.AttributeReference, Tag.Link), integer(Tag.AttributeIndex, 1))));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.message).toMatch(/AttributeIndex is not defined in KMIP 2.1/);
    e = kmipError(() => requestToInternal(V2_0, Operation.Create, req(enumeration(Tag.ObjectType, 2), structure(Tag.TemplateAttribute, []))));
    expect(e.message).toMatch(/TemplateAttribute/);
    e = kmipError(() => requestToInternal(V2_1, Operation.Register, req(structure(Tag.Attributes, [textString(Tag.OperationPolicyName, 'p')]))));
    expect(e.message).toMatch(/RequestPayload\/Attributes/);
  });
});

describe('responses 2.1 → 1.x', () => {
  it('Get Attributes: Attributes → Attribute×n, Attribute Index on every Name (0 included, issue 13 §5) and on the 2nd and later instances of the others (1.4 s.4.12)', () => {
    const internal = resp(uid(), structure(Tag.Attributes, [
      enumeration(Tag.State, State.Active),
      name2('a'), name2('b'),
      vendor('x', 'CustomAttribute4', textString(0, 'CustomValue4')),
      textString(Tag.OperationPolicyName, 'default'),
    ]));
    expect(responseFromInternal(V1_4, Operation.GetAttributes, internal)).toEqual(resp(
      uid(),
      attr1('State', enumeration(0, State.Active)),
      attr1('Name', structure(0, name2('a').value), 0),
      attr1('Name', structure(0, name2('b').value), 1),
      attr1('x-CustomAttribute4', textString(0, 'CustomValue4')),
      attr1('Operation Policy Name', textString(0, 'default')),
    ));
    // Other multi-instance attributes keep the OASIS 1.4 form: no index 0.
    const links = resp(uid(), structure(Tag.Attributes, [
      structure(Tag.Link, [enumeration(Tag.LinkType, LinkType.NextLink), textString(Tag.LinkedObjectIdentifier, 'a')]),
      structure(Tag.Link, [enumeration(Tag.LinkType, LinkType.PreviousLink), textString(Tag.LinkedObjectIdentifier, 'b')]),
    ]));
    const out = responseFromInternal(V1_4, Operation.GetAttributes, links);
    expect(out.value.slice(1).map((a) => (a as Struct).value.some((c) => c.tag === Tag.AttributeIndex && c.type === 'Integer' && c.value === 0))).toEqual([false, false]);
    expect(out.value.slice(1).map((a) => (a as Struct).value.some((c) => c.tag === Tag.AttributeIndex && c.type === 'Integer' && c.value === 1))).toEqual([false, true]);
    // 2.x has no Attribute Index at all.
    expect(JSON.stringify(responseFromInternal({ major: 2, minor: 0 }, Operation.GetAttributes, internal))).not.toContain(`"tag":${Tag.AttributeIndex},`);
  });
  it('Get Attributes: attributes a 1.x version does not define are left out', () => {
    const internal = resp(uid(), structure(Tag.Attributes, [
      byteString(Tag.ShortUniqueIdentifier, Buffer.alloc(32)),
      integer(Tag.ProtectionStorageMask, ProtectionStorageMask.Software),
      boolean(Tag.Sensitive, false),
      boolean(Tag.Fresh, true),
      enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
      vendor('acme', 'colour', textString(0, 'red')),
      { tag: Tag.ActivationDate, type: 'DateTimeExtended', value: 1n },
      integer(Tag.CryptographicLength, 128),
    ]));
    expect(responseFromInternal(V1_4, Operation.GetAttributes, internal)).toEqual(resp(
      uid(), attr1('Sensitive', boolean(0, false)), attr1('Fresh', boolean(0, true)), attr1('Cryptographic Length', integer(0, 128)),
    ));
    // Fresh is 1.1, Sensitive 1.4: a 1.0 client (Percona) sees neither.
    expect(responseFromInternal(V1_0, Operation.GetAttributes, internal)).toEqual(resp(uid(), attr1('Cryptographic Length', integer(0, 128))));
  });
  it('Get Attributes: enumeration values and mask bits the version lacks are removed', () => {
    const internal = resp(uid(), structure(Tag.Attributes, [
      cum(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Authenticate),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.ChaCha20),
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    ]));
    // ChaCha20 is a 1.4 algorithm: a 1.3 client does not get the attribute at all.
    expect(responseFromInternal(V1_3, Operation.GetAttributes, internal)).toEqual(resp(
      uid(), attr1('Cryptographic Usage Mask', integer(0, CryptographicUsageMask.Encrypt)), attr1('Object Type', enumeration(0, ObjectType.SymmetricKey)),
    ));
  });
  it('Get Attribute List: Attribute Reference×n → Attribute Name×n, filtered', () => {
    const internal = resp(uid(),
      enumeration(Tag.AttributeReference, Tag.State),
      enumeration(Tag.AttributeReference, Tag.ShortUniqueIdentifier),
      enumeration(Tag.AttributeReference, Tag.Fresh),
      structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, 'ID')]),
      structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, 'acme'), textString(Tag.AttributeName, 'c')]),
      enumeration(Tag.AttributeReference, Tag.OperationPolicyName),
    );
    expect(responseFromInternal(V1_1(), Operation.GetAttributeList, internal)).toEqual(resp(uid(),
      textString(Tag.AttributeName, 'State'), textString(Tag.AttributeName, 'Fresh'),
      textString(Tag.AttributeName, 'x-ID'), textString(Tag.AttributeName, 'Operation Policy Name')));
    expect(responseFromInternal(V1_0, Operation.GetAttributeList, internal).value).not.toContainEqual(textString(Tag.AttributeName, 'Fresh'));
  });
  it('Add / Modify / Delete Attribute: the echoed attribute becomes Attribute{Name, Index?, Value} (1.4 s.4.14–4.16)', () => {
    const added = resp(uid(), structure(Tag.NewAttribute, [vendor('x', 'attribute1', textString(0, 'Value1'))]), integer(Tag.AttributeIndex, 0));
    expect(responseFromInternal(V1_4, Operation.AddAttribute, added)).toEqual(resp(uid(), attr1('x-attribute1', textString(0, 'Value1'))));
    const modified = resp(uid(), structure(Tag.NewAttribute, [name2('n2')]), integer(Tag.AttributeIndex, 1));
    expect(responseFromInternal(V1_2, Operation.ModifyAttribute, modified)).toEqual(resp(uid(), attr1('Name', structure(0, name2('n2').value), 1)));
    const deleted = resp(uid(), structure(Tag.CurrentAttribute, [textString(Tag.ContactInformation, 'ops')]));
    expect(responseFromInternal(V1_0, Operation.DeleteAttribute, deleted)).toEqual(resp(uid(), attr1('Contact Information', textString(0, 'ops'))));
  });
  it('Add / Modify / Delete Attribute of Name in 1.x: index 0 is written, as in Get Attributes (PyKMIP reads it, issue 13 §5)', () => {
    for (const op of [Operation.AddAttribute, Operation.ModifyAttribute]) {
      const internal = resp(uid(), structure(Tag.NewAttribute, [name2('n0')]), integer(Tag.AttributeIndex, 0));
      expect(responseFromInternal(V1_4, op, internal)).toEqual(resp(uid(), attr1('Name', structure(0, name2('n0').value), 0)));
    }
    const deleted = resp(uid(), structure(Tag.CurrentAttribute, [name2('n0')]), integer(Tag.AttributeIndex, 0));
    expect(responseFromInternal(V1_2, Operation.DeleteAttribute, deleted)).toEqual(resp(uid(), attr1('Name', structure(0, name2('n0').value), 0)));
    // Other multi-instance attributes keep the OASIS vectors' form without index 0.
    const other = resp(uid(), structure(Tag.CurrentAttribute, [textString(Tag.ContactInformation, 'ops')]), integer(Tag.AttributeIndex, 0));
    expect(responseFromInternal(V1_4, Operation.DeleteAttribute, other)).toEqual(resp(uid(), attr1('Contact Information', textString(0, 'ops'))));
  });
  it('Get: Key Value Attributes → Attribute×n (Veeam)', () => {
    const kb = (kv: TtlvItem[]) => resp(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uid(), structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, kv),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 128)])]));
    const km = byteString(Tag.KeyMaterial, Buffer.alloc(16, 7));
    expect(responseFromInternal(V1_4, Operation.Get, kb([km, structure(Tag.Attributes, [cum(12), byteString(Tag.ShortUniqueIdentifier, Buffer.alloc(4))])])))
      .toEqual(kb([km, attr1('Cryptographic Usage Mask', integer(0, 12))]));
    // Without attributes the Key Value is untouched.
    expect(responseFromInternal(V1_4, Operation.Get, kb([km]))).toEqual(kb([km]));
  });
  it('Create / Register / Create Key Pair: same fields (1.4 vectors carry no Template-Attribute)', () => {
    const c = resp(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uid());
    expect(responseFromInternal(V1_4, Operation.Create, c)).toEqual(c);
    const r = resp(uid());
    expect(responseFromInternal(V1_0, Operation.Register, r)).toEqual(r);
    const kp = resp(textString(Tag.PrivateKeyUniqueIdentifier, 'a'), textString(Tag.PublicKeyUniqueIdentifier, 'b'));
    expect(responseFromInternal(V1_4, Operation.CreateKeyPair, kp)).toEqual(kp);
  });
  it('Export: Attributes → Template-Attribute', () => {
    const internal = resp(enumeration(Tag.ObjectType, ObjectType.SecretData), uid(), structure(Tag.Attributes, [enumeration(Tag.State, State.Active)]));
    expect(responseFromInternal(V1_4, Operation.Export, internal)).toEqual(resp(
      enumeration(Tag.ObjectType, ObjectType.SecretData), uid(), structure(Tag.TemplateAttribute, [attr1('State', enumeration(0, State.Active))])));
  });
  it('Locate: Located Items only from 1.3 (1.3 s.4.9)', () => {
    const internal = resp(integer(Tag.LocatedItems, 2), uid('a'), uid('b'));
    expect(responseFromInternal(V1_2, Operation.Locate, internal)).toEqual(resp(uid('a'), uid('b')));
    expect(responseFromInternal(V1_3, Operation.Locate, internal)).toEqual(internal);
  });
  it('Query: no 2.x-only operations, object types or fields', () => {
    const internal = resp(
      enumeration(Tag.Operation, Operation.Create), enumeration(Tag.Operation, Operation.SetAttribute),
      enumeration(Tag.Operation, Operation.DiscoverVersions),
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey), enumeration(Tag.ObjectType, ObjectType.CertificateRequest),
      textString(Tag.VendorIdentification, 'OpenKCM'),
      structure(Tag.ServerInformation, [textString(Tag.ServerName, 'openkcm')]),
      structure(Tag.ProtectionStorageMasks, []),
    );
    expect(responseFromInternal(V1_4, Operation.Query, internal)).toEqual(resp(
      enumeration(Tag.Operation, Operation.Create), enumeration(Tag.Operation, Operation.DiscoverVersions),
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey), textString(Tag.VendorIdentification, 'OpenKCM'),
      structure(Tag.ServerInformation, []),
    ));
    // Discover Versions is a 1.1 operation.
    expect(responseFromInternal(V1_0, Operation.Query, internal).value).not.toContainEqual(enumeration(Tag.Operation, Operation.DiscoverVersions));
  });
});

describe('responses 2.1 → 2.x', () => {
  it('Add / Modify / Delete Attribute return the Unique Identifier only (2.1 s.6.1.2)', () => {
    const internal = resp(uid(), structure(Tag.NewAttribute, [name2('n')]), integer(Tag.AttributeIndex, 1));
    expect(responseFromInternal(V2_1, Operation.AddAttribute, internal)).toEqual(resp(uid()));
    expect(responseFromInternal(V2_0, Operation.DeleteAttribute, resp(uid(), structure(Tag.CurrentAttribute, [name2('n')])))).toEqual(resp(uid()));
  });
  it('never carry 1.x-only attributes or Reserved tags', () => {
    const internal = resp(uid(), structure(Tag.Attributes, [
      textString(Tag.OperationPolicyName, 'default'), enumeration(Tag.State, State.Active),
      cum(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Export),
    ]));
    expect(responseFromInternal(V2_1, Operation.GetAttributes, internal)).toEqual(resp(uid(), structure(Tag.Attributes, [
      enumeration(Tag.State, State.Active), cum(CryptographicUsageMask.Encrypt),
    ])));
    expect(responseFromInternal(V2_1, Operation.GetAttributeList, resp(uid(), enumeration(Tag.AttributeReference, Tag.OperationPolicyName), enumeration(Tag.AttributeReference, Tag.State))))
      .toEqual(resp(uid(), enumeration(Tag.AttributeReference, Tag.State)));
  });
  it('a 2.0 client gets no 2.1 attribute', () => {
    const internal = resp(uid(), structure(Tag.Attributes, [boolean(Tag.RotateAutomatic, true), enumeration(Tag.State, State.Active)]));
    expect(responseFromInternal(V2_0, Operation.GetAttributes, internal)).toEqual(resp(uid(), structure(Tag.Attributes, [enumeration(Tag.State, State.Active)])));
    expect(responseFromInternal(V2_1, Operation.GetAttributes, internal)).toEqual(internal);
  });
});

describe('filterForVersion', () => {
  it('returns the same object when nothing changes', () => {
    const item = resp(uid(), structure(Tag.Attributes, [enumeration(Tag.State, State.Active)]));
    expect(filterForVersion(item, V2_0)).toBe(item);
  });
  it('drops a 2.x container as a whole for 1.x (the 1.x adapter reshapes it first)', () => {
    expect(filterForVersion(resp(uid(), structure(Tag.Attributes, [])), V1_4)).toEqual(resp(uid()));
  });
  it('drops Date Time Extended items for 1.x and keeps them for 2.x', () => {
    const item = { tag: Tag.ActivationDate, type: 'DateTimeExtended', value: 5n } as const;
    expect(filterForVersion(item, V1_4)).toBeUndefined();
    expect(filterForVersion(item, V2_0)).toBe(item);
  });
  it('keeps extension tags and extension enumeration values', () => {
    const ext: TtlvItem = textString(0x540001, 'vendor');
    expect(filterForVersion(ext, V1_0)).toBe(ext);
    const extVal = enumeration(Tag.ObjectType, 0x80000001);
    expect(filterForVersion(extVal, V1_0)).toBe(extVal);
  });
});

describe('resultReasonForVersion', () => {
  const ALL = [V1_0, V1_1(), V1_2, V1_3, V1_4, V2_0, V2_1];
  it('keeps a reason the version defines', () => {
    expect(resultReasonForVersion(ResultReason.ItemNotFound, V1_0)).toBe(ResultReason.ItemNotFound);
    expect(resultReasonForVersion(ResultReason.WrongKeyLifecycleState, V2_0)).toBe(ResultReason.WrongKeyLifecycleState);
  });
  it('maps 2.x reasons for 1.x clients as the 1.4 vectors do', () => {
    expect(resultReasonForVersion(ResultReason.WrongKeyLifecycleState, V1_4)).toBe(ResultReason.PermissionDenied);
    expect(resultReasonForVersion(ResultReason.ObjectNotFound, V1_2)).toBe(ResultReason.ItemNotFound);
    expect(resultReasonForVersion(ResultReason.AttributeInstanceNotFound, V1_4)).toBe(ResultReason.IndexOutOfBounds);
    expect(resultReasonForVersion(ResultReason.Sensitive, V1_3)).toBe(ResultReason.PermissionDenied);
    expect(resultReasonForVersion(ResultReason.Sensitive, V1_4)).toBe(ResultReason.Sensitive);
    expect(resultReasonForVersion(ResultReason.PrivateProtectionStorageUnavailable, V1_4)).toBe(ResultReason.GeneralFailure);
  });
  it('maps 1.x reasons Reserved in 2.x', () => {
    expect(resultReasonForVersion(ResultReason.IndexOutOfBounds, V2_1)).toBe(ResultReason.AttributeInstanceNotFound);
    expect(resultReasonForVersion(ResultReason.IllegalOperation, V2_0)).toBe(ResultReason.WrongKeyLifecycleState);
  });
  it('maps the attribute and object conditions as the 1.x error tables name them (1.4 s.11)', () => {
    expect(resultReasonForVersion(ResultReason.AttributeSingleValued, V1_4)).toBe(ResultReason.IllegalOperation);
    expect(resultReasonForVersion(ResultReason.IllegalObjectType, V1_4)).toBe(ResultReason.IllegalOperation);
    expect(resultReasonForVersion(ResultReason.AttributeReadOnly, V1_0)).toBe(ResultReason.PermissionDenied);
    expect(resultReasonForVersion(ResultReason.AttributeNotFound, V1_4)).toBe(ResultReason.ItemNotFound);
    expect(resultReasonForVersion(ResultReason.ObjectDestroyed, V1_4)).toBe(ResultReason.ItemNotFound);
    expect(resultReasonForVersion(ResultReason.MissingInitializationVector, V1_4)).toBe(ResultReason.MissingData);
    // chains: Private Protection Storage Unavailable → Protection Storage Unavailable (2.0)
    expect(resultReasonForVersion(ResultReason.PrivateProtectionStorageUnavailable, V2_0)).toBe(ResultReason.PrivateProtectionStorageUnavailable);
  });
  it('always answers a reason the version defines', () => {
    for (const v of ALL) {
      for (const r of Object.values(ResultReason)) {
        const out = resultReasonForVersion(r, v);
        const e = filterForVersion(enumeration(Tag.ResultReason, out), v);
        expect(e, `${r} for ${v.major}.${v.minor} → ${out}`).toBeDefined();
      }
    }
  });
});
