// Delete Attribute (KMIP 2.1 s.6.1.13; 1.4 s.4.16).
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, integer, optInt, structure } from '../kmip/items.ts';
import {
  ATTRIBUTE_RULES, attributeIn, checkClientAttributes, itemsEqual, matchesReference, parseAttributeReference, type AttributeRef,
} from '../policy/attributes.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

function assertDeletable(ref: AttributeRef): void {
  if ('vendor' in ref) {
    // 1.4 s.3.39: server (y-) custom attributes are the server's.
    if (ref.vendor === 'y') throw new KmipError(ResultReason.AttributeReadOnly, `${ref.name} is a server attribute`);
    return;
  }
  const rule = ATTRIBUTE_RULES.get(ref.tag);
  if (rule !== undefined && !rule.clientDeletable) throw new KmipError(ResultReason.AttributeReadOnly, `${rule.name} cannot be deleted by a client`);
}

export const deleteAttribute = defineOperation(Operation.DeleteAttribute, 'DeleteAttribute', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const currentField = child(payload, Tag.CurrentAttribute);
  const current = currentField === undefined ? undefined : attributeIn(currentField, 'Current Attribute');
  const refItem = child(payload, Tag.AttributeReference) ?? child(payload, Tag.AttributeName);
  // s.6.1.13: Current Attribute and/or Attribute Reference; at least one.
  if (current === undefined && refItem === undefined) {
    throw new KmipError(ResultReason.InvalidField, 'Delete Attribute needs Current Attribute or Attribute Reference');
  }
  let ref: AttributeRef;
  if (current !== undefined) {
    checkClientAttributes([current.attr], 'delete');
    const key = current.attr.tag === Tag.Attribute && current.attr.type === 'Structure' ? parseAttributeReference({ ...current.attr, tag: Tag.AttributeReference }) : { tag: current.attr.tag };
    ref = key;
    if (refItem !== undefined) {
      const r = parseAttributeReference(refItem);
      if (!matchesReference(current.attr, r)) throw new KmipError(ResultReason.InvalidField, 'Current Attribute and Attribute Reference name different attributes');
    }
  } else {
    ref = parseAttributeReference(refItem!);
  }
  if (ref.tag !== Tag.Attribute && !ATTRIBUTE_RULES.has(ref.tag)) throw new KmipError(ResultReason.InvalidAttribute, 'not an attribute');
  assertDeletable(ref);
  const index = optInt(payload, Tag.AttributeIndex) ?? current?.index;

  const obj = await loadObject(ctx, uid);
  const positions = obj.attributes.flatMap((a, i) => (matchesReference(a, ref) ? [i] : []));
  if (positions.length === 0) throw new KmipError(ResultReason.AttributeNotFound, 'the object has no such attribute');
  let doomed: number[];
  if (current !== undefined) {
    const p = positions.find((i) => itemsEqual(obj.attributes[i]!, current.attr));
    if (p === undefined) throw new KmipError(ResultReason.AttributeInstanceNotFound, 'no instance of the attribute has that value');
    doomed = [p];
  } else if (index !== undefined || ctx.version.major < 2) {
    // 1.4 s.4.16: an absent Attribute Index means index 0.
    const p = positions[index ?? 0];
    if (p === undefined) throw new KmipError(ResultReason.AttributeInstanceNotFound, `no instance at index ${index ?? 0}`);
    doomed = [p];
  } else {
    doomed = positions; // 2.x: a reference alone deletes every instance
  }
  const removed: TtlvItem[] = doomed.map((i) => obj.attributes[i]!);
  for (const i of [...doomed].sort((a, b) => b - a)) obj.attributes.splice(i, 1);
  touch(obj, ctx.now());
  await ctx.objects.save(obj);
  if (ctx.version.major < 2) {
    // For the 1.x adapter, which answers with the deleted Attribute{Name, Index, Value}.
    return uidResponse(uid, structure(Tag.CurrentAttribute, [removed[0]!]), integer(Tag.AttributeIndex, positions.indexOf(doomed[0]!)));
  }
  return uidResponse(uid);
});
