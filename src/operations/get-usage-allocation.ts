// Get Usage Allocation (KMIP 2.1 s.6.1.22; 1.4 s.4.18): the client asks for an allocation of
// Usage Limits Units before it applies cryptographic protection with the object itself. The
// server takes the amount from the object's remaining Usage Limits Count and assumes it is
// all consumed. Request: Unique Identifier (ID Placeholder when omitted), Usage Limits Count
// (the units wanted). Response: Unique Identifier.
//
// Result Reasons, after 1.4 s.11.19 (Table 345) and their 2.x names:
//   no such object                                  Item Not Found       | Object Not Found (loadObject)
//   no Usage Limits / object cannot apply protection  Illegal Operation    | Attribute Not Found / Illegal Object Type
//   object not usable for protection now (state)    Illegal Operation    | Wrong Key Lifecycle State
//   no Usage Limits Count in the request            Invalid Message      | Invalid Message
//   requested amount not available                  Permission Denied    | Usage Limit Exceeded
// Illegal Operation is Reserved from 2.0 on, so the 2.x reasons are raised and the 1.x client
// gets the Table 345 reason.
import { ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, required, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { assertCanProtect } from '../policy/lifecycle.ts';
import { allocateUsage } from './common/usage-limits.ts';
import type { OperationContext } from './types.ts';
import { defineOperation, loadObject, resolveUid, uidResponse } from './uid.ts';

/**
 * Objects that can apply cryptographic protection (s.6.1.22: "symmetric keys for encryption,
 * private keys for signing, etc."): a public key encrypts or wraps, a split key is a part of
 * a key of these kinds. Certificates, Secret Data and Opaque Objects cannot.
 */
const PROTECTING_TYPES: readonly number[] = [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.PublicKey, ObjectType.SplitKey];

/** The 1.x reason of Table 345 for every "cannot be used for protection" case. */
function forVersion(ctx: OperationContext, e: KmipError): KmipError {
  if (ctx.version.major >= 2) return e;
  const cannotProtect = e.reason === ResultReason.WrongKeyLifecycleState || e.reason === ResultReason.AttributeNotFound || e.reason === ResultReason.IllegalObjectType;
  return cannotProtect ? new KmipError(ResultReason.IllegalOperation, e.message) : e;
}

/** The Usage Limits Count requested: REQUIRED (Table 345: missing → Invalid Message), positive. */
function requestedCount(payload: Struct): bigint {
  const item = required(child(payload, Tag.UsageLimitsCount), Tag.UsageLimitsCount, ResultReason.InvalidMessage);
  if (item.type !== 'LongInteger') throw new KmipError(ResultReason.InvalidField, `Usage Limits Count must be a Long Integer, got ${item.type}`);
  if (item.value <= 0n) throw new KmipError(ResultReason.InvalidField, `Usage Limits Count must be positive, got ${item.value}`);
  return item.value;
}

/** s.6.1.22: only while protection is enabled (Active, before the Protect Stop Date), and only for a protecting object. */
function assertCanAllocate(obj: ManagedObject, now: Date): void {
  if (!PROTECTING_TYPES.includes(obj.objectType)) {
    throw new KmipError(ResultReason.IllegalObjectType, 'only keys that can apply cryptographic protection have a usage allocation');
  }
  assertCanProtect(obj, now);
}

export const getUsageAllocation = defineOperation(Operation.GetUsageAllocation, 'GetUsageAllocation', '1.0', async (ctx, payload) => {
  try {
    const uid = resolveUid(ctx, payload);
    const count = requestedCount(payload);
    const obj = await loadObject(ctx, uid);
    const now = ctx.now();
    const after = await allocateUsage(ctx, obj, {
      amount: () => count,
      exceededReason: ResultReason.UsageLimitExceeded,
      check: (current) => assertCanAllocate(current, now),
    });
    if (after === undefined) {
      throw new KmipError(ResultReason.AttributeNotFound, 'the object has no Usage Limits attribute, so no usage can be allocated');
    }
    ctx.log.debug({ uid, allocated: count.toString(), remaining: after.remaining.toString() }, 'usage allocated');
    return uidResponse(uid);
  } catch (e) {
    throw e instanceof KmipError ? forVersion(ctx, e) : e;
  }
});
