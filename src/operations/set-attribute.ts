// Set Attribute (KMIP 2.1 s.6.1.51, since 2.0): create or replace a single-instance attribute.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { child, required } from '../kmip/items.ts';
import { attributeIn, checkClientAttributes, sameAttribute, setAttr } from '../policy/attributes.ts';
import { applyTimeTransitions } from '../policy/lifecycle.ts';
import { assertNameUnique, assertOneWay } from './add-attribute.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

export const setAttribute = defineOperation(Operation.SetAttribute, 'SetAttribute', '2.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const { attr } = attributeIn(required(child(payload, Tag.NewAttribute), Tag.NewAttribute), 'New Attribute');
  const obj = await loadObject(ctx, uid);
  // s.6.1.51.1: multi-instance → Multi Valued Attribute; read-only → Attribute Read Only.
  checkClientAttributes([attr], 'set', { state: obj.state, objectType: obj.objectType });
  const current = obj.attributes.find((a) => sameAttribute(a, attr));
  assertOneWay(attr, current);
  await assertNameUnique(ctx, attr, obj, current);
  setAttr(obj.attributes, attr);
  const now = ctx.now();
  applyTimeTransitions(obj, now);
  touch(obj, now);
  await ctx.objects.save(obj);
  return uidResponse(uid);
});
