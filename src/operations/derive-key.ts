// Derive Key (KMIP 2.1 s.6.1.10; 1.4 s.4.6): a Symmetric Key or Secret Data object derived
// from managed keys / secret data and the request's Derivation Parameters (2.1 s.7.x,
// 1.4 s.2.1.18), stored as a new managed object.
//
// Inputs. The Unique Identifiers name the base objects (at most one Symmetric Key — the
// derivation key — and at most one Secret Data). "Derivation Data: Yes, unless the Unique
// Identifier of a Secret Data object is provided": a Secret Data base object is derivation
// data, placed before the request's Derivation Data; without a Symmetric Key it is itself
// the derivation key (a password for PBKDF2). Every base object must be Active and have
// Derive Key in its Cryptographic Usage Mask (s.6.1.10: "the server SHALL return an
// error" otherwise).
//
// Methods (s.11.13):
//  - PBKDF2 (RFC 8018): password = the derivation key; Salt and Iteration Count required;
//    PRF HMAC with the Hashing Algorithm of the Cryptographic Parameters (RFC 8018 default
//    HMAC-SHA-1 when none is given).
//  - HASH: the hash of the derivation key or of the derivation data — one of them, as the
//    spec's "or" says; both at once is ambiguous and refused.
//  - HMAC: HMAC(derivation key, derivation data).
//  - HKDF (2.x): RFC 5869 with IKM = derivation key, salt = Salt, info = derivation data.
//  - ENCRYPT: the derivation data encrypted under the derivation key (AES / 3DES in ECB,
//    CBC or CTR from the Cryptographic Parameters, IV from Initialization Vector — all zero
//    when absent: "an empty IV is assumed").
//  - NIST800-108-C / -F: SP 800-108 counter / feedback mode (32-bit counter before the fixed
//    input / after the iteration variable), PRF HMAC or AES-CMAC, fixed input = derivation
//    data, feedback IV = Initialization Vector.
//  - NIST800-108-DPI, Asymmetric Key, AWS Signature V4: Feature Not Supported (no tested
//    implementation; see crypto/kdf.ts).
// The output is the Cryptographic Length asked for; a method producing less is an error
// (s.6.1.10). The new object gets a Derivation Base Object Link to each base object and
// each base object a Derived Key Link to it (s.6.1.10).
import {
  BlockCipherMode, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, DerivationMethod, KeyFormatType, LinkType, ObjectType,
  Operation, PaddingMethod, ResultReason, SecretDataType,
} from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, child, children, enumeration, integer, optBytes, optEnum, optInt, optStruct, required, structure, textString, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import type { HashName } from '../crypto/hash.ts';
import { KdfError, hashDerive, hkdf, hmacDerive, kdfCounter, kdfFeedback, pbkdf2, type KdfPrf } from '../crypto/kdf.ts';
import { symmetricKeyBytes } from '../crypto/keys.ts';
import { checkSymmetricMaterial } from '../crypto/formats.ts';
import { ivLength, symmetricEncrypt, type BlockMode, type SymmetricAlgorithm } from '../crypto/symmetric.ts';
import { StoreConflictError } from '../store/types.ts';
import { assertCanProtect } from '../policy/lifecycle.ts';
import { loadObject, recordResult, resolveUidReference, touch } from './uid.ts';
import {
  HMAC_HASH, algorithmName, assertUsageAllowed, cryptoCall, hashName, modeName, operationKey, parseCryptoParams, type CryptoParams,
} from './common/crypto-params.ts';
import {
  assertNamesFree, attrEnum, attrInt, attributesOf, checkProtectionStorageMasks, clientAttributes, keyBlock, keyBlockOf, link, storeNewObject,
  withKmipErrors,
} from './common/new-object.ts';
import type { OperationContext, OperationHandler } from './types.ts';

interface Inputs {
  /** The derivation key (Symmetric Key base, else the Secret Data base). */
  key?: Buffer;
  keyObject?: ManagedObject;
  /** Derivation data: a Secret Data base (when a key is also given) ‖ the request's Derivation Data. */
  data?: Buffer;
  /** Everything that is derivation data in the spec's sense: the Secret Data base ‖ the request's Derivation Data. */
  allData?: Buffer;
  bases: ManagedObject[];
}

interface Parameters {
  crypto: CryptoParams;
  iv?: Buffer;
  data: Buffer[];
  salt?: Buffer;
  iterations?: number;
}

function readParameters(s: Struct): Parameters {
  const cp = optStruct(s, Tag.CryptographicParameters);
  const out: Parameters = { crypto: cp === undefined ? {} : parseCryptoParams(cp), data: [] };
  const iv = optBytes(s, Tag.InitializationVector);
  if (iv !== undefined) out.iv = iv;
  for (const d of children(s, Tag.DerivationData)) {
    if (d.type !== 'ByteString') throw new KmipError(ResultReason.InvalidField, 'Derivation Data must be a Byte String');
    out.data.push(d.value);
  }
  const salt = optBytes(s, Tag.Salt);
  if (salt !== undefined) out.salt = salt;
  const n = optInt(s, Tag.IterationCount);
  if (n !== undefined) out.iterations = n;
  return out;
}

/** The bytes of a Secret Data object (s.2.2.7: Raw or Opaque Key Material; a wrapped one cannot be used). */
function secretBytes(obj: ManagedObject): Buffer {
  const kb = keyBlockOf(obj.value);
  if (kb === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, `Secret Data ${obj.uid} has no value`);
  if (child(kb, Tag.KeyWrappingData) !== undefined) {
    throw new KmipError(ResultReason.FeatureNotSupported, `Secret Data ${obj.uid} is stored wrapped; the server cannot derive from it`);
  }
  const kv = optStruct(kb, Tag.KeyValue);
  const m = kv === undefined ? undefined : child(kv, Tag.KeyMaterial);
  if (m?.type !== 'ByteString') throw new KmipError(ResultReason.KeyValueNotPresent, `Secret Data ${obj.uid} has no Key Material bytes`);
  return m.value;
}

/** Loads the base objects and assembles the derivation key and data. */
async function loadInputs(ctx: OperationContext, payload: Struct, params: Parameters): Promise<Inputs> {
  const refs = children(payload, Tag.UniqueIdentifier);
  const uids = refs.length === 0 ? resolveUidReference(ctx, undefined) : refs.flatMap((r) => resolveUidReference(ctx, r));
  const bases: ManagedObject[] = [];
  let symmetric: { obj: ManagedObject; bytes: Buffer } | undefined;
  let secret: { obj: ManagedObject; bytes: Buffer } | undefined;
  for (const uid of new Set(uids)) {
    const obj = await loadObject(ctx, uid);
    // Deriving makes new key material: a use that "applies protection" (s.4.57), so only
    // an Active object within its Protect Stop Date qualifies.
    assertCanProtect(obj, ctx.now());
    assertUsageAllowed(obj, CUM.DeriveKey, 'key derivation');
    if (obj.objectType === ObjectType.SecretData) {
      if (secret !== undefined) throw new KmipError(ResultReason.InvalidField, 'Derive Key takes at most one Secret Data object');
      secret = { obj, bytes: secretBytes(obj) };
    } else {
      const k = operationKey(obj, [ObjectType.SymmetricKey]);
      if (symmetric !== undefined) throw new KmipError(ResultReason.InvalidField, 'Derive Key takes at most one Symmetric Key as derivation key');
      symmetric = { obj, bytes: k.bytes! };
    }
    bases.push(obj);
  }
  const dataParts = [...params.data];
  const inputs: Inputs = { bases };
  if (symmetric !== undefined) {
    inputs.key = symmetric.bytes;
    inputs.keyObject = symmetric.obj;
    if (secret !== undefined) dataParts.unshift(secret.bytes);
  } else if (secret !== undefined) {
    inputs.key = secret.bytes;
    inputs.keyObject = secret.obj;
  }
  if (dataParts.length > 0) inputs.data = Buffer.concat(dataParts);
  const all = secret === undefined ? params.data : [secret.bytes, ...params.data];
  if (all.length > 0) inputs.allData = Buffer.concat(all);
  return inputs;
}

/** The hash of HMAC/HASH-based methods: Hashing Algorithm, else the HMAC algorithm named in the parameters or of the key. */
function prfHash(p: CryptoParams, keyObject: ManagedObject | undefined, fallback?: HashName): HashName {
  if (p.hashingAlgorithm !== undefined) return hashName(p.hashingAlgorithm);
  const alg = p.cryptographicAlgorithm ?? (keyObject === undefined ? undefined : attrEnum(keyObject.attributes, Tag.CryptographicAlgorithm));
  const h = alg === undefined ? undefined : HMAC_HASH.get(alg);
  if (h !== undefined) return h;
  if (fallback !== undefined) return fallback;
  throw new KmipError(ResultReason.InvalidField, 'this Derivation Method needs a Hashing Algorithm in the Cryptographic Parameters');
}

/** SP 800-108 PRF: AES-CMAC when the parameters ask for it (Cryptographic Algorithm AES or Block Cipher Mode CMAC), else HMAC. */
function sp800108Prf(p: CryptoParams, keyObject: ManagedObject | undefined): KdfPrf {
  if (p.blockCipherMode === BlockCipherMode.CMAC || (p.cryptographicAlgorithm === Alg.AES && p.hashingAlgorithm === undefined)) return { kind: 'cmac' };
  return { kind: 'hmac', hash: prfHash(p, keyObject) };
}

const ENCRYPT_MODES: ReadonlyMap<number, BlockMode> = new Map<number, BlockMode>([
  [BlockCipherMode.ECB, 'ECB'], [BlockCipherMode.CBC, 'CBC'], [BlockCipherMode.CTR, 'CTR'],
]);

function encryptDerive(inputs: Inputs, params: Parameters, key: Buffer, data: Buffer, length: number): Buffer {
  const keyAlg = inputs.keyObject === undefined ? undefined : attrEnum(inputs.keyObject.attributes, Tag.CryptographicAlgorithm);
  const algorithm: SymmetricAlgorithm | undefined = keyAlg === Alg.AES ? 'AES' : keyAlg === Alg.DES3 ? 'DES3' : undefined;
  if (algorithm === undefined) {
    throw new KmipError(ResultReason.InvalidField, `ENCRYPT derivation needs an AES or 3DES derivation key, not ${keyAlg === undefined ? '(none)' : algorithmName(keyAlg)}`);
  }
  const p = params.crypto;
  const mode = p.blockCipherMode === undefined ? undefined : ENCRYPT_MODES.get(p.blockCipherMode);
  if (mode === undefined) {
    throw new KmipError(ResultReason.InvalidField, `ENCRYPT derivation needs Block Cipher Mode ECB, CBC or CTR${p.blockCipherMode === undefined ? '' : `, not ${modeName(p.blockCipherMode)}`}`);
  }
  const padding = p.paddingMethod === PaddingMethod.PKCS5 ? 'PKCS5' : 'None';
  const n = ivLength(algorithm, mode);
  const iv = n === 0 ? undefined : params.iv ?? Buffer.alloc(n);
  const out = cryptoCall(() => symmetricEncrypt({ algorithm, mode, padding, key, ...(iv === undefined ? {} : { iv }) }, data)).data;
  if (out.length < length) throw new KmipError(ResultReason.InvalidField, `ENCRYPT derivation produced ${out.length} bytes, fewer than the ${length} asked for`);
  return out.subarray(0, length);
}

async function derive(method: number, inputs: Inputs, params: Parameters, length: number): Promise<Buffer> {
  const needKey = (): Buffer => {
    if (inputs.key === undefined) throw new KmipError(ResultReason.InvalidField, 'this Derivation Method needs a derivation key (a Symmetric Key or Secret Data Unique Identifier)');
    return inputs.key;
  };
  const needData = (): Buffer => {
    if (inputs.data === undefined) throw new KmipError(ResultReason.InvalidField, 'this Derivation Method needs Derivation Data');
    return inputs.data;
  };
  const p = params.crypto;
  const data = inputs.data ?? Buffer.alloc(0);
  switch (method) {
    case DerivationMethod.PBKDF2: {
      const salt = params.salt ?? missing('PBKDF2 needs a Salt');
      const iterations = params.iterations ?? missing('PBKDF2 needs an Iteration Count');
      return pbkdf2(prfHash(p, inputs.keyObject, 'sha1'), needKey(), salt, iterations, length);
    }
    case DerivationMethod.HASH: {
      const fromKey = inputs.keyObject?.objectType === ObjectType.SymmetricKey;
      if (fromKey && inputs.allData !== undefined) {
        throw new KmipError(ResultReason.InvalidField, 'HASH derives from the derivation key or from the derivation data, not both');
      }
      const input = fromKey ? needKey() : inputs.allData ?? missing('HASH needs a derivation key or Derivation Data');
      return hashDerive(prfHash(p, inputs.keyObject), input, length);
    }
    case DerivationMethod.HMAC:
      return hmacDerive(prfHash(p, inputs.keyObject), needKey(), needData(), length);
    case DerivationMethod.HKDF:
      return hkdf(prfHash(p, inputs.keyObject), needKey(), params.salt ?? Buffer.alloc(0), data, length);
    case DerivationMethod.ENCRYPT:
      return encryptDerive(inputs, params, needKey(), needData(), length);
    case DerivationMethod.NIST800_108_C:
      return kdfCounter(sp800108Prf(p, inputs.keyObject), needKey(), data, length);
    case DerivationMethod.NIST800_108_F:
      return kdfFeedback(sp800108Prf(p, inputs.keyObject), needKey(), params.iv ?? Buffer.alloc(0), data, length);
    case DerivationMethod.NIST800_108_DPI:
    case DerivationMethod.AsymmetricKey:
    case DerivationMethod.AWSSignatureVersion4:
      throw new KmipError(ResultReason.FeatureNotSupported, `Derivation Method 0x${method.toString(16)} is not supported by this server`);
    default:
      throw new KmipError(ResultReason.InvalidField, `unknown Derivation Method 0x${method.toString(16)}`);
  }
}

function missing(message: string): never {
  throw new KmipError(ResultReason.InvalidField, message);
}

/** Adds a Derived Key Link to a base object (s.6.1.10), retrying once on a concurrent update. */
async function linkBase(ctx: OperationContext, base: ManagedObject, derivedUid: string): Promise<void> {
  let current: ManagedObject | undefined = base;
  for (let attempt = 0; current !== undefined; attempt++) {
    current.attributes.push(link(LinkType.DerivedKeyLink, derivedUid));
    touch(current, ctx.now());
    try {
      await ctx.objects.save(current);
      return;
    } catch (e) {
      if (!(e instanceof StoreConflictError) || attempt >= 2) throw e;
      current = await ctx.objects.load(base.uid);
    }
  }
}

async function run(ctx: OperationContext, payload: Struct): Promise<Struct> {
  const objectType = required(optEnum(payload, Tag.ObjectType), Tag.ObjectType);
  if (objectType !== ObjectType.SymmetricKey && objectType !== ObjectType.SecretData) {
    throw new KmipError(ResultReason.InvalidObjectType, 'Derive Key makes Symmetric Keys and Secret Data only (s.6.1.10)');
  }
  const method = required(optEnum(payload, Tag.DerivationMethod), Tag.DerivationMethod);
  const params = readParameters(required(optStruct(payload, Tag.DerivationParameters), Tag.DerivationParameters));
  checkProtectionStorageMasks(payload);
  const attrs = clientAttributes(attributesOf(payload), 'create', objectType);

  // s.6.1.10: the client SHALL give the Cryptographic Length, and for a key also the Algorithm.
  const lengthBits = attrInt(attrs, Tag.CryptographicLength);
  if (lengthBits === undefined) throw new KmipError(ResultReason.InvalidField, 'Derive Key needs the Cryptographic Length of the object to derive');
  const algorithm = attrEnum(attrs, Tag.CryptographicAlgorithm);
  let bytes: number;
  if (objectType === ObjectType.SymmetricKey) {
    if (algorithm === undefined) throw new KmipError(ResultReason.InvalidField, 'deriving a Symmetric Key needs its Cryptographic Algorithm');
    bytes = withKmipErrors(() => symmetricKeyBytes(algorithm, lengthBits));
  } else {
    if (lengthBits <= 0 || lengthBits % 8 !== 0) throw new KmipError(ResultReason.InvalidField, 'the Cryptographic Length of Secret Data must be a positive multiple of 8');
    bytes = lengthBits / 8;
  }
  await assertNamesFree(ctx, attrs);

  const inputs = await loadInputs(ctx, payload, params);
  let material: Buffer;
  try {
    material = await derive(method, inputs, params, bytes);
  } catch (e) {
    if (e instanceof KdfError) throw new KmipError(ResultReason.InvalidField, e.message);
    throw e;
  }

  let value: Struct;
  const derived: TtlvItem[] = [integer(Tag.CryptographicLength, lengthBits)];
  if (objectType === ObjectType.SymmetricKey) {
    withKmipErrors(() => checkSymmetricMaterial(algorithm!, lengthBits, material));
    value = structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, byteString(Tag.KeyMaterial, material), algorithm, lengthBits)]);
    derived.push(enumeration(Tag.CryptographicAlgorithm, algorithm!));
  } else {
    value = structure(Tag.SecretData, [enumeration(Tag.SecretDataType, SecretDataType.Seed), keyBlock(KeyFormatType.Opaque, byteString(Tag.KeyMaterial, material))]);
  }
  const links = inputs.bases.map((b) => link(LinkType.DerivationBaseObjectLink, b.uid));
  const obj = await storeNewObject(ctx, {
    objectType, attributes: [...attrs, ...links], value, derived, generated: false,
    // Secret Data's Digest is over its Key Material as stored (new-object.ts digestOf).
    ...(objectType === ObjectType.SymmetricKey ? { parsed: { kind: 'symmetric' as const, bytes: material } } : {}),
  });
  material.fill(0);
  for (const b of inputs.bases) await linkBase(ctx, b, obj.uid);
  recordResult(ctx, Operation.DeriveKey, [obj.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, obj.uid)]);
}

export const deriveKey: OperationHandler = { operation: Operation.DeriveKey, name: 'DeriveKey', since: '1.0', run };
