// Activate, Revoke, Destroy, Check and the UID references of s.4.58 through a real store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptographicAlgorithm, ObjectType, Operation, ResultReason, RevocationReasonCode, State, UniqueIdentifier } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, dateTime, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { create } from '../../src/operations/create.ts';
import { activate } from '../../src/operations/activate.ts';
import { revoke } from '../../src/operations/revoke.ts';
import { destroy } from '../../src/operations/destroy.ts';
import { check } from '../../src/operations/check.ts';
import { obtainLease } from '../../src/operations/obtain-lease.ts';
import { exportObject } from '../../src/operations/export.ts';
import { importObject } from '../../src/operations/import.ts';
import { get } from '../../src/operations/get.ts';
import { DEFAULT_LEASE_TIME_SECONDS } from '../../src/operations/common/new-object.ts';
import { expandUidReferences, recordResult, resolveUid } from '../../src/operations/uid.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const reason = (code: number) => structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, code)]);

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

async function newKey(): Promise<string> {
  const res = await create.run(t.ctx, P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 128), integer(Tag.CryptographicUsageMask, 12)]),
  ));
  return (child(res, Tag.UniqueIdentifier) as { value: string }).value;
}

async function failsWith(h: OperationHandler, payload: Struct, r: number, ctx = t.ctx): Promise<void> {
  const err = await h.run(ctx, payload).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KmipError);
  expect((err as KmipError).reason).toBe(r);
}

describe('Activate / Revoke / Destroy (SKLC-M-2, SKLC-M-3)', () => {
  it('runs the symmetric key lifecycle', async () => {
    const uid = await newKey();
    await activate.run(t.ctx, P(UID(uid)));
    let obj = (await t.repo.load(uid))!;
    expect(obj.state).toBe(State.Active);
    expect(obj.attributes.some((a) => a.tag === Tag.ActivationDate)).toBe(true);
    await failsWith(activate, P(UID(uid)), ResultReason.WrongKeyLifecycleState);
    await failsWith(destroy, P(UID(uid)), ResultReason.WrongKeyLifecycleState);
    await revoke.run(t.ctx, P(UID(uid), reason(RevocationReasonCode.CessationOfOperation)));
    expect((await t.repo.load(uid))!.state).toBe(State.Deactivated);
    const res = await destroy.run(t.ctx, P(UID(uid)));
    expect(child(res, Tag.UniqueIdentifier)).toEqual(UID(uid));
    obj = (await t.repo.load(uid))!;
    expect(obj.state).toBe(State.Destroyed);
    expect(obj.value).toBeUndefined(); // key material erased
    expect(obj.attributes.some((a) => a.tag === Tag.DestroyDate)).toBe(true); // metadata kept
    const stored = await t.store.get('test-tenant', uid);
    expect(stored?.wrappedValue).toBeUndefined();
    await failsWith(destroy, P(UID(uid)), ResultReason.ObjectDestroyed);
  });
  it('compromise: Compromised, then Destroyed Compromised', async () => {
    const uid = await newKey();
    await activate.run(t.ctx, P(UID(uid)));
    await revoke.run(t.ctx, P(UID(uid), reason(RevocationReasonCode.KeyCompromise), dateTime(Tag.CompromiseOccurrenceDate, 6n)));
    const obj = (await t.repo.load(uid))!;
    expect(obj.state).toBe(State.Compromised);
    expect(obj.attributes).toContainEqual(dateTime(Tag.CompromiseOccurrenceDate, 6n));
    await destroy.run(t.ctx, P(UID(uid)));
    expect((await t.repo.load(uid))!.state).toBe(State.DestroyedCompromised);
  });
  it('Revoke needs a Revocation Reason', async () => {
    const uid = await newKey();
    await failsWith(revoke, P(UID(uid)), ResultReason.InvalidField);
  });
  it('1.x clients get Permission Denied where 2.x gets Wrong Key Lifecycle State (SKLC-M-2-14)', async () => {
    const uid = await newKey();
    await activate.run(t.ctx, P(UID(uid)));
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    await failsWith(destroy, P(UID(uid)), ResultReason.PermissionDenied, v1.ctx);
  });
  it('another tenant cannot touch the object', async () => {
    const uid = await newKey();
    const other = await makeContextFor(t.store, t.protector, 'evil', 'svc');
    await failsWith(activate, P(UID(uid)), ResultReason.ObjectNotFound, other.ctx);
    await failsWith(destroy, P(UID(uid)), ResultReason.ObjectNotFound, other.ctx);
    expect((await t.repo.load(uid))!.state).toBe(State.PreActive);
  });
});

describe('Check', () => {
  it('passes allowed usage and refuses the rest', async () => {
    const uid = await newKey();
    const res = await check.run(t.ctx, P(UID(uid), integer(Tag.CryptographicUsageMask, 4)));
    expect(child(res, Tag.UniqueIdentifier)).toEqual(UID(uid));
    await failsWith(check, P(UID(uid), integer(Tag.CryptographicUsageMask, 1)), ResultReason.IncompatibleCryptographicUsageMask);
  });
});

describe('Unique Identifier references (s.6.1, s.4.58)', () => {
  it('resolves text, placeholder, operation enumerations and integers', () => {
    const ctx = t.ctx;
    recordResult(ctx, Operation.Create, ['c1'], { setPlaceholder: true });
    expect(ctx.batch.idPlaceholder).toBe('c1');
    expect(resolveUid(ctx, P())).toBe('c1');
    expect(resolveUid(ctx, P(enumeration(Tag.UniqueIdentifier, UniqueIdentifier.IDPlaceholder)))).toBe('c1');
    expect(resolveUid(ctx, P(enumeration(Tag.UniqueIdentifier, UniqueIdentifier.Create)))).toBe('c1');
    recordResult(ctx, Operation.CreateKeyPair, ['priv', 'pub'], { setPlaceholder: true });
    expect(ctx.batch.idPlaceholder).toBe('priv');
    expect(resolveUid(ctx, P(enumeration(Tag.UniqueIdentifier, UniqueIdentifier.CreateKeyPairPublicKey)))).toBe('pub');
    expect(() => resolveUid(ctx, P(enumeration(Tag.UniqueIdentifier, UniqueIdentifier.CreateKeyPair)))).toThrow(KmipError);
    expect(expandUidReferences(ctx, P(enumeration(Tag.UniqueIdentifier, UniqueIdentifier.CreateKeyPair))).map((p) => resolveUid(ctx, p))).toEqual(['priv', 'pub']);
    // the executor's part: one entry per earlier batch item
    ctx.batch.responseUids.push(['a'], [], ['b', 'c']);
    ctx.batch.itemIndex = 3;
    expect(resolveUid(ctx, P(integer(Tag.UniqueIdentifier, 0)))).toBe('a');
    expect(resolveUid(ctx, P(integer(Tag.UniqueIdentifier, -1)))).toBe('c');
    expect(() => resolveUid(ctx, P(integer(Tag.UniqueIdentifier, 3)))).toThrow(KmipError);
    recordResult(ctx, Operation.Locate, ['x', 'y'], { setPlaceholder: true });
    expect(ctx.batch.idPlaceholder).toBeUndefined(); // several matches clear it
    const err = (() => { try { resolveUid(ctx, P()); } catch (e) { return e; } })();
    expect((err as KmipError).reason).toBe(ResultReason.MissingData);
    expect(() => resolveUid(ctx, P(enumeration(Tag.UniqueIdentifier, UniqueIdentifier.ReKey)))).toThrow(KmipError);
  });
  it('refuses the 2.x forms on a 1.x request', async () => {
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    v1.ctx.batch.idPlaceholder = 'p';
    expect(() => resolveUid(v1.ctx, P(enumeration(Tag.UniqueIdentifier, UniqueIdentifier.IDPlaceholder)))).toThrow(KmipError);
    expect(resolveUid(v1.ctx, P())).toBe('p');
  });
});

describe('Obtain Lease (2.1 s.6.1.33, 1.4 s.4.10)', () => {
  it('grants the Lease Time of an Active or Deactivated object with its Last Change Date', async () => {
    const uid = await newKey();
    await failsWith(obtainLease, P(UID(uid)), ResultReason.WrongKeyLifecycleState); // Pre-Active
    await activate.run(t.ctx, P(UID(uid)));
    const res = await obtainLease.run(t.ctx, P(UID(uid)));
    const stored = (await t.repo.load(uid))!;
    const changed = stored.attributes.find((a) => a.tag === Tag.LastChangeDate)!;
    expect(res.value).toEqual([UID(uid), { tag: Tag.LeaseTime, type: 'Interval', value: DEFAULT_LEASE_TIME_SECONDS }, changed]);
    await revoke.run(t.ctx, P(UID(uid), reason(RevocationReasonCode.CessationOfOperation)));
    expect(child(await obtainLease.run(t.ctx, P(UID(uid))), Tag.LeaseTime)).toBeDefined();
    await revoke.run(t.ctx, P(UID(uid), reason(RevocationReasonCode.KeyCompromise)));
    await failsWith(obtainLease, P(UID(uid)), ResultReason.WrongKeyLifecycleState);
  });
  it('uses the ID Placeholder, answers Item Not Found / Permission Denied to 1.x', async () => {
    const uid = await newKey();
    await activate.run(t.ctx, P(UID(uid)));
    t.ctx.batch.idPlaceholder = uid;
    expect(child(await obtainLease.run(t.ctx, P()), Tag.UniqueIdentifier)).toEqual(UID(uid));
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 2 } });
    await failsWith(obtainLease, P(UID('missing')), ResultReason.ItemNotFound, v1.ctx);
    const pre = await newKey();
    await failsWith(obtainLease, P(UID(pre)), ResultReason.PermissionDenied, v1.ctx);
  });
});

describe('Export (2.1 s.6.1.18)', () => {
  it('returns Object Type, Unique Identifier, every attribute and the object, as Get would', async () => {
    const uid = await newKey();
    const res = await exportObject.run(t.ctx, P(UID(uid)));
    expect(res.value.map((c) => c.tag)).toEqual([Tag.ObjectType, Tag.UniqueIdentifier, Tag.Attributes, Tag.SymmetricKey]);
    const attrs = (child(res, Tag.Attributes) as Struct).value;
    expect(attrs).toContainEqual(UID(uid));
    expect(attrs).toContainEqual(enumeration(Tag.State, State.PreActive));
    expect(attrs).toContainEqual(integer(Tag.CryptographicLength, 128));
    // served: Fresh is false in the exported attributes
    expect(attrs).toContainEqual({ tag: Tag.Fresh, type: 'Boolean', value: false });
    const got = await get.run(t.ctx, P(UID(uid)));
    expect(child(res, Tag.SymmetricKey)).toEqual(child(got, Tag.SymmetricKey));
  });
  it('keeps Get\'s refusals and is a 2.x operation', async () => {
    const uid = await newKey();
    await destroy.run(t.ctx, P(UID(uid)));
    await failsWith(exportObject, P(UID(uid)), ResultReason.ObjectDestroyed);
    await failsWith(exportObject, P(UID('missing')), ResultReason.ObjectNotFound);
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    await failsWith(exportObject, P(UID(uid)), ResultReason.OperationNotSupported, v1.ctx);
  });
});

describe('Import (2.1 s.6.1.24)', () => {
  async function exported(uid: string): Promise<Struct> {
    const res = await exportObject.run(t.ctx, P(UID(uid)));
    // Export's response is Import's request minus Replace Existing / Key Wrap Type
    return P(...res.value);
  }
  it('restores an exported object under its identifier, with its state and attributes, into an empty store', async () => {
    const uid = await newKey();
    await activate.run(t.ctx, P(UID(uid)));
    const request = await exported(uid);
    const before = (await t.repo.load(uid))!;
    const other = await makeTestContext();
    try {
      const res = await importObject.run(other.ctx, request);
      expect(res.value).toEqual([UID(uid)]);
      const restored = (await other.repo.load(uid))!;
      expect(restored.state).toBe(State.Active);
      expect(restored.objectType).toBe(ObjectType.SymmetricKey);
      expect(restored.attributes).toEqual(before.attributes);
      expect(restored.value).toEqual(before.value);
      expect(other.ctx.batch.lastByOperation.get(UniqueIdentifier.Import)).toEqual([uid]);
    } finally {
      await other.close();
    }
  });
  it('refuses an existing identifier unless Replace Existing; another tenant imports the same identifier as its own object', async () => {
    const uid = await newKey();
    const request = await exported(uid);
    await failsWith(importObject, request, ResultReason.ObjectAlreadyExists);
    const replace = P(...request.value, { tag: Tag.ReplaceExisting, type: 'Boolean', value: true });
    expect((await importObject.run(t.ctx, replace)).value).toEqual([UID(uid)]);
    const mine = (await t.repo.load(uid))!;
    // Unique Identifiers are per tenant (issue 16): the identifier is free in another tenant,
    // with or without Replace Existing, and the two objects stay apart.
    const foreign = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc');
    expect((await importObject.run(foreign.ctx, request)).value).toEqual([UID(uid)]);
    await failsWith(importObject, request, ResultReason.ObjectAlreadyExists, foreign.ctx);
    expect((await importObject.run(foreign.ctx, replace)).value).toEqual([UID(uid)]);
    expect((await t.store.get('other-tenant', uid))?.service).toBe('svc');
    expect(await t.repo.load(uid)).toEqual(mine);
  });
  it('checks the request: attributes agreeing with the fields, the object, the version', async () => {
    const uid = await newKey();
    const request = await exported(uid);
    const retag = (tag: number, item: TtlvItem) => P(...request.value.map((c) => (c.tag === tag ? item : c)));
    await failsWith(importObject, retag(Tag.UniqueIdentifier, UID('another-id')), ResultReason.InvalidField);
    await failsWith(importObject, retag(Tag.ObjectType, enumeration(Tag.ObjectType, ObjectType.SecretData)), ResultReason.InvalidField);
    const badKey = structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, 1), structure(Tag.KeyValue, [{ tag: Tag.KeyMaterial, type: 'ByteString', value: Buffer.alloc(5) }]),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 128),
    ])]);
    const fresh = P(UID('imported-1'), enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, []), badKey);
    await failsWith(importObject, fresh, ResultReason.InvalidField);
    await failsWith(importObject, P(UID('imported-2'), enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [])), ResultReason.InvalidField);
    await failsWith(importObject, P(UID('imported-3'), enumeration(Tag.ObjectType, ObjectType.SymmetricKey), badKey), ResultReason.InvalidField);
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    await failsWith(importObject, request, ResultReason.OperationNotSupported, v1.ctx);
  });
});
