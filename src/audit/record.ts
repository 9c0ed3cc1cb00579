// The audit record: its typed input, the runtime validation that keeps anything but short
// text out of it, its canonical form and its place in the hash chain (issue 7, "Audit").
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
 * Length limits (in UTF-16 code units). They keep one record inside one syslog datagram
 * (RFC 5426 §3.2: receivers SHOULD take 2048 octets) and stop a caller from dumping a
 * payload into the log.
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
 * A detail with an unbroken run this long of base64/hex/PEM alphabet is refused: no
 * sentence has such a word, while a wrapped key, a certificate or a private key in text
 * form does. (A 64-character hex fingerprint passes; short keys in hex cannot be told
 * from fingerprints — the rule is a safety net, the typed API is the protection.)
 */
export const MAX_OPAQUE_RUN = 128;

export class AuditInputError extends Error {
  override readonly name = 'AuditInputError';
}

const KINDS: ReadonlySet<string> = new Set(AUDIT_KINDS);
const REASONS: ReadonlySet<string> = new Set(Object.keys(ResultReason));
const OPERATIONS: ReadonlySet<string> = new Set(Object.keys(Operation));
const ALLOWED_KEYS: ReadonlySet<string> = new Set(INPUT_FIELDS);
// C0 controls, DEL and C1 controls: a newline in a field would forge a second line in a
// JSON-lines file or a syslog stream (log injection); NUL is cut by some SQLite functions.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// In a /u regex a paired surrogate is one code point, so this matches only lone halves,
// which UTF-8 (SQLite TEXT) cannot represent: the stored text would differ from the hashed one.
const LONE_SURROGATE = /[\ud800-\udfff]/u;
/** One pass over each field on the append path; the two above only name the problem. */
const BAD_CHAR = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udfff]/u;
const OPAQUE_RUN = new RegExp(`[A-Za-z0-9+/=_-]{${MAX_OPAQUE_RUN},}`);
const TOKEN = /^[A-Za-z][A-Za-z0-9._:-]*$/;

function text(field: keyof typeof FIELD_LIMITS, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    // Buffers, typed arrays, numbers, objects: refused, whatever they hold.
    const what = v instanceof Uint8Array ? 'bytes' : Array.isArray(v) ? 'an array' : typeof v;
    throw new AuditInputError(`audit field ${field}: expected a string or null, got ${what}`);
  }
  if (v.length > FIELD_LIMITS[field]) throw new AuditInputError(`audit field ${field}: longer than ${FIELD_LIMITS[field]} characters (${v.length})`);
  if (BAD_CHAR.test(v)) {
    throw new AuditInputError(CONTROL.test(v) ? `audit field ${field}: control characters are not allowed` : `audit field ${field}: not well-formed Unicode (lone surrogate)`);
  }
  return v;
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
  const operation = text('operation', r.operation);
  if (operation !== null) {
    if (kind === 'kmip' ? !OPERATIONS.has(operation) : !TOKEN.test(operation)) {
      throw new AuditInputError(kind === 'kmip'
        ? `audit field operation: expected a KMIP Operation name such as 'Get', got ${JSON.stringify(operation)}`
        : `audit field operation: expected a token of letters, digits and . _ : - (e.g. 'tenant.create'), got ${JSON.stringify(operation)}`);
    }
  }
  const detail = text('detail', r.detail);
  if (detail !== null && (detail.includes('-----BEGIN') || OPAQUE_RUN.test(detail))) {
    throw new AuditInputError('audit field detail: looks like encoded key material or a certificate (a PEM block or a long base64/hex run); audit details are short text');
  }
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
  return `{"detail":${j(r.detail)},"identity":${j(r.identity)},"kind":${j(r.kind)},"objectId":${j(r.objectId)},"operation":${j(r.operation)},"prevHash":${j(r.prevHash)},"reason":${j(r.reason)},"result":${j(r.result)},"seq":${j(r.seq)},"service":${j(r.service)},"tenant":${j(r.tenant)},"time":${j(r.time)}}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** SHA-256(prevHash bytes ‖ canonical UTF-8), lower-case hex. */
export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
  if (!HEX64.test(r.prevHash)) throw new AuditInputError(`prevHash of record ${r.seq} is not 64 lower-case hex digits`);
  return createHash('sha256').update(Buffer.from(r.prevHash, 'hex')).update(canonicalForm(r), 'utf8').digest('hex');
}
