// Key derivation functions behind the Derive Key operation (KMIP 2.1 s.6.1.10, Derivation
// Method s.11.13): PBKDF2 (RFC 8018 §5.2), HKDF (RFC 5869), a hash or an HMAC over the
// derivation input, and the SP 800-108 KDFs in counter and feedback mode with an HMAC or
// AES-CMAC PRF. Pure: plain Buffers in, Buffers out; parameter problems are KdfError, which
// the operation layer reports as Invalid Field.
//
// Double-pipeline iteration mode (NIST800-108-DPI) is deliberately absent: no published
// known-answer values were available to test it against, and an untested KDF silently
// yields wrong keys forever. The operation answers it with a proper reason instead.
import { createHmac, hkdfSync, pbkdf2 as nodePbkdf2 } from 'node:crypto';
import { aesCmac } from './cmac.ts';
import { digest, hashLength, type HashName } from './hash.ts';

export class KdfError extends Error {
  override readonly name = 'KdfError';
}

/**
 * Largest output any derivation here produces. Derived keys are at most a few hundred
 * bytes; the bound stops a request asking for gigabytes of counter-mode output.
 */
export const MAX_DERIVED_BYTES = 8192;

/**
 * Largest PBKDF2 iteration count accepted. OWASP's 2023 figure for PBKDF2-HMAC-SHA256 is
 * 600 000; the cap sits above it and bounds the CPU one request can claim (about a second
 * on one core with SHA-256).
 */
export const MAX_PBKDF2_ITERATIONS = 2_000_000;

function checkLength(length: number, max: number = MAX_DERIVED_BYTES): void {
  if (!Number.isInteger(length) || length <= 0) throw new KdfError(`derived length must be a positive number of bytes, got ${length}`);
  if (length > max) throw new KdfError(`derived length ${length} bytes exceeds what this method produces (${max})`);
}

// ---------------------------------------------------------------------------
// RFC 8018 PBKDF2

/** PBKDF2 with HMAC-`hash` (RFC 8018 §5.2). Runs on the libuv thread pool: it is slow by design. */
export function pbkdf2(hash: HashName, password: Buffer, salt: Buffer, iterations: number, length: number): Promise<Buffer> {
  if (!Number.isInteger(iterations) || iterations < 1) throw new KdfError(`PBKDF2 needs an Iteration Count of at least 1, got ${iterations}`);
  if (iterations > MAX_PBKDF2_ITERATIONS) throw new KdfError(`PBKDF2 Iteration Count ${iterations} exceeds this server's limit of ${MAX_PBKDF2_ITERATIONS}`);
  checkLength(length);
  return new Promise((resolve, reject) => {
    nodePbkdf2(password, salt, iterations, length, hash, (err, key) => (err ? reject(new KdfError(err.message)) : resolve(key)));
  });
}

// ---------------------------------------------------------------------------
// RFC 5869 HKDF

/** HKDF-Extract-then-Expand (RFC 5869 §2). Output at most 255 hash lengths (§2.3). */
export function hkdf(hash: HashName, ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  checkLength(length, Math.min(255 * hashLength(hash), MAX_DERIVED_BYTES));
  // RFC 5869 §3.3 allows an empty IKM only in theory; a derivation from nothing is a bug.
  if (ikm.length === 0) throw new KdfError('HKDF needs non-empty input keying material');
  return Buffer.from(hkdfSync(hash, ikm, salt, info, length));
}

// ---------------------------------------------------------------------------
// KMIP HASH and HMAC methods

/**
 * KMIP HASH (s.11.13): the derived key is the leading `length` bytes of the hash of the
 * input. A longer key than the digest is an error (s.6.1.10: "If the specified length
 * exceeds the output of the derivation method, then the server SHALL return an error").
 */
export function hashDerive(hash: HashName, input: Buffer, length: number): Buffer {
  checkLength(length, hashLength(hash));
  return digest(hash, input).subarray(0, length);
}

/** KMIP HMAC (s.11.13): HMAC-`hash` keyed with the derivation key over the derivation data, truncated. */
export function hmacDerive(hash: HashName, key: Buffer, data: Buffer, length: number): Buffer {
  checkLength(length, hashLength(hash));
  if (key.length === 0) throw new KdfError('HMAC derivation needs a non-empty key');
  return createHmac(hash, key).update(data).digest().subarray(0, length);
}

// ---------------------------------------------------------------------------
// NIST SP 800-108 (KDF in counter and feedback mode)

export type KdfPrf = { kind: 'hmac'; hash: HashName } | { kind: 'cmac' };

const prfLength = (prf: KdfPrf): number => (prf.kind === 'hmac' ? hashLength(prf.hash) : 16);

function prfFunction(prf: KdfPrf, key: Buffer): (input: Buffer) => Buffer {
  if (key.length === 0) throw new KdfError('SP 800-108 needs a non-empty key-derivation key');
  if (prf.kind === 'hmac') {
    return (input) => createHmac(prf.hash, key).update(input).digest();
  }
  if (![16, 24, 32].includes(key.length)) throw new KdfError(`an AES-CMAC PRF needs a 128, 192 or 256-bit key, got ${key.length * 8} bits`);
  return (input) => aesCmac(key, input);
}

const be32 = (i: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i >>> 0);
  return b;
};

/**
 * SP 800-108 §5.1 counter mode with a 32-bit counter before the fixed input data:
 * K(i) = PRF(KI, [i]₂ ‖ FixedInput), i = 1…n. The fixed input (Label ‖ 0x00 ‖ Context ‖ [L]₂,
 * or any agreed encoding) is the caller's: KMIP passes the Derivation Data as it is.
 */
export function kdfCounter(prf: KdfPrf, key: Buffer, fixedInput: Buffer, length: number): Buffer {
  checkLength(length);
  const f = prfFunction(prf, key);
  const h = prfLength(prf);
  const blocks: Buffer[] = [];
  for (let i = 1; blocks.length * h < length; i++) blocks.push(f(Buffer.concat([be32(i), fixedInput])));
  return Buffer.concat(blocks).subarray(0, length);
}

/**
 * SP 800-108 §5.2 feedback mode with a 32-bit counter after the iteration variable:
 * K(0) = IV, K(i) = PRF(KI, K(i-1) ‖ [i]₂ ‖ FixedInput). An empty IV is allowed (§5.2).
 */
export function kdfFeedback(prf: KdfPrf, key: Buffer, iv: Buffer, fixedInput: Buffer, length: number): Buffer {
  checkLength(length);
  const f = prfFunction(prf, key);
  const h = prfLength(prf);
  const blocks: Buffer[] = [];
  let previous = iv;
  for (let i = 1; blocks.length * h < length; i++) {
    previous = f(Buffer.concat([previous, be32(i), fixedInput]));
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}
