// Add Attribute (KMIP 2.1 s.6.1.2; 1.4 s.4.14).
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, integer, required, structure } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { ATTRIBUTE_RULES, attributeIn, checkClientAttributes, sameAttribute } from '../policy/attributes.ts';
import { applyTimeTransitions } from '../policy/lifecycle.ts';
import type { OperationContext } from './types.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

/**
 * Names identify objects (s.4 Name): a Name value already carried by a visible object, this
 * one included, is refused with Non Unique Name Attribute (BL-M-8). `replacing` is the
 * instance a Modify/Set is about to overwrite, which does not count against itself. On a
 * tenant whose Name policy is 'duplicates-allowed' (issue 13 §5) only this object counts.
 */
export async function assertNameUnique(ctx: OperationContext, attr: TtlvItem, self: ManagedObject, replacing?: TtlvItem): Promise<void> {
  if (attr.tag !== Tag.Name || attr.type !== 'Structure') return;
  const value = attr.value.find((c) => c.tag === Tag.NameValue);
  if (value === undefined || value.type !== 'TextString') {
    throw new KmipError(ResultReason.InvalidAttributeValue, 'Name needs a Name Value text');
  }
  const replacingSameName = replacing !== undefined && replacing.type === 'Structure' &&
    replacing.value.some((c) => c.tag === Tag.NameValue && c.value === value.value);
  for await (const other of ctx.objects.scan({ name: value.value })) {
    if (ctx.names === 'duplicates-allowed' && other.uid !== self.uid) continue;
    // Renaming an instance to the value it already has is no clash with itself.
    if (other.uid === self.uid && replacingSameName) continue;
    throw new KmipError(ResultReason.NonUniqueNameAttribute, `the name "${value.value}" is already in use`);
  }
}

/** The values that only move one way (s.4 Sensitive: false→true; Extractable: true→false). */
export function assertOneWay(attr: TtlvItem, current: TtlvItem | undefined): void {
  if (current === undefined || current.type !== 'Boolean' || attr.type !== 'Boolean') return;
  if (attr.tag === Tag.Sensitive && current.value && !attr.value) {
    throw new KmipError(ResultReason.AttributeReadOnly, 'Sensitive cannot be cleared once set');
  }
  if (attr.tag === Tag.Extractable && !current.value && attr.value) {
    throw new KmipError(ResultReason.AttributeReadOnly, 'Extractable cannot be set again once cleared');
  }
}

export const addAttribute = defineOperation(Operation.AddAttribute, 'AddAttribute', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const { attr } = attributeIn(required(child(payload, Tag.NewAttribute), Tag.NewAttribute), 'New Attribute');
  const obj = await loadObject(ctx, uid);
  // s.6.1.2.1: read-only attributes (Attribute Read Only), wrong types, wrong object type.
  checkClientAttributes([attr], 'add', { state: obj.state, objectType: obj.objectType });
  const existing = obj.attributes.filter((a) => sameAttribute(a, attr));
  const rule = ATTRIBUTE_RULES.get(attr.tag);
  const multi = rule === undefined ? true : rule.multi; // vendor attributes may repeat
  // s.6.1.2: "for single-instance attributes this creates the attribute value"; one that
  // is already there → Attribute Single Valued (BL-M-5).
  if (!multi && existing.length > 0) {
    throw new KmipError(ResultReason.AttributeSingleValued, `${rule?.name ?? 'the attribute'} already has a value`);
  }
  await assertNameUnique(ctx, attr, obj);
  obj.attributes.push(attr);
  const now = ctx.now();
  applyTimeTransitions(obj, now); // an Activation Date in the past activates at once (s.4.57)
  touch(obj, now);
  await ctx.objects.save(obj);
  // 1.4 s.4.14: the 1.x response repeats the attribute with the index the server gave it;
  // the adapter turns New Attribute + Attribute Index into Attribute{Name, Index, Value}.
  // 2.x answers with the Unique Identifier alone (2.1 s.6.1.2).
  return ctx.version.major < 2
    ? uidResponse(uid, structure(Tag.NewAttribute, [attr]), integer(Tag.AttributeIndex, existing.length))
    : uidResponse(uid);
});
