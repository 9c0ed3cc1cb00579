import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';
import { create } from '../../src/operations/create.ts';
import { createKeyPair } from '../../src/operations/create-key-pair.ts';
import { get } from '../../src/operations/get.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { boolean, child, enumeration, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm as Alg, KeyCompressionType, KeyFormatType as KFT, KeyWrapType, ObjectType, ResultReason, State,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const reasonOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try { await p; } catch (e) { if (e instanceof KmipError) return e.reason; throw e; }
  return undefined;
};
const text = (r: Struct, tag: number) => (child(r, tag) as { value: string }).value;
const newKey = async (attrs: TtlvItem[] = []) => text(await create.run(t.ctx, structure(Tag.RequestPayload, [
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, attrs)])), Tag.UniqueIdentifier);
const getReq = (uid: string, ...extra: TtlvItem[]) => structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid), ...extra]);
const materialOf = (g: Struct, objTag: number): TtlvItem =>
  child(child(child(child(g, objTag) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial)!;

describe('Get', () => {
  it('answers Object Type, Unique Identifier and the object, using the ID Placeholder when the UID is omitted', async () => {
    const uid = await newKey();
    const g = await get.run(t.ctx, structure(Tag.RequestPayload, []));
    expect(g.value.map((c) => c.tag)).toEqual([Tag.ObjectType, Tag.UniqueIdentifier, Tag.SymmetricKey]);
    expect(text(g, Tag.UniqueIdentifier)).toBe(uid);
  });

  it('converts an RSA private key between PKCS#1, PKCS#8 and Transparent', async () => {
    const pair = await createKeyPair.run(t.ctx, structure(Tag.RequestPayload, [structure(Tag.CommonAttributes, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA)])]));
    const uid = text(pair, Tag.PrivateKeyUniqueIdentifier);
    const p1 = materialOf(await get.run(t.ctx, getReq(uid)), Tag.PrivateKey) as { value: Buffer };
    const p8 = materialOf(await get.run(t.ctx, getReq(uid, enumeration(Tag.KeyFormatType, KFT.PKCS_8))), Tag.PrivateKey) as { value: Buffer };
    const k = createPrivateKey({ key: p1.value, format: 'der', type: 'pkcs1' });
    expect(p8.value.equals(k.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
    const g = await get.run(t.ctx, getReq(uid, enumeration(Tag.KeyFormatType, KFT.TransparentRSAPrivateKey)));
    const kb = child(child(g, Tag.PrivateKey) as Struct, Tag.KeyBlock) as Struct;
    expect(child(kb, Tag.KeyFormatType)).toMatchObject({ value: KFT.TransparentRSAPrivateKey });
    expect(child(kb, Tag.CryptographicAlgorithm)).toMatchObject({ value: Alg.RSA });
    expect((materialOf(g, Tag.PrivateKey) as Struct).value).toHaveLength(8);
    // the stored object is unchanged by a converting Get
    expect((await t.repo.load(uid))!.attributes.find((a) => a.tag === Tag.KeyFormatType)).toMatchObject({ value: KFT.PKCS_1 });
  });

  it('ObjectNotFound for a missing or foreign object (ItemNotFound for 1.x)', async () => {
    const uid = await newKey();
    expect(await reasonOf(get.run(t.ctx, getReq('no-such-id')))).toBe(ResultReason.ObjectNotFound);
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc');
    expect(await reasonOf(get.run(other.ctx, getReq(uid)))).toBe(ResultReason.ObjectNotFound);
    const v12 = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc', { version: { major: 1, minor: 2 } });
    expect(await reasonOf(get.run(v12.ctx, getReq(uid)))).toBe(ResultReason.ItemNotFound);
  });

  it('ObjectDestroyed after Destroy (BL-M-8)', async () => {
    const uid = await newKey();
    const o = (await t.repo.load(uid))!;
    o.state = State.Destroyed;
    delete o.value;
    await t.repo.save(o);
    expect(await reasonOf(get.run(t.ctx, getReq(uid)))).toBe(ResultReason.ObjectDestroyed);
  });

  it('refuses wrapping, compression and extraction it cannot honour', async () => {
    const uid = await newKey();
    // A Key Wrapping Specification without its Wrapping Method (wrapping itself: test/operations/key-wrapping.test.ts).
    expect(await reasonOf(get.run(t.ctx, getReq(uid, structure(Tag.KeyWrappingSpecification, []))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(get.run(t.ctx, getReq(uid, enumeration(Tag.KeyCompressionType, KeyCompressionType.ECPublicKeyTypeX9_62CompressedPrime))))).toBe(ResultReason.KeyCompressionTypeNotSupported);
    expect(await reasonOf(get.run(t.ctx, getReq(uid, enumeration(Tag.KeyWrapType, 7))))).toBe(ResultReason.KeyWrapTypeNotSupported);
    expect(await get.run(t.ctx, getReq(uid, enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped)))).toBeDefined();
    const locked = await newKey([boolean(Tag.Extractable, false)]);
    expect(await reasonOf(get.run(t.ctx, getReq(locked)))).toBe(ResultReason.NotExtractable);
    const sensitive = await newKey([boolean(Tag.Sensitive, true)]);
    expect(await reasonOf(get.run(t.ctx, getReq(sensitive)))).toBe(ResultReason.Sensitive);
  });
});
