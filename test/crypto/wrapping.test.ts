// src/crypto/wrapping.ts: RFC 3394 / RFC 5649 known answers through the wrapping API,
// AES-GCM, RSA-OAEP and RSA PKCS#1 v1.5 round trips, and the failure classes (wrong key,
// corrupted data, forged MAC) the operation layer maps to Result Reasons.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  UnwrapFailure, WrapParamError, authenticateKeyData, decryptKeyData, encryptKeyData, verifyKeyData,
} from '../../src/crypto/wrapping.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('AES key wrap (RFC 3394 §4.6) and with padding (RFC 5649 §6)', () => {
  it('wraps a 256-bit key with a 256-bit KEK to the published ciphertext, and back', () => {
    const kek = { bytes: hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F') };
    const key = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
    const { wrapped, iv } = encryptKeyData({ kind: 'aes-kw' }, kek, key);
    expect(wrapped.toString('hex')).toBe('28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21');
    expect(iv).toBeUndefined();
    expect(decryptKeyData({ kind: 'aes-kw' }, kek, wrapped)).toEqual(key);
  });
  it('RFC 5649 20-byte and 7-byte examples', () => {
    const kek = { bytes: hex('5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8') };
    const w20 = encryptKeyData({ kind: 'aes-kwp' }, kek, hex('c37b7e6492584340bed12207808941155068f738')).wrapped;
    expect(w20.toString('hex')).toBe('138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a');
    const w7 = encryptKeyData({ kind: 'aes-kwp' }, kek, hex('466f7250617369')).wrapped;
    expect(w7.toString('hex')).toBe('afbeb0f07dfbf5419200f2ccb50bb24f');
    expect(decryptKeyData({ kind: 'aes-kwp' }, kek, w7)).toEqual(hex('466f7250617369'));
  });
  it('a wrong KEK or a flipped bit is an UnwrapFailure, a non-AES key a WrapParamError', () => {
    const kek = { bytes: randomBytes(32) };
    const { wrapped } = encryptKeyData({ kind: 'aes-kw' }, kek, randomBytes(32));
    expect(() => decryptKeyData({ kind: 'aes-kw' }, { bytes: randomBytes(32) }, wrapped)).toThrow(UnwrapFailure);
    const bad = Buffer.from(wrapped);
    bad[5]! ^= 1;
    expect(() => decryptKeyData({ kind: 'aes-kw' }, kek, bad)).toThrow(UnwrapFailure);
    expect(() => encryptKeyData({ kind: 'aes-kw' }, { bytes: randomBytes(20) }, randomBytes(32))).toThrow(WrapParamError);
    // RFC 3394 cannot wrap 20 bytes (not a multiple of 8): a parameter problem, not a crash.
    expect(() => encryptKeyData({ kind: 'aes-kw' }, kek, randomBytes(20))).toThrow(WrapParamError);
  });
});

describe('AES-GCM wrapping', () => {
  it('round-trips with the IV returned separately and the tag appended', () => {
    const kek = { bytes: randomBytes(32) };
    const key = randomBytes(32);
    const { wrapped, iv } = encryptKeyData({ kind: 'aes-gcm', tagLength: 16 }, kek, key);
    expect(iv).toHaveLength(12);
    expect(wrapped).toHaveLength(48);
    expect(decryptKeyData({ kind: 'aes-gcm', tagLength: 16 }, kek, wrapped, iv)).toEqual(key);
    const bad = Buffer.from(wrapped);
    bad[47]! ^= 0x80;
    expect(() => decryptKeyData({ kind: 'aes-gcm', tagLength: 16 }, kek, bad, iv)).toThrow(UnwrapFailure);
    expect(() => decryptKeyData({ kind: 'aes-gcm', tagLength: 16 }, kek, wrapped)).toThrow(WrapParamError);
  });
});

describe('RSA wrapping', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  it('RSA-OAEP (SHA-256, MGF1-SHA-1) round trip; the wrong private key fails', () => {
    const cipher = { kind: 'rsa-oaep' as const, oaep: { hash: 'sha256' as const, mgf1Hash: 'sha1' as const } };
    const key = randomBytes(32);
    const { wrapped } = encryptKeyData(cipher, { publicKey }, key);
    expect(wrapped).toHaveLength(256);
    expect(decryptKeyData(cipher, { privateKey }, wrapped)).toEqual(key);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(() => decryptKeyData(cipher, { privateKey: other }, wrapped)).toThrow(UnwrapFailure);
    expect(() => decryptKeyData(cipher, { bytes: randomBytes(32) }, wrapped)).toThrow(WrapParamError);
    expect(() => encryptKeyData(cipher, { publicKey }, randomBytes(300))).toThrow(WrapParamError);
  });
  it('RSA PKCS#1 v1.5 round trip; a corrupted block unwraps to something else, never the key', () => {
    const key = randomBytes(32);
    const { wrapped } = encryptKeyData({ kind: 'rsa-pkcs1v15' }, { publicKey }, key);
    expect(decryptKeyData({ kind: 'rsa-pkcs1v15' }, { privateKey }, wrapped)).toEqual(key);
    const bad = Buffer.from(wrapped);
    bad[100]! ^= 1;
    expect(decryptKeyData({ kind: 'rsa-pkcs1v15' }, { privateKey }, bad)).not.toEqual(key);
  });
});

describe('MAC / signature of key data', () => {
  it('HMAC verifies and a forged tag is an UnwrapFailure', () => {
    const auth = { kind: 'mac' as const, mac: { kind: 'hmac' as const, hash: 'sha256' as const }, key: randomBytes(32) };
    const data = randomBytes(40);
    const tag = authenticateKeyData(auth, data);
    expect(() => verifyKeyData(auth, data, tag)).not.toThrow();
    const forged = Buffer.from(tag);
    forged[0]! ^= 1;
    expect(() => verifyKeyData(auth, data, forged)).toThrow(UnwrapFailure);
  });
  it('RSA PKCS#1 v1.5 signature over the key data', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const scheme = { family: 'rsa' as const, padding: 'pkcs1v15' as const, hash: 'sha256' as const };
    const data = randomBytes(40);
    const sig = authenticateKeyData({ kind: 'signature', scheme, key: privateKey }, data);
    expect(() => verifyKeyData({ kind: 'signature', scheme, key: publicKey }, data, sig)).not.toThrow();
    expect(() => verifyKeyData({ kind: 'signature', scheme, key: publicKey }, randomBytes(40), sig)).toThrow(UnwrapFailure);
  });
});
