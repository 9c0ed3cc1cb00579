// Message digests for the Hash operation (KMIP 2.1 s.6.1.23; 1.4 s.4.37) and for the
// hash-then-sign / HMAC code. Pure: names are node:crypto digest names; the KMIP Hashing
// Algorithm enumeration is mapped in operations/common/crypto-params.ts.
import { createHash, type Hash } from 'node:crypto';

/**
 * The digests this server computes. MD2/MD4/MD5, RIPEMD-160, Tiger and Whirlpool are left
 * out on purpose: they are broken or absent from OpenSSL 3's default provider, and a KMS
 * that offers them invites their use.
 */
export const HASH_NAMES = [
  'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha512-224', 'sha512-256',
  'sha3-224', 'sha3-256', 'sha3-384', 'sha3-512',
] as const;
export type HashName = (typeof HASH_NAMES)[number];

const LENGTHS: Readonly<Record<HashName, number>> = {
  sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64, 'sha512-224': 28, 'sha512-256': 32,
  'sha3-224': 28, 'sha3-256': 32, 'sha3-384': 48, 'sha3-512': 64,
};

export const isHashName = (s: string): s is HashName => (HASH_NAMES as readonly string[]).includes(s);

/** Output length in bytes. */
export const hashLength = (h: HashName): number => LENGTHS[h];

/** One-shot digest. */
export function digest(h: HashName, data: Buffer): Buffer {
  return createHash(h).update(data).digest();
}

/**
 * A digest fed in parts (multi-part Hash, s.6.1.23 Init/Final Indicator). Only the running
 * state is kept, so its memory does not grow with the data.
 */
export interface IncrementalHash {
  readonly name: HashName;
  update(part: Buffer): void;
  /** Ends the computation; the object cannot be used afterwards. */
  digest(): Buffer;
}

export function createIncrementalHash(h: HashName): IncrementalHash {
  let state: Hash | undefined = createHash(h);
  return {
    name: h,
    update(part) {
      if (state === undefined) throw new Error('digest already finished');
      state.update(part);
    },
    digest() {
      if (state === undefined) throw new Error('digest already finished');
      const out = state.digest();
      state = undefined;
      return out;
    },
  };
}
