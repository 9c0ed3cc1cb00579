// Create Split Key / Join Split Key (KMIP 2.1 s.6.1 Create Split Key, s.6.1 Join Split Key) through a real store: the
// parts are Split Key objects (s.2.2.5) with their split fields, threshold-many of them join
// into the key that was split (checked by encrypting with both), and what must be refused is.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CryptographicAlgorithm, KeyFormatType, ObjectType, ResultReason, SecretDataType, SplitKeyMethod,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { bigInteger, boolean, byteString, child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { create } from '../../src/operations/create.ts';
import { createSplitKey } from '../../src/operations/create-split-key.ts';
import { joinSplitKey } from '../../src/operations/join-split-key.ts';
import { register } from '../../src/operations/register.ts';
import { get } from '../../src/operations/get.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const uids = (s: Struct) => children(s, Tag.UniqueIdentifier).map((c) => (c as { value: string }).value);
const P127 = (1n << 127n) - 1n;

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

async function newKey(bits = 256, extra: TtlvItem[] = []): Promise<string> {
  const res = await create.run(t.ctx, P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, bits), integer(Tag.CryptographicUsageMask, 12), ...extra]),
  ));
  return uids(res)[0]!;
}

async function material(uid: string): Promise<Buffer> {
  const got = await get.run(t.ctx, P(UID(uid)));
  const obj = got.value.find((c) => c.tag === Tag.SymmetricKey || c.tag === Tag.SplitKey || c.tag === Tag.SecretData) as Struct;
  const kb = child(obj, Tag.KeyBlock) as Struct;
  return (child(child(kb, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;
}

async function failsWith(h: OperationHandler, payload: Struct, r: number): Promise<string> {
  const err = await h.run(t.ctx, payload).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KmipError);
  expect((err as KmipError).reason).toBe(r);
  return (err as KmipError).message;
}

const splitOf = (uid: string | undefined, parts: number, threshold: number, method: number, more: TtlvItem[] = []) => P(
  enumeration(Tag.ObjectType, ObjectType.SplitKey), ...(uid === undefined ? [] : [UID(uid)]),
  integer(Tag.SplitKeyParts, parts), integer(Tag.SplitKeyThreshold, threshold), enumeration(Tag.SplitKeyMethod, method), ...more,
  structure(Tag.Attributes, []),
);
const joinOf = (parts: string[], type: number = ObjectType.SymmetricKey, more: TtlvItem[] = []) =>
  P(enumeration(Tag.ObjectType, type), ...parts.map(UID), ...more);

describe('Create Split Key / Join Split Key', () => {
  const cases: [string, number, number, number, TtlvItem[]][] = [
    ['XOR', SplitKeyMethod.XOR, 3, 3, []],
    ['GF(2^8)', SplitKeyMethod.PolynomialSharingGF2_8, 5, 3, []],
    ['GF(2^16)', SplitKeyMethod.PolynomialSharingGF2_16, 4, 2, []],
    ['prime field', SplitKeyMethod.PolynomialSharingPrimeField, 3, 2, [bigInteger(Tag.PrimeFieldSize, P127)]],
  ];
  it.each(cases)('%s: the parts join into the key that was split', async (_n, method, parts, threshold, more) => {
    const bits = method === SplitKeyMethod.PolynomialSharingPrimeField ? 128 : 256;
    // A prime-field secret must be below the prime: retry the (rare) key with its top bit set.
    let key = await newKey(bits);
    while (method === SplitKeyMethod.PolynomialSharingPrimeField && ((await material(key))[0]! & 0x80) !== 0) key = await newKey(bits);
    const res = await createSplitKey.run(t.ctx, splitOf(key, parts, threshold, method, more));
    const ids = uids(res);
    expect(ids).toHaveLength(parts);
    const stored = (await t.repo.load(ids[1]!))!;
    expect(stored.objectType).toBe(ObjectType.SplitKey);
    const v = stored.value as Struct;
    expect(child(v, Tag.SplitKeyParts)).toEqual(integer(Tag.SplitKeyParts, parts));
    expect(child(v, Tag.KeyPartIdentifier)).toEqual(integer(Tag.KeyPartIdentifier, 2));
    expect(child(v, Tag.SplitKeyThreshold)).toEqual(integer(Tag.SplitKeyThreshold, threshold));
    expect(child(v, Tag.SplitKeyMethod)).toEqual(enumeration(Tag.SplitKeyMethod, method));
    expect(stored.attributes).toContainEqual(enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES));

    // The last threshold-many parts, in reverse order.
    const use = ids.slice(parts - threshold).reverse();
    const joined = uids(await joinSplitKey.run(t.ctx, joinOf(use)))[0]!;
    expect(t.ctx.batch.idPlaceholder).toBe(joined);
    expect((await material(joined)).equals(await material(key))).toBe(true);
    const j = (await t.repo.load(joined))!;
    expect(j.attributes).toContainEqual(integer(Tag.CryptographicLength, bits));
    if (threshold > 1) {
      await failsWith(joinSplitKey, joinOf(ids.slice(0, threshold - 1)), ResultReason.MissingData);
    }
  });

  it('generates a new key when no Unique Identifier is given, and joins it into Secret Data', async () => {
    const res = await createSplitKey.run(t.ctx, P(
      enumeration(Tag.ObjectType, ObjectType.SplitKey), integer(Tag.SplitKeyParts, 3), integer(Tag.SplitKeyThreshold, 2),
      enumeration(Tag.SplitKeyMethod, SplitKeyMethod.PolynomialSharingGF2_8),
      structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 192)]),
    ));
    const ids = uids(res);
    expect(ids).toHaveLength(3);
    const key = uids(await joinSplitKey.run(t.ctx, joinOf([ids[0]!, ids[2]!])))[0]!;
    expect(await material(key)).toHaveLength(24);
    const sd = uids(await joinSplitKey.run(t.ctx, joinOf([ids[1]!, ids[2]!], ObjectType.SecretData, [enumeration(Tag.SecretDataType, SecretDataType.Seed)])))[0]!;
    expect((await material(sd)).equals(await material(key))).toBe(true);
    await failsWith(joinSplitKey, joinOf([ids[1]!, ids[2]!], ObjectType.SecretData), ResultReason.InvalidField);
  });

  it('refuses what cannot be split or joined, with the reason', async () => {
    const key = await newKey();
    expect(await failsWith(createSplitKey, splitOf(key, 3, 2, SplitKeyMethod.XOR), ResultReason.InvalidField)).toMatch(/XOR/);
    expect(await failsWith(createSplitKey, splitOf(key, 3, 2, SplitKeyMethod.PolynomialSharingPrimeField), ResultReason.InvalidField)).toMatch(/Prime Field Size/);
    await failsWith(createSplitKey, splitOf(key, 3, 2, SplitKeyMethod.PolynomialSharingPrimeField, [bigInteger(Tag.PrimeFieldSize, 1n << 64n)]), ResultReason.InvalidField);
    await failsWith(createSplitKey, splitOf('missing', 3, 2, SplitKeyMethod.PolynomialSharingGF2_8), ResultReason.ObjectNotFound);
    const locked = await newKey(256, [boolean(Tag.Extractable, false)]);
    await failsWith(createSplitKey, splitOf(locked, 3, 2, SplitKeyMethod.PolynomialSharingGF2_8), ResultReason.NotExtractable);
    await failsWith(createSplitKey, P(enumeration(Tag.ObjectType, ObjectType.PrivateKey), UID(key), integer(Tag.SplitKeyParts, 3),
      integer(Tag.SplitKeyThreshold, 2), enumeration(Tag.SplitKeyMethod, SplitKeyMethod.PolynomialSharingGF2_8), structure(Tag.Attributes, [])), ResultReason.InvalidObjectType);
    // Parts of two different splits do not join.
    const a = uids(await createSplitKey.run(t.ctx, splitOf(key, 3, 2, SplitKeyMethod.PolynomialSharingGF2_8)));
    const b = uids(await createSplitKey.run(t.ctx, splitOf(key, 4, 2, SplitKeyMethod.PolynomialSharingGF2_8)));
    await failsWith(joinSplitKey, joinOf([a[0]!, b[1]!]), ResultReason.InvalidField);
    await failsWith(joinSplitKey, joinOf([a[0]!, a[0]!]), ResultReason.InvalidField);
    await failsWith(joinSplitKey, joinOf([a[0]!, key]), ResultReason.InvalidObjectType);
    await failsWith(joinSplitKey, joinOf(a, ObjectType.PrivateKey), ResultReason.InvalidObjectType);
  });

  it('Register accepts a complete Split Key and Join uses it; an inconsistent one is refused', async () => {
    const key = await newKey(128);
    const ids = uids(await createSplitKey.run(t.ctx, splitOf(key, 3, 2, SplitKeyMethod.PolynomialSharingGF2_8)));
    const part = (await t.repo.load(ids[0]!))!.value as Struct;
    const reg = uids(await register.run(t.ctx, P(enumeration(Tag.ObjectType, ObjectType.SplitKey), structure(Tag.Attributes, []), part)))[0]!;
    const joined = uids(await joinSplitKey.run(t.ctx, joinOf([reg, ids[2]!])))[0]!;
    expect((await material(joined)).equals(await material(key))).toBe(true);
    const badPart = structure(Tag.SplitKey, [
      integer(Tag.SplitKeyParts, 2), integer(Tag.KeyPartIdentifier, 3), integer(Tag.SplitKeyThreshold, 2),
      enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR),
      structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.alloc(16))])]),
    ]);
    await failsWith(register, P(enumeration(Tag.ObjectType, ObjectType.SplitKey), structure(Tag.Attributes, []), badPart), ResultReason.InvalidField);
  });
  it('Register stores a client-made XOR part with threshold < parts (s.2.2.5 sets no XOR rule; PyKMIP sends 2 of 3); Join of such parts is refused', async () => {
    const xorPart = (id: number) => structure(Tag.SplitKey, [
      integer(Tag.SplitKeyParts, 3), integer(Tag.KeyPartIdentifier, id), integer(Tag.SplitKeyThreshold, 2),
      enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR),
      structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.alloc(16, id))]),
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 128)]),
    ]);
    const regs = [];
    for (const id of [1, 2]) regs.push(uids(await register.run(t.ctx, P(enumeration(Tag.ObjectType, ObjectType.SplitKey), structure(Tag.Attributes, []), xorPart(id))))[0]!);
    expect((await material(regs[0]!)).equals(Buffer.alloc(16, 1))).toBe(true);
    expect(await failsWith(joinSplitKey, joinOf(regs), ResultReason.InvalidField)).toMatch(/XOR splitting needs every part/);
  });
});
