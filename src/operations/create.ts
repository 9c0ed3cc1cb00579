// Create (KMIP 2.1 s.6.1.8; 1.4 s.4.1): the server generates a symmetric key.
import { CryptographicAlgorithm as Alg, KeyFormatType, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, enumeration, integer, optEnum, required, structure, textString, type Struct } from '../kmip/items.ts';
import { defaultSymmetricLength, generateSymmetricKey, isSymmetricAlgorithm } from '../crypto/keys.ts';
import { recordResult } from './uid.ts';
import {
  assertNamesFree, assertQuantumSafeIfAsked, attrEnum, attrInt, attributesOf, checkProtectionStorageMasks, clientAttributes, keyBlock,
  storeNewObject, withKmipErrors,
} from './common/new-object.ts';
import type { OperationContext, OperationHandler } from './types.ts';
import { applyTemplates } from './common/templates.ts';

/**
 * Algorithm and length of the key to generate. s.6.1.8 makes Cryptographic Algorithm and
 * Length mandatory attributes of a key, and the s.4 intro lets the server supply defaults
 * for missing ones: AES when no algorithm is given, the algorithm's default length (AES-256)
 * when no length is.
 */
export function symmetricParameters(attrs: readonly TtlvItem[]): { algorithm: number; length: number } {
  const algorithm = attrEnum(attrs, Tag.CryptographicAlgorithm) ?? Alg.AES;
  if (!isSymmetricAlgorithm(algorithm)) {
    throw new KmipError(ResultReason.InvalidField, `Create cannot make a Symmetric Key with Cryptographic Algorithm 0x${algorithm.toString(16)}`);
  }
  const length = attrInt(attrs, Tag.CryptographicLength) ?? withKmipErrors(() => defaultSymmetricLength(algorithm));
  return { algorithm, length };
}

async function run(ctx: OperationContext, request: Struct): Promise<Struct> {
  // 1.4 s.2.1.8: attributes of the named Template objects, under the explicit ones.
  const payload = await applyTemplates(ctx, request);
  const objectType = required(optEnum(payload, Tag.ObjectType), Tag.ObjectType);
  // s.6.1.8: Create makes symmetric keys (and, in 2.x, nothing else this server generates);
  // key pairs have their own operation, secret data and certificates are registered.
  if (objectType !== ObjectType.SymmetricKey) {
    throw new KmipError(ResultReason.InvalidObjectType, `Create supports Object Type Symmetric Key only, not 0x${objectType.toString(16)}`);
  }
  checkProtectionStorageMasks(payload);
  const attrs = clientAttributes(attributesOf(payload), 'create', objectType);
  const { algorithm, length } = symmetricParameters(attrs);
  assertQuantumSafeIfAsked(attrs, algorithm, length);
  await assertNamesFree(ctx, attrs);

  const material = withKmipErrors(() => generateSymmetricKey(algorithm, length));
  const value = structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, byteString(Tag.KeyMaterial, material), algorithm, length)]);
  const derived = [enumeration(Tag.CryptographicAlgorithm, algorithm), integer(Tag.CryptographicLength, length)];
  const obj = await storeNewObject(ctx, {
    objectType, attributes: attrs, value, derived, generated: true,
    parsed: { kind: 'symmetric', bytes: material },
  });
  // The object is stored (wrapped) by now: drop this plaintext copy rather than leave it to the GC.
  material.fill(0);
  recordResult(ctx, Operation.Create, [obj.uid], { setPlaceholder: true });
  // 2.x response: Object Type and Unique Identifier only (1.x adapters may add a Template-Attribute).
  return structure(Tag.ResponsePayload, [enumeration(Tag.ObjectType, objectType), textString(Tag.UniqueIdentifier, obj.uid)]);
}

export const create: OperationHandler = { operation: Operation.Create, name: 'Create', since: '1.0', run };
