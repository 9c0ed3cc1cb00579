// What every object-creating operation (Create, Create Key Pair, Register, Re-key, Re-key
// Key Pair) shares: reading the client's attributes, the attributes the server sets at
// creation, the key block layout, Digest, name uniqueness, and mapping the crypto
// module's errors to KMIP ones.
import { createHash, randomUUID } from 'node:crypto';
import {
  CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, DRBGAlgorithm, HashingAlgorithm,
  ObjectType, ProtectionStorageMask, RNGAlgorithm, ResultReason,
} from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { KmipError } from '../../kmip/errors.ts';
import {
  boolean, byteString, child, dateTime, enumeration, integer, interval, isStructure, optStruct, structure, textString, type Struct,
} from '../../kmip/items.ts';
import type { ManagedObject } from '../../kmip/object.ts';
import { canonicalBytes, type ParsedKey } from '../../crypto/formats.ts';
import { KeyMaterialError } from '../../crypto/keys.ts';
import { checkClientAttributes, getAttr, removeAttr, setAttr, type AttributeChange } from '../../policy/attributes.ts';
import { initialState } from '../../policy/lifecycle.ts';
import type { OperationContext } from '../types.ts';

/** Runs `f`, turning the crypto module's KeyMaterialError into the KmipError it describes. */
export function withKmipErrors<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof KeyMaterialError) throw new KmipError(e.reason, e.message);
    throw e;
  }
}

export async function withKmipErrorsAsync<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof KeyMaterialError) throw new KmipError(e.reason, e.message);
    throw e;
  }
}

/**
 * A new Unique Identifier: a UUID version 7 (RFC 9562 §5.7), 48 bits of Unix time in
 * milliseconds, then 74 bits from the CSPRNG (randomUUID's, version and variant bits aside).
 * Why not version 4: the store keys objects by (tenant, uid), and a random identifier puts each
 * new object's index entry on a random page of that index, so a group commit of 16 Creates
 * wrote 16 scattered pages to the WAL; time-ordered ones land on the last page (a batch of 16:
 * 38 → 22 WAL pages, a third less CPU per insert; bench/README.md). An identifier names an
 * object and grants nothing (DESIGN.md §3: access is checked per identity, and a foreign
 * identifier answers exactly like a missing one); the 74 random bits keep identifiers
 * unpredictable and distinct between servers. It tells the creation time to the millisecond,
 * which the Initial Date attribute tells to the second anyway.
 */
export function newUid(nowMs: number = Date.now()): string {
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx
  const time = nowMs.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}

// ---------------------------------------------------------------------------
// Client attributes

/**
 * The client's attributes (children of a 2.1 Attributes structure), checked by the policy
 * rules of s.6.1.8.1 / s.6.1.43.1 (server-set attributes refused, single-instance ones not
 * repeated; Fresh and, at Register, Certificate Type may be stated by the client — see the
 * attribute table in policy/attributes.ts). Returns a fresh array the caller may extend.
 */
export function clientAttributes(attrs: Struct | undefined, when: AttributeChange, objectType: number): TtlvItem[] {
  const list = attrs === undefined ? [] : [...attrs.value];
  checkClientAttributes(list, when, { objectType });
  return list;
}

/** The Attributes structure of a request payload (tag given), or undefined. InvalidField when not a structure. */
export const attributesOf = (payload: Struct, tag: number = Tag.Attributes): Struct | undefined => optStruct(payload, tag);

export function attrEnum(attrs: readonly TtlvItem[], tag: number): number | undefined {
  const a = getAttr(attrs, tag);
  if (a === undefined) return undefined;
  if (a.type !== 'Enumeration') throw new KmipError(ResultReason.InvalidAttributeValue, `attribute 0x${tag.toString(16)} must be an Enumeration`);
  return a.value;
}

export function attrInt(attrs: readonly TtlvItem[], tag: number): number | undefined {
  const a = getAttr(attrs, tag);
  if (a === undefined) return undefined;
  if (a.type !== 'Integer') throw new KmipError(ResultReason.InvalidAttributeValue, `attribute 0x${tag.toString(16)} must be an Integer`);
  return a.value;
}

export function attrBool(attrs: readonly TtlvItem[], tag: number): boolean | undefined {
  const a = getAttr(attrs, tag);
  if (a === undefined) return undefined;
  if (a.type !== 'Boolean') throw new KmipError(ResultReason.InvalidAttributeValue, `attribute 0x${tag.toString(16)} must be a Boolean`);
  return a.value;
}

/** Name values of the Name attributes (s.4.35). */
export function nameValues(attrs: readonly TtlvItem[]): string[] {
  const out: string[] = [];
  for (const a of attrs) {
    if (a.tag !== Tag.Name) continue;
    const v = isStructure(a) ? child(a, Tag.NameValue) : undefined;
    if (v === undefined || v.type !== 'TextString') throw new KmipError(ResultReason.InvalidAttributeValue, 'Name needs a Name Value text string');
    out.push(v.value);
  }
  return out;
}

/**
 * s.4.35: a Name identifies one object within the server. A name already held by another
 * (not destroyed) object of the tenant is refused: Non Unique Name Attribute in 2.x (the
 * BL-M-8 vector); the executor maps the reason for 1.x clients. A tenant whose Name policy is
 * 'duplicates-allowed' (issue 13 §5) skips the look across objects; one object carrying the
 * same Name twice is still refused, whatever the policy (it names nothing more).
 */
export async function assertNamesFree(ctx: OperationContext, attrs: readonly TtlvItem[], exceptUids: readonly string[] = []): Promise<void> {
  const names = nameValues(attrs);
  if (new Set(names).size !== names.length) throw new KmipError(ResultReason.NonUniqueNameAttribute, 'the same Name is given twice');
  if (ctx.names === 'duplicates-allowed') return;
  for (const name of names) {
    for await (const o of ctx.objects.scan({ name })) {
      if (!exceptUids.includes(o.uid)) {
        throw new KmipError(ResultReason.NonUniqueNameAttribute, `the Name "${name}" is already used by another object`);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Key blocks

/** KeyBlock{KeyFormatType, KeyValue{KeyMaterial}, CryptographicAlgorithm, CryptographicLength} (s.2.1.3 field order). */
export function keyBlock(format: number, material: TtlvItem, algorithm?: number, length?: number): Struct {
  const fields: TtlvItem[] = [
    enumeration(Tag.KeyFormatType, format),
    structure(Tag.KeyValue, [{ ...material, tag: Tag.KeyMaterial } as TtlvItem]),
  ];
  if (algorithm !== undefined) fields.push(enumeration(Tag.CryptographicAlgorithm, algorithm));
  if (length !== undefined) fields.push(integer(Tag.CryptographicLength, length));
  return structure(Tag.KeyBlock, fields);
}

/** The structure tag of each object type's value (s.2.2). */
export const OBJECT_TAG: ReadonlyMap<number, number> = new Map([
  [ObjectType.Certificate, Tag.Certificate],
  [ObjectType.SymmetricKey, Tag.SymmetricKey],
  [ObjectType.PublicKey, Tag.PublicKey],
  [ObjectType.PrivateKey, Tag.PrivateKey],
  [ObjectType.SplitKey, Tag.SplitKey],
  [ObjectType.SecretData, Tag.SecretData],
  [ObjectType.OpaqueObject, Tag.OpaqueObject],
  [ObjectType.PGPKey, Tag.PGPKey],
  [ObjectType.CertificateRequest, Tag.CertificateRequest],
]);

/** The Key Block inside an object value, for the object types that have one. */
export function keyBlockOf(value: TtlvItem | undefined): Struct | undefined {
  if (!isStructure(value)) return undefined;
  const kb = child(value, Tag.KeyBlock);
  return isStructure(kb) ? kb : undefined;
}

// ---------------------------------------------------------------------------
// Server-set attributes

/** s.4.14 Digest{Hashing Algorithm, Digest Value, Key Format Type}: SHA-256 of the material in the stated format. */
export function digestAttribute(bytes: Buffer, format?: number): TtlvItem {
  const fields: TtlvItem[] = [
    enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
    byteString(Tag.DigestValue, createHash('sha256').update(bytes).digest()),
  ];
  if (format !== undefined) fields.push(enumeration(Tag.KeyFormatType, format));
  return structure(Tag.Digest, fields);
}

/**
 * The Digest of an object value, or undefined when the server cannot compute it in a
 * defined format (a wrapped key, a transparent DSA key it does not convert).
 * Keys: over the default format (Raw for symmetric keys, PKCS#1 for RSA, PKCS#8/X.509
 * otherwise); Secret Data: over its key material; Certificate: over the DER; Opaque
 * Object: over the opaque value.
 */
export function digestOf(objectType: number, value: TtlvItem, parsed?: ParsedKey): TtlvItem | undefined {
  if (parsed !== undefined) {
    const { format, bytes } = withKmipErrors(() => canonicalBytes(objectType, parsed));
    return digestAttribute(bytes, format);
  }
  if (!isStructure(value)) return undefined;
  if (objectType === ObjectType.Certificate) {
    const v = child(value, Tag.CertificateValue);
    return v?.type === 'ByteString' ? digestAttribute(v.value) : undefined;
  }
  if (objectType === ObjectType.OpaqueObject) {
    const v = child(value, Tag.OpaqueDataValue);
    return v?.type === 'ByteString' ? digestAttribute(v.value) : undefined;
  }
  const kb = keyBlockOf(value);
  if (kb === undefined || child(kb, Tag.KeyWrappingData) !== undefined) return undefined;
  const fmt = child(kb, Tag.KeyFormatType);
  const kv = child(kb, Tag.KeyValue);
  const km = isStructure(kv) ? child(kv, Tag.KeyMaterial) : undefined;
  if (km?.type === 'ByteString' && fmt?.type === 'Enumeration') return digestAttribute(km.value, fmt.value);
  return undefined;
}

/**
 * s.4.49 Random Number Generator of generated keys: node:crypto draws from OpenSSL 3's
 * default DRBG, CTR_DRBG with AES-256 (SP 800-90A).
 */
export const RNG_ATTRIBUTE: TtlvItem = structure(Tag.RandomNumberGenerator, [
  enumeration(Tag.RNGAlgorithm, RNGAlgorithm.DRBG),
  enumeration(Tag.CryptographicAlgorithm, Alg.AES),
  integer(Tag.CryptographicLength, 256),
  enumeration(Tag.DRBGAlgorithm, DRBGAlgorithm.CTR),
]);

/**
 * s.4.47 Quantum Safe: a client asking for a quantum-safe object gets one or a refusal.
 * Grover's search halves a symmetric key's strength, so only 256-bit symmetric keys stay
 * at 128-bit strength; RSA, EC and Ed25519 fall to Shor's algorithm. The QS-M-2 vector
 * answers an AES-128 request with General Failure, the reason used here.
 */
export function assertQuantumSafeIfAsked(attrs: readonly TtlvItem[], algorithm: number, length: number): void {
  if (attrBool(attrs, Tag.QuantumSafe) !== true) return;
  const symmetric256 = [Alg.AES, Alg.ChaCha20, Alg.ChaCha20Poly1305, Alg.HMAC_SHA256, Alg.HMAC_SHA384, Alg.HMAC_SHA512].includes(algorithm as never) && length >= 256;
  if (!symmetric256) {
    throw new KmipError(ResultReason.GeneralFailure, 'the requested key cannot be Quantum Safe (only 256-bit symmetric keys are)');
  }
}

/** Usage mask a generated key gets when the client gave none (s.4 intro: server defaults; reported by Query Defaults). */
export function defaultUsageMask(objectType: number, algorithm: number | undefined): number | undefined {
  switch (algorithm) {
    case Alg.AES: case Alg.DES3: case Alg.ChaCha20: case Alg.ChaCha20Poly1305:
      return CUM.Encrypt | CUM.Decrypt;
    case Alg.HMAC_SHA1: case Alg.HMAC_SHA224: case Alg.HMAC_SHA256: case Alg.HMAC_SHA384: case Alg.HMAC_SHA512:
      return CUM.MACGenerate | CUM.MACVerify;
    case Alg.RSA:
      return objectType === ObjectType.PrivateKey ? CUM.Sign | CUM.Decrypt : objectType === ObjectType.PublicKey ? CUM.Verify | CUM.Encrypt : undefined;
    case Alg.EC: case Alg.ECDSA: case Alg.Ed25519:
      return objectType === ObjectType.PrivateKey ? CUM.Sign : objectType === ObjectType.PublicKey ? CUM.Verify : undefined;
    case Alg.ECDH: case Alg.ECMQV:
      return CUM.KeyAgreement;
    default:
      return undefined;
  }
}

/**
 * s.4.29 Lease Time given to every cryptographic object: a client that caches a key should
 * come back within this interval, which bounds how long a revoked key, or a tenant sealed
 * by the kill switch (DESIGN.md §2), stays in use in clients that honour leases.
 */
export const DEFAULT_LEASE_TIME_SECONDS = 3600;

/** The object types whose material is governed by Sensitive / Extractable (s.4.6, 4.18, 4.34, 4.52). */
const CRYPTO_OBJECTS: readonly number[] = [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey, ObjectType.SplitKey, ObjectType.SecretData, ObjectType.PGPKey];

export interface NewObjectSpec {
  objectType: number;
  /** Client attributes, already checked; extended in place with the server's. */
  attributes: TtlvItem[];
  value: TtlvItem;
  /** Parsed key material, for the Digest. */
  parsed?: ParsedKey;
  /** Attributes to set from the key itself (Cryptographic Algorithm / Length, Key Format Type, Certificate fields…). */
  derived?: TtlvItem[];
  /** True for keys the server generated (adds Random Number Generator). */
  generated: boolean;
  /** Keep the client's Original Creation Date if given, else now (Re-key passes the old key's). */
  originalCreationDate?: bigint;
  uid?: string;
}

/**
 * Completes the attributes of a new object with what the server sets at creation
 * (s.6.1.8, s.6.1.43, attribute rule tables of s.4): Initial Date, Last Change Date,
 * Original Creation Date, Digest, Fresh, Key Format Type, Sensitive / Always Sensitive /
 * Extractable / Never Extractable, Protection Storage Mask, Random Number Generator and the
 * usage mask default; then computes the initial State (Pre-Active, or Active / Deactivated
 * when the client's dates have already passed) and stores the object.
 */
export async function storeNewObject(ctx: OperationContext, spec: NewObjectSpec): Promise<ManagedObject> {
  const now = ctx.now();
  const attrs = spec.attributes;
  for (const d of spec.derived ?? []) setAttr(attrs, d);

  const alg = attrEnum(attrs, Tag.CryptographicAlgorithm);
  if (getAttr(attrs, Tag.CryptographicUsageMask) === undefined) {
    const mask = defaultUsageMask(spec.objectType, alg);
    if (mask !== undefined) attrs.push(integer(Tag.CryptographicUsageMask, mask));
  }

  setAttr(attrs, dateTime(Tag.InitialDate, now));
  setAttr(attrs, dateTime(Tag.LastChangeDate, now));
  if (getAttr(attrs, Tag.OriginalCreationDate) === undefined) {
    attrs.push(dateTime(Tag.OriginalCreationDate, spec.originalCreationDate ?? BigInt(Math.floor(now.getTime() / 1000))));
  }
  removeAttr(attrs, Tag.Digest);
  const digest = digestOf(spec.objectType, spec.value, spec.parsed);
  if (digest !== undefined) attrs.push(digest);

  const kb = keyBlockOf(spec.value);
  const kft = kb === undefined ? undefined : child(kb, Tag.KeyFormatType);
  if (kft?.type === 'Enumeration') setAttr(attrs, enumeration(Tag.KeyFormatType, kft.value));

  // s.4.19 Fresh: true until the object is first served (Get sets it false); a client may
  // register it with an explicit value (BL-M-13).
  if (attrBool(attrs, Tag.Fresh) === undefined) attrs.push(boolean(Tag.Fresh, true));

  if (CRYPTO_OBJECTS.includes(spec.objectType)) {
    // s.4.52 / s.4.18 defaults: not sensitive, extractable; Always Sensitive and Never
    // Extractable start as the creation-time values and only ever become false.
    const sensitive = attrBool(attrs, Tag.Sensitive) ?? false;
    const extractable = attrBool(attrs, Tag.Extractable) ?? true;
    setAttr(attrs, boolean(Tag.Sensitive, sensitive));
    setAttr(attrs, boolean(Tag.AlwaysSensitive, sensitive));
    setAttr(attrs, boolean(Tag.Extractable, extractable));
    setAttr(attrs, boolean(Tag.NeverExtractable, !extractable));
    setAttr(attrs, interval(Tag.LeaseTime, DEFAULT_LEASE_TIME_SECONDS));
  }
  // s.4.44: L4 material is kept by this server in software (wrapped by the tenant's hierarchy).
  setAttr(attrs, integer(Tag.ProtectionStorageMask, ProtectionStorageMask.Software));
  if (spec.generated && getAttr(attrs, Tag.RandomNumberGenerator) === undefined) attrs.push(RNG_ATTRIBUTE);

  const uid = spec.uid ?? newUid();
  // 2.x Short Unique Identifier: a fixed-size (32-byte) handle for the Unique Identifier,
  // the SHA-256 of its UTF-8 text, so any party can recompute it.
  setAttr(attrs, byteString(Tag.ShortUniqueIdentifier, createHash('sha256').update(uid, 'utf8').digest()));

  const state = initialState(attrs, now);
  return ctx.objects.create({
    uid,
    objectType: spec.objectType,
    state,
    attributes: attrs,
    value: spec.value,
  });
}

/**
 * Protection Storage Masks of a request (s.6.1.8, s.6.1.43, s.12.2): each mask lists storage the
 * client accepts; this server stores in software only, so at least one mask must allow it.
 */
export function checkProtectionStorageMasks(payload: Struct, tag: number = Tag.ProtectionStorageMasks): void {
  const masks = optStruct(payload, tag);
  if (masks === undefined || masks.value.length === 0) return;
  const ok = masks.value.some((m) => m.type === 'Integer' && (m.value & ProtectionStorageMask.Software) !== 0);
  if (!ok) {
    const reason = tag === Tag.PrivateProtectionStorageMasks ? ResultReason.PrivateProtectionStorageUnavailable
      : tag === Tag.PublicProtectionStorageMasks ? ResultReason.PublicProtectionStorageUnavailable
        : ResultReason.ProtectionStorageUnavailable;
    throw new KmipError(reason, 'this server stores objects in software only; no requested Protection Storage Mask allows it');
  }
}

/** Link{Link Type, Linked Object Identifier} (s.4.30). */
export const link = (type: number, uid: string): TtlvItem =>
  structure(Tag.Link, [enumeration(Tag.LinkType, type), textString(Tag.LinkedObjectIdentifier, uid)]);

/** Seconds since the epoch of a Date. */
export const epochSeconds = (d: Date): bigint => BigInt(Math.floor(d.getTime() / 1000));
