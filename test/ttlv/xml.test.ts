// KMIP XML encoding: the tricky cases, one by one, and malformed input with its error.
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/ttlv/encode.ts';
import { TtlvError } from '../../src/ttlv/errors.ts';
import {
  CryptographicAlgorithm, CryptographicUsageMask, HashingAlgorithm, KeyFormatType, MaskGenerator,
  ProtectionStorageMask, StorageStatusMask, UniqueIdentifier,
} from '../../src/ttlv/generated/enumerations.ts';
import { ItemType } from '../../src/ttlv/generated/itemTypes.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { MAX_DEPTH } from '../../src/ttlv/limits.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { fromXml, toXml } from '../../src/ttlv/xml.ts';

/** Parses one element and returns it. */
function one(xml: string): TtlvItem {
  const items = fromXml(xml);
  expect(items).toHaveLength(1);
  return items[0]!;
}

function leaf(xml: string): TtlvItem {
  return one(xml);
}

/** Runs fn, expects a TtlvError, returns it for inspection. */
function error(fn: () => unknown): TtlvError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TtlvError);
    return e as TtlvError;
  }
  throw new Error('expected a TtlvError');
}

/** An Attribute structure of KMIP 1.x: name + value. */
function attribute(name: string, valueXml: string): string {
  return `<Attribute><AttributeName type="TextString" value="${name}"/>${valueXml}</Attribute>`;
}

function child(item: TtlvItem, i: number): TtlvItem {
  if (item.type !== 'Structure') throw new Error('not a structure');
  return item.value[i]!;
}

describe('fromXml: documents', () => {
  it('returns the children of a <KMIP> root, skipping the XML declaration, comments and PIs', () => {
    const items = fromXml(`\uFEFF<?xml version="1.0" encoding="UTF-8"?>
<!-- copyright -->
<KMIP>
  <!-- first -->
  <RequestMessage/>
  <?pi data?>
  <ResponseMessage></ResponseMessage>
</KMIP>
<!-- trailing -->`);
    expect(items).toEqual([
      { tag: Tag.RequestMessage, type: 'Structure', value: [] },
      { tag: Tag.ResponseMessage, type: 'Structure', value: [] },
    ]);
  });

  it('returns the single root element when there is no <KMIP> wrapper', () => {
    expect(fromXml('<BatchCount type="Integer" value="3"/>')).toEqual([{ tag: Tag.BatchCount, type: 'Integer', value: 3 }]);
  });

  it('accepts single-quoted attributes and type="Structure"', () => {
    expect(one(`<Attributes type='Structure'><State type='Enumeration' value='Active'/></Attributes>`)).toEqual({
      tag: Tag.Attributes, type: 'Structure', value: [{ tag: Tag.State, type: 'Enumeration', value: 2 }],
    });
  });

  it('returns an empty list for an empty <KMIP/>', () => {
    expect(fromXml('<KMIP/>')).toEqual([]);
  });
});

describe('context enumerations', () => {
  it('AttributeReference (2.x) carries a Tag value, written by tag name', () => {
    const item = leaf('<AttributeReference type="Enumeration" value="State"/>');
    expect(item).toEqual({ tag: Tag.AttributeReference, type: 'Enumeration', value: Tag.State });
    expect(toXml(item)).toBe('<AttributeReference type="Enumeration" value="State"/>\n');
    expect(leaf('<AttributeReference type="Enumeration" value="OriginalCreationDate"/>').value).toBe(Tag.OriginalCreationDate);
  });

  it('1.x AttributeValue takes its enumeration from the sibling AttributeName', () => {
    const item = one(attribute('Cryptographic Algorithm', '<AttributeValue type="Enumeration" value="AES"/>'));
    expect(child(item, 1)).toEqual({ tag: Tag.AttributeValue, type: 'Enumeration', value: CryptographicAlgorithm.AES });
    expect(toXml(item)).toContain('<AttributeValue type="Enumeration" value="AES"/>');
  });

  it('the AttributeName may follow the AttributeValue', () => {
    const item = one(`<Attribute><AttributeValue type="Enumeration" value="PreActive"/><AttributeName type="TextString" value="State"/></Attribute>`);
    expect(child(item, 0).value).toBe(1);
    expect(toXml(item)).toContain('value="PreActive"');
  });

  it('1.x AttributeValue mask from "Cryptographic Usage Mask"', () => {
    const item = one(attribute('Cryptographic Usage Mask', '<AttributeValue type="Integer" value="Decrypt Encrypt"/>'));
    expect(child(item, 1).value).toBe(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt);
    expect(toXml(item)).toContain('<AttributeValue type="Integer" value="Encrypt Decrypt"/>');
  });

  it('an AttributeValue whose attribute has no enumeration takes hex only', () => {
    const e = error(() => fromXml(attribute('x-custom', '<AttributeValue type="Enumeration" value="AES"/>')));
    expect(e.code).toBe('BAD_VALUE');
    expect(e.path).toBe('Attribute/AttributeValue');
    const item = one(attribute('x-custom', '<AttributeValue type="Enumeration" value="0x00000003"/>'));
    expect(child(item, 1).value).toBe(3);
    expect(toXml(item)).toContain('value="0x00000003"');
    // An Integer of a non-mask attribute stays decimal.
    expect(toXml(one(attribute('Cryptographic Length', '<AttributeValue type="Integer" value="256"/>')))).toContain('value="256"');
  });

  it('MaskGeneratorHashingAlgorithm uses Hashing Algorithm names', () => {
    const item = leaf('<MaskGeneratorHashingAlgorithm type="Enumeration" value="SHA_256"/>');
    expect(item.value).toBe(HashingAlgorithm.SHA_256);
    expect(toXml(item)).toContain('value="SHA_256"');
  });

  it('LinkedObjectIdentifier as Enumeration uses Unique Identifier values; ExtensionType uses Item Type', () => {
    expect(leaf('<LinkedObjectIdentifier type="Enumeration" value="IDPlaceholder"/>').value).toBe(UniqueIdentifier.IDPlaceholder);
    expect(leaf('<ExtensionType type="Enumeration" value="TextString"/>').value).toBe(ItemType.TextString);
  });

  it('PKCS#11 function and return code names (values from PKCS#11, 2.1 s.11.38–39)', () => {
    expect(leaf('<PKCS_11Function type="Enumeration" value="C_Initialize"/>').value).toBe(1);
    expect(leaf('<PKCS_11Function type="Enumeration" value="C_GetInfo"/>').value).toBe(3);
    expect(leaf('<PKCS_11ReturnCode type="Enumeration" value="OK"/>').value).toBe(0);
    expect(toXml({ tag: Tag.PKCS_11Function, type: 'Enumeration', value: 2 })).toContain('value="C_Finalize"');
  });

  it('accepts values removed in 2.0 and the MFG1 spelling of MGF1', () => {
    expect(leaf('<KeyFormatType type="Enumeration" value="TransparentECDSAPrivateKey"/>').value).toBe(KeyFormatType.TransparentECDSAPrivateKey);
    expect(leaf('<CryptographicUsageMask type="Integer" value="Export"/>').value).toBe(CryptographicUsageMask.Export);
    const mg = leaf('<MaskGenerator type="Enumeration" value="MFG1"/>');
    expect(mg.value).toBe(MaskGenerator.MGF1);
    expect(toXml(mg)).toContain('value="MGF1"');
  });

  it('values without a name are written as 8-digit hex; decimal is accepted', () => {
    const item = leaf('<ObjectType type="Enumeration" value="0x80000001"/>');
    expect(item.value).toBe(0x80000001);
    expect(toXml(item)).toContain('value="0x80000001"');
    expect(toXml({ tag: Tag.State, type: 'Enumeration', value: 42 })).toContain('value="0x0000002A"');
    expect(leaf('<State type="Enumeration" value="2"/>').value).toBe(2);
  });

  it('an unknown name is an error naming the enumeration', () => {
    const text = '<State type="Enumeration" value="Sleeping"/>';
    const e = error(() => fromXml(text));
    expect(e.code).toBe('BAD_VALUE');
    expect(e.offset).toBe(text.indexOf('Sleeping'));
    expect(e.detail).toContain('State');
  });
});

describe('masks', () => {
  it('names separated by spaces, in any order; hex and decimal too', () => {
    for (const v of ['Encrypt Decrypt', 'Decrypt  Encrypt', '0x0000000C', '12', 'Encrypt 0x00000008']) {
      expect(leaf(`<CryptographicUsageMask type="Integer" value="${v}"/>`).value).toBe(12);
    }
  });

  it('writes names lowest bit first and unknown bits as one hex token', () => {
    const w = (v: number) => toXml({ tag: Tag.CryptographicUsageMask, type: 'Integer', value: v });
    expect(w(CryptographicUsageMask.Decrypt | CryptographicUsageMask.Encrypt | CryptographicUsageMask.Sign)).toContain('value="Sign Encrypt Decrypt"');
    expect(w(CryptographicUsageMask.Encrypt | 0x40000000)).toContain('value="Encrypt 0x40000000"');
    expect(w(0)).toContain('value="0x00000000"');
    // Bit 31: a negative Integer on the wire.
    const top = leaf('<CryptographicUsageMask type="Integer" value="0x80000000"/>');
    expect(top.value).toBe(-0x80000000);
    expect(toXml(top)).toContain('value="0x80000000"');
  });

  it('Storage Status Mask and Protection Storage Mask', () => {
    expect(leaf('<StorageStatusMask type="Integer" value="OnLineStorage ArchivalStorage"/>').value)
      .toBe(StorageStatusMask.OnLineStorage | StorageStatusMask.ArchivalStorage);
    expect(leaf('<ProtectionStorageMask type="Integer" value="Software"/>').value).toBe(ProtectionStorageMask.Software);
  });

  it('an unknown mask name is an error', () => {
    expect(error(() => fromXml('<CryptographicUsageMask type="Integer" value="Encrypt Fly"/>')).code).toBe('BAD_VALUE');
  });
});

describe('scalar values', () => {
  it('BigInteger: two\'s complement, any even length in, canonical out', () => {
    expect(leaf('<Modulus type="BigInteger" value="ff"/>').value).toBe(-1n);
    expect(leaf('<Modulus type="BigInteger" value="FF7F"/>').value).toBe(-129n);
    expect(leaf('<Modulus type="BigInteger" value="0080"/>').value).toBe(128n);
    expect(leaf('<Modulus type="BigInteger" value="0x0000000000010001"/>').value).toBe(65537n);
    expect(toXml({ tag: Tag.Modulus, type: 'BigInteger', value: -129n })).toContain('value="ffffffffffffff7f"');
    expect(toXml({ tag: Tag.Modulus, type: 'BigInteger', value: 128n })).toContain('value="0000000000000080"');
    expect(error(() => fromXml('<Modulus type="BigInteger" value="abc"/>')).code).toBe('BAD_VALUE');
    expect(error(() => fromXml('<Modulus type="BigInteger" value=""/>')).code).toBe('BAD_VALUE');
  });

  it('Integer, LongInteger, Interval ranges', () => {
    expect(leaf('<BatchCount type="Integer" value="0xFFFFFFFF"/>').value).toBe(-1);
    expect(leaf('<BatchCount type="Integer" value="-2147483648"/>').value).toBe(-2147483648);
    expect(error(() => fromXml('<BatchCount type="Integer" value="2147483648"/>')).code).toBe('BAD_VALUE');
    expect(leaf('<UsageLimitsTotal type="LongInteger" value="-9223372036854775808"/>').value).toBe(-(1n << 63n));
    expect(leaf('<UsageLimitsTotal type="LongInteger" value="0xFFFFFFFFFFFFFFFF"/>').value).toBe(-1n);
    expect(error(() => fromXml('<UsageLimitsTotal type="LongInteger" value="9223372036854775808"/>')).code).toBe('BAD_VALUE');
    expect(leaf('<LeaseTime type="Interval" value="4294967295"/>').value).toBe(4294967295);
    expect(error(() => fromXml('<LeaseTime type="Interval" value="-1"/>')).code).toBe('BAD_VALUE');
  });

  it('Boolean and ByteString', () => {
    expect(leaf('<BatchOrderOption type="Boolean" value="false"/>').value).toBe(false);
    expect(leaf('<BatchOrderOption type="Boolean" value="0x0000000000000001"/>').value).toBe(true);
    expect(error(() => fromXml('<BatchOrderOption type="Boolean" value="yes"/>')).code).toBe('BAD_VALUE');
    expect(leaf('<UniqueBatchItemID type="ByteString" value="0A0b"/>').value).toEqual(Buffer.from([10, 11]));
    expect(leaf('<UniqueBatchItemID type="ByteString" value=""/>').value).toEqual(Buffer.alloc(0));
    expect(toXml({ tag: Tag.UniqueBatchItemID, type: 'ByteString', value: Buffer.from([0xab]) })).toContain('value="ab"');
    expect(error(() => fromXml('<UniqueBatchItemID type="ByteString" value="abc"/>')).code).toBe('BAD_VALUE');
  });

  it('DateTime: ISO with offsets in, UTC Z out; hex accepted; whole seconds only', () => {
    const d = leaf('<ActivationDate type="DateTime" value="2000-02-01T00:00:00+10:00"/>');
    expect(d.value).toBe(BigInt(Date.parse('2000-02-01T00:00:00+10:00') / 1000));
    expect(toXml(d)).toContain('value="2000-01-31T14:00:00Z"');
    expect(leaf('<ActivationDate type="DateTime" value="1970-01-01T00:00:06+00:00"/>').value).toBe(6n);
    expect(leaf('<ActivationDate type="DateTime" value="1969-12-31T23:59:59Z"/>').value).toBe(-1n);
    expect(leaf('<ActivationDate type="DateTime" value="0x000000000000003C"/>').value).toBe(60n);
    expect(error(() => fromXml('<ActivationDate type="DateTime" value="2000-01-01T00:00:00.5Z"/>')).code).toBe('BAD_VALUE');
    expect(error(() => fromXml('<ActivationDate type="DateTime" value="2021-02-29T00:00:00Z"/>')).code).toBe('BAD_VALUE');
    expect(error(() => fromXml('<ActivationDate type="DateTime" value="2021-01-01"/>')).code).toBe('BAD_VALUE');
    // Beyond year 9999: hex, and back.
    const far: TtlvItem = { tag: Tag.ActivationDate, type: 'DateTime', value: 400_000_000_000n };
    expect(toXml(far)).toContain('value="0x0000005D21DBA000"');
    expect(one(toXml(far))).toEqual(far);
  });

  it('DateTimeExtended: microseconds', () => {
    const d = leaf('<SubmissionDate type="DateTimeExtended" value="2020-01-01T00:00:00.000001Z"/>');
    expect(d.value).toBe(BigInt(Date.parse('2020-01-01T00:00:00Z')) * 1000n + 1n);
    expect(toXml(d)).toContain('value="2020-01-01T00:00:00.000001Z"');
    expect(toXml({ tag: Tag.SubmissionDate, type: 'DateTimeExtended', value: -1n })).toContain('value="1969-12-31T23:59:59.999999Z"');
    expect(error(() => fromXml('<SubmissionDate type="DateTimeExtended" value="2020-01-01T00:00:00.0000001Z"/>')).code).toBe('BAD_VALUE');
  });
});

describe('extension tags', () => {
  it('reads <TTLV tag="0x54XXXX"> and a hex element name; writes the TTLV form', () => {
    const a = leaf('<TTLV tag="0x540001" type="TextString" value="vendor"/>');
    expect(a).toEqual({ tag: 0x540001, type: 'TextString', value: 'vendor' });
    expect(leaf('<0x540002 type="Integer" value="5"/>')).toEqual({ tag: 0x540002, type: 'Integer', value: 5 });
    expect(toXml(a)).toBe('<TTLV tag="0x540001" type="TextString" value="vendor"/>\n');
    const s: TtlvItem = { tag: 0x54abcd, type: 'Structure', value: [a] };
    expect(one(toXml(s))).toEqual(s);
    // An unassigned standard tag is also written in hex.
    expect(toXml({ tag: 0x42ffff, type: 'Integer', value: 1 })).toContain('tag="0x42FFFF"');
  });

  it('refuses tags outside 0x42XXXX/0x54XXXX and unknown names', () => {
    expect(error(() => fromXml('<TTLV tag="0x550000" type="Integer" value="1"/>')).code).toBe('BAD_VALUE');
    expect(error(() => fromXml('<TTLV type="Integer" value="1"/>')).code).toBe('BAD_VALUE');
    const e = error(() => fromXml('<KMIP><RequestMesage/></KMIP>'));
    expect(e.code).toBe('BAD_VALUE');
    expect(e.offset).toBe(6);
  });
});

describe('placeholders', () => {
  it('parse to a typed default value with the raw text kept', () => {
    const msg = one(`<ResponsePayload>
      <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>
      <ActivationDate type="DateTime" value="$NOW-3600"/>
      <Data type="ByteString" value="$DATA_0"/>
      <CryptographicLength type="Integer" value="$LENGTH"/>
      <State type="Enumeration" value="$STATE"/>
      <Sensitive type="Boolean" value="$FLAG"/>
    </ResponsePayload>`);
    expect(msg.type === 'Structure' && msg.value).toEqual([
      { tag: Tag.UniqueIdentifier, type: 'TextString', value: '', placeholder: '$UNIQUE_IDENTIFIER_0' },
      { tag: Tag.ActivationDate, type: 'DateTime', value: 0n, placeholder: '$NOW-3600' },
      { tag: Tag.Data, type: 'ByteString', value: Buffer.alloc(0), placeholder: '$DATA_0' },
      { tag: Tag.CryptographicLength, type: 'Integer', value: 0, placeholder: '$LENGTH' },
      { tag: Tag.State, type: 'Enumeration', value: 0, placeholder: '$STATE' },
      { tag: Tag.Sensitive, type: 'Boolean', value: false, placeholder: '$FLAG' },
    ]);
  });

  it('are written back verbatim, and refused by the binary encoder', () => {
    const item = leaf('<TimeStamp type="DateTime" value="$NOW"/>');
    expect(toXml(item)).toBe('<TimeStamp type="DateTime" value="$NOW"/>\n');
    const e = error(() => encode(item));
    expect(e.code).toBe('PLACEHOLDER');
  });
});

describe('entities and escaping', () => {
  it('decodes the five named entities and numeric references', () => {
    const item = leaf('<NameValue type="TextString" value="a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x42;&#x1F600;"/>');
    expect(item.value).toBe(`a & b <c> "d" 'e' AB\u{1F600}`);
  });

  it('reads literal white space in a value as a space, references as themselves', () => {
    expect(leaf('<NameValue type="TextString" value="a\tb\r\nc&#10;d"/>').value).toBe('a b c\nd');
  });

  it('round-trips any text, control characters included', () => {
    const item: TtlvItem = { tag: Tag.NameValue, type: 'TextString', value: 'x<y>&"z"\n\t\r\u0000\u00e9 ok' };
    const xml = toXml(item);
    expect(xml).not.toMatch(/[\n\t\r\u0000](?!$)/);
    expect(one(xml)).toEqual(item);
  });

  it('refuses unknown entities and bad references', () => {
    for (const bad of ['&foo;', '&#xD800;', '&#x110000;', '& x']) {
      const text = `<NameValue type="TextString" value="${bad}"/>`;
      const e = error(() => fromXml(text));
      expect(e.code).toBe('SYNTAX');
      expect(e.offset).toBe(text.indexOf('&'));
    }
  });
});

describe('toXml', () => {
  const msg: TtlvItem = {
    tag: Tag.RequestMessage, type: 'Structure', value: [
      { tag: Tag.BatchCount, type: 'Integer', value: 1 },
      { tag: Tag.RequestPayload, type: 'Structure', value: [] },
    ],
  };

  it('indents two spaces by default and writes an empty structure self-closed', () => {
    expect(toXml(msg)).toBe('<RequestMessage>\n  <BatchCount type="Integer" value="1"/>\n  <RequestPayload/>\n</RequestMessage>\n');
  });

  it('wraps an array in <KMIP> by default, one item not; both can be overridden', () => {
    expect(toXml([msg], { indent: '' })).toBe('<KMIP><RequestMessage><BatchCount type="Integer" value="1"/><RequestPayload/></RequestMessage></KMIP>');
    expect(toXml(msg, { root: true, indent: '' }).startsWith('<KMIP><RequestMessage>')).toBe(true);
    expect(toXml([msg], { root: false, indent: '' }).startsWith('<RequestMessage>')).toBe(true);
  });

  it('refuses a value that does not fit its type', () => {
    expect(error(() => toXml({ tag: Tag.BatchCount, type: 'Integer', value: 1.5 })).code).toBe('BAD_VALUE');
    expect(error(() => toXml({ tag: Tag.BatchCount, type: 'Integer', value: 2 ** 31 })).code).toBe('BAD_VALUE');
    const e = error(() => toXml({ tag: Tag.RequestMessage, type: 'Structure', value: [{ tag: Tag.Modulus, type: 'BigInteger', value: 5 as unknown as bigint }] }));
    expect(e.path).toBe('RequestMessage/Modulus');
  });
});

describe('malformed XML: each with its error', () => {
  const cases: [string, string, 'SYNTAX' | 'BAD_VALUE' | 'TOO_DEEP', (t: string) => number][] = [
    ['empty document', '', 'SYNTAX', () => 0],
    ['only a comment', '<!-- x -->', 'SYNTAX', (t) => t.length],
    ['unclosed element', '<RequestMessage><BatchCount type="Integer" value="1"/>', 'SYNTAX', () => 0],
    ['mismatched end tag', '<RequestMessage></ResponseMessage>', 'SYNTAX', (t) => t.indexOf('</')],
    ['text content', '<RequestMessage>hello</RequestMessage>', 'SYNTAX', (t) => t.indexOf('hello')],
    ['CDATA', '<RequestMessage><![CDATA[x]]></RequestMessage>', 'SYNTAX', (t) => t.indexOf('<![')],
    ['DOCTYPE', '<!DOCTYPE KMIP [<!ENTITY a "b">]><KMIP/>', 'SYNTAX', () => 0],
    ['duplicate attribute', '<BatchCount type="Integer" type="Integer" value="1"/>', 'SYNTAX', (t) => t.lastIndexOf('type=')],
    ["'<' in a value", '<NameValue type="TextString" value="a<b"/>', 'SYNTAX', (t) => t.indexOf('<b')],
    ['unquoted attribute', '<BatchCount type=Integer value="1"/>', 'SYNTAX', (t) => t.indexOf('Integer')],
    ['unterminated attribute', '<BatchCount type="Integer value=1/>', 'SYNTAX', (t) => t.length],
    ['unterminated comment', '<KMIP><!-- x </KMIP>', 'SYNTAX', (t) => t.indexOf('<!--')],
    ['two root elements', '<RequestMessage/><ResponseMessage/>', 'SYNTAX', (t) => t.indexOf('<Resp')],
    ['unknown item type', '<BatchCount type="Float" value="1"/>', 'BAD_VALUE', (t) => t.indexOf('Float')],
    ['bad Integer', '<KMIP><RequestMessage><BatchCount type="Integer" value="x1"/></RequestMessage></KMIP>', 'BAD_VALUE', (t) => t.indexOf('x1')],
    ['missing value', '<BatchCount type="Integer"/>', 'BAD_VALUE', () => 0],
    ['value on a structure', '<RequestMessage value="1"></RequestMessage>', 'BAD_VALUE', (t) => t.indexOf('1')],
    ['children under a scalar', '<BatchCount type="Integer" value="1"><State type="Enumeration" value="Active"/></BatchCount>', 'BAD_VALUE', (t) => t.indexOf('<State')],
    ['unknown attribute', '<BatchCount type="Integer" value="1" name="x"/>', 'BAD_VALUE', (t) => t.indexOf('x"')],
  ];

  it.each(cases)('%s', (_name, text, code, offset) => {
    const e = error(() => fromXml(text));
    expect(e.code).toBe(code);
    expect(e.offset).toBe(offset(text));
  });

  it('gives the tag path of a bad value', () => {
    const e = error(() => fromXml('<KMIP><RequestMessage><BatchItem><Operation type="Enumeration" value="Fly"/></BatchItem></RequestMessage></KMIP>'));
    expect(e.path).toBe('RequestMessage/BatchItem/Operation');
    expect(e.message).toContain('RequestMessage/BatchItem/Operation');
  });

  it(`refuses nesting deeper than MAX_DEPTH (${MAX_DEPTH})`, () => {
    const depth = MAX_DEPTH + 5;
    const text = '<Attributes>'.repeat(depth) + '</Attributes>'.repeat(depth);
    expect(error(() => fromXml(text)).code).toBe('TOO_DEEP');
    const ok = '<Attributes>'.repeat(10) + '</Attributes>'.repeat(10);
    expect(one(ok).tag).toBe(Tag.Attributes);
  });
});
