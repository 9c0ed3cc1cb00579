// Import (KMIP 2.1 s.6.1.24, since 2.0): the counterpart of Export. The client supplies the
// Unique Identifier, Object Type, Attributes and object of an exported object and the server
// stores it under that identifier with those attributes — server-set ones included, since
// an import restores an object rather than creating one.
//
// Request: Unique Identifier (REQUIRED), Object Type (REQUIRED), Replace Existing (Boolean,
// absent = False), Key Wrap Type, Attributes (REQUIRED), the object. Response: the Unique
// Identifier.
import { KeyWrapType, ObjectType, Operation, ResultReason, State } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, dateTime, isStructure, optBool, optEnum, optStruct, optText, required, structure, textString, type Struct } from '../kmip/items.ts';
import { KeyMaterialError } from '../crypto/keys.ts';
import { checkSymmetricMaterial, parseKeyMaterial } from '../crypto/formats.ts';
import { StoreConflictError } from '../store/types.ts';
import { checkClientAttributes, getAttr, setAttr } from '../policy/attributes.ts';
import { initialState } from '../policy/lifecycle.ts';
import { OBJECT_TAG, assertNamesFree, keyBlockOf } from './common/new-object.ts';
import { assertKmip2, defineOperation, recordResult } from './uid.ts';
import { isWrappedValue, unwrapObjectValue } from './common/key-wrapping.ts';

const KEY_OBJECTS: readonly number[] = [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey];
const STATES: ReadonlySet<number> = new Set(Object.values(State));

/**
 * The object must be what the Object Type says, and key material that is not wrapped must
 * parse in its Key Format Type (as at Register). Formats the server does not parse are kept
 * as given for asymmetric keys, refused for symmetric keys (the server must be able to use those).
 */
function checkObject(objectType: number, value: Struct): void {
  const kb = keyBlockOf(value);
  if (kb === undefined) {
    if (KEY_OBJECTS.includes(objectType) || objectType === ObjectType.SecretData) {
      throw new KmipError(ResultReason.InvalidField, 'the object has no Key Block');
    }
    return;
  }
  // A key still wrapped here is stored as provided (Key Wrap Type absent or As Registered,
  // s.6.1.24); the server refuses cryptographic use of it until it is unwrapped.
  if (child(kb, Tag.KeyWrappingData) !== undefined) return;
  if (!KEY_OBJECTS.includes(objectType)) return;
  const format = required(optEnum(kb, Tag.KeyFormatType), Tag.KeyFormatType);
  const kv = child(kb, Tag.KeyValue);
  if (!isStructure(kv)) throw new KmipError(ResultReason.InvalidField, 'an unwrapped Key Value must be a Structure');
  const material = required(child(kv, Tag.KeyMaterial), Tag.KeyMaterial);
  const algorithm = optEnum(kb, Tag.CryptographicAlgorithm);
  const length = child(kb, Tag.CryptographicLength);
  try {
    const parsed = parseKeyMaterial(objectType, format, material, algorithm === undefined ? {} : { algorithm });
    // A symmetric key's bytes must fit its algorithm and stated length (as at Register).
    if (parsed.kind === 'symmetric' && algorithm !== undefined && length?.type === 'Integer') {
      checkSymmetricMaterial(algorithm, length.value, parsed.bytes);
    }
  } catch (e) {
    if (!(e instanceof KeyMaterialError)) throw e;
    if (e.reason === ResultReason.KeyFormatTypeNotSupported && objectType !== ObjectType.SymmetricKey) return;
    throw new KmipError(e.reason, e.message);
  }
}

export const importObject = defineOperation(Operation.Import, 'Import', '2.0', async (ctx, payload) => {
  assertKmip2(ctx, 'Import');
  const uid = required(optText(payload, Tag.UniqueIdentifier), Tag.UniqueIdentifier);
  if (uid.length === 0) throw new KmipError(ResultReason.InvalidField, 'Unique Identifier is empty');
  const objectType = required(optEnum(payload, Tag.ObjectType), Tag.ObjectType);
  const objectTag = OBJECT_TAG.get(objectType);
  if (objectTag === undefined) throw new KmipError(ResultReason.InvalidObjectType, `objects of type 0x${objectType.toString(16)} cannot be imported`);
  const replace = optBool(payload, Tag.ReplaceExisting) ?? false;
  const wrapType = optEnum(payload, Tag.KeyWrapType);
  if (wrapType !== undefined && wrapType !== KeyWrapType.NotWrapped && wrapType !== KeyWrapType.AsRegistered) {
    throw new KmipError(ResultReason.KeyWrapTypeNotSupported, `unknown Key Wrap Type 0x${wrapType.toString(16)}`);
  }
  const given = required(optStruct(payload, Tag.Attributes), Tag.Attributes);
  const supplied = optStruct(payload, objectTag);
  if (supplied === undefined) throw new KmipError(ResultReason.InvalidField, 'the request carries no object of the given Object Type');
  // s.6.1.24 Key Wrap Type Not Wrapped: "the server SHALL unwrap the object before storing
  // it, and return an error if the wrapping key is not available" (common/key-wrapping.ts:
  // the wrapping key must be a managed key allowing Unwrap Key).
  const value = wrapType === KeyWrapType.NotWrapped && isWrappedValue(supplied) ? await unwrapObjectValue(ctx, supplied) : supplied;
  checkObject(objectType, value);

  // Unique Identifier, Object Type and State live in their own fields; as attributes they
  // must agree with the request.
  checkClientAttributes(given.value, 'import', { objectType });
  const uidAttr = getAttr(given.value, Tag.UniqueIdentifier);
  if (uidAttr !== undefined && uidAttr.value !== uid) throw new KmipError(ResultReason.InvalidField, 'the Unique Identifier attribute differs from the request\'s');
  const typeAttr = getAttr(given.value, Tag.ObjectType);
  if (typeAttr !== undefined && typeAttr.value !== objectType) throw new KmipError(ResultReason.InvalidField, 'the Object Type attribute differs from the request\'s');
  const stateAttr = getAttr(given.value, Tag.State);
  if (stateAttr !== undefined && !STATES.has(stateAttr.value as number)) throw new KmipError(ResultReason.InvalidAttributeValue, 'unknown State');
  const attributes: TtlvItem[] = given.value.filter((a) => a.tag !== Tag.UniqueIdentifier && a.tag !== Tag.ObjectType && a.tag !== Tag.State);
  const now = ctx.now();
  // The dates every stored object has (s.4.22 Initial Date, s.4.28 Last Change Date), only
  // when the export did not carry them.
  if (getAttr(attributes, Tag.InitialDate) === undefined) attributes.push(dateTime(Tag.InitialDate, now));
  if (getAttr(attributes, Tag.LastChangeDate) === undefined) setAttr(attributes, dateTime(Tag.LastChangeDate, now));
  const state = stateAttr !== undefined ? (stateAttr.value as number) : initialState(attributes, now);
  const isDestroyedState = state === State.Destroyed || state === State.DestroyedCompromised;

  await assertNamesFree(ctx, attributes, [uid]);
  const existing = await ctx.objects.load(uid);
  if (existing !== undefined) {
    if (!replace) throw new KmipError(ResultReason.ObjectAlreadyExists, `an object with Unique Identifier ${uid} exists; set Replace Existing to replace it`);
    existing.objectType = objectType;
    existing.state = state;
    existing.attributes = attributes;
    if (isDestroyedState) delete existing.value;
    else existing.value = value;
    await ctx.objects.save(existing);
  } else {
    try {
      await ctx.objects.create({ uid, objectType, state, attributes, ...(isDestroyedState ? {} : { value }) });
    } catch (e) {
      // Unique Identifiers are scoped per tenant (store migration 6), so another tenant's
      // object never collides here and its existence stays hidden (DESIGN.md §3). What can
      // collide is an object of this tenant that the caller may not reach (another service
      // without a grant) or one a concurrent request stored since the load above: either
      // way it cannot be replaced from here.
      if (e instanceof StoreConflictError) throw new KmipError(ResultReason.ObjectAlreadyExists, `the Unique Identifier ${uid} is not available`);
      throw e;
    }
  }
  recordResult(ctx, Operation.Import, [uid], { setPlaceholder: false });
  return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, uid)]);
});
