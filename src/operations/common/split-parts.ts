// The Split Key object (KMIP 2.1 s.2.2.5; 1.4 s.2.2.5) as Create Split Key writes it and Join
// Split Key reads it: Split Key Parts, Key Part Identifier, Split Key Threshold, Split Key
// Method, Prime Field Size (prime field method only) and a Key Block holding the part's bytes
// (Raw) with the Cryptographic Algorithm and Length of the key that was split.
import { KeyFormatType, ResultReason } from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { KmipError } from '../../kmip/errors.ts';
import { bigInteger, byteString, child, enumeration, integer, isStructure, optEnum, optInt, required, structure, type Struct } from '../../kmip/items.ts';
import { SplitKeyError, type SplitParams } from '../../crypto/split-key.ts';
import { keyBlock, keyBlockOf } from './new-object.ts';

export interface SplitPartValue {
  params: SplitParams;
  id: number;
  bytes: Buffer;
  algorithm?: number;
  /** Bits of the key that was split. */
  length?: number;
}

/** The Split Key value of one part. */
export function splitKeyValue(p: SplitParams, id: number, bytes: Buffer, algorithm: number | undefined, length: number | undefined): Struct {
  const fields: TtlvItem[] = [
    integer(Tag.SplitKeyParts, p.parts),
    integer(Tag.KeyPartIdentifier, id),
    integer(Tag.SplitKeyThreshold, p.threshold),
    enumeration(Tag.SplitKeyMethod, p.method),
  ];
  if (p.prime !== undefined) fields.push(bigInteger(Tag.PrimeFieldSize, p.prime));
  fields.push(keyBlock(KeyFormatType.Raw, byteString(Tag.KeyMaterial, bytes), algorithm, length));
  return structure(Tag.SplitKey, fields);
}

const bad = (msg: string): never => { throw new KmipError(ResultReason.InvalidField, msg); };

/** Reads a Split Key value (a registered one included); Invalid Field when a field is missing or malformed. */
export function readSplitKeyValue(value: TtlvItem | undefined, uid: string): SplitPartValue {
  if (!isStructure(value) || value.tag !== Tag.SplitKey) bad(`object ${uid} has no Split Key value`);
  const v = value as Struct;
  const prime = child(v, Tag.PrimeFieldSize);
  if (prime !== undefined && prime.type !== 'BigInteger') bad(`Prime Field Size of ${uid} must be a Big Integer`);
  const params: SplitParams = {
    parts: required(optInt(v, Tag.SplitKeyParts), Tag.SplitKeyParts),
    threshold: required(optInt(v, Tag.SplitKeyThreshold), Tag.SplitKeyThreshold),
    method: required(optEnum(v, Tag.SplitKeyMethod), Tag.SplitKeyMethod),
    ...(prime?.type === 'BigInteger' ? { prime: prime.value } : {}),
  };
  const id = required(optInt(v, Tag.KeyPartIdentifier), Tag.KeyPartIdentifier);
  const kb = keyBlockOf(v) ?? bad(`Split Key ${uid} has no Key Block`);
  if (child(kb, Tag.KeyWrappingData) !== undefined) bad(`Split Key ${uid} is wrapped; join needs the parts in the clear`);
  const kv = child(kb, Tag.KeyValue);
  const km = isStructure(kv) ? child(kv, Tag.KeyMaterial) : undefined;
  if (km?.type !== 'ByteString') bad(`the Key Material of Split Key ${uid} must be a Byte String`);
  const alg = optEnum(kb, Tag.CryptographicAlgorithm);
  const len = optInt(kb, Tag.CryptographicLength);
  return {
    params, id, bytes: (km as { value: Buffer }).value,
    ...(alg !== undefined ? { algorithm: alg } : {}),
    ...(len !== undefined ? { length: len } : {}),
  };
}

/** Split-key arithmetic errors are the client's: wrong counts, wrong prime, too few parts. */
export function withSplitErrors<T>(f: () => T, reason: number = ResultReason.InvalidField): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SplitKeyError) throw new KmipError(reason, e.message);
    throw e;
  }
}
