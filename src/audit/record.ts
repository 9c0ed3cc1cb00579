// The audit record: its typed input, the runtime validation that keeps anything but text
// out of it, the escaping that makes any text safe to store and export, its canonical form and its place in the hash chain (issue 7, "Audit").
//
// Chain rule: hash = SHA-256( bytes(prevHash) ‖ UTF-8(canonical(record without hash)) ),
// where prevHash is the hash of the record with seq − 1, or GENESIS_HASH for seq 1. The
// canonical form is JSON with the keys sorted, no whitespace and every field present
// (absent values are written as null), so one record has exactly one byte string.
import { createHash } from 'node:crypto';
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';

/** What produced the record. */
export const AUDIT_KINDS = ['kmip', 'admin', 'seal', 'unseal', 'kill', 'auth-failure', 'system'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export type AuditResult = 'success' | 'failure';
/** A ResultReason name of the generated tables (KMIP 2.1 §11.30), e.g. 'ItemNotFound'. */
export type ResultReasonName = keyof typeof ResultReason;
/** A KMIP operation name of the generated tables (KMIP 2.1 §11.37), e.g. 'Get'. */
export type OperationName = keyof typeof Operation;

/**
 * What a caller hands to `append`. Only these fields, only strings (or null): there is no
 * way to pass bytes, and `append` refuses anything else at run time too, so key material
 * cannot reach the log by accident. `seq`, `time`, `prevHash` and `hash` are the log's.
 */
export interface AuditInput {
  kind: AuditKind;
  /** Who: certificate subject and/or SHA-256 fingerprint, admin user, … */
  identity?: string | null;
  tenant?: string | null;
  service?: string | null;
  /** kind 'kmip': an Operation name ('Get'); otherwise a short token ('tenant.create'). */
  operation?: string | null;
  /** Unique Identifier of the managed object concerned. */
  objectId?: string | null;
  result: AuditResult;
  /** ResultReason name when the result is a failure (or a success with a reason). */
  reason?: ResultReasonName | null;
  /** Short human text. Never key material, never payloads. */
  detail?: string | null;
}

/** A stored record: every field present, nulls explicit. */
export interface AuditRecord {
  seq: number;
  /** ISO 8601, UTC, milliseconds (`Date.prototype.toISOString`). */
  time: string;
  kind: AuditKind;
  identity: string | null;
  tenant: string | null;
  service: string | null;
  operation: string | null;
  objectId: string | null;
  result: AuditResult;
  reason: ResultReasonName | null;
  detail: string | null;
  prevHash: string;
  hash: string;
  /**
   * The core node that wrote the record, in a chain several nodes append to (the regional
   * vault's chain on PostgreSQL, src/audit/pg-chain.ts). Absent in a chain of one writer.
   * Hashed when present; a record without it hashes exactly as before it existed.
   */
  node?: string;
}

/**
 * Makes `append(x)` fail to type-check when `x` carries a field AuditInput does not
 * define — also for variables, where TypeScript's excess-property check does not apply.
 */
export type ExactAuditInput<T> = T & { [K in Exclude<keyof T, keyof AuditInput>]: never };

/** The predecessor of record 1: 32 zero bytes, hex. */
export const GENESIS_HASH = '0'.repeat(64);

/** Input fields, in the order the log stores them. */
export const INPUT_FIELDS = ['kind', 'identity', 'tenant', 'service', 'operation', 'objectId', 'result', 'reason', 'detail'] as const;

/**
 * Length limits of the stored (escaped) text, in UTF-16 code units. They keep one record
 * inside one syslog datagram (RFC 5426 §3.2: receivers SHOULD take 2048 octets) and stop a
 * caller from dumping a payload into the log. A longer value is cut, never refused (issue 16
 * §1: every batch item is one record, whatever the client sent): see `auditText`.
 */
export const FIELD_LIMITS: Readonly<Record<Exclude<(typeof INPUT_FIELDS)[number], 'kind' | 'result' | 'reason'>, number>> = {
  identity: 512,
  tenant: 128,
  service: 128,
  operation: 64,
  objectId: 256,
  detail: 1024,
};

/**
 * A detail with an unbroken run this long of base64/hex/PEM alphabet is redacted: no
 * sentence has such a word, while a wrapped key, a certificate or a private key in text
 * form does. (A 64-character hex fingerprint passes; short keys in hex cannot be told
 * from fingerprints — the rule is a safety net, the typed API is the protection.)
 */
export const MAX_OPAQUE_RUN = 128;

/** Programming errors only (a field of the wrong type, an unknown field, a bad kind): never the text a client sent. */
export class AuditInputError extends Error {
  override readonly name = 'AuditInputError';
}

const KINDS: ReadonlySet<string> = new Set(AUDIT_KINDS);
const REASONS: ReadonlySet<string> = new Set(Object.keys(ResultReason));
const OPERATIONS: ReadonlySet<string> = new Set(Object.keys(Operation));
const ALLOWED_KEYS: ReadonlySet<string> = new Set(INPUT_FIELDS);
const TOKEN = /^[A-Za-z][A-Za-z0-9._:-]*$/;

// ---------------------------------------------------------------------------------------
// Escaping of unsafe characters (issue 16 §1). Text fields are stored escaped, so every
// exporter (JSON lines, RFC 5424, CEF) receives text that cannot break a line, reorder what
// a SIEM operator reads, or differ between what was hashed and what SQLite stored:
//
//   \\           the escape character itself (so decoding is unambiguous)
//   \u{HEX}       one code point, lower-case hex, for every
//                 - C0 control, DEL and C1 control (Unicode category Cc): a newline would forge
//                   a second JSON/syslog line, NUL is cut by some C consumers, NEL breaks lines;
//                 - format character (Cf): bidi controls U+202A–U+202E, U+2066–U+2069, U+200E,
//                   U+200F, U+061C (Trojan-Source style reordering of a SIEM line), zero-width
//                   characters, U+FEFF, soft hyphen, tag characters U+E0000–U+E007F;
//                 - line and paragraph separator U+2028, U+2029 (line breaks to JS and others);
//                 - unpaired surrogate halves (not representable in UTF-8, so SQLite's TEXT would
//                   store something other than what was hashed).
//   \[...]        an annotation of the audit module, never client text (a literal "\[" is
//                 written "\\["): `\[redacted: …]` replaces what looked like key material in
//                 a detail, `\[truncated: N chars, sha256:HEX]` ends a value cut to its limit.
//
// Escaping is reversible (decodeAuditText); redaction and truncation are not, by design. The
// SHA-256 of a truncated value is over the UTF-8 of the whole escaped value, so whoever holds
// the original can escape it (escapeAuditText) and compare.
const UNSAFE = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|[\ud800-\udfff]/u;
const ESCAPED_TOKEN = /\\\\|\\u\{[0-9a-f]{1,6}\}|\\\[[^\]]*\]|[\s\S]/gu;
const PEM_BLOCK = /-----BEGIN[\s\S]*?(?:-----END[^-]*-----|$)/g;
const OPAQUE_RUN_G = new RegExp(`[A-Za-z0-9+/=_-]{${MAX_OPAQUE_RUN},}`, 'g');

// Format characters and separators beyond ASCII, by code point; BMP answers are cached
// (0 unknown, 1 safe, 2 unsafe) so that text in any script costs one table read per character.
const FORMAT_CHAR = /^[\p{Cf}\p{Zl}\p{Zp}]$/u;
const bmpClass = new Uint8Array(0x10000);
function isFormat(cp: number): boolean {
  if (cp > 0xffff) return FORMAT_CHAR.test(String.fromCodePoint(cp));
  let k = bmpClass[cp]!;
  if (k === 0) bmpClass[cp] = k = FORMAT_CHAR.test(String.fromCharCode(cp)) ? 2 : 1;
  return k === 2;
}

/** Escapes the unsafe characters of `s` (reversible; see the table above). */
export function escapeAuditText(s: string): string {
  if (!UNSAFE.test(s)) return s; // the common case: no allocation
  // One pass over the UTF-16 code units (a replace() with a callback costs ~10× more on
  // text full of control characters, which is what a hostile client sends).
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x5c) continue;
    let cp = c;
    let width = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); width = 2; }
    }
    const unsafe = c === 0x5c || c < 0x20 || (c >= 0x7f && c <= 0x9f) || (width === 1 && c >= 0xd800 && c <= 0xdfff) || (cp >= 0xa0 && isFormat(cp));
    if (unsafe) {
      out += s.slice(last, i) + (c === 0x5c ? '\\\\' : `\\u{${cp.toString(16)}}`);
      last = i + width;
    }
    i += width - 1;
  }
  return out + s.slice(last);
}

export interface DecodedAuditText {
  /** The original text, where it was not redacted or cut. */
  text: string;
  /** Annotations the audit module wrote (redactions, truncation), in order. */
  annotations: string[];
  truncated: boolean;
}

/** Reverses escapeAuditText; annotations are removed from `text` and listed apart. */
export function decodeAuditText(stored: string): DecodedAuditText {
  const annotations: string[] = [];
  let truncated = false;
  const text = stored.replace(/\\(\\|u\{([0-9a-f]{1,6})\}|\[([^\]]*)\])/g, (_m, what: string, hex?: string, note?: string) => {
    if (what === '\\') return '\\';
    if (hex !== undefined) return String.fromCodePoint(Number.parseInt(hex, 16));
    annotations.push(note!);
    if (note!.startsWith('truncated:')) truncated = true;
    return '';
  });
  return { text, annotations, truncated };
}

/**
 * The stored form of one text field: escaped, key-material-looking runs of a detail
 * redacted, cut to the field's limit with an explicit marker. Never throws on content.
 */
export function auditText(field: keyof typeof FIELD_LIMITS, raw: string): string {
  let s = escapeAuditText(raw);
  if (field === 'detail' && (s.includes('-----BEGIN') || s.length >= MAX_OPAQUE_RUN)) {
    s = s.replace(PEM_BLOCK, '\\[redacted: PEM block]')
      .replace(OPAQUE_RUN_G, (run) => `\\[redacted: ${run.length} chars of base64/hex alphabet]`);
  }
  const limit = FIELD_LIMITS[field];
  if (s.length <= limit) return s;
  const marker = `\\[truncated: ${s.length} chars, sha256:${createHash('sha256').update(s, 'utf8').digest('hex')}]`;
  // Cut between tokens (never inside an escape sequence, an annotation or a surrogate pair).
  const keep = limit - marker.length;
  let end = 0;
  ESCAPED_TOKEN.lastIndex = 0;
  for (let m = ESCAPED_TOKEN.exec(s); m !== null; m = ESCAPED_TOKEN.exec(s)) {
    if (ESCAPED_TOKEN.lastIndex > keep) break;
    end = ESCAPED_TOKEN.lastIndex;
  }
  return s.slice(0, Math.max(0, end)) + marker;
}

function text(field: keyof typeof FIELD_LIMITS, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    // Buffers, typed arrays, numbers, objects: refused, whatever they hold.
    const what = v instanceof Uint8Array ? 'bytes' : Array.isArray(v) ? 'an array' : typeof v;
    throw new AuditInputError(`audit field ${field}: expected a string or null, got ${what}`);
  }
  return auditText(field, v);
}

/**
 * Checks an input at run time (callers in plain JS, or data that crossed a process
 * boundary, bypass the types) and returns the normalised fields. Throws AuditInputError.
 */
export function validateAuditInput(input: unknown): Omit<AuditRecord, 'seq' | 'time' | 'prevHash' | 'hash'> {
  if (input === null || typeof input !== 'object' || Array.isArray(input) || input instanceof Uint8Array) {
    throw new AuditInputError('audit record: expected an object');
  }
  const keys = Reflect.ownKeys(input);
  const unknownKeys = keys.length <= INPUT_FIELDS.length && keys.every((k) => typeof k === 'string' && ALLOWED_KEYS.has(k))
    ? [] : keys.filter((k) => typeof k !== 'string' || !ALLOWED_KEYS.has(k));
  if (unknownKeys.length > 0) {
    throw new AuditInputError(`audit record: unknown field(s) ${unknownKeys.map(String).join(', ')} (allowed: ${INPUT_FIELDS.join(', ')})`);
  }
  const r = input as Record<string, unknown>;
  if (typeof r.kind !== 'string' || !KINDS.has(r.kind)) {
    throw new AuditInputError(`audit field kind: expected one of ${AUDIT_KINDS.join(', ')}, got ${JSON.stringify(r.kind)}`);
  }
  const kind = r.kind as AuditKind;
  if (r.result !== 'success' && r.result !== 'failure') {
    throw new AuditInputError(`audit field result: expected 'success' or 'failure', got ${JSON.stringify(r.result)}`);
  }
  let reason: ResultReasonName | null = null;
  if (r.reason !== undefined && r.reason !== null) {
    if (typeof r.reason !== 'string' || !REASONS.has(r.reason)) {
      throw new AuditInputError(`audit field reason: expected a ResultReason name such as 'PermissionDenied', got ${JSON.stringify(r.reason)}`);
    }
    reason = r.reason as ResultReasonName;
  }
  // operation is a name from a closed set (or a token), checked as given: nothing to escape.
  if (r.operation !== undefined && r.operation !== null && typeof r.operation !== 'string') text('operation', r.operation);
  const operation = (r.operation ?? null) as string | null;
  if (operation !== null) {
    if (operation.length > FIELD_LIMITS.operation) {
      throw new AuditInputError(`audit field operation: longer than ${FIELD_LIMITS.operation} characters (${operation.length})`);
    }
    if (kind === 'kmip' ? !OPERATIONS.has(operation) : !TOKEN.test(operation)) {
      throw new AuditInputError(kind === 'kmip'
        ? `audit field operation: expected a KMIP Operation name such as 'Get', got ${JSON.stringify(operation)}`
        : `audit field operation: expected a token of letters, digits and . _ : - (e.g. 'tenant.create'), got ${JSON.stringify(operation)}`);
    }
  }
  const detail = text('detail', r.detail);
  return {
    kind,
    identity: text('identity', r.identity),
    tenant: text('tenant', r.tenant),
    service: text('service', r.service),
    operation,
    objectId: text('objectId', r.objectId),
    result: r.result,
    reason,
    detail,
  };
}

/** The canonical form: every field but `hash`, keys sorted, no whitespace, nulls explicit. */
export function canonicalForm(r: Omit<AuditRecord, 'hash'>): string {
  // Keys in sorted order, each value through JSON.stringify (ECMA-262 §25.5.2: strings are
  // escaped deterministically, null is "null", integers have one form). Built by hand, not
  // JSON.stringify of an object: one allocation less per record on the append path.
  const j = JSON.stringify;
  const node = r.node === undefined ? '' : `,"node":${j(r.node)}`;
  return `{"detail":${j(r.detail)},"identity":${j(r.identity)},"kind":${j(r.kind)}${node},"objectId":${j(r.objectId)},"operation":${j(r.operation)},"prevHash":${j(r.prevHash)},"reason":${j(r.reason)},"result":${j(r.result)},"seq":${j(r.seq)},"service":${j(r.service)},"tenant":${j(r.tenant)},"time":${j(r.time)}}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** SHA-256(prevHash bytes ‖ canonical UTF-8), lower-case hex. */
export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
  if (!HEX64.test(r.prevHash)) throw new AuditInputError(`prevHash of record ${r.seq} is not 64 lower-case hex digits`);
  return createHash('sha256').update(Buffer.from(r.prevHash, 'hex')).update(canonicalForm(r), 'utf8').digest('hex');
}
