/**
 * The standard attributes and the rules a client must follow when it supplies them.
 *
 * Facts come from the "attribute rules" table of every attribute (KMIP 2.1 s.4.x; 1.4 s.3.x):
 * "Initially set by", "Modifiable by client", "Deletable by client", "Multiple instances
 * permitted", "Applies to Object Types". Tag numbers, names and since/removed markers come
 * from the generated TAG_INFO (never retyped here).
 *
 * The internal model (kmip/object.ts) keeps attributes as the children of a 2.1 Attributes
 * structure. Vendor attributes (s.4.60) travel as Attribute{VendorIdentification,
 * AttributeName, AttributeValue}; vendor identification "x" carries the 1.x client custom
 * attributes (`x-…`), "y" the server ones (`y-…`), which clients may not touch (1.4 s.3.39).
 */
import { ObjectType, ResultReason, State } from '../ttlv/generated/enumerations.ts';
import { Tag, TAG_INFO, type TagName } from '../ttlv/generated/tags.ts';
import type { ItemTypeName } from '../ttlv/generated/itemTypes.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { enumeration, textString } from '../kmip/items.ts';

/**
 * Who may give the attribute a value:
 * - `server`: only the server; a client supplying it gets AttributeReadOnly.
 * - `create`: the client may supply it in Create/Register (templates in 1.x); afterwards only
 *   what `clientModifiable` / `clientDeletable` allow.
 * - `client`: the client may add it at any time (Add Attribute).
 * - `derived`: the server sets it from the object itself ("Implicitly set by Register,
 *   Certify, Re-certify"), but a client may state it in Register, where the operation checks
 *   it against the object (BL-M-10 registers a certificate with Certificate Type X_509);
 *   read-only afterwards, like `server`.
 */
export type SetBy = 'server' | 'create' | 'client' | 'derived';

export interface AttributeRule {
  readonly tag: number;
  readonly name: TagName;
  readonly type: ItemTypeName;
  readonly multi: boolean;
  readonly setBy: SetBy;
  readonly clientModifiable: boolean;
  readonly clientDeletable: boolean;
  /** Object types the attribute applies to; undefined = every object type. */
  readonly appliesTo?: readonly number[];
  /** States in which a client may modify it (Activation, Deactivation, Process Start, Protect Stop Date). */
  readonly clientModifiableIn?: readonly number[];
  readonly since: string;
  readonly removed?: string;
}

const ASYMMETRIC: readonly number[] = [ObjectType.PublicKey, ObjectType.PrivateKey];
const CERT: readonly number[] = [ObjectType.Certificate];
/**
 * The Managed Cryptographic Objects (2.1 s.2: every managed object but Opaque Object).
 * Process Start Date and Protect Stop Date apply to them: the 1.4 rule tables (s.3.25,
 * s.3.26) list only symmetric and split keys, but their definitions speak of "a Managed
 * Cryptographic Object" and the OASIS profile vectors of both versions set them on other
 * cryptographic objects and expect success: Secret Data (BL-M-4-21), private and public keys
 * (CS-AC-M-8-14, CS-AC-M-8-21).
 */
const CRYPTOGRAPHIC: readonly number[] = [
  ObjectType.Certificate, ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey,
  ObjectType.SplitKey, ObjectType.SecretData, ObjectType.PGPKey,
];

type Row = [TagName, ItemTypeName, 'single' | 'multi', SetBy, 'mod' | '-', 'del' | '-', (readonly number[])?, (readonly number[])?];

// One row per standard attribute of 2.1 s.4 (alphabetical there, one subsection each; the
// rule table of each subsection gives these columns): name, type, instances, set by,
// client-modifiable, client-deletable, applies-to, states in which a client may modify it.
// The last rows are 1.x attributes removed in 2.0, kept so that the 1.x adapter can pass them.
const ROWS: Row[] = [
  ['ActivationDate', 'DateTime', 'single', 'client', 'mod', '-', undefined, [State.PreActive]],
  ['AlternativeName', 'Structure', 'multi', 'client', 'mod', 'del'],
  ['AlwaysSensitive', 'Boolean', 'single', 'server', '-', '-'],
  ['ApplicationSpecificInformation', 'Structure', 'multi', 'client', 'mod', 'del'],
  ['ArchiveDate', 'DateTime', 'single', 'server', '-', '-'],
  ['CertificateType', 'Enumeration', 'single', 'derived', '-', '-', CERT],
  ['CertificateLength', 'Integer', 'single', 'server', '-', '-', CERT],
  ['Comment', 'TextString', 'single', 'client', 'mod', 'del'],
  ['CompromiseDate', 'DateTime', 'single', 'server', '-', '-'],
  ['CompromiseOccurrenceDate', 'DateTime', 'single', 'server', '-', '-'],
  ['ContactInformation', 'TextString', 'single', 'client', 'mod', 'del'],
  ['CryptographicAlgorithm', 'Enumeration', 'single', 'create', '-', '-'],
  ['CryptographicDomainParameters', 'Structure', 'single', 'create', '-', '-', ASYMMETRIC],
  ['CryptographicLength', 'Integer', 'single', 'create', '-', '-'],
  ['CryptographicParameters', 'Structure', 'multi', 'client', 'mod', 'del'], // (multi in 1.x)
  ['CryptographicUsageMask', 'Integer', 'single', 'create', '-', '-'],
  ['DeactivationDate', 'DateTime', 'single', 'client', 'mod', '-', undefined, [State.PreActive, State.Active]],
  ['Description', 'TextString', 'single', 'client', 'mod', 'del'],
  ['DestroyDate', 'DateTime', 'single', 'server', '-', '-'],
  ['Digest', 'Structure', 'multi', 'server', '-', '-'],
  ['DigitalSignatureAlgorithm', 'Enumeration', 'multi', 'server', '-', '-', CERT],
  ['Extractable', 'Boolean', 'single', 'client', 'mod', '-'], // (client may only clear it)
  ['Fresh', 'Boolean', 'single', 'create', '-', '-'], // initially set by server or client (1.4 s.3.34; BL-M-13)
  ['InitialDate', 'DateTime', 'single', 'server', '-', '-'],
  ['KeyFormatType', 'Enumeration', 'single', 'server', '-', '-'],
  ['KeyValueLocation', 'Structure', 'multi', 'create', '-', '-'],
  ['KeyValuePresent', 'Boolean', 'single', 'server', '-', '-'],
  ['LastChangeDate', 'DateTime', 'single', 'server', '-', '-'],
  ['LeaseTime', 'Interval', 'single', 'server', '-', '-'],
  ['Link', 'Structure', 'multi', 'client', 'mod', 'del'],
  ['Name', 'Structure', 'multi', 'client', 'mod', 'del'],
  ['NeverExtractable', 'Boolean', 'single', 'server', '-', '-'],
  ['NISTKeyType', 'Enumeration', 'single', 'create', '-', '-'],
  ['ObjectGroup', 'TextString', 'multi', 'client', '-', 'del'],
  ['ObjectType', 'Enumeration', 'single', 'server', '-', '-'],
  ['OpaqueDataType', 'Enumeration', 'single', 'create', '-', '-', [ObjectType.OpaqueObject]],
  ['OriginalCreationDate', 'DateTime', 'single', 'create', '-', '-'],
  ['PKCS_12FriendlyName', 'TextString', 'single', 'client', 'mod', 'del'],
  ['ProcessStartDate', 'DateTime', 'single', 'client', 'mod', '-', CRYPTOGRAPHIC, [State.PreActive]],
  ['ProtectStopDate', 'DateTime', 'single', 'client', 'mod', '-', CRYPTOGRAPHIC, [State.PreActive]],
  ['ProtectionLevel', 'Enumeration', 'single', 'create', '-', '-'],
  ['ProtectionPeriod', 'Interval', 'single', 'client', 'mod', 'del'],
  ['ProtectionStorageMask', 'Integer', 'single', 'server', '-', '-'],
  ['QuantumSafe', 'Boolean', 'single', 'create', '-', '-'],
  ['RandomNumberGenerator', 'Structure', 'single', 'create', '-', '-'],
  ['RevocationReason', 'Structure', 'single', 'server', '-', '-'],
  ['RotateDate', 'DateTime', 'single', 'client', 'mod', 'del'],
  ['RotateGeneration', 'Integer', 'single', 'server', '-', '-'],
  ['RotateInterval', 'Interval', 'single', 'client', 'mod', 'del'],
  ['RotateLatest', 'Boolean', 'single', 'server', '-', '-'],
  ['RotateName', 'Structure', 'single', 'client', 'mod', 'del'],
  ['RotateOffset', 'Interval', 'single', 'client', 'mod', 'del'],
  ['RotateAutomatic', 'Boolean', 'single', 'client', 'mod', 'del'],
  ['Sensitive', 'Boolean', 'single', 'client', 'mod', '-'], // (client may only set it)
  ['ShortUniqueIdentifier', 'ByteString', 'single', 'server', '-', '-'],
  ['State', 'Enumeration', 'single', 'server', '-', '-'],
  ['UniqueIdentifier', 'TextString', 'single', 'server', '-', '-'],
  ['UsageLimits', 'Structure', 'single', 'create', '-', '-'],
  ['X_509CertificateIdentifier', 'Structure', 'single', 'server', '-', '-', CERT],
  ['X_509CertificateIssuer', 'Structure', 'single', 'server', '-', '-', CERT],
  ['X_509CertificateSubject', 'Structure', 'single', 'server', '-', '-', CERT],
  // 1.x attributes removed in 2.0 (1.4 s.3.13 Operation Policy Name; s.3.37 Custom Attribute
  // is converted to a vendor Attribute by the adapter).
  ['OperationPolicyName', 'TextString', 'single', 'client', 'mod', 'del'],
  ['CertificateIdentifier', 'Structure', 'single', 'server', '-', '-', CERT],
  ['CertificateSubject', 'Structure', 'single', 'server', '-', '-', CERT],
  ['CertificateIssuer', 'Structure', 'single', 'server', '-', '-', CERT],
];

// 2.1 s.4 Certificate Attributes: the parsed subject and issuer fields, one tag each, set by
// the server from the certificate (BL-M-10: modifying Certificate Length → AttributeReadOnly).
const CERT_FIELD_TAGS = [...TAG_INFO.values()]
  .map((i) => i.name)
  .filter((n) => /^Certificate(Subject|Issuer)(CN|O|OU|Email|C|ST|L|UID|SerialNumber|Title|DC|DNQualifier)$/.test(n));

function buildTable(): Map<number, AttributeRule> {
  const table = new Map<number, AttributeRule>();
  const rows = [...ROWS];
  for (const n of CERT_FIELD_TAGS) rows.push([n, 'TextString', 'single', 'server', '-', '-', CERT]);
  for (const [name, type, inst, setBy, mod, del, appliesTo, modIn] of rows) {
    const tag = Tag[name];
    const info = TAG_INFO.get(tag);
    if (info === undefined) throw new Error(`attribute table: ${name} is not in TAG_INFO`);
    table.set(tag, {
      tag, name, type, multi: inst === 'multi', setBy,
      clientModifiable: mod === 'mod', clientDeletable: del === 'del',
      ...(appliesTo ? { appliesTo } : {}),
      ...(modIn ? { clientModifiableIn: modIn } : {}),
      since: info.since,
      ...(info.removed ? { removed: info.removed } : {}),
    });
  }
  return table;
}

/** Every standard attribute, by tag. Vendor attributes (Tag.Attribute) are handled apart. */
export const ATTRIBUTE_RULES: ReadonlyMap<number, AttributeRule> = buildTable();

export const isStandardAttribute = (tag: number): boolean => ATTRIBUTE_RULES.has(tag);

/** The identity of a vendor attribute: "vendor/name". */
export interface VendorKey { vendor: string; name: string }

/** Vendor identification and name of a vendor Attribute structure (s.4.60), or undefined when malformed. */
export function vendorKey(item: TtlvItem): VendorKey | undefined {
  if (item.tag !== Tag.Attribute || item.type !== 'Structure') return undefined;
  let vendor: string | undefined;
  let name: string | undefined;
  for (const c of item.value) {
    if (c.tag === Tag.VendorIdentification && c.type === 'TextString') vendor = c.value;
    else if (c.tag === Tag.AttributeName && c.type === 'TextString') name = c.value;
  }
  return vendor !== undefined && name !== undefined ? { vendor, name } : undefined;
}

/**
 * What the client is doing with the attributes. 'import' is Import (2.1 s.6.1.24): the
 * attributes of an exported object come back as they were, server-set ones included, so
 * only their shape is checked (types, object types, single instances).
 */
export type AttributeChange = 'create' | 'register' | 'import' | 'add' | 'set' | 'modify' | 'delete';

export interface CheckOptions {
  /** The object's current state, to apply the state limits of the date attributes. */
  state?: number;
  /** The object's type, to refuse attributes that do not apply to it. */
  objectType?: number;
}

const fail = (reason: number, message: string): never => {
  throw new KmipError(reason, message);
};

/**
 * Refuses attributes a client may not supply in this kind of request, with the reasons of
 * the 2.1 error tables: s.6.1.2.1 (Add Attribute), s.6.1.13.1 (Delete), s.6.1.34.1 (Modify),
 * s.6.1.51.1 (Set), s.6.1.8.1 / s.6.1.43.1 (Create, Register). 2.x-only reasons are mapped
 * for 1.x clients by `reasonForVersion` (lifecycle.ts → kmip/adapters/reasons.ts).
 *
 * For 'create'/'register' the list is the whole Attributes structure, so repeated
 * single-instance attributes are refused here too.
 */
export function checkClientAttributes(attrs: TtlvItem[], when: AttributeChange, opts: CheckOptions = {}): void {
  const seen = new Map<number, number>();
  for (const a of attrs) {
    if (a.tag === Tag.Attribute) {
      checkVendor(a, when);
      continue;
    }
    const rule = ATTRIBUTE_RULES.get(a.tag);
    if (rule === undefined) {
      const info = TAG_INFO.get(a.tag);
      fail(ResultReason.InvalidAttribute, `${info?.name ?? '0x' + a.tag.toString(16)} is not an attribute`);
      return;
    }
    // An Attribute Reference / Current Attribute used by Delete only names the attribute.
    if (when !== 'delete' && a.type !== rule.type) {
      fail(ResultReason.InvalidAttributeValue, `${rule.name} must be a ${rule.type}, got ${a.type}`);
    }
    if (opts.objectType !== undefined && rule.appliesTo !== undefined && !rule.appliesTo.includes(opts.objectType)) {
      fail(ResultReason.InvalidAttribute, `${rule.name} does not apply to this object type`);
    }
    const n = (seen.get(a.tag) ?? 0) + 1;
    seen.set(a.tag, n);
    if ((when === 'create' || when === 'register' || when === 'import') && !rule.multi && n > 1) {
      fail(ResultReason.AttributeSingleValued, `${rule.name} is single-valued and was given ${n} times`);
    }
    switch (when) {
      case 'create':
        if (rule.setBy === 'server' || rule.setBy === 'derived') fail(ResultReason.AttributeReadOnly, `${rule.name} is set by the server`);
        break;
      case 'register':
        // a `derived` attribute may be stated; Register checks it against the object
        if (rule.setBy === 'server') fail(ResultReason.AttributeReadOnly, `${rule.name} is set by the server`);
        break;
      case 'import':
        break;
      case 'add':
        if (rule.setBy !== 'client') fail(ResultReason.AttributeReadOnly, `${rule.name} cannot be added by a client`);
        break;
      case 'set':
        if (rule.multi) fail(ResultReason.MultiValuedAttribute, `${rule.name} is multi-valued: use Add or Modify Attribute`);
        // s.6.1.51: Set creates or replaces; both need the client's right to give a value
        if (!(rule.setBy === 'client' && rule.clientModifiable)) fail(ResultReason.AttributeReadOnly, `${rule.name} is read-only for clients`);
        break;
      case 'modify':
        if (!rule.clientModifiable) fail(ResultReason.AttributeReadOnly, `${rule.name} is read-only for clients`);
        break;
      case 'delete':
        if (!rule.clientDeletable) fail(ResultReason.AttributeReadOnly, `${rule.name} cannot be deleted by a client`);
        break;
    }
    if ((when === 'modify' || when === 'set' || when === 'add') && rule.clientModifiableIn && opts.state !== undefined) {
      if (!rule.clientModifiableIn.includes(opts.state)) {
        fail(ResultReason.WrongKeyLifecycleState, `${rule.name} cannot be changed in the object's current state`);
      }
    }
  }
}

function checkVendor(a: TtlvItem, when: AttributeChange): void {
  const key = vendorKey(a);
  if (key === undefined) fail(ResultReason.InvalidAttribute, 'vendor Attribute needs Vendor Identification and Attribute Name');
  if (when !== 'delete' && a.type === 'Structure' && !a.value.some((c) => c.tag === Tag.AttributeValue)) {
    fail(ResultReason.InvalidAttributeValue, 'vendor Attribute needs an Attribute Value');
  }
  // 1.4 s.3.39: `y-` (vendor "y") custom attributes belong to the server (an Import
  // restores them as exported).
  if (when !== 'import' && (key!.vendor === 'y' || key!.name.startsWith('y-'))) fail(ResultReason.AttributeReadOnly, `${key!.name} is a server attribute`);
}

// ---- small helpers over attribute lists ----------------------------------------------

/** Two TTLV items equal in tag, type and value (structures compared child by child). */
export function itemsEqual(a: TtlvItem, b: TtlvItem): boolean {
  if (a.tag !== b.tag || a.type !== b.type) return false;
  if (a.type === 'Structure') {
    const bv = b.value as TtlvItem[];
    return a.value.length === bv.length && a.value.every((c, i) => itemsEqual(c, bv[i]!));
  }
  if (a.type === 'ByteString') return a.value.equals(b.value as Buffer);
  return a.value === b.value;
}

/** Is `b` the same attribute as `a` (same tag, and for vendor attributes same vendor/name)? */
export function sameAttribute(a: TtlvItem, b: TtlvItem): boolean {
  if (a.tag !== b.tag) return false;
  if (a.tag !== Tag.Attribute) return true;
  const ka = vendorKey(a);
  const kb = vendorKey(b);
  return ka !== undefined && kb !== undefined && ka.vendor === kb.vendor && ka.name === kb.name;
}

export const getAttr = (attrs: readonly TtlvItem[], tag: number): TtlvItem | undefined => attrs.find((a) => a.tag === tag);
export const getAttrs = (attrs: readonly TtlvItem[], tag: number): TtlvItem[] => attrs.filter((a) => a.tag === tag);

/** Replaces every instance of the attribute with `item` (single-instance set), keeping its position. */
export function setAttr(attrs: TtlvItem[], item: TtlvItem): void {
  const i = attrs.findIndex((a) => sameAttribute(a, item));
  if (i < 0) {
    attrs.push(item);
    return;
  }
  attrs[i] = item;
  for (let j = attrs.length - 1; j > i; j--) if (sameAttribute(attrs[j]!, item)) attrs.splice(j, 1);
}

/** Removes every instance with the tag; returns how many went. */
export function removeAttr(attrs: TtlvItem[], tag: number): number {
  let n = 0;
  for (let j = attrs.length - 1; j >= 0; j--) if (attrs[j]!.tag === tag) { attrs.splice(j, 1); n++; }
  return n;
}

/**
 * The full attribute list of an object as clients see it: UniqueIdentifier, ObjectType and
 * State (kept in their own fields) first, then the stored attributes.
 */
export function withObjectMeta(obj: Pick<ManagedObject, 'uid' | 'objectType' | 'state' | 'attributes'>): TtlvItem[] {
  return [
    textString(Tag.UniqueIdentifier, obj.uid),
    enumeration(Tag.ObjectType, obj.objectType),
    enumeration(Tag.State, obj.state),
    ...obj.attributes.filter((a) => a.tag !== Tag.UniqueIdentifier && a.tag !== Tag.ObjectType && a.tag !== Tag.State),
  ];
}

// ---- request shapes shared by the attribute operations ------------------------------------

/** What an Attribute Reference (2.x s.5.5 / s.6.1.20) names: a standard tag or a vendor attribute. */
export type AttributeRef = { tag: number } | { tag: typeof Tag.Attribute; vendor: string; name: string };

const SPEC_NAME_TO_TAG: ReadonlyMap<string, number> = new Map(
  [...TAG_INFO.entries()].filter(([t]) => ATTRIBUTE_RULES.has(t)).map(([t, i]) => [i.specName, t]),
);
/** The same attributes under their normalized names ("CryptographicLength", the XML/JSON encodings' form). */
const NORMALIZED_NAME_TO_TAG: ReadonlyMap<string, number> = new Map(
  Object.entries(Tag).filter(([, t]) => ATTRIBUTE_RULES.has(t)),
);

/**
 * Parses an Attribute Reference: an Enumeration holding a tag value, or a Structure
 * {Vendor Identification, Attribute Name}. A 1.x Attribute Name text ("Cryptographic
 * Length", "x-Barcode") is accepted too, so that a 1.x request converted by the adapter
 * without renaming still works.
 */
export function parseAttributeReference(item: TtlvItem): AttributeRef {
  if (item.type === 'Enumeration') {
    if (item.value !== Tag.Attribute && !ATTRIBUTE_RULES.has(item.value)) {
      throw new KmipError(ResultReason.InvalidField, `Attribute Reference 0x${item.value.toString(16)} names no attribute`);
    }
    return { tag: item.value };
  }
  if (item.type === 'Structure') {
    const key = vendorKey({ ...item, tag: Tag.Attribute });
    if (key === undefined) throw new KmipError(ResultReason.InvalidField, 'Attribute Reference needs Vendor Identification and Attribute Name');
    // 2.1 s.5.5 gives standard attributes the Enumeration form, but PyKMIP 0.10's
    // delete_attribute sends AttributeReference{Vendor Identification "", Attribute Name
    // "Name"}. No vendor has an empty identification (s.4.60 ties vendor attributes to a
    // vendor), so that form can only mean the standard attribute of that name.
    if (key.vendor === '') {
      const tag = SPEC_NAME_TO_TAG.get(key.name) ?? NORMALIZED_NAME_TO_TAG.get(key.name);
      if (tag === undefined) {
        throw new KmipError(ResultReason.InvalidField, `Attribute Reference with an empty Vendor Identification must name a standard attribute; "${key.name}" is none (2.1 s.5.5)`);
      }
      return { tag };
    }
    return { tag: Tag.Attribute, vendor: key.vendor, name: key.name };
  }
  if (item.type === 'TextString') {
    const tag = SPEC_NAME_TO_TAG.get(item.value);
    if (tag !== undefined) return { tag };
    const m = /^([xy])-/.exec(item.value);
    // 1.4 s.3.39: custom attribute names start with x- (client) or y- (server); they
    // become vendor attributes with vendor identification "x" / "y" (2.1 s.4.60).
    if (m) return { tag: Tag.Attribute, vendor: m[1]!, name: item.value.slice(2) };
    throw new KmipError(ResultReason.InvalidField, `unknown attribute name "${item.value}"`);
  }
  throw new KmipError(ResultReason.InvalidField, `Attribute Reference must be an Enumeration or a Structure, got ${item.type}`);
}

/** Does the attribute instance fall under the reference? */
export function matchesReference(attr: TtlvItem, ref: AttributeRef): boolean {
  if (attr.tag !== ref.tag) return false;
  if (!('vendor' in ref)) return true;
  const key = vendorKey(attr);
  return key !== undefined && key.vendor === ref.vendor && key.name === ref.name;
}

/** The reference that names an attribute instance (Get Attribute List, s.6.1.21). */
export function referenceOf(attr: TtlvItem): AttributeRef {
  const key = vendorKey(attr);
  return key !== undefined ? { tag: Tag.Attribute, vendor: key.vendor, name: key.name } : { tag: attr.tag };
}

/**
 * The one attribute inside a New Attribute / Current Attribute structure (2.x s.6.1.2 etc.).
 * A 1.x Attribute Index, when the adapter keeps one, may sit beside it in the structure.
 */
export function attributeIn(container: TtlvItem, field: string): { attr: TtlvItem; index?: number } {
  if (container.type !== 'Structure') throw new KmipError(ResultReason.InvalidField, `${field} must be a Structure`);
  let index: number | undefined;
  const attrs: TtlvItem[] = [];
  for (const c of container.value) {
    if (c.tag === Tag.AttributeIndex) {
      if (c.type !== 'Integer' || c.value < 0) throw new KmipError(ResultReason.InvalidField, 'Attribute Index must be a non-negative Integer');
      index = c.value;
    } else attrs.push(c);
  }
  if (attrs.length !== 1) throw new KmipError(ResultReason.InvalidField, `${field} must hold exactly one attribute, got ${attrs.length}`);
  return index === undefined ? { attr: attrs[0]! } : { attr: attrs[0]!, index };
}
