// Key wrapping with managed keys, shared by Get / Export (wrap on the way out) and Register /
// Import (unwrap on the way in): KMIP 2.1 s.2.1.5 Key Wrapping Data, s.2.1.6 Key Wrapping
// Specification, s.11.16 Encoding Option, s.11.59 Wrapping Method.
//
// Rules applied here (and where the spec states them):
//  - The wrapping key is a managed object named by Unique Identifier in Encryption Key
//    Information and/or MAC/Signature Key Information (s.2.1.5: at least one of them).
//    Missing: Wrapping Object Not Found; destroyed: Wrapping Object Destroyed (s.11.46).
//  - Wrapping is "applying protection": the key must be Active (s.4.57) and its Cryptographic
//    Usage Mask must allow Wrap Key; unwrapping is processing: Active, Deactivated or
//    Compromised, with Unwrap Key in the mask (s.4.15). A key cannot wrap itself.
//  - Mechanism: the Cryptographic Algorithm of the wrapping key; block cipher mode, padding
//    and hashes from the Cryptographic Parameters of the Key Information, else from the
//    key's Cryptographic Parameters attribute (s.2.1.5). AES defaults to NIST key wrap.
//  - Encoding (s.11.16): TTLV Encoding (the default when absent, s.2.1.5) wraps the TTLV
//    encoding of the Key Value structure, with the attributes the specification names
//    (Attribute Name, s.2.1.6), and the Key Value becomes that Byte String; No Encoding
//    wraps the bare Key Material, which must then be a Byte String, carries no attributes,
//    and the wrapped bytes stay in the Key Material of the Key Value structure.
//  - Methods: Encrypt, MAC/sign, Encrypt then MAC/sign (the MAC is over the ciphertext).
//    MAC/sign then Encrypt and TR-31 are answered Feature Not Supported: no client or vector
//    needs them, and their layouts are not fixed by the specification.
import { CryptographicAlgorithm as Alg, BlockCipherMode, CryptographicUsageMask as CUM, EncodingOption, LinkType, ObjectType, ResultReason, WrappingMethod } from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { decode } from '../../ttlv/decode.ts';
import { encode } from '../../ttlv/encode.ts';
import { TtlvError } from '../../ttlv/errors.ts';
import { KmipError } from '../../kmip/errors.ts';
import { byteString, child, children, enumeration, isStructure, optBytes, optEnum, optStruct, structure, type Struct } from '../../kmip/items.ts';
import type { ManagedObject } from '../../kmip/object.ts';
import { attributesToV1List } from '../../kmip/adapters/attributes.ts';
import type { MacAlgorithm } from '../../crypto/mac.ts';
import type { SignatureScheme } from '../../crypto/signature.ts';
import {
  UnwrapFailure, WrapParamError, authenticateKeyData, decryptKeyData, encryptKeyData, verifyKeyData,
  type WrapAuthentication, type WrapCipher, type WrappingKeyMaterial,
} from '../../crypto/wrapping.ts';
import { getAttr, matchesReference, parseAttributeReference } from '../../policy/attributes.ts';
import { assertCanProcess, assertCanProtect, isArchived, isDestroyed } from '../../policy/lifecycle.ts';
import {
  algorithmName, assertUsageAllowed, macAlgorithm, modeName, operationKey, resolveCryptoParams, rsaEncryption, signatureScheme,
  type CryptoParams,
} from './crypto-params.ts';
import { keyBlockOf } from './new-object.ts';
import { resolveUidReference } from '../uid.ts';
import type { OperationContext } from '../types.ts';

// ---------------------------------------------------------------------------
// Errors of the wrapping module → Result Reasons

function wrapCall<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof UnwrapFailure) throw new KmipError(ResultReason.CryptographicFailure, e.message);
    if (e instanceof WrapParamError) throw new KmipError(ResultReason.InvalidField, e.message);
    throw e;
  }
}

// ---------------------------------------------------------------------------
// The wrapping keys

type Direction = 'wrap' | 'unwrap';

/** Loads a key named by a Key Information structure (s.2.1.5) and applies the lifecycle and usage rules. */
async function loadWrappingKey(ctx: OperationContext, info: Struct, direction: Direction, what: string): Promise<ManagedObject> {
  const uids = resolveUidReference(ctx, child(info, Tag.UniqueIdentifier) ?? missingUid(what));
  if (uids.length !== 1) throw new KmipError(ResultReason.InvalidField, `the ${what} must name exactly one key`);
  const obj = await ctx.objects.load(uids[0]!);
  if (obj === undefined) throw new KmipError(ResultReason.WrappingObjectNotFound, `the ${what} ${uids[0]} does not exist`);
  if (isDestroyed(obj.state)) throw new KmipError(ResultReason.WrappingObjectDestroyed, `the ${what} ${obj.uid} is destroyed`);
  if (isArchived(obj)) throw new KmipError(ResultReason.WrappingObjectArchived, `the ${what} ${obj.uid} is archived`);
  if (direction === 'wrap') assertCanProtect(obj, ctx.now());
  else assertCanProcess(obj, ctx.now());
  return obj;
}

function missingUid(what: string): never {
  throw new KmipError(ResultReason.InvalidField, `the ${what} needs a Unique Identifier`);
}

/**
 * RSA unwrapping names the public key in the Key Information (the key the data was
 * encrypted with); the private key doing the work is the one its Private Key Link names.
 */
async function privateKeyFor(ctx: OperationContext, obj: ManagedObject): Promise<ManagedObject> {
  if (obj.objectType !== ObjectType.PublicKey) return obj;
  const l = obj.attributes.find((a) => a.tag === Tag.Link && isStructure(a) && optEnum(a, Tag.LinkType) === LinkType.PrivateKeyLink);
  const uid = l !== undefined && isStructure(l) ? child(l, Tag.LinkedObjectIdentifier) : undefined;
  if (uid?.type !== 'TextString') throw new KmipError(ResultReason.WrappingObjectNotFound, `public key ${obj.uid} has no private key on this server to unwrap with`);
  const priv = await ctx.objects.load(uid.value);
  if (priv === undefined) throw new KmipError(ResultReason.WrappingObjectNotFound, `the private key ${uid.value} of public key ${obj.uid} does not exist`);
  if (isDestroyed(priv.state)) throw new KmipError(ResultReason.WrappingObjectDestroyed, `the private key ${priv.uid} is destroyed`);
  if (isArchived(priv)) throw new KmipError(ResultReason.WrappingObjectArchived, `the private key ${priv.uid} is archived`);
  assertCanProcess(priv, ctx.now());
  return priv;
}

const algorithmOf = (obj: ManagedObject): number | undefined => {
  const kb = keyBlockOf(obj.value);
  const a = kb === undefined ? undefined : optEnum(kb, Tag.CryptographicAlgorithm);
  if (a !== undefined) return a;
  const attr = getAttr(obj.attributes, Tag.CryptographicAlgorithm);
  return attr?.type === 'Enumeration' ? attr.value : undefined;
};

/** The encryption mechanism for a wrapping key and its resolved parameters. */
function cipherFor(obj: ManagedObject, p: CryptoParams): WrapCipher {
  const alg = algorithmOf(obj);
  if (alg === Alg.AES) {
    const mode = p.blockCipherMode ?? BlockCipherMode.NISTKeyWrap;
    if (mode === BlockCipherMode.NISTKeyWrap) return { kind: 'aes-kw' };
    if (mode === BlockCipherMode.AESKeyWrapPadding) return { kind: 'aes-kwp' };
    if (mode === BlockCipherMode.GCM) return { kind: 'aes-gcm', tagLength: p.tagLength ?? 16 };
    throw new KmipError(ResultReason.InvalidField, `Block Cipher Mode ${modeName(mode)} cannot wrap keys (NIST Key Wrap, AES Key Wrap Padding, GCM)`);
  }
  if (alg === Alg.RSA) {
    const r = rsaEncryption(p);
    return r.padding === 'oaep' ? { kind: 'rsa-oaep', oaep: r.oaep } : { kind: 'rsa-pkcs1v15' };
  }
  throw new KmipError(ResultReason.InvalidField, `a key of algorithm ${alg === undefined ? '(none)' : algorithmName(alg)} cannot wrap keys (AES, RSA)`);
}

function materialOf(obj: ManagedObject, direction: Direction): WrappingKeyMaterial {
  const allowed = direction === 'wrap'
    ? [ObjectType.SymmetricKey, ObjectType.PublicKey]
    : [ObjectType.SymmetricKey, ObjectType.PrivateKey];
  const k = operationKey(obj, allowed);
  const m: WrappingKeyMaterial = {};
  if (k.bytes !== undefined) m.bytes = k.bytes;
  if (k.publicKey !== undefined) m.publicKey = k.publicKey;
  if (k.privateKey !== undefined) m.privateKey = k.privateKey;
  return m;
}

/** MAC (symmetric key) or signature (private key to sign, public key to verify) for the MAC/Signature part. */
function authenticationFor(obj: ManagedObject, p: CryptoParams, direction: Direction): WrapAuthentication {
  if (obj.objectType === ObjectType.SymmetricKey) {
    const k = operationKey(obj, [ObjectType.SymmetricKey]);
    const mac: MacAlgorithm = macAlgorithm(k, p);
    return { kind: 'mac', mac, key: k.bytes! };
  }
  const k = operationKey(obj, direction === 'wrap' ? [ObjectType.PrivateKey] : [ObjectType.PublicKey, ObjectType.PrivateKey]);
  const key = direction === 'wrap' ? k.privateKey! : k.publicKey!;
  const scheme: SignatureScheme = signatureScheme(key, p);
  return { kind: 'signature', scheme, key };
}

interface WrappingPlan {
  method: number;
  encoding: number;
  encryption?: { info: Struct; obj: ManagedObject; cipher: WrapCipher; material: WrappingKeyMaterial };
  authentication?: { info: Struct; obj: ManagedObject; auth: WrapAuthentication };
}

const usesEncryption = (m: number) => m === WrappingMethod.Encrypt || m === WrappingMethod.EncryptThenMACSign;
const usesMac = (m: number) => m === WrappingMethod.MACSign || m === WrappingMethod.EncryptThenMACSign;

function checkMethod(method: number): void {
  if (method === WrappingMethod.MACSignThenEncrypt || method === WrappingMethod.TR_31) {
    throw new KmipError(ResultReason.FeatureNotSupported, 'Wrapping Methods MAC/sign then encrypt and TR-31 are not supported (Encrypt, MAC/sign, Encrypt then MAC/sign are)');
  }
  if (!usesEncryption(method) && !usesMac(method)) throw new KmipError(ResultReason.InvalidField, `unknown Wrapping Method 0x${method.toString(16)}`);
}

/** Reads the method and keys of a Key Wrapping Specification (wrap) or Key Wrapping Data (unwrap). */
async function plan(ctx: OperationContext, s: Struct, direction: Direction, self: string | undefined): Promise<WrappingPlan> {
  const method = optEnum(s, Tag.WrappingMethod);
  if (method === undefined) throw new KmipError(ResultReason.InvalidField, 'Wrapping Method is required');
  checkMethod(method);
  const encoding = optEnum(s, Tag.EncodingOption) ?? EncodingOption.TTLVEncoding;
  if (encoding !== EncodingOption.TTLVEncoding && encoding !== EncodingOption.NoEncoding) {
    throw new KmipError(ResultReason.EncodingOptionError, `unknown Encoding Option 0x${encoding.toString(16)}`);
  }
  const eki = optStruct(s, Tag.EncryptionKeyInformation);
  const mski = optStruct(s, Tag.MACSignatureKeyInformation);
  // s.2.1.5: the method decides which Key Information must be present.
  if (usesEncryption(method) && eki === undefined) throw new KmipError(ResultReason.InvalidField, 'this Wrapping Method needs Encryption Key Information');
  if (usesMac(method) && mski === undefined) throw new KmipError(ResultReason.InvalidField, 'this Wrapping Method needs MAC/Signature Key Information');
  const out: WrappingPlan = { method, encoding };
  const bit = direction === 'wrap' ? CUM.WrapKey : CUM.UnwrapKey;
  const verb = direction === 'wrap' ? 'wrapping keys' : 'unwrapping keys';
  if (usesEncryption(method)) {
    let obj = await loadWrappingKey(ctx, eki!, direction, 'encryption key');
    if (obj.uid === self) throw new KmipError(ResultReason.InvalidField, 'a key cannot wrap itself');
    if (direction === 'unwrap' && algorithmOf(obj) === Alg.RSA) obj = await privateKeyFor(ctx, obj);
    assertUsageAllowed(obj, bit, verb);
    const p = resolveCryptoParams(eki!, obj);
    const cipher = cipherFor(obj, p);
    out.encryption = { info: eki!, obj, cipher, material: materialOf(obj, direction) };
  }
  if (usesMac(method)) {
    const obj = await loadWrappingKey(ctx, mski!, direction, 'MAC/signature key');
    if (obj.uid === self) throw new KmipError(ResultReason.InvalidField, 'a key cannot authenticate itself');
    assertUsageAllowed(obj, bit, verb);
    const p = resolveCryptoParams(mski!, obj);
    out.authentication = { info: mski!, obj, auth: authenticationFor(obj, p, direction) };
  }
  return out;
}

// ---------------------------------------------------------------------------
// Wrapping (Get, Export)

/** The attributes named by the specification's Attribute Names (s.2.1.6), in the internal 2.1 form. */
function namedAttributes(obj: ManagedObject, spec: Struct): TtlvItem[] {
  const names = children(spec, Tag.AttributeName);
  if (names.length === 0) return [];
  const refs = names.map((n) => parseAttributeReference(n));
  return obj.attributes.filter((a) => refs.some((r) => matchesReference(a, r)));
}

/** The bytes a wrap covers: TTLV of the Key Value structure, or the bare Key Material (s.11.16). */
function encodeKeyValue(ctx: OperationContext, kv: Struct, encoding: number, attrs: TtlvItem[]): Buffer {
  const material = child(kv, Tag.KeyMaterial);
  if (material === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, 'the key block has no Key Material');
  if (encoding === EncodingOption.NoEncoding) {
    if (attrs.length > 0) throw new KmipError(ResultReason.EncodingOptionError, 'No Encoding wraps the Key Material only: it cannot carry the attributes the specification names');
    if (material.type !== 'ByteString') throw new KmipError(ResultReason.EncodingOptionError, 'No Encoding needs a Key Material Byte String; this key format is a structure (use TTLV Encoding)');
    return material.value;
  }
  // The encoded Key Value goes inside a Byte String the version adapter cannot see into, so
  // its attributes are written in the request's version here (1.x Attribute ×n, 2.x Attributes).
  const fields: TtlvItem[] = [material];
  if (attrs.length > 0) {
    if (ctx.version.major < 2) fields.push(...attributesToV1List(attrs, ctx.version));
    else fields.push(structure(Tag.Attributes, attrs));
  }
  return encode(structure(Tag.KeyValue, fields));
}

/**
 * Wraps the Key Block of `value` (the object as it will be returned, already converted to
 * the requested Key Format Type) as `spec` says. The returned Key Block carries the wrapped
 * Key Value as a Byte String and Key Wrapping Data (s.2.1.5) echoing the key information.
 */
export async function wrapObjectValue(ctx: OperationContext, obj: ManagedObject, value: Struct, spec: Struct): Promise<Struct> {
  const kb = keyBlockOf(value);
  if (kb === undefined) throw new KmipError(ResultReason.InvalidObjectType, 'only objects with a Key Block can be wrapped');
  if (child(kb, Tag.KeyWrappingData) !== undefined) {
    throw new KmipError(ResultReason.KeyWrapTypeNotSupported, 'the key is stored wrapped; it cannot be wrapped a second time');
  }
  const kv = optStruct(kb, Tag.KeyValue);
  if (kv === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, 'the key block has no Key Value');
  const p = await plan(ctx, spec, 'wrap', obj.uid);
  const attrs = namedAttributes(obj, spec);
  const encoded = encodeKeyValue(ctx, kv, p.encoding, attrs);

  let keyValue = encoded;
  let iv: Buffer | undefined;
  if (p.encryption !== undefined) {
    const r = wrapCall(() => encryptKeyData(p.encryption!.cipher, p.encryption!.material, encoded));
    keyValue = r.wrapped;
    iv = r.iv;
  }
  const mac = p.authentication === undefined ? undefined : wrapCall(() => authenticateKeyData(p.authentication!.auth, keyValue));

  const kwd: TtlvItem[] = [enumeration(Tag.WrappingMethod, p.method)];
  if (p.encryption !== undefined) kwd.push(p.encryption.info);
  if (p.authentication !== undefined) kwd.push(p.authentication.info);
  if (mac !== undefined) kwd.push(byteString(Tag.MACSignature, mac));
  if (iv !== undefined) kwd.push(byteString(Tag.IVCounterNonce, iv));
  const requestedEncoding = optEnum(spec, Tag.EncodingOption);
  if (requestedEncoding !== undefined) kwd.push(enumeration(Tag.EncodingOption, requestedEncoding));

  // s.2.1.4: a wrapped Key Value is a Byte String — the wrapped TTLV encoding of the Key
  // Value structure. With No Encoding only the Key Material is wrapped (s.11.16), so the Key
  // Value structure stays, its Key Material holding the wrapped bytes and no attributes
  // (s.2.1.5) — the form PyKMIP and Cosmian produce and PyKMIP's decoder requires.
  const wrappedKv = p.encoding === EncodingOption.NoEncoding
    ? structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, keyValue)])
    : byteString(Tag.KeyValue, keyValue);
  const newKb = structure(Tag.KeyBlock, [
    ...kb.value.map((c) => (c.tag === Tag.KeyValue ? wrappedKv : c)),
    structure(Tag.KeyWrappingData, kwd),
  ]);
  return structure(value.tag, value.value.map((c) => (c.tag === Tag.KeyBlock ? newKb : c)));
}

// ---------------------------------------------------------------------------
// Unwrapping (Register, Import, Get with Key Wrap Type Not Wrapped)

/** Does the object's Key Block carry Key Wrapping Data? */
export function isWrappedValue(value: TtlvItem | undefined): boolean {
  const kb = keyBlockOf(value);
  return kb !== undefined && child(kb, Tag.KeyWrappingData) !== undefined;
}

/** The Unique Identifier of the encryption key of a wrapped value (for the Wrapping Key Link, s.6.1.43). */
export function wrappingKeyUid(value: TtlvItem | undefined): string | undefined {
  const kb = keyBlockOf(value);
  const kwd = kb === undefined ? undefined : optStruct(kb, Tag.KeyWrappingData);
  const info = kwd === undefined ? undefined : optStruct(kwd, Tag.EncryptionKeyInformation) ?? optStruct(kwd, Tag.MACSignatureKeyInformation);
  const uid = info === undefined ? undefined : child(info, Tag.UniqueIdentifier);
  return uid?.type === 'TextString' ? uid.value : undefined;
}

/** Limits for decoding an unwrapped Key Value: a key is small and shallow. */
const UNWRAPPED_DECODE = { maxDepth: 8, maxItems: 4096, copyByteStrings: true } as const;

function decodeKeyValue(bytes: Buffer, encoding: number): Struct {
  if (encoding === EncodingOption.NoEncoding) return structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, bytes)]);
  let item: TtlvItem;
  try {
    item = decode(bytes, UNWRAPPED_DECODE);
  } catch (e) {
    if (e instanceof TtlvError) throw new KmipError(ResultReason.EncodingOptionError, `the unwrapped data is not a TTLV-encoded Key Value: ${e.message}`);
    throw e;
  }
  if (!isStructure(item) || item.tag !== Tag.KeyValue) {
    throw new KmipError(ResultReason.EncodingOptionError, 'the unwrapped data is not a TTLV-encoded Key Value structure (set Encoding Option No Encoding for bare key material)');
  }
  const material = child(item, Tag.KeyMaterial);
  if (material === undefined) throw new KmipError(ResultReason.EncodingOptionError, 'the unwrapped Key Value has no Key Material');
  // Attributes wrapped with the key (s.2.1.6 Attribute Name) describe it for the receiver;
  // the object's attributes are the ones of the request, so only the material is kept.
  return structure(Tag.KeyValue, [material]);
}

/**
 * Unwraps a wrapped Key Block with the managed keys its Key Wrapping Data names: verifies
 * the MAC/signature (over the ciphertext for Encrypt then MAC/sign), decrypts, decodes.
 * Returns the object with a plaintext Key Value and no Key Wrapping Data.
 */
/**
 * The keys a wrapped object's Key Wrapping Data names (Encryption Key Information, MAC/
 * Signature Key Information, s.2.1.5) that do not exist for this tenant. A client may wrap a
 * key under a key of its own that the server never held; KMIP lets the server keep such
 * material as registered (Key Wrap Type As Registered, s.6.1.24 / s.11.32) and hand it back
 * wrapped. A key of another tenant counts as missing, exactly as everywhere else.
 */
export async function unknownWrappingKeys(ctx: OperationContext, value: Struct): Promise<string[]> {
  const kb = keyBlockOf(value);
  const kwd = kb === undefined ? undefined : optStruct(kb, Tag.KeyWrappingData);
  if (kwd === undefined) return [];
  const missing: string[] = [];
  for (const tag of [Tag.EncryptionKeyInformation, Tag.MACSignatureKeyInformation]) {
    const info = optStruct(kwd, tag);
    const ref = info === undefined ? undefined : child(info, Tag.UniqueIdentifier);
    if (ref === undefined) continue; // plan() reports the malformed structure
    const uids = resolveUidReference(ctx, ref);
    if (uids.length !== 1) continue;
    if ((await ctx.objects.load(uids[0]!)) === undefined) missing.push(uids[0]!);
  }
  return missing;
}

export async function unwrapObjectValue(ctx: OperationContext, value: Struct): Promise<Struct> {
  const kb = keyBlockOf(value);
  const kwd = kb === undefined ? undefined : optStruct(kb, Tag.KeyWrappingData);
  if (kb === undefined || kwd === undefined) return value;
  // The wrapped bytes: a Key Value Byte String (s.2.1.4), or — with No Encoding — the Key
  // Material Byte String of a Key Value structure. The structure form without an Encoding
  // Option can only hold bare material, so it is read as No Encoding.
  const kv = child(kb, Tag.KeyValue);
  let wrapped: Buffer;
  let structured = false;
  if (kv?.type === 'ByteString') {
    wrapped = kv.value;
  } else if (isStructure(kv) && child(kv, Tag.KeyMaterial)?.type === 'ByteString') {
    wrapped = (child(kv, Tag.KeyMaterial) as { value: Buffer }).value;
    structured = true;
  } else {
    throw new KmipError(ResultReason.InvalidField, 'a wrapped Key Value must be a Byte String, or a Key Value structure with a Key Material Byte String (No Encoding)');
  }
  const p = await plan(ctx, kwd, 'unwrap', undefined);
  if (structured) {
    if (optEnum(kwd, Tag.EncodingOption) === EncodingOption.TTLVEncoding) {
      throw new KmipError(ResultReason.EncodingOptionError, 'TTLV Encoding wraps the whole Key Value: it must be a Byte String');
    }
    p.encoding = EncodingOption.NoEncoding;
  }

  let data = wrapped;
  if (p.authentication !== undefined) {
    const tag = optBytes(kwd, Tag.MACSignature);
    if (tag === undefined) throw new KmipError(ResultReason.InvalidField, 'the Key Wrapping Data lacks the MAC/Signature its Wrapping Method needs');
    wrapCall(() => verifyKeyData(p.authentication!.auth, data, tag));
  }
  if (p.encryption !== undefined) {
    const iv = optBytes(kwd, Tag.IVCounterNonce);
    data = wrapCall(() => decryptKeyData(p.encryption!.cipher, p.encryption!.material, data, iv));
  }
  const plainKv = decodeKeyValue(data, p.encoding);
  const newKb = structure(Tag.KeyBlock, kb.value.filter((c) => c.tag !== Tag.KeyWrappingData).map((c) => (c.tag === Tag.KeyValue ? plainKv : c)));
  return structure(value.tag, value.value.map((c) => (c.tag === Tag.KeyBlock ? newKb : c)));
}
