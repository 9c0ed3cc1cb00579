/**
 * Resolving the Unique Identifier of a request payload, and recording the identifiers an
 * operation produced, for the per-request state of KMIP 2.1 s.6.1 (ID Placeholder) and
 * s.4.58 / s.11.58 (Unique Identifier as Enumeration or Integer).
 *
 * Contract between the operations and the batch executor (src/server/, another module):
 *
 * - The executor creates one BatchState per request message:
 *   `{ idPlaceholder: undefined, lastByOperation: new Map(), responseUids: [], itemIndex: 0 }`
 *   and sets `itemIndex` to the index of the batch item before running it.
 * - The EXECUTOR (not the operations) pushes `responseUids`: after every batch item,
 *   successful or not, it pushes exactly one entry, `uidsInResponse(responsePayload)` for a
 *   success and `[]` for a failure, so that `responseUids[i]` always belongs to item i.
 * - The OPERATIONS that produce objects (Create, CreateKeyPair, Register, ReKey,
 *   ReKeyKeyPair, DeriveKey, Certify, ReCertify, Locate…) call `recordResult`, which sets the
 *   ID Placeholder and `lastByOperation`. recordResult never touches `responseUids`.
 * - Operations that take a Unique Identifier call `resolveUid(ctx, payload)`.
 * - An Enumeration reference that names an operation which produced several identifiers
 *   (a Locate with several matches, a CreateKeyPair) means "repeat the operation for each"
 *   (s.11.58). That repetition is the executor's: before dispatching it may call
 *   `expandUidReferences(ctx, payload)` and run the handler once per returned payload.
 *   `resolveUid` on such a payload refuses with InvalidField rather than guess.
 */
import { ObjectType, Operation, ResultReason, UniqueIdentifier } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, dateTime, structure, textString, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { setAttr } from '../policy/attributes.ts';
import { applyTimeTransitions, objectNotFoundReason, reasonForVersion } from '../policy/lifecycle.ts';
import type { OperationContext, OperationHandler } from './types.ts';

/** Operations whose result is remembered under the UniqueIdentifier enumeration (s.11.58). */
const OPERATION_TO_REFERENCE: ReadonlyMap<number, number> = new Map([
  [Operation.Create, UniqueIdentifier.Create],
  [Operation.Register, UniqueIdentifier.Register],
  [Operation.Locate, UniqueIdentifier.Locate],
  [Operation.ReKey, UniqueIdentifier.ReKey],
  [Operation.DeriveKey, UniqueIdentifier.DeriveKey],
  [Operation.Certify, UniqueIdentifier.Certify],
  [Operation.ReCertify, UniqueIdentifier.ReCertify],
  [Operation.Import, UniqueIdentifier.Import],
  [Operation.CreateSplitKey, UniqueIdentifier.CreateSplitKey],
  [Operation.JoinSplitKey, UniqueIdentifier.JoinSplitKey],
  // key-pair operations are handled separately: [private, public]
]);

const REFERENCE_VALUES: ReadonlySet<number> = new Set(Object.values(UniqueIdentifier));

/** Every identifier a response payload returns, in payload order (for `responseUids`). */
export function uidsInResponse(payload: Struct | undefined): string[] {
  if (payload === undefined) return [];
  const out: string[] = [];
  for (const c of payload.value) {
    if (
      (c.tag === Tag.UniqueIdentifier ||
        c.tag === Tag.PrivateKeyUniqueIdentifier ||
        c.tag === Tag.PublicKeyUniqueIdentifier) &&
      c.type === 'TextString'
    ) {
      out.push(c.value);
    }
  }
  return out;
}

/** All identifiers an item reference stands for (usually one). */
export function resolveUidReference(ctx: OperationContext, item: TtlvItem | undefined): string[] {
  const batch = ctx.batch;
  if (item === undefined) {
    // s.6.1: an omitted Unique Identifier means the ID Placeholder. With nothing in it the
    // request lacks information the operation needs: Missing Data (1.4 s.11 general errors).
    if (batch.idPlaceholder === undefined) {
      throw new KmipError(ResultReason.MissingData, 'Unique Identifier omitted and the ID Placeholder is empty');
    }
    return [batch.idPlaceholder];
  }
  switch (item.type) {
    case 'TextString':
      if (item.value.length === 0) throw new KmipError(ResultReason.InvalidField, 'Unique Identifier is empty');
      return [item.value];
    case 'Enumeration': {
      // s.4.58 / s.11.58: the enumerated forms exist only from KMIP 2.0 on.
      if (ctx.version.major < 2) throw new KmipError(ResultReason.InvalidField, 'Unique Identifier must be a Text String before KMIP 2.0');
      if (!REFERENCE_VALUES.has(item.value)) {
        throw new KmipError(ResultReason.InvalidField, `unknown Unique Identifier enumeration 0x${item.value.toString(16)}`);
      }
      if (item.value === UniqueIdentifier.IDPlaceholder) return resolveUidReference(ctx, undefined);
      const uids = batch.lastByOperation.get(item.value);
      if (uids === undefined || uids.length === 0) {
        throw new KmipError(ResultReason.MissingData, 'Unique Identifier refers to an operation that produced no object earlier in this request');
      }
      return [...uids];
    }
    case 'Integer': {
      if (ctx.version.major < 2) throw new KmipError(ResultReason.InvalidField, 'Unique Identifier must be a Text String before KMIP 2.0');
      // s.4.58: zero-based n-th Unique Identifier of the response so far; negative values
      // count backwards from the current batch item (-1 = the last one returned before it).
      const flat = batch.responseUids.slice(0, batch.itemIndex).flat();
      const index = item.value >= 0 ? item.value : flat.length + item.value;
      const uid = flat[index];
      if (uid === undefined) {
        throw new KmipError(ResultReason.InvalidField, `Unique Identifier index ${item.value} does not name an identifier returned earlier in this request`);
      }
      return [uid];
    }
    default:
      throw new KmipError(ResultReason.InvalidField, `Unique Identifier must be a Text String, Enumeration or Integer, got ${item.type}`);
  }
}

/** The Unique Identifier the request payload addresses (s.6.1, s.4.58). */
export function resolveUid(ctx: OperationContext, payload: Struct): string {
  const uids = resolveUidReference(ctx, child(payload, Tag.UniqueIdentifier));
  if (uids.length !== 1) {
    throw new KmipError(ResultReason.InvalidField, `Unique Identifier reference stands for ${uids.length} objects; the batch must repeat the operation per object`);
  }
  return uids[0]!;
}

/**
 * One payload per object an Enumeration reference stands for (s.11.58: "the operation is
 * repeated for each"), each with the reference replaced by a Text String. A payload with a
 * plain Text String or no Unique Identifier comes back unchanged (one element).
 */
export function expandUidReferences(ctx: OperationContext, payload: Struct): Struct[] {
  const item = child(payload, Tag.UniqueIdentifier);
  if (item === undefined || item.type === 'TextString') return [payload];
  return resolveUidReference(ctx, item).map((uid) => ({
    ...payload,
    value: payload.value.map((c) => (c === item ? textString(Tag.UniqueIdentifier, uid) : c)),
  }));
}

export interface RecordOptions {
  /**
   * s.6.1: Create, CreateKeyPair, Register, ReKey, ReKeyKeyPair, DeriveKey, Certify,
   * ReCertify, Recover set the ID Placeholder; Locate sets it when exactly one object matched
   * and clears it otherwise (so that dependent items fail instead of using a stale value).
   */
  setPlaceholder: boolean;
}

/**
 * Records what an operation produced. `operation` is the Operation enumeration value
 * (s.11.36). For CreateKeyPair and ReKeyKeyPair pass `[privateKeyUid, publicKeyUid]`: the
 * private key goes into the ID Placeholder (s.6.1.9) and both halves are remembered under
 * their own UniqueIdentifier enumeration values.
 */
export function recordResult(ctx: OperationContext, operation: number, uids: string[], opts: RecordOptions): void {
  const batch = ctx.batch;
  let placeholder: string | undefined = uids.length === 1 ? uids[0] : undefined;
  if (operation === Operation.CreateKeyPair || operation === Operation.ReKeyKeyPair) {
    const [priv, pub] = uids;
    if (priv === undefined || pub === undefined || uids.length !== 2) {
      throw new Error('recordResult: a key-pair operation records [privateKeyUid, publicKeyUid]');
    }
    const pair = operation === Operation.CreateKeyPair
      ? [UniqueIdentifier.CreateKeyPair, UniqueIdentifier.CreateKeyPairPrivateKey, UniqueIdentifier.CreateKeyPairPublicKey]
      : [UniqueIdentifier.ReKeyKeyPair, UniqueIdentifier.ReKeyKeyPairPrivateKey, UniqueIdentifier.ReKeyKeyPairPublicKey];
    batch.lastByOperation.set(pair[0]!, [priv, pub]);
    batch.lastByOperation.set(pair[1]!, [priv]);
    batch.lastByOperation.set(pair[2]!, [pub]);
    placeholder = priv;
  } else {
    const key = OPERATION_TO_REFERENCE.get(operation);
    if (key !== undefined) batch.lastByOperation.set(key, [...uids]);
  }
  if (opts.setPlaceholder) batch.idPlaceholder = placeholder;
}

// ---- helpers shared by the operation handlers ---------------------------------------------

/**
 * Loads the object the operation addresses, or fails with Object Not Found (2.x; Item Not
 * Found in 1.x) — for a missing object and for another tenant's alike (DESIGN.md §3). The
 * date-driven lifecycle transitions (s.4.57) are applied and persisted here, so every
 * operation sees the state the dates imply.
 */
export async function loadObject(ctx: OperationContext, uid: string): Promise<ManagedObject> {
  const obj = await ctx.objects.load(uid);
  // A 1.x Template object does not exist for a 2.x client (the type was removed in 2.0):
  // it answers exactly as a missing object, whatever the operation.
  if (obj === undefined || (obj.objectType === ObjectType.Template && ctx.version.major >= 2)) {
    throw new KmipError(objectNotFoundReason(ctx.version), `object ${uid} not found`);
  }
  if (applyTimeTransitions(obj, ctx.now())) await ctx.objects.save(obj);
  return obj;
}

/** Every change of an object's attributes or state sets its Last Change Date (s.4 Last Change Date). */
export function touch(obj: Pick<ManagedObject, 'attributes'>, now: Date): void {
  setAttr(obj.attributes, dateTime(Tag.LastChangeDate, now));
}

/** The response payload most operations return: just the Unique Identifier. */
export const uidResponse = (uid: string, ...more: TtlvItem[]): Struct =>
  structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, uid), ...more]);

/**
 * Refuses a KMIP 2.x operation sent under a 1.x header: the 1.x Operation enumeration has no
 * value for it, so a 1.x client cannot have meant it (Operation Not Supported, 1.4 s.11).
 * The executor deliberately runs older-version requests of newer 1.x operations (Discover
 * Versions as a ping from 1.0 clients); this is for the 2.0 operations only.
 */
export function assertKmip2(ctx: OperationContext, name: string): void {
  if (ctx.version.major < 2) throw new KmipError(ResultReason.OperationNotSupported, `${name} is a KMIP 2.0 operation`);
}

/**
 * Builds a handler whose failures carry a reason the request's version defines (2.x-only
 * reasons become their 1.x equivalents, policy/lifecycle.ts reasonForVersion).
 */
export function defineOperation(
  operation: number,
  name: string,
  since: string,
  run: (ctx: OperationContext, payload: Struct) => Promise<Struct>,
): OperationHandler {
  return {
    operation,
    name,
    since,
    async run(ctx, payload) {
      try {
        return await run(ctx, payload);
      } catch (e) {
        if (e instanceof KmipError) {
          const reason = reasonForVersion(e.reason, ctx.version);
          if (reason !== e.reason) throw new KmipError(reason, e.message);
        }
        throw e;
      }
    },
  };
}
