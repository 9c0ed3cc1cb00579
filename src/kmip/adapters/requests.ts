// Request payloads of KMIP 1.x → the internal 2.1 model; checks on 2.x request payloads.
import { Tag, TAG_INFO } from '../../ttlv/generated/tags.ts';
import { Operation, ResultReason } from '../../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { KmipError } from '../errors.ts';
import { integer, structure, type Struct } from '../items.ts';
import { atLeast, versionString, type ProtocolVersion } from '../version.ts';
import {
  attributeFromV1, isKeyBlockObject, itemFromV1Attribute, objectFromV1, readV1Attribute,
  referenceFromV1Name, templateObjectFromV1, templateToAttributes,
} from './attributes.ts';

const invalidField = (msg: string) => new KmipError(ResultReason.InvalidField, msg);

/** 1.x Template-Attribute variants → their 2.x attribute containers (1.4 s.2.1.8 → 2.1 s.5.1–5.4). */
const TEMPLATE_TO_ATTRIBUTES: ReadonlyMap<number, number> = new Map([
  [Tag.TemplateAttribute, Tag.Attributes],
  [Tag.CommonTemplateAttribute, Tag.CommonAttributes],
  [Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes],
  [Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes],
]);

/**
 * The rewrites every 1.x payload gets, whatever the operation: Template-Attributes become
 * Attributes, objects get the 2.x Key Value layout, and a Template object (1.4 s.2.2.6;
 * deprecated in 1.3, Reserved in 2.x) keeps its attributes as an internal Attributes
 * structure.
 */
function commonChild(c: TtlvItem): TtlvItem {
  const out = TEMPLATE_TO_ATTRIBUTES.get(c.tag);
  if (out !== undefined) return templateToAttributes(c, out);
  if (isKeyBlockObject(c)) return objectFromV1(c as Struct);
  if (c.tag === Tag.Template) return templateObjectFromV1(c);
  return c;
}

function readAttributeName(c: TtlvItem, where: string): string {
  if (c.type !== 'TextString') throw invalidField(`Attribute Name in ${where} must be a Text String, got ${c.type}`);
  return c.value;
}

/** Locate (1.4 s.4.9): Attribute×n → one Attributes structure, REQUIRED in 2.x even when empty (2.1 s.6.1.28). */
function locate(p: Struct): TtlvItem[] {
  const rest: TtlvItem[] = [];
  const attrs: TtlvItem[] = [];
  for (const c of p.value) {
    if (c.tag === Tag.Attribute) attrs.push(attributeFromV1(c as Struct));
    else rest.push(commonChild(c));
  }
  // 2.1 field order: Maximum Items, Offset Items, Storage Status Mask, Object Group Member, Attributes.
  return [...rest, structure(Tag.Attributes, attrs)];
}

/** Get Attributes (1.4 s.4.12): Attribute Name×n → Attribute Reference×n (2.1 s.6.1.20). */
function getAttributes(p: Struct): TtlvItem[] {
  return p.value.map((c) =>
    c.tag === Tag.AttributeName ? referenceFromV1Name(readAttributeName(c, 'Get Attributes')) : commonChild(c));
}

/**
 * Add Attribute (1.4 s.4.14): Attribute → New Attribute (2.1 s.6.1.2). The request SHALL
 * NOT carry an Attribute Index (the server assigns it); index 0 is tolerated because some
 * clients always write it.
 */
function addAttribute(p: Struct): TtlvItem[] {
  return p.value.map((c) => {
    if (c.tag !== Tag.Attribute) return commonChild(c);
    const a = readV1Attribute(c);
    if (a.index !== undefined && a.index !== 0) {
      throw invalidField(`Add Attribute must not specify an Attribute Index (got ${a.index}); the server assigns it (1.4 s.4.14)`);
    }
    return structure(Tag.NewAttribute, [itemFromV1Attribute(a)]);
  });
}

/**
 * Modify Attribute (1.4 s.4.15): Attribute{Name, Index?, Value} → New Attribute +
 * Attribute Index (the instance to modify; 0 when the 1.x request omits it).
 */
function modifyAttribute(p: Struct): TtlvItem[] {
  const out: TtlvItem[] = [];
  for (const c of p.value) {
    if (c.tag !== Tag.Attribute) { out.push(commonChild(c)); continue; }
    const a = readV1Attribute(c);
    out.push(structure(Tag.NewAttribute, [itemFromV1Attribute(a)]));
    out.push(integer(Tag.AttributeIndex, a.index ?? 0));
  }
  return out;
}

/**
 * Delete Attribute (1.4 s.4.16): Attribute Name + Attribute Index? → Attribute Reference +
 * Attribute Index (0 when omitted: 1.x deletes one instance, where a 2.x reference alone
 * would delete them all).
 */
function deleteAttribute(p: Struct): TtlvItem[] {
  const out: TtlvItem[] = [];
  let index: number | undefined;
  let named = false;
  for (const c of p.value) {
    if (c.tag === Tag.AttributeName) {
      if (named) throw invalidField('Delete Attribute takes one Attribute Name (1.4 s.4.16)');
      named = true;
      out.push(referenceFromV1Name(readAttributeName(c, 'Delete Attribute')));
    } else if (c.tag === Tag.AttributeIndex) {
      if (c.type !== 'Integer' || c.value < 0) throw invalidField('Attribute Index must be a non-negative Integer (1.4 s.4.16)');
      index = c.value;
    } else {
      out.push(commonChild(c));
    }
  }
  if (!named) throw invalidField('Attribute Name is required in Delete Attribute (1.4 s.4.16)');
  out.push(integer(Tag.AttributeIndex, index ?? 0));
  return out;
}

/** Certify / Re-certify: the 1.x Certificate Request Byte String is the 2.x Certificate Request Value (1.4 s.4.7, 2.1 s.6.1.6). */
function certify(p: Struct): TtlvItem[] {
  return p.value.map((c) =>
    c.tag === Tag.CertificateRequest && c.type === 'ByteString'
      ? ({ ...c, tag: Tag.CertificateRequestValue } as TtlvItem)
      : commonChild(c));
}

/** A 1.x request payload in the internal 2.1 shape. */
export function requestFromV1(operation: number, payload: Struct): Struct {
  let value: TtlvItem[];
  switch (operation) {
    case Operation.Locate: value = locate(payload); break;
    case Operation.GetAttributes: value = getAttributes(payload); break;
    case Operation.AddAttribute: value = addAttribute(payload); break;
    case Operation.ModifyAttribute: value = modifyAttribute(payload); break;
    case Operation.DeleteAttribute: value = deleteAttribute(payload); break;
    case Operation.Certify:
    case Operation.ReCertify: value = certify(payload); break;
    default: value = payload.value.map(commonChild);
  }
  return { ...payload, value };
}

/**
 * A 2.x request may not use a tag its version marks Reserved (2.1 s.11 intro): in
 * particular Attribute Index and the Template-Attribute structures, which the internal
 * model gives a meaning of their own for 1.x requests.
 */
export function checkV2Request(v: ProtocolVersion, item: TtlvItem, path: string): void {
  const info = TAG_INFO.get(item.tag);
  if (info?.removed !== undefined && atLeast(v, info.removed)) {
    throw invalidField(`${info.name} is not defined in KMIP ${versionString(v)} (Reserved since ${info.removed}) at ${path}`);
  }
  if (item.type === 'Structure') {
    for (const c of item.value) checkV2Request(v, c, `${path}/${TAG_INFO.get(c.tag)?.name ?? '0x' + c.tag.toString(16)}`);
  }
}
