// Get Attribute List (KMIP 2.1 s.6.1.21; 1.4 s.4.13): which attributes the object has.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { enumeration, structure, textString } from '../kmip/items.ts';
import { referenceOf, withObjectMeta } from '../policy/attributes.ts';
import { defineOperation, loadObject, resolveUid, uidResponse } from './uid.ts';

export const getAttributeList = defineOperation(Operation.GetAttributeList, 'GetAttributeList', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const obj = await loadObject(ctx, uid);
  const seen = new Set<string>();
  const refs: TtlvItem[] = [];
  for (const a of withObjectMeta(obj)) {
    const r = referenceOf(a);
    const key = 'vendor' in r ? `v:${r.vendor}/${r.name}` : `t:${r.tag}`;
    if (seen.has(key)) continue; // one reference per attribute, however many instances
    seen.add(key);
    // s.6.1.21: an Enumeration carrying the tag for a standard attribute, a Structure
    // {Vendor Identification, Attribute Name} for a vendor attribute (TL-M-2).
    refs.push('vendor' in r
      ? structure(Tag.AttributeReference, [textString(Tag.VendorIdentification, r.vendor), textString(Tag.AttributeName, r.name)])
      : enumeration(Tag.AttributeReference, r.tag));
  }
  return uidResponse(uid, ...refs);
});
