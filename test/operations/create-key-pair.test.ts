import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPublicKey, createPrivateKey, createHash, sign, verify } from 'node:crypto';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { createKeyPair } from '../../src/operations/create-key-pair.ts';
import { get } from '../../src/operations/get.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, KeyFormatType as KFT, LinkType, NameType, ObjectType,
  RecommendedCurve, ResultReason, State, UniqueIdentifier,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, NameType.UninterpretedTextString)]);
const req = (common: TtlvItem[], priv: TtlvItem[] = [], pub: TtlvItem[] = []): Struct => structure(Tag.RequestPayload, [
  structure(Tag.CommonAttributes, common), structure(Tag.PrivateKeyAttributes, priv), structure(Tag.PublicKeyAttributes, pub),
]);
const reasonOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try { await p; } catch (e) { if (e instanceof KmipError) return e.reason; throw e; }
  return undefined;
};
const attr = (o: { attributes: TtlvItem[] }, tag: number) => o.attributes.find((a) => a.tag === tag);
const text = (r: Struct, tag: number) => (child(r, tag) as { value: string }).value;
const materialOf = (value: Struct): Buffer =>
  (child(child(child(value, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;
const linkOf = (o: { attributes: TtlvItem[] }) => {
  const l = attr(o, Tag.Link) as Struct;
  return { type: (child(l, Tag.LinkType) as { value: number }).value, uid: (child(l, Tag.LinkedObjectIdentifier) as { value: string }).value };
};

describe('CreateKeyPair', () => {
  it('makes a linked RSA-2048 pair as in AKLC-M-1 (PKCS#1, Digest over PKCS#1)', async () => {
    const r = await createKeyPair.run(t.ctx, req(
      [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)],
      [name('priv'), integer(Tag.CryptographicUsageMask, CUM.Sign)],
      [name('pub'), integer(Tag.CryptographicUsageMask, CUM.Verify)],
    ));
    const privUid = text(r, Tag.PrivateKeyUniqueIdentifier);
    const pubUid = text(r, Tag.PublicKeyUniqueIdentifier);
    expect(t.ctx.batch.idPlaceholder).toBe(privUid);
    expect(t.ctx.batch.lastByOperation.get(UniqueIdentifier.CreateKeyPairPublicKey)).toEqual([pubUid]);

    const priv = (await t.repo.load(privUid))!;
    const pub = (await t.repo.load(pubUid))!;
    expect(priv.objectType).toBe(ObjectType.PrivateKey);
    expect(pub.objectType).toBe(ObjectType.PublicKey);
    expect(priv.state).toBe(State.PreActive);
    expect(attr(priv, Tag.CryptographicUsageMask)).toMatchObject({ value: CUM.Sign });
    expect(attr(pub, Tag.CryptographicUsageMask)).toMatchObject({ value: CUM.Verify });
    expect(attr(priv, Tag.CryptographicLength)).toMatchObject({ value: 2048 });
    expect(linkOf(priv)).toEqual({ type: LinkType.PublicKeyLink, uid: pubUid });
    expect(linkOf(pub)).toEqual({ type: LinkType.PrivateKeyLink, uid: privUid });
    expect(attr(priv, Tag.KeyFormatType)).toMatchObject({ value: KFT.PKCS_1 });

    const privDer = materialOf(priv.value as Struct);
    const digest = attr(priv, Tag.Digest) as Struct;
    expect((child(digest, Tag.DigestValue) as { value: Buffer }).value.equals(createHash('sha256').update(privDer).digest())).toBe(true);
    expect(child(digest, Tag.KeyFormatType)).toMatchObject({ value: KFT.PKCS_1 });

    // the two halves belong together
    const sk = createPrivateKey({ key: privDer, format: 'der', type: 'pkcs1' });
    const pk = createPublicKey({ key: materialOf(pub.value as Struct), format: 'der', type: 'pkcs1' });
    expect(verify('sha256', Buffer.from('m'), pk, sign('sha256', Buffer.from('m'), sk))).toBe(true);
  });

  it('makes EC P-384 (by curve) and Ed25519 pairs; Get converts the public key', async () => {
    const r = await createKeyPair.run(t.ctx, req([enumeration(Tag.CryptographicAlgorithm, Alg.ECDSA),
      structure(Tag.CryptographicDomainParameters, [enumeration(Tag.RecommendedCurve, RecommendedCurve.P_384)])]));
    const pub = (await t.repo.load(text(r, Tag.PublicKeyUniqueIdentifier)))!;
    expect(attr(pub, Tag.CryptographicLength)).toMatchObject({ value: 384 });
    expect(attr(pub, Tag.KeyFormatType)).toMatchObject({ value: KFT.X_509 });
    const g = await get.run(t.ctx, structure(Tag.RequestPayload, [
      textString(Tag.UniqueIdentifier, pub.uid), enumeration(Tag.KeyFormatType, KFT.TransparentECPublicKey),
    ]));
    const km = child(child(child(child(g, Tag.PublicKey) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial) as Struct;
    expect(child(km, Tag.RecommendedCurve)).toMatchObject({ value: RecommendedCurve.P_384 });
    expect((child(km, Tag.QString) as { value: Buffer }).value.length).toBe(97);

    const e = await createKeyPair.run(t.ctx, req([enumeration(Tag.CryptographicAlgorithm, Alg.Ed25519)]));
    const epriv = (await t.repo.load(text(e, Tag.PrivateKeyUniqueIdentifier)))!;
    expect(attr(epriv, Tag.KeyFormatType)).toMatchObject({ value: KFT.PKCS_8 });
    expect(attr(epriv, Tag.CryptographicUsageMask)).toMatchObject({ value: CUM.Sign });
  });

  it('refuses missing or contradicting parameters and duplicate names', async () => {
    expect(await reasonOf(createKeyPair.run(t.ctx, req([])))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(createKeyPair.run(t.ctx, req([], [enumeration(Tag.CryptographicAlgorithm, Alg.RSA)], [enumeration(Tag.CryptographicAlgorithm, Alg.EC)])))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(createKeyPair.run(t.ctx, req([enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 1000)])))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(createKeyPair.run(t.ctx, req([enumeration(Tag.CryptographicAlgorithm, Alg.AES)])))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(createKeyPair.run(t.ctx, req([enumeration(Tag.CryptographicAlgorithm, Alg.EC)], [name('same')], [name('same')])))).toBe(ResultReason.NonUniqueNameAttribute);
    expect(await reasonOf(createKeyPair.run(t.ctx, req([enumeration(Tag.CryptographicAlgorithm, Alg.EC), enumeration(Tag.State, State.Active)])))).toBe(ResultReason.AttributeReadOnly);
  });
});
