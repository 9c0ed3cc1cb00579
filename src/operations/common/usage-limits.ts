// Usage Limits (KMIP 2.1 s.4.63; 1.4 s.3.21): the one place that reads the attribute and
// takes an allocation from its remaining count. Two callers: the cryptographic operations
// that apply protection (Encrypt, Sign, MAC: "the server SHALL obtain an allocation from the
// current Usage Limits value prior to performing the operation", 2.1 s.6.1.17) and the Get
// Usage Allocation operation (2.1 s.6.1.22; 1.4 s.4.18), where the client asks for the
// allocation itself.
import { ResultReason, UsageLimitsUnit } from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { KmipError } from '../../kmip/errors.ts';
import { child, enumeration, isStructure, longInteger, optEnum, structure } from '../../kmip/items.ts';
import type { ManagedObject } from '../../kmip/object.ts';
import { getAttr, setAttr } from '../../policy/attributes.ts';
import { StoreConflictError } from '../../store/types.ts';
import { touch } from '../uid.ts';
import type { OperationContext } from '../types.ts';

/** The decoded Usage Limits attribute. */
export interface UsageLimits {
  total: bigint;
  /** The remaining count: Usage Limits Count, or the Total while no allocation has been made. */
  remaining: bigint;
  unit: number | undefined;
}

/**
 * Reads an object's Usage Limits, or undefined when it has none. s.4.63: the Count starts
 * at the Total ("when the attribute is initially set ... the Usage Limits Count is set to
 * the Usage Limits Total"), so an attribute stored without a Count has the Total remaining.
 * A stored attribute without a Total cannot be enforced and is refused rather than ignored.
 */
export function readUsageLimits(obj: Pick<ManagedObject, 'attributes'>): UsageLimits | undefined {
  const ul = getAttr(obj.attributes, Tag.UsageLimits);
  if (!isStructure(ul)) return undefined;
  const total = child(ul, Tag.UsageLimitsTotal);
  const count = child(ul, Tag.UsageLimitsCount);
  if (total?.type !== 'LongInteger') throw new KmipError(ResultReason.InvalidAttributeValue, 'Usage Limits lacks a Usage Limits Total');
  return { total: total.value, remaining: count?.type === 'LongInteger' ? count.value : total.value, unit: optEnum(ul, Tag.UsageLimitsUnit) };
}

export const unitWord = (unit: number | undefined): string => (unit === UsageLimitsUnit.Object ? 'uses' : 'bytes');

export interface AllocationRequest {
  /** The number of units to take, given the object's limits. */
  amount(limits: UsageLimits): bigint;
  /** Reason when more is asked than remains. */
  exceededReason: number;
  /**
   * Checks repeated on every attempt, so that a retry after a concurrent change re-checks
   * the object as it is now (for example its lifecycle state).
   */
  check?(obj: ManagedObject): void;
}

/** Concurrent writers are retried this many times before the conflict is reported. */
const MAX_ATTEMPTS = 5;

/**
 * Takes `amount` units from the object's remaining Usage Limits Count, sets Last Change
 * Date and saves with the store's optimistic concurrency: on a StoreConflictError the object
 * is reloaded and the allocation re-evaluated against the current count, so two concurrent
 * requests can never together take more than remains. Returns the limits after the
 * allocation, or undefined (nothing saved) when the object has no Usage Limits. `obj` is
 * updated in place to the saved version.
 */
export async function allocateUsage(ctx: OperationContext, obj: ManagedObject, req: AllocationRequest): Promise<UsageLimits | undefined> {
  let current: ManagedObject | undefined = obj;
  for (let attempt = 1; ; attempt++) {
    if (current === undefined) throw new KmipError(ResultReason.ObjectNotFound, 'the object disappeared while its usage was counted');
    req.check?.(current);
    const limits = readUsageLimits(current);
    if (limits === undefined) return undefined;
    const amount = req.amount(limits);
    if (amount > limits.remaining) {
      throw new KmipError(req.exceededReason, `the key's Usage Limits allow ${limits.remaining} more ${unitWord(limits.unit)}, the request needs ${amount}`);
    }
    const remaining = limits.remaining - amount;
    const fields: TtlvItem[] = [longInteger(Tag.UsageLimitsTotal, limits.total), longInteger(Tag.UsageLimitsCount, remaining)];
    if (limits.unit !== undefined) fields.push(enumeration(Tag.UsageLimitsUnit, limits.unit));
    setAttr(current.attributes, structure(Tag.UsageLimits, fields));
    touch(current, ctx.now());
    try {
      await ctx.objects.save(current);
      if (current !== obj) {
        obj.attributes = current.attributes;
        obj.revision = current.revision;
        obj.state = current.state;
      }
      return { ...limits, remaining };
    } catch (e) {
      if (!(e instanceof StoreConflictError) || attempt >= MAX_ATTEMPTS) throw e;
      current = await ctx.objects.load(obj.uid);
    }
  }
}
