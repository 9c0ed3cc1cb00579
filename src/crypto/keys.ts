// Key generation for the object-creating operations (Create, Create Key Pair, Re-key,
// Re-key Key Pair). Everything here is node:crypto; the KMIP numbers come from the
// generated tables of the codec (the leaf of the import graph), so callers pass the
// Cryptographic Algorithm / Recommended Curve enumeration values they received.
import { generateKeyPair as nodeGenerateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { CryptographicAlgorithm as Alg, RecommendedCurve, ResultReason } from '../ttlv/generated/enumerations.ts';

/**
 * A parameter the key code cannot honour. `reason` is the KMIP Result Reason the
 * operation should answer with (s.11.46); operations turn it into a KmipError.
 */
export class KeyMaterialError extends Error {
  override readonly name = 'KeyMaterialError';
  constructor(
    readonly reason: number,
    message: string,
  ) {
    super(message);
  }
}

const algName = (alg: number): string => {
  for (const [n, v] of Object.entries(Alg)) if (v === alg) return n;
  return `0x${alg.toString(16)}`;
};

// ---------------------------------------------------------------------------
// Symmetric keys

interface SymmetricRule {
  /** Lengths (bits) the server generates; the first is the default. */
  readonly generate: readonly number[];
  /** Cryptographic Length (bits) → key material bytes, for lengths accepted on Register. */
  bytes(lengthBits: number): number | undefined;
  /** Create may generate any accepted length, not only those of `generate` (HMAC keys). */
  readonly generateAnyValid?: boolean;
}

/** HMAC keys: any whole number of bytes from 112 bits (SP 800-131A minimum strength) to 4096. */
const hmacRule = (outputBits: number): SymmetricRule => ({
  generate: [outputBits],
  generateAnyValid: true,
  bytes: (l) => (l % 8 === 0 && l >= 112 && l <= 4096 ? l / 8 : undefined),
});

const SYMMETRIC: ReadonlyMap<number, SymmetricRule> = new Map<number, SymmetricRule>([
  [Alg.AES, { generate: [256, 128, 192], bytes: (l) => (l === 128 || l === 192 || l === 256 ? l / 8 : undefined) }],
  // Triple DES: the Cryptographic Length counts the effective key bits (168 for three keys,
  // 112 for two, as the OASIS SKFF vectors use 168); the material keeps its parity bits
  // (24 or 16 bytes). 192 is accepted on input because some clients count parity bits.
  [Alg.DES3, { generate: [168], bytes: (l) => (l === 168 || l === 192 ? 24 : l === 112 || l === 128 ? 16 : undefined) }],
  [Alg.HMAC_SHA1, hmacRule(160)],
  [Alg.HMAC_SHA224, hmacRule(224)],
  [Alg.HMAC_SHA256, hmacRule(256)],
  [Alg.HMAC_SHA384, hmacRule(384)],
  [Alg.HMAC_SHA512, hmacRule(512)],
  [Alg.ChaCha20, { generate: [256], bytes: (l) => (l === 256 ? 32 : undefined) }],
  [Alg.ChaCha20Poly1305, { generate: [256], bytes: (l) => (l === 256 ? 32 : undefined) }],
]);

export const isSymmetricAlgorithm = (alg: number): boolean => SYMMETRIC.has(alg);

/** The length (bits) the server uses when a Create request gives none (s.4 intro: server-supplied defaults). */
export function defaultSymmetricLength(alg: number): number {
  const rule = SYMMETRIC.get(alg);
  if (rule === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `symmetric keys of algorithm ${algName(alg)} are not supported`);
  return rule.generate[0]!;
}

/** Bytes of key material for (algorithm, Cryptographic Length); InvalidField when the pair is not valid. */
export function symmetricKeyBytes(alg: number, lengthBits: number): number {
  const rule = SYMMETRIC.get(alg);
  if (rule === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `symmetric keys of algorithm ${algName(alg)} are not supported`);
  const n = rule.bytes(lengthBits);
  if (n === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `Cryptographic Length ${lengthBits} is not valid for ${algName(alg)}`);
  return n;
}

/** Sets the low bit of each byte so that every byte has odd parity (FIPS 46-3 §3, DES key parity). */
function setOddParity(key: Buffer): Buffer {
  for (let i = 0; i < key.length; i++) {
    const b = key[i]! & 0xfe;
    let ones = 0;
    for (let v = b; v !== 0; v >>= 1) ones += v & 1;
    key[i] = ones % 2 === 0 ? b | 1 : b;
  }
  return key;
}

/** Fresh key material from the OpenSSL DRBG behind node:crypto. */
export function generateSymmetricKey(alg: number, lengthBits: number): Buffer {
  const rule = SYMMETRIC.get(alg);
  if (rule === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `symmetric keys of algorithm ${algName(alg)} are not supported`);
  // Create only generates the lengths the server stands behind (e.g. no 2-key 3DES).
  if (!rule.generate.includes(lengthBits) && !(rule.generateAnyValid === true && rule.bytes(lengthBits) !== undefined)) {
    throw new KeyMaterialError(ResultReason.InvalidField, `Cryptographic Length ${lengthBits} is not supported for ${algName(alg)} (supported: ${rule.generate.join(', ')})`);
  }
  const key = randomBytes(symmetricKeyBytes(alg, lengthBits));
  return alg === Alg.DES3 ? setOddParity(key) : key;
}

// ---------------------------------------------------------------------------
// Asymmetric keys

export type AsymmetricKind = 'rsa' | 'ec' | 'ed25519';

/** A fully resolved key-pair request. `length` is the Cryptographic Length attribute the objects get. */
export interface AsymmetricSpec {
  kind: AsymmetricKind;
  algorithm: number;
  length: number;
  /** Recommended Curve (s.11.45), EC only. */
  curve?: number;
}

export const RSA_GENERATE_LENGTHS: readonly number[] = [2048, 3072, 4096];

/** The NIST curves the server generates, with their OpenSSL names and field sizes. */
export const EC_CURVES: ReadonlyMap<number, { nodeName: string; jwkName: string; bits: number }> = new Map([
  [RecommendedCurve.P_256, { nodeName: 'prime256v1', jwkName: 'P-256', bits: 256 }],
  [RecommendedCurve.P_384, { nodeName: 'secp384r1', jwkName: 'P-384', bits: 384 }],
  [RecommendedCurve.P_521, { nodeName: 'secp521r1', jwkName: 'P-521', bits: 521 }],
]);

export function curveForLength(bits: number): number | undefined {
  for (const [curve, info] of EC_CURVES) if (info.bits === bits) return curve;
  return undefined;
}

/** ECDSA, ECDH and ECMQV keys are EC keys; the algorithm says what they may be used for. */
const EC_ALGORITHMS: readonly number[] = [Alg.EC, Alg.ECDSA, Alg.ECDH, Alg.ECMQV];

export const isAsymmetricAlgorithm = (alg: number): boolean =>
  alg === Alg.RSA || alg === Alg.Ed25519 || EC_ALGORITHMS.includes(alg);

/**
 * Validates and completes a key-pair request: RSA needs a length (default 2048), EC a
 * curve or a length that names one (default P-256), Ed25519 has a fixed length of 256.
 */
export function resolveAsymmetricSpec(alg: number, length?: number, curve?: number): AsymmetricSpec {
  if (alg === Alg.RSA) {
    const l = length ?? RSA_GENERATE_LENGTHS[0]!;
    if (!RSA_GENERATE_LENGTHS.includes(l)) {
      throw new KeyMaterialError(ResultReason.InvalidField, `RSA Cryptographic Length ${l} is not supported (supported: ${RSA_GENERATE_LENGTHS.join(', ')})`);
    }
    return { kind: 'rsa', algorithm: alg, length: l };
  }
  if (EC_ALGORITHMS.includes(alg)) {
    let c = curve;
    if (c === undefined) c = length === undefined ? RecommendedCurve.P_256 : curveForLength(length);
    const info = c === undefined ? undefined : EC_CURVES.get(c);
    if (c === undefined || info === undefined) {
      throw new KeyMaterialError(ResultReason.InvalidField, curve !== undefined
        ? `Recommended Curve 0x${curve.toString(16)} is not supported (supported: P-256, P-384, P-521)`
        : `no supported curve has Cryptographic Length ${length}`);
    }
    if (length !== undefined && length !== info.bits) {
      throw new KeyMaterialError(ResultReason.InvalidField, `Cryptographic Length ${length} does not match curve ${info.jwkName} (${info.bits})`);
    }
    return { kind: 'ec', algorithm: alg, length: info.bits, curve: c };
  }
  if (alg === Alg.Ed25519) {
    if (length !== undefined && length !== 256) {
      throw new KeyMaterialError(ResultReason.InvalidField, `Ed25519 keys have Cryptographic Length 256, not ${length}`);
    }
    return { kind: 'ed25519', algorithm: alg, length: 256 };
  }
  throw new KeyMaterialError(ResultReason.InvalidField, `key pairs of algorithm ${algName(alg)} are not supported`);
}

const genPair = promisify(nodeGenerateKeyPair) as unknown as (
  type: string,
  options: Record<string, unknown>,
) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>;

/**
 * Generates a key pair off the event loop (node's libuv thread pool): a 4096-bit RSA key
 * takes long enough that doing it synchronously would stall every connection.
 */
export async function generateKeyPair(spec: AsymmetricSpec): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  switch (spec.kind) {
    case 'rsa':
      return genPair('rsa', { modulusLength: spec.length, publicExponent: 0x10001 });
    case 'ec':
      return genPair('ec', { namedCurve: EC_CURVES.get(spec.curve!)!.nodeName });
    case 'ed25519':
      return genPair('ed25519', {});
  }
}
