// The compact binary body of the bulk endpoints (issue 11 §4): `Content-Type:
// application/octet-stream` on POST /v1/datakeys, /v1/datakeys/unwrap and /v1/encrypt/bulk
// carries the same request as the JSON body without base64 or JSON, and is answered in kind.
// JSON stays the default. All integers are big-endian; README.md "Binary bodies" documents it.
//
// Request:
//   u8  format (BINARY_FORMAT_V1)
//   u8  n, then n bytes: the service id (ASCII)
//   u16 m, then m bytes: the context, as is (the associated data; the JSON string "x" is the bytes of "x")
//   u32 count of entries (1 to the endpoint's limit)
//   /v1/datakeys:        u8 key length (16 or 32), nothing else
//   /v1/datakeys/unwrap: count × (u32 length, wrapped key)
//   /v1/encrypt/bulk:    count × (u32 length, plaintext)
//
// Response (200):
//   u8  format, u32 L3 version (0 for an unwrap), u32 count, then count results in request order:
//   u8  status: RESULT_OK, then the endpoint's fields — data keys: plaintext, wrapped; unwrap:
//       plaintext; encrypt: ciphertext — or RESULT_REFUSED, then one field: the reason (UTF-8)
//   a field is u32 length, then the bytes.
// A request refused as a whole is answered as with JSON: its HTTP status and {"error": "…"}.
//
// Every defect of a binary body is refused before any work, with the byte where it is.

export const BINARY_MEDIA_TYPE = 'application/octet-stream';
export const BINARY_FORMAT_V1 = 0x01;
export const RESULT_OK = 0;
export const RESULT_REFUSED = 1;
/** Format byte, L3 version, count: the bytes before the first result of a response. */
export const BINARY_RESPONSE_HEADER_BYTES = 1 + 4 + 4;

export interface BinaryRequest {
  service: string;
  context: Buffer;
  count: number;
  /** /v1/datakeys: the key length asked for. */
  keyLength?: number;
  /** /v1/datakeys/unwrap and /v1/encrypt/bulk: the entries (views into the body). */
  entries?: Buffer[];
}

export type BinaryRequestKind = 'count' | 'entries';

/** A defect of a binary body: where it is and what is wrong, in one line. */
export class BinaryBodyError extends Error {
  override readonly name = 'BinaryBodyError';
  constructor(at: number, why: string) {
    super(`binary body is malformed at byte ${at}: ${why}`);
  }
}

/**
 * Reads a binary request. `kind` says what follows the count; `maxCount` and `maxContext`
 * are the endpoint's limits (the same as for JSON bodies).
 */
export function parseBinaryRequest(body: Buffer, kind: BinaryRequestKind, maxCount: number, maxContext: number): BinaryRequest {
  let at = 0;
  const need = (n: number, what: string) => {
    if (at + n > body.length) throw new BinaryBodyError(body.length, `truncated inside ${what} (${n} bytes needed, ${body.length - at} left)`);
  };
  need(1, 'the format byte');
  if (body[0] !== BINARY_FORMAT_V1) throw new BinaryBodyError(0, `format ${body[0]}, expected ${BINARY_FORMAT_V1}`);
  at = 1;
  need(1, 'the service length');
  const n = body[at++]!;
  if (n === 0) throw new BinaryBodyError(1, 'service id is empty');
  need(n, 'the service id');
  const service = body.toString('latin1', at, at + n);
  at += n;
  need(2, 'the context length');
  const m = body.readUInt16BE(at);
  if (m > maxContext) throw new BinaryBodyError(at, `context is ${m} bytes; at most ${maxContext}`);
  at += 2;
  need(m, 'the context');
  const context = body.subarray(at, at + m);
  at += m;
  need(4, 'the count');
  const countAt = at;
  const count = body.readUInt32BE(at);
  at += 4;
  if (count < 1 || count > maxCount) throw new BinaryBodyError(countAt, `count ${count}; from 1 to ${maxCount}`);
  if (kind === 'count') {
    need(1, 'the key length');
    const keyLength = body[at++]!;
    if (keyLength !== 16 && keyLength !== 32) throw new BinaryBodyError(at - 1, `key length ${keyLength}; 16 (AES_128) or 32 (AES_256)`);
    if (at !== body.length) throw new BinaryBodyError(at, `${body.length - at} bytes after the request`);
    return { service, context, count, keyLength };
  }
  const entries: Buffer[] = new Array(count);
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.length) throw new BinaryBodyError(body.length, `count ${count} but the body ends after ${i} entries`);
    const len = body.readUInt32BE(at);
    at += 4;
    if (len > body.length - at) throw new BinaryBodyError(at - 4, `entry ${i} claims ${len} bytes, ${body.length - at} left`);
    entries[i] = body.subarray(at, at + len);
    at += len;
  }
  if (at !== body.length) throw new BinaryBodyError(at, `${body.length - at} bytes after entry ${count - 1} (count ${count})`);
  return { service, context, count, entries };
}

/** Builds a binary request (applications, tests and bench/gateway.ts). */
export function buildBinaryRequest(r: BinaryRequest): Buffer {
  const service = Buffer.from(r.service, 'latin1');
  const entries = r.entries ?? [];
  let size = 1 + 1 + service.length + 2 + r.context.length + 4 + (r.keyLength !== undefined ? 1 : 0);
  for (const e of entries) size += 4 + e.length;
  const out = Buffer.alloc(size);
  let at = 0;
  out[at++] = BINARY_FORMAT_V1;
  out[at++] = service.length;
  at += service.copy(out, at);
  at = out.writeUInt16BE(r.context.length, at);
  at += r.context.copy(out, at);
  at = out.writeUInt32BE(r.count, at);
  if (r.keyLength !== undefined) out[at++] = r.keyLength;
  for (const e of entries) {
    at = out.writeUInt32BE(e.length, at);
    at += e.copy(out, at);
  }
  return out;
}

/** One result of a binary response: its fields, or the reason it was refused. */
export type BinaryResult = { ok: true; fields: Buffer[] } | { ok: false; reason: string };

/**
 * Writes a binary response into one buffer of its final size. `fieldsOf(i)` gives result i's
 * fields or its refusal; the size is counted first so nothing is copied twice.
 */
export function buildBinaryResponse(l3Version: number, results: readonly BinaryResult[]): Buffer {
  let size = 1 + 4 + 4;
  const reasons: Array<Buffer | undefined> = new Array(results.length);
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (r.ok) { size += 1; for (const f of r.fields) size += 4 + f.length; } else {
      const b = Buffer.from(r.reason, 'utf8');
      reasons[i] = b;
      size += 1 + 4 + b.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  out[at++] = BINARY_FORMAT_V1;
  at = out.writeUInt32BE(l3Version, at);
  at = out.writeUInt32BE(results.length, at);
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    const fields = r.ok ? r.fields : [reasons[i]!];
    out[at++] = r.ok ? RESULT_OK : RESULT_REFUSED;
    for (const f of fields) {
      at = out.writeUInt32BE(f.length, at);
      at += f.copy(out, at);
    }
  }
  return out;
}

/**
 * The response of POST /v1/datakeys (every result OK: plaintext, wrapped), written into one
 * buffer of its final size straight from the keys, with no result objects in between.
 */
export function buildDataKeysResponse(l3Version: number, keys: readonly Buffer[], wrapped: readonly Buffer[]): Buffer {
  let size = BINARY_RESPONSE_HEADER_BYTES;
  for (let i = 0; i < keys.length; i++) size += 1 + 4 + keys[i]!.length + 4 + wrapped[i]!.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = BINARY_FORMAT_V1;
  out.writeUInt32BE(l3Version, 1);
  let at = out.writeUInt32BE(keys.length, 5);
  for (let i = 0; i < keys.length; i++) {
    out[at++] = RESULT_OK;
    at = out.writeUInt32BE(keys[i]!.length, at);
    at += keys[i]!.copy(out, at);
    at = out.writeUInt32BE(wrapped[i]!.length, at);
    at += wrapped[i]!.copy(out, at);
  }
  return out;
}

/** Reads a binary response (applications, tests, bench): `fieldsPerResult` is 2 for data keys, 1 otherwise. */
export function parseBinaryResponse(body: Buffer, fieldsPerResult: number): { l3Version: number; results: BinaryResult[] } {
  if (body.length < 9) throw new BinaryBodyError(body.length, 'truncated inside the response header');
  if (body[0] !== BINARY_FORMAT_V1) throw new BinaryBodyError(0, `format ${body[0]}, expected ${BINARY_FORMAT_V1}`);
  const l3Version = body.readUInt32BE(1);
  const count = body.readUInt32BE(5);
  let at = 9;
  const field = () => {
    if (at + 4 > body.length) throw new BinaryBodyError(body.length, 'truncated inside a field length');
    const len = body.readUInt32BE(at);
    at += 4;
    if (len > body.length - at) throw new BinaryBodyError(at - 4, `field claims ${len} bytes, ${body.length - at} left`);
    const f = body.subarray(at, at + len);
    at += len;
    return f;
  };
  const results: BinaryResult[] = [];
  for (let i = 0; i < count; i++) {
    if (at >= body.length) throw new BinaryBodyError(at, `count ${count} but the body ends after ${i} results`);
    const status = body[at++];
    if (status === RESULT_OK) results.push({ ok: true, fields: Array.from({ length: fieldsPerResult }, field) });
    else if (status === RESULT_REFUSED) results.push({ ok: false, reason: field().toString('utf8') });
    else throw new BinaryBodyError(at - 1, `result status ${status}`);
  }
  if (at !== body.length) throw new BinaryBodyError(at, `${body.length - at} bytes after the last result`);
  return { l3Version, results };
}
