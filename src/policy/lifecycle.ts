/**
 * The key lifecycle of KMIP 2.1 s.4.57 (State) and its transitions:
 *
 *   PreActive ──Activate / Activation Date reached──▶ Active
 *   PreActive ──Deactivation Date reached / Destroy──▶ Deactivated / Destroyed
 *   Active ──Revoke (not compromise) / Deactivation Date reached──▶ Deactivated
 *   PreActive, Active, Deactivated ──Revoke (Key/CA Compromise)──▶ Compromised
 *   PreActive, Deactivated ──Destroy──▶ Destroyed
 *   Compromised ──Destroy──▶ Destroyed Compromised
 *   Destroyed ──Revoke (compromise)──▶ Destroyed Compromised
 *
 * Dates drive transitions too: an object whose Activation Date has passed is Active, one
 * whose Deactivation Date has passed is Deactivated. `applyTimeTransitions` evaluates them
 * whenever an object is loaded, so that every check sees the state the spec implies.
 *
 * Reasons: 2.x answers a forbidden transition with Wrong Key Lifecycle State (the SKLC-M-2
 * and SKLC-M-3 2.1 vectors); 1.x has no such reason and the 1.4 vectors expect Permission
 * Denied. `reasonForVersion` (the table in kmip/adapters/reasons.ts) maps every 2.x-only
 * reason for a 1.x client.
 */
import { ResultReason, RevocationReasonCode, State } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { dateTime } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import type { ProtocolVersion } from '../kmip/version.ts';
import { resultReasonForVersion } from '../kmip/adapters/reasons.ts';
import { getAttr, setAttr } from './attributes.ts';

type LifecycleObject = Pick<ManagedObject, 'state' | 'attributes'>;

const seconds = (d: Date): bigint => BigInt(Math.floor(d.getTime() / 1000));

/** The Date Time value of a date attribute, or undefined. */
export function dateAttr(attrs: readonly TtlvItem[], tag: number): bigint | undefined {
  const a = getAttr(attrs, tag);
  return a !== undefined && a.type === 'DateTime' ? a.value : undefined;
}

/**
 * Applies the date-driven transitions (s.4.57: "Activation Date … the object SHALL be
 * Active", "Deactivation Date … Deactivated"). Mutates the object; returns true when the
 * state changed (the caller may persist it; LastChangeDate is not touched because no client
 * changed anything).
 */
export function applyTimeTransitions(obj: LifecycleObject, now: Date): boolean {
  const t = seconds(now);
  const before = obj.state;
  if (obj.state === State.PreActive) {
    const act = dateAttr(obj.attributes, Tag.ActivationDate);
    if (act !== undefined && act <= t) obj.state = State.Active;
  }
  if (obj.state === State.PreActive || obj.state === State.Active) {
    const deact = dateAttr(obj.attributes, Tag.DeactivationDate);
    if (deact !== undefined && deact <= t) obj.state = State.Deactivated;
  }
  return obj.state !== before;
}

/**
 * The state a new object starts in (s.6.1.8, s.6.1.43): Pre-Active, unless the client gave
 * an Activation Date (or Deactivation Date) already in the past.
 */
export function initialState(attrs: readonly TtlvItem[], now: Date): number {
  const o = { state: State.PreActive as number, attributes: [...attrs] };
  applyTimeTransitions(o, now);
  return o.state;
}

const stateName = (s: number): string =>
  Object.entries(State).find(([, v]) => v === s)?.[0] ?? `0x${s.toString(16)}`;

const wrongState = (what: string, s: number): never => {
  throw new KmipError(ResultReason.WrongKeyLifecycleState, `${what} is not allowed in state ${stateName(s)}`);
};

export const isDestroyed = (s: number): boolean => s === State.Destroyed || s === State.DestroyedCompromised;

/**
 * Archival storage (KMIP 2.1 s.6.1 Archive and Recover; 1.4 s.4 Archive and Recover): an
 * archived object carries the Archive Date the server set (s.4 Archive Date: "deleted
 * whenever a Recover operation is performed"), so that attribute is the storage status.
 * Its attributes stay readable; its key material is off-line until Recover.
 */
export const isArchived = (obj: Pick<ManagedObject, 'attributes'>): boolean => getAttr(obj.attributes, Tag.ArchiveDate) !== undefined;

/** Operations that need an object's key material answer Object Archived while it is archived (s.11.46). */
export function assertOnline(obj: LifecycleObject): void {
  if (isArchived(obj)) throw new KmipError(ResultReason.ObjectArchived, 'the object is archived; Recover it first');
}

/** s.6.1 Archive: sets the Archive Date; a destroyed object has nothing left to archive. */
export function archive(obj: LifecycleObject, now: Date): void {
  if (isDestroyed(obj.state)) throw new KmipError(ResultReason.ObjectDestroyed, 'the object is destroyed; there is nothing to archive');
  // Archiving an archived object again changes nothing: its Archive Date stays the first one.
  if (!isArchived(obj)) setAttr(obj.attributes, dateTime(Tag.ArchiveDate, now));
}

/** s.6.1 Recover: brings the object back on-line (its Archive Date is deleted). Returns true when it was archived. */
export function recover(obj: LifecycleObject): boolean {
  const i = obj.attributes.findIndex((a) => a.tag === Tag.ArchiveDate);
  if (i < 0) return false;
  obj.attributes.splice(i, 1);
  return true;
}

/** s.6.1.1: only a Pre-Active object can be activated. */
export function assertCanActivate(obj: LifecycleObject): void {
  if (obj.state !== State.PreActive) wrongState('Activate', obj.state);
}

/** s.6.1.1: Activate sets Active and the Activation Date (now). */
export function activate(obj: LifecycleObject, now: Date): void {
  assertCanActivate(obj);
  obj.state = State.Active;
  setAttr(obj.attributes, dateTime(Tag.ActivationDate, now));
}

/** s.6.1.15: Destroy only when Pre-Active, Deactivated or Compromised (not Active). */
export function assertCanDestroy(obj: LifecycleObject): void {
  if (isDestroyed(obj.state)) {
    throw new KmipError(ResultReason.ObjectDestroyed, 'the object is already destroyed');
  }
  if (obj.state === State.Active) wrongState('Destroy', obj.state);
}

/** s.6.1.15 / s.4.57: Destroyed, or Destroyed Compromised for a compromised object; Destroy Date set. */
export function destroy(obj: LifecycleObject, now: Date): void {
  assertCanDestroy(obj);
  obj.state = obj.state === State.Compromised ? State.DestroyedCompromised : State.Destroyed;
  setAttr(obj.attributes, dateTime(Tag.DestroyDate, now));
}

export const isCompromiseReason = (code: number): boolean =>
  code === RevocationReasonCode.KeyCompromise || code === RevocationReasonCode.CACompromise;

/**
 * s.6.1.44 Revoke. Key Compromise / CA Compromise: state Compromised (Destroyed Compromised
 * for a destroyed object), Compromise Date = now, Compromise Occurrence Date = the given one
 * or, absent, the Initial Date (s.4 Compromise Occurrence Date). Any other reason: an Active
 * object becomes Deactivated with Deactivation Date = now. The Revocation Reason attribute
 * records the reason.
 */
export function revoke(obj: LifecycleObject, reason: TtlvItem, now: Date, occurrence?: bigint): void {
  if (reason.type !== 'Structure') throw new KmipError(ResultReason.InvalidField, 'Revocation Reason must be a Structure');
  const codeItem = reason.value.find((c) => c.tag === Tag.RevocationReasonCode);
  if (codeItem === undefined || codeItem.type !== 'Enumeration') {
    throw new KmipError(ResultReason.InvalidField, 'Revocation Reason Code is required');
  }
  const code = codeItem.value;
  if (!Object.values(RevocationReasonCode).includes(code as never) && (code & 0xf0000000) !== 0x80000000) {
    throw new KmipError(ResultReason.InvalidField, `unknown Revocation Reason Code 0x${code.toString(16)}`);
  }
  if (isCompromiseReason(code)) {
    if (obj.state === State.Compromised || obj.state === State.DestroyedCompromised) wrongState('Revoke (compromise)', obj.state);
    obj.state = obj.state === State.Destroyed ? State.DestroyedCompromised : State.Compromised;
    setAttr(obj.attributes, dateTime(Tag.CompromiseDate, now));
    const occ = occurrence ?? dateAttr(obj.attributes, Tag.InitialDate) ?? seconds(now);
    setAttr(obj.attributes, dateTime(Tag.CompromiseOccurrenceDate, occ));
  } else {
    if (obj.state !== State.Active) wrongState('Revoke', obj.state);
    obj.state = State.Deactivated;
    setAttr(obj.attributes, dateTime(Tag.DeactivationDate, now));
  }
  setAttr(obj.attributes, reason);
}

/**
 * May the key protect new data (encrypt, sign, wrap, MAC)? s.4.57: only an Active object,
 * and not after its Protect Stop Date (s.4 Protect Stop Date).
 */
export function assertCanProtect(obj: LifecycleObject, now: Date): void {
  assertOnline(obj);
  if (obj.state !== State.Active) wrongState('Using the object to protect data', obj.state);
  const stop = dateAttr(obj.attributes, Tag.ProtectStopDate);
  if (stop !== undefined && seconds(now) >= stop) {
    throw new KmipError(ResultReason.WrongKeyLifecycleState, 'the Protect Stop Date has passed');
  }
}

/**
 * May the key process protected data (decrypt, verify, unwrap)? s.4.57: Active, or
 * Deactivated / Compromised (processing existing data stays possible, under the client's
 * policy), never Pre-Active or destroyed, and not before its Process Start Date.
 */
export function assertCanProcess(obj: LifecycleObject, now: Date): void {
  assertOnline(obj);
  if (obj.state === State.PreActive || isDestroyed(obj.state)) wrongState('Using the object to process data', obj.state);
  const start = dateAttr(obj.attributes, Tag.ProcessStartDate);
  if (start !== undefined && seconds(now) < start) {
    throw new KmipError(ResultReason.WrongKeyLifecycleState, 'the Process Start Date has not come yet');
  }
}

/** Get and other reads of the key material: destroyed objects have none (BL-M-8: Object Destroyed). */
export function assertHasValue(obj: LifecycleObject): void {
  if (isDestroyed(obj.state)) throw new KmipError(ResultReason.ObjectDestroyed, 'the object is destroyed; its key material is gone');
  assertOnline(obj);
}

// ---- reasons per version -----------------------------------------------------------------

/**
 * The reason a client of `version` gets for `reason`: 2.x-only reasons become the nearest
 * reason its version defines (Wrong Key Lifecycle State → Permission Denied for 1.x, as the
 * 1.4 vectors show), and the two 1.x reasons 2.0 removed are never sent to a 2.x client.
 * One table for the whole server: kmip/adapters/reasons.ts.
 */
export function reasonForVersion(reason: number, version: ProtocolVersion): number {
  return resultReasonForVersion(reason, version);
}

/** The reason for "no such object" (or another tenant's, DESIGN.md §3): Object Not Found from 2.0 (BL-M-4), Item Not Found before. */
export const objectNotFoundReason = (version: ProtocolVersion): number =>
  version.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound;
