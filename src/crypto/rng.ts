// Random numbers for RNG Retrieve and RNG Seed (KMIP 2.1 s.6.1.41, s.6.1.42; 1.4 s.4.35,
// s.4.36).
//
// RNG Seed lets a client feed data into the server's generator. A client may be hostile, so
// seeding must never make the output more predictable. The pool works like a DRBG over
// HMAC-SHA-512 (in the spirit of SP 800-90A HMAC_DRBG, not a certified implementation):
//
//   state:   K (64 secret bytes, initially from node's CSPRNG), counter C
//   block:   out_i = HMAC-SHA-512(K, "out" ‖ C ‖ R_i)      R_i = 64 fresh bytes of randomBytes()
//   rekey:   K ← HMAC-SHA-512(K, "rekey" ‖ C ‖ R)          after every Retrieve (backtracking resistance)
//   seed:    K ← HMAC-SHA-512(K, "seed" ‖ len ‖ S ‖ R)     S = the client's seed
//
// Why a hostile seed cannot hurt: the new K is a PRF of the old, secret K (it keys the HMAC),
// so a client that chose S still does not know K; and every output block also takes 64 fresh
// bytes of OpenSSL's CTR_DRBG as input, so even a disclosed K leaves the output as strong as
// node's own generator. The seed can only add entropy, never replace it.
import { createHmac, randomBytes } from 'node:crypto';

/** Largest RNG Retrieve answered in one request: bounds the response and the CPU one request can take. */
export const MAX_RNG_RETRIEVE_BYTES = 1024 * 1024;
/** Seed bytes accepted per RNG Seed; more is ignored and the response's Data Length says how much was used (s.6.1.42). */
export const MAX_RNG_SEED_BYTES = 4096;

const BLOCK = 64;
const LABEL_OUT = Buffer.from('out');
const LABEL_REKEY = Buffer.from('rekey');
const LABEL_SEED = Buffer.from('seed');

export class RandomPool {
  #key: Buffer = randomBytes(BLOCK);
  #counter = 0n;

  #next(): Buffer {
    const c = Buffer.alloc(8);
    c.writeBigUInt64BE(this.#counter);
    this.#counter = (this.#counter + 1n) & 0xffffffffffffffffn;
    return c;
  }

  /** `length` random bytes (1 ≤ length ≤ MAX_RNG_RETRIEVE_BYTES). */
  retrieve(length: number): Buffer {
    if (!Number.isInteger(length) || length < 1 || length > MAX_RNG_RETRIEVE_BYTES) {
      throw new RangeError(`random data length must be 1..${MAX_RNG_RETRIEVE_BYTES} bytes, got ${length}`);
    }
    const out = Buffer.alloc(length);
    for (let off = 0; off < length; off += BLOCK) {
      const block = createHmac('sha512', this.#key).update(LABEL_OUT).update(this.#next()).update(randomBytes(BLOCK)).digest();
      block.copy(out, off, 0, Math.min(BLOCK, length - off));
      block.fill(0);
    }
    this.#rekey(LABEL_REKEY, [randomBytes(BLOCK)]);
    return out;
  }

  /** Mixes `seed` into the pool; returns how many of its bytes were used. */
  seed(seed: Buffer): number {
    const used = seed.subarray(0, MAX_RNG_SEED_BYTES);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(used.length);
    this.#rekey(LABEL_SEED, [len, used, randomBytes(32)]);
    return used.length;
  }

  #rekey(label: Buffer, parts: Buffer[]): void {
    const h = createHmac('sha512', this.#key).update(label).update(this.#next());
    for (const p of parts) h.update(p);
    const next = h.digest();
    this.#key.fill(0);
    this.#key = next;
  }
}

/** The server's pool (one per process). */
export const serverRandomPool = new RandomPool();
