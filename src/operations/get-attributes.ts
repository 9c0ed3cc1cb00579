// Get Attributes (KMIP 2.1 s.6.1.20; 1.4 s.4.12).
import { Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { structure } from '../kmip/items.ts';
import { matchesReference, parseAttributeReference, withObjectMeta, type AttributeRef } from '../policy/attributes.ts';
import { defineOperation, loadObject, resolveUid, uidResponse } from './uid.ts';
import { assertVisibleObject } from './common/templates.ts';
import { serviceL3Attributes } from './common/service-l3.ts';

const refKey = (r: AttributeRef): string => ('vendor' in r ? `v:${r.vendor}/${r.name}` : `t:${r.tag}`);

export const getAttributes = defineOperation(Operation.GetAttributes, 'GetAttributes', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  // References (2.x) or, from a 1.x request the adapter left as names, Attribute Name texts.
  const refs = payload.value
    .filter((c) => c.tag === Tag.AttributeReference || c.tag === Tag.AttributeName)
    .map(parseAttributeReference);
  // A service's L3 as a gateway's wrapping object (issue 11): no stored object, fixed attributes.
  let all = serviceL3Attributes(ctx, uid);
  if (all === undefined) {
    const obj = await loadObject(ctx, uid);
    assertVisibleObject(ctx, obj); // a Template exists for 1.x clients only (1.4 s.2.2.6)
    all = withObjectMeta(obj);
  }
  let out: TtlvItem[];
  if (refs.length === 0) {
    out = all; // s.6.1.20: no reference → every attribute of the object
  } else {
    // In the order asked; a reference repeated is answered once; an attribute the object
    // does not have is simply absent (s.6.1.20, SKLC-M-3: Deactivation Date left out).
    const done = new Set<string>();
    out = [];
    for (const r of refs) {
      const k = refKey(r);
      if (done.has(k)) continue;
      done.add(k);
      for (const a of all) if (matchesReference(a, r)) out.push(a);
    }
  }
  // s.6.1.20 (2.x): the Attributes structure is REQUIRED even when empty.
  return uidResponse(uid, structure(Tag.Attributes, out));
});
