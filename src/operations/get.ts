// Get (KMIP 2.1 s.6.1.19; 1.4 s.4.11): returns the object, optionally in another Key
// Format Type.
import { refuseServiceL3Extraction } from './common/service-l3.ts';
import { KeyCompressionType, KeyFormatType as KFT, KeyWrapType, ObjectType, Operation, ResultReason, WrappingMethod } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { boolean, child, enumeration, isStructure, optEnum, optStruct, structure, textString, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { StoreConflictError } from '../store/types.ts';
import { convertibleFormats, formatName, keyFacts, parseKeyMaterial, produceKeyMaterial } from '../crypto/formats.ts';
import { getAttr, setAttr } from '../policy/attributes.ts';
import { applyTimeTransitions, assertHasValue, objectNotFoundReason } from '../policy/lifecycle.ts';
import { resolveUid } from './uid.ts';
import { attrBool, keyBlockOf, withKmipErrors } from './common/new-object.ts';
import { isWrappedValue, unwrapObjectValue, wrapObjectValue } from './common/key-wrapping.ts';
import type { OperationContext, OperationHandler } from './types.ts';
import { assertVisibleObject } from './common/templates.ts';

/** Loads the object a request addresses, with the date-driven state applied; ObjectNotFound (ItemNotFound in 1.x) when absent. */
export async function loadObject(ctx: OperationContext, uid: string): Promise<ManagedObject> {
  const obj = await ctx.objects.load(uid);
  if (obj === undefined) throw new KmipError(objectNotFoundReason(ctx.version), `no object with Unique Identifier ${uid}`);
  applyTimeTransitions(obj, ctx.now());
  return obj;
}

const KEY_OBJECTS: readonly number[] = [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey];

/**
 * The object's value with its Key Block in `format`. Conversions go through the crypto
 * module; formats it cannot reach answer Key Format Type Not Supported (s.6.1.19.1).
 */
export function convertValue(objectType: number, value: Struct, format: number): Struct {
  const kb = keyBlockOf(value);
  if (kb === undefined) {
    // Certificates are DER X.509 already; other non-key objects have no key format.
    if (objectType === ObjectType.Certificate && format === KFT.X_509) return value;
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `objects of this type have no Key Format Type ${formatName(format)}`);
  }
  const current = optEnum(kb, Tag.KeyFormatType);
  if (current === format) return value;
  if (child(kb, Tag.KeyWrappingData) !== undefined) {
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, 'a key registered wrapped cannot be converted to another Key Format Type');
  }
  if (!KEY_OBJECTS.includes(objectType) || current === undefined) {
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `cannot convert this object to ${formatName(format)}`);
  }
  const kv = optStruct(kb, Tag.KeyValue);
  const material = kv === undefined ? undefined : child(kv, Tag.KeyMaterial);
  if (material === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, 'the object has no key material');
  const algorithm = optEnum(kb, Tag.CryptographicAlgorithm);
  const converted = withKmipErrors(() => {
    // A format the crypto module cannot parse (e.g. Transparent DSA) is kept as registered only.
    const parsed = parseKeyMaterial(objectType, current, material, algorithm === undefined ? {} : { algorithm });
    if (!convertibleFormats(objectType, keyFacts(parsed).family).includes(format)) {
      throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `this key cannot be returned as ${formatName(format)}`);
    }
    return produceKeyMaterial(parsed, format);
  });
  const newKv = structure(Tag.KeyValue, kv!.value.map((c) => (c.tag === Tag.KeyMaterial ? converted : c)));
  const newKb = structure(Tag.KeyBlock, kb.value.map((c): TtlvItem => {
    if (c.tag === Tag.KeyFormatType) return enumeration(Tag.KeyFormatType, format);
    if (c.tag === Tag.KeyValue) return newKv;
    return c;
  }));
  return structure(value.tag, value.value.map((c) => (c.tag === Tag.KeyBlock ? newKb : c)));
}

const isFresh = (o: ManagedObject): boolean => {
  const f = getAttr(o.attributes, Tag.Fresh);
  return f === undefined || f.type !== 'Boolean' || f.value;
};

/**
 * Sets Fresh = false (s.4.19); a concurrent writer wins the race, then we apply it to the newer
 * revision. The reply waits for the commit (every later request sees Fresh false) but not for
 * the WAL flush that makes it durable (a few ms, the same window as the audit record's, README
 * "Durability"): Fresh tells a client whether anyone was served the object; a crash inside
 * that window can leave it true although the caller got the key, which harms nothing the
 * caller relies on, while waiting put an fdatasync into every first Get (issue 12 §1).
 */
async function markServed(ctx: OperationContext, obj: ManagedObject): Promise<void> {
  let current: ManagedObject | undefined = obj;
  for (let attempt = 0; current !== undefined && isFresh(current); attempt++) {
    setAttr(current.attributes, boolean(Tag.Fresh, false));
    try {
      await ctx.objects.save(current, { waitForDisk: false });
      return;
    } catch (e) {
      if (!(e instanceof StoreConflictError) || attempt >= 2) throw e;
      current = await ctx.objects.load(current.uid);
    }
  }
}

async function run(ctx: OperationContext, payload: Struct): Promise<Struct> {
  const uid = resolveUid(ctx, payload);
  // A service's L3 (issue 11) is never extractable; Export runs this too.
  refuseServiceL3Extraction(ctx, uid);
  const format = optEnum(payload, Tag.KeyFormatType);
  const wrapType = optEnum(payload, Tag.KeyWrapType);
  const compression = optEnum(payload, Tag.KeyCompressionType);
  const wrapping = child(payload, Tag.KeyWrappingSpecification);

  const obj = await loadObject(ctx, uid);
  assertVisibleObject(ctx, obj); // a Template exists for 1.x clients only (1.4 s.2.2.6)
  // BL-M-8: Get of a destroyed object answers Object Destroyed (the executor maps it for 1.x).
  assertHasValue(obj);
  if (!isStructure(obj.value)) throw new KmipError(ResultReason.KeyValueNotPresent, 'the object has no value');

  if (wrapping !== undefined && !isStructure(wrapping)) throw new KmipError(ResultReason.InvalidField, 'Key Wrapping Specification must be a Structure');
  const kb = keyBlockOf(obj.value);
  const storedWrapped = isWrappedValue(obj.value);
  let value: Struct = obj.value;
  if (wrapType !== undefined) {
    if (wrapType !== KeyWrapType.NotWrapped && wrapType !== KeyWrapType.AsRegistered) {
      throw new KmipError(ResultReason.KeyWrapTypeNotSupported, `unknown Key Wrap Type 0x${wrapType.toString(16)}`);
    }
    // s.6.1.19 Key Wrap Type Not Wrapped: a key kept wrapped (Import As Registered) is
    // unwrapped by the server with the managed key that wrapped it (Unwrap Key required).
    if (wrapType === KeyWrapType.NotWrapped && storedWrapped) value = await unwrapObjectValue(ctx, value);
  }
  const clear = !isWrappedValue(value);
  // s.6.1.19: compression applies to EC public keys; the server keeps points uncompressed
  // and returns them so.
  if (compression !== undefined && compression !== KeyCompressionType.ECPublicKeyTypeUncompressed) {
    throw new KmipError(ResultReason.KeyCompressionTypeNotSupported, 'only uncompressed EC points are supported');
  }

  if (kb !== undefined) {
    // s.4.18 Extractable = False: the material does not leave the server, wrapped or not.
    if (attrBool(obj.attributes, Tag.Extractable) === false && (clear || wrapping !== undefined)) {
      throw new KmipError(ResultReason.NotExtractable, 'the object is not Extractable');
    }
    // s.4.52 Sensitive (2.x): the material may leave the server only wrapped by another key
    // (BL-M-12); a MAC/sign-only wrapping leaves it readable, so it does not count.
    const method = isStructure(wrapping) ? optEnum(wrapping, Tag.WrappingMethod) : undefined;
    const encrypted = method === WrappingMethod.Encrypt || method === WrappingMethod.EncryptThenMACSign;
    if (clear && !encrypted && attrBool(obj.attributes, Tag.Sensitive) === true) {
      throw new KmipError(ResultReason.Sensitive, 'the object is Sensitive: its key material can only be returned wrapped (Key Wrapping Specification with an encryption key)');
    }
  }

  if (format !== undefined) value = convertValue(obj.objectType, value, format);
  // s.2.1.6 / s.6.1.19: wrap with the managed key(s) the specification names.
  if (isStructure(wrapping)) value = await wrapObjectValue(ctx, obj, value, wrapping);

  // s.4.19 Fresh: false once the object has been served to a client.
  await markServed(ctx, obj);

  return structure(Tag.ResponsePayload, [
    enumeration(Tag.ObjectType, obj.objectType),
    textString(Tag.UniqueIdentifier, obj.uid),
    value,
  ]);
}

export const get: OperationHandler = { operation: Operation.Get, name: 'Get', since: '1.0', run };
