import { describe, expect, it } from 'vitest';
import { createCipheriv, createHmac } from 'node:crypto';
import {
  KeyMaterialError, defaultSymmetricLength, generateKeyPair, generateSymmetricKey, resolveAsymmetricSpec, symmetricKeyBytes,
} from '../../src/crypto/keys.ts';
import { CryptographicAlgorithm as Alg, RecommendedCurve, ResultReason } from '../../src/ttlv/generated/enumerations.ts';

const reasonOf = (f: () => unknown): number | undefined => {
  try { f(); } catch (e) { if (e instanceof KeyMaterialError) return e.reason; throw e; }
  return undefined;
};

describe('symmetric key generation', () => {
  it.each([[128, 16], [192, 24], [256, 32]])('AES-%i gives %i bytes usable by AES', (bits, bytes) => {
    const k = generateSymmetricKey(Alg.AES, bits);
    expect(k.length).toBe(bytes);
    // the key works with the cipher of that size
    expect(() => createCipheriv(`aes-${bits}-ecb`, k, null)).not.toThrow();
  });

  it('two keys differ', () => {
    expect(generateSymmetricKey(Alg.AES, 256).equals(generateSymmetricKey(Alg.AES, 256))).toBe(false);
  });

  it('3DES-168 is 24 bytes with odd parity in every byte', () => {
    const k = generateSymmetricKey(Alg.DES3, 168);
    expect(k.length).toBe(24);
    for (const b of k) {
      let ones = 0;
      for (let v = b; v; v >>= 1) ones += v & 1;
      expect(ones % 2).toBe(1);
    }
    expect(() => createCipheriv('des-ede3-cbc', k, Buffer.alloc(8))).not.toThrow();
  });

  it.each([
    [Alg.HMAC_SHA1, 160, 'sha1'], [Alg.HMAC_SHA224, 224, 'sha224'], [Alg.HMAC_SHA256, 256, 'sha256'],
    [Alg.HMAC_SHA384, 384, 'sha384'], [Alg.HMAC_SHA512, 512, 'sha512'],
  ])('HMAC algorithm %i defaults to %i bits', (alg, bits, hash) => {
    expect(defaultSymmetricLength(alg)).toBe(bits);
    const k = generateSymmetricKey(alg, bits);
    expect(k.length * 8).toBe(bits);
    expect(createHmac(hash, k).update('x').digest().length).toBeGreaterThan(0);
  });

  it('HMAC keys may have other whole-byte lengths within bounds', () => {
    expect(generateSymmetricKey(Alg.HMAC_SHA256, 512).length).toBe(64);
    expect(reasonOf(() => generateSymmetricKey(Alg.HMAC_SHA256, 100))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => generateSymmetricKey(Alg.HMAC_SHA256, 64))).toBe(ResultReason.InvalidField);
  });

  it('ChaCha20 is 256 bits only', () => {
    expect(generateSymmetricKey(Alg.ChaCha20, 256).length).toBe(32);
    expect(reasonOf(() => generateSymmetricKey(Alg.ChaCha20, 128))).toBe(ResultReason.InvalidField);
  });

  it('refuses bad lengths and non-symmetric algorithms with InvalidField', () => {
    expect(reasonOf(() => generateSymmetricKey(Alg.AES, 100))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => generateSymmetricKey(Alg.RSA, 2048))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => symmetricKeyBytes(Alg.Blowfish, 128))).toBe(ResultReason.InvalidField);
    // two-key 3DES is accepted on Register (16 bytes) but never generated
    expect(symmetricKeyBytes(Alg.DES3, 112)).toBe(16);
    expect(reasonOf(() => generateSymmetricKey(Alg.DES3, 112))).toBe(ResultReason.InvalidField);
  });
});

describe('key pair generation', () => {
  it('resolves defaults and refuses unsupported parameters', () => {
    expect(resolveAsymmetricSpec(Alg.RSA)).toEqual({ kind: 'rsa', algorithm: Alg.RSA, length: 2048 });
    expect(resolveAsymmetricSpec(Alg.ECDSA, 384)).toMatchObject({ kind: 'ec', curve: RecommendedCurve.P_384, length: 384 });
    expect(resolveAsymmetricSpec(Alg.EC, undefined, RecommendedCurve.P_521)).toMatchObject({ length: 521 });
    expect(resolveAsymmetricSpec(Alg.EC)).toMatchObject({ curve: RecommendedCurve.P_256 });
    expect(resolveAsymmetricSpec(Alg.Ed25519)).toMatchObject({ kind: 'ed25519', length: 256 });
    expect(reasonOf(() => resolveAsymmetricSpec(Alg.RSA, 1024))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => resolveAsymmetricSpec(Alg.EC, 384, RecommendedCurve.P_256))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => resolveAsymmetricSpec(Alg.EC, undefined, RecommendedCurve.K_163))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => resolveAsymmetricSpec(Alg.AES, 256))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => resolveAsymmetricSpec(Alg.Ed25519, 255))).toBe(ResultReason.InvalidField);
  });

  it('generates RSA-2048 with exponent 65537', async () => {
    const { privateKey, publicKey } = await generateKeyPair(resolveAsymmetricSpec(Alg.RSA, 2048));
    expect(privateKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048, publicExponent: 65537n });
    expect(publicKey.type).toBe('public');
  });

  it.each([[RecommendedCurve.P_256, 'prime256v1'], [RecommendedCurve.P_384, 'secp384r1'], [RecommendedCurve.P_521, 'secp521r1']])(
    'generates EC curve %i (%s)', async (curve, name) => {
      const { privateKey } = await generateKeyPair(resolveAsymmetricSpec(Alg.EC, undefined, curve));
      expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe(name);
    });

  it('generates Ed25519', async () => {
    const { privateKey, publicKey } = await generateKeyPair(resolveAsymmetricSpec(Alg.Ed25519));
    expect(privateKey.asymmetricKeyType).toBe('ed25519');
    expect(publicKey.asymmetricKeyType).toBe('ed25519');
  });
});
