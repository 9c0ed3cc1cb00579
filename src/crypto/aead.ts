// AES-256-GCM sealing of key blobs with associated data, shared by every layer that wraps
// a key in software: the development L1 provider, the interim protector and the key
// hierarchy (L2, L3, L4 values). One place for the nonce policy and for the rule that a
// failed authentication leaves no plaintext behind.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** 96-bit random nonces (NIST SP 800-38D §8.2.2). */
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

// randomBytes costs about the same for 12 bytes as for 3 KiB (one call into the CSPRNG, plus
// a Buffer), and a wrap or a 64-byte Encrypt is otherwise a few microseconds: IVs and nonces
// are cut from a pooled random buffer (issue 12 §2). Each is copied out, so a caller owns its
// bytes and never holds a view of the IVs still to come; nothing else draws from the pool.
const NONCE_POOL_BYTES = 4096;
/** Larger requests go straight to the CSPRNG (a pool refill would be wasted on them). */
const MAX_POOLED_NONCE_BYTES = 64;
let noncePool = Buffer.alloc(0);
let noncePos = 0;

/** `n` fresh random bytes for an IV, nonce or counter block (public values, never keys). */
export function randomNonce(n: number): Buffer {
  if (n > MAX_POOLED_NONCE_BYTES) return randomBytes(n);
  if (noncePos + n > noncePool.length) {
    noncePool = randomBytes(NONCE_POOL_BYTES);
    noncePos = 0;
  }
  const out = Buffer.allocUnsafe(n);
  noncePool.copy(out, 0, noncePos, noncePos + n);
  // Used bytes are not left behind in the pool.
  noncePool.fill(0, noncePos, noncePos + n);
  noncePos += n;
  return out;
}

/** A fresh random 96-bit nonce. */
export function gcmNonce(): Buffer {
  return randomNonce(GCM_NONCE_BYTES);
}

const aadBytes = (aad: Buffer | string) => (typeof aad === 'string' ? Buffer.from(aad, 'utf8') : aad);

/** Encrypts under a 256-bit key with `aad` bound; a fresh nonce unless one is given. */
export function aes256GcmSeal(key: Buffer, aad: Buffer | string, plaintext: Buffer, nonce: Buffer = gcmNonce()): { nonce: Buffer; tag: Buffer; ct: Buffer } {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  c.setAAD(aadBytes(aad));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { nonce, tag: c.getAuthTag(), ct };
}

/**
 * Seals `plaintext` under a 256-bit key with the nonce given (a fresh one from randomNonce,
 * never reused), writing the ciphertext at `out[ctAt…]` and the tag at `out[tagAt…]`: for
 * callers that lay many blobs out in one buffer (the Core's bulk wrap of data keys), so no
 * intermediate buffers are joined per blob. `aad` is bytes, built once by the caller.
 */
export function aes256GcmSealInto(key: Buffer, aad: Buffer, nonce: Buffer, plaintext: Buffer, out: Buffer, tagAt: number, ctAt: number): void {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  c.setAAD(aad);
  const ct = c.update(plaintext);
  ct.copy(out, ctAt);
  // GCM is a stream mode: final() adds no bytes, it computes the tag.
  c.final();
  c.getAuthTag().copy(out, tagAt);
}

/**
 * Decrypts and authenticates. Returns undefined when the tag does not verify (altered blob,
 * other key, other associated data); the unauthenticated output is zeroed first.
 */
export function aes256GcmOpen(key: Buffer, aad: Buffer | string, nonce: Buffer, tag: Buffer, ct: Buffer): Buffer | undefined {
  const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  d.setAAD(aadBytes(aad));
  d.setAuthTag(tag);
  const out = d.update(ct);
  try {
    d.final();
  } catch {
    out.fill(0);
    return undefined;
  }
  return out;
}
