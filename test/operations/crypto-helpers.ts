// Shared by the test/operations/crypto-*.test.ts suites: registering and creating keys
// through the real operations, and calling the cryptographic operations.
import { KmipError } from '../../src/kmip/errors.ts';
import { byteString, child, dateTime, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { createKeyPair } from '../../src/operations/create-key-pair.ts';
import { register } from '../../src/operations/register.ts';
import type { OperationContext, OperationHandler } from '../../src/operations/types.ts';
import { KeyFormatType as KFT, ObjectType } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

export const hourAgo = () => new Date(Date.now() - 3600_000);

export async function reasonOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
  return undefined;
}

export const call = (ctx: OperationContext, op: OperationHandler, fields: TtlvItem[]): Promise<Struct> =>
  op.run(ctx, structure(Tag.RequestPayload, fields));

export const bytesOf = (r: Struct, tag: number): Buffer => {
  const c = child(r, tag);
  if (c?.type !== 'ByteString') throw new Error(`no byte string 0x${tag.toString(16)} in response`);
  return c.value;
};
export const enumOf = (r: Struct, tag: number): number | undefined => {
  const c = child(r, tag);
  return c?.type === 'Enumeration' ? c.value : undefined;
};
export const textOf = (r: Struct, tag: number): string => (child(r, tag) as { value: string }).value;

export interface KeyOptions {
  mask: number;
  /** Active (default), or Pre-Active when false. */
  active?: boolean;
  extra?: TtlvItem[];
}

/** Registers a Raw symmetric key (2.1 payload). */
export async function registerSymmetric(ctx: OperationContext, algorithm: number, key: Buffer, o: KeyOptions): Promise<string> {
  const attrs: TtlvItem[] = [integer(Tag.CryptographicUsageMask, o.mask), ...(o.extra ?? [])];
  if (o.active !== false) attrs.push(dateTime(Tag.ActivationDate, hourAgo()));
  const r = await call(ctx, register, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, attrs),
    structure(Tag.SymmetricKey, [
      structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KFT.Raw),
        structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
        enumeration(Tag.CryptographicAlgorithm, algorithm),
        integer(Tag.CryptographicLength, key.length * 8),
      ]),
    ]),
  ]);
  return textOf(r, Tag.UniqueIdentifier);
}

/** Creates an Active key pair; `common` holds algorithm, length or domain parameters. */
export async function createPair(ctx: OperationContext, common: TtlvItem[], privMask: number, pubMask: number, privExtra: TtlvItem[] = [], pubExtra: TtlvItem[] = []): Promise<{ priv: string; pub: string }> {
  const r = await call(ctx, createKeyPair, [
    structure(Tag.CommonAttributes, [...common, dateTime(Tag.ActivationDate, hourAgo())]),
    structure(Tag.PrivateKeyAttributes, [integer(Tag.CryptographicUsageMask, privMask), ...privExtra]),
    structure(Tag.PublicKeyAttributes, [integer(Tag.CryptographicUsageMask, pubMask), ...pubExtra]),
  ]);
  return { priv: textOf(r, Tag.PrivateKeyUniqueIdentifier), pub: textOf(r, Tag.PublicKeyUniqueIdentifier) };
}

export const uidField = (uid: string) => textString(Tag.UniqueIdentifier, uid);
export const params = (...fields: TtlvItem[]) => structure(Tag.CryptographicParameters, fields);
