import { describe, expect, it } from 'vitest';
import { ResultReason, RevocationReasonCode, State } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { resultReasonForVersion } from '../../src/kmip/adapters/reasons.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { dateTime, enumeration, structure } from '../../src/kmip/items.ts';
import { getAttr } from '../../src/policy/attributes.ts';
import {
  activate, applyTimeTransitions, assertCanProcess, assertCanProtect, dateAttr, destroy, initialState, objectNotFoundReason,
  reasonForVersion, revoke,
} from '../../src/policy/lifecycle.ts';

const NOW = new Date('2024-01-01T00:00:00Z');
const T = BigInt(NOW.getTime() / 1000);
const obj = (state: number, attributes: TtlvItem[] = []) => ({ state, attributes });
const reason = (code: number) => structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, code)]);

function reasonOf(f: () => void): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
  return undefined;
}

describe('lifecycle', () => {
  it('Activate: only from Pre-Active, sets the Activation Date', () => {
    const o = obj(State.PreActive);
    activate(o, NOW);
    expect(o.state).toBe(State.Active);
    expect(dateAttr(o.attributes, Tag.ActivationDate)).toBe(T);
    expect(reasonOf(() => activate(o, NOW))).toBe(ResultReason.WrongKeyLifecycleState);
  });
  it('date-driven transitions', () => {
    const o = obj(State.PreActive, [dateTime(Tag.ActivationDate, T - 1n)]);
    expect(applyTimeTransitions(o, NOW)).toBe(true);
    expect(o.state).toBe(State.Active);
    const future = obj(State.PreActive, [dateTime(Tag.ActivationDate, T + 100n)]);
    expect(applyTimeTransitions(future, NOW)).toBe(false);
    expect(future.state).toBe(State.PreActive);
    const d = obj(State.Active, [dateTime(Tag.DeactivationDate, T)]);
    applyTimeTransitions(d, NOW);
    expect(d.state).toBe(State.Deactivated);
    const c = obj(State.Compromised, [dateTime(Tag.DeactivationDate, T - 5n)]);
    expect(applyTimeTransitions(c, NOW)).toBe(false);
    expect(initialState([dateTime(Tag.ActivationDate, T - 5n)], NOW)).toBe(State.Active);
    expect(initialState([], NOW)).toBe(State.PreActive);
  });
  it('Destroy: not while Active; Compromised becomes Destroyed Compromised', () => {
    expect(reasonOf(() => destroy(obj(State.Active), NOW))).toBe(ResultReason.WrongKeyLifecycleState);
    const p = obj(State.PreActive);
    destroy(p, NOW);
    expect(p.state).toBe(State.Destroyed);
    expect(dateAttr(p.attributes, Tag.DestroyDate)).toBe(T);
    const c = obj(State.Compromised);
    destroy(c, NOW);
    expect(c.state).toBe(State.DestroyedCompromised);
    expect(reasonOf(() => destroy(c, NOW))).toBe(ResultReason.ObjectDestroyed);
  });
  it('Revoke: compromise vs. other reasons', () => {
    const a = obj(State.Active, [dateTime(Tag.InitialDate, 42n)]);
    revoke(a, reason(RevocationReasonCode.KeyCompromise), NOW);
    expect(a.state).toBe(State.Compromised);
    expect(dateAttr(a.attributes, Tag.CompromiseDate)).toBe(T);
    expect(dateAttr(a.attributes, Tag.CompromiseOccurrenceDate)).toBe(42n); // defaults to Initial Date
    expect(getAttr(a.attributes, Tag.RevocationReason)).toEqual(reason(RevocationReasonCode.KeyCompromise));

    const b = obj(State.Active);
    revoke(b, reason(RevocationReasonCode.Superseded), NOW, 7n);
    expect(b.state).toBe(State.Deactivated);
    expect(dateAttr(b.attributes, Tag.DeactivationDate)).toBe(T);

    expect(reasonOf(() => revoke(obj(State.PreActive), reason(RevocationReasonCode.Superseded), NOW))).toBe(ResultReason.WrongKeyLifecycleState);
    const d = obj(State.Destroyed);
    revoke(d, reason(RevocationReasonCode.CACompromise), NOW, 6n);
    expect(d.state).toBe(State.DestroyedCompromised);
    expect(dateAttr(d.attributes, Tag.CompromiseOccurrenceDate)).toBe(6n);
    expect(reasonOf(() => revoke(obj(State.Active), reason(0x77), NOW))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => revoke(obj(State.Active), structure(Tag.RevocationReason, []), NOW))).toBe(ResultReason.InvalidField);
  });
  it('protect and process windows', () => {
    expect(reasonOf(() => assertCanProtect(obj(State.PreActive), NOW))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(reasonOf(() => assertCanProtect(obj(State.Active), NOW))).toBeUndefined();
    expect(reasonOf(() => assertCanProtect(obj(State.Active, [dateTime(Tag.ProtectStopDate, T)]), NOW))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(reasonOf(() => assertCanProcess(obj(State.Deactivated), NOW))).toBeUndefined();
    expect(reasonOf(() => assertCanProcess(obj(State.Active, [dateTime(Tag.ProcessStartDate, T + 1n)]), NOW))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(reasonOf(() => assertCanProcess(obj(State.Destroyed), NOW))).toBe(ResultReason.WrongKeyLifecycleState);
  });
  it('maps 2.x-only reasons for 1.x clients', () => {
    const v14 = { major: 1, minor: 4 };
    const v21 = { major: 2, minor: 1 };
    expect(reasonForVersion(ResultReason.WrongKeyLifecycleState, v14)).toBe(ResultReason.PermissionDenied);
    expect(reasonForVersion(ResultReason.WrongKeyLifecycleState, v21)).toBe(ResultReason.WrongKeyLifecycleState);
    expect(reasonForVersion(ResultReason.ObjectNotFound, v14)).toBe(ResultReason.ItemNotFound);
    expect(reasonForVersion(ResultReason.PermissionDenied, v14)).toBe(ResultReason.PermissionDenied);
    // Sensitive exists since 1.4, not in 1.2
    expect(reasonForVersion(ResultReason.Sensitive, v14)).toBe(ResultReason.Sensitive);
    expect(reasonForVersion(ResultReason.Sensitive, { major: 1, minor: 2 })).not.toBe(ResultReason.Sensitive);
    // one table for the server: policy delegates to the kmip adapters' table
    for (const v of [{ major: 1, minor: 0 }, { major: 1, minor: 2 }, v14, { major: 2, minor: 0 }, v21]) {
      for (const r of Object.values(ResultReason)) expect(reasonForVersion(r, v)).toBe(resultReasonForVersion(r, v));
    }
    expect(objectNotFoundReason(v21)).toBe(ResultReason.ObjectNotFound);
    expect(objectNotFoundReason(v14)).toBe(ResultReason.ItemNotFound);
  });
});
