// Issue 13 §2: Create for every symmetric algorithm of the Cryptographic Algorithm
// enumeration (2.1 s.11.12), cryptographic use where Node's OpenSSL has the cipher (Camellia,
// ARIA, SM4 beside AES/3DES), the exact refusal where it does not, two-key 3DES, and the EC
// curves beyond the NIST three (secp256k1, brainpool r1, P-224) in Create Key Pair, Register
// (Transparent EC form) and Sign / Signature Verify.
import { createCipheriv, createPublicKey, generateKeyPairSync, verify as nodeVerify, sign as nodeSign } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { bigInteger, byteString, child, dateTime, enumeration, integer, structure, type Struct } from '../../src/kmip/items.ts';
import { create } from '../../src/operations/create.ts';
import { decrypt } from '../../src/operations/decrypt.ts';
import { encrypt } from '../../src/operations/encrypt.ts';
import { get } from '../../src/operations/get.ts';
import { register } from '../../src/operations/register.ts';
import { sign } from '../../src/operations/sign.ts';
import { signatureVerify } from '../../src/operations/signature-verify.ts';
import {
  BlockCipherMode, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, KeyFormatType as KFT, ObjectType, PaddingMethod,
  RecommendedCurve, ResultReason, ValidityIndicator,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { bytesOf, call, createPair, enumOf, hourAgo, params, textOf, uidField } from './crypto-helpers.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const ED = CUM.Encrypt | CUM.Decrypt;
const msg = Buffer.from('sixteen byte msg and then some more bytes');

async function createKey(alg: number, length?: number): Promise<string> {
  const attrs: TtlvItem[] = [enumeration(Tag.CryptographicAlgorithm, alg), integer(Tag.CryptographicUsageMask, ED), dateTime(Tag.ActivationDate, hourAgo())];
  if (length !== undefined) attrs.push(integer(Tag.CryptographicLength, length));
  const r = await call(t.ctx, create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, attrs)]);
  return textOf(r, Tag.UniqueIdentifier);
}

async function keyBytes(uid: string): Promise<{ bytes: Buffer; alg: number; length: number }> {
  const g = await call(t.ctx, get, [uidField(uid)]);
  const kb = child(child(g, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
  return {
    bytes: bytesOf(child(kb, Tag.KeyValue) as Struct, Tag.KeyMaterial),
    alg: enumOf(kb, Tag.CryptographicAlgorithm)!,
    length: (child(kb, Tag.CryptographicLength) as { value: number }).value,
  };
}

async function failure(p: Promise<unknown>): Promise<KmipError> {
  try { await p; } catch (e) { if (e instanceof KmipError) return e; throw e; }
  throw new Error('expected a KmipError');
}

describe('Create: every symmetric algorithm', () => {
  it.each([
    ['Blowfish', Alg.Blowfish, undefined, 128], ['Camellia', Alg.Camellia, 192, 192], ['CAST5', Alg.CAST5, 80, 80],
    ['IDEA', Alg.IDEA, undefined, 128], ['MARS', Alg.MARS, 448, 448], ['RC2', Alg.RC2, 64, 64], ['RC4', Alg.RC4, 40, 40],
    ['RC5', Alg.RC5, undefined, 128], ['SKIPJACK', Alg.SKIPJACK, undefined, 80], ['Twofish', Alg.Twofish, 128, 128],
    ['One Time Pad', Alg.OneTimePad, 4096, 4096], ['Poly1305', Alg.Poly1305, undefined, 256], ['ARIA', Alg.ARIA, 128, 128],
    ['SEED', Alg.SEED, undefined, 128], ['SM4', Alg.SM4, undefined, 128], ['GOST R 34.13-2015', Alg.GOSTR34_13_2015, undefined, 256],
    ['GOST 28147-89', Alg.GOST28147_89, undefined, 256], ['HMAC-MD5', Alg.HMAC_MD5, undefined, 128], ['DES', Alg.DES, undefined, 56],
  ] as const)('%s (length %s) → a stored key of %i bits', async (_n, alg, asked, stored) => {
    const k = await keyBytes(await createKey(alg, asked));
    expect(k.alg).toBe(alg);
    expect(k.length).toBe(stored);
    expect(k.bytes.length).toBe(alg === Alg.DES ? 8 : stored / 8);
  });

  it('refuses lengths outside the algorithm\'s definition, naming the source', async () => {
    const e = await failure(createKey(Alg.Blowfish, 512));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.message).toContain('Blowfish');
    const otp = await failure(createKey(Alg.OneTimePad));
    expect(otp.message).toMatch(/no default length/);
    // hashes are not keys
    expect((await failure(createKey(Alg.SHA3_256))).reason).toBe(ResultReason.InvalidField);
  });

  it('two-key 3DES (112) as well as three-key (168): both encrypt like OpenSSL\'s des-ede / des-ede3', async () => {
    for (const [bits, cipher] of [[112, 'des-ede-cbc'], [168, 'des-ede3-cbc']] as const) {
      const uid = await createKey(Alg.DES3, bits);
      const k = await keyBytes(uid);
      expect(k.length).toBe(bits);
      expect(k.bytes.length).toBe(bits === 112 ? 16 : 24);
      const iv = Buffer.alloc(8, 3);
      const r = await call(t.ctx, encrypt, [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC), enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5)), byteString(Tag.Data, msg), byteString(Tag.IVCounterNonce, iv)]);
      const local = createCipheriv(cipher, k.bytes, iv);
      expect(bytesOf(r, Tag.Data).equals(Buffer.concat([local.update(msg), local.final()]))).toBe(true);
    }
  });
});

describe('Encrypt / Decrypt with the other ciphers of OpenSSL\'s default provider', () => {
  it.each([
    ['Camellia-256-CBC', Alg.Camellia, 256, BlockCipherMode.CBC, 'camellia-256-cbc', 16],
    ['Camellia-128-CTR', Alg.Camellia, 128, BlockCipherMode.CTR, 'camellia-128-ctr', 16],
    ['ARIA-192-CBC', Alg.ARIA, 192, BlockCipherMode.CBC, 'aria-192-cbc', 16],
    ['SM4-CBC', Alg.SM4, 128, BlockCipherMode.CBC, 'sm4-cbc', 16],
    ['SM4-ECB', Alg.SM4, 128, BlockCipherMode.ECB, 'sm4-ecb', 0],
  ] as const)('%s matches OpenSSL and decrypts back', async (_n, alg, bits, mode, cipher, ivLen) => {
    const uid = await createKey(alg, bits);
    const k = await keyBytes(uid);
    const p = params(enumeration(Tag.BlockCipherMode, mode), enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5));
    const iv = Buffer.alloc(ivLen, 9);
    const ivField = ivLen > 0 ? [byteString(Tag.IVCounterNonce, iv)] : [];
    const r = await call(t.ctx, encrypt, [uidField(uid), p, byteString(Tag.Data, msg), ...ivField]);
    const local = createCipheriv(cipher, k.bytes, ivLen > 0 ? iv : null);
    expect(bytesOf(r, Tag.Data).equals(Buffer.concat([local.update(msg), local.final()]))).toBe(true);
    const d = await call(t.ctx, decrypt, [uidField(uid), p, byteString(Tag.Data, bytesOf(r, Tag.Data)), ...ivField]);
    expect(bytesOf(d, Tag.Data).equals(msg)).toBe(true);
  });

  it('ARIA-GCM authenticates: a changed tag is Cryptographic Failure', async () => {
    const uid = await createKey(Alg.ARIA, 256);
    const p = params(enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM));
    const nonce = byteString(Tag.IVCounterNonce, Buffer.alloc(12, 1));
    const r = await call(t.ctx, encrypt, [uidField(uid), p, byteString(Tag.Data, msg), nonce]);
    const tag = bytesOf(r, Tag.AuthenticatedEncryptionTag);
    const ok = await call(t.ctx, decrypt, [uidField(uid), p, byteString(Tag.Data, bytesOf(r, Tag.Data)), nonce, byteString(Tag.AuthenticatedEncryptionTag, tag)]);
    expect(bytesOf(ok, Tag.Data).equals(msg)).toBe(true);
    const bad = Buffer.from(tag); bad[0] = bad[0]! ^ 1;
    const e = await failure(call(t.ctx, decrypt, [uidField(uid), p, byteString(Tag.Data, bytesOf(r, Tag.Data)), nonce, byteString(Tag.AuthenticatedEncryptionTag, bad)]));
    expect(e.reason).toBe(ResultReason.CryptographicFailure);
  });

  it('a mode OpenSSL lacks for the cipher is Invalid Field (no Camellia-GCM)', async () => {
    const uid = await createKey(Alg.Camellia, 128);
    const e = await failure(call(t.ctx, encrypt, [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM)), byteString(Tag.Data, msg)]));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.message).toMatch(/Camellia mode GCM is not supported \(ECB, CBC, CTR\)/);
  });

  it.each([
    ['Blowfish', Alg.Blowfish, /legacy provider/], ['IDEA', Alg.IDEA, /legacy provider/], ['CAST5', Alg.CAST5, /legacy provider/],
    ['RC4', Alg.RC4, /RFC 7465.*legacy provider/], ['SEED', Alg.SEED, /legacy provider/], ['DES', Alg.DES, /FIPS 46-3.*legacy provider/],
    ['Twofish', Alg.Twofish, /does not implement it/], ['MARS', Alg.MARS, /does not implement it/], ['SKIPJACK', Alg.SKIPJACK, /does not implement it/],
    ['GOST 28147-89', Alg.GOST28147_89, /gost-engine/], ['Poly1305', Alg.Poly1305, /not a cipher/],
  ] as const)('a %s key is created but Encrypt is refused with the exact reason', async (_n, alg, why) => {
    const uid = await createKey(alg);
    const p = params(enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC));
    for (const op of [encrypt, decrypt]) {
      const e = await failure(call(t.ctx, op, [uidField(uid), p, byteString(Tag.Data, Buffer.alloc(16)), byteString(Tag.IVCounterNonce, Buffer.alloc(8))]));
      expect(e.reason).toBe(ResultReason.FeatureNotSupported);
      expect(e.message).toMatch(why);
    }
  });
});

const CURVES = [
  ['P-224', RecommendedCurve.P_224, 'secp224r1', 'sha224', 224],
  ['secp256k1', RecommendedCurve.SECP256K1, 'secp256k1', 'sha256', 256],
  ['brainpoolP256r1', RecommendedCurve.BRAINPOOLP256R1, 'brainpoolP256r1', 'sha256', 256],
  ['brainpoolP384r1', RecommendedCurve.BRAINPOOLP384R1, 'brainpoolP384r1', 'sha384', 384],
  ['brainpoolP512r1', RecommendedCurve.BRAINPOOLP512R1, 'brainpoolP512r1', 'sha512', 512],
] as const;

describe('EC curves beyond P-256/384/521', () => {
  it.each(CURVES)('%s: Create Key Pair, Sign with the curve\'s hash, verified by OpenSSL and by Signature Verify', async (_n, curve, nodeName, hash, bits) => {
    const { priv, pub } = await createPair(t.ctx, [enumeration(Tag.CryptographicAlgorithm, Alg.ECDSA), structure(Tag.CryptographicDomainParameters, [enumeration(Tag.RecommendedCurve, curve)])], CUM.Sign, CUM.Verify);
    const g = await call(t.ctx, get, [uidField(pub), enumeration(Tag.KeyFormatType, KFT.X_509)]);
    const kb = child(child(g, Tag.PublicKey) as Struct, Tag.KeyBlock) as Struct;
    expect((child(kb, Tag.CryptographicLength) as { value: number }).value).toBe(bits);
    const spki = bytesOf(child(kb, Tag.KeyValue) as Struct, Tag.KeyMaterial);
    const pk = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    expect(pk.asymmetricKeyDetails?.namedCurve).toBe(nodeName);
    const sig = bytesOf(await call(t.ctx, sign, [uidField(priv), byteString(Tag.Data, msg)]), Tag.SignatureData);
    expect(nodeVerify(hash, msg, pk, sig)).toBe(true);
    const v = await call(t.ctx, signatureVerify, [uidField(pub), byteString(Tag.Data, msg), byteString(Tag.SignatureData, sig)]);
    expect(enumOf(v, Tag.ValidityIndicator)).toBe(ValidityIndicator.Valid);
    const wrong = await call(t.ctx, signatureVerify, [uidField(pub), byteString(Tag.Data, Buffer.from('other')), byteString(Tag.SignatureData, sig)]);
    expect(enumOf(wrong, Tag.ValidityIndicator)).toBe(ValidityIndicator.Invalid);
  });

  it.each(CURVES)('%s: Register of a Transparent EC private key signs what OpenSSL verifies; Get returns it as Transparent again', async (_n, curve, nodeName, hash, bits) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: nodeName });
    const sec1 = privateKey.export({ format: 'der', type: 'sec1' });
    // SEC 1 §C.4: the private scalar is the OCTET STRING after the version.
    const off = sec1[1]! & 0x80 ? 2 + (sec1[1]! & 0x7f) : 2;
    const dLen = sec1[off + 4]!;
    const d = BigInt('0x' + sec1.subarray(off + 5, off + 5 + dLen).toString('hex'));
    const r = await call(t.ctx, register, [
      enumeration(Tag.ObjectType, ObjectType.PrivateKey),
      structure(Tag.Attributes, [integer(Tag.CryptographicUsageMask, CUM.Sign), dateTime(Tag.ActivationDate, hourAgo())]),
      structure(Tag.PrivateKey, [structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KFT.TransparentECPrivateKey),
        structure(Tag.KeyValue, [structure(Tag.KeyMaterial, [enumeration(Tag.RecommendedCurve, curve), bigInteger(Tag.D, d)])]),
        enumeration(Tag.CryptographicAlgorithm, Alg.ECDSA), integer(Tag.CryptographicLength, bits),
      ])]),
    ]);
    const uid = textOf(r, Tag.UniqueIdentifier);
    const sig = bytesOf(await call(t.ctx, sign, [uidField(uid), byteString(Tag.Data, msg)]), Tag.SignatureData);
    expect(nodeVerify(hash, msg, publicKey, sig)).toBe(true);
    // and an OpenSSL signature verifies against the same key's public half through OpenSSL (sanity of the fixture)
    expect(nodeVerify(hash, msg, publicKey, nodeSign(hash, msg, privateKey))).toBe(true);
    const g = await call(t.ctx, get, [uidField(uid), enumeration(Tag.KeyFormatType, KFT.TransparentECPrivateKey)]);
    const km = child(child(child(child(g, Tag.PrivateKey) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial) as Struct;
    expect(enumOf(km, Tag.RecommendedCurve)).toBe(curve);
    expect((child(km, Tag.D) as { value: bigint }).value).toBe(d);
  });
});
