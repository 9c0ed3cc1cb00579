// Derive Key (KMIP 2.1 s.6.1.10) through the real operation: each method against a published
// known answer (RFC 6070, RFC 5869, NIST CAVP SP 800-108, RFC 4231) or local node:crypto,
// the links it sets, and the reasons it refuses with.
import { createCipheriv, createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { deriveKey } from '../../src/operations/derive-key.ts';
import { get } from '../../src/operations/get.ts';
import { register } from '../../src/operations/register.ts';
import { byteString, child, dateTime, enumeration, integer, isStructure, structure, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  BlockCipherMode, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, DerivationMethod, HashingAlgorithm, KeyFormatType as KFT,
  LinkType, ObjectType, ResultReason, SecretDataType,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { call, hourAgo, params, reasonOf, registerSymmetric, textOf, uidField } from './crypto-helpers.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const hex = (s: string) => Buffer.from(s, 'hex');

async function registerSecret(bytes: Buffer, mask: number = CUM.DeriveKey, active = true): Promise<string> {
  const attrs: TtlvItem[] = [integer(Tag.CryptographicUsageMask, mask)];
  if (active) attrs.push(dateTime(Tag.ActivationDate, hourAgo()));
  const r = await call(t.ctx, register, [
    enumeration(Tag.ObjectType, ObjectType.SecretData), structure(Tag.Attributes, attrs),
    structure(Tag.SecretData, [enumeration(Tag.SecretDataType, SecretDataType.Password), structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, KFT.Opaque), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, bytes)])])]),
  ]);
  return textOf(r, Tag.UniqueIdentifier);
}

interface DeriveOptions {
  objectType?: number;
  uids: string[];
  method: number;
  parameters: TtlvItem[];
  attrs: TtlvItem[];
}
const derive = (o: DeriveOptions) => call(t.ctx, deriveKey, [
  enumeration(Tag.ObjectType, o.objectType ?? ObjectType.SecretData),
  ...o.uids.map(uidField),
  enumeration(Tag.DerivationMethod, o.method),
  structure(Tag.DerivationParameters, o.parameters),
  structure(Tag.Attributes, o.attrs),
]);
const secretBits = (bits: number) => [integer(Tag.CryptographicLength, bits)];

async function materialOf(uid: string): Promise<Buffer> {
  const g = await call(t.ctx, get, [uidField(uid)]);
  const obj = g.value.find((c) => c.tag === Tag.SecretData || c.tag === Tag.SymmetricKey) as Struct;
  const kv = child(child(obj, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct;
  return (child(kv, Tag.KeyMaterial) as { value: Buffer }).value;
}

describe('Derive Key methods', () => {
  it('PBKDF2 from a password Secret Data (RFC 6070, c = 4096, HMAC-SHA-1)', async () => {
    const pw = await registerSecret(Buffer.from('password'));
    const r = await derive({
      uids: [pw], method: DerivationMethod.PBKDF2, attrs: secretBits(160),
      parameters: [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_1)), byteString(Tag.Salt, Buffer.from('salt')), integer(Tag.IterationCount, 4096)],
    });
    expect((await materialOf(textOf(r, Tag.UniqueIdentifier))).toString('hex')).toBe('4b007901b765489abead49d926f721d065a429c1');
  });

  it('HKDF (RFC 5869 A.1, SHA-256, 42 bytes)', async () => {
    const ikm = await registerSecret(hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'));
    const r = await derive({
      uids: [ikm], method: DerivationMethod.HKDF, attrs: secretBits(336),
      parameters: [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)), byteString(Tag.Salt, hex('000102030405060708090a0b0c')), byteString(Tag.DerivationData, hex('f0f1f2f3f4f5f6f7f8f9'))],
    });
    expect((await materialOf(textOf(r, Tag.UniqueIdentifier))).toString('hex')).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  it('NIST800-108-C with an HMAC-SHA256 key (CAVP KDFCTR COUNT=0) into an AES-128 key', async () => {
    const ki = await registerSymmetric(t.ctx, Alg.HMAC_SHA256, hex('dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0'), { mask: CUM.DeriveKey });
    const r = await derive({
      objectType: ObjectType.SymmetricKey, uids: [ki], method: DerivationMethod.NIST800_108_C,
      attrs: [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 128), integer(Tag.CryptographicUsageMask, CUM.Encrypt)],
      parameters: [byteString(Tag.DerivationData, hex('01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac'))],
    });
    const uid = textOf(r, Tag.UniqueIdentifier);
    expect((await materialOf(uid)).toString('hex')).toBe('10621342bfb0fd40046c0e29f2cfdbf0');
    // Links both ways (s.6.1.10).
    const derivedObj = (await t.repo.load(uid))!;
    const baseObj = (await t.repo.load(ki))!;
    const links = (o: typeof derivedObj, type: number) => o.attributes.filter((a) => a.tag === Tag.Link && isStructure(a) && (child(a, Tag.LinkType) as { value: number }).value === type)
      .map((a) => (child(a as Struct, Tag.LinkedObjectIdentifier) as { value: string }).value);
    expect(links(derivedObj, LinkType.DerivationBaseObjectLink)).toEqual([ki]);
    expect(links(baseObj, LinkType.DerivedKeyLink)).toEqual([uid]);
    expect(derivedObj.attributes.find((a) => a.tag === Tag.CryptographicAlgorithm)).toEqual(enumeration(Tag.CryptographicAlgorithm, Alg.AES));
  });

  it('HMAC (RFC 4231 case 2) and HASH of secret data', async () => {
    const jefe = await registerSecret(Buffer.from('Jefe'));
    const r = await derive({
      uids: [jefe], method: DerivationMethod.HMAC, attrs: secretBits(256),
      parameters: [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)), byteString(Tag.DerivationData, Buffer.from('what do ya want for nothing?'))],
    });
    expect((await materialOf(textOf(r, Tag.UniqueIdentifier))).toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    const h = await derive({ uids: [jefe], method: DerivationMethod.HASH, attrs: secretBits(128), parameters: [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256))] });
    expect(await materialOf(textOf(h, Tag.UniqueIdentifier))).toEqual(createHash('sha256').update('Jefe').digest().subarray(0, 16));
  });

  it('ENCRYPT: the derivation data under the derivation key (AES-ECB) equals local AES', async () => {
    const key = hex('000102030405060708090a0b0c0d0e0f');
    const base = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.DeriveKey });
    const data = Buffer.from('0123456789abcdef0123456789abcdef');
    const r = await derive({
      objectType: ObjectType.SymmetricKey, uids: [base], method: DerivationMethod.ENCRYPT,
      attrs: [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256)],
      parameters: [params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), byteString(Tag.DerivationData, data)],
    });
    const local = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false).update(data);
    expect(await materialOf(textOf(r, Tag.UniqueIdentifier))).toEqual(local);
  });

  it('uses the ID Placeholder when no Unique Identifier is given', async () => {
    const pw = await registerSecret(Buffer.from('password'));
    t.ctx.batch.idPlaceholder = pw;
    const r = await call(t.ctx, deriveKey, [
      enumeration(Tag.ObjectType, ObjectType.SecretData), enumeration(Tag.DerivationMethod, DerivationMethod.HASH),
      structure(Tag.DerivationParameters, [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_1))]), structure(Tag.Attributes, secretBits(160)),
    ]);
    const uid = textOf(r, Tag.UniqueIdentifier);
    expect(t.ctx.batch.idPlaceholder).toBe(uid);
    expect(await materialOf(uid)).toEqual(createHash('sha1').update('password').digest());
  });
});

describe('Derive Key refusals', () => {
  const sha256 = params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256));
  it('base objects need Derive Key in the mask and the Active state', async () => {
    const noMask = await registerSecret(Buffer.from('x'), CUM.Encrypt);
    expect(await reasonOf(derive({ uids: [noMask], method: DerivationMethod.HASH, attrs: secretBits(128), parameters: [sha256] })))
      .toBe(ResultReason.IncompatibleCryptographicUsageMask);
    const preActive = await registerSecret(Buffer.from('x'), CUM.DeriveKey, false);
    expect(await reasonOf(derive({ uids: [preActive], method: DerivationMethod.HASH, attrs: secretBits(128), parameters: [sha256] })))
      .toBe(ResultReason.WrongKeyLifecycleState);
    expect(await reasonOf(derive({ uids: ['missing'], method: DerivationMethod.HASH, attrs: secretBits(128), parameters: [sha256] })))
      .toBe(ResultReason.ObjectNotFound);
  });

  it('lengths: required, within the method output, matching the algorithm', async () => {
    const s = await registerSecret(Buffer.from('secret'));
    expect(await reasonOf(derive({ uids: [s], method: DerivationMethod.HASH, attrs: [], parameters: [sha256] }))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(derive({ uids: [s], method: DerivationMethod.HASH, attrs: secretBits(512), parameters: [sha256] }))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(derive({
      objectType: ObjectType.SymmetricKey, uids: [s], method: DerivationMethod.HASH, parameters: [sha256],
      attrs: [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 100)],
    }))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(derive({ objectType: ObjectType.SymmetricKey, uids: [s], method: DerivationMethod.HASH, parameters: [sha256], attrs: secretBits(128) })))
      .toBe(ResultReason.InvalidField);
  });

  it('method parameters and unsupported methods', async () => {
    const s = await registerSecret(Buffer.from('secret'));
    expect(await reasonOf(derive({ uids: [s], method: DerivationMethod.PBKDF2, attrs: secretBits(128), parameters: [sha256, integer(Tag.IterationCount, 10)] })))
      .toBe(ResultReason.InvalidField);
    expect(await reasonOf(derive({ uids: [s], method: DerivationMethod.HMAC, attrs: secretBits(128), parameters: [sha256] }))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(derive({ uids: [s], method: DerivationMethod.HASH, attrs: secretBits(128), parameters: [] }))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(derive({ uids: [s], method: DerivationMethod.NIST800_108_DPI, attrs: secretBits(128), parameters: [sha256] })))
      .toBe(ResultReason.FeatureNotSupported);
    expect(await reasonOf(derive({ objectType: ObjectType.PublicKey, uids: [s], method: DerivationMethod.HASH, attrs: secretBits(128), parameters: [sha256] })))
      .toBe(ResultReason.InvalidObjectType);
  });
});
