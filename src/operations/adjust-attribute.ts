// Adjust Attribute (KMIP 2.1 s.6.1.3, since 2.0): change a numeric (or Boolean) attribute
// relative to its current value. Request: Unique Identifier (optional, ID Placeholder),
// Attribute Reference, Adjustment Type (Increment / Decrement / Negate, s.11.1), Adjustment
// Value; response: the Unique Identifier.
//
// The server applies the same rules as Modify Attribute to the adjusted value (read-only
// attributes, the state limits of the date attributes, the one-way Booleans), so Adjust can
// never do what Modify would refuse.
import { AdjustmentType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, optEnum, required } from '../kmip/items.ts';
import { checkClientAttributes, matchesReference, parseAttributeReference } from '../policy/attributes.ts';
import { applyTimeTransitions } from '../policy/lifecycle.ts';
import { assertOneWay } from './add-attribute.ts';
import { assertKmip2, defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

/** Value ranges of the numeric item types (2.1 s.10.1.2 / NOTES.md §1). */
const RANGE: Readonly<Record<string, readonly [bigint, bigint]>> = {
  Integer: [-(2n ** 31n), 2n ** 31n - 1n],
  LongInteger: [-(2n ** 63n), 2n ** 63n - 1n],
  Interval: [0n, 2n ** 32n - 1n],
  DateTime: [-(2n ** 63n), 2n ** 63n - 1n],
};

/** The Adjustment Value as a whole number (seconds for Date Time and Interval attributes). */
function amountOf(item: TtlvItem): bigint {
  switch (item.type) {
    case 'Integer':
    case 'Interval':
      return BigInt(item.value);
    case 'LongInteger':
    case 'BigInteger':
      return item.value;
    default:
      throw new KmipError(ResultReason.InvalidField, `Adjustment Value must be an Integer, Long Integer, Big Integer or Interval, got ${item.type}`);
  }
}

/** The adjusted copy of `value` (an attribute value item); NumericRange when it leaves its type's range. */
export function adjustValue(value: TtlvItem, type: number, amount: TtlvItem | undefined): TtlvItem {
  if (type === AdjustmentType.Negate) {
    if (amount !== undefined) throw new KmipError(ResultReason.InvalidField, 'Negate takes no Adjustment Value');
    switch (value.type) {
      case 'Boolean':
        return { ...value, value: !value.value };
      case 'Integer':
      case 'LongInteger':
      case 'BigInteger':
        return withNumber(value, -numberOf(value));
      default:
        // Intervals are unsigned and a negated date is no date: nothing to negate.
        throw new KmipError(ResultReason.InvalidDataType, `a ${value.type} attribute cannot be negated`);
    }
  }
  if (type !== AdjustmentType.Increment && type !== AdjustmentType.Decrement) {
    throw new KmipError(ResultReason.InvalidField, `unknown Adjustment Type 0x${type.toString(16)}`);
  }
  if (amount === undefined) throw new KmipError(ResultReason.InvalidField, 'Increment and Decrement need an Adjustment Value');
  if (value.type !== 'Integer' && value.type !== 'LongInteger' && value.type !== 'BigInteger' && value.type !== 'Interval' && value.type !== 'DateTime') {
    throw new KmipError(ResultReason.InvalidDataType, `a ${value.type} attribute cannot be incremented or decremented`);
  }
  const delta = amountOf(amount);
  return withNumber(value, numberOf(value) + (type === AdjustmentType.Increment ? delta : -delta));
}

function numberOf(item: TtlvItem): bigint {
  switch (item.type) {
    case 'Integer':
    case 'Interval':
      return BigInt(item.value);
    case 'LongInteger':
    case 'BigInteger':
    case 'DateTime':
      return item.value;
    default:
      throw new Error(`numberOf: ${item.type}`);
  }
}

function withNumber(item: TtlvItem, n: bigint): TtlvItem {
  const range = RANGE[item.type];
  if (range !== undefined && (n < range[0] || n > range[1])) {
    throw new KmipError(ResultReason.NumericRange, `the adjusted value ${n} is out of the range of a ${item.type}`);
  }
  switch (item.type) {
    case 'Integer':
    case 'Interval':
      return { ...item, value: Number(n) };
    case 'LongInteger':
    case 'BigInteger':
    case 'DateTime':
      return { ...item, value: n };
    default:
      throw new Error(`withNumber: ${item.type}`);
  }
}

/** Applies the adjustment to a standard attribute, or to the Attribute Value of a vendor attribute (s.4.60). */
function adjusted(attr: TtlvItem, type: number, amount: TtlvItem | undefined): TtlvItem {
  if (attr.tag !== Tag.Attribute || attr.type !== 'Structure') return adjustValue(attr, type, amount);
  return { ...attr, value: attr.value.map((c) => (c.tag === Tag.AttributeValue ? adjustValue(c, type, amount) : c)) };
}

export const adjustAttribute = defineOperation(Operation.AdjustAttribute, 'AdjustAttribute', '2.0', async (ctx, payload) => {
  assertKmip2(ctx, 'Adjust Attribute');
  const uid = resolveUid(ctx, payload);
  const ref = parseAttributeReference(required(child(payload, Tag.AttributeReference), Tag.AttributeReference));
  const type = required(optEnum(payload, Tag.AdjustmentType), Tag.AdjustmentType);
  const amount = child(payload, Tag.AdjustmentValue);
  const obj = await loadObject(ctx, uid);
  const positions = obj.attributes.flatMap((a, i) => (matchesReference(a, ref) ? [i] : []));
  if (positions.length === 0) throw new KmipError(ResultReason.AttributeNotFound, 'the object has no such attribute to adjust');
  if (positions.length > 1) {
    // Without a value to pick an instance by (as Modify's Current Attribute), adjusting one
    // of several instances would be a guess.
    throw new KmipError(ResultReason.InvalidField, `the object has ${positions.length} instances of the attribute; Adjust Attribute needs exactly one`);
  }
  const pos = positions[0]!;
  const current = obj.attributes[pos]!;
  const next = adjusted(current, type, amount);
  // Same rules as Modify Attribute (s.6.1.34.1): read-only → Attribute Read Only; dates
  // outside the states that allow changing them → Wrong Key Lifecycle State.
  checkClientAttributes([next], 'modify', { state: obj.state, objectType: obj.objectType });
  assertOneWay(next, current);
  obj.attributes[pos] = next;
  const now = ctx.now();
  applyTimeTransitions(obj, now); // an Activation Date moved into the past activates (s.4.57)
  touch(obj, now);
  await ctx.objects.save(obj);
  return uidResponse(uid);
});
