import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';
import { boolean, byteString, child, enumeration, integer, longInteger, structure, type Struct } from '../../src/kmip/items.ts';
import { encrypt } from '../../src/operations/encrypt.ts';
import { decrypt } from '../../src/operations/decrypt.ts';
import { revoke } from '../../src/operations/revoke.ts';
import {
  BlockCipherMode, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, HashingAlgorithm, PaddingMethod, ResultReason,
  RevocationReasonCode, UsageLimitsUnit,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { bytesOf, call, createPair, params, reasonOf, registerSymmetric, uidField } from './crypto-helpers.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const key128 = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const ED = CUM.Encrypt | CUM.Decrypt;
const data = (b: Buffer) => byteString(Tag.Data, b);
const iv = (b: Buffer) => byteString(Tag.IVCounterNonce, b);
const cbcPkcs5 = params(enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC), enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5));
const gcm = (tagLength = 16) => params(enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM), integer(Tag.TagLength, tagLength));
const plain = Buffer.from('the data key the application wants protected, 50 b');

describe('Encrypt / Decrypt, symmetric', () => {
  it('AES-CBC-PKCS5 with a server-generated IV: the IV comes back, matches local AES, and decrypts', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const r = await call(t.ctx, encrypt, [uidField(uid), cbcPkcs5, data(plain)]);
    expect(r.value.map((c) => c.tag)).toEqual([Tag.UniqueIdentifier, Tag.Data, Tag.IVCounterNonce]);
    const ivOut = bytesOf(r, Tag.IVCounterNonce);
    expect(ivOut.length).toBe(16);
    const local = createCipheriv('aes-128-cbc', key128, ivOut);
    expect(bytesOf(r, Tag.Data).equals(Buffer.concat([local.update(plain), local.final()]))).toBe(true);
    const d = await call(t.ctx, decrypt, [uidField(uid), cbcPkcs5, data(bytesOf(r, Tag.Data)), iv(ivOut)]);
    expect(bytesOf(d, Tag.Data).equals(plain)).toBe(true);
  });

  it('uses the key\'s Cryptographic Parameters attribute when the request has none; Random IV there makes the server pick', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, {
      mask: ED,
      extra: [params(enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC), enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5), boolean(Tag.RandomIV, true))],
    });
    const r = await call(t.ctx, encrypt, [uidField(uid), data(plain)]);
    const ivOut = bytesOf(r, Tag.IVCounterNonce);
    // With Random IV the client may not send its own.
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), data(plain), iv(Buffer.alloc(16))]))).toBe(ResultReason.InvalidField);
    // CS-BC-M-13: Decrypt without the IV is Invalid Message; with it, the plaintext.
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(uid), data(bytesOf(r, Tag.Data))]))).toBe(ResultReason.InvalidMessage);
    expect(bytesOf(await call(t.ctx, decrypt, [uidField(uid), data(bytesOf(r, Tag.Data)), iv(ivOut)]), Tag.Data).equals(plain)).toBe(true);
  });

  it('AES-GCM: tag and AAD, a changed tag, AAD or ciphertext is Cryptographic Failure, a bad tag length General Failure', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const aad = byteString(Tag.AuthenticatedEncryptionAdditionalData, Buffer.from('header'));
    const nonce = Buffer.alloc(12, 7);
    const r = await call(t.ctx, encrypt, [uidField(uid), gcm(), data(plain), iv(nonce), aad]);
    const ct = bytesOf(r, Tag.Data);
    const tag = bytesOf(r, Tag.AuthenticatedEncryptionTag);
    const local = createDecipheriv('aes-128-gcm', key128, nonce);
    local.setAAD(Buffer.from('header'));
    local.setAuthTag(tag);
    expect(Buffer.concat([local.update(ct), local.final()]).equals(plain)).toBe(true);
    const dec = (over: { tag?: Buffer; aad?: Buffer; ct?: Buffer }) =>
      call(t.ctx, decrypt, [uidField(uid), gcm(), data(over.ct ?? ct), iv(nonce), byteString(Tag.AuthenticatedEncryptionAdditionalData, over.aad ?? Buffer.from('header')), byteString(Tag.AuthenticatedEncryptionTag, over.tag ?? tag)]);
    expect(bytesOf(await dec({}), Tag.Data).equals(plain)).toBe(true);
    const badTag = Buffer.from(tag);
    badTag[0]! ^= 1;
    expect(await reasonOf(dec({ tag: badTag }))).toBe(ResultReason.CryptographicFailure);
    expect(await reasonOf(dec({ aad: Buffer.from('headeR') }))).toBe(ResultReason.CryptographicFailure);
    expect(await reasonOf(dec({ ct: Buffer.concat([ct.subarray(1), Buffer.from([ct[0]! ^ 1])]) }))).toBe(ResultReason.CryptographicFailure);
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), gcm(32), data(plain), iv(nonce)]))).toBe(ResultReason.GeneralFailure);
    // a server-chosen GCM nonce is 12 bytes and is returned
    const g = await call(t.ctx, encrypt, [uidField(uid), gcm(), data(plain)]);
    expect(bytesOf(g, Tag.IVCounterNonce).length).toBe(12);
    // An IV longer than OpenSSL takes is the client's Invalid Field, not a server fault (fuzzer finding).
    expect(bytesOf(await call(t.ctx, encrypt, [uidField(uid), gcm(), data(plain), iv(Buffer.alloc(128, 1))]), Tag.Data).length).toBe(plain.length);
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), gcm(), data(plain), iv(Buffer.alloc(129, 1))]))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(uid), gcm(), data(ct), iv(Buffer.alloc(300, 1)), byteString(Tag.AuthenticatedEncryptionTag, tag)]))).toBe(ResultReason.InvalidField);
  });

  it('refuses a mode it does not know and data that does not fill blocks without padding', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.OFB)), data(plain)]))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), data(plain)]))).toBe(ResultReason.InvalidField); // AES without a mode
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), data(Buffer.alloc(15))]))).toBe(ResultReason.InvalidField);
  });
});

describe('Encrypt / Decrypt, enforcement', () => {
  it('the usage mask must allow the operation (Incompatible Cryptographic Usage Mask)', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: CUM.Decrypt });
    const ecb = params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB));
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]))).toBe(ResultReason.IncompatibleCryptographicUsageMask);
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]))).toBeUndefined();
  });

  it('a Pre-Active key does neither; a Deactivated key decrypts but does not encrypt; 1.x hears Permission Denied', async () => {
    const ecb = params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB));
    const pre = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED, active: false });
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(pre), ecb, data(Buffer.alloc(16))]))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(pre), ecb, data(Buffer.alloc(16))]))).toBe(ResultReason.WrongKeyLifecycleState);

    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const ct = bytesOf(await call(t.ctx, encrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]), Tag.Data);
    await call(t.ctx, revoke, [uidField(uid), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)])]);
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(bytesOf(await call(t.ctx, decrypt, [uidField(uid), ecb, data(ct)]), Tag.Data).equals(Buffer.alloc(16))).toBe(true);
    const v14 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    expect(await reasonOf(call(v14.ctx, encrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]))).toBe(ResultReason.PermissionDenied);
  });

  it('another tenant\'s key does not exist', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc');
    expect(await reasonOf(call(other.ctx, encrypt, [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), data(Buffer.alloc(16))]))).toBe(ResultReason.ObjectNotFound);
  });

  it('Usage Limits in bytes: the count goes down and is saved; past it, Permission Denied (CS-BC-M-7)', async () => {
    const limits = structure(Tag.UsageLimits, [longInteger(Tag.UsageLimitsTotal, 32n), enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Byte)]);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED, extra: [limits] });
    const ecb = params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB));
    await call(t.ctx, encrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]);
    const saved = (await t.repo.load(uid))!.attributes.find((a) => a.tag === Tag.UsageLimits) as Struct;
    expect(child(saved, Tag.UsageLimitsCount)).toMatchObject({ type: 'LongInteger', value: 16n });
    await call(t.ctx, encrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]);
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]))).toBe(ResultReason.PermissionDenied);
    // Decrypt does not apply protection and is not counted (s.4.63).
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(uid), ecb, data(Buffer.alloc(16))]))).toBeUndefined();
  });

  it('Data is required in a single-part request', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB))]))).toBe(ResultReason.InvalidField);
  });
});

describe('Encrypt / Decrypt, RSA', () => {
  it('RSA-OAEP with SHA-256 and an MGF1 SHA-1 hash round-trips; the label must match', async () => {
    const { priv, pub } = await createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)], CUM.Decrypt, CUM.Encrypt);
    const oaep = (label: string) => params(
      enumeration(Tag.PaddingMethod, PaddingMethod.OAEP), enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
      enumeration(Tag.MaskGeneratorHashingAlgorithm, HashingAlgorithm.SHA_1), byteString(Tag.PSource, Buffer.from(label)),
    );
    const ct = bytesOf(await call(t.ctx, encrypt, [uidField(pub), oaep('L'), data(plain)]), Tag.Data);
    expect(ct.length).toBe(256);
    expect(bytesOf(await call(t.ctx, decrypt, [uidField(priv), oaep('L'), data(ct)]), Tag.Data).equals(plain)).toBe(true);
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(priv), oaep('M'), data(ct)]))).toBe(ResultReason.CryptographicFailure);
    // too long for OAEP-SHA-256 with a 2048-bit key (max 190 bytes)
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(pub), oaep('L'), data(Buffer.alloc(191))]))).toBe(ResultReason.InvalidField);
    // the public key cannot decrypt, the private key's mask does not allow Encrypt
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(pub), oaep('L'), data(ct)]))).toBe(ResultReason.IncompatibleCryptographicUsageMask);
  });

  it('RSA PKCS#1 v1.5 encryption round-trips; RSA is single-part', async () => {
    const { priv, pub } = await createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)], CUM.Decrypt, CUM.Encrypt);
    const p15 = params(enumeration(Tag.PaddingMethod, PaddingMethod.PKCS1V1_5));
    const ct = bytesOf(await call(t.ctx, encrypt, [uidField(pub), p15, data(plain)]), Tag.Data);
    expect(bytesOf(await call(t.ctx, decrypt, [uidField(priv), p15, data(ct)]), Tag.Data).equals(plain)).toBe(true);
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(pub), p15, data(plain), boolean(Tag.InitIndicator, true)]))).toBe(ResultReason.InvalidField);
  });
});

describe('multi-part Encrypt / Decrypt', () => {
  const corr = (r: Struct) => bytesOf(r, Tag.CorrelationValue);

  it('AES-CBC-PKCS5 in three parts gives the single-part ciphertext, and decrypts in parts', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const ivv = Buffer.alloc(16, 3);
    const whole = bytesOf(await call(t.ctx, encrypt, [uidField(uid), cbcPkcs5, data(plain), iv(ivv)]), Tag.Data);
    const r1 = await call(t.ctx, encrypt, [uidField(uid), cbcPkcs5, data(plain.subarray(0, 10)), iv(ivv), boolean(Tag.InitIndicator, true)]);
    const c = corr(r1);
    expect(c.length).toBe(16);
    const r2 = await call(t.ctx, encrypt, [data(plain.subarray(10, 40)), byteString(Tag.CorrelationValue, c)]);
    const r3 = await call(t.ctx, encrypt, [data(plain.subarray(40)), byteString(Tag.CorrelationValue, c), boolean(Tag.FinalIndicator, true)]);
    expect(child(r3, Tag.CorrelationValue)).toBeUndefined();
    const parts = Buffer.concat([r1, r2, r3].map((r) => bytesOf(r, Tag.Data)));
    expect(parts.equals(whole)).toBe(true);
    // the stream is closed after its final part
    expect(await reasonOf(call(t.ctx, encrypt, [data(plain), byteString(Tag.CorrelationValue, c)]))).toBe(ResultReason.InvalidCorrelationValue);

    const d1 = await call(t.ctx, decrypt, [uidField(uid), cbcPkcs5, data(whole.subarray(0, 20)), iv(ivv), boolean(Tag.InitIndicator, true)]);
    const d2 = await call(t.ctx, decrypt, [uidField(uid), data(whole.subarray(20)), byteString(Tag.CorrelationValue, corr(d1)), boolean(Tag.FinalIndicator, true)]);
    expect(Buffer.concat([bytesOf(d1, Tag.Data), bytesOf(d2, Tag.Data)]).equals(plain)).toBe(true);
  });

  it('AES-GCM encryption in parts returns the tag at the end; multi-part GCM decryption is refused', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const nonce = Buffer.alloc(12, 1);
    const r1 = await call(t.ctx, encrypt, [uidField(uid), gcm(), data(plain.subarray(0, 7)), iv(nonce), boolean(Tag.InitIndicator, true)]);
    const r2 = await call(t.ctx, encrypt, [data(plain.subarray(7)), byteString(Tag.CorrelationValue, corr(r1)), boolean(Tag.FinalIndicator, true)]);
    const whole = await call(t.ctx, encrypt, [uidField(uid), gcm(), data(plain), iv(nonce)]);
    expect(Buffer.concat([bytesOf(r1, Tag.Data), bytesOf(r2, Tag.Data)]).equals(bytesOf(whole, Tag.Data))).toBe(true);
    expect(bytesOf(r2, Tag.AuthenticatedEncryptionTag).equals(bytesOf(whole, Tag.AuthenticatedEncryptionTag))).toBe(true);
    expect(await reasonOf(call(t.ctx, decrypt, [uidField(uid), gcm(), data(plain), iv(nonce), boolean(Tag.InitIndicator, true)]))).toBe(ResultReason.InvalidField);
  });

  it('a Correlation Value is useless to another tenant, another operation or another key', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const uid2 = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const r1 = await call(t.ctx, encrypt, [uidField(uid), cbcPkcs5, data(plain), iv(Buffer.alloc(16)), boolean(Tag.InitIndicator, true)]);
    const c = byteString(Tag.CorrelationValue, corr(r1));
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc');
    expect(await reasonOf(call(other.ctx, encrypt, [data(plain), c]))).toBe(ResultReason.InvalidCorrelationValue);
    expect(await reasonOf(call(t.ctx, decrypt, [data(plain), c]))).toBe(ResultReason.InvalidCorrelationValue);
    expect(await reasonOf(call(t.ctx, encrypt, [uidField(uid2), data(plain), c]))).toBe(ResultReason.InvalidCorrelationValue);
    expect(await reasonOf(call(t.ctx, encrypt, [data(plain), byteString(Tag.CorrelationValue, createHash('md5').update('x').digest())]))).toBe(ResultReason.InvalidCorrelationValue);
  });

  it('a key revoked in the middle of a stream stops it', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.AES, key128, { mask: ED });
    const r1 = await call(t.ctx, encrypt, [uidField(uid), cbcPkcs5, data(plain), iv(Buffer.alloc(16)), boolean(Tag.InitIndicator, true)]);
    await call(t.ctx, revoke, [uidField(uid), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)])]);
    const c = byteString(Tag.CorrelationValue, corr(r1));
    expect(await reasonOf(call(t.ctx, encrypt, [data(plain), c]))).toBe(ResultReason.WrongKeyLifecycleState);
    // and the failed part ended the stream
    expect(await reasonOf(call(t.ctx, encrypt, [data(plain), c]))).toBe(ResultReason.InvalidCorrelationValue);
  });
});
