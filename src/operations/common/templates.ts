// KMIP 1.x Template objects (1.4 s.2.2.6; deprecated in 1.3, removed in 2.0) and the
// Template Names of a Template-Attribute (1.4 s.2.1.8).
//
// The 1.x request adapter keeps the Names a Template-Attribute lists inside an internal
// TEMPLATE_NAMES_TAG marker (kmip/adapters/attributes.ts); resolving them needs the store,
// so each object-creating operation (Create, Create Key Pair, Register, Re-key, Re-key Key
// Pair) calls `applyTemplates` first. A Template is visible to 1.x clients only: the 2.x
// object model has no such type.
import { ObjectType, ResultReason } from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { KmipError } from '../../kmip/errors.ts';
import { child, isStructure, structure, type Struct } from '../../kmip/items.ts';
import type { ManagedObject } from '../../kmip/object.ts';
import { TEMPLATE_NAMES_TAG, attributeKey } from '../../kmip/adapters/attributes.ts';
import { checkClientAttributes } from '../../policy/attributes.ts';
import { objectNotFoundReason } from '../../policy/lifecycle.ts';
import type { OperationContext } from '../types.ts';

/** The attribute containers a creating operation may carry (2.1 s.5.1–5.4, from 1.4 s.2.1.8). */
const CONTAINERS: ReadonlySet<number> = new Set([
  Tag.Attributes, Tag.CommonAttributes, Tag.PrivateKeyAttributes, Tag.PublicKeyAttributes,
]);

/**
 * Attributes a Template never passes on (1.4 s.2.2.6): its Name names the template
 * itself, not the objects made from it.
 */
const NOT_INHERITED: ReadonlySet<number> = new Set([Tag.Name]);

/** True for a 2.x request, to which Template objects do not exist. */
const is2x = (ctx: OperationContext): boolean => ctx.version.major >= 2;

/**
 * Refuses to show a Template object to a 2.x client, as if it did not exist (the 2.x
 * Object Type enumeration has Template as Reserved, 2.1 s.11.29).
 */
export function assertVisibleObject(ctx: OperationContext, obj: Pick<ManagedObject, 'uid' | 'objectType'>): void {
  if (obj.objectType === ObjectType.Template && is2x(ctx)) {
    throw new KmipError(objectNotFoundReason(ctx.version), `object ${obj.uid} not found`);
  }
}

/** The attribute items (internal 2.1 form) a stored Template holds. */
export function templateAttributes(value: TtlvItem | undefined): TtlvItem[] {
  if (!isStructure(value) || value.tag !== Tag.Template) return [];
  const attrs = child(value, Tag.Attributes);
  return isStructure(attrs) ? attrs.value : [];
}

/**
 * Checks the attribute list of a Template object being registered (1.4 s.2.2.6): the same
 * rules as attributes given at creation (server-set attributes refused, single-valued ones
 * not repeated). No object type is given: a template may serve several types.
 */
export function checkTemplateContent(value: Struct): TtlvItem[] {
  const attrs = child(value, Tag.Attributes);
  if (!isStructure(attrs)) throw new KmipError(ResultReason.InvalidField, 'a Template holds a list of Attribute structures (1.4 s.2.2.6)');
  const list = [...attrs.value];
  checkClientAttributes(list, 'register');
  return list;
}

function nameValueOf(name: TtlvItem): string {
  const v = isStructure(name) ? child(name, Tag.NameValue) : undefined;
  if (v?.type !== 'TextString') throw new KmipError(ResultReason.InvalidField, 'a Template Name needs a Name Value text string (1.4 s.3.2)');
  return v.value;
}

/**
 * The Template object named `name` in the caller's tenant (the repository only shows the
 * caller's objects), or Item Not Found (1.4 s.4.1 / s.11: no object matches the name).
 */
async function loadTemplate(ctx: OperationContext, name: string): Promise<ManagedObject> {
  for await (const meta of ctx.objects.scan({ name, objectType: ObjectType.Template })) {
    if (meta.objectType !== ObjectType.Template) continue;
    const obj = await ctx.objects.load(meta.uid);
    // A destroyed Template has lost its attribute list along with its value.
    if (obj?.value !== undefined) return obj;
  }
  throw new KmipError(ResultReason.ItemNotFound, `no Template object is named "${name}" (1.4 s.2.1.8)`);
}

/**
 * One attribute container with its Template Names resolved: the templates' attributes, in
 * the order the names are listed (a later template's value of an attribute replaces an
 * earlier one's), then the explicit attributes, which replace every inherited instance of
 * the same attribute (1.4 s.2.1.8: attributes in the Template-Attribute take precedence).
 */
async function resolveContainer(ctx: OperationContext, container: Struct): Promise<Struct> {
  const markers = container.value.filter((c) => c.tag === TEMPLATE_NAMES_TAG);
  if (markers.length === 0) return container;
  if (is2x(ctx)) {
    // The marker is this server's internal form of a 1.x field; a 2.x request cannot carry it.
    throw new KmipError(ResultReason.InvalidAttribute, `tag 0x${TEMPLATE_NAMES_TAG.toString(16)} is not an attribute`);
  }
  const explicit = container.value.filter((c) => c.tag !== TEMPLATE_NAMES_TAG);
  const inherited = new Map<string, TtlvItem[]>();
  for (const marker of markers) {
    if (!isStructure(marker)) throw new KmipError(ResultReason.InvalidField, 'malformed Template Names');
    for (const name of marker.value) {
      const template = await loadTemplate(ctx, nameValueOf(name));
      const own = new Map<string, TtlvItem[]>();
      for (const a of templateAttributes(template.value)) {
        if (NOT_INHERITED.has(a.tag)) continue;
        const k = attributeKey(a);
        own.set(k, [...(own.get(k) ?? []), a]);
      }
      // Whole attributes (all their instances) replace those of earlier templates.
      for (const [k, items] of own) inherited.set(k, items);
    }
  }
  const given = new Set(explicit.map(attributeKey));
  const merged: TtlvItem[] = [];
  for (const [k, items] of inherited) if (!given.has(k)) merged.push(...items);
  return structure(container.tag, [...merged, ...explicit]);
}

/**
 * The request payload with every Template Name of its attribute containers replaced by
 * the named templates' attributes (1.4 s.2.1.8, s.4.1 Create, s.4.2 Create Key Pair, s.4.3
 * Register, s.4.4 Re-key, s.4.5 Re-key Key Pair). Payloads without Template Names come
 * back unchanged.
 */
export async function applyTemplates(ctx: OperationContext, payload: Struct): Promise<Struct> {
  if (!payload.value.some((c) => CONTAINERS.has(c.tag) && isStructure(c) && c.value.some((a) => a.tag === TEMPLATE_NAMES_TAG))) {
    return payload;
  }
  const value: TtlvItem[] = [];
  for (const c of payload.value) {
    value.push(CONTAINERS.has(c.tag) && isStructure(c) ? await resolveContainer(ctx, c) : c);
  }
  return { ...payload, value };
}
