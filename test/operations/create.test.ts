import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { create } from '../../src/operations/create.ts';
import { newUid } from '../../src/operations/common/new-object.ts';
import { get } from '../../src/operations/get.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, KeyFormatType as KFT, NameType, ObjectType, ProtectionStorageMask,
  ResultReason, State, UniqueIdentifier,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, NameType.UninterpretedTextString)]);
const req = (objectType: number, attrs: TtlvItem[], extra: TtlvItem[] = []): Struct =>
  structure(Tag.RequestPayload, [enumeration(Tag.ObjectType, objectType), structure(Tag.Attributes, attrs), ...extra]);
const reasonOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try { await p; } catch (e) { if (e instanceof KmipError) return e.reason; throw e; }
  return undefined;
};
const attr = (o: { attributes: TtlvItem[] }, tag: number) => o.attributes.find((a) => a.tag === tag);
const uidOf = (r: Struct) => (child(r, Tag.UniqueIdentifier) as { value: string }).value;

describe('Unique Identifiers of new objects', () => {
  const V7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('are UUIDs version 7 (RFC 9562 §5.7): the creation time in ms first, then random bits', async () => {
    const before = Date.now();
    const uid = uidOf(await create.run(t.ctx, req(ObjectType.SymmetricKey, [])));
    const after = Date.now();
    const m = V7.exec(uid);
    expect(m, uid).not.toBeNull();
    const ms = parseInt(m![1]! + m![2]!, 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it('sort by creation time across milliseconds and never repeat within one (74 random bits)', () => {
    const t0 = Date.UTC(2026, 11, 2, 16, 0, 0);
    const uids = Array.from({ length: 3000 }, (_, i) => newUid(t0 + Math.floor(i / 1000)));
    expect(new Set(uids).size).toBe(uids.length);
    for (const u of uids) expect(u).toMatch(V7);
    // Each millisecond's block sorts before the next one's (what keeps the store's key index appending).
    const firstOf = (k: number) => uids.slice(k * 1000, k * 1000 + 1000);
    expect(firstOf(0).every((u) => firstOf(1).every((v) => u < v))).toBe(true);
    expect(firstOf(1).every((u) => firstOf(2).every((v) => u < v))).toBe(true);
    // The random part is not a counter: two identifiers of one millisecond differ beyond the time.
    expect(uids[0]!.slice(14)).not.toBe(uids[1]!.slice(14));
  });
});

describe('Create', () => {
  it('makes an AES-256 key with the attributes of SKLC-M-1 and sets the ID Placeholder', async () => {
    const r = await create.run(t.ctx, req(ObjectType.SymmetricKey, [
      enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CUM.Encrypt | CUM.Decrypt), name('SKLC-M-1-21'),
    ]));
    expect(r.tag).toBe(Tag.ResponsePayload);
    expect(child(r, Tag.ObjectType)).toMatchObject({ value: ObjectType.SymmetricKey });
    const uid = uidOf(r);
    expect(t.ctx.batch.idPlaceholder).toBe(uid);
    expect(t.ctx.batch.lastByOperation.get(UniqueIdentifier.Create)).toEqual([uid]);

    const o = (await t.repo.load(uid))!;
    expect(o.state).toBe(State.PreActive);
    expect(attr(o, Tag.CryptographicAlgorithm)).toMatchObject({ value: Alg.AES });
    expect(attr(o, Tag.CryptographicLength)).toMatchObject({ value: 256 });
    expect(attr(o, Tag.KeyFormatType)).toMatchObject({ value: KFT.Raw });
    expect(attr(o, Tag.Fresh)).toMatchObject({ value: true });
    expect(attr(o, Tag.Sensitive)).toMatchObject({ value: false });
    expect(attr(o, Tag.Extractable)).toMatchObject({ value: true });
    expect(attr(o, Tag.NeverExtractable)).toMatchObject({ value: false });
    expect(attr(o, Tag.ProtectionStorageMask)).toMatchObject({ value: ProtectionStorageMask.Software });
    for (const d of [Tag.InitialDate, Tag.LastChangeDate, Tag.OriginalCreationDate]) expect(attr(o, d)?.type).toBe('DateTime');
    expect(attr(o, Tag.RandomNumberGenerator)?.type).toBe('Structure');

    // Digest = SHA-256 of the Raw key material, format Raw
    const digest = attr(o, Tag.Digest) as Struct;
    const keyBlock = child(o.value as Struct, Tag.KeyBlock) as Struct;
    const material = child(child(keyBlock, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer };
    expect(material.value.length).toBe(32);
    const { createHash } = await import('node:crypto');
    expect((child(digest, Tag.DigestValue) as { value: Buffer }).value.equals(createHash('sha256').update(material.value).digest())).toBe(true);
    expect(child(digest, Tag.KeyFormatType)).toMatchObject({ value: KFT.Raw });
  });

  it('defaults to AES-256 with Encrypt|Decrypt, and supports 3DES, HMAC and ChaCha20', async () => {
    const o1 = (await t.repo.load(uidOf(await create.run(t.ctx, req(ObjectType.SymmetricKey, [])))))!;
    expect(attr(o1, Tag.CryptographicAlgorithm)).toMatchObject({ value: Alg.AES });
    expect(attr(o1, Tag.CryptographicLength)).toMatchObject({ value: 256 });
    expect(attr(o1, Tag.CryptographicUsageMask)).toMatchObject({ value: CUM.Encrypt | CUM.Decrypt });
    for (const [alg, len] of [[Alg.DES3, 168], [Alg.HMAC_SHA384, 384], [Alg.ChaCha20, 256], [Alg.AES, 128]] as const) {
      const o = (await t.repo.load(uidOf(await create.run(t.ctx, req(ObjectType.SymmetricKey, [enumeration(Tag.CryptographicAlgorithm, alg), integer(Tag.CryptographicLength, len)])))))!;
      expect(attr(o, Tag.CryptographicLength)).toMatchObject({ value: len });
    }
    const hmac = (await t.repo.load(uidOf(await create.run(t.ctx, req(ObjectType.SymmetricKey, [enumeration(Tag.CryptographicAlgorithm, Alg.HMAC_SHA256)])))))!;
    expect(attr(hmac, Tag.CryptographicUsageMask)).toMatchObject({ value: CUM.MACGenerate | CUM.MACVerify });
  });

  it('is Active at once when the Activation Date has passed', async () => {
    const past = new Date(Date.now() - 3600_000);
    const { dateTime } = await import('../../src/kmip/items.ts');
    const o = (await t.repo.load(uidOf(await create.run(t.ctx, req(ObjectType.SymmetricKey, [dateTime(Tag.ActivationDate, past)])))))!;
    expect(o.state).toBe(State.Active);
  });

  it('refuses what the spec refuses', async () => {
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.PrivateKey, [])))).toBe(ResultReason.InvalidObjectType);
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA)])))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [integer(Tag.CryptographicLength, 100)])))).toBe(ResultReason.InvalidField);
    // server-set attributes
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [enumeration(Tag.State, State.Active)])))).toBe(ResultReason.AttributeReadOnly);
    // missing Object Type
    expect(await reasonOf(create.run(t.ctx, structure(Tag.RequestPayload, [structure(Tag.Attributes, [])])))).toBe(ResultReason.InvalidField);
    // no mask allows software storage
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [], [structure(Tag.ProtectionStorageMasks, [integer(Tag.ProtectionStorageMask, ProtectionStorageMask.Hardware)])])))).toBe(ResultReason.ProtectionStorageUnavailable);
    // a failed Create stores nothing
    const n = [];
    for await (const o of t.repo.scan({})) n.push(o);
    expect(n).toHaveLength(0);
  });

  it('refuses a Name already in use (Non Unique Name Attribute)', async () => {
    await create.run(t.ctx, req(ObjectType.SymmetricKey, [name('k1')]));
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [name('k1')])))).toBe(ResultReason.NonUniqueNameAttribute);
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [name('k2'), name('k2')])))).toBe(ResultReason.NonUniqueNameAttribute);
  });

  it('returns a key Get can serve, and Get clears Fresh', async () => {
    const uid = uidOf(await create.run(t.ctx, req(ObjectType.SymmetricKey, [])));
    const g = await get.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
    const kb = child(child(g, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
    expect(children(kb, Tag.KeyFormatType)[0]).toMatchObject({ value: KFT.Raw });
    expect(attr((await t.repo.load(uid))!, Tag.Fresh)).toMatchObject({ value: false });
  });
});

describe('Create with Quantum Safe (QS-M-2)', () => {
  it('refuses AES-128 and accepts AES-256', async () => {
    const { boolean } = await import('../../src/kmip/items.ts');
    const qs = boolean(Tag.QuantumSafe, true);
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 128), qs])))).toBe(ResultReason.GeneralFailure);
    expect(await reasonOf(create.run(t.ctx, req(ObjectType.SymmetricKey, [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256), qs])))).toBeUndefined();
  });
});
