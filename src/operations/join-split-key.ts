// Join Split Key (KMIP 2.1 s.6.1 Join Split Key; 1.4 s.4 Join Split Key): the server rebuilds a key from Split Key
// objects (s.2.2.5) and registers it as a new object of the requested Object Type (Symmetric
// Key, or Secret Data of the given Secret Data Type). The parts must come from one split
// (same Split Key Parts, Threshold, Method and Prime Field Size, distinct Key Part
// Identifiers) and be at least Split Key Threshold many; fewer is Missing Data (the request
// lacks what the operation needs). The new key's Cryptographic Algorithm and Length are the
// ones the parts record, unless the request's Attributes say otherwise.
import { KeyFormatType, ObjectType, Operation, ResultReason, SecretDataType } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, children, enumeration, integer, optEnum, required, structure, textString, type Struct } from '../kmip/items.ts';
import { checkSymmetricMaterial } from '../crypto/formats.ts';
import { joinParts, type SplitParams } from '../crypto/split-key.ts';
import { assertHasValue } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, recordResult, resolveUidReference } from './uid.ts';
import {
  assertNamesFree, attrEnum, attrInt, attributesOf, checkProtectionStorageMasks, clientAttributes, keyBlock, storeNewObject, withKmipErrors,
} from './common/new-object.ts';
import { readSplitKeyValue, withSplitErrors, type SplitPartValue } from './common/split-parts.ts';
import type { OperationContext } from './types.ts';

const sameParams = (a: SplitParams, b: SplitParams): boolean =>
  a.parts === b.parts && a.threshold === b.threshold && a.method === b.method && a.prime === b.prime;

async function run(ctx: OperationContext, payload: Struct): Promise<Struct> {
  const objectType = required(optEnum(payload, Tag.ObjectType), Tag.ObjectType);
  if (objectType !== ObjectType.SymmetricKey && objectType !== ObjectType.SecretData) {
    throw new KmipError(ResultReason.InvalidObjectType, `Join Split Key makes a Symmetric Key or Secret Data, not Object Type 0x${objectType.toString(16)}`);
  }
  checkProtectionStorageMasks(payload);
  const refs = children(payload, Tag.UniqueIdentifier);
  if (refs.length === 0) throw new KmipError(ResultReason.InvalidField, 'Join Split Key needs the Unique Identifiers of the parts');
  const uids = refs.flatMap((r) => resolveUidReference(ctx, r));
  if (new Set(uids).size !== uids.length) throw new KmipError(ResultReason.InvalidField, 'a part is named twice');

  const parts: SplitPartValue[] = [];
  for (const uid of uids) {
    const obj = await loadObject(ctx, uid);
    if (obj.objectType !== ObjectType.SplitKey) throw new KmipError(ResultReason.InvalidObjectType, `object ${uid} is not a Split Key`);
    assertHasValue(obj);
    parts.push(readSplitKeyValue(obj.value, uid));
  }
  const params = parts[0]!.params;
  if (parts.some((p) => !sameParams(p.params, params))) {
    throw new KmipError(ResultReason.InvalidField, 'the parts do not come from one split (Split Key Parts, Threshold, Method or Prime Field Size differ)');
  }
  if (parts.length < params.threshold) {
    throw new KmipError(ResultReason.MissingData, `${parts.length} part(s) given; the Split Key Threshold is ${params.threshold}`);
  }

  const attrs = clientAttributes(attributesOf(payload), 'create', objectType);
  const algorithm = attrEnum(attrs, Tag.CryptographicAlgorithm) ?? parts[0]!.algorithm;
  const length = attrInt(attrs, Tag.CryptographicLength) ?? parts[0]!.length;
  const secretBytes = params.prime !== undefined && length !== undefined ? Math.ceil(length / 8) : undefined;
  const secret = withSplitErrors(() => joinParts(parts.map((p) => ({ id: p.id, bytes: p.bytes })), params, secretBytes));
  try {
    await assertNamesFree(ctx, attrs);
    let value: Struct;
    const derived = [];
    if (objectType === ObjectType.SymmetricKey) {
      if (algorithm === undefined) throw new KmipError(ResultReason.InvalidField, 'the parts record no Cryptographic Algorithm; give one in the Attributes');
      const len = length ?? secret.length * 8;
      withKmipErrors(() => checkSymmetricMaterial(algorithm, len, secret));
      value = structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, byteString(Tag.KeyMaterial, secret), algorithm, len)]);
      derived.push(enumeration(Tag.CryptographicAlgorithm, algorithm), integer(Tag.CryptographicLength, len));
    } else {
      const sdt = optEnum(payload, Tag.SecretDataType);
      if (sdt === undefined) throw new KmipError(ResultReason.InvalidField, 'Join Split Key of Secret Data needs a Secret Data Type');
      if (!Object.values(SecretDataType).includes(sdt as never)) throw new KmipError(ResultReason.InvalidField, `unknown Secret Data Type 0x${sdt.toString(16)}`);
      value = structure(Tag.SecretData, [enumeration(Tag.SecretDataType, sdt), keyBlock(KeyFormatType.Opaque, byteString(Tag.KeyMaterial, secret))]);
    }
    const obj = await storeNewObject(ctx, {
      objectType, attributes: attrs, value, derived, generated: false,
      ...(objectType === ObjectType.SymmetricKey ? { parsed: { kind: 'symmetric' as const, bytes: secret } } : {}),
    });
    recordResult(ctx, Operation.JoinSplitKey, [obj.uid], { setPlaceholder: true });
    return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, obj.uid)]);
  } finally {
    secret.fill(0);
  }
}

export const joinSplitKey = defineOperation(Operation.JoinSplitKey, 'JoinSplitKey', '1.2', run);
