// Obtain Lease (KMIP 2.1 s.6.1.33; 1.4 s.4.10): the client asks for a (new) lease on an
// object before using a cached copy. Response: Unique Identifier, Lease Time (how long the
// client may use the object before asking again), Last Change Date (so the client sees
// whether its cached attributes are stale).
import { Operation, ResultReason, State } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { interval } from '../kmip/items.ts';
import { getAttr } from '../policy/attributes.ts';
import { DEFAULT_LEASE_TIME_SECONDS } from './common/new-object.ts';
import { defineOperation, loadObject, resolveUid, uidResponse } from './uid.ts';

/**
 * States in which an object may be used at all (s.4.57): Active objects protect and
 * process, Deactivated ones still process existing data. A Pre-Active, Compromised or
 * destroyed object gets no lease (1.4 s.11.10: "a new lease is not permitted" → Permission
 * Denied; 2.x: Wrong Key Lifecycle State, mapped for 1.x by reasons.ts).
 */
const LEASABLE: readonly number[] = [State.Active, State.Deactivated];

export const obtainLease = defineOperation(Operation.ObtainLease, 'ObtainLease', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const obj = await loadObject(ctx, uid);
  if (!LEASABLE.includes(obj.state)) {
    throw new KmipError(ResultReason.WrongKeyLifecycleState, 'a lease is only granted for an Active or Deactivated object');
  }
  // The object's own Lease Time (s.4.29, set at creation); objects created without one get
  // the server's default lease.
  const lease = getAttr(obj.attributes, Tag.LeaseTime);
  const leaseTime = lease?.type === 'Interval' ? lease.value : DEFAULT_LEASE_TIME_SECONDS;
  // Last Change Date is REQUIRED in the response; an object never changed since its
  // creation has its Initial Date as the last change.
  const changed = getAttr(obj.attributes, Tag.LastChangeDate) ?? getAttr(obj.attributes, Tag.InitialDate);
  if (changed === undefined || changed.type !== 'DateTime') {
    throw new Error(`object ${uid} has neither Last Change Date nor Initial Date`);
  }
  return uidResponse(uid, interval(Tag.LeaseTime, leaseTime), { ...changed, tag: Tag.LastChangeDate });
});
