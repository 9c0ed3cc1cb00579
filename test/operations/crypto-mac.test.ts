import { createHash, createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { boolean, byteString, child, enumeration, structure } from '../../src/kmip/items.ts';
import { hash } from '../../src/operations/hash.ts';
import { mac } from '../../src/operations/mac.ts';
import { macVerify } from '../../src/operations/mac-verify.ts';
import { rngRetrieve } from '../../src/operations/rng-retrieve.ts';
import { rngSeed } from '../../src/operations/rng-seed.ts';
import { integer } from '../../src/kmip/items.ts';
import { CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, HashingAlgorithm, ResultReason, ValidityIndicator } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { bytesOf, call, enumOf, params, reasonOf, registerSymmetric, uidField } from './crypto-helpers.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const msg = Buffer.from('01020304050607080910111213141516', 'hex');
const data = (b: Buffer) => byteString(Tag.Data, b);
const MAC_BOTH = CUM.MACGenerate | CUM.MACVerify;

describe('MAC / MAC Verify', () => {
  it('HMAC-SHA-256 key: the MAC is the local HMAC, verifies Valid, a changed MAC is Invalid', async () => {
    const key = Buffer.alloc(32, 0x11);
    const uid = await registerSymmetric(t.ctx, Alg.HMAC_SHA256, key, { mask: MAC_BOTH });
    const r = await call(t.ctx, mac, [uidField(uid), data(msg)]);
    const m = bytesOf(r, Tag.MACData);
    expect(m.equals(createHmac('sha256', key).update(msg).digest())).toBe(true);
    expect(enumOf(await call(t.ctx, macVerify, [uidField(uid), data(msg), byteString(Tag.MACData, m)]), Tag.ValidityIndicator)).toBe(ValidityIndicator.Valid);
    const bad = Buffer.from(m);
    bad[31]! ^= 0x80;
    expect(enumOf(await call(t.ctx, macVerify, [uidField(uid), data(msg), byteString(Tag.MACData, bad)]), Tag.ValidityIndicator)).toBe(ValidityIndicator.Invalid);
    expect(await reasonOf(call(t.ctx, macVerify, [uidField(uid), data(msg)]))).toBe(ResultReason.InvalidField);
  });

  it('an AES key MACs with HMAC-SHA-256 when its Cryptographic Parameters say so (CS-AC-M-4), else with AES-CMAC (RFC 4493 example 2)', async () => {
    const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const hmacKey = await registerSymmetric(t.ctx, Alg.AES, key, { mask: MAC_BOTH, extra: [params(enumeration(Tag.CryptographicAlgorithm, Alg.HMAC_SHA256))] });
    const m1 = bytesOf(await call(t.ctx, mac, [uidField(hmacKey), data(msg)]), Tag.MACData);
    expect(m1.equals(createHmac('sha256', key).update(msg).digest())).toBe(true);
    const cmacKey = await registerSymmetric(t.ctx, Alg.AES, key, { mask: MAC_BOTH });
    const m2 = bytesOf(await call(t.ctx, mac, [uidField(cmacKey), data(Buffer.from('6bc1bee22e409f96e93d7e117393172a', 'hex'))]), Tag.MACData);
    expect(m2.toString('hex')).toBe('070a16b46b4d4144f79bdd9dd04a287c');
  });

  it('the mask must allow MAC Generate / MAC Verify; a 3DES key cannot MAC', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.HMAC_SHA256, Buffer.alloc(32, 1), { mask: CUM.MACVerify });
    expect(await reasonOf(call(t.ctx, mac, [uidField(uid), data(msg)]))).toBe(ResultReason.IncompatibleCryptographicUsageMask);
    const des = await registerSymmetric(t.ctx, Alg.DES3, Buffer.alloc(24, 0x5b), { mask: MAC_BOTH });
    expect(await reasonOf(call(t.ctx, mac, [uidField(des), data(msg)]))).toBe(ResultReason.InvalidField);
  });

  it('multi-part MAC equals the single-part MAC; multi-part MAC Verify ends Valid', async () => {
    const uid = await registerSymmetric(t.ctx, Alg.HMAC_SHA512, Buffer.alloc(64, 9), { mask: MAC_BOTH });
    const whole = bytesOf(await call(t.ctx, mac, [uidField(uid), data(msg)]), Tag.MACData);
    const p1 = await call(t.ctx, mac, [uidField(uid), data(msg.subarray(0, 3)), boolean(Tag.InitIndicator, true)]);
    const c = byteString(Tag.CorrelationValue, bytesOf(p1, Tag.CorrelationValue));
    const p2 = await call(t.ctx, mac, [data(msg.subarray(3)), c, boolean(Tag.FinalIndicator, true)]);
    expect(bytesOf(p2, Tag.MACData).equals(whole)).toBe(true);
    const v1 = await call(t.ctx, macVerify, [uidField(uid), data(msg.subarray(0, 8)), boolean(Tag.InitIndicator, true)]);
    const vc = byteString(Tag.CorrelationValue, bytesOf(v1, Tag.CorrelationValue));
    const v2 = await call(t.ctx, macVerify, [data(msg.subarray(8)), byteString(Tag.MACData, whole), vc, boolean(Tag.FinalIndicator, true)]);
    expect(enumOf(v2, Tag.ValidityIndicator)).toBe(ValidityIndicator.Valid);
  });
});

describe('Hash', () => {
  it('SHA-256 and SHA3-512 of the Data; the response holds only Data', async () => {
    const r = await call(t.ctx, hash, [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)), data(msg)]);
    expect(r.value.map((c) => c.tag)).toEqual([Tag.Data]);
    expect(bytesOf(r, Tag.Data).toString('hex')).toMatch(/^ad41233d22cf9322e3a7ff49a13da434797abed3/); // CS-AC-M-7
    const s3 = await call(t.ctx, hash, [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA3_512)), data(Buffer.from('abc'))]);
    expect(bytesOf(s3, Tag.Data).equals(createHash('sha3-512').update('abc').digest())).toBe(true);
  });
  it('multi-part', async () => {
    const p = params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_384));
    const h1 = await call(t.ctx, hash, [p, data(msg.subarray(0, 2)), boolean(Tag.InitIndicator, true)]);
    expect(child(h1, Tag.Data)).toBeUndefined();
    const h2 = await call(t.ctx, hash, [data(msg.subarray(2)), byteString(Tag.CorrelationValue, bytesOf(h1, Tag.CorrelationValue)), boolean(Tag.FinalIndicator, true)]);
    expect(bytesOf(h2, Tag.Data).equals(createHash('sha384').update(msg).digest())).toBe(true);
  });
  it('needs a supported Hashing Algorithm', async () => {
    expect(await reasonOf(call(t.ctx, hash, [data(msg)]))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(call(t.ctx, hash, [params(enumeration(Tag.HashingAlgorithm, HashingAlgorithm.MD5)), data(msg)]))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(call(t.ctx, hash, [structure(Tag.CryptographicParameters, []), data(msg)]))).toBe(ResultReason.InvalidField);
  });
});

describe('RNG Retrieve / RNG Seed', () => {
  it('returns Data Length random bytes, and refuses 0 or an absent length', async () => {
    const a = bytesOf(await call(t.ctx, rngRetrieve, [integer(Tag.DataLength, 32)]), Tag.Data);
    const b = bytesOf(await call(t.ctx, rngRetrieve, [integer(Tag.DataLength, 32)]), Tag.Data);
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
    expect(await reasonOf(call(t.ctx, rngRetrieve, [integer(Tag.DataLength, 0)]))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(call(t.ctx, rngRetrieve, []))).toBe(ResultReason.InvalidField);
  });
  it('RNG Seed answers how many bytes it used (CS-RNG-O-1)', async () => {
    const r = await call(t.ctx, rngSeed, [data(Buffer.alloc(32, 0x33))]);
    expect(enumOf(r, Tag.DataLength)).toBeUndefined();
    expect(child(r, Tag.DataLength)).toMatchObject({ type: 'Integer', value: 32 });
    expect(await reasonOf(call(t.ctx, rngSeed, []))).toBe(ResultReason.InvalidField);
  });
});
