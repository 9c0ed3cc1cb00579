// Formats the gateway hands to applications (issue 11 §2), all self-describing.
//
// Wrapped data key: the Core's blob as is (src/operations/common/service-l3.ts):
//   [0x02][L3 version, uint32 BE][nonce 12][tag 16][wrapped L4]
//
// Envelope ciphertext (POST /v1/encrypt), format version 1:
//   [0x01][wrapped-key length, uint16 BE][wrapped data key …][nonce 12][tag 16][ciphertext]
// AES-256-GCM (or AES-128-GCM for an AES_128 data key) under the L4, associated data = the
// envelope header (format byte, length, wrapped key) followed by the context: a ciphertext
// moved to another context, or with its wrapped key swapped, does not open. The L3 version is
// the wrapped key's bytes 1–4.
//
// Nonce budget: nonces are 96-bit random (NIST SP 800-38D §8.2.2). One L4 seals at most
// `maxMessagesPerKey` envelopes (default 2^20), far below the 2^32 random-nonce limit of
// §8.3, so the chance of a repeated nonce under one key stays below 2^-57 per key.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const WRAPPED_KEY_FORMAT = 0x02;
export const WRAPPED_KEY_HEADER_BYTES = 1 + 4 + 12 + 16;
export const ENVELOPE_FORMAT_V1 = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Longest wrapped key an envelope can name (uint16 length); the Core's are 49 or 65 bytes. */
const MAX_WRAPPED_IN_ENVELOPE = 0xffff;

/** A refusal to show the application in one line. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Where a wrapped data key is malformed, checked before anything is sent to the Core. */
export function wrappedKeyDefect(blob: Buffer): string | undefined {
  if (blob.length === 0) return 'wrapped key is empty';
  if (blob[0] !== WRAPPED_KEY_FORMAT) return `wrapped key is malformed at byte 0: format ${blob[0]}, expected ${WRAPPED_KEY_FORMAT}`;
  if (blob.length < 5) return `wrapped key is malformed at byte ${blob.length}: truncated inside the L3 version`;
  if (blob.readUInt32BE(1) === 0) return 'wrapped key is malformed at byte 1: L3 version 0 never exists';
  if (blob.length !== WRAPPED_KEY_HEADER_BYTES + 16 && blob.length !== WRAPPED_KEY_HEADER_BYTES + 32) {
    return `wrapped key is malformed at byte ${Math.min(blob.length, WRAPPED_KEY_HEADER_BYTES + 32)}: ${blob.length} bytes, expected ${WRAPPED_KEY_HEADER_BYTES + 16} or ${WRAPPED_KEY_HEADER_BYTES + 32}`;
  }
  return undefined;
}

export const l3VersionOf = (wrapped: Buffer): number => wrapped.readUInt32BE(1);

const cipherFor = (key: Buffer) => (key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm');

/** Nonces drawn per CSPRNG call (NONCE_BYTES each): one call of 6 KiB instead of 512 calls of 12 bytes. */
export const NONCES_PER_DRAW = 512;

/**
 * 96-bit random nonces (SP 800-38D §8.2.2, the RBG-based construction) taken from one larger
 * CSPRNG draw: each nonce is still fresh random bits used once; only the calls are fewer. A
 * `randomBytes(12)` costs about 6 µs of CPU here (OpenSSL 3's per-call DRBG overhead and
 * Node's call path), more than the AES-GCM of a 1 KiB message (bench/README.md "Gateway").
 * Nonces are not secret; the draw is not zeroized.
 */
export class NonceSource {
  private draw = Buffer.alloc(0);
  private at = 0;
  next(): Buffer {
    if (this.at + NONCE_BYTES > this.draw.length) {
      this.draw = randomBytes(NONCE_BYTES * NONCES_PER_DRAW);
      this.at = 0;
    }
    const n = this.draw.subarray(this.at, this.at + NONCE_BYTES);
    this.at += NONCE_BYTES;
    return n;
  }
}

const sharedNonces = new NonceSource();

/**
 * Seals envelopes under one L4 for one context: the header and the associated data (header
 * followed by the context) are built once, not per message, and each envelope is written
 * into one buffer of its final size (the former per-message header, two concatenations and
 * a 12-byte CSPRNG call cost more than the cipher itself).
 */
export class EnvelopeSealer {
  private readonly header: Buffer;
  private readonly aad: Buffer;
  private readonly cipher: 'aes-128-gcm' | 'aes-256-gcm';
  constructor(private readonly l4: Buffer, wrapped: Buffer, context: Buffer, private readonly nonces: NonceSource = sharedNonces) {
    if (wrapped.length > MAX_WRAPPED_IN_ENVELOPE) throw new Error('wrapped key too long for an envelope');
    const header = Buffer.alloc(3 + wrapped.length);
    header[0] = ENVELOPE_FORMAT_V1;
    header.writeUInt16BE(wrapped.length, 1);
    wrapped.copy(header, 3);
    this.header = header;
    this.aad = Buffer.concat([header, context]);
    this.cipher = cipherFor(l4);
  }

  /** Bytes of the envelope header (format, length, wrapped key): fixed per sealer. */
  get headerBytes(): number {
    return this.header.length;
  }

  /** Bytes of the envelope of a plaintext of `plaintextLength` bytes. */
  sizeOf(plaintextLength: number): number {
    return this.header.length + NONCE_BYTES + TAG_BYTES + plaintextLength;
  }

  seal(plaintext: Buffer): Buffer {
    const out = Buffer.allocUnsafe(this.sizeOf(plaintext.length));
    this.sealInto(out, 0, plaintext);
    return out;
  }

  /**
   * Writes the envelope of `plaintext` into `out` at `at` (sizeOf(plaintext.length) bytes
   * there) and returns the offset after it: a bulk answer is written into one buffer sized up
   * front, with no buffer of its own per envelope to copy again.
   */
  sealInto(out: Buffer, at: number, plaintext: Buffer): number {
    const h = this.header.length;
    const nonce = this.nonces.next();
    const c = createCipheriv(this.cipher, this.l4, nonce);
    c.setAAD(this.aad);
    this.header.copy(out, at);
    nonce.copy(out, at + h);
    // GCM is a stream mode: update returns exactly the plaintext's length, final nothing.
    // (Node's cipher has no update-into-a-buffer, so this one copy stays.)
    c.update(plaintext).copy(out, at + h + NONCE_BYTES + TAG_BYTES);
    c.final();
    c.getAuthTag().copy(out, at + h + NONCE_BYTES);
    return at + h + NONCE_BYTES + TAG_BYTES + plaintext.length;
  }
}

/** One envelope (tests, tools); the gateway keeps an EnvelopeSealer per L4 and context. */
export function sealEnvelope(l4: Buffer, wrapped: Buffer, context: Buffer, plaintext: Buffer): Buffer {
  return new EnvelopeSealer(l4, wrapped, context).seal(plaintext);
}

export interface ParsedEnvelope {
  header: Buffer;
  wrapped: Buffer;
  nonce: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

export function parseEnvelope(buf: Buffer): ParsedEnvelope {
  const bad = (at: number, why: string) => new GatewayError(400, `ciphertext is malformed at byte ${at}: ${why}`);
  if (buf.length === 0) throw bad(0, 'empty');
  if (buf[0] !== ENVELOPE_FORMAT_V1) throw bad(0, `format ${buf[0]}, expected ${ENVELOPE_FORMAT_V1}`);
  if (buf.length < 3) throw bad(buf.length, 'truncated inside the wrapped-key length');
  const w = buf.readUInt16BE(1);
  const end = 3 + w;
  if (buf.length < end + NONCE_BYTES + TAG_BYTES) throw bad(buf.length, `truncated (the wrapped key alone is ${w} bytes)`);
  const wrapped = buf.subarray(3, end);
  const defect = wrappedKeyDefect(wrapped);
  if (defect !== undefined) throw new GatewayError(400, `ciphertext's ${defect.replace(/at byte (\d+)/, (_m, n: string) => `at byte ${3 + Number(n)}`)}`);
  return {
    header: buf.subarray(0, end), wrapped,
    nonce: buf.subarray(end, end + NONCE_BYTES), tag: buf.subarray(end + NONCE_BYTES, end + NONCE_BYTES + TAG_BYTES),
    ciphertext: buf.subarray(end + NONCE_BYTES + TAG_BYTES),
  };
}

/** Undefined when authentication fails (altered, or another context). */
export function openEnvelope(l4: Buffer, env: ParsedEnvelope, context: Buffer): Buffer | undefined {
  const d = createDecipheriv(cipherFor(l4), l4, env.nonce);
  d.setAAD(Buffer.concat([env.header, context]));
  d.setAuthTag(env.tag);
  try {
    return Buffer.concat([d.update(env.ciphertext), d.final()]);
  } catch {
    return undefined;
  }
}
