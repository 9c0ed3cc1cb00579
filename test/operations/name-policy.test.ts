// The tenant's Name policy (issue 13 §5): 'unique' (the default, KMIP 2.1 s.4.35 / OASIS
// BL-M-8) refuses a Name another object holds; 'duplicates-allowed' lets several objects share
// one, and Locate by that Name finds them all. The same operations run under both settings.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CryptographicAlgorithm, KeyFormatType, ObjectType, ResultReason, SecretDataType, SplitKeyMethod,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { byteString, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { create } from '../../src/operations/create.ts';
import { register } from '../../src/operations/register.ts';
import { addAttribute } from '../../src/operations/add-attribute.ts';
import { modifyAttribute } from '../../src/operations/modify-attribute.ts';
import { locate } from '../../src/operations/locate.ts';
import { reKey } from '../../src/operations/re-key.ts';
import { createSplitKey } from '../../src/operations/create-split-key.ts';
import { joinSplitKey } from '../../src/operations/join-split-key.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, 1)]);
const uids = (s: Struct) => children(s, Tag.UniqueIdentifier).map((c) => (c as { value: string }).value);
const aes = (...extra: TtlvItem[]) => structure(Tag.Attributes, [
  enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256), integer(Tag.CryptographicUsageMask, 12), ...extra,
]);

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const createKey = async (...extra: TtlvItem[]) => uids(await create.run(t.ctx, P(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), aes(...extra))))[0]!;
const registerSecret = async (...extra: TtlvItem[]) => uids(await register.run(t.ctx, P(
  enumeration(Tag.ObjectType, ObjectType.SecretData), structure(Tag.Attributes, [integer(Tag.CryptographicUsageMask, 0), ...extra]),
  structure(Tag.SecretData, [enumeration(Tag.SecretDataType, SecretDataType.Password), structure(Tag.KeyBlock, [
    enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.from('secret'))]),
  ])]),
)))[0]!;
const byName = async (v: string) => uids(await locate.run(t.ctx, P(structure(Tag.Attributes, [name(v)]))));

async function reasonOf(h: OperationHandler, payload: Struct): Promise<number | undefined> {
  const err = await h.run(t.ctx, payload).then(() => undefined, (e: unknown) => e);
  if (err === undefined) return undefined;
  if (!(err instanceof KmipError)) throw err;
  return err.reason;
}

describe("Name policy 'unique' (the default)", () => {
  it('refuses a Name another object holds in Create, Register, Add and Modify Attribute', async () => {
    expect(t.ctx.names).toBeUndefined();
    const k = await createKey(name('shared'));
    expect(await reasonOf(create, P(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), aes(name('shared'))))).toBe(ResultReason.NonUniqueNameAttribute);
    expect(await reasonOf(register, P(
      enumeration(Tag.ObjectType, ObjectType.SecretData), structure(Tag.Attributes, [integer(Tag.CryptographicUsageMask, 0), name('shared')]),
      structure(Tag.SecretData, [enumeration(Tag.SecretDataType, SecretDataType.Password), structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.from('x'))]),
      ])]),
    ))).toBe(ResultReason.NonUniqueNameAttribute);
    const other = await createKey(name('other'));
    expect(await reasonOf(addAttribute, P(UID(other), structure(Tag.NewAttribute, [name('shared')])))).toBe(ResultReason.NonUniqueNameAttribute);
    expect(await reasonOf(modifyAttribute, P(UID(other), structure(Tag.CurrentAttribute, [name('other')]), structure(Tag.NewAttribute, [name('shared')]))))
      .toBe(ResultReason.NonUniqueNameAttribute);
    expect(await byName('shared')).toEqual([k]);
  });

  it('refuses a Name on Create Split Key (every part would hold it)', async () => {
    const k = await createKey();
    expect(await reasonOf(createSplitKey, P(
      enumeration(Tag.ObjectType, ObjectType.SplitKey), UID(k), integer(Tag.SplitKeyParts, 2), integer(Tag.SplitKeyThreshold, 2),
      enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR), structure(Tag.Attributes, [name('parts')]),
    ))).toBe(ResultReason.InvalidField);
  });
});

describe("Name policy 'duplicates-allowed'", () => {
  beforeEach(() => { t.ctx.names = 'duplicates-allowed'; });

  it('lets Create, Register, Add and Modify Attribute reuse a Name, and Locate by Name finds every holder', async () => {
    const a = await createKey(name('shared'));
    const b = await createKey(name('shared'));
    const c = await registerSecret(name('shared'));
    const d = await createKey(name('other'));
    await addAttribute.run(t.ctx, P(UID(d), structure(Tag.NewAttribute, [name('shared')])));
    const e = await createKey(name('e'));
    await modifyAttribute.run(t.ctx, P(UID(e), structure(Tag.CurrentAttribute, [name('e')]), structure(Tag.NewAttribute, [name('shared')])));
    expect(new Set(await byName('shared'))).toEqual(new Set([a, b, c, d, e]));
    expect(await byName('shared')).toHaveLength(5);
  });

  it('still refuses one object carrying the same Name twice', async () => {
    const k = await createKey(name('twice'));
    expect(await reasonOf(addAttribute, P(UID(k), structure(Tag.NewAttribute, [name('twice')])))).toBe(ResultReason.NonUniqueNameAttribute);
    expect(await reasonOf(create, P(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), aes(name('x'), name('x'))))).toBe(ResultReason.NonUniqueNameAttribute);
  });

  it('lets Re-key give a Name another object holds, and Create/Join Split Key name their objects with a shared Name', async () => {
    const a = await createKey(name('rk'));
    const b = await createKey(name('other'));
    const replacement = uids(await reKey.run(t.ctx, P(UID(b), structure(Tag.Attributes, [name('rk')]))))[0]!;
    expect(new Set(await byName('rk'))).toEqual(new Set([a, replacement]));

    const parts = uids(await createSplitKey.run(t.ctx, P(
      enumeration(Tag.ObjectType, ObjectType.SplitKey), UID(a), integer(Tag.SplitKeyParts, 2), integer(Tag.SplitKeyThreshold, 2),
      enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR), structure(Tag.Attributes, [name('parts')]),
    )));
    expect(parts).toHaveLength(2);
    expect(new Set(await byName('parts'))).toEqual(new Set(parts));
    const joined = uids(await joinSplitKey.run(t.ctx, P(enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...parts.map(UID), structure(Tag.Attributes, [name('rk')]))))[0]!;
    expect(new Set(await byName('rk'))).toEqual(new Set([a, replacement, joined]));
  });
});
