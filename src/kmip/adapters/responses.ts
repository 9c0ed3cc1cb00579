// Response payloads of the internal 2.1 model → the client's version.
import { Tag } from '../../ttlv/generated/tags.ts';
import { Operation } from '../../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { structure, textString, type Struct } from '../items.ts';
import { attributeByTag, attributeDefinedIn, V1_INDEXED_FROM_ZERO_TAGS } from '../attribute-names.ts';
import type { ProtocolVersion } from '../version.ts';
import {
  attributesToTemplate, attributesToV1List, attributeToV1, isKeyBlockObject, objectToV1, templateObjectToV1, v1NameOf,
  v1NameOfReference,
} from './attributes.ts';
import { filterAttribute, filterForVersion } from './filter.ts';

/** 2.x attribute containers → the 1.x Template-Attribute variants (2.1 s.5.1–5.4 → 1.4 s.2.1.8). */
const ATTRIBUTES_TO_TEMPLATE: ReadonlyMap<number, number> = new Map([
  [Tag.Attributes, Tag.TemplateAttribute],
  [Tag.CommonAttributes, Tag.CommonTemplateAttribute],
  [Tag.PrivateKeyAttributes, Tag.PrivateKeyTemplateAttribute],
  [Tag.PublicKeyAttributes, Tag.PublicKeyTemplateAttribute],
]);

/**
 * Fields that the internal response of Add / Modify / Delete Attribute carries only for the
 * 1.x echo (see index.ts); a 2.x response is the Unique Identifier alone (2.1 s.6.1.2,
 * s.6.1.13, s.6.1.34).
 */
const ECHO_TAGS: ReadonlySet<number> = new Set([Tag.NewAttribute, Tag.CurrentAttribute, Tag.AttributeIndex]);

/** Every 1.x response: attribute containers as Template-Attributes (Export, 1.4 s.4.28; the optional Template-Attribute of Create, Register, Re-key…), objects with the 1.x Key Value. */
function commonChild(c: TtlvItem, v: ProtocolVersion): TtlvItem {
  const t = ATTRIBUTES_TO_TEMPLATE.get(c.tag);
  if (t !== undefined && c.type === 'Structure') return attributesToTemplate(c, t, v);
  if (isKeyBlockObject(c)) return objectToV1(c as Struct, v);
  // Get of a Template object (1.4 s.4.11, s.2.2.6).
  if (c.tag === Tag.Template && c.type === 'Structure') return templateObjectToV1(c, v);
  return c;
}

/** Get Attributes (2.1 s.6.1.20 → 1.4 s.4.12): the Attributes structure becomes Attribute×n, multi-instance ones with their Attribute Index (issue 13 §5). */
function getAttributes(p: Struct, v: ProtocolVersion): TtlvItem[] {
  const out: TtlvItem[] = [];
  for (const c of p.value) {
    if (c.tag === Tag.Attributes && c.type === 'Structure') out.push(...attributesToV1List(c.value, v, { indexMulti: true }));
    else out.push(commonChild(c, v));
  }
  return out;
}

/** Get Attribute List (2.1 s.6.1.21 → 1.4 s.4.13): Attribute Reference×n → Attribute Name×n, only names `v` defines. */
function getAttributeList(p: Struct, v: ProtocolVersion): TtlvItem[] {
  const out: TtlvItem[] = [];
  for (const c of p.value) {
    if (c.tag !== Tag.AttributeReference) { out.push(commonChild(c, v)); continue; }
    if (c.type === 'Enumeration') {
      const def = attributeByTag(c.value);
      if (def === undefined || !attributeDefinedIn(def, v)) continue;
    }
    const name = v1NameOfReference(c);
    if (name !== undefined) out.push(textString(Tag.AttributeName, name));
  }
  return out;
}

/**
 * Add / Modify / Delete Attribute (1.4 s.4.14–4.16): the 1.x response repeats the attribute
 * (added, modified, or deleted) with its Attribute Index. The operation supplies it as New
 * Attribute / Current Attribute + Attribute Index in the internal response; index 0 is not
 * written, as in the OASIS 1.4 vectors, except on Name (V1_INDEXED_FROM_ZERO_TAGS).
 */
function attributeEcho(p: Struct, v: ProtocolVersion): TtlvItem[] {
  const out: TtlvItem[] = [];
  let echo: TtlvItem | undefined;
  let index: number | undefined;
  for (const c of p.value) {
    if ((c.tag === Tag.NewAttribute || c.tag === Tag.CurrentAttribute) && c.type === 'Structure') echo = c.value[0];
    else if (c.tag === Tag.AttributeIndex && c.type === 'Integer') index = c.value;
    else out.push(commonChild(c, v));
  }
  if (echo !== undefined) {
    const item = filterAttribute(echo, v);
    if (item !== undefined && v1NameOf(item) !== undefined) {
      // Name carries its index even when 0, as in Get Attributes (V1_INDEXED_FROM_ZERO_TAGS;
      // 1.4 s.4.14-4.16 "Attribute ... with its index"; PyKMIP reads it, issue 13 §5).
      const shown = index !== undefined && (index > 0 || V1_INDEXED_FROM_ZERO_TAGS.has(item.tag));
      out.push(attributeToV1(item, shown ? index : undefined));
    }
  }
  return out;
}

/** A 2.1 response payload in the 1.x shape for a client of version `v` (then version-filtered). */
export function responseToV1(v: ProtocolVersion, operation: number, payload: Struct): Struct {
  let value: TtlvItem[];
  switch (operation) {
    case Operation.GetAttributes: value = getAttributes(payload, v); break;
    case Operation.GetAttributeList: value = getAttributeList(payload, v); break;
    case Operation.AddAttribute:
    case Operation.ModifyAttribute:
    case Operation.DeleteAttribute: value = attributeEcho(payload, v); break;
    default: value = payload.value.map((c) => commonChild(c, v));
  }
  return (filterForVersion(structure(payload.tag, value), v) as Struct | undefined) ?? structure(payload.tag, []);
}

/** A 2.1 response payload for a 2.x client of version `v`. */
export function responseToV2(v: ProtocolVersion, operation: number, payload: Struct): Struct {
  let p = payload;
  if (operation === Operation.AddAttribute || operation === Operation.ModifyAttribute
    || operation === Operation.DeleteAttribute || operation === Operation.SetAttribute) {
    p = { ...payload, value: payload.value.filter((c) => !ECHO_TAGS.has(c.tag)) };
  }
  return (filterForVersion(p, v) as Struct | undefined) ?? structure(payload.tag, []);
}
