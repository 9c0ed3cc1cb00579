// Issue 13 §4: the version-shaping audit. Every response the adapters produce for a client of
// version v carries only what v defines: tags (kmip-constants.json `since`/`removed`), and the
// fields whose tag is older than their place in a structure (FIELD_SINCE: Digest's Key Format
// Type is 1.1+, Cryptographic Parameters' Digital Signature Algorithm / Cryptographic
// Algorithm are 1.2+). One check per version: 1.0, 1.1, 1.2, 1.3, 1.4, 2.0.
import { describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  AttestationType, BlockCipherMode, CryptographicAlgorithm as Alg, DigitalSignatureAlgorithm as DSA, HashingAlgorithm, KeyFormatType,
  ObjectType, Operation, PaddingMethod,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { boolean, byteString, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { responseFromInternal, tagDefinedIn } from '../../src/kmip/adapters/index.ts';
import { FIELD_SINCE } from '../../src/kmip/adapters/filter.ts';
import { atLeast, type ProtocolVersion } from '../../src/kmip/version.ts';

const VERSIONS: ProtocolVersion[] = [
  { major: 1, minor: 0 }, { major: 1, minor: 1 }, { major: 1, minor: 2 }, { major: 1, minor: 3 }, { major: 1, minor: 4 }, { major: 2, minor: 0 },
];
const label = (v: ProtocolVersion) => `${v.major}.${v.minor}`;

const digest = structure(Tag.Digest, [
  enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256), byteString(Tag.DigestValue, Buffer.alloc(32, 1)),
  enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
]);
const cryptoParams = structure(Tag.CryptographicParameters, [
  enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC), enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5),
  enumeration(Tag.DigitalSignatureAlgorithm, DSA.SHA_256WithRSAEncryption), enumeration(Tag.CryptographicAlgorithm, Alg.AES),
  boolean(Tag.RandomIV, true), integer(Tag.SaltLength, 32),
]);
const keyBlock = structure(Tag.KeyBlock, [
  enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.alloc(16, 2))]),
  enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 128),
]);

function tagsOf(item: TtlvItem, out: number[] = []): number[] {
  out.push(item.tag);
  if (item.type === 'Structure') for (const c of item.value) tagsOf(c, out);
  return out;
}
function find(item: TtlvItem, tag: number): Struct[] {
  const out: Struct[] = [];
  const walk = (i: TtlvItem) => {
    if (i.tag === tag && i.type === 'Structure') out.push(i);
    if (i.type === 'Structure') i.value.forEach(walk);
  };
  walk(item);
  return out;
}
/** The children of the Attribute Values / structures found under `tag`, as tags. */
const fieldsOf = (s: Struct) => s.value.map((c) => c.tag);
/** In 1.x the attribute arrives as Attribute{Name, Value}; the value holds the fields. */
function fieldsOfAttribute(resp: Struct, name: string, structTag: number, v: ProtocolVersion): number[] | undefined {
  if (v.major >= 2) return find(resp, structTag).map(fieldsOf)[0];
  for (const a of resp.value) {
    if (a.tag !== Tag.Attribute || a.type !== 'Structure') continue;
    const n = a.value.find((c) => c.tag === Tag.AttributeName);
    const val = a.value.find((c) => c.tag === Tag.AttributeValue);
    if (n?.value === name && val?.type === 'Structure') return fieldsOf(val);
  }
  return undefined;
}
function expectOnlyDefinedTags(item: TtlvItem, v: ProtocolVersion): void {
  const undefinedTags = tagsOf(item).filter((t) => !tagDefinedIn(t, v));
  expect(undefinedTags.map((t) => '0x' + t.toString(16)), `tags not defined in ${label(v)}`).toEqual([]);
  // and no field before its version in the audited structures
  for (const [parent, fields] of FIELD_SINCE) {
    for (const s of find(item, parent)) {
      for (const c of s.value) {
        const since = fields.get(c.tag);
        if (since !== undefined) expect(atLeast(v, since), `0x${c.tag.toString(16)} in 0x${parent.toString(16)} for ${label(v)}`).toBe(true);
      }
    }
  }
}

describe('version shaping: every response field by version (issue 13 §4)', () => {
  for (const v of VERSIONS) {
    it(`KMIP ${label(v)}: Get Attributes (Digest, Cryptographic Parameters), Get (Key Block), Query`, () => {
      const ga = responseFromInternal(v, Operation.GetAttributes, structure(Tag.ResponsePayload, [
        textString(Tag.UniqueIdentifier, 'u'), structure(Tag.Attributes, [digest, cryptoParams, enumeration(Tag.KeyFormatType, KeyFormatType.Raw)]),
      ]));
      expectOnlyDefinedTags(ga, v);
      const d = fieldsOfAttribute(ga, 'Digest', Tag.Digest, v);
      // 1.0 s.3.17 has no Key Format Type in Digest; 1.1 added it.
      expect(d).toEqual(atLeast(v, '1.1')
        ? [Tag.HashingAlgorithm, Tag.DigestValue, Tag.KeyFormatType] : [Tag.HashingAlgorithm, Tag.DigestValue]);
      const cp = fieldsOfAttribute(ga, 'Cryptographic Parameters', Tag.CryptographicParameters, v)!;
      expect(cp.includes(Tag.DigitalSignatureAlgorithm)).toBe(atLeast(v, '1.2'));
      expect(cp.includes(Tag.CryptographicAlgorithm)).toBe(atLeast(v, '1.2'));
      expect(cp.includes(Tag.RandomIV)).toBe(atLeast(v, '1.2'));
      expect(cp.includes(Tag.SaltLength)).toBe(atLeast(v, '1.4'));
      expect(cp.slice(0, 2)).toEqual([Tag.BlockCipherMode, Tag.PaddingMethod]);

      const get = responseFromInternal(v, Operation.Get, structure(Tag.ResponsePayload, [
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey), textString(Tag.UniqueIdentifier, 'u'), structure(Tag.SymmetricKey, [keyBlock]),
      ]));
      expectOnlyDefinedTags(get, v);
      // The Key Block of 1.0 s.2.1.3 already has every field the server writes.
      expect(find(get, Tag.KeyBlock).map(fieldsOf)[0]).toEqual([Tag.KeyFormatType, Tag.KeyValue, Tag.CryptographicAlgorithm, Tag.CryptographicLength]);

      const q = responseFromInternal(v, Operation.Query, structure(Tag.ResponsePayload, [
        enumeration(Tag.Operation, Operation.Create), enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        textString(Tag.VendorIdentification, 'OpenKCM'),
        structure(Tag.ExtensionInformation, [textString(Tag.ExtensionName, 'x')]),
        enumeration(Tag.AttestationType, AttestationType.TPMQuote),
        structure(Tag.RNGParameters, [enumeration(Tag.RNGAlgorithm, 1)]),
      ]));
      expectOnlyDefinedTags(q, v);
      const qTags = q.value.map((c) => c.tag);
      expect(qTags.includes(Tag.ExtensionInformation)).toBe(atLeast(v, '1.1'));
      expect(qTags.includes(Tag.AttestationType)).toBe(atLeast(v, '1.2'));
      expect(qTags.includes(Tag.RNGParameters)).toBe(atLeast(v, '1.3'));
    });
  }
});
