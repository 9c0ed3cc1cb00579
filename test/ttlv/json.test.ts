// KMIP JSON encoding (KMIP Profiles 2.1 §5.5): value forms, context enumerations,
// placeholders, plain-object entry points, and malformed input with its error.
import { describe, expect, it } from 'vitest';
import { TtlvError } from '../../src/ttlv/errors.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, HashingAlgorithm } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { MAX_DEPTH } from '../../src/ttlv/limits.ts';
import { fromJson, fromJsonValue, toJson, toJsonValue } from '../../src/ttlv/json.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { fromXml } from '../../src/ttlv/xml.ts';

function error(fn: () => unknown): TtlvError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TtlvError);
    return e as TtlvError;
  }
  throw new Error('expected a TtlvError');
}

function item(json: string): TtlvItem {
  const v = fromJson(json);
  expect(Array.isArray(v)).toBe(false);
  return v as TtlvItem;
}

const scalar = (tag: string, type: string, value: unknown) => item(JSON.stringify({ tag, type, value }));

describe('fromJson: items', () => {
  it('reads a structure; "type" may be left out for a Structure', () => {
    const json = `{"tag":"RequestMessage","value":[
      {"tag":"RequestHeader","type":"Structure","value":[
        {"tag":"ProtocolVersion","value":[
          {"tag":"ProtocolVersionMajor","type":"Integer","value":2},
          {"tag":"ProtocolVersionMinor","type":"Integer","value":1}]},
        {"tag":"BatchCount","type":"Integer","value":1}]},
      {"tag":"BatchItem","value":[{"tag":"Operation","type":"Enumeration","value":"Query"}]}]}`;
    const xml = `<RequestMessage><RequestHeader><ProtocolVersion>
      <ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
      <BatchCount type="Integer" value="1"/></RequestHeader>
      <BatchItem><Operation type="Enumeration" value="Query"/></BatchItem></RequestMessage>`;
    expect(item(json)).toEqual(fromXml(xml)[0]);
  });

  it('an array of items reads as an array; an empty Structure may omit "value"', () => {
    expect(fromJson('[{"tag":"RequestMessage"},{"tag":"ResponseMessage","type":"Structure","value":[]}]')).toEqual([
      { tag: Tag.RequestMessage, type: 'Structure', value: [] },
      { tag: Tag.ResponseMessage, type: 'Structure', value: [] },
    ]);
  });

  it('tags by hex, extension tags written in hex', () => {
    expect(scalar('0x42000D', 'Integer', 3)).toEqual({ tag: Tag.BatchCount, type: 'Integer', value: 3 });
    const ext = scalar('0x540001', 'TextString', 'v');
    expect(ext.tag).toBe(0x540001);
    expect(toJsonValue(ext)).toEqual({ tag: '0x540001', type: 'TextString', value: 'v' });
  });
});

describe('value forms', () => {
  it('Integer: number, hex string, decimal string', () => {
    expect(scalar('BatchCount', 'Integer', 7).value).toBe(7);
    expect(scalar('BatchCount', 'Integer', '0xFFFFFFFF').value).toBe(-1);
    expect(scalar('BatchCount', 'Integer', '12').value).toBe(12);
    expect(error(() => scalar('BatchCount', 'Integer', 1.5)).code).toBe('BAD_VALUE');
    expect(error(() => scalar('BatchCount', 'Integer', 2 ** 31)).code).toBe('BAD_VALUE');
  });

  it('masks: names joined by | (or spaces) in, | out', () => {
    const m = scalar('CryptographicUsageMask', 'Integer', 'Encrypt|Decrypt');
    expect(m.value).toBe(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt);
    expect(scalar('CryptographicUsageMask', 'Integer', 'Decrypt Encrypt').value).toBe(m.value);
    expect(scalar('CryptographicUsageMask', 'Integer', 12).value).toBe(m.value);
    expect(toJsonValue(m)).toEqual({ tag: 'CryptographicUsageMask', type: 'Integer', value: 'Encrypt|Decrypt' });
    expect(error(() => scalar('CryptographicUsageMask', 'Integer', 'Encrypt|Nope')).code).toBe('BAD_VALUE');
  });

  it('LongInteger: 64-bit numbers exact, beyond 2^53 written as hex', () => {
    expect(item('{"tag":"UsageLimitsTotal","type":"LongInteger","value":9223372036854775807}').value).toBe((1n << 63n) - 1n);
    expect(scalar('UsageLimitsTotal', 'LongInteger', '-9223372036854775808').value).toBe(-(1n << 63n));
    expect(scalar('UsageLimitsTotal', 'LongInteger', '0xFFFFFFFFFFFFFFFF').value).toBe(-1n);
    const big: TtlvItem = { tag: Tag.UsageLimitsTotal, type: 'LongInteger', value: (1n << 62n) + 1n };
    expect(toJsonValue(big)).toEqual({ tag: 'UsageLimitsTotal', type: 'LongInteger', value: '0x4000000000000001' });
    expect(item(toJson(big))).toEqual(big);
    expect(toJsonValue({ tag: Tag.UsageLimitsTotal, type: 'LongInteger', value: -16n })).toEqual({ tag: 'UsageLimitsTotal', type: 'LongInteger', value: -16 });
    expect(error(() => item('{"tag":"UsageLimitsTotal","type":"LongInteger","value":9223372036854775808}')).code).toBe('BAD_VALUE');
  });

  it('BigInteger: hex string, two\'s complement', () => {
    expect(scalar('Modulus', 'BigInteger', '0xFF').value).toBe(-1n);
    expect(scalar('Modulus', 'BigInteger', '0080').value).toBe(128n);
    expect(toJsonValue({ tag: Tag.Modulus, type: 'BigInteger', value: -1n })).toEqual({ tag: 'Modulus', type: 'BigInteger', value: '0xffffffffffffffff' });
    expect(error(() => scalar('Modulus', 'BigInteger', 5)).code).toBe('BAD_VALUE');
  });

  it('Enumeration: name, hex, number', () => {
    expect(scalar('CryptographicAlgorithm', 'Enumeration', 'AES').value).toBe(CryptographicAlgorithm.AES);
    expect(scalar('CryptographicAlgorithm', 'Enumeration', '0x00000003').value).toBe(CryptographicAlgorithm.AES);
    expect(scalar('CryptographicAlgorithm', 'Enumeration', 3).value).toBe(CryptographicAlgorithm.AES);
    expect(toJsonValue({ tag: Tag.CryptographicAlgorithm, type: 'Enumeration', value: 0x80000010 }))
      .toEqual({ tag: 'CryptographicAlgorithm', type: 'Enumeration', value: '0x80000010' });
    expect(error(() => scalar('CryptographicAlgorithm', 'Enumeration', 'AESX')).code).toBe('BAD_VALUE');
  });

  it('Boolean: true/false only', () => {
    expect(scalar('BatchOrderOption', 'Boolean', true).value).toBe(true);
    expect(error(() => scalar('BatchOrderOption', 'Boolean', 'true')).code).toBe('BAD_VALUE');
    expect(error(() => scalar('BatchOrderOption', 'Boolean', 1)).code).toBe('BAD_VALUE');
  });

  it('ByteString and TextString', () => {
    expect(scalar('UniqueBatchItemID', 'ByteString', 'A1b2').value).toEqual(Buffer.from([0xa1, 0xb2]));
    expect(toJsonValue({ tag: Tag.UniqueBatchItemID, type: 'ByteString', value: Buffer.from([1, 2]) })).toEqual({ tag: 'UniqueBatchItemID', type: 'ByteString', value: '0102' });
    expect(error(() => scalar('UniqueBatchItemID', 'ByteString', 12)).code).toBe('BAD_VALUE');
    expect(scalar('NameValue', 'TextString', 'é\n"').value).toBe('é\n"');
    expect(error(() => scalar('NameValue', 'TextString', 5)).code).toBe('BAD_VALUE');
  });

  it('DateTime: ISO string (offsets accepted, Z written) or the POSIX number', () => {
    const d = scalar('ActivationDate', 'DateTime', '2000-02-01T00:00:00+10:00');
    expect(d.value).toBe(BigInt(Date.parse('2000-02-01T00:00:00+10:00') / 1000));
    expect(toJsonValue(d)).toEqual({ tag: 'ActivationDate', type: 'DateTime', value: '2000-01-31T14:00:00Z' });
    expect(scalar('ActivationDate', 'DateTime', 60).value).toBe(60n);
    const x = scalar('SubmissionDate', 'DateTimeExtended', '2020-01-01T00:00:00.5Z');
    expect(x.value).toBe(BigInt(Date.parse('2020-01-01T00:00:00Z')) * 1000n + 500_000n);
    expect(toJsonValue(x)).toEqual({ tag: 'SubmissionDate', type: 'DateTimeExtended', value: '2020-01-01T00:00:00.500000Z' });
  });
});

describe('context enumerations and placeholders', () => {
  it('AttributeReference holds a Tag; 1.x AttributeValue follows its AttributeName', () => {
    expect(scalar('AttributeReference', 'Enumeration', 'CryptographicLength').value).toBe(Tag.CryptographicLength);
    const attr = item(`{"tag":"Attribute","value":[
      {"tag":"AttributeValue","type":"Integer","value":"Sign|Verify"},
      {"tag":"AttributeName","type":"TextString","value":"Cryptographic Usage Mask"}]}`);
    expect(attr.type === 'Structure' && attr.value[0]!.value).toBe(CryptographicUsageMask.Sign | CryptographicUsageMask.Verify);
    expect(toJson(attr)).toContain('"value":"Sign|Verify"');
    expect(scalar('MaskGeneratorHashingAlgorithm', 'Enumeration', 'SHA_512').value).toBe(HashingAlgorithm.SHA_512);
  });

  it('a $ value is a placeholder of the declared type, written back as is', () => {
    const p = scalar('UniqueIdentifier', 'TextString', '$UNIQUE_IDENTIFIER_3');
    expect(p).toEqual({ tag: Tag.UniqueIdentifier, type: 'TextString', value: '', placeholder: '$UNIQUE_IDENTIFIER_3' });
    expect(toJsonValue(p)).toEqual({ tag: 'UniqueIdentifier', type: 'TextString', value: '$UNIQUE_IDENTIFIER_3' });
    const t = scalar('TimeStamp', 'DateTime', '$NOW');
    expect(t).toEqual({ tag: Tag.TimeStamp, type: 'DateTime', value: 0n, placeholder: '$NOW' });
    expect(scalar('Data', 'ByteString', '$DATA_0')).toEqual({ tag: Tag.Data, type: 'ByteString', value: Buffer.alloc(0), placeholder: '$DATA_0' });
  });
});

describe('plain-object entry points', () => {
  const tree: TtlvItem = {
    tag: Tag.Attributes, type: 'Structure', value: [
      { tag: Tag.CryptographicAlgorithm, type: 'Enumeration', value: CryptographicAlgorithm.AES },
      { tag: Tag.CryptographicLength, type: 'Integer', value: 256 },
      { tag: Tag.ActivationDate, type: 'DateTime', value: 946684800n },
      { tag: Tag.Modulus, type: 'BigInteger', value: 65537n },
    ],
  };

  it('toJsonValue gives names and JSON-safe values; fromJsonValue reads them back', () => {
    const v = toJsonValue(tree);
    expect(v).toEqual({
      tag: 'Attributes', type: 'Structure', value: [
        { tag: 'CryptographicAlgorithm', type: 'Enumeration', value: 'AES' },
        { tag: 'CryptographicLength', type: 'Integer', value: 256 },
        { tag: 'ActivationDate', type: 'DateTime', value: '2000-01-01T00:00:00Z' },
        { tag: 'Modulus', type: 'BigInteger', value: '0x0000000000010001' },
      ],
    });
    expect(fromJsonValue(JSON.parse(JSON.stringify(v)))).toEqual(tree);
    expect(fromJsonValue({ tag: 'UsageLimitsTotal', type: 'LongInteger', value: 5n })).toEqual({ tag: Tag.UsageLimitsTotal, type: 'LongInteger', value: 5n });
  });

  it('fromJsonValue reports errors with the tag path', () => {
    const e = error(() => fromJsonValue({ tag: 'Attributes', value: [{ tag: 'CryptographicLength', type: 'Integer', value: 'big' }] }));
    expect(e.code).toBe('BAD_VALUE');
    expect(e.path).toBe('Attributes/CryptographicLength');
    expect(error(() => fromJsonValue({ tag: 'BatchCount', type: 'Integer', value: NaN })).code).toBe('BAD_VALUE');
    expect(error(() => fromJsonValue('RequestMessage')).code).toBe('BAD_VALUE');
  });

  it('toJson: compact by default, indented on request, arrays for lists', () => {
    expect(toJson({ tag: Tag.BatchCount, type: 'Integer', value: 1 })).toBe('{"tag":"BatchCount","type":"Integer","value":1}');
    expect(toJson([tree], { indent: 2 })).toContain('\n  {\n    "tag": "Attributes"');
    expect(fromJson(toJson([tree, tree]))).toEqual([tree, tree]);
  });
});

describe('malformed JSON: each with its error', () => {
  const cases: [string, string, 'SYNTAX' | 'BAD_VALUE', (t: string) => number][] = [
    ['empty text', '', 'SYNTAX', () => 0],
    ['trailing comma', '{"tag":"RequestMessage","value":[],}', 'SYNTAX', (t) => t.indexOf('}')],
    ['missing colon', '{"tag" "RequestMessage"}', 'SYNTAX', (t) => t.indexOf('"R')],
    ['unterminated string', '{"tag":"Request', 'SYNTAX', (t) => t.length],
    ['control character in a string', '{"tag":"Req\nuest"}', 'SYNTAX', (t) => t.indexOf('\n')],
    ['bad escape', '{"tag":"\\q"}', 'SYNTAX', (t) => t.indexOf('\\')],
    ['duplicate key', '{"tag":"BatchCount","tag":"BatchItem"}', 'SYNTAX', (t) => t.lastIndexOf('"tag"')],
    ['content after the value', '{"tag":"RequestMessage"} x', 'SYNTAX', (t) => t.indexOf('x')],
    ['bare word', '{"tag":RequestMessage}', 'SYNTAX', (t) => t.indexOf('R')],
    ['not an object', '42', 'BAD_VALUE', () => 0],
    ['missing tag', '{"type":"Integer","value":1}', 'BAD_VALUE', () => 0],
    ['unknown tag', '{"tag":"RequestMesage"}', 'BAD_VALUE', (t) => t.indexOf('"RequestMesage"')],
    ['tag not a string', '{"tag":66}', 'BAD_VALUE', (t) => t.indexOf('66')],
    ['unknown type', '{"tag":"BatchCount","type":"Float","value":1}', 'BAD_VALUE', (t) => t.indexOf('"Float"')],
    ['unknown key', '{"tag":"BatchCount","type":"Integer","value":1,"name":"x"}', 'BAD_VALUE', (t) => t.indexOf('"x"')],
    ['missing value', '{"tag":"BatchCount","type":"Integer"}', 'BAD_VALUE', () => 0],
    ['structure value not an array', '{"tag":"RequestMessage","value":{}}', 'BAD_VALUE', (t) => t.indexOf('{}')],
    ['child not an object', '{"tag":"RequestMessage","value":[1]}', 'BAD_VALUE', (t) => t.indexOf('1]')],
    ['null value', '{"tag":"BatchCount","type":"Integer","value":null}', 'BAD_VALUE', (t) => t.indexOf('null')],
  ];

  it.each(cases)('%s', (_name, text, code, offset) => {
    const e = error(() => fromJson(text));
    expect(e.code).toBe(code);
    expect(e.offset).toBe(offset(text));
  });

  it('gives the tag path of a bad value', () => {
    const e = error(() => fromJson('{"tag":"RequestMessage","value":[{"tag":"BatchItem","value":[{"tag":"Operation","type":"Enumeration","value":"Fly"}]}]}'));
    expect(e.path).toBe('RequestMessage/BatchItem/Operation');
  });

  it(`refuses nesting deeper than MAX_DEPTH (${MAX_DEPTH})`, () => {
    const depth = MAX_DEPTH + 10;
    const text = '{"tag":"Attributes","value":['.repeat(depth) + ']}'.repeat(depth);
    expect(error(() => fromJson(text)).code).toBe('SYNTAX');
  });
});
