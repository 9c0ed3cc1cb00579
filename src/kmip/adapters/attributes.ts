// Attribute shapes, 1.x ⇄ 2.x.
//
// 1.x (1.4 s.2.1.1): Attribute{Attribute Name (Text String), Attribute Index (Integer,
// optional), Attribute Value (type of the attribute)}; lists of them inside
// Template-Attribute (1.4 s.2.1.8), Key Value (1.4 s.2.1.4) and some payloads.
// 2.x (2.1 s.4, s.5.1): each standard attribute under its own tag inside an Attributes
// structure; only vendor attributes keep the Attribute tag, as {Vendor Identification,
// Attribute Name, Attribute Value} (2.1 s.4.60), and 1.x "x-"/"y-" custom attributes become
// vendor attributes of vendor "x"/"y".
import { Tag } from '../../ttlv/generated/tags.ts';
import { ResultReason } from '../../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { KmipError } from '../errors.ts';
import { enumeration, integer, isStructure, structure, textString, type Struct } from '../items.ts';
import { atLeast, type ProtocolVersion } from '../version.ts';
import { ITEM_TYPE_INFO } from '../../ttlv/generated/itemTypes.ts';
import { attributeByName, attributeByTag, customName, parseCustomName, V1_INDEXED_FROM_ZERO_TAGS } from '../attribute-names.ts';
import { filterAttribute } from './filter.ts';

const invalidField = (msg: string) => new KmipError(ResultReason.InvalidField, msg);
/** The newest 1.x version: what a 1.x request may carry is what 1.4 defines. */
const V1_MAX: ProtocolVersion = { major: 1, minor: 4 };
const invalidMessage = (msg: string) => new KmipError(ResultReason.InvalidMessage, msg);

function tagLabel(tag: number): string {
  for (const [n, v] of Object.entries(Tag)) if (v === tag) return n;
  return '0x' + tag.toString(16).toUpperCase();
}

/** The parts of a 1.x Attribute structure, checked (1.4 s.2.1.1). */
export interface V1Attribute {
  name: string;
  index: number | undefined;
  value: TtlvItem | undefined;
}

/** Reads Attribute{Attribute Name, Attribute Index?, Attribute Value?} without interpreting the name. */
export function readV1Attribute(attr: TtlvItem): V1Attribute {
  if (attr.tag !== Tag.Attribute || attr.type !== 'Structure') {
    throw invalidMessage(`expected an Attribute structure (1.4 s.2.1.1), got ${tagLabel(attr.tag)} (${attr.type})`);
  }
  let name: string | undefined;
  let index: number | undefined;
  let value: TtlvItem | undefined;
  for (const c of attr.value) {
    switch (c.tag) {
      case Tag.AttributeName:
        if (c.type !== 'TextString') throw invalidField(`Attribute Name must be a Text String, got ${c.type} (1.4 s.2.1.1)`);
        if (name !== undefined) throw invalidField('Attribute holds two Attribute Names (1.4 s.2.1.1)');
        name = c.value;
        break;
      case Tag.AttributeIndex:
        if (c.type !== 'Integer') throw invalidField(`Attribute Index must be an Integer, got ${c.type} (1.4 s.2.1.1)`);
        if (index !== undefined) throw invalidField('Attribute holds two Attribute Indexes (1.4 s.2.1.1)');
        if (c.value < 0) throw invalidField(`Attribute Index must not be negative, got ${c.value} (1.4 s.2.1.1)`);
        index = c.value;
        break;
      case Tag.AttributeValue:
        if (value !== undefined) throw invalidField('Attribute holds two Attribute Values (1.4 s.2.1.1)');
        // A 1.x message only carries 1.x item types (1.4 s.9.1.1.3); a Date Time Extended
        // (2.1 s.10.1.2, 2.0+) value would be stored and then be unshowable to this client.
        if (!atLeast(V1_MAX, ITEM_TYPE_INFO[c.type].since)) {
          throw invalidField(`Attribute Value of type ${c.type} is not defined in KMIP 1.x (1.4 s.9.1.1.3)`);
        }
        value = c;
        break;
      default:
        throw invalidField(`unexpected ${tagLabel(c.tag)} inside Attribute (1.4 s.2.1.1 allows Attribute Name, Attribute Index, Attribute Value)`);
    }
  }
  if (name === undefined) throw invalidField('Attribute Name is required in Attribute (1.4 s.2.1.1)');
  return { name, index, value };
}

/** The 2.x attribute item for a 1.x attribute name and value. */
function itemFromNameValue(name: string, value: TtlvItem): TtlvItem {
  const custom = parseCustomName(name);
  if (custom !== undefined) {
    // 2.1 s.4.60: Vendor Identification "x"/"y" carries the 1.x custom attributes.
    return structure(Tag.Attribute, [
      textString(Tag.VendorIdentification, custom.vendor),
      textString(Tag.AttributeName, custom.name),
      value,
    ]);
  }
  const def = attributeByName(name);
  if (def === undefined) {
    throw invalidField(`unknown attribute name "${name}" (1.4 s.3: standard attributes use their spec names; custom attributes start with "x-" or "y-", 1.4 s.3.39)`);
  }
  if (value.type !== def.type) {
    throw invalidField(`Attribute Value of "${def.specName}" must be a ${def.type}, got ${value.type} (1.4 s.2.1.1)`);
  }
  // Same type and value under the attribute's own tag; `placeholder` (test-vector
  // variables such as $NOW) travels along.
  return { ...value, tag: def.tag } as TtlvItem;
}

/** 1.x Attribute{AttributeName, AttributeIndex?, AttributeValue} → the 2.x attribute item. The index is dropped; use readV1Attribute to keep it. */
export function attributeFromV1(attr: Struct): TtlvItem {
  return itemFromV1Attribute(readV1Attribute(attr));
}

/** The 2.x attribute item of a read 1.x attribute; its value is required here. */
export function itemFromV1Attribute(a: V1Attribute): TtlvItem {
  if (a.value === undefined) throw invalidField(`Attribute Value is required for attribute "${a.name}" (1.4 s.2.1.1)`);
  return itemFromNameValue(a.name, a.value);
}

/** The 1.x name of a 2.x attribute item, or undefined when 1.x cannot express it (vendor attributes of vendors other than x/y, unknown tags). */
export function v1NameOf(item: TtlvItem): string | undefined {
  if (item.tag === Tag.Attribute) {
    if (!isStructure(item)) return undefined;
    const vendor = item.value.find((c) => c.tag === Tag.VendorIdentification);
    const name = item.value.find((c) => c.tag === Tag.AttributeName);
    if (vendor?.type !== 'TextString' || name?.type !== 'TextString') return undefined;
    return customName(vendor.value, name.value);
  }
  return attributeByTag(item.tag)?.specName;
}

/**
 * 2.x attribute item → 1.x Attribute{AttributeName, AttributeIndex?, AttributeValue}.
 * AttributeIndex is written when `index` is given. Throws (a server-side error, not a
 * client's) when the item has no 1.x form; callers check v1NameOf first.
 */
export function attributeToV1(item: TtlvItem, index?: number): Struct {
  const name = v1NameOf(item);
  if (name === undefined) throw new Error(`attribute ${tagLabel(item.tag)} has no KMIP 1.x form`);
  let value: TtlvItem;
  if (item.tag === Tag.Attribute) {
    const v = (item as Struct).value.find((c) => c.tag === Tag.AttributeValue);
    if (v === undefined) throw new Error(`vendor attribute "${name}" has no Attribute Value`);
    value = v;
  } else {
    value = { ...item, tag: Tag.AttributeValue } as TtlvItem;
  }
  const out: TtlvItem[] = [textString(Tag.AttributeName, name)];
  if (index !== undefined) out.push(integer(Tag.AttributeIndex, index));
  out.push(value);
  return structure(Tag.Attribute, out);
}

/**
 * A key identifying "the same attribute" for instance numbering: the tag, or the vendor and
 * name of a vendor attribute.
 */
export function attributeKey(item: TtlvItem): string {
  if (item.tag === Tag.Attribute && isStructure(item)) {
    const vendor = item.value.find((c) => c.tag === Tag.VendorIdentification);
    const name = item.value.find((c) => c.tag === Tag.AttributeName);
    return `v:${String(vendor?.value)}\u0000${String(name?.value)}`;
  }
  return `t:${item.tag}`;
}

/**
 * The attributes of a 2.x attribute container as a 1.x list, for a client of version `v`:
 * attributes `v` does not define and vendor attributes 1.x cannot name are left out; the
 * n-th instance (n > 0) of a multi-instance attribute carries Attribute Index n (1.4
 * s.2.1.1: indices start at 0; the OASIS 1.4 vectors omit index 0 in templates and object
 * attributes). With `indexMulti` (Get Attributes responses) the instances of Name carry their
 * index, 0 included (see V1_INDEXED_FROM_ZERO_TAGS). The index is the
 * instance's position in the container, so the store's order of instances is the index
 * order.
 */
export function attributesToV1List(items: readonly TtlvItem[], v: ProtocolVersion, opts: { indexMulti?: boolean } = {}): Struct[] {
  const seen = new Map<string, number>();
  const out: Struct[] = [];
  for (const raw of items) {
    const item = filterAttribute(raw, v);
    if (item === undefined || v1NameOf(item) === undefined) continue;
    const key = attributeKey(item);
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    const index = n > 0 || (opts.indexMulti === true && V1_INDEXED_FROM_ZERO_TAGS.has(item.tag)) ? n : undefined;
    out.push(attributeToV1(item, index));
  }
  return out;
}

/** 1.x attribute name → 2.x Attribute Reference (2.1 s.5.5): the attribute's tag as an Enumeration, or {Vendor Identification, Attribute Name}. */
export function referenceFromV1Name(name: string): TtlvItem {
  const custom = parseCustomName(name);
  if (custom !== undefined) {
    return structure(Tag.AttributeReference, [
      textString(Tag.VendorIdentification, custom.vendor),
      textString(Tag.AttributeName, custom.name),
    ]);
  }
  const def = attributeByName(name);
  if (def === undefined) {
    throw invalidField(`unknown attribute name "${name}" (1.4 s.3: standard attributes use their spec names; custom attributes start with "x-" or "y-", 1.4 s.3.39)`);
  }
  return enumeration(Tag.AttributeReference, def.tag);
}

/** 2.x Attribute Reference → its 1.x attribute name, or undefined when 1.x has none. */
export function v1NameOfReference(ref: TtlvItem): string | undefined {
  if (ref.type === 'Enumeration') return attributeByTag(ref.value)?.specName;
  if (ref.type !== 'Structure') return undefined;
  const vendor = ref.value.find((c) => c.tag === Tag.VendorIdentification);
  const name = ref.value.find((c) => c.tag === Tag.AttributeName);
  if (vendor?.type !== 'TextString' || name?.type !== 'TextString') return undefined;
  return customName(vendor.value, name.value);
}

/**
 * Internal marker (an extension tag, 1.4 s.9.1.3.1: 0x540000–0x54FFFF) inside a converted
 * attribute container: a Structure holding the Name structures of the Template objects a
 * 1.x Template-Attribute referenced (1.4 s.2.1.8). Resolving them needs the store, so the
 * operations layer (operations/common/templates.ts) replaces the marker with the templates'
 * attributes before the attributes are checked. It never reaches a client or the store.
 */
export const TEMPLATE_NAMES_TAG = 0x540002;

/**
 * 1.x Template-Attribute (or its Common / Private Key / Public Key variants, 1.4 s.2.1.8)
 * → a 2.x attribute container with tag `outTag` (2.1 s.5.1–5.4). Template Names refer to
 * Template objects (deprecated in 1.3, removed in 2.0); they travel on, in their order,
 * inside a TEMPLATE_NAMES_TAG marker placed first in the container.
 */
export function templateToAttributes(ta: TtlvItem, outTag: number): Struct {
  if (ta.type !== 'Structure') {
    throw invalidMessage(`${tagLabel(ta.tag)} must be a Structure, got ${ta.type} (1.4 s.2.1.8)`);
  }
  const items: TtlvItem[] = [];
  const names: TtlvItem[] = [];
  for (const c of ta.value) {
    if (c.tag === Tag.Attribute) items.push(attributeFromV1(c as Struct));
    else if (c.tag === Tag.Name) {
      if (c.type !== 'Structure') throw invalidField(`a Template Name in ${tagLabel(ta.tag)} must be a Name structure (1.4 s.2.1.8, s.3.2)`);
      names.push(c);
    } else {
      throw invalidField(`unexpected ${tagLabel(c.tag)} inside ${tagLabel(ta.tag)} (1.4 s.2.1.8 allows Name and Attribute)`);
    }
  }
  return structure(outTag, names.length > 0 ? [structure(TEMPLATE_NAMES_TAG, names), ...items] : items);
}

/** 1.x Template object Template{Attribute×n} (1.4 s.2.2.6) → internal Template{Attributes{…2.x items}}. */
export function templateObjectFromV1(t: TtlvItem): Struct {
  if (t.type !== 'Structure') throw invalidMessage(`Template must be a Structure, got ${t.type} (1.4 s.2.2.6)`);
  const attrs = t.value.map((c) => {
    if (c.tag !== Tag.Attribute) throw invalidField(`unexpected ${tagLabel(c.tag)} inside Template (1.4 s.2.2.6 holds Attribute structures only)`);
    return attributeFromV1(c as Struct);
  });
  return structure(Tag.Template, [structure(Tag.Attributes, attrs)]);
}

/** Internal Template{Attributes} → the 1.x Template{Attribute×n} (1.4 s.2.2.6), for a client of version `v`. */
export function templateObjectToV1(t: Struct, v: ProtocolVersion): Struct {
  const out: TtlvItem[] = [];
  for (const c of t.value) {
    if (c.tag === Tag.Attributes && c.type === 'Structure') out.push(...attributesToV1List(c.value, v));
    else out.push(c);
  }
  return structure(Tag.Template, out);
}

/** 2.x attribute container → 1.x Template-Attribute variant `outTag`, for a client of version `v`. */
export function attributesToTemplate(container: Struct, outTag: number, v: ProtocolVersion): Struct {
  return structure(outTag, attributesToV1List(container.value, v));
}

/** Managed-object structures that hold a Key Block (1.4 s.2.2, 2.1 s.2). */
const KEY_BLOCK_OBJECTS: ReadonlySet<number> = new Set([
  Tag.SymmetricKey, Tag.PublicKey, Tag.PrivateKey, Tag.SplitKey, Tag.SecretData, Tag.PGPKey,
]);

export const isKeyBlockObject = (item: TtlvItem) => item.type === 'Structure' && KEY_BLOCK_OBJECTS.has(item.tag);

/** Rewrites the Key Value of an object's Key Block with `fn` (plaintext Key Values are Structures; a wrapped one is a Byte String and has no attributes, 2.1 s.3.1). */
function mapKeyValue(obj: Struct, fn: (kv: Struct) => Struct): Struct {
  let changed = false;
  const value = obj.value.map((c) => {
    if (c.tag !== Tag.KeyBlock || c.type !== 'Structure') return c;
    const kb = c.value.map((k) => {
      if (k.tag !== Tag.KeyValue || k.type !== 'Structure') return k;
      const nk = fn(k);
      if (nk !== k) changed = true;
      return nk;
    });
    return changed ? { ...c, value: kb } : c;
  });
  return changed ? { ...obj, value } : obj;
}

/** 1.x object: Key Value{Key Material, Attribute×n} (1.4 s.2.1.4) → 2.x Key Value{Key Material, Attributes} (2.1 s.3.2). */
export function objectFromV1(obj: Struct): Struct {
  return mapKeyValue(obj, (kv) => {
    if (!kv.value.some((c) => c.tag === Tag.Attribute)) return kv;
    const rest: TtlvItem[] = [];
    const attrs: TtlvItem[] = [];
    for (const c of kv.value) {
      if (c.tag === Tag.Attribute) attrs.push(attributeFromV1(c as Struct));
      else rest.push(c);
    }
    return { ...kv, value: [...rest, structure(Tag.Attributes, attrs)] };
  });
}

/** 2.x object: Key Value{Key Material, Attributes} → 1.x Key Value{Key Material, Attribute×n} (Veeam and other 1.x clients break on the 2.x form). */
export function objectToV1(obj: Struct, v: ProtocolVersion): Struct {
  return mapKeyValue(obj, (kv) => {
    if (!kv.value.some((c) => c.tag === Tag.Attributes)) return kv;
    const out: TtlvItem[] = [];
    for (const c of kv.value) {
      if (c.tag === Tag.Attributes && c.type === 'Structure') out.push(...attributesToV1List(c.value, v));
      else out.push(c);
    }
    return { ...kv, value: out };
  });
}
