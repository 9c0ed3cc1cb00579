// Create Split Key (KMIP 2.1 s.6.1 Create Split Key; 1.4 s.4 Create Split Key): the server splits a key — the one the
// Unique Identifier names, or a new symmetric key it generates from the Attributes — into
// Split Key Parts parts with the Split Key Method, any Split Key Threshold of which rebuild
// it (Join Split Key, s.6.1 Join Split Key), and registers every part as a Split Key object (s.2.2.5).
// The response lists the parts' Unique Identifiers in Key Part Identifier order.
//
// Choices: Object Type names what the request is about — Split Key (the objects created) or
// the type of the key split (Symmetric Key, Secret Data); other types are refused. Only key
// material the server holds as bytes (Raw symmetric keys, Secret Data) is split. Splitting
// hands the material out in parts, so a key that is not Extractable (s.4.18) is refused with
// Not Extractable; an archived or destroyed key with Object Archived / Object Destroyed.
// A Name would have to be given to every part, and names are unique: a Name is refused.
import { KeyFormatType, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, enumeration, integer, isStructure, optEnum, optInt, required, structure, textString, type Struct } from '../kmip/items.ts';
import { generateSymmetricKey } from '../crypto/keys.ts';
import { splitSecret, type SplitParams } from '../crypto/split-key.ts';
import { assertHasValue } from '../policy/lifecycle.ts';
import { getAttr } from '../policy/attributes.ts';
import { defineOperation, loadObject, recordResult, resolveUidReference } from './uid.ts';
import { assertNamesFree, attrBool, attrEnum, attrInt, attributesOf, checkProtectionStorageMasks, clientAttributes, keyBlockOf, storeNewObject, withKmipErrors } from './common/new-object.ts';
import { symmetricParameters } from './create.ts';
import { splitKeyValue, withSplitErrors } from './common/split-parts.ts';
import type { OperationContext } from './types.ts';

const SPLITTABLE: readonly number[] = [ObjectType.SplitKey, ObjectType.SymmetricKey, ObjectType.SecretData];

interface Secret { bytes: Buffer; algorithm?: number; length?: number; generated: boolean }

/** The bytes of the key named by the request (s.6.1 Create Split Key: "the key to be split"). */
async function existingSecret(ctx: OperationContext, uid: string, objectType: number): Promise<Secret> {
  const obj = await loadObject(ctx, uid);
  if (obj.objectType !== ObjectType.SymmetricKey && obj.objectType !== ObjectType.SecretData) {
    throw new KmipError(ResultReason.InvalidObjectType, `object ${uid} is not a Symmetric Key or Secret Data; only those are split`);
  }
  if (objectType !== ObjectType.SplitKey && objectType !== obj.objectType) {
    throw new KmipError(ResultReason.InvalidObjectType, `the Object Type of the request does not match object ${uid}`);
  }
  assertHasValue(obj);
  if (attrBool(obj.attributes, Tag.Extractable) === false) {
    throw new KmipError(ResultReason.NotExtractable, `object ${uid} is not Extractable; its material cannot be handed out in parts`);
  }
  const kb = keyBlockOf(obj.value);
  if (kb === undefined || child(kb, Tag.KeyWrappingData) !== undefined) {
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `object ${uid} is not held as plain key bytes`);
  }
  const fmt = optEnum(kb, Tag.KeyFormatType);
  const kv = child(kb, Tag.KeyValue);
  const km = isStructure(kv) ? child(kv, Tag.KeyMaterial) : undefined;
  if (km?.type !== 'ByteString' || (fmt !== KeyFormatType.Raw && fmt !== KeyFormatType.Opaque)) {
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `object ${uid} is not held as Raw key bytes`);
  }
  const algorithm = optEnum(kb, Tag.CryptographicAlgorithm) ?? attrEnum(obj.attributes, Tag.CryptographicAlgorithm);
  const length = optInt(kb, Tag.CryptographicLength) ?? attrInt(obj.attributes, Tag.CryptographicLength) ?? km.value.length * 8;
  return { bytes: Buffer.from(km.value), length, generated: false, ...(algorithm !== undefined ? { algorithm } : {}) };
}

async function run(ctx: OperationContext, payload: Struct): Promise<Struct> {
  const objectType = required(optEnum(payload, Tag.ObjectType), Tag.ObjectType);
  if (!SPLITTABLE.includes(objectType)) {
    throw new KmipError(ResultReason.InvalidObjectType, `Create Split Key makes Split Key objects from a Symmetric Key or Secret Data, not Object Type 0x${objectType.toString(16)}`);
  }
  checkProtectionStorageMasks(payload);
  const prime = child(payload, Tag.PrimeFieldSize);
  if (prime !== undefined && prime.type !== 'BigInteger') throw new KmipError(ResultReason.InvalidField, 'Prime Field Size must be a Big Integer');
  const params: SplitParams = {
    parts: required(optInt(payload, Tag.SplitKeyParts), Tag.SplitKeyParts),
    threshold: required(optInt(payload, Tag.SplitKeyThreshold), Tag.SplitKeyThreshold),
    method: required(optEnum(payload, Tag.SplitKeyMethod), Tag.SplitKeyMethod),
    ...(prime?.type === 'BigInteger' ? { prime: prime.value } : {}),
  };
  const attrs = clientAttributes(attributesOf(payload), 'create', ObjectType.SplitKey);
  // Every part receives the request's attributes, so a Name would be held by all of them:
  // refused while the tenant's Names are unique, shared by the parts when duplicates are
  // allowed (issue 13 §5).
  if (getAttr(attrs, Tag.Name) !== undefined) {
    if (ctx.names !== 'duplicates-allowed') {
      throw new KmipError(ResultReason.InvalidField, 'a Name would be given to every part, and names are unique: name the parts afterwards with Add Attribute');
    }
    await assertNamesFree(ctx, attrs);
  }

  const uidItem = child(payload, Tag.UniqueIdentifier);
  let secret: Secret;
  if (uidItem !== undefined) {
    const uids = resolveUidReference(ctx, uidItem);
    if (uids.length !== 1) throw new KmipError(ResultReason.InvalidField, 'the Unique Identifier must name one key to split');
    secret = await existingSecret(ctx, uids[0]!, objectType);
  } else {
    if (objectType === ObjectType.SecretData) throw new KmipError(ResultReason.InvalidField, 'Create Split Key generates symmetric keys only; register the Secret Data and name it');
    const { algorithm, length } = symmetricParameters(attrs);
    secret = { bytes: withKmipErrors(() => generateSymmetricKey(algorithm, length)), algorithm, length, generated: true };
  }
  try {
    const parts = withSplitErrors(() => splitSecret(secret.bytes, params));
    const uids: string[] = [];
    for (const part of parts) {
      // Each part gets the request's attributes and the algorithm/length of the whole key.
      const own: TtlvItem[] = [...attrs];
      const obj = await storeNewObject(ctx, {
        objectType: ObjectType.SplitKey,
        attributes: own,
        value: splitKeyValue(params, part.id, part.bytes, secret.algorithm, secret.length),
        derived: [
          ...(secret.algorithm !== undefined ? [enumeration(Tag.CryptographicAlgorithm, secret.algorithm)] : []),
          ...(secret.length !== undefined ? [integer(Tag.CryptographicLength, secret.length)] : []),
        ],
        generated: secret.generated,
      });
      part.bytes.fill(0);
      uids.push(obj.uid);
    }
    recordResult(ctx, Operation.CreateSplitKey, uids, { setPlaceholder: false });
    return structure(Tag.ResponsePayload, uids.map((u) => textString(Tag.UniqueIdentifier, u)));
  } finally {
    secret.bytes.fill(0);
  }
}

export const createSplitKey = defineOperation(Operation.CreateSplitKey, 'CreateSplitKey', '1.2', run);