// Check (KMIP 2.1 s.6.1.6; 1.4 s.4.10): would the object allow this use? Nothing changes.
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, optInt, type Struct } from '../kmip/items.ts';
import { getAttr } from '../policy/attributes.ts';
import { defineOperation, loadObject, resolveUid, uidResponse } from './uid.ts';

function optLong(s: Struct, tag: number): bigint | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  if (c.type === 'LongInteger') return c.value;
  // 1.x clients send Usage Limits Count as Long Integer too; accept a plain Integer as well.
  if (c.type === 'Integer') return BigInt(c.value);
  throw new KmipError(ResultReason.InvalidField, 'Usage Limits Count must be a Long Integer');
}

function optInterval(s: Struct, tag: number): number | undefined {
  const c = child(s, tag);
  if (c === undefined) return undefined;
  if (c.type !== 'Interval') throw new KmipError(ResultReason.InvalidField, 'Lease Time must be an Interval');
  return c.value;
}

export const check = defineOperation(Operation.Check, 'Check', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const wantCount = optLong(payload, Tag.UsageLimitsCount);
  const wantMask = optInt(payload, Tag.CryptographicUsageMask);
  const wantLease = optInterval(payload, Tag.LeaseTime);
  const obj = await loadObject(ctx, uid);

  if (wantMask !== undefined) {
    const mask = getAttr(obj.attributes, Tag.CryptographicUsageMask);
    const have = mask !== undefined && mask.type === 'Integer' ? mask.value : 0;
    // s.6.1.6: every requested usage must be allowed by the object's mask.
    if ((have & wantMask) !== wantMask) {
      throw new KmipError(ResultReason.IncompatibleCryptographicUsageMask, 'the object does not allow the requested cryptographic usage');
    }
  }
  if (wantCount !== undefined) {
    const limits = getAttr(obj.attributes, Tag.UsageLimits);
    if (limits !== undefined && limits.type === 'Structure') {
      const remaining = limits.value.find((c) => c.tag === Tag.UsageLimitsCount);
      if (remaining !== undefined && remaining.type === 'LongInteger' && remaining.value < wantCount) {
        throw new KmipError(ResultReason.UsageLimitExceeded, 'the object\'s remaining usage limit is lower than requested');
      }
    }
  }
  if (wantLease !== undefined) {
    const lease = getAttr(obj.attributes, Tag.LeaseTime);
    if (lease !== undefined && lease.type === 'Interval' && lease.value < wantLease) {
      throw new KmipError(ResultReason.PermissionDenied, `the server grants a lease of at most ${lease.value} s`);
    }
  }
  return uidResponse(uid);
});
