// Name ⇄ number helpers shared by the XML and JSON encodings (KMIP Profiles 2.1 §5.4–5.5,
// "Normalizing Names"): tag names, enumeration names, mask names, and the few places where
// the enumeration an item carries depends on its context rather than on its tag alone.
//
// Everything is derived from the generated tables (src/ttlv/generated); the only facts kept
// here by hand are the links the data file does not state, each with its spec section.
import { Tag, TAG_INFO, EXTENSION_TAG_MIN, EXTENSION_TAG_MAX } from './generated/tags.ts';
import { ENUMERATIONS, ENUMERATION_FOR_TAG } from './generated/enumerations.ts';
import { ItemType } from './generated/itemTypes.ts';
import { bigIntToTwosComplement } from './encode.ts';
// The binary decoder's bound applies to text as well (quadratic BigInt conversion).
import { MAX_BIG_INTEGER_BYTES } from './limits.ts';
import { TtlvError } from './errors.ts';
import type { TtlvItem, ItemTypeName } from './types.ts';

/** A set of named values an Enumeration (or, for masks, an Integer) item can carry. */
export interface ValueDomain {
  readonly name: string;
  readonly kind: 'enumeration' | 'mask';
  /** Every accepted spelling → value (normalized names, plus aliases). */
  readonly byName: ReadonlyMap<string, number>;
  /** Value → the name written on output (a current name is preferred over a removed 1.x one). */
  readonly byValue: ReadonlyMap<number, string>;
}

// ---------------------------------------------------------------------------------------
// Tags

const TAG_BY_NAME: ReadonlyMap<string, number> = new Map(Object.entries(Tag));

const HEX_TAG = /^0x([0-9a-fA-F]{6})$/;

/** TitleCase name of a tag, or `0x54XXXX` (6 hex digits) for extension and unassigned tags. */
export function tagName(tag: number): string {
  return TAG_INFO.get(tag)?.name ?? hexTag(tag);
}

export function hexTag(tag: number): string {
  return '0x' + (tag >>> 0).toString(16).toUpperCase().padStart(6, '0');
}

/**
 * Tag number for a TitleCase name or a `0xXXXXXX` hex name; undefined when neither.
 * Hex names are accepted only for values a TTLV tag can take (s.11.56: 0x42XXXX standard,
 * 0x54XXXX extension), so a typo cannot smuggle in a tag the binary encoder would refuse.
 */
export function tagFromName(name: string): number | undefined {
  const known = TAG_BY_NAME.get(name);
  if (known !== undefined) return known;
  const m = HEX_TAG.exec(name);
  if (!m) return undefined;
  const tag = parseInt(m[1]!, 16);
  const hi = tag >>> 16;
  return hi === 0x42 || hi === 0x54 ? tag : undefined;
}

export function isExtensionTag(tag: number): boolean {
  return tag >= EXTENSION_TAG_MIN && tag <= EXTENSION_TAG_MAX;
}

// 1.x attributes are addressed by their spec name ("Cryptographic Usage Mask",
// 1.4 s.2.1.1); the tag with that spec name carries the attribute in 2.x (NOTES.md §4).
const TAG_BY_SPEC_NAME: ReadonlyMap<string, number> = new Map(
  [...TAG_INFO].map(([tag, info]) => [info.specName, tag] as [string, number]),
);

/** The tag whose spec name is a 1.x Attribute Name (e.g. "Cryptographic Algorithm"). */
export function tagForAttributeName(attributeName: string): number | undefined {
  return TAG_BY_SPEC_NAME.get(attributeName);
}

// ---------------------------------------------------------------------------------------
// Domains

function makeDomain(
  name: string,
  kind: 'enumeration' | 'mask',
  values: Readonly<Record<string, number>>,
  isRemoved: (key: string) => boolean = () => false,
  aliases: Readonly<Record<string, string>> = {},
): ValueDomain {
  const byName = new Map<string, number>();
  const byValue = new Map<number, string>();
  for (const [key, value] of Object.entries(values)) {
    byName.set(key, value);
    const prior = byValue.get(value);
    // One number, two names only happens across versions; write the current one.
    if (prior === undefined || (isRemoved(prior) && !isRemoved(key))) byValue.set(value, key);
  }
  for (const [alias, key] of Object.entries(aliases)) {
    const v = values[key];
    if (v !== undefined) byName.set(alias, v);
  }
  return { name, kind, byName, byValue };
}

// NOTES.md §6: the 2.1 table spells the Mask Generator value "MFG1", 1.4 and 2.0 "MGF1";
// the data file keys it MGF1. Accept both spellings.
const ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  MaskGenerator: { MFG1: 'MGF1' },
};

const GENERATED_DOMAINS: ReadonlyMap<string, ValueDomain> = new Map(
  Object.entries(ENUMERATIONS).map(([name, info]) => [
    name,
    makeDomain(name, info.kind, info.values, (k) => info.valueInfo[k]?.removed !== undefined, ALIASES[name]),
  ]),
);

/** The Tag enumeration (2.1 s.11.56): the value of an enumerated tag is the tag number. */
export const TAG_DOMAIN: ValueDomain = makeDomain(
  'Tag',
  'enumeration',
  Tag,
  (k) => TAG_INFO.get(Tag[k as keyof typeof Tag])?.removed !== undefined,
);

/** The Item Type enumeration (2.1 s.11.23). */
export const ITEM_TYPE_DOMAIN: ValueDomain = makeDomain('ItemType', 'enumeration', ItemType);

// 2.1 s.11.38 gives no value table for PKCS#11 Function: the values are the 1-based
// offsets of the functions in CK_FUNCTION_LIST (PKCS#11 v2.40 pkcs11f.h order, which
// CK_FUNCTION_LIST_3_0 keeps as its first 68 entries). The 3.0 additions are not listed
// here and are written as hex.
const PKCS11_FUNCTIONS = [
  'C_Initialize', 'C_Finalize', 'C_GetInfo', 'C_GetFunctionList', 'C_GetSlotList', 'C_GetSlotInfo',
  'C_GetTokenInfo', 'C_GetMechanismList', 'C_GetMechanismInfo', 'C_InitToken', 'C_InitPIN', 'C_SetPIN',
  'C_OpenSession', 'C_CloseSession', 'C_CloseAllSessions', 'C_GetSessionInfo', 'C_GetOperationState',
  'C_SetOperationState', 'C_Login', 'C_Logout', 'C_CreateObject', 'C_CopyObject', 'C_DestroyObject',
  'C_GetObjectSize', 'C_GetAttributeValue', 'C_SetAttributeValue', 'C_FindObjectsInit', 'C_FindObjects',
  'C_FindObjectsFinal', 'C_EncryptInit', 'C_Encrypt', 'C_EncryptUpdate', 'C_EncryptFinal', 'C_DecryptInit',
  'C_Decrypt', 'C_DecryptUpdate', 'C_DecryptFinal', 'C_DigestInit', 'C_Digest', 'C_DigestUpdate',
  'C_DigestKey', 'C_DigestFinal', 'C_SignInit', 'C_Sign', 'C_SignUpdate', 'C_SignFinal', 'C_SignRecoverInit',
  'C_SignRecover', 'C_VerifyInit', 'C_Verify', 'C_VerifyUpdate', 'C_VerifyFinal', 'C_VerifyRecoverInit',
  'C_VerifyRecover', 'C_DigestEncryptUpdate', 'C_DecryptDigestUpdate', 'C_SignEncryptUpdate',
  'C_DecryptVerifyUpdate', 'C_GenerateKey', 'C_GenerateKeyPair', 'C_WrapKey', 'C_UnwrapKey', 'C_DeriveKey',
  'C_SeedRandom', 'C_GenerateRandom', 'C_GetFunctionStatus', 'C_CancelFunction', 'C_WaitForSlotEvent',
] as const;

const PKCS11_FUNCTION_DOMAIN = makeDomain(
  'PKCS_11Function',
  'enumeration',
  Object.fromEntries(PKCS11_FUNCTIONS.map((n, i) => [n, i + 1])),
);

// 2.1 s.11.39 gives no value table for PKCS#11 Return Code: the values are the CK_RV
// codes (PKCS#11 v2.40 pkcs11t.h), named without their CKR_ prefix as the OASIS test
// cases write them ("OK").
const PKCS11_RETURN_CODES: Readonly<Record<string, number>> = {
  OK: 0x000, CANCEL: 0x001, HOST_MEMORY: 0x002, SLOT_ID_INVALID: 0x003, GENERAL_ERROR: 0x005,
  FUNCTION_FAILED: 0x006, ARGUMENTS_BAD: 0x007, NO_EVENT: 0x008, NEED_TO_CREATE_THREADS: 0x009,
  CANT_LOCK: 0x00a, ATTRIBUTE_READ_ONLY: 0x010, ATTRIBUTE_SENSITIVE: 0x011, ATTRIBUTE_TYPE_INVALID: 0x012,
  ATTRIBUTE_VALUE_INVALID: 0x013, ACTION_PROHIBITED: 0x01b, DATA_INVALID: 0x020, DATA_LEN_RANGE: 0x021,
  DEVICE_ERROR: 0x030, DEVICE_MEMORY: 0x031, DEVICE_REMOVED: 0x032, ENCRYPTED_DATA_INVALID: 0x040,
  ENCRYPTED_DATA_LEN_RANGE: 0x041, FUNCTION_CANCELED: 0x050, FUNCTION_NOT_PARALLEL: 0x051,
  FUNCTION_NOT_SUPPORTED: 0x054, KEY_HANDLE_INVALID: 0x060, KEY_SIZE_RANGE: 0x062, KEY_TYPE_INCONSISTENT: 0x063,
  KEY_NOT_NEEDED: 0x064, KEY_CHANGED: 0x065, KEY_NEEDED: 0x066, KEY_INDIGESTIBLE: 0x067,
  KEY_FUNCTION_NOT_PERMITTED: 0x068, KEY_NOT_WRAPPABLE: 0x069, KEY_UNEXTRACTABLE: 0x06a, MECHANISM_INVALID: 0x070,
  MECHANISM_PARAM_INVALID: 0x071, OBJECT_HANDLE_INVALID: 0x082, OPERATION_ACTIVE: 0x090,
  OPERATION_NOT_INITIALIZED: 0x091, PIN_INCORRECT: 0x0a0, PIN_INVALID: 0x0a1, PIN_LEN_RANGE: 0x0a2,
  PIN_EXPIRED: 0x0a3, PIN_LOCKED: 0x0a4, SESSION_CLOSED: 0x0b0, SESSION_COUNT: 0x0b1, SESSION_HANDLE_INVALID: 0x0b3,
  SESSION_PARALLEL_NOT_SUPPORTED: 0x0b4, SESSION_READ_ONLY: 0x0b5, SESSION_EXISTS: 0x0b6,
  SESSION_READ_ONLY_EXISTS: 0x0b7, SESSION_READ_WRITE_SO_EXISTS: 0x0b8, SIGNATURE_INVALID: 0x0c0,
  SIGNATURE_LEN_RANGE: 0x0c1, TEMPLATE_INCOMPLETE: 0x0d0, TEMPLATE_INCONSISTENT: 0x0d1, TOKEN_NOT_PRESENT: 0x0e0,
  TOKEN_NOT_RECOGNIZED: 0x0e1, TOKEN_WRITE_PROTECTED: 0x0e2, UNWRAPPING_KEY_HANDLE_INVALID: 0x0f0,
  UNWRAPPING_KEY_SIZE_RANGE: 0x0f1, UNWRAPPING_KEY_TYPE_INCONSISTENT: 0x0f2, USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101, USER_PIN_NOT_INITIALIZED: 0x102, USER_TYPE_INVALID: 0x103,
  USER_ANOTHER_ALREADY_LOGGED_IN: 0x104, USER_TOO_MANY_TYPES: 0x105, WRAPPED_KEY_INVALID: 0x110,
  WRAPPED_KEY_LEN_RANGE: 0x112, WRAPPING_KEY_HANDLE_INVALID: 0x113, WRAPPING_KEY_SIZE_RANGE: 0x114,
  WRAPPING_KEY_TYPE_INCONSISTENT: 0x115, RANDOM_SEED_NOT_SUPPORTED: 0x120, RANDOM_NO_RNG: 0x121,
  DOMAIN_PARAMS_INVALID: 0x130, CURVE_NOT_SUPPORTED: 0x140, BUFFER_TOO_SMALL: 0x150, SAVED_STATE_INVALID: 0x160,
  INFORMATION_SENSITIVE: 0x170, STATE_UNSAVEABLE: 0x180, CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191, MUTEX_BAD: 0x1a0, MUTEX_NOT_LOCKED: 0x1a1, NEW_PIN_MODE: 0x1b0,
  NEXT_OTP: 0x1b1, EXCEEDED_MAX_ITERATIONS: 0x1b5, FIPS_SELF_TEST_FAILED: 0x1b6, LIBRARY_LOAD_FAILED: 0x1b7,
  PIN_TOO_WEAK: 0x1b8, PUBLIC_KEY_INVALID: 0x1b9, FUNCTION_REJECTED: 0x200,
};
const PKCS11_RETURN_CODE_DOMAIN = makeDomain('PKCS_11ReturnCode', 'enumeration', PKCS11_RETURN_CODES);

function generated(name: string): ValueDomain {
  const d = GENERATED_DOMAINS.get(name);
  if (!d) throw new Error(`names.ts: enumeration ${name} missing from the generated tables`);
  return d;
}

/**
 * Tags whose enumeration is not the one the data file ties to the tag. These links are
 * facts of the spec text, not of the tables.
 */
const CONTEXT_DOMAINS: ReadonlyMap<number, ValueDomain> = new Map([
  // 2.1 s.5.5: an Enumeration Attribute Reference holds a Tag value.
  [Tag.AttributeReference, TAG_DOMAIN],
  // 2.1 s.4.16: Mask Generator Hashing Algorithm takes Hashing Algorithm values.
  [Tag.MaskGeneratorHashingAlgorithm, generated('HashingAlgorithm')],
  // 2.1 s.7.13: Extension Type is an Item Type enumeration.
  [Tag.ExtensionType, ITEM_TYPE_DOMAIN],
  // 2.1 s.4.31: an Enumeration Linked Object Identifier is a Unique Identifier (s.11.58) value.
  [Tag.LinkedObjectIdentifier, generated('UniqueIdentifier')],
  // 2.1 s.11.38 / s.11.39: values defined by PKCS#11, see the tables above.
  [Tag.PKCS_11Function, PKCS11_FUNCTION_DOMAIN],
  [Tag.PKCS_11ReturnCode, PKCS11_RETURN_CODE_DOMAIN],
]);

/** The domain a tag carries on its own (without looking at siblings). */
export function domainForTag(tag: number): ValueDomain | undefined {
  const special = CONTEXT_DOMAINS.get(tag);
  if (special) return special;
  const name = ENUMERATION_FOR_TAG.get(tag);
  return name === undefined ? undefined : GENERATED_DOMAINS.get(name);
}

/** An enumeration or mask by its generated name (e.g. `CryptographicUsageMask`). */
export function domainByName(name: string): ValueDomain | undefined {
  if (name === 'Tag') return TAG_DOMAIN;
  if (name === 'ItemType') return ITEM_TYPE_DOMAIN;
  return GENERATED_DOMAINS.get(name);
}

/**
 * The domain of an item in its structure. A 1.x Attribute Value takes the enumeration (or
 * mask) of the attribute its sibling Attribute Name names (1.4 s.2.1.1); every other
 * item is looked up by tag.
 */
export function domainInContext(tag: number, attributeName: string | undefined): ValueDomain | undefined {
  if (tag === Tag.AttributeValue) {
    if (attributeName === undefined) return undefined;
    const attrTag = tagForAttributeName(attributeName);
    return attrTag === undefined ? undefined : domainForTag(attrTag);
  }
  return domainForTag(tag);
}

/** The text of the Attribute Name among `siblings`, if one is a Text String. */
export function siblingAttributeName(siblings: readonly TtlvItem[]): string | undefined {
  for (const s of siblings) if (s.tag === Tag.AttributeName && s.type === 'TextString') return s.value;
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Value text

/** `0x` + 8 upper-case hex digits: the form of an unnamed enumeration or mask value. */
export function hex32(value: number): string {
  return '0x' + (value >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

/** Enumeration value → its name in `domain`, or 8-digit hex when it has none. */
export function formatEnumeration(value: number, domain: ValueDomain | undefined): string {
  return (domain?.kind === 'enumeration' ? domain.byValue.get(value) : undefined) ?? hex32(value);
}

const HEX_RE = /^0x[0-9a-fA-F]+$/;
const DEC_RE = /^[0-9]+$/;

/**
 * Enumeration text → unsigned 32-bit value: a name of `domain`, `0x` hex or decimal.
 * Undefined when the text is none of these (the caller reports the error with context).
 */
export function parseEnumeration(text: string, domain: ValueDomain | undefined): number | undefined {
  if (domain?.kind === 'enumeration') {
    const v = domain.byName.get(text);
    if (v !== undefined) return v;
  }
  return parseUint32(text);
}

/** `0x` hex (at most 8 digits) or decimal, within 0..2^32-1. */
export function parseUint32(text: string): number | undefined {
  let n: number;
  if (HEX_RE.test(text)) {
    if (text.length > 10) return undefined;
    n = parseInt(text.slice(2), 16);
  } else if (DEC_RE.test(text)) {
    if (text.length > 10) return undefined;
    n = Number(text);
  } else return undefined;
  return n <= 0xffffffff ? n : undefined;
}

/**
 * Mask value → names separated by `separator`, lowest bit first; bits without a name are
 * gathered into one hex token. Zero is written `0x00000000`.
 */
export function formatMask(value: number, domain: ValueDomain, separator = ' '): string {
  let rest = value >>> 0;
  if (rest === 0) return hex32(0);
  const parts: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const b = (1 << bit) >>> 0;
    if ((rest & b) === 0) continue;
    const name = domain.byValue.get(b);
    if (name !== undefined) {
      parts.push(name);
      rest = (rest & ~b) >>> 0;
    }
  }
  if (rest !== 0) parts.push(hex32(rest));
  return parts.join(separator);
}

/**
 * Mask text → unsigned 32-bit value. Tokens are separated by white space or `|` (the XML
 * profile uses spaces, the JSON profile `|`), each a mask name, `0x` hex or decimal.
 */
export function parseMask(text: string, domain: ValueDomain | undefined): number | undefined {
  const tokens = text.split(/[\s|]+/).filter((t) => t !== '');
  if (tokens.length === 0) return undefined;
  let v = 0;
  for (const t of tokens) {
    const named = domain?.kind === 'mask' ? domain.byName.get(t) : undefined;
    const n = named ?? parseUint32(t);
    if (n === undefined) return undefined;
    v = (v | n) >>> 0;
  }
  return v;
}

// ---------------------------------------------------------------------------------------
// Scalar values as text (KMIP Profiles 2.1 §5.4.1.5 XML "Value", §5.5.1.5 JSON "Value")

/** A value text the declared type cannot hold; the XML/JSON reader adds offset and path. */
export class ValueTextError extends Error {}

export type ScalarType = Exclude<ItemTypeName, 'Structure'>;
type ScalarValue = Exclude<TtlvItem, { type: 'Structure' }>['value'];

const INT32_MIN = -0x80000000, INT32_MAX = 0x7fffffff;
const INT64_MIN = -(1n << 63n), INT64_MAX = (1n << 63n) - 1n;
const SIGNED_DEC_RE = /^-?[0-9]+$/;
const HEX_DIGITS_RE = /^[0-9a-fA-F]*$/;

/** The value an item of `type` holds before a placeholder is substituted. */
export function defaultValue(type: ItemTypeName): TtlvItem['value'] {
  switch (type) {
    case 'Structure': return [];
    case 'Integer': case 'Enumeration': case 'Interval': return 0;
    case 'LongInteger': case 'BigInteger': case 'DateTime': case 'DateTimeExtended': return 0n;
    case 'Boolean': return false;
    case 'TextString': return '';
    case 'ByteString': return Buffer.alloc(0);
  }
}

function parseInt32(text: string): number {
  if (HEX_RE.test(text)) {
    if (text.length > 10) throw new ValueTextError(`Integer ${text} has more than 8 hex digits`);
    // Hex spells the 32 bits: 0xFFFFFFFF is -1.
    return parseInt(text.slice(2), 16) | 0;
  }
  if (!SIGNED_DEC_RE.test(text)) throw new ValueTextError(`Integer value ${JSON.stringify(text)} is not a decimal or 0x hex number`);
  const n = Number(text);
  if (n < INT32_MIN || n > INT32_MAX) throw new ValueTextError(`Integer ${text} is outside the signed 32-bit range`);
  return n;
}

function parseInt64(text: string, what: string): bigint {
  if (HEX_RE.test(text)) {
    if (text.length > 18) throw new ValueTextError(`${what} ${text} has more than 16 hex digits`);
    return BigInt.asIntN(64, BigInt(text));
  }
  if (!SIGNED_DEC_RE.test(text)) throw new ValueTextError(`${what} value ${JSON.stringify(text)} is not a decimal or 0x hex number`);
  const n = BigInt(text);
  if (n < INT64_MIN || n > INT64_MAX) throw new ValueTextError(`${what} ${text} is outside the signed 64-bit range`);
  return n;
}

/** Hex digits (optionally after `0x`) → bytes; the digit count must be even. */
export function parseHexBytes(text: string, what: string): Buffer {
  const digits = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (!HEX_DIGITS_RE.test(digits)) throw new ValueTextError(`${what} value is not hex`);
  if (digits.length % 2 !== 0) throw new ValueTextError(`${what} value has an odd number of hex digits`);
  return Buffer.from(digits, 'hex');
}

function parseBigInteger(text: string): bigint {
  const bytes = parseHexBytes(text, 'BigInteger');
  if (bytes.length === 0) throw new ValueTextError('BigInteger value is empty');
  if (bytes.length > MAX_BIG_INTEGER_BYTES) throw new ValueTextError(`BigInteger longer than ${MAX_BIG_INTEGER_BYTES} bytes`);
  // Two's complement, big-endian (s.10.1.2); any length on input, sign taken from the top bit.
  let v = BigInt('0x' + bytes.toString('hex'));
  if (bytes[0]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v;
}

function parseBoolean(text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  // The profiles also allow the 64-bit wire value in hex.
  if (HEX_RE.test(text) && text.length <= 18) {
    const n = BigInt(text);
    if (n === 0n) return false;
    if (n === 1n) return true;
  }
  throw new ValueTextError(`Boolean value ${JSON.stringify(text)} is not true or false`);
}

// ---- dates (proleptic Gregorian, days since 1970-01-01; POSIX time has no leap seconds)

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const ISO_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:?[0-9]{2})$/;

/** ISO-8601 date-time with `Z` or an offset → POSIX microseconds. */
function parseIsoMicros(text: string, what: string): bigint {
  const m = ISO_RE.exec(text);
  if (!m) throw new ValueTextError(`${what} value ${JSON.stringify(text)} is not ISO-8601 (YYYY-MM-DDThh:mm:ss[.ffffff](Z|±hh:mm)) or 0x hex`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = [31, (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth[mo - 1]! || h > 23 || mi > 59 || s > 59) {
    throw new ValueTextError(`${what} value ${text} is not a valid date and time`);
  }
  const frac = m[7] ?? '';
  if (frac.length > 6 && /[1-9]/.test(frac.slice(6))) throw new ValueTextError(`${what} value ${text} is finer than a microsecond`);
  const micros = BigInt((frac + '000000').slice(0, 6));
  let offsetSeconds = 0;
  const zone = m[8]!;
  if (zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2)), om = Number(digits.slice(2));
    if (oh > 23 || om > 59) throw new ValueTextError(`${what} value ${text} has an invalid UTC offset`);
    offsetSeconds = (zone[0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const seconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offsetSeconds;
  return BigInt(seconds) * 1_000_000n + micros;
}

function parseDateTime(text: string): bigint {
  if (HEX_RE.test(text)) return parseInt64(text, 'DateTime');
  const micros = parseIsoMicros(text, 'DateTime');
  // DateTime counts whole seconds (s.10.1.2).
  if (micros % 1_000_000n !== 0n) throw new ValueTextError(`DateTime value ${text} has a fraction of a second; use DateTimeExtended`);
  return micros / 1_000_000n;
}

function parseDateTimeExtended(text: string): bigint {
  if (HEX_RE.test(text)) return parseInt64(text, 'DateTimeExtended');
  return parseIsoMicros(text, 'DateTimeExtended');
}

// Years 0000–9999 are what ISO-8601 writes without an expansion agreement; other instants
// (representable in TTLV's signed 64 bits) are written in hex, which the profiles allow.
const MIN_ISO_SECONDS = BigInt(daysFromCivil(0, 1, 1)) * 86400n;
const MAX_ISO_SECONDS = BigInt(daysFromCivil(10000, 1, 1)) * 86400n - 1n;

function hex64(v: bigint): string {
  return '0x' + BigInt.asUintN(64, v).toString(16).toUpperCase().padStart(16, '0');
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function isoFromSeconds(seconds: bigint): string {
  const days = Number(seconds / 86400n - (seconds % 86400n < 0n ? 1n : 0n));
  const secOfDay = Number(seconds - BigInt(days) * 86400n);
  const [y, m, d] = civilFromDays(days);
  return `${pad(y, 4)}-${pad(m)}-${pad(d)}T${pad(Math.floor(secOfDay / 3600))}:${pad(Math.floor(secOfDay / 60) % 60)}:${pad(secOfDay % 60)}`;
}

/** DateTime (POSIX seconds) → `YYYY-MM-DDThh:mm:ssZ`, or hex outside years 0000–9999. */
export function formatDateTime(seconds: bigint): string {
  if (seconds < MIN_ISO_SECONDS || seconds > MAX_ISO_SECONDS) return hex64(seconds);
  return isoFromSeconds(seconds) + 'Z';
}

/** DateTimeExtended (POSIX microseconds) → `YYYY-MM-DDThh:mm:ss.ffffffZ`, or hex when out of range. */
export function formatDateTimeExtended(micros: bigint): string {
  let seconds = micros / 1_000_000n;
  let frac = micros % 1_000_000n;
  if (frac < 0n) { seconds -= 1n; frac += 1_000_000n; }
  if (seconds < MIN_ISO_SECONDS || seconds > MAX_ISO_SECONDS) return hex64(micros);
  return `${isoFromSeconds(seconds)}.${frac.toString().padStart(6, '0')}Z`;
}

/**
 * Parses the text of a scalar of `type`. `domain` names the enumeration (Enumeration) or
 * mask (Integer) the item carries in its context. Throws ValueTextError.
 */
export function parseScalar(type: ScalarType, text: string, domain: ValueDomain | undefined): ScalarValue {
  switch (type) {
    case 'Integer':
      if (domain?.kind === 'mask') {
        const v = parseMask(text, domain);
        if (v === undefined) throw new ValueTextError(`${JSON.stringify(text)} is not a ${domain.name} value (mask names, 0x hex or decimal)`);
        return v | 0;
      }
      return parseInt32(text);
    case 'Enumeration': {
      const v = parseEnumeration(text, domain);
      if (v === undefined) {
        throw new ValueTextError(domain
          ? `${JSON.stringify(text)} is not a ${domain.name} name, nor 0x hex`
          : `Enumeration value ${JSON.stringify(text)} is not 0x hex (no enumeration is known for this tag)`);
      }
      return v;
    }
    case 'Interval': {
      const v = parseUint32(text);
      if (v === undefined) throw new ValueTextError(`Interval value ${JSON.stringify(text)} is not an unsigned 32-bit number`);
      return v;
    }
    case 'LongInteger': return parseInt64(text, 'LongInteger');
    case 'BigInteger': return parseBigInteger(text);
    case 'Boolean': return parseBoolean(text);
    case 'TextString': return text;
    case 'ByteString': return parseHexBytes(text, 'ByteString');
    case 'DateTime': return parseDateTime(text);
    case 'DateTimeExtended': return parseDateTimeExtended(text);
  }
}

export interface FormatOptions {
  /** Between mask names: ' ' (XML profile) or '|' (JSON profile). */
  maskSeparator: string;
  /** Prefix of a Big Integer's hex: '' (XML test cases) or '0x' (JSON hex strings). */
  bigIntegerPrefix: string;
}

/** Text of a scalar item's value (placeholders are the caller's business). */
export function formatScalar(item: Exclude<TtlvItem, { type: 'Structure' }>, domain: ValueDomain | undefined, opts: FormatOptions): string {
  switch (item.type) {
    case 'Integer':
      return domain?.kind === 'mask' ? formatMask(item.value, domain, opts.maskSeparator) : String(item.value);
    case 'Enumeration': return formatEnumeration(item.value, domain);
    case 'Interval': return String(item.value);
    case 'LongInteger': return item.value.toString();
    case 'BigInteger': return opts.bigIntegerPrefix + bigIntToTwosComplement(item.value).toString('hex');
    case 'Boolean': return item.value ? 'true' : 'false';
    case 'TextString': return item.value;
    case 'ByteString': return item.value.toString('hex');
    case 'DateTime': return formatDateTime(item.value);
    case 'DateTimeExtended': return formatDateTimeExtended(item.value);
  }
}

/**
 * Checks that a scalar item's JavaScript value fits its type before it is written as text,
 * so a malformed tree built by code fails with a TtlvError naming the item instead of a
 * TypeError deep in a formatter. (The binary encoder makes the same checks for bytes.)
 */
export function checkItem(item: Exclude<TtlvItem, { type: 'Structure' }>, path: string): void {
  const v: unknown = item.value;
  let ok: boolean;
  switch (item.type) {
    case 'Integer': ok = typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX; break;
    case 'Enumeration': case 'Interval': ok = typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff; break;
    case 'LongInteger': case 'DateTime': case 'DateTimeExtended': ok = typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX; break;
    case 'BigInteger': ok = typeof v === 'bigint'; break;
    case 'Boolean': ok = typeof v === 'boolean'; break;
    case 'TextString': ok = typeof v === 'string'; break;
    case 'ByteString': ok = Buffer.isBuffer(v); break;
    default: throw new TtlvError('BAD_TYPE', `unknown item type ${String((item as { type: unknown }).type)}`, 0, path);
  }
  if (!ok) throw new TtlvError('BAD_VALUE', `value does not fit type ${item.type}`, 0, path);
}
