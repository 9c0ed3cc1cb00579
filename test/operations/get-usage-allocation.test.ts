// Get Usage Allocation (2.1 s.6.1.22; 1.4 s.4.18, errors 1.4 s.11.19) through a real store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BlockCipherMode, CryptographicAlgorithm, ObjectType, Operation, ResultReason, RevocationReasonCode, State, UsageLimitsUnit,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { byteString, child, dateTime, enumeration, integer, longInteger, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { requestToInternal, responseFromInternal } from '../../src/kmip/adapters/index.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import { create } from '../../src/operations/create.ts';
import { activate } from '../../src/operations/activate.ts';
import { revoke } from '../../src/operations/revoke.ts';
import { encrypt } from '../../src/operations/encrypt.ts';
import { register } from '../../src/operations/register.ts';
import { getUsageAllocation } from '../../src/operations/get-usage-allocation.ts';
import { OPERATIONS } from '../../src/operations/registry.ts';
import type { OperationContext } from '../../src/operations/types.ts';
import { StoreConflictError } from '../../src/store/types.ts';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const COUNT = (n: bigint) => longInteger(Tag.UsageLimitsCount, n);
const V14: ProtocolVersion = { major: 1, minor: 4 };
const ENCRYPT_DECRYPT = 12;

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const usageLimits = (total: bigint, unit: number = UsageLimitsUnit.Byte) =>
  structure(Tag.UsageLimits, [longInteger(Tag.UsageLimitsTotal, total), enumeration(Tag.UsageLimitsUnit, unit)]);

async function newKey(extra: TtlvItem[] = [], opts: { active?: boolean } = {}): Promise<string> {
  const res = await create.run(t.ctx, P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 128),
      integer(Tag.CryptographicUsageMask, ENCRYPT_DECRYPT), ...extra,
    ]),
  ));
  const uid = (child(res, Tag.UniqueIdentifier) as { value: string }).value;
  if (opts.active !== false) await activate.run(t.ctx, P(UID(uid)));
  return uid;
}

async function remaining(uid: string): Promise<bigint | undefined> {
  const ul = (await t.repo.load(uid))!.attributes.find((a) => a.tag === Tag.UsageLimits) as Struct | undefined;
  const c = ul === undefined ? undefined : child(ul, Tag.UsageLimitsCount);
  return c?.type === 'LongInteger' ? c.value : undefined;
}

async function reasonOf(p: Promise<unknown>): Promise<number | undefined> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (err === undefined) return undefined;
  expect(err).toBeInstanceOf(KmipError);
  return (err as KmipError).reason;
}

async function v14(): Promise<OperationContext> {
  return (await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: V14 })).ctx;
}

describe('Get Usage Allocation', () => {
  it('is registered under its Operation value', () => {
    expect(OPERATIONS.get(Operation.GetUsageAllocation)).toBe(getUsageAllocation);
  });

  it('allocates from the remaining count, saves it and sets Last Change Date', async () => {
    const uid = await newKey([usageLimits(1000n)]);
    const before = (await t.repo.load(uid))!.attributes.find((a) => a.tag === Tag.LastChangeDate);
    const res = await getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(500n)));
    expect(res.tag).toBe(Tag.ResponsePayload);
    expect(res.value).toEqual([UID(uid)]);
    expect(await remaining(uid)).toBe(500n);
    const obj = (await t.repo.load(uid))!;
    const ul = obj.attributes.find((a) => a.tag === Tag.UsageLimits) as Struct;
    expect(child(ul, Tag.UsageLimitsTotal)).toEqual(longInteger(Tag.UsageLimitsTotal, 1000n)); // the Total never changes
    expect(child(ul, Tag.UsageLimitsUnit)).toEqual(enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Byte));
    const changed = obj.attributes.find((a) => a.tag === Tag.LastChangeDate);
    expect(changed?.type).toBe('DateTime');
    if (before?.type === 'DateTime' && changed?.type === 'DateTime') expect(changed.value >= before.value).toBe(true);
    await getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(500n)));
    expect(await remaining(uid)).toBe(0n);
  });

  it('refuses more than remains without changing the count: Usage Limit Exceeded (2.x), Permission Denied (1.x)', async () => {
    const uid = await newKey([usageLimits(1000n)]);
    await getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(600n)));
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(401n))))).toBe(ResultReason.UsageLimitExceeded);
    expect(await remaining(uid)).toBe(400n);
    expect(await reasonOf(getUsageAllocation.run(await v14(), P(UID(uid), COUNT(401n))))).toBe(ResultReason.PermissionDenied);
    await getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(400n)));
    // exhausted: even one unit is refused
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(1n))))).toBe(ResultReason.UsageLimitExceeded);
  });

  it('an allocation is consumed: Encrypt afterwards finds the count reduced', async () => {
    const uid = await newKey([usageLimits(32n)]);
    await getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(20n)));
    const req = P(UID(uid), structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)]), byteString(Tag.Data, Buffer.alloc(16)));
    expect(await reasonOf(encrypt.run(t.ctx, req))).toBe(ResultReason.PermissionDenied); // 12 left < 16
    expect(await remaining(uid)).toBe(12n);
  });

  it('an object without Usage Limits: Attribute Not Found (2.x), Illegal Operation (1.x, Table 345)', async () => {
    const uid = await newKey();
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(1n))))).toBe(ResultReason.AttributeNotFound);
    expect(await reasonOf(getUsageAllocation.run(await v14(), P(UID(uid), COUNT(1n))))).toBe(ResultReason.IllegalOperation);
    expect((await t.repo.load(uid))!.attributes.some((a) => a.tag === Tag.UsageLimits)).toBe(false);
  });

  it('an object that cannot apply protection (Secret Data): Illegal Object Type (2.x), Illegal Operation (1.x)', async () => {
    const res = await register.run(t.ctx, P(
      enumeration(Tag.ObjectType, ObjectType.SecretData),
      structure(Tag.Attributes, [integer(Tag.CryptographicUsageMask, 0x800), usageLimits(10n, UsageLimitsUnit.Object)]),
      structure(Tag.SecretData, [
        enumeration(Tag.SecretDataType, 1),
        structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, 1), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.from('secret'))])]),
      ]),
    ));
    const uid = (child(res, Tag.UniqueIdentifier) as { value: string }).value;
    await activate.run(t.ctx, P(UID(uid)));
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(1n))))).toBe(ResultReason.IllegalObjectType);
    expect(await reasonOf(getUsageAllocation.run(await v14(), P(UID(uid), COUNT(1n))))).toBe(ResultReason.IllegalOperation);
  });

  it('only while protection is enabled: Pre-Active, Deactivated, past the Protect Stop Date are refused', async () => {
    const pre = await newKey([usageLimits(100n)], { active: false });
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(pre), COUNT(1n))))).toBe(ResultReason.WrongKeyLifecycleState);
    expect(await reasonOf(getUsageAllocation.run(await v14(), P(UID(pre), COUNT(1n))))).toBe(ResultReason.IllegalOperation);
    expect(await remaining(pre)).toBeUndefined(); // nothing taken

    const revoked = await newKey([usageLimits(100n)]);
    await revoke.run(t.ctx, P(UID(revoked), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)])));
    expect((await t.repo.load(revoked))!.state).toBe(State.Deactivated);
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(revoked), COUNT(1n))))).toBe(ResultReason.WrongKeyLifecycleState);

    const stopped = await newKey([usageLimits(100n), dateTime(Tag.ProtectStopDate, 1n)]);
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(stopped), COUNT(1n))))).toBe(ResultReason.WrongKeyLifecycleState);
  });

  it('request checks: Usage Limits Count missing → Invalid Message; wrong type or not positive → Invalid Field', async () => {
    const uid = await newKey([usageLimits(100n)]);
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid))))).toBe(ResultReason.InvalidMessage);
    expect(await reasonOf(getUsageAllocation.run(await v14(), P(UID(uid))))).toBe(ResultReason.InvalidMessage);
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid), integer(Tag.UsageLimitsCount, 5))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(0n))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(-5n))))).toBe(ResultReason.InvalidField);
    expect(await remaining(uid)).toBeUndefined(); // nothing allocated yet: the stored attribute has no Count
  });

  it('unknown or foreign object: Object Not Found (2.x), Item Not Found (1.x)', async () => {
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(UID('no-such-object'), COUNT(1n))))).toBe(ResultReason.ObjectNotFound);
    expect(await reasonOf(getUsageAllocation.run(await v14(), P(UID('no-such-object'), COUNT(1n))))).toBe(ResultReason.ItemNotFound);
    const uid = await newKey([usageLimits(100n)]);
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc');
    expect(await reasonOf(getUsageAllocation.run(other.ctx, P(UID(uid), COUNT(1n))))).toBe(ResultReason.ObjectNotFound);
  });

  it('uses the ID Placeholder when the Unique Identifier is omitted; an empty placeholder is Missing Data', async () => {
    expect(await reasonOf(getUsageAllocation.run(t.ctx, P(COUNT(1n))))).toBe(ResultReason.MissingData);
    const uid = await newKey([usageLimits(100n)]);
    t.ctx.batch.idPlaceholder = uid;
    const res = await getUsageAllocation.run(t.ctx, P(COUNT(30n)));
    expect(child(res, Tag.UniqueIdentifier)).toEqual(UID(uid));
    expect(await remaining(uid)).toBe(70n);
  });

  it('retries on a store conflict and allocates against the count another writer left', async () => {
    const uid = await newKey([usageLimits(100n)]);
    const repo = t.ctx.objects;
    let conflicts = 0;
    let otherTakes = 60n;
    const racing: OperationContext = {
      ...t.ctx,
      objects: {
        ...repo,
        load: (u) => repo.load(u),
        save: async (obj) => {
          if (conflicts === 0) {
            conflicts++;
            // another client takes units between our load and our save
            await getUsageAllocation.run(t.ctx, P(UID(uid), COUNT(otherTakes)));
            throw new StoreConflictError(`object ${obj.uid} changed`);
          }
          return repo.save(obj);
        },
      },
    };
    // 100 - 60 = 40 left after the other writer: 50 no longer fits
    expect(await reasonOf(getUsageAllocation.run(racing, P(UID(uid), COUNT(50n))))).toBe(ResultReason.UsageLimitExceeded);
    expect(conflicts).toBe(1);
    expect(await remaining(uid)).toBe(40n);
    // 40 - 10 = 30 left after the other writer: 20 fits, 10 remain
    conflicts = 0;
    otherTakes = 10n;
    await getUsageAllocation.run(racing, P(UID(uid), COUNT(20n)));
    expect(conflicts).toBe(1);
    expect(await remaining(uid)).toBe(10n);
  });

  it('the 1.x adapters pass the payload through unchanged, both ways', () => {
    const req = P(UID('k1'), COUNT(7n));
    expect(requestToInternal(V14, Operation.GetUsageAllocation, req)).toEqual(req);
    const res = structure(Tag.ResponsePayload, [UID('k1')]);
    expect(responseFromInternal(V14, Operation.GetUsageAllocation, res)).toEqual(res);
    expect(responseFromInternal({ major: 2, minor: 1 }, Operation.GetUsageAllocation, res)).toEqual(res);
  });
});
