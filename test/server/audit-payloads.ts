// KMIP payloads of the server suites (audit-gaps, audit-tls, runtime, runtime-postgres): an
// AES-256 key registered or imported under a chosen Unique Identifier, and a single-part
// AES-CBC Encrypt with it.
import { randomBytes } from 'node:crypto';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, PaddingMethod } from '../../src/ttlv/generated/enumerations.ts';
import { boolean, byteString, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

const UID = (u: string) => textString(Tag.UniqueIdentifier, u);

/**
 * Object Type, Attributes and the Symmetric Key of a raw AES-256 key for Encrypt/Decrypt: the
 * body of a 2.x Register (or Import, after a Unique Identifier). `extraAttributes` (a Name…)
 * are added to the Attributes.
 */
export function aes256KeyItems(key: Buffer, extraAttributes: TtlvItem[] = []): TtlvItem[] {
  return [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      ...extraAttributes,
    ]),
    structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
      structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
    ])]),
  ];
}

export function importPayload(uid: string, key = randomBytes(32)): TtlvItem[] {
  return [UID(uid), ...aes256KeyItems(key)];
}

export const encryptPayload = (uid: string): TtlvItem[] => [
  UID(uid),
  structure(Tag.CryptographicParameters, [
    enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC), enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5), boolean(Tag.RandomIV, true),
  ]),
  byteString(Tag.Data, Buffer.from('attack at dawn')),
];
