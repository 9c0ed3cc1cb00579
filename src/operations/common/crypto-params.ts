// What the cryptographic operations (Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC
// Verify, Hash; KMIP 2.1 s.6.1.11–s.6.1.50) share: reading Cryptographic Parameters
// (s.7.6 / 1.4 s.2.1.5) from the request and from the key, mapping KMIP enumerations to the
// crypto module's names, extracting usable key material, and the checks every use of a key
// passes (usage mask, lifecycle, usage limits).
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  BlockCipherMode, CryptographicAlgorithm as Alg, DigitalSignatureAlgorithm, HashingAlgorithm, MaskGenerator, ObjectType, PaddingMethod,
  ResultReason, UsageLimitsUnit,
} from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import { KmipError } from '../../kmip/errors.ts';
import { child, isStructure, optBytes, optEnum, optStruct, type Struct } from '../../kmip/items.ts';
import type { ManagedObject } from '../../kmip/object.ts';
import { parseKeyMaterial } from '../../crypto/formats.ts';
import { randomNonce } from '../../crypto/aead.ts';
import type { HashName } from '../../crypto/hash.ts';
import { curveOfNodeName, EC_CURVES, KeyMaterialError } from '../../crypto/keys.ts';
import { MacParamError, type MacAlgorithm } from '../../crypto/mac.ts';
import type { OaepHash, OaepParams } from '../../crypto/oaep.ts';
import { RsaPaddingParamError } from '../../crypto/rsa-pkcs1.ts';
import { SignatureParamError, type SignatureScheme } from '../../crypto/signature.ts';
import {
  CryptoFailure, CryptoParamError, isBlockCipher, ivLength, type BlockMode, type Padding, type SymmetricAlgorithm, type SymmetricParams,
} from '../../crypto/symmetric.ts';
import { getAttr, getAttrs } from '../../policy/attributes.ts';
import { keyBlockOf, withKmipErrors } from './new-object.ts';
import { allocateUsage, readUsageLimits } from './usage-limits.ts';
import { loadObject } from '../uid.ts';
import { assertCanProcess, assertCanProtect } from '../../policy/lifecycle.ts';
import type { OperationContext } from '../types.ts';

// ---------------------------------------------------------------------------
// Cryptographic Parameters

/** The fields of a Cryptographic Parameters structure (2.1 s.7.6), each optional. */
export interface CryptoParams {
  blockCipherMode?: number;
  paddingMethod?: number;
  hashingAlgorithm?: number;
  keyRoleType?: number;
  digitalSignatureAlgorithm?: number;
  cryptographicAlgorithm?: number;
  randomIV?: boolean;
  ivLength?: number;
  tagLength?: number;
  fixedFieldLength?: number;
  invocationFieldLength?: number;
  counterLength?: number;
  initialCounterValue?: number;
  saltLength?: number;
  maskGenerator?: number;
  maskGeneratorHashingAlgorithm?: number;
  pSource?: Buffer;
  trailerField?: number;
}

type FieldType = 'Enumeration' | 'Integer' | 'Boolean' | 'ByteString';
const FIELDS: ReadonlyArray<[number, keyof CryptoParams, FieldType]> = [
  [Tag.BlockCipherMode, 'blockCipherMode', 'Enumeration'],
  [Tag.PaddingMethod, 'paddingMethod', 'Enumeration'],
  [Tag.HashingAlgorithm, 'hashingAlgorithm', 'Enumeration'],
  [Tag.KeyRoleType, 'keyRoleType', 'Enumeration'],
  [Tag.DigitalSignatureAlgorithm, 'digitalSignatureAlgorithm', 'Enumeration'],
  [Tag.CryptographicAlgorithm, 'cryptographicAlgorithm', 'Enumeration'],
  [Tag.RandomIV, 'randomIV', 'Boolean'],
  [Tag.IVLength, 'ivLength', 'Integer'],
  [Tag.TagLength, 'tagLength', 'Integer'],
  [Tag.FixedFieldLength, 'fixedFieldLength', 'Integer'],
  [Tag.InvocationFieldLength, 'invocationFieldLength', 'Integer'],
  [Tag.CounterLength, 'counterLength', 'Integer'],
  [Tag.InitialCounterValue, 'initialCounterValue', 'Integer'],
  [Tag.SaltLength, 'saltLength', 'Integer'],
  [Tag.MaskGenerator, 'maskGenerator', 'Enumeration'],
  [Tag.MaskGeneratorHashingAlgorithm, 'maskGeneratorHashingAlgorithm', 'Enumeration'],
  [Tag.PSource, 'pSource', 'ByteString'],
  [Tag.TrailerField, 'trailerField', 'Integer'],
];

/** Reads a Cryptographic Parameters structure; a field of the wrong type is Invalid Field. */
export function parseCryptoParams(s: Struct): CryptoParams {
  const out: Record<string, unknown> = {};
  for (const c of s.value) {
    const f = FIELDS.find(([tag]) => tag === c.tag);
    if (f === undefined) continue; // unknown fields inside the structure are the decoder's business
    if (c.type !== f[2]) throw new KmipError(ResultReason.InvalidField, `Cryptographic Parameters field ${f[1]} must be ${f[2]}, got ${c.type}`);
    if (out[f[1]] !== undefined) throw new KmipError(ResultReason.InvalidField, `Cryptographic Parameters repeats ${f[1]}`);
    out[f[1]] = c.value;
  }
  return out as CryptoParams;
}

/**
 * The parameters an operation uses. s.6.1.17 (and the other operations alike): the request's
 * Cryptographic Parameters, and "if there are no Cryptographic Parameters provided with the
 * request, the Cryptographic Parameters attribute(s) of the managed object" are used. The
 * OASIS vectors send partial structures (an empty one for ChaCha20, only the hash for a PSS
 * verification) against keys whose attribute holds the rest, so the merge is per field: a
 * field in the request wins, a field it omits comes from the key's first Cryptographic
 * Parameters attribute.
 */
export function resolveCryptoParams(payload: Struct, obj: Pick<ManagedObject, 'attributes'> | undefined): CryptoParams {
  const req = optStruct(payload, Tag.CryptographicParameters);
  const fromKey = obj === undefined ? undefined : getAttrs(obj.attributes, Tag.CryptographicParameters).find(isStructure);
  const base = fromKey === undefined ? {} : parseCryptoParams(fromKey);
  const over = req === undefined ? {} : parseCryptoParams(req);
  return { ...base, ...over };
}

// ---------------------------------------------------------------------------
// Enumeration → primitive names

const nameOf = (table: Record<string, number>, v: number): string => {
  for (const [n, x] of Object.entries(table)) if (x === v) return n;
  return `0x${v.toString(16)}`;
};

const HASHES: ReadonlyMap<number, HashName> = new Map<number, HashName>([
  [HashingAlgorithm.SHA_1, 'sha1'],
  [HashingAlgorithm.SHA_224, 'sha224'],
  [HashingAlgorithm.SHA_256, 'sha256'],
  [HashingAlgorithm.SHA_384, 'sha384'],
  [HashingAlgorithm.SHA_512, 'sha512'],
  [HashingAlgorithm.SHA_512_224, 'sha512-224'],
  [HashingAlgorithm.SHA_512_256, 'sha512-256'],
  [HashingAlgorithm.SHA3_224, 'sha3-224'],
  [HashingAlgorithm.SHA3_256, 'sha3-256'],
  [HashingAlgorithm.SHA3_384, 'sha3-384'],
  [HashingAlgorithm.SHA3_512, 'sha3-512'],
]);

/** Hashing Algorithm (s.11.21) → digest name; the broken or unavailable ones are Invalid Field. */
export function hashName(v: number): HashName {
  const h = HASHES.get(v);
  if (h === undefined) throw new KmipError(ResultReason.InvalidField, `Hashing Algorithm ${nameOf(HashingAlgorithm, v)} is not supported`);
  return h;
}

/** HMAC algorithms (s.11.10) → their hash. */
export const HMAC_HASH: ReadonlyMap<number, HashName> = new Map<number, HashName>([
  [Alg.HMAC_SHA1, 'sha1'],
  [Alg.HMAC_SHA224, 'sha224'],
  [Alg.HMAC_SHA256, 'sha256'],
  [Alg.HMAC_SHA384, 'sha384'],
  [Alg.HMAC_SHA512, 'sha512'],
  [Alg.HMAC_SHA3_224, 'sha3-224'],
  [Alg.HMAC_SHA3_256, 'sha3-256'],
  [Alg.HMAC_SHA3_384, 'sha3-384'],
  [Alg.HMAC_SHA3_512, 'sha3-512'],
]);

export const algorithmName = (v: number): string => nameOf(Alg, v);
export const modeName = (v: number): string => nameOf(BlockCipherMode, v);
export const paddingName = (v: number): string => nameOf(PaddingMethod, v);

/** MGF1 is the only mask generator KMIP defines (s.11.31); anything else is Invalid Field. */
export function checkMaskGenerator(p: CryptoParams): void {
  if (p.maskGenerator !== undefined && p.maskGenerator !== MaskGenerator.MGF1) {
    throw new KmipError(ResultReason.InvalidField, `Mask Generator 0x${p.maskGenerator.toString(16)} is not supported (MGF1 only)`);
  }
}

// ---------------------------------------------------------------------------
// Key material

export interface OperationKey {
  objectType: number;
  /** Cryptographic Algorithm of the key block (or the attribute when the block has none). */
  algorithm: number | undefined;
  /** Symmetric keys (and Secret Data): the raw bytes. */
  bytes?: Buffer;
  privateKey?: KeyObject;
  publicKey?: KeyObject;
}

/** The Unique Identifier the Encryption Key Information of a wrapped key block names, for messages. */
function wrappingKeyNamed(kb: Struct): string | undefined {
  const kwd = optStruct(kb, Tag.KeyWrappingData);
  const eki = kwd === undefined ? undefined : optStruct(kwd, Tag.EncryptionKeyInformation);
  const uid = eki === undefined ? undefined : child(eki, Tag.UniqueIdentifier);
  return uid?.type === 'TextString' ? uid.value : undefined;
}

/**
 * The usable key of a managed object. Objects without key material (certificates, opaque
 * objects, destroyed objects) are Invalid Object Type / Key Value Not Present; a key stored
 * wrapped cannot be used by the server (the wrapping part of issue 4 unwraps on Register).
 */
export function operationKey(obj: ManagedObject, allowed: readonly number[]): OperationKey {
  if (!allowed.includes(obj.objectType)) {
    throw new KmipError(ResultReason.InvalidObjectType, `this operation cannot use a ${nameOf(ObjectType, obj.objectType)}`);
  }
  const kb = keyBlockOf(obj.value);
  if (kb === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, 'the object has no key material');
  if (child(kb, Tag.KeyWrappingData) !== undefined) {
    const under = wrappingKeyNamed(kb);
    throw new KmipError(ResultReason.FeatureNotSupported, `the key is kept wrapped as registered${under === undefined ? '' : ` under ${under}`}; the server does not hold its plaintext, so it cannot be used for cryptographic operations (Get returns it wrapped)`);
  }
  const format = optEnum(kb, Tag.KeyFormatType);
  const kv = optStruct(kb, Tag.KeyValue);
  const material = kv === undefined ? undefined : child(kv, Tag.KeyMaterial);
  if (format === undefined || material === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, 'the key block has no key material');
  const attrAlg = getAttr(obj.attributes, Tag.CryptographicAlgorithm);
  const algorithm = optEnum(kb, Tag.CryptographicAlgorithm) ?? (attrAlg?.type === 'Enumeration' ? attrAlg.value : undefined);
  const objectType = obj.objectType === ObjectType.SecretData ? ObjectType.SymmetricKey : obj.objectType;
  const parsed = withKmipErrors(() => parseKeyMaterial(objectType, format, material, algorithm === undefined ? {} : { algorithm }));
  if (parsed.kind === 'symmetric') return { objectType: obj.objectType, algorithm, bytes: parsed.bytes };
  if (parsed.kind === 'private') return { objectType: obj.objectType, algorithm, privateKey: parsed.key, publicKey: createPublicKey(parsed.key) };
  return { objectType: obj.objectType, algorithm, publicKey: parsed.key };
}


// ---------------------------------------------------------------------------
// Checks on every use of a key

/**
 * s.4.15 Cryptographic Usage Mask: the key may be used only for what its mask allows; an
 * object without a mask allows nothing. 2.x: Incompatible Cryptographic Usage Mask (the
 * executor maps it for 1.x clients).
 */
export function assertUsageAllowed(obj: Pick<ManagedObject, 'attributes'>, bit: number, what: string): void {
  const m = getAttr(obj.attributes, Tag.CryptographicUsageMask);
  const mask = m?.type === 'Integer' ? m.value : 0;
  if ((mask & bit) === 0) {
    throw new KmipError(ResultReason.IncompatibleCryptographicUsageMask, `the key's Cryptographic Usage Mask does not allow ${what}`);
  }
}

/**
 * s.4.63 Usage Limits: "only applies to ... applying cryptographic protection" (Encrypt,
 * Sign, MAC). The remaining count (Usage Limits Count, initially the Total) is reduced by
 * the bytes processed (unit Byte) or by one per operation (unit Object). A request that
 * needs more than remains is refused with Permission Denied, the reason the OASIS CS-BC-M-7
 * vectors expect in 1.4 and 2.1 alike. The new count is saved before the data is
 * processed, so concurrent requests cannot together exceed the limit.
 */
/**
 * Undefined (nothing to wait for) when the key has no Usage Limits, the common case: no
 * allocation object, no async frames and no microtask hops for it (issue 12 §2). A key with
 * limits gets the allocation and its save (usage-limits.ts); a malformed attribute throws here.
 */
export function consumeUsageLimits(ctx: OperationContext, obj: ManagedObject, bytes: number): Promise<void> | undefined {
  if (readUsageLimits(obj) === undefined) return undefined;
  return allocateUsage(ctx, obj, {
    amount: (l) => (l.unit === UsageLimitsUnit.Object ? 1n : BigInt(bytes)),
    exceededReason: ResultReason.PermissionDenied,
  }).then(ignore);
}
const ignore = (): void => undefined;

export type KeyUse = 'protect' | 'process';

/**
 * Loads the key a cryptographic request names and applies the checks of every use:
 * lifecycle (s.4.57: only an Active key protects new data — Encrypt, Sign, MAC — and not
 * after its Protect Stop Date; Decrypt, Verify, MAC Verify also accept Deactivated and
 * Compromised keys, not before the Process Start Date), then the usage mask (s.4.15).
 * Wrong Key Lifecycle State becomes Permission Denied for 1.x clients (the 1.4 vectors).
 */
export async function loadKeyFor(ctx: OperationContext, uid: string, use: KeyUse, usageBit: number, what: string): Promise<ManagedObject> {
  const obj = await loadObject(ctx, uid);
  if (use === 'protect') assertCanProtect(obj, ctx.now());
  else assertCanProcess(obj, ctx.now());
  assertUsageAllowed(obj, usageBit, what);
  return obj;
}

// ---------------------------------------------------------------------------
// Errors of the crypto module → Result Reasons

/**
 * Runs crypto code, turning its errors into the reasons the client sees: parameter problems
 * are Invalid Field (s.6.1.17.1 "Cryptographic Parameters ... not supported"), failed
 * authentication or padding checks are Cryptographic Failure, key-format problems keep the
 * reason the key module gave.
 */
export function cryptoCall<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toKmipError(e);
  }
}

export function toKmipError(e: unknown): unknown {
  if (e instanceof KmipError) return e;
  if (e instanceof KeyMaterialError) return new KmipError(e.reason, e.message);
  if (e instanceof CryptoFailure) return new KmipError(ResultReason.CryptographicFailure, e.message);
  // Node's crypto reports bad sizes and lengths as RangeError (InvalidField for the client);
  // a stack overflow is a RangeError too, but it is a server fault and must stay one
  // (GeneralFailure, logged in full), never be disguised as the client's mistake.
  const paramRange = e instanceof RangeError && !e.message.startsWith('Maximum call stack size exceeded');
  if (e instanceof CryptoParamError || e instanceof MacParamError || e instanceof SignatureParamError || e instanceof RsaPaddingParamError || paramRange) {
    return new KmipError(ResultReason.InvalidField, e.message);
  }
  return e;
}

// ---------------------------------------------------------------------------
// Symmetric encryption parameters (Encrypt / Decrypt)

const SYMMETRIC_ALGORITHMS: ReadonlyMap<number, SymmetricAlgorithm> = new Map<number, SymmetricAlgorithm>([
  [Alg.AES, 'AES'], [Alg.DES3, 'DES3'], [Alg.Camellia, 'Camellia'], [Alg.ARIA, 'ARIA'], [Alg.SM4, 'SM4'],
  [Alg.ChaCha20, 'ChaCha20'], [Alg.ChaCha20Poly1305, 'ChaCha20Poly1305'],
]);

const LEGACY_PROVIDER = 'OpenSSL 3 keeps it in its legacy provider, which this server does not load (it also holds other broken algorithms)';
const NOT_IN_OPENSSL = 'OpenSSL, which this server\'s cryptography runs on, does not implement it';
/**
 * Why keys of the symmetric algorithms Create can make (crypto/keys.ts) but that are not in
 * SYMMETRIC_ALGORITHMS cannot encrypt or decrypt here: the client is told exactly why, not
 * only that the algorithm is missing (issue 13 §2).
 */
export const SYMMETRIC_USE_REFUSED: ReadonlyMap<number, string> = new Map<number, string>([
  [Alg.DES, `single DES is broken (56-bit key, withdrawn with FIPS 46-3 in 2005) and ${LEGACY_PROVIDER}`],
  [Alg.Blowfish, LEGACY_PROVIDER], [Alg.CAST5, LEGACY_PROVIDER], [Alg.IDEA, LEGACY_PROVIDER], [Alg.RC2, LEGACY_PROVIDER],
  [Alg.RC4, `RC4 is prohibited for TLS by RFC 7465 and ${LEGACY_PROVIDER}`], [Alg.SEED, LEGACY_PROVIDER],
  [Alg.MARS, NOT_IN_OPENSSL], [Alg.RC5, `${NOT_IN_OPENSSL} (RC5 was removed from OpenSSL 3's providers)`],
  [Alg.SKIPJACK, NOT_IN_OPENSSL], [Alg.Twofish, NOT_IN_OPENSSL],
  [Alg.GOSTR34_13_2015, `${NOT_IN_OPENSSL} without the separate gost-engine, which this server does not load`],
  [Alg.GOST28147_89, `${NOT_IN_OPENSSL} without the separate gost-engine, which this server does not load`],
  [Alg.OneTimePad, 'a one-time pad is an XOR with a pad as long as the data and used once; Encrypt has no one-time-pad mode in KMIP (s.11.5)'],
  [Alg.Poly1305, 'Poly1305 is a one-time authenticator, not a cipher (RFC 8439 §2.5): use ChaCha20Poly1305'],
]);
const MODES: ReadonlyMap<number, BlockMode> = new Map<number, BlockMode>([
  [BlockCipherMode.ECB, 'ECB'], [BlockCipherMode.CBC, 'CBC'], [BlockCipherMode.CTR, 'CTR'], [BlockCipherMode.GCM, 'GCM'], [BlockCipherMode.XTS, 'XTS'],
]);

/**
 * Authentication tag lengths accepted for GCM (SP 800-38D §5.2.1.2: 128, 120, 112, 104, 96
 * bits, and 64 or 32 for special applications) and applied to ChaCha20-Poly1305 alike. A
 * tag length outside them is answered with General Failure: the OASIS CS-BC-M-GCM-1 and
 * CHACHA20POLY1305-1 vectors expect exactly that for tag lengths 1 and 32.
 */
const TAG_LENGTHS: readonly number[] = [4, 8, 12, 13, 14, 15, 16];

export interface SymmetricSetup {
  params: SymmetricParams;
  /** The IV/Counter/Nonce the server generated, to return in the response (s.6.1.17). */
  generatedIv?: Buffer;
}

/**
 * Symmetric parameters for Encrypt / Decrypt from the key, the resolved Cryptographic
 * Parameters and the request's IV, additional data and tag.
 *
 * IV rules (s.6.1.17, s.7.6 Random IV): with Random IV = True the server generates the IV
 * (a client IV as well is contradictory: Invalid Field); an Encrypt without an IV in a mode
 * that needs one also gets a server-generated IV, returned in the response. A Decrypt
 * without the IV its mode needs is refused with Invalid Message, the reason of the OASIS
 * CS-BC-M-11/12/13 vectors.
 *
 * ChaCha20 (RFC 8439 §2.4) takes a 12-byte nonce and a 32-bit block counter; the OASIS
 * vectors also use the original 8-byte nonce with a 64-bit counter. Both are laid out as
 * OpenSSL's 16-byte IV (counter little-endian ‖ nonce), the counter starting at Initial
 * Counter Value (default 0).
 */
export function symmetricSetup(key: OperationKey, p: CryptoParams, payload: Struct, direction: 'encrypt' | 'decrypt'): SymmetricSetup {
  const keyAlg = key.algorithm ?? p.cryptographicAlgorithm;
  const algorithm = keyAlg === undefined ? undefined : SYMMETRIC_ALGORITHMS.get(keyAlg);
  if (algorithm === undefined || key.bytes === undefined) {
    const why = keyAlg === undefined ? undefined : SYMMETRIC_USE_REFUSED.get(keyAlg);
    if (why !== undefined && key.bytes !== undefined) {
      throw new KmipError(ResultReason.FeatureNotSupported, `a ${algorithmName(keyAlg!)} key cannot ${direction} data here: ${why}`);
    }
    throw new KmipError(ResultReason.InvalidField, `a key of algorithm ${keyAlg === undefined ? '(none)' : algorithmName(keyAlg)} cannot ${direction} data`);
  }
  let mode: BlockMode | undefined;
  if (isBlockCipher(algorithm)) {
    if (p.blockCipherMode === undefined) throw new KmipError(ResultReason.InvalidField, `${algorithm} needs a Block Cipher Mode (in the request or the key's Cryptographic Parameters)`);
    mode = MODES.get(p.blockCipherMode);
    if (mode === undefined) throw new KmipError(ResultReason.InvalidField, `Block Cipher Mode ${modeName(p.blockCipherMode)} is not supported`);
  } else if (p.blockCipherMode !== undefined && !(algorithm === 'ChaCha20Poly1305' && p.blockCipherMode === BlockCipherMode.AEAD)) {
    throw new KmipError(ResultReason.InvalidField, `Block Cipher Mode ${modeName(p.blockCipherMode)} does not apply to ${algorithm}`);
  }
  let padding: Padding = 'None';
  if (p.paddingMethod !== undefined && p.paddingMethod !== PaddingMethod.None) {
    if (p.paddingMethod !== PaddingMethod.PKCS5) throw new KmipError(ResultReason.InvalidField, `Padding Method ${paddingName(p.paddingMethod)} is not supported for ${algorithm} (None, PKCS5)`);
    padding = 'PKCS5';
  }
  const aead = algorithm === 'ChaCha20Poly1305' || mode === 'GCM';

  let iv = optBytes(payload, Tag.IVCounterNonce);
  let generatedIv: Buffer | undefined;
  const needsIv = ivLength(algorithm, mode) > 0;
  if (direction === 'encrypt') {
    if (p.randomIV === true && iv !== undefined) throw new KmipError(ResultReason.InvalidField, 'Random IV is True: the server generates the IV, the request must not carry one');
    if (needsIv && iv === undefined) {
      const n = algorithm === 'ChaCha20' || algorithm === 'ChaCha20Poly1305' ? 12
        : mode === 'GCM' ? (p.ivLength !== undefined && p.ivLength > 0 && p.ivLength % 8 === 0 ? p.ivLength / 8 : 12)
          : ivLength(algorithm, mode);
      // From the pooled CSPRNG buffer (src/crypto/aead.ts): one CSPRNG call per ~300 IVs.
      iv = generatedIv = randomNonce(n);
    }
  } else if (needsIv && iv === undefined) {
    throw new KmipError(ResultReason.InvalidMessage, `${algorithm}${mode ? '-' + mode : ''} decryption needs the IV/Counter/Nonce used to encrypt`);
  }
  if (algorithm === 'ChaCha20' && iv !== undefined) iv = chacha20Iv(iv, p.initialCounterValue ?? 0);

  const params: SymmetricParams = { algorithm, key: key.bytes, padding };
  if (mode !== undefined) params.mode = mode;
  if (iv !== undefined) params.iv = iv;
  if (aead) {
    const aad = optBytes(payload, Tag.AuthenticatedEncryptionAdditionalData);
    if (aad !== undefined) params.aad = aad;
    if (direction === 'encrypt') {
      const tagLength = p.tagLength ?? 16;
      if (!TAG_LENGTHS.includes(tagLength)) throw new KmipError(ResultReason.GeneralFailure, `invalid authentication tag length ${tagLength} (allowed: ${TAG_LENGTHS.join(', ')} bytes)`);
      params.tagLength = tagLength;
    } else {
      const tag = optBytes(payload, Tag.AuthenticatedEncryptionTag);
      if (tag === undefined) throw new KmipError(ResultReason.InvalidField, 'authenticated decryption needs the Authenticated Encryption Tag');
      if (!TAG_LENGTHS.includes(tag.length)) throw new KmipError(ResultReason.GeneralFailure, `invalid authentication tag length ${tag.length}`);
      if (p.tagLength !== undefined && p.tagLength !== tag.length) {
        throw new KmipError(ResultReason.InvalidField, `Tag Length says ${p.tagLength} bytes but the Authenticated Encryption Tag has ${tag.length}`);
      }
      params.tag = tag;
    }
  }
  return generatedIv === undefined ? { params } : { params, generatedIv };
}

function chacha20Iv(nonce: Buffer, counter: number): Buffer {
  if (nonce.length === 16) return nonce;
  if (counter < 0 || !Number.isInteger(counter)) throw new KmipError(ResultReason.InvalidField, 'Initial Counter Value must be a non-negative integer');
  if (nonce.length === 12) {
    const c = Buffer.alloc(4);
    c.writeUInt32LE(counter >>> 0);
    return Buffer.concat([c, nonce]);
  }
  if (nonce.length === 8) {
    const c = Buffer.alloc(8);
    c.writeBigUInt64LE(BigInt(counter));
    return Buffer.concat([c, nonce]);
  }
  throw new KmipError(ResultReason.InvalidField, `a ChaCha20 nonce is 12 bytes (RFC 8439) or 8 bytes, got ${nonce.length}`);
}

// ---------------------------------------------------------------------------
// RSA encryption parameters

export type RsaEncryption = { padding: 'oaep'; oaep: OaepParams } | { padding: 'pkcs1v15' };

const OAEP_HASHES: readonly string[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

/**
 * RSA Encrypt / Decrypt parameters. Padding OAEP (the default: PKCS#1 v1.5 encryption is
 * kept for old clients only) with Hashing Algorithm (default SHA-1, RFC 8017 §A.2.1), Mask
 * Generator MGF1 with its own hash (default: the OAEP hash) and P Source as the label; or
 * PKCS1 v1.5.
 */
export function rsaEncryption(p: CryptoParams): RsaEncryption {
  const padding = p.paddingMethod ?? PaddingMethod.OAEP;
  if (padding === PaddingMethod.PKCS1V1_5) return { padding: 'pkcs1v15' };
  if (padding !== PaddingMethod.OAEP) throw new KmipError(ResultReason.InvalidField, `Padding Method ${paddingName(padding)} cannot be used for RSA encryption (OAEP, PKCS1 v1.5)`);
  checkMaskGenerator(p);
  const hash = p.hashingAlgorithm === undefined ? 'sha1' : hashName(p.hashingAlgorithm);
  const mgf1Hash = p.maskGeneratorHashingAlgorithm === undefined ? hash : hashName(p.maskGeneratorHashingAlgorithm);
  if (!OAEP_HASHES.includes(hash) || !OAEP_HASHES.includes(mgf1Hash)) {
    throw new KmipError(ResultReason.InvalidField, 'RSA-OAEP supports SHA-1 and SHA-2 hashes (SHA-224/256/384/512)');
  }
  const oaep: OaepParams = { hash: hash as OaepHash, mgf1Hash: mgf1Hash as OaepHash };
  if (p.pSource !== undefined) oaep.label = p.pSource;
  return { padding: 'oaep', oaep };
}

// ---------------------------------------------------------------------------
// Signature and MAC schemes

const DSA_RSA_PKCS1: ReadonlyMap<number, HashName> = new Map<number, HashName>([
  [DigitalSignatureAlgorithm.SHA_1WithRSAEncryption, 'sha1'],
  [DigitalSignatureAlgorithm.SHA_224WithRSAEncryption, 'sha224'],
  [DigitalSignatureAlgorithm.SHA_256WithRSAEncryption, 'sha256'],
  [DigitalSignatureAlgorithm.SHA_384WithRSAEncryption, 'sha384'],
  [DigitalSignatureAlgorithm.SHA_512WithRSAEncryption, 'sha512'],
  [DigitalSignatureAlgorithm.SHA3_256WithRSAEncryption, 'sha3-256'],
  [DigitalSignatureAlgorithm.SHA3_384WithRSAEncryption, 'sha3-384'],
  [DigitalSignatureAlgorithm.SHA3_512WithRSAEncryption, 'sha3-512'],
]);
const DSA_ECDSA: ReadonlyMap<number, HashName> = new Map<number, HashName>([
  [DigitalSignatureAlgorithm.ECDSAWithSHA_1, 'sha1'],
  [DigitalSignatureAlgorithm.ECDSAWithSHA224, 'sha224'],
  [DigitalSignatureAlgorithm.ECDSAWithSHA256, 'sha256'],
  [DigitalSignatureAlgorithm.ECDSAWithSHA384, 'sha384'],
  [DigitalSignatureAlgorithm.ECDSAWithSHA512, 'sha512'],
]);

/**
 * The signature scheme for a key and its resolved Cryptographic Parameters (s.7.6): Digital
 * Signature Algorithm when given, else Padding Method (PSS or PKCS1 v1.5, default PKCS1
 * v1.5) and Hashing Algorithm (default SHA-256 for RSA, the curve's hash for ECDSA) for RSA,
 * Mask Generator Hashing Algorithm, Salt Length and Trailer Field for PSS. Ed25519 has no
 * parameters (PureEdDSA, RFC 8032). A scheme that does not fit the key is Invalid Field.
 */
export function signatureScheme(key: KeyObject, p: CryptoParams): SignatureScheme {
  const family = key.asymmetricKeyType;
  const mismatch = (what: string): never => {
    throw new KmipError(ResultReason.InvalidField, `${what} cannot be used with a ${family ?? 'non-asymmetric'} key`);
  };
  if (p.cryptographicAlgorithm !== undefined) {
    const a = p.cryptographicAlgorithm;
    const fits = family === 'rsa' ? a === Alg.RSA : family === 'ec' ? a === Alg.ECDSA || a === Alg.EC : family === 'ed25519' ? a === Alg.Ed25519 : false;
    if (!fits) mismatch(`Cryptographic Algorithm ${algorithmName(a)}`);
  }
  if (family === 'ed25519') return { family: 'ed25519' };
  if (family === 'ec') {
    let hash: HashName;
    if (p.digitalSignatureAlgorithm !== undefined) {
      const h = DSA_ECDSA.get(p.digitalSignatureAlgorithm);
      if (h === undefined) return mismatch(`Digital Signature Algorithm ${nameOf(DigitalSignatureAlgorithm, p.digitalSignatureAlgorithm)}`);
      hash = h;
    } else if (p.hashingAlgorithm !== undefined) {
      hash = hashName(p.hashingAlgorithm);
    } else {
      const curve = curveOfNodeName(key.asymmetricKeyDetails?.namedCurve);
      hash = (curve === undefined ? undefined : EC_CURVES.get(curve)?.hash) ?? 'sha256';
    }
    return { family: 'ecdsa', hash };
  }
  if (family !== 'rsa') return mismatch('signing');
  let padding = p.paddingMethod ?? PaddingMethod.PKCS1V1_5;
  let hash: HashName = p.hashingAlgorithm === undefined ? 'sha256' : hashName(p.hashingAlgorithm);
  if (p.digitalSignatureAlgorithm !== undefined) {
    const d = p.digitalSignatureAlgorithm;
    const h = DSA_RSA_PKCS1.get(d);
    if (h !== undefined) {
      padding = PaddingMethod.PKCS1V1_5;
      hash = h;
    } else if (d === DigitalSignatureAlgorithm.RSASSA_PSS) {
      padding = PaddingMethod.PSS;
    } else {
      return mismatch(`Digital Signature Algorithm ${nameOf(DigitalSignatureAlgorithm, d)}`);
    }
  }
  if (padding === PaddingMethod.PKCS1V1_5) return { family: 'rsa', padding: 'pkcs1v15', hash };
  if (padding !== PaddingMethod.PSS) throw new KmipError(ResultReason.InvalidField, `Padding Method ${paddingName(padding)} cannot be used for RSA signatures (PSS, PKCS1 v1.5)`);
  checkMaskGenerator(p);
  // RFC 8017 §9.1: the trailer field is 0xBC, which KMIP writes as Trailer Field 1.
  if (p.trailerField !== undefined && p.trailerField !== 1) throw new KmipError(ResultReason.InvalidField, 'only the PSS trailer field 0xBC (Trailer Field 1) is supported');
  const scheme: SignatureScheme = { family: 'rsa', padding: 'pss', hash };
  if (p.maskGeneratorHashingAlgorithm !== undefined) scheme.mgf1Hash = hashName(p.maskGeneratorHashingAlgorithm);
  if (p.saltLength !== undefined) scheme.saltLength = p.saltLength;
  return scheme;
}

/**
 * The MAC algorithm (s.6.1.29): the Cryptographic Algorithm of the parameters (request, then
 * key attribute) or of the key — an HMAC algorithm, or AES for AES-CMAC (also chosen by Block
 * Cipher Mode CMAC). The OASIS CS-AC-M-4 vector MACs with an AES key whose Cryptographic
 * Parameters say HMAC-SHA256: the parameters decide.
 */
export function macAlgorithm(key: OperationKey, p: CryptoParams): MacAlgorithm {
  const alg = p.cryptographicAlgorithm ?? key.algorithm;
  if (alg === undefined) throw new KmipError(ResultReason.InvalidField, 'the MAC algorithm is unknown: give a Cryptographic Algorithm in the Cryptographic Parameters');
  const hash = HMAC_HASH.get(alg);
  if (hash !== undefined) return { kind: 'hmac', hash };
  if (alg === Alg.AES && (p.blockCipherMode === undefined || p.blockCipherMode === BlockCipherMode.CMAC)) return { kind: 'cmac' };
  throw new KmipError(ResultReason.InvalidField, `Cryptographic Algorithm ${algorithmName(alg)} cannot compute a MAC (HMAC-SHA-1/2/3, AES-CMAC)`);
}
