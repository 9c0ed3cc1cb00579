// KMIP attribute names: the 1.x Attribute Name text (1.4 s.2.1.1, s.3) ⇄ the 2.x attribute
// tag (2.1 s.4). In 1.x an attribute travels as Attribute{Attribute Name, Attribute Index,
// Attribute Value}; the name is the spec name of the attribute, which is also the spec
// name of the tag 2.x uses for it ("Cryptographic Usage Mask" ⇄ 0x42002C). Custom
// attributes ("x-…" set by clients, "y-…" set by servers, 1.4 s.3.39) become 2.x vendor
// attributes with Vendor Identification "x"/"y" (2.1 s.4.60).
//
// Only tags listed here are attributes; every other tag (Block Cipher Mode, Key Material…)
// is a field and must not be accepted as an Attribute Name.
import { Tag, TAG_INFO, type TagName } from '../ttlv/generated/tags.ts';
import type { ItemTypeName } from '../ttlv/generated/itemTypes.ts';
import { atLeast, type ProtocolVersion } from './version.ts';

export interface AttributeDef {
  readonly tag: number;
  readonly name: TagName;
  /** The spec name: the 1.x Attribute Name text (and the 2.x tag's spec name). */
  readonly specName: string;
  /** Item type of the attribute value. */
  readonly type: ItemTypeName;
  /** First version in which this tag is an attribute. */
  readonly since: string;
  /** Version from which the attribute no longer exists (2.0 for the 1.x-only attributes). */
  readonly removed?: string;
}

/**
 * Attribute tags with their value types (1.4 s.3, 2.1 s.4). `since` defaults to the tag's
 * first version; the override is for tags that existed as fields before they became
 * attributes (Key Format Type and Opaque Data Type are attributes only from 2.0, 2.1 s.4.26,
 * s.4.37).
 */
const TABLE: ReadonlyArray<readonly [TagName, ItemTypeName, string?]> = [
  ['UniqueIdentifier', 'TextString'],
  ['Name', 'Structure'],
  ['ObjectType', 'Enumeration'],
  ['CryptographicAlgorithm', 'Enumeration'],
  ['CryptographicLength', 'Integer'],
  ['CryptographicParameters', 'Structure'],
  ['CryptographicDomainParameters', 'Structure'],
  ['CertificateType', 'Enumeration'],
  ['CertificateLength', 'Integer'],
  ['X_509CertificateIdentifier', 'Structure'],
  ['X_509CertificateSubject', 'Structure'],
  ['X_509CertificateIssuer', 'Structure'],
  ['DigitalSignatureAlgorithm', 'Enumeration'],
  ['Digest', 'Structure'],
  ['CryptographicUsageMask', 'Integer'],
  ['LeaseTime', 'Interval'],
  ['UsageLimits', 'Structure'],
  ['State', 'Enumeration'],
  ['InitialDate', 'DateTime'],
  ['ActivationDate', 'DateTime'],
  ['ProcessStartDate', 'DateTime'],
  ['ProtectStopDate', 'DateTime'],
  ['DeactivationDate', 'DateTime'],
  ['DestroyDate', 'DateTime'],
  ['CompromiseOccurrenceDate', 'DateTime'],
  ['CompromiseDate', 'DateTime'],
  ['RevocationReason', 'Structure'],
  ['ArchiveDate', 'DateTime'],
  ['ObjectGroup', 'TextString'],
  ['Fresh', 'Boolean'],
  ['Link', 'Structure'],
  ['ApplicationSpecificInformation', 'Structure'],
  ['ContactInformation', 'TextString'],
  ['LastChangeDate', 'DateTime'],
  ['AlternativeName', 'Structure'],
  ['KeyValuePresent', 'Boolean'],
  ['KeyValueLocation', 'Structure'],
  ['OriginalCreationDate', 'DateTime'],
  ['RandomNumberGenerator', 'Structure'],
  ['PKCS_12FriendlyName', 'TextString'],
  ['Description', 'TextString'],
  ['Comment', 'TextString'],
  ['Sensitive', 'Boolean'],
  ['AlwaysSensitive', 'Boolean'],
  ['Extractable', 'Boolean'],
  ['NeverExtractable', 'Boolean'],
  // Certificate Attributes (1.4 s.3.43, 2.1 s.4.6): one Text String attribute per field.
  ['CertificateSubjectCN', 'TextString'], ['CertificateSubjectO', 'TextString'],
  ['CertificateSubjectOU', 'TextString'], ['CertificateSubjectEmail', 'TextString'],
  ['CertificateSubjectC', 'TextString'], ['CertificateSubjectST', 'TextString'],
  ['CertificateSubjectL', 'TextString'], ['CertificateSubjectUID', 'TextString'],
  ['CertificateSubjectSerialNumber', 'TextString'], ['CertificateSubjectTitle', 'TextString'],
  ['CertificateSubjectDC', 'TextString'], ['CertificateSubjectDNQualifier', 'TextString'],
  ['CertificateIssuerCN', 'TextString'], ['CertificateIssuerO', 'TextString'],
  ['CertificateIssuerOU', 'TextString'], ['CertificateIssuerEmail', 'TextString'],
  ['CertificateIssuerC', 'TextString'], ['CertificateIssuerST', 'TextString'],
  ['CertificateIssuerL', 'TextString'], ['CertificateIssuerUID', 'TextString'],
  ['CertificateIssuerSerialNumber', 'TextString'], ['CertificateIssuerTitle', 'TextString'],
  ['CertificateIssuerDC', 'TextString'], ['CertificateIssuerDNQualifier', 'TextString'],
  // 2.x-only attributes (2.1 s.4).
  ['KeyFormatType', 'Enumeration', '2.0'],
  ['OpaqueDataType', 'Enumeration', '2.0'],
  ['NISTKeyType', 'Enumeration'],
  ['ProtectionLevel', 'Enumeration'],
  ['ProtectionPeriod', 'Interval'],
  ['ProtectionStorageMask', 'Integer'],
  ['QuantumSafe', 'Boolean'],
  ['ShortUniqueIdentifier', 'ByteString'],
  ['RotateAutomatic', 'Boolean'],
  ['RotateDate', 'DateTime'],
  ['RotateGeneration', 'Integer'],
  ['RotateInterval', 'Interval'],
  ['RotateLatest', 'Boolean'],
  ['RotateName', 'Structure'],
  ['RotateOffset', 'Interval'],
  // 1.x-only attributes (Reserved tags in 2.x). The internal model keeps them under their
  // own tag so that they come back out to a 1.x client exactly as sent (Synology registers
  // keys with an Operation Policy Name); the version filter keeps them from 2.x clients.
  ['OperationPolicyName', 'TextString'],
  ['CertificateIdentifier', 'Structure'],
  ['CertificateSubject', 'Structure'],
  ['CertificateIssuer', 'Structure'],
];

function buildDefs(): Map<number, AttributeDef> {
  const m = new Map<number, AttributeDef>();
  for (const [name, type, since] of TABLE) {
    const tag = Tag[name];
    const info = TAG_INFO.get(tag);
    if (info === undefined) throw new Error(`attribute ${name} has no TAG_INFO entry`);
    const def: AttributeDef = {
      tag, name, specName: info.specName, type, since: since ?? info.since,
      ...(info.removed !== undefined ? { removed: info.removed } : {}),
    };
    m.set(tag, def);
  }
  return m;
}

/** Every standard attribute, by tag. */
export const ATTRIBUTES: ReadonlyMap<number, AttributeDef> = buildDefs();

const BY_NAME = new Map<string, AttributeDef>();
const BY_LOWER_NAME = new Map<string, AttributeDef>();
for (const d of ATTRIBUTES.values()) {
  BY_NAME.set(d.specName, d);
  BY_LOWER_NAME.set(d.specName.toLowerCase(), d);
}

/** The attributes that exist only in KMIP 1.x (their tags are Reserved in 2.x, 2.1 s.11.56). */
export const V1_ONLY_ATTRIBUTE_TAGS: ReadonlySet<number> = new Set(
  [...ATTRIBUTES.values()].filter((d) => d.removed !== undefined).map((d) => d.tag),
);

/**
 * The attribute named `name` (1.x Attribute Name), or undefined when it is not a standard
 * attribute. Exact spec spelling first; a case-insensitive match as a fallback because a
 * few clients capitalise differently and the names are unambiguous either way.
 */
export function attributeByName(name: string): AttributeDef | undefined {
  return BY_NAME.get(name) ?? BY_LOWER_NAME.get(name.toLowerCase());
}

export function attributeByTag(tag: number): AttributeDef | undefined {
  return ATTRIBUTES.get(tag);
}

/** Is this attribute defined in `v` (present since, not yet removed)? */
export function attributeDefinedIn(def: AttributeDef, v: ProtocolVersion): boolean {
  return atLeast(v, def.since) && (def.removed === undefined || !atLeast(v, def.removed));
}

/**
 * Multi-instance attributes whose first instance carries Attribute Index 0 in a 1.x Get
 * Attributes response. 1.4 s.2.1.1 makes the index optional for index 0; PyKMIP (its
 * integration suite, via the pie client's get_attributes) and other 1.x clients that address
 * instances read it on Name. The other multi-instance attributes (Digest, Link, …) keep the
 * OASIS 1.4 vectors' form without index 0 (AKLC-M-1-14 and AX-M-1-14 expect exactly that),
 * so the set is Name alone, not every multi-instance attribute of 1.4 s.3.
 */
export const V1_INDEXED_FROM_ZERO_TAGS: ReadonlySet<number> = new Set([Tag.Name]);

/**
 * A 1.x custom attribute name, "x-Barcode" → { vendor: 'x', name: 'Barcode' } (1.4 s.3.39,
 * 2.1 s.4.60: Vendor Identification "x" and "y" are reserved for them). undefined when the
 * name has no custom prefix or nothing after it.
 */
export function parseCustomName(name: string): { vendor: 'x' | 'y'; name: string } | undefined {
  const m = /^([xy])-(.+)$/s.exec(name);
  if (m === null) return undefined;
  return { vendor: m[1] as 'x' | 'y', name: m[2]! };
}

/** The 1.x name of a 2.x vendor attribute, when 1.x can express it (only vendors "x"/"y"). */
export function customName(vendor: string, name: string): string | undefined {
  return vendor === 'x' || vendor === 'y' ? `${vendor}-${name}` : undefined;
}
