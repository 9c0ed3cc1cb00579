// KMIP payloads of the audit suites (audit-gaps, audit-tls): an AES-256 key imported under a
// chosen Unique Identifier, and a single-part AES-CBC Encrypt with it.
import { randomBytes } from 'node:crypto';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, PaddingMethod } from '../../src/ttlv/generated/enumerations.ts';
import { boolean, byteString, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

const UID = (u: string) => textString(Tag.UniqueIdentifier, u);

export function importPayload(uid: string, key = randomBytes(32)): TtlvItem[] {
  return [
    UID(uid),
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    ]),
    structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
      structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
    ])]),
  ];
}

export const encryptPayload = (uid: string): TtlvItem[] => [
  UID(uid),
  structure(Tag.CryptographicParameters, [
    enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC), enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5), boolean(Tag.RandomIV, true),
  ]),
  byteString(Tag.Data, Buffer.from('attack at dawn')),
];
