// Re-key (KMIP 2.1 s.6.1.46; 1.4 s.4.4): a new symmetric key replaces an existing one.
import { LinkType, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, child, dateTime, enumeration, integer, structure, textString, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { generateSymmetricKey } from '../crypto/keys.ts';
import { KeyFormatType } from '../ttlv/generated/enumerations.ts';
import { ATTRIBUTE_RULES, checkClientAttributes, removeAttr, setAttr } from '../policy/attributes.ts';
import { assertHasValue, dateAttr } from '../policy/lifecycle.ts';
import { StoreConflictError } from '../store/types.ts';
import { symmetricParameters } from './create.ts';
import { loadObject } from './get.ts';
import { recordResult, resolveUid } from './uid.ts';
import {
  assertNamesFree, attributesOf, checkProtectionStorageMasks, epochSeconds, keyBlock, link, newUid, storeNewObject, withKmipErrors,
} from './common/new-object.ts';
import type { OperationContext, OperationHandler } from './types.ts';
import { applyTemplates } from './common/templates.ts';

/**
 * Attributes the replacement does not inherit (1.4 s.4.4 table "Re-key attribute
 * requirements", 2.1 s.6.1.46): identity, state and its dates, the digest, usage counters,
 * revocation, links of the old key, and what the server sets anew at creation.
 */
const NOT_INHERITED: ReadonlySet<number> = new Set([
  Tag.UniqueIdentifier, Tag.State, Tag.InitialDate, Tag.LastChangeDate, Tag.OriginalCreationDate, Tag.ActivationDate,
  Tag.ProcessStartDate, Tag.ProtectStopDate, Tag.DeactivationDate, Tag.DestroyDate, Tag.CompromiseDate,
  Tag.CompromiseOccurrenceDate, Tag.ArchiveDate, Tag.RevocationReason, Tag.Digest, Tag.Fresh, Tag.Link, Tag.Name,
  Tag.RandomNumberGenerator, Tag.AlwaysSensitive, Tag.NeverExtractable, Tag.KeyFormatType, Tag.ProtectionStorageMask,
  Tag.ShortUniqueIdentifier, Tag.KeyValuePresent,
]);

/**
 * The dates of the replacement (s.6.1.46 table 303 / 1.4 table 176). With an Offset: new
 * Activation Date = new Initial Date + Offset, and Process Start, Protect Stop and
 * Deactivation Dates keep their distance to the Activation Date. Without one, the old key's
 * dates are copied.
 */
export function replacementDates(old: readonly TtlvItem[], now: Date, offset: number | undefined): TtlvItem[] {
  const tags = [Tag.ActivationDate, Tag.ProcessStartDate, Tag.ProtectStopDate, Tag.DeactivationDate];
  const out: TtlvItem[] = [];
  if (offset === undefined) {
    for (const tag of tags) {
      const v = dateAttr(old, tag);
      if (v !== undefined) out.push(dateTime(tag, v));
    }
    return out;
  }
  const at2 = epochSeconds(now) + BigInt(offset);
  out.push(dateTime(Tag.ActivationDate, at2));
  const at1 = dateAttr(old, Tag.ActivationDate);
  for (const tag of tags.slice(1)) {
    const v = dateAttr(old, tag);
    if (v !== undefined && at1 !== undefined) out.push(dateTime(tag, v + (at2 - at1)));
  }
  return out;
}

/** The attributes a replacement starts from: the old key's inheritable ones, overridden by the request's. */
export function inheritedAttributes(old: ManagedObject, requested: readonly TtlvItem[]): TtlvItem[] {
  const out = old.attributes.filter((a) => !NOT_INHERITED.has(a.tag));
  for (const r of requested) {
    const rule = ATTRIBUTE_RULES.get(r.tag);
    if (rule !== undefined && !rule.multi) setAttr(out, r);
    else out.push(r);
  }
  return out;
}

/** The Offset of a Re-key request (Interval, s.6.1.46). */
export function offsetOf(payload: Struct): number | undefined {
  const o = child(payload, Tag.Offset);
  if (o === undefined) return undefined;
  if (o.type !== 'Interval') throw new KmipError(ResultReason.InvalidField, 'Offset must be an Interval');
  return o.value;
}

/**
 * The old key after replacement: a Replacement Object Link to the new key, its names
 * moved away (s.6.1.46), Last Change Date now. Retries once on a concurrent update.
 */
export async function retire(ctx: OperationContext, old: ManagedObject, replacementUid: string): Promise<void> {
  let obj: ManagedObject | undefined = old;
  for (let attempt = 0; ; attempt++) {
    removeAttr(obj.attributes, Tag.Name);
    obj.attributes.push(link(LinkType.ReplacementObjectLink, replacementUid));
    setAttr(obj.attributes, dateTime(Tag.LastChangeDate, ctx.now()));
    try {
      await ctx.objects.save(obj);
      return;
    } catch (e) {
      if (!(e instanceof StoreConflictError) || attempt >= 2) throw e;
      obj = await ctx.objects.load(old.uid);
      if (obj === undefined) throw e;
    }
  }
}

/** Names of the old key plus any the request adds; the request's must not belong to anyone else. */
export async function namesForReplacement(ctx: OperationContext, old: ManagedObject, requested: readonly TtlvItem[]): Promise<TtlvItem[]> {
  const added = requested.filter((a) => a.tag === Tag.Name);
  await assertNamesFree(ctx, added, [old.uid]);
  return [...old.attributes.filter((a) => a.tag === Tag.Name), ...added];
}

async function run(ctx: OperationContext, request: Struct): Promise<Struct> {
  // 1.4 s.2.1.8: attributes of the named Template objects, under the explicit ones.
  const payload = await applyTemplates(ctx, request);
  const uid = resolveUid(ctx, payload);
  const offset = offsetOf(payload);
  checkProtectionStorageMasks(payload);
  const requested = [...(attributesOf(payload)?.value ?? [])];
  checkClientAttributes(requested, 'create', { objectType: ObjectType.SymmetricKey });

  const old = await loadObject(ctx, uid);
  if (old.objectType !== ObjectType.SymmetricKey) {
    throw new KmipError(ResultReason.InvalidObjectType, 'Re-key replaces symmetric keys; use Re-key Key Pair for key pairs');
  }
  assertHasValue(old);

  const now = ctx.now();
  const names = await namesForReplacement(ctx, old, requested);
  const attrs = inheritedAttributes(old, requested.filter((a) => a.tag !== Tag.Name));
  for (const d of replacementDates(old.attributes, now, offset)) setAttr(attrs, d);
  attrs.push(...names);
  const newUidValue = newUid();
  attrs.push(link(LinkType.ReplacedObjectLink, old.uid));

  const { algorithm, length } = symmetricParameters(attrs);
  const material = withKmipErrors(() => generateSymmetricKey(algorithm, length));
  const value = structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, byteString(Tag.KeyMaterial, material), algorithm, length)]);
  const replacement = await storeNewObject(ctx, {
    uid: newUidValue, objectType: ObjectType.SymmetricKey, attributes: attrs, value, generated: true,
    derived: [enumeration(Tag.CryptographicAlgorithm, algorithm), integer(Tag.CryptographicLength, length)],
    parsed: { kind: 'symmetric', bytes: material },
  });
  material.fill(0);
  await retire(ctx, old, replacement.uid);
  recordResult(ctx, Operation.ReKey, [replacement.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, replacement.uid)]);
}

export const reKey: OperationHandler = { operation: Operation.ReKey, name: 'ReKey', since: '1.0', run };
