import { describe, expect, it } from 'vitest';
import { createCipheriv, createHmac } from 'node:crypto';
import {
  KeyMaterialError, SYMMETRIC_LENGTH_SOURCES, defaultSymmetricLength, generateKeyPair, generateSymmetricKey, resolveAsymmetricSpec, symmetricKeyBytes,
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
    expect(reasonOf(() => symmetricKeyBytes(Alg.Blowfish, 456))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => symmetricKeyBytes(Alg.SHA3_256, 256))).toBe(ResultReason.InvalidField);
    // 3DES counted with its parity bits (PyKMIP's way) is the same key
    expect(symmetricKeyBytes(Alg.DES3, 192)).toBe(24);
    expect(generateSymmetricKey(Alg.DES3, 128).length).toBe(16);
    expect(reasonOf(() => generateSymmetricKey(Alg.DES3, 176))).toBe(ResultReason.InvalidField);
  });

  it('two-key 3DES (112 bits) is 16 bytes with odd parity and works as des-ede', () => {
    const k = generateSymmetricKey(Alg.DES3, 112);
    expect(k.length).toBe(16);
    for (const b of k) {
      let ones = 0;
      for (let v = b; v; v >>= 1) ones += v & 1;
      expect(ones % 2).toBe(1);
    }
    expect(() => createCipheriv('des-ede-cbc', k, Buffer.alloc(8))).not.toThrow();
  });

  // Every symmetric algorithm of the enumeration (2.1 s.11.12): default length, the edges of
  // its valid range, and a refusal just outside it. Lengths from the sources in keys.ts.
  it.each([
    ['DES', Alg.DES, 56, [56], [48, 128]],
    ['Blowfish', Alg.Blowfish, 128, [32, 448, 200], [24, 456, 33]],
    ['Camellia', Alg.Camellia, 256, [128, 192], [160, 512]],
    ['CAST5', Alg.CAST5, 128, [40, 80], [32, 136]],
    ['IDEA', Alg.IDEA, 128, [128], [64, 256]],
    ['MARS', Alg.MARS, 256, [128, 448, 160], [96, 480, 136]],
    ['RC2', Alg.RC2, 128, [8, 1024], [0, 1032]],
    ['RC4', Alg.RC4, 128, [40, 2048], [32, 2056]],
    ['RC5', Alg.RC5, 128, [8, 2040], [0, 2048]],
    ['SKIPJACK', Alg.SKIPJACK, 80, [80], [64, 128]],
    ['Twofish', Alg.Twofish, 256, [128, 192], [64, 320]],
    ['Poly1305', Alg.Poly1305, 256, [256], [128]],
    ['ARIA', Alg.ARIA, 256, [128, 192], [64]],
    ['SEED', Alg.SEED, 128, [128], [256]],
    ['SM4', Alg.SM4, 128, [128], [256]],
    ['GOST R 34.13-2015', Alg.GOSTR34_13_2015, 256, [256], [128]],
    ['GOST 28147-89', Alg.GOST28147_89, 256, [256], [128]],
    ['HMAC-MD5', Alg.HMAC_MD5, 128, [112, 4096], [104]],
    ['HMAC-SHA3-256', Alg.HMAC_SHA3_256, 256, [512], [4104]],
  ] as const)('%s: default %i bits, valid %j, refused %j', (_n, alg, def, valid, refused) => {
    expect(defaultSymmetricLength(alg)).toBe(def);
    for (const bits of [def, ...valid]) {
      const k = generateSymmetricKey(alg, bits);
      expect(k.length * 8).toBe(bits === 56 ? 64 : bits);
    }
    for (const bits of refused) {
      expect(reasonOf(() => generateSymmetricKey(alg, bits))).toBe(ResultReason.InvalidField);
      expect(reasonOf(() => symmetricKeyBytes(alg, bits))).toBe(ResultReason.InvalidField);
    }
  });

  it('a One Time Pad has no default length but any whole-byte length up to 1 MiB', () => {
    expect(reasonOf(() => defaultSymmetricLength(Alg.OneTimePad))).toBe(ResultReason.InvalidField);
    expect(generateSymmetricKey(Alg.OneTimePad, 8 * 1000).length).toBe(1000);
    expect(reasonOf(() => generateSymmetricKey(Alg.OneTimePad, 8 * 1024 * 1024 + 8))).toBe(ResultReason.InvalidField);
  });

  it('every symmetric algorithm of the enumeration has a length rule with a cited source', () => {
    // Everything in s.11.12 that is neither a hash, an asymmetric scheme nor post-quantum.
    const notSymmetric = new Set<number>([
      Alg.RSA, Alg.DSA, Alg.ECDSA, Alg.DH, Alg.ECDH, Alg.ECMQV, Alg.EC, Alg.SHA3_224, Alg.SHA3_256, Alg.SHA3_384, Alg.SHA3_512,
      Alg.SHAKE_128, Alg.SHAKE_256, Alg.SM2, Alg.SM3, Alg.GOSTR34_10_2012, Alg.GOSTR34_11_2012, Alg.XMSS, Alg.SPHINCS_256,
      Alg.McEliece, Alg.McEliece_6960119, Alg.McEliece_8192128, Alg.Ed25519, Alg.Ed448,
    ]);
    for (const v of Object.values(Alg)) {
      if (notSymmetric.has(v)) expect(SYMMETRIC_LENGTH_SOURCES.has(v)).toBe(false);
      else expect(SYMMETRIC_LENGTH_SOURCES.get(v), `algorithm 0x${v.toString(16)}`).toMatch(/\w/);
    }
  });
});

describe('key pair generation', () => {
  it('resolves defaults and refuses unsupported parameters', () => {
    expect(resolveAsymmetricSpec(Alg.RSA)).toEqual({ kind: 'rsa', algorithm: Alg.RSA, length: 2048 });
    expect(resolveAsymmetricSpec(Alg.ECDSA, 384)).toMatchObject({ kind: 'ec', curve: RecommendedCurve.P_384, length: 384 });
    expect(resolveAsymmetricSpec(Alg.EC, undefined, RecommendedCurve.P_521)).toMatchObject({ length: 521 });
    expect(resolveAsymmetricSpec(Alg.EC)).toMatchObject({ curve: RecommendedCurve.P_256 });
    // A length alone names the NIST curve of that size, else the only curve of it.
    expect(resolveAsymmetricSpec(Alg.EC, 256)).toMatchObject({ curve: RecommendedCurve.P_256 });
    expect(resolveAsymmetricSpec(Alg.EC, 224)).toMatchObject({ curve: RecommendedCurve.P_224 });
    expect(resolveAsymmetricSpec(Alg.ECDSA, 512)).toMatchObject({ curve: RecommendedCurve.BRAINPOOLP512R1 });
    expect(resolveAsymmetricSpec(Alg.ECDSA, 256, RecommendedCurve.SECP256K1)).toMatchObject({ curve: RecommendedCurve.SECP256K1, length: 256 });
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

  it.each([
    [RecommendedCurve.P_256, 'prime256v1'], [RecommendedCurve.P_384, 'secp384r1'], [RecommendedCurve.P_521, 'secp521r1'],
    [RecommendedCurve.P_224, 'secp224r1'], [RecommendedCurve.SECP256K1, 'secp256k1'], [RecommendedCurve.BRAINPOOLP256R1, 'brainpoolP256r1'],
    [RecommendedCurve.BRAINPOOLP384R1, 'brainpoolP384r1'], [RecommendedCurve.BRAINPOOLP512R1, 'brainpoolP512r1'],
  ])(
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
