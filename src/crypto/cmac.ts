// AES-CMAC (NIST SP 800-38B; RFC 4493 for AES-128). Node's crypto has no CMAC, so it is
// built here from AES-ECB on single blocks. Used by MAC / MACVerify (KMIP 2.1 s.6.1.29,
// s.6.1.30) with Cryptographic Algorithm AES.
import { createCipheriv, timingSafeEqual } from 'node:crypto';

const BLOCK = 16;
// R_128 from SP 800-38B §5.3: the constant XORed in when the doubled subkey overflows.
const RB = 0x87;

function aesBlockCipher(key: Buffer): (block: Buffer) => Buffer {
  const alg = `aes-${key.length * 8}-ecb`;
  if (![16, 24, 32].includes(key.length)) throw new RangeError(`AES-CMAC key must be 16, 24 or 32 bytes, got ${key.length}`);
  return (block) => {
    const c = createCipheriv(alg, key, null);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(block), c.final()]);
  };
}

/** Doubling in GF(2^128) (SP 800-38B §6.1): shift left one bit, XOR Rb if the top bit was set. */
function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  let carry = 0;
  for (let i = BLOCK - 1; i >= 0; i--) {
    const v = b[i]!;
    out[i] = ((v << 1) | carry) & 0xff;
    carry = v >>> 7;
  }
  if (b[0]! & 0x80) out[BLOCK - 1] = out[BLOCK - 1]! ^ RB;
  return out;
}

/** Computes the full 16-byte CMAC tag of `message` under `key`. */
export function aesCmac(key: Buffer, message: Buffer): Buffer {
  const enc = aesBlockCipher(key);
  const l = enc(Buffer.alloc(BLOCK));
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  // The last block is XORed with K1 when complete, else padded with 10* and XORed with K2.
  const last = Buffer.alloc(BLOCK);
  const lastStart = (n - 1) * BLOCK;
  if (complete) {
    for (let i = 0; i < BLOCK; i++) last[i] = message[lastStart + i]! ^ k1[i]!;
  } else {
    const rem = message.length - lastStart;
    message.copy(last, 0, lastStart);
    last[rem] = 0x80;
    for (let i = 0; i < BLOCK; i++) last[i]! ^= k2[i]!;
  }
  let x: Buffer = Buffer.alloc(BLOCK);
  const y = Buffer.alloc(BLOCK);
  for (let b = 0; b < n - 1; b++) {
    for (let i = 0; i < BLOCK; i++) y[i] = x[i]! ^ message[b * BLOCK + i]!;
    x = enc(y);
  }
  for (let i = 0; i < BLOCK; i++) y[i] = x[i]! ^ last[i]!;
  return enc(y);
}

/** Constant-time check of a (possibly truncated, SP 800-38B §6.2) tag. */
export function aesCmacVerify(key: Buffer, message: Buffer, tag: Buffer): boolean {
  if (tag.length === 0 || tag.length > BLOCK) return false;
  const full = aesCmac(key, message);
  return timingSafeEqual(full.subarray(0, tag.length), tag);
}
