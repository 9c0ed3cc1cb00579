// Register (KMIP 2.1 s.6.1.43; 1.4 s.4.3): the client supplies the object. Key material
// the server understands is validated against its format and against the attributes;
// the object is kept exactly as registered, so Get without a Key Format Type returns what
// the client sent (BL-M-3). A wrapped key block is unwrapped on the server first
// (common/key-wrapping.ts).
import {
  CertificateType, CryptographicAlgorithm as Alg, DigitalSignatureAlgorithm as DSA, KeyFormatType as KFT, ObjectType,
  Operation, ResultReason,
} from '../ttlv/generated/enumerations.ts';
import { Tag, TAG_INFO } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import {
  byteString, child, enumeration, integer, isStructure, optBytes, optEnum, optStruct, required, structure, textString, type Struct,
} from '../kmip/items.ts';
import {
  algorithmMatches, algorithmOf, checkSymmetricMaterial, keyFacts, parseCertificate, parseKeyMaterial, type ParsedKey,
} from '../crypto/formats.ts';
import { KeyMaterialError } from '../crypto/keys.ts';
import { recordResult } from './uid.ts';
import { checkSplitParams } from '../crypto/split-key.ts';
import { parseCsr } from './common/x509.ts';
import { readSplitKeyValue, withSplitErrors } from './common/split-parts.ts';
import { isWrappedValue, unknownWrappingKeys, unwrapObjectValue } from './common/key-wrapping.ts';
import {
  OBJECT_TAG, assertNamesFree, attrEnum, attrInt, attributesOf, checkProtectionStorageMasks, clientAttributes,
  storeNewObject, withKmipErrors,
} from './common/new-object.ts';
import type { OperationContext, OperationHandler } from './types.ts';
import { applyTemplates, checkTemplateContent } from './common/templates.ts';

export interface Prepared {
  parsed?: ParsedKey;
  /** Attributes set from the object itself (replace any the client gave). */
  derived: TtlvItem[];
  /** Attributes added next to the client's (multi-instance, e.g. a Wrapping Key Link). */
  added?: TtlvItem[];
  /** The object to store when it differs from the one sent (a corrected Key Format Type). */
  value?: Struct;
}

/**
 * A private key labelled PKCS#8 whose bytes are a PKCS#1 RSAPrivateKey (RFC 8017 A.1.2)
 * instead of a PrivateKeyInfo (RFC 5208 §5): PyKMIP's test data does this, taken from a
 * KMIP 1.1 test document. The bytes are unambiguous (a PrivateKeyInfo starts with version 0
 * and an AlgorithmIdentifier SEQUENCE, an RSAPrivateKey with version 0 and the modulus
 * INTEGER), so the key is kept with the format it really has: the stored Key Block and the
 * Key Format Type attribute say PKCS#1, and Get returns the bytes as registered under that label.
 * Returns the corrected format, or undefined when the label is right or the bytes are neither.
 */
function mislabelledPkcs1(objectType: number, format: number, material: TtlvItem): number | undefined {
  if (objectType !== ObjectType.PrivateKey || format !== KFT.PKCS_8 || material.type !== 'ByteString') return undefined;
  try {
    parseKeyMaterial(objectType, KFT.PKCS_8, material);
    return undefined;
  } catch {
    try {
      parseKeyMaterial(objectType, KFT.PKCS_1, material);
      return KFT.PKCS_1;
    } catch {
      return undefined;
    }
  }
}

/** The key object with its Key Block's Key Format Type replaced. */
function withKeyFormat(value: Struct, format: number): Struct {
  return {
    ...value,
    value: value.value.map((c) => (c.tag === Tag.KeyBlock && c.type === 'Structure'
      ? { ...c, value: c.value.map((k) => (k.tag === Tag.KeyFormatType ? enumeration(Tag.KeyFormatType, format) : k)) }
      : c)),
  };
}

const KEY_TYPES: readonly number[] = [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey];

/** The one value two sources give for an attribute; InvalidField when they contradict each other. */
function agree(what: string, fromBlock: number | undefined, fromAttrs: number | undefined): number | undefined {
  if (fromBlock !== undefined && fromAttrs !== undefined && fromBlock !== fromAttrs) {
    throw new KmipError(ResultReason.InvalidField, `${what} of the Key Block (${fromBlock}) and of the Attributes (${fromAttrs}) differ`);
  }
  return fromBlock ?? fromAttrs;
}

/** Cryptographic Length of symmetric material whose length the client did not state. */
function symmetricLengthOf(alg: number, bytes: Buffer): number {
  // 3DES counts effective bits (see crypto/keys.ts): 24 bytes are 168 bits, 16 are 112.
  if (alg === Alg.DES3) return bytes.length === 24 ? 168 : bytes.length === 16 ? 112 : bytes.length * 8;
  return bytes.length * 8;
}

/**
 * Key objects: Key Block{Key Format Type, Key Value, Cryptographic Algorithm, Length}
 * (s.2.1.3). The material is parsed when its format is one the server converts; a format
 * it does not (Transparent DSA, Opaque) is stored as given with the client's attributes
 * (the BL-M-12/13 vectors register such keys and expect success).
 */
function prepareKey(objectType: number, given: Struct, attrs: TtlvItem[]): Prepared {
  let value = given;
  const kb = required(optStruct(value, Tag.KeyBlock), Tag.KeyBlock);
  let format = required(optEnum(kb, Tag.KeyFormatType), Tag.KeyFormatType);
  const algorithm = agree('Cryptographic Algorithm', optEnum(kb, Tag.CryptographicAlgorithm), attrEnum(attrs, Tag.CryptographicAlgorithm));
  const length = agree('Cryptographic Length', child(kb, Tag.CryptographicLength)?.type === 'Integer' ? (child(kb, Tag.CryptographicLength)!.value as number) : undefined, attrInt(attrs, Tag.CryptographicLength));
  const derived: TtlvItem[] = [];
  const setDerived = (alg: number | undefined, len: number | undefined) => {
    if (alg !== undefined) derived.push(enumeration(Tag.CryptographicAlgorithm, alg));
    if (len !== undefined) derived.push(integer(Tag.CryptographicLength, len));
  };

  const kv = child(kb, Tag.KeyValue);
  if (!isStructure(kv)) throw new KmipError(ResultReason.InvalidField, 'an unwrapped Key Value must be a Structure');
  const material = required(child(kv, Tag.KeyMaterial), Tag.KeyMaterial);
  const realFormat = mislabelledPkcs1(objectType, format, material);
  if (realFormat !== undefined) {
    format = realFormat;
    value = withKeyFormat(value, realFormat);
  }

  let parsed: ParsedKey;
  try {
    parsed = parseKeyMaterial(objectType, format, material, algorithm === undefined ? {} : { algorithm });
  } catch (e) {
    if (e instanceof KeyMaterialError && e.reason === ResultReason.KeyFormatTypeNotSupported) {
      if (objectType === ObjectType.SymmetricKey) throw new KmipError(e.reason, e.message);
      setDerived(algorithm, length);
      return { derived };
    }
    if (e instanceof KeyMaterialError) throw new KmipError(e.reason, e.message);
    throw e;
  }

  if (parsed.kind === 'symmetric') {
    if (algorithm === undefined) throw new KmipError(ResultReason.InvalidField, 'a Symmetric Key needs a Cryptographic Algorithm');
    const len = length ?? symmetricLengthOf(algorithm, parsed.bytes);
    withKmipErrors(() => checkSymmetricMaterial(algorithm, len, parsed.bytes));
    setDerived(algorithm, len);
  } else {
    const facts = withKmipErrors(() => keyFacts(parsed));
    if (algorithm !== undefined && !algorithmMatches(algorithm, facts)) {
      throw new KmipError(ResultReason.InvalidField, `the key material is a ${facts.family} key, not of Cryptographic Algorithm 0x${algorithm.toString(16)}`);
    }
    if (length !== undefined && length !== facts.length) {
      throw new KmipError(ResultReason.InvalidField, `Cryptographic Length ${length} does not match the key material (${facts.length})`);
    }
    setDerived(algorithm ?? algorithmOf(facts), facts.length);
    if (facts.curve !== undefined) derived.push(structure(Tag.CryptographicDomainParameters, [enumeration(Tag.RecommendedCurve, facts.curve)]));
  }
  return value === given ? { parsed, derived } : { parsed, derived, value };
}

/**
 * A key kept wrapped under a key the server does not hold: its material cannot be checked,
 * so the Key Block's own Cryptographic Algorithm and Length (s.2.1.3, sent in the clear
 * beside the wrapped Key Value) and the client's attributes describe it; they must agree.
 */
function prepareWrappedKey(value: Struct, attrs: TtlvItem[]): Prepared {
  const kb = required(optStruct(value, Tag.KeyBlock), Tag.KeyBlock);
  required(optEnum(kb, Tag.KeyFormatType), Tag.KeyFormatType);
  const kv = child(kb, Tag.KeyValue);
  if (kv === undefined) throw new KmipError(ResultReason.InvalidField, 'a wrapped Key Block needs its Key Value');
  const algorithm = agree('Cryptographic Algorithm', optEnum(kb, Tag.CryptographicAlgorithm), attrEnum(attrs, Tag.CryptographicAlgorithm));
  const lengthItem = child(kb, Tag.CryptographicLength);
  const length = agree('Cryptographic Length', lengthItem?.type === 'Integer' ? lengthItem.value : undefined, attrInt(attrs, Tag.CryptographicLength));
  const derived: TtlvItem[] = [];
  if (algorithm !== undefined) derived.push(enumeration(Tag.CryptographicAlgorithm, algorithm));
  if (length !== undefined) derived.push(integer(Tag.CryptographicLength, length));
  return { derived };
}

/** Secret Data{Secret Data Type, Key Block} (s.2.2.7): Raw or Opaque bytes. */
function prepareSecretData(value: Struct): Prepared {
  required(optEnum(value, Tag.SecretDataType), Tag.SecretDataType);
  const kb = required(optStruct(value, Tag.KeyBlock), Tag.KeyBlock);
  const format = required(optEnum(kb, Tag.KeyFormatType), Tag.KeyFormatType);
  if (child(kb, Tag.KeyWrappingData) === undefined) {
    if (format !== KFT.Raw && format !== KFT.Opaque) {
      throw new KmipError(ResultReason.KeyFormatTypeNotSupported, 'Secret Data is registered as Raw or Opaque bytes');
    }
    const kv = child(kb, Tag.KeyValue);
    const km = isStructure(kv) ? child(kv, Tag.KeyMaterial) : undefined;
    if (km?.type !== 'ByteString') throw new KmipError(ResultReason.InvalidField, 'Secret Data Key Material must be a Byte String');
  }
  return { derived: [] };
}

/** Opaque Object{Opaque Data Type, Opaque Data Value} (s.2.2.8). */
function prepareOpaque(value: Struct): Prepared {
  const type = required(optEnum(value, Tag.OpaqueDataType), Tag.OpaqueDataType);
  required(optBytes(value, Tag.OpaqueDataValue), Tag.OpaqueDataValue);
  return { derived: [enumeration(Tag.OpaqueDataType, type)] };
}

/** Signature algorithm OIDs (RFC 3279, 4055, 5758, 8017) → Digital Signature Algorithm (s.11.16). */
const SIGNATURE_OIDS: ReadonlyMap<string, number> = new Map([
  ['1.2.840.113549.1.1.2', DSA.MD2WithRSAEncryption], ['1.2.840.113549.1.1.4', DSA.MD5WithRSAEncryption],
  ['1.2.840.113549.1.1.5', DSA.SHA_1WithRSAEncryption], ['1.2.840.113549.1.1.14', DSA.SHA_224WithRSAEncryption],
  ['1.2.840.113549.1.1.11', DSA.SHA_256WithRSAEncryption], ['1.2.840.113549.1.1.12', DSA.SHA_384WithRSAEncryption],
  ['1.2.840.113549.1.1.13', DSA.SHA_512WithRSAEncryption], ['1.2.840.113549.1.1.10', DSA.RSASSA_PSS],
  ['1.2.840.10040.4.3', DSA.DSAWithSHA_1], ['2.16.840.1.101.3.4.3.1', DSA.DSAWithSHA224], ['2.16.840.1.101.3.4.3.2', DSA.DSAWithSHA256],
  ['1.2.840.10045.4.1', DSA.ECDSAWithSHA_1], ['1.2.840.10045.4.3.1', DSA.ECDSAWithSHA224], ['1.2.840.10045.4.3.2', DSA.ECDSAWithSHA256],
  ['1.2.840.10045.4.3.3', DSA.ECDSAWithSHA384], ['1.2.840.10045.4.3.4', DSA.ECDSAWithSHA512],
  ['2.16.840.1.101.3.4.3.14', DSA.SHA3_256WithRSAEncryption], ['2.16.840.1.101.3.4.3.15', DSA.SHA3_384WithRSAEncryption],
  ['2.16.840.1.101.3.4.3.16', DSA.SHA3_512WithRSAEncryption],
]);

/**
 * Certificate{Certificate Type, Certificate Value} (s.2.2.1). For X.509 the server sets
 * the Certificate attributes of s.4: Certificate Type, Certificate Length (BL-M-10: 1043
 * for its 1043-byte DER), Digital Signature Algorithm, X.509 Certificate Identifier /
 * Subject / Issuer, the Certificate Subject/Issuer name fields, and the public key's
 * Cryptographic Algorithm and Length.
 */
export function prepareCertificate(value: Struct, attrs: TtlvItem[]): Prepared {
  const type = required(optEnum(value, Tag.CertificateType), Tag.CertificateType);
  const der = required(optBytes(value, Tag.CertificateValue), Tag.CertificateValue);
  const claimed = attrEnum(attrs, Tag.CertificateType);
  if (claimed !== undefined && claimed !== type) throw new KmipError(ResultReason.InvalidField, 'the Certificate Type attribute contradicts the certificate');
  const derived: TtlvItem[] = [enumeration(Tag.CertificateType, type), integer(Tag.CertificateLength, der.length)];
  if (type !== CertificateType.X_509) return { derived };

  const info = withKmipErrors(() => parseCertificate(der));
  const sig = SIGNATURE_OIDS.get(info.signatureOid);
  if (sig !== undefined) derived.push(enumeration(Tag.DigitalSignatureAlgorithm, sig));
  derived.push(
    structure(Tag.X_509CertificateIdentifier, [byteString(Tag.IssuerDistinguishedName, info.issuerDer), byteString(Tag.CertificateSerialNumber, info.serialNumber)]),
    structure(Tag.X_509CertificateSubject, [byteString(Tag.SubjectDistinguishedName, info.subjectDer)]),
    structure(Tag.X_509CertificateIssuer, [byteString(Tag.IssuerDistinguishedName, info.issuerDer)]),
  );
  for (const [prefix, fields] of [['CertificateSubject', info.subject], ['CertificateIssuer', info.issuer]] as const) {
    for (const [short, values] of fields) {
      const tag = [...TAG_INFO.entries()].find(([, i]) => i.name === `${prefix}${short}`)?.[0];
      // Single-instance attributes: a name with two OUs keeps them both, comma-separated.
      if (tag !== undefined) derived.push(textString(tag, values.join(', ')));
    }
  }
  if (info.publicKey !== undefined) {
    const facts = withKmipErrors(() => keyFacts(info.publicKey!));
    const alg = algorithmOf(facts);
    if (alg !== undefined) derived.push(enumeration(Tag.CryptographicAlgorithm, alg));
    derived.push(integer(Tag.CryptographicLength, facts.length));
  }
  return { derived };
}

/**
 * Register of a Template object (1.4 s.4.3, s.2.2.6), 1.x only: the Template-Attribute names
 * the template (its Name) and the Template holds the attributes later creations inherit.
 * A Template has no key material; its value is the attribute list. 2.x has no Template
 * object type (Reserved, 2.1 s.11.29).
 */
async function registerTemplate(ctx: OperationContext, payload: Struct): Promise<Struct> {
  if (ctx.version.major >= 2) {
    throw new KmipError(ResultReason.InvalidObjectType, 'Template objects do not exist in KMIP 2.x (removed in 2.0)');
  }
  const value = optStruct(payload, Tag.Template);
  if (value === undefined) throw new KmipError(ResultReason.InvalidField, 'the request carries no Template object (1.4 s.4.3)');
  checkTemplateContent(value);
  const attrs = clientAttributes(attributesOf(payload), 'register', ObjectType.Template);
  await assertNamesFree(ctx, attrs);
  const obj = await storeNewObject(ctx, { objectType: ObjectType.Template, attributes: attrs, value, generated: false });
  recordResult(ctx, Operation.Register, [obj.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, obj.uid)]);
}

async function run(ctx: OperationContext, request: Struct): Promise<Struct> {
  // 1.4 s.2.1.8: attributes of the named Template objects, under the explicit ones.
  const payload = await applyTemplates(ctx, request);
  const objectType = required(optEnum(payload, Tag.ObjectType), Tag.ObjectType);
  if (objectType === ObjectType.Template) return registerTemplate(ctx, payload);
  const objectTag = OBJECT_TAG.get(objectType);
  if (objectTag === undefined) {
    throw new KmipError(ResultReason.InvalidObjectType, `objects of type 0x${objectType.toString(16)} cannot be registered`);
  }
  checkProtectionStorageMasks(payload);
  const given = optStruct(payload, objectTag);
  if (given === undefined) throw new KmipError(ResultReason.InvalidField, 'the request carries no object of the given Object Type');
  const attrs = clientAttributes(attributesOf(payload), 'register', objectType);
  // A wrapped Key Block (s.2.1.5) is unwrapped here with the managed key its Key Wrapping
  // Data names (Unwrap Key in its usage mask), so the server holds usable, checkable
  // material. When that key is not one the server holds (the client wrapped under its own
  // key), the object is kept as registered, as Import's Key Wrap Type As Registered keeps it
  // (s.6.1.24): Get returns it wrapped, the operations that need its plaintext refuse it.
  const keepWrapped = isWrappedValue(given) && (await unknownWrappingKeys(ctx, given)).length > 0;
  const value = isWrappedValue(given) && !keepWrapped ? await unwrapObjectValue(ctx, given) : given;

  let prepared: Prepared;
  if (keepWrapped && KEY_TYPES.includes(objectType)) prepared = prepareWrappedKey(value, attrs);
  else if (KEY_TYPES.includes(objectType)) prepared = prepareKey(objectType, value, attrs);
  else if (objectType === ObjectType.SecretData) prepared = prepareSecretData(value);
  else if (objectType === ObjectType.OpaqueObject) prepared = prepareOpaque(value);
  else if (objectType === ObjectType.Certificate) prepared = prepareCertificate(value, attrs);
  else if (objectType === ObjectType.CertificateRequest) {
    // 2.x Certificate Request object: kept for a later Certify; it must be a request whose
    // signature verifies (Invalid CSR otherwise).
    if (ctx.version.major < 2) throw new KmipError(ResultReason.InvalidObjectType, 'Certificate Request objects exist from KMIP 2.0');
    const type = required(optEnum(value, Tag.CertificateRequestType), Tag.CertificateRequestType);
    await parseCsr(type, required(optBytes(value, Tag.CertificateRequestValue), Tag.CertificateRequestValue));
    prepared = { derived: [] };
  } else if (objectType === ObjectType.SplitKey) {
    // s.2.2.5: the split fields must be complete and consistent, so that Join Split Key can use the part.
    const part = readSplitKeyValue(value, 'being registered');
    withSplitErrors(() => checkSplitParams(part.params, { registered: true }));
    if (part.id < 1 || part.id > part.params.parts) throw new KmipError(ResultReason.InvalidField, `Key Part Identifier ${part.id} is outside 1..${part.params.parts}`);
    prepared = { derived: [] };
  } else {
    // A PGP Key carries a Key Block the server stores without converting.
    required(optStruct(value, Tag.KeyBlock), Tag.KeyBlock);
    prepared = { derived: [] };
  }
  await assertNamesFree(ctx, attrs);

  const obj = await storeNewObject(ctx, {
    objectType, attributes: [...attrs, ...(prepared.added ?? [])], value: prepared.value ?? value, derived: prepared.derived, generated: false,
    ...(prepared.parsed !== undefined ? { parsed: prepared.parsed } : {}),
  });
  recordResult(ctx, Operation.Register, [obj.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, obj.uid)]);
}

export const register: OperationHandler = { operation: Operation.Register, name: 'Register', since: '1.0', run };
