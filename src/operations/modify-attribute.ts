// Modify Attribute (KMIP 2.1 s.6.1.34; 1.4 s.4.15).
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, integer, optInt, required, structure } from '../kmip/items.ts';
import { attributeIn, checkClientAttributes, itemsEqual, sameAttribute } from '../policy/attributes.ts';
import { applyTimeTransitions } from '../policy/lifecycle.ts';
import { assertNameUnique, assertOneWay } from './add-attribute.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

export const modifyAttribute = defineOperation(Operation.ModifyAttribute, 'ModifyAttribute', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const next = attributeIn(required(child(payload, Tag.NewAttribute), Tag.NewAttribute), 'New Attribute');
  const currentField = child(payload, Tag.CurrentAttribute);
  const current = currentField === undefined ? undefined : attributeIn(currentField, 'Current Attribute');
  // A 1.x Attribute Index kept by the adapter, beside the attributes or inside them.
  const index = optInt(payload, Tag.AttributeIndex) ?? next.index ?? current?.index;
  const attr = next.attr;
  if (current !== undefined && !sameAttribute(current.attr, attr)) {
    throw new KmipError(ResultReason.InvalidField, 'Current Attribute and New Attribute must be the same attribute');
  }
  const obj = await loadObject(ctx, uid);
  // s.6.1.34.1: read-only → Attribute Read Only; dates outside their states → Wrong Key
  // Lifecycle State (SKLC-M-3: Activation Date of an Active key).
  checkClientAttributes([attr], 'modify', { state: obj.state, objectType: obj.objectType });
  const positions = obj.attributes.flatMap((a, i) => (sameAttribute(a, attr) ? [i] : []));
  if (positions.length === 0) throw new KmipError(ResultReason.AttributeNotFound, 'the object has no such attribute to modify');
  let pos: number | undefined;
  if (current !== undefined) {
    pos = positions.find((i) => itemsEqual(obj.attributes[i]!, current.attr));
  } else if (index !== undefined) {
    pos = positions[index];
  } else {
    // Without Current Attribute (2.x) or Attribute Index (1.x, 1.4 s.4.15: "assumed to be
    // 0"), the first instance is the one modified.
    pos = positions[0];
  }
  if (pos === undefined) throw new KmipError(ResultReason.AttributeInstanceNotFound, 'no instance of the attribute matches');
  const target = obj.attributes[pos]!;
  assertOneWay(attr, target);
  await assertNameUnique(ctx, attr, obj, target);
  obj.attributes[pos] = attr;
  const now = ctx.now();
  applyTimeTransitions(obj, now);
  touch(obj, now);
  await ctx.objects.save(obj);
  // 1.4 s.4.15: the 1.x response repeats the modified attribute (as now stored) and its index.
  return ctx.version.major < 2
    ? uidResponse(uid, structure(Tag.NewAttribute, [attr]), integer(Tag.AttributeIndex, positions.indexOf(pos)))
    : uidResponse(uid);
});
