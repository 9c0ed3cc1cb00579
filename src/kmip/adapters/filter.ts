// The version filter: a response never carries a tag, an item type, an enumeration value or
// a mask bit that the client's protocol version does not define. Older clients are strict
// about this (Percona's KMIP 1.0 client fails on Fresh, a 1.1 tag; 1.x clients do not know
// the 2.x attributes), and 2.x clients must not see tags that 2.0 made Reserved (2.1 s.11
// intro: "Reserved" tags SHALL NOT be used).
import { TAG_INFO } from '../../ttlv/generated/tags.ts';
import { ITEM_TYPE_INFO } from '../../ttlv/generated/itemTypes.ts';
import { ENUMERATIONS, ENUMERATION_FOR_TAG, type EnumValueInfo } from '../../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import { atLeast, type ProtocolVersion } from '../version.ts';
import { attributeByTag, attributeDefinedIn } from '../attribute-names.ts';

/** Structures whose children are attributes (2.1 s.5.1–5.4, s.5.6, s.5.7). */
const ATTRIBUTE_CONTAINERS: ReadonlySet<number> = new Set([
  Tag.Attributes, Tag.CommonAttributes, Tag.PrivateKeyAttributes, Tag.PublicKeyAttributes,
  Tag.CurrentAttribute, Tag.NewAttribute,
]);

/** Standard tags are 0x42XXXX; 0x54XXXX are extensions (2.1 s.11.56), owned by their vendor. */
const isExtensionTag = (tag: number) => tag >= 0x540000 && tag <= 0x54ffff;
/** Enumeration values with first nibble 8 are extensions (2.1 s.11 intro). */
const isExtensionValue = (v: number) => v >>> 28 === 0x8;

/**
 * Fields whose tag is older than their place in a structure: the tag filter alone would let
 * them through to a version whose structure has no such field. Everything else of the audit
 * (Key Block, Key Wrapping Data's Encoding Option, the Query payload's Extension Information
 * and later fields, the attestation fields, Cryptographic Parameters' IV/tag/counter and PSS
 * fields) is covered by the tags' own `since` in kmip-constants.json, because those tags were
 * introduced together with the field. Parent tag → field tag → first version with the field.
 */
export const FIELD_SINCE: ReadonlyMap<number, ReadonlyMap<number, string>> = new Map<number, ReadonlyMap<number, string>>([
  // 1.0 s.3.17 Digest = {Hashing Algorithm, Digest Value}; 1.1 s.3.17 adds Key Format Type.
  [Tag.Digest, new Map<number, string>([[Tag.KeyFormatType, '1.1']])],
  // 1.0/1.1 s.3.6 Cryptographic Parameters = {Block Cipher Mode, Padding Method, Hashing
  // Algorithm, Key Role Type}; 1.2 s.3.6 adds Digital Signature Algorithm and Cryptographic
  // Algorithm (tags of 1.1 and 1.0 attributes) with Random IV, IV Length… (1.2 tags).
  [Tag.CryptographicParameters, new Map<number, string>([[Tag.DigitalSignatureAlgorithm, '1.2'], [Tag.CryptographicAlgorithm, '1.2']])],
]);

const definedIn = (v: ProtocolVersion, since: string, removed?: string) =>
  atLeast(v, since) && (removed === undefined || !atLeast(v, removed));

/** Whether the tag exists in the tag table of `v`. Unknown standard tags exist in none. */
export function tagDefinedIn(tag: number, v: ProtocolVersion): boolean {
  if (isExtensionTag(tag)) return true;
  const info = TAG_INFO.get(tag);
  return info !== undefined && definedIn(v, info.since, info.removed);
}

const valueInfoCache = new Map<string, Map<number, EnumValueInfo>>();
function valueInfos(enumName: string): Map<number, EnumValueInfo> | undefined {
  let m = valueInfoCache.get(enumName);
  if (m !== undefined) return m;
  const e = ENUMERATIONS[enumName];
  if (e === undefined) return undefined;
  m = new Map();
  for (const [k, val] of Object.entries(e.values)) {
    const info = e.valueInfo[k];
    if (info !== undefined) m.set(val, info);
  }
  valueInfoCache.set(enumName, m);
  return m;
}

/** Bits of a mask that `v` defines (2.1 s.12; 1.x masks lost Export, Translate… in 2.0). */
const maskCache = new Map<string, number>();
function definedBits(enumName: string, v: ProtocolVersion): number {
  const key = `${enumName}@${v.major}.${v.minor}`;
  let bits = maskCache.get(key);
  if (bits !== undefined) return bits;
  bits = 0;
  const known = valueInfos(enumName);
  let all = 0;
  for (const [bit, info] of known ?? []) {
    all |= bit;
    if (definedIn(v, info.since, info.removed)) bits |= bit;
  }
  // Bits that no version defines are left alone: the server never sets them itself, and
  // clearing them would silently alter a value a client stored.
  bits = (bits | ~all) >>> 0;
  maskCache.set(key, bits);
  return bits;
}

/** Is this enumeration value defined in `v`? Unknown values and extension values are kept. */
function enumValueDefinedIn(tag: number, value: number, v: ProtocolVersion): boolean {
  if (isExtensionValue(value)) return true;
  if (tag === Tag.AttributeReference) {
    // An Attribute Reference enumeration is the tag of an attribute (2.1 s.5.5).
    const def = attributeByTag(value);
    return def !== undefined ? attributeDefinedIn(def, v) : tagDefinedIn(value, v);
  }
  const enumName = ENUMERATION_FOR_TAG.get(tag);
  if (enumName === undefined) return true;
  const info = valueInfos(enumName)?.get(value);
  return info === undefined || definedIn(v, info.since, info.removed);
}

/**
 * The item as a client of version `v` may see it, or undefined when the item itself is not
 * defined in `v`. Structures are filtered recursively; items are copied only when something
 * inside them changed.
 */
export function filterForVersion(item: TtlvItem, v: ProtocolVersion): TtlvItem | undefined {
  if (!atLeast(v, ITEM_TYPE_INFO[item.type].since)) return undefined; // Date Time Extended is 2.0+ (2.1 s.10.1.2)
  if (!tagDefinedIn(item.tag, v)) return undefined;
  switch (item.type) {
    case 'Enumeration':
      return enumValueDefinedIn(item.tag, item.value, v) ? item : undefined;
    case 'Integer': {
      const enumName = ENUMERATION_FOR_TAG.get(item.tag);
      if (enumName === undefined || ENUMERATIONS[enumName]?.kind !== 'mask') return item;
      const masked = (item.value & definedBits(enumName, v)) | 0;
      return masked === item.value ? item : { ...item, value: masked };
    }
    case 'Structure': {
      let changed = false;
      const out: TtlvItem[] = [];
      // Children of an attribute container are attributes: a tag that predates its
      // attribute (Key Format Type is a 1.x field but only a 2.x attribute) is judged as one.
      const each = ATTRIBUTE_CONTAINERS.has(item.tag) ? filterAttribute : filterForVersion;
      const fieldSince = FIELD_SINCE.get(item.tag);
      for (const c of item.value) {
        const since = fieldSince?.get(c.tag);
        const f = since !== undefined && !atLeast(v, since) ? undefined : each(c, v);
        if (f !== c) changed = true;
        if (f !== undefined) out.push(f);
      }
      return changed ? { ...item, value: out } : item;
    }
    default:
      return item;
  }
}

/**
 * One attribute (a child of a 2.x Attributes structure) as version `v` may see it: the
 * attribute must exist in `v` (as an attribute, not only as a tag), and its value is
 * filtered like any item. Vendor attributes (2.1 s.4.60) pass when their tag does.
 */
export function filterAttribute(item: TtlvItem, v: ProtocolVersion): TtlvItem | undefined {
  const def = attributeByTag(item.tag);
  if (def !== undefined && !attributeDefinedIn(def, v)) return undefined;
  const out = filterForVersion(item, v);
  // A vendor attribute (2.1 s.4.60) whose Attribute Value `v` cannot carry (a Date Time
  // Extended for a 1.x client) is left out whole: without its value it is no attribute
  // (1.4 s.2.1.1 requires one), and the 1.x conversion would have nothing to write.
  if (out !== item && out !== undefined && item.tag === Tag.Attribute && item.type === 'Structure' && out.type === 'Structure'
    && item.value.some((c) => c.tag === Tag.AttributeValue) && !out.value.some((c) => c.tag === Tag.AttributeValue)) {
    return undefined;
  }
  return out;
}
