// Key wrapping through the real operations (src/operations/common/key-wrapping.ts): Get with
// a Key Wrapping Specification, Register of wrapped key blocks, Get with Key Wrap Type.
// Every wrapped result is opened here independently (node:crypto / crypto module) to show
// the bytes are what KMIP 2.1 s.2.1.5 / s.11.16 say, not just that a round trip works.
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';
import { get } from '../../src/operations/get.ts';
import { register } from '../../src/operations/register.ts';
import { encrypt } from '../../src/operations/encrypt.ts';
import { aesKeyUnwrap, aesKeyUnwrapPad } from '../../src/crypto/keywrap.ts';
import { oaepDecrypt } from '../../src/crypto/oaep.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { boolean, byteString, child, dateTime, enumeration, integer, isStructure, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  BlockCipherMode, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, EncodingOption, HashingAlgorithm, KeyFormatType as KFT,
  KeyWrapType, ObjectType, PaddingMethod, ResultReason, WrappingMethod,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { call, createPair, hourAgo, params, reasonOf, registerSymmetric, textOf, uidField } from './crypto-helpers.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const keyBlockOf = (g: Struct, objTag: number = Tag.SymmetricKey): Struct => child(child(g, objTag) as Struct, Tag.KeyBlock) as Struct;
/** The wrapped bytes: the Key Value Byte String (TTLV Encoding), or the Key Material of the Key Value structure (No Encoding). */
const wrappedValue = (g: Struct, objTag: number = Tag.SymmetricKey): Buffer => {
  const kv = child(keyBlockOf(g, objTag), Tag.KeyValue);
  if (kv?.type === 'ByteString') return kv.value;
  const km = isStructure(kv) ? child(kv, Tag.KeyMaterial) : undefined;
  if (km?.type !== 'ByteString') throw new Error('no wrapped bytes in the Key Value');
  return km.value;
};
const eki = (uid: string, ...p: TtlvItem[]) => structure(Tag.EncryptionKeyInformation, [uidField(uid), ...(p.length ? [params(...p)] : [])]);
const spec = (method: number, ...fields: TtlvItem[]) => structure(Tag.KeyWrappingSpecification, [enumeration(Tag.WrappingMethod, method), ...fields]);
const getWrapped = (uid: string, s: Struct, ctx = t.ctx) => call(ctx, get, [uidField(uid), s]);

async function kekPair(mask = CUM.WrapKey | CUM.UnwrapKey, extra: TtlvItem[] = []) {
  const kek = randomBytes(32);
  return { kek, uid: await registerSymmetric(t.ctx, Alg.AES, kek, { mask, extra }) };
}

describe('Get with a Key Wrapping Specification', () => {
  it('AES key wrap, TTLV encoding by default: the Key Value is the RFC 3394 wrap of the encoded Key Value structure', async () => {
    const { kek, uid: kekUid } = await kekPair();
    const key = randomBytes(32);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt | CUM.Decrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.Encrypt, eki(kekUid, enumeration(Tag.BlockCipherMode, BlockCipherMode.NISTKeyWrap))));
    const kb = keyBlockOf(g);
    // s.2.1.3 field order kept; Key Wrapping Data echoes the Encryption Key Information (AX-M-2).
    expect(kb.value.map((c) => c.tag)).toEqual([Tag.KeyFormatType, Tag.KeyValue, Tag.CryptographicAlgorithm, Tag.CryptographicLength, Tag.KeyWrappingData]);
    const kwd = child(kb, Tag.KeyWrappingData) as Struct;
    expect(kwd.value.map((c) => c.tag)).toEqual([Tag.WrappingMethod, Tag.EncryptionKeyInformation]);
    const plain = aesKeyUnwrap(kek, wrappedValue(g));
    const kv = decode(plain);
    expect(kv.tag).toBe(Tag.KeyValue);
    expect(isStructure(kv) && (child(kv, Tag.KeyMaterial) as { value: Buffer }).value).toEqual(key);
  });

  it('No Encoding with AES key wrap with padding wraps the bare key material', async () => {
    const { kek, uid: kekUid } = await kekPair();
    const secret = randomBytes(20);
    const r = await call(t.ctx, register, [
      enumeration(Tag.ObjectType, ObjectType.SecretData),
      structure(Tag.Attributes, [integer(Tag.CryptographicUsageMask, CUM.Encrypt)]),
      structure(Tag.SecretData, [enumeration(Tag.SecretDataType, 1), structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KFT.Opaque), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, secret)])])]),
    ]);
    const g = await getWrapped(textOf(r, Tag.UniqueIdentifier), spec(WrappingMethod.Encrypt,
      eki(kekUid, enumeration(Tag.BlockCipherMode, BlockCipherMode.AESKeyWrapPadding)), enumeration(Tag.EncodingOption, EncodingOption.NoEncoding)));
    // No Encoding: the Key Value structure stays, holding only the wrapped Key Material.
    const kv = child(keyBlockOf(g, Tag.SecretData), Tag.KeyValue) as Struct;
    expect(kv.type).toBe('Structure');
    expect(kv.value.map((c) => c.tag)).toEqual([Tag.KeyMaterial]);
    expect(aesKeyUnwrapPad(kek, wrappedValue(g, Tag.SecretData))).toEqual(secret);
    expect(child(child(keyBlockOf(g, Tag.SecretData), Tag.KeyWrappingData) as Struct, Tag.EncodingOption)).toBeDefined();
  });

  it('AES-GCM: IV in the Key Wrapping Data, tag appended to the ciphertext', async () => {
    const { kek, uid: kekUid } = await kekPair();
    const key = randomBytes(16);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.Encrypt, eki(kekUid, enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM)),
      enumeration(Tag.EncodingOption, EncodingOption.NoEncoding)));
    const kwd = child(keyBlockOf(g), Tag.KeyWrappingData) as Struct;
    const iv = (child(kwd, Tag.IVCounterNonce) as { value: Buffer }).value;
    const w = wrappedValue(g);
    const d = createDecipheriv('aes-256-gcm', kek, iv);
    d.setAuthTag(w.subarray(w.length - 16));
    expect(Buffer.concat([d.update(w.subarray(0, w.length - 16)), d.final()])).toEqual(key);
  });

  it('Attribute Names put the named attributes into the wrapped Key Value (2.x Attributes, 1.x Attribute structures)', async () => {
    const { kek, uid: kekUid } = await kekPair();
    const uid = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt | CUM.Decrypt });
    const s = spec(WrappingMethod.Encrypt, eki(kekUid), textString(Tag.AttributeName, 'Cryptographic Usage Mask'));
    const kv2 = decode(aesKeyUnwrap(kek, wrappedValue(await getWrapped(uid, s)))) as Struct;
    const attrs = child(kv2, Tag.Attributes) as Struct;
    expect(attrs.value).toEqual([integer(Tag.CryptographicUsageMask, CUM.Encrypt | CUM.Decrypt)]);
    const v14 = { ...t.ctx, version: { major: 1, minor: 4 } };
    const kv1 = decode(aesKeyUnwrap(kek, wrappedValue(await getWrapped(uid, s, v14)))) as Struct;
    const a1 = child(kv1, Tag.Attribute) as Struct;
    expect((child(a1, Tag.AttributeName) as { value: string }).value).toBe('Cryptographic Usage Mask');
    // No Encoding cannot carry attributes (s.2.1.5).
    const bad = spec(WrappingMethod.Encrypt, eki(kekUid), textString(Tag.AttributeName, 'Cryptographic Usage Mask'), enumeration(Tag.EncodingOption, EncodingOption.NoEncoding));
    expect(await reasonOf(getWrapped(uid, bad))).toBe(ResultReason.EncodingOptionError);
  });

  it('RSA-OAEP with a public key; the private key opens it', async () => {
    const pair = await createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)], CUM.UnwrapKey | CUM.Decrypt, CUM.WrapKey | CUM.Encrypt);
    const key = randomBytes(32);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.Encrypt, eki(pair.pub, enumeration(Tag.PaddingMethod, PaddingMethod.OAEP),
      enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)), enumeration(Tag.EncodingOption, EncodingOption.NoEncoding)));
    const priv = await call(t.ctx, get, [uidField(pair.priv), enumeration(Tag.KeyFormatType, KFT.PKCS_8)]);
    const der = (child(child(keyBlockOf(priv, Tag.PrivateKey), Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;
    const pk = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    expect(oaepDecrypt(pk, wrappedValue(g), { hash: 'sha256', mgf1Hash: 'sha256' })).toEqual(key);
  });

  it('enforces the wrapping key: Wrap Key in the mask, Active, present, not itself, a wrapping algorithm', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt | CUM.WrapKey });
    const noWrap = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt });
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.Encrypt, eki(noWrap))))).toBe(ResultReason.IncompatibleCryptographicUsageMask);
    const preActive = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.WrapKey, active: false });
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.Encrypt, eki(preActive))))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.Encrypt, eki('no-such-key'))))).toBe(ResultReason.WrappingObjectNotFound);
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.Encrypt, eki(uid))))).toBe(ResultReason.InvalidField);
    const { uid: kek } = await kekPair();
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.Encrypt, eki(kek, enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC)))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.Encrypt)))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.TR_31, eki(kek))))).toBe(ResultReason.FeatureNotSupported);
    const hmacKey = await registerSymmetric(t.ctx, Alg.HMAC_SHA256, randomBytes(32), { mask: CUM.WrapKey });
    expect(await reasonOf(getWrapped(uid, spec(WrappingMethod.Encrypt, eki(hmacKey))))).toBe(ResultReason.InvalidField);
  });

  it('Sensitive keys leave only encrypted; non-Extractable keys never leave', async () => {
    const { uid: kek } = await kekPair();
    const mac = await registerSymmetric(t.ctx, Alg.HMAC_SHA256, randomBytes(32), { mask: CUM.WrapKey });
    const sensitive = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt, extra: [boolean(Tag.Sensitive, true)] });
    expect(await reasonOf(call(t.ctx, get, [uidField(sensitive)]))).toBe(ResultReason.Sensitive);
    await expect(getWrapped(sensitive, spec(WrappingMethod.Encrypt, eki(kek)))).resolves.toBeDefined();
    const macOnly = spec(WrappingMethod.MACSign, structure(Tag.MACSignatureKeyInformation, [uidField(mac)]));
    expect(await reasonOf(getWrapped(sensitive, macOnly))).toBe(ResultReason.Sensitive);
    const locked = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt, extra: [boolean(Tag.Extractable, false)] });
    expect(await reasonOf(getWrapped(locked, spec(WrappingMethod.Encrypt, eki(kek))))).toBe(ResultReason.NotExtractable);
  });

  it('Encrypt then MAC: the HMAC covers the ciphertext', async () => {
    const { kek, uid: kekUid } = await kekPair();
    const macKey = randomBytes(32);
    const macUid = await registerSymmetric(t.ctx, Alg.HMAC_SHA256, macKey, { mask: CUM.WrapKey | CUM.UnwrapKey });
    const key = randomBytes(32);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.EncryptThenMACSign, eki(kekUid), structure(Tag.MACSignatureKeyInformation, [uidField(macUid)])));
    const kwd = child(keyBlockOf(g), Tag.KeyWrappingData) as Struct;
    const w = wrappedValue(g);
    expect((child(kwd, Tag.MACSignature) as { value: Buffer }).value).toEqual(createHmac('sha256', macKey).update(w).digest());
    expect(decode(aesKeyUnwrap(kek, w))).toEqual(structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]));
  });
});

describe('Register of a wrapped key block', () => {
  const wrappedRegister = (g: Struct, mask = CUM.Encrypt | CUM.Decrypt, extra: TtlvItem[] = []) => {
    const sym = child(g, Tag.SymmetricKey) as Struct;
    return call(t.ctx, register, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [integer(Tag.CryptographicUsageMask, mask), ...extra]), sym]);
  };

  it('is unwrapped by the server: Get returns the plaintext and the key encrypts', async () => {
    const { uid: kek } = await kekPair();
    const key = randomBytes(32);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.EncryptThenMACSign, eki(kek),
      structure(Tag.MACSignatureKeyInformation, [uidField(await registerSymmetric(t.ctx, Alg.HMAC_SHA512, randomBytes(64), { mask: CUM.WrapKey | CUM.UnwrapKey }))])));
    const r = await wrappedRegister(g, CUM.Encrypt, [dateTime(Tag.ActivationDate, hourAgo())]);
    const copy = textOf(r, Tag.UniqueIdentifier);
    const back = await call(t.ctx, get, [uidField(copy)]);
    expect(child(keyBlockOf(back), Tag.KeyWrappingData)).toBeUndefined();
    expect((child(child(keyBlockOf(back), Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value).toEqual(key);
    // Stored unwrapped, so the server can use it: AES-ECB of a zero block equals local AES.
    const enc = await call(t.ctx, encrypt, [uidField(copy), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), byteString(Tag.Data, Buffer.alloc(16))]);
    const local = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false).update(Buffer.alloc(16));
    expect((child(enc, Tag.Data) as { value: Buffer }).value).toEqual(local);
  });

  it('No Encoding (wrapped bytes in the Key Material of a Key Value structure) round-trips, with and without the Encoding Option', async () => {
    const { uid: kek } = await kekPair();
    const key = randomBytes(24);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.Encrypt, eki(kek, enumeration(Tag.BlockCipherMode, BlockCipherMode.AESKeyWrapPadding)),
      enumeration(Tag.EncodingOption, EncodingOption.NoEncoding)));
    const copy = textOf(await wrappedRegister(g), Tag.UniqueIdentifier);
    expect((await t.repo.load(copy))!.value).toEqual(structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, KFT.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
      enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 192)])]));
    // A client that omits the Encoding Option but sends the structure form means bare material.
    const noOption = structure(Tag.ResponsePayload, [structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, keyBlockOf(g).value.map((c) =>
      c.tag === Tag.KeyWrappingData ? structure(Tag.KeyWrappingData, (c as Struct).value.filter((f) => f.tag !== Tag.EncodingOption)) : c))])]);
    const copy2 = textOf(await wrappedRegister(noOption), Tag.UniqueIdentifier);
    expect((await t.repo.load(copy2))!.value).toEqual((await t.repo.load(copy))!.value);
  });

  it('RSA-OAEP: the public key named in the wrapping data leads to its private key', async () => {
    const pair = await createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)], CUM.UnwrapKey, CUM.WrapKey);
    const key = randomBytes(16);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.Encrypt, eki(pair.pub, enumeration(Tag.PaddingMethod, PaddingMethod.OAEP))));
    const copy = textOf(await wrappedRegister(g), Tag.UniqueIdentifier);
    const back = await call(t.ctx, get, [uidField(copy)]);
    expect((child(child(keyBlockOf(back), Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value).toEqual(key);
  });

  it('keeps a key wrapped under a key the server does not hold as registered: Get returns it wrapped, Encrypt refuses it with the reason (issue 13 §5)', async () => {
    // The client wraps under its own KEK: AES Key Wrap (RFC 3394) of a 256-bit key, named "client-kek-1".
    const kek = randomBytes(32);
    const key = randomBytes(32);
    const c = createCipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    const wrapped = Buffer.concat([c.update(key), c.final()]);
    const kwd = structure(Tag.KeyWrappingData, [enumeration(Tag.WrappingMethod, WrappingMethod.Encrypt), eki('client-kek-1'), enumeration(Tag.EncodingOption, EncodingOption.NoEncoding)]);
    const block = structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, KFT.Raw), byteString(Tag.KeyValue, wrapped),
      enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256), kwd,
    ]);
    const uid = textOf(await wrappedRegister(structure(Tag.ResponsePayload, [structure(Tag.SymmetricKey, [block])]), CUM.Encrypt,
      [dateTime(Tag.ActivationDate, hourAgo())]), Tag.UniqueIdentifier);
    const stored = (await t.repo.load(uid))!;
    expect(stored.attributes.find((a) => a.tag === Tag.CryptographicLength)).toMatchObject({ value: 256 });
    // Get returns exactly what was registered, still wrapped: the client can unwrap it with its KEK.
    const back = keyBlockOf(await call(t.ctx, get, [uidField(uid)]));
    expect(child(back, Tag.KeyWrappingData)).toEqual(kwd);
    const d = createDecipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    expect(Buffer.concat([d.update((child(back, Tag.KeyValue) as { value: Buffer }).value), d.final()])).toEqual(key);
    // Operations that need the plaintext say why they cannot.
    const e = await call(t.ctx, encrypt, [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), byteString(Tag.Data, Buffer.alloc(16))]).catch((x: unknown) => x);
    expect(e).toMatchObject({ reason: ResultReason.FeatureNotSupported });
    expect((e as Error).message).toMatch(/kept wrapped as registered under client-kek-1; the server does not hold its plaintext/);
    // A conversion needs the plaintext too.
    expect(await reasonOf(call(t.ctx, get, [uidField(uid), enumeration(Tag.KeyFormatType, KFT.TransparentSymmetricKey)]))).toBe(ResultReason.KeyFormatTypeNotSupported);
    // The Key Block's algorithm and the attributes must still agree.
    expect(await reasonOf(wrappedRegister(structure(Tag.ResponsePayload, [structure(Tag.SymmetricKey, [block])]), CUM.Encrypt,
      [enumeration(Tag.CryptographicAlgorithm, Alg.DES3)]))).toBe(ResultReason.InvalidField);
  });

  it('refuses tampered data, a key without Unwrap Key, and a missing wrapping key', async () => {
    const { uid: kek } = await kekPair();
    const uid = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt });
    const g = await getWrapped(uid, spec(WrappingMethod.Encrypt, eki(kek)));
    const w = Buffer.from(wrappedValue(g));
    w[3]! ^= 1;
    const tampered = structure(Tag.ResponsePayload, [structure(Tag.SymmetricKey, [structure(Tag.KeyBlock,
      keyBlockOf(g).value.map((c) => (c.tag === Tag.KeyValue ? byteString(Tag.KeyValue, w) : c)))])]);
    expect(await reasonOf(wrappedRegister(tampered))).toBe(ResultReason.CryptographicFailure);

    const { uid: wrapOnly } = await kekPair(CUM.WrapKey);
    const g2 = await getWrapped(uid, spec(WrappingMethod.Encrypt, eki(wrapOnly)));
    expect(await reasonOf(wrappedRegister(g2))).toBe(ResultReason.IncompatibleCryptographicUsageMask);

    // A wrapping key of another tenant is one this server does not hold for the caller: the
    // key is kept wrapped (previous test), never unwrapped with the other tenant's key.
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc', { l1: t.l1.describe() });
    const kept = textOf(await call(other.ctx, register, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [integer(Tag.CryptographicUsageMask, CUM.Encrypt)]), child(g, Tag.SymmetricKey)!]), Tag.UniqueIdentifier);
    expect(child(keyBlockOf(await call(other.ctx, get, [uidField(kept)])), Tag.KeyWrappingData)).toBeDefined();
  });
});

describe('Get with Key Wrap Type', () => {
  it('Not Wrapped on a plaintext key returns it as stored; an unknown wrap type is refused', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt });
    const g = await call(t.ctx, get, [uidField(uid), enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped)]);
    expect(child(keyBlockOf(g), Tag.KeyWrappingData)).toBeUndefined();
    expect(await reasonOf(call(t.ctx, get, [uidField(uid), enumeration(Tag.KeyWrapType, 9)]))).toBe(ResultReason.KeyWrapTypeNotSupported);
  });
});
