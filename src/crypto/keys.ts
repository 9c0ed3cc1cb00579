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
  /** Lengths (bits) the server generates when asked; the first is the default. */
  readonly generate: readonly number[];
  /** Cryptographic Length (bits) → key material bytes, for lengths accepted on Register. */
  bytes(lengthBits: number): number | undefined;
  /** Create may generate any accepted length, not only those of `generate` (variable-length keys). */
  readonly generateAnyValid?: boolean;
  /** Where the valid lengths come from. */
  readonly source: string;
  /** DES keys carry a parity bit per byte (FIPS 46-3 §3). */
  readonly parity?: boolean;
}

/** HMAC keys: any whole number of bytes from 112 bits (SP 800-131A minimum strength) to 4096. */
const hmacRule = (outputBits: number, source: string): SymmetricRule => ({
  generate: [outputBits],
  generateAnyValid: true,
  bytes: (l) => (l % 8 === 0 && l >= 112 && l <= 4096 ? l / 8 : undefined),
  source: `${source}; RFC 2104 §3 (key of any length, at least the output length recommended); SP 800-131A (112-bit minimum)`,
});

/** Exactly the listed lengths. */
const fixed = (lengths: readonly number[], source: string): SymmetricRule => ({
  generate: lengths,
  bytes: (l) => (lengths.includes(l) ? l / 8 : undefined),
  source,
});

/** Whole bytes from `min` to `max` bits in steps of `step` bits; any of them may be generated. */
const ranged = (def: number, min: number, max: number, step: number, source: string): SymmetricRule => ({
  generate: [def],
  generateAnyValid: true,
  bytes: (l) => (l >= min && l <= max && (l - min) % step === 0 && l % 8 === 0 ? l / 8 : undefined),
  source,
});

/**
 * Every symmetric algorithm of the Cryptographic Algorithm enumeration (2.1 s.11.12) with
 * the key lengths its own definition allows. Create generates random bytes of a valid length
 * for each of them (s.6.1.8 makes no algorithm special); which of them can also be used to
 * encrypt is decided elsewhere (operations/common/crypto-params.ts), by what Node's OpenSSL
 * implements. The hash algorithms (SHA-3, SHAKE, SM3, GOST R 34.11), the asymmetric ones
 * and the post-quantum signature/KEM schemes have no symmetric keys and are not listed.
 */
const SYMMETRIC: ReadonlyMap<number, SymmetricRule> = new Map<number, SymmetricRule>([
  // DES: 64 key bits of which 8 are parity; the Cryptographic Length counts the effective 56
  // (as 3DES counts 168), 64 is accepted on input from clients that count parity bits.
  [Alg.DES, { generate: [56, 64], bytes: (l) => (l === 56 || l === 64 ? 8 : undefined), parity: true, source: 'FIPS 46-3 §3 (56 key bits + 8 parity bits)' }],
  // Triple DES: the Cryptographic Length counts the effective key bits (168 for three keys,
  // 112 for two, as the OASIS SKFF vectors use 168); the material keeps its parity bits
  // (24 or 16 bytes). Clients that count parity bits (PyKMIP checks length = bytes × 8) ask
  // for 192 or 128: they get the same keys, recorded with the length they asked for.
  // Two-key 3DES is generated on request (legacy interoperability: SP 800-131A Rev. 2 §2 allows
  // it for decryption of existing data only; the default stays three-key).
  [Alg.DES3, {
    generate: [168, 112, 192, 128], bytes: (l) => (l === 168 || l === 192 ? 24 : l === 112 || l === 128 ? 16 : undefined), parity: true,
    source: 'SP 800-67 Rev. 2 §3.1 (keying options 1 and 2); FIPS 46-3 §3 (parity)',
  }],
  [Alg.AES, fixed([256, 128, 192], 'FIPS 197 §5 (Nk = 4, 6, 8)')],
  [Alg.HMAC_SHA1, hmacRule(160, 'FIPS 198-1')],
  [Alg.HMAC_SHA224, hmacRule(224, 'FIPS 198-1')],
  [Alg.HMAC_SHA256, hmacRule(256, 'FIPS 198-1')],
  [Alg.HMAC_SHA384, hmacRule(384, 'FIPS 198-1')],
  [Alg.HMAC_SHA512, hmacRule(512, 'FIPS 198-1')],
  [Alg.HMAC_MD5, hmacRule(128, 'RFC 2104')],
  [Alg.HMAC_SHA3_224, hmacRule(224, 'FIPS 202 with FIPS 198-1')],
  [Alg.HMAC_SHA3_256, hmacRule(256, 'FIPS 202 with FIPS 198-1')],
  [Alg.HMAC_SHA3_384, hmacRule(384, 'FIPS 202 with FIPS 198-1')],
  [Alg.HMAC_SHA3_512, hmacRule(512, 'FIPS 202 with FIPS 198-1')],
  [Alg.Blowfish, ranged(128, 32, 448, 8, 'Schneier, "Description of a New Variable-Length Key, 64-Bit Block Cipher (Blowfish)", FSE 1993 (32 to 448 bits)')],
  [Alg.Camellia, fixed([256, 128, 192], 'RFC 3713 §2.1 (128, 192, 256 bits)')],
  [Alg.CAST5, ranged(128, 40, 128, 8, 'RFC 2144 §2.5 (40 to 128 bits in 8-bit steps)')],
  [Alg.IDEA, fixed([128], 'Lai and Massey, EUROCRYPT 1991; RFC 3058 §1 (128-bit keys)')],
  [Alg.MARS, ranged(256, 128, 448, 32, 'IBM MARS AES submission, 1999 §2 (128 to 448 bits in 32-bit steps)')],
  [Alg.RC2, ranged(128, 8, 1024, 8, 'RFC 2268 §2 (1 to 128 bytes)')],
  [Alg.RC4, ranged(128, 40, 2048, 8, 'RFC 6229 §2 (1 to 256 bytes; 40 bits is the smallest in use)')],
  [Alg.RC5, ranged(128, 8, 2040, 8, 'RFC 2040 §2 (0 to 255 bytes; empty keys are refused)')],
  [Alg.SKIPJACK, fixed([80], 'NIST "SKIPJACK and KEA Algorithm Specifications" 1998 §1 (80-bit key)')],
  [Alg.Twofish, fixed([256, 128, 192], 'Schneier et al., "Twofish: A 128-Bit Block Cipher", 1998 §4.2 (128, 192, 256 bits)')],
  // A one-time pad key is as long as the message it protects: there is no default length,
  // Create must name one (up to 1 MiB of pad, a bound on what the server stores per object).
  [Alg.OneTimePad, { generate: [], generateAnyValid: true, bytes: (l) => (l >= 8 && l <= 8 * 1024 * 1024 && l % 8 === 0 ? l / 8 : undefined), source: 'Shannon 1949 (pad as long as the message); bounded at 1 MiB here' }],
  [Alg.ChaCha20, fixed([256], 'RFC 8439 §2.3 (256-bit key)')],
  [Alg.Poly1305, fixed([256], 'RFC 8439 §2.5 (256-bit one-time key r ‖ s)')],
  [Alg.ChaCha20Poly1305, fixed([256], 'RFC 8439 §2.8 (256-bit key)')],
  [Alg.ARIA, fixed([256, 128, 192], 'RFC 5794 §2 (128, 192, 256 bits)')],
  [Alg.SEED, fixed([128], 'RFC 4269 §2 (128-bit key)')],
  [Alg.SM4, fixed([128], 'GB/T 32907-2016; draft-ribose-cfrg-sm4 §4 (128-bit key)')],
  [Alg.GOSTR34_13_2015, fixed([256], 'GOST R 34.12-2015 (Kuznyechik, Magma: 256-bit key), modes GOST R 34.13-2015; RFC 7801 §4')],
  [Alg.GOST28147_89, fixed([256], 'RFC 5830 §5 (256-bit key)')],
]);

/** The Cryptographic Algorithm values Create can make a Symmetric Key of, and where their lengths come from. */
export const SYMMETRIC_LENGTH_SOURCES: ReadonlyMap<number, string> = new Map([...SYMMETRIC].map(([alg, r]) => [alg, r.source]));

export const isSymmetricAlgorithm = (alg: number): boolean => SYMMETRIC.has(alg);

/** The length (bits) the server uses when a Create request gives none (s.4 intro: server-supplied defaults). */
export function defaultSymmetricLength(alg: number): number {
  const rule = SYMMETRIC.get(alg);
  if (rule === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `symmetric keys of algorithm ${algName(alg)} are not supported`);
  const def = rule.generate[0];
  if (def === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `${algName(alg)} keys have no default length: give a Cryptographic Length`);
  return def;
}

/** Bytes of key material for (algorithm, Cryptographic Length); InvalidField when the pair is not valid. */
export function symmetricKeyBytes(alg: number, lengthBits: number): number {
  const rule = SYMMETRIC.get(alg);
  if (rule === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `symmetric keys of algorithm ${algName(alg)} are not supported`);
  const n = rule.bytes(lengthBits);
  if (n === undefined) throw new KeyMaterialError(ResultReason.InvalidField, `Cryptographic Length ${lengthBits} is not valid for ${algName(alg)} (${rule.source})`);
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
  if (!rule.generate.includes(lengthBits) && !(rule.generateAnyValid === true && rule.bytes(lengthBits) !== undefined)) {
    throw new KeyMaterialError(ResultReason.InvalidField, `Cryptographic Length ${lengthBits} is not supported for ${algName(alg)} (supported: ${rule.generateAnyValid === true ? `${rule.source}` : rule.generate.join(', ')})`);
  }
  const key = randomBytes(symmetricKeyBytes(alg, lengthBits));
  return rule.parity === true ? setOddParity(key) : key;
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

/** An elliptic curve the server generates, imports and signs with. */
export interface CurveInfo {
  /** OpenSSL's name (Node's namedCurve). */
  readonly nodeName: string;
  /** The name clients and messages use. */
  readonly label: string;
  /** Field size in bits: the Cryptographic Length of keys on the curve. */
  readonly bits: number;
  /** The curve's object identifier, dotted (SPKI / SEC 1 ECParameters namedCurve). */
  readonly oid: string;
  /** The hash ECDSA uses when the client names none: the one matching the curve's strength. */
  readonly hash: 'sha224' | 'sha256' | 'sha384' | 'sha512';
}

/**
 * The curves of the Recommended Curve enumeration (2.1 s.11.45; values from
 * kmip-constants.json through the generated table) that Node's OpenSSL offers and the server
 * uses: the NIST curves P-224, P-256, P-384, P-521 (FIPS 186-4 App. D; OIDs RFC 5480 §2.1.1.1),
 * secp256k1 (SEC 2 v2 §2.4.1; OID SEC 2 App. A.2) and the brainpool r1 curves of RFC 5639
 * (OIDs RFC 5639 §4.1). The NIST curve comes first for its size: a length alone names it.
 */
export const EC_CURVES: ReadonlyMap<number, CurveInfo> = new Map<number, CurveInfo>([
  [RecommendedCurve.P_256, { nodeName: 'prime256v1', label: 'P-256', bits: 256, oid: '1.2.840.10045.3.1.7', hash: 'sha256' }],
  [RecommendedCurve.P_384, { nodeName: 'secp384r1', label: 'P-384', bits: 384, oid: '1.3.132.0.34', hash: 'sha384' }],
  [RecommendedCurve.P_521, { nodeName: 'secp521r1', label: 'P-521', bits: 521, oid: '1.3.132.0.35', hash: 'sha512' }],
  [RecommendedCurve.P_224, { nodeName: 'secp224r1', label: 'P-224', bits: 224, oid: '1.3.132.0.33', hash: 'sha224' }],
  [RecommendedCurve.SECP256K1, { nodeName: 'secp256k1', label: 'secp256k1', bits: 256, oid: '1.3.132.0.10', hash: 'sha256' }],
  [RecommendedCurve.BRAINPOOLP256R1, { nodeName: 'brainpoolP256r1', label: 'brainpoolP256r1', bits: 256, oid: '1.3.36.3.3.2.8.1.1.7', hash: 'sha256' }],
  [RecommendedCurve.BRAINPOOLP384R1, { nodeName: 'brainpoolP384r1', label: 'brainpoolP384r1', bits: 384, oid: '1.3.36.3.3.2.8.1.1.11', hash: 'sha384' }],
  [RecommendedCurve.BRAINPOOLP512R1, { nodeName: 'brainpoolP512r1', label: 'brainpoolP512r1', bits: 512, oid: '1.3.36.3.3.2.8.1.1.13', hash: 'sha512' }],
]);

/** "P-256, P-384, …": the curves of EC_CURVES, for messages. */
export const SUPPORTED_CURVES_TEXT = [...EC_CURVES.values()].map((c) => c.label).join(', ');

/** The Recommended Curve of an OpenSSL curve name, if the server supports it. */
export function curveOfNodeName(nodeName: string | undefined): number | undefined {
  for (const [curve, info] of EC_CURVES) if (info.nodeName === nodeName) return curve;
  return undefined;
}

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
        ? `Recommended Curve 0x${curve.toString(16)} is not supported (supported: ${SUPPORTED_CURVES_TEXT})`
        : `no supported curve has Cryptographic Length ${length}`);
    }
    if (length !== undefined && length !== info.bits) {
      throw new KeyMaterialError(ResultReason.InvalidField, `Cryptographic Length ${length} does not match curve ${info.label} (${info.bits})`);
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
