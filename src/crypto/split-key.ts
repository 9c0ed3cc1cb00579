// Key splitting for Create Split Key / Join Split Key (KMIP 2.1 s.6.1 Create Split Key, s.6.1 Join Split Key; the
// Split Key object s.2.2.5; Split Key Method enumeration s.11.54): XOR and the three
// polynomial (Shamir) sharings the enumeration lists — GF(2^8), GF(2^16) and a prime field.
//
// Representation choices (the specification names the fields, not a byte layout):
// - Key Part Identifier = the x coordinate of the part, 1..N (x = 0 is the secret).
// - GF(2^8) is the AES field, GF(2)[x]/(x^8 + x^4 + x^3 + x + 1); the secret is shared
//   byte by byte, each byte with its own random polynomial of degree threshold − 1.
// - GF(2^16) is the quadratic extension GF(2^8)[z]/(z^2 + z + 0x3A) of that field; the
//   secret is shared in 16-bit words, each word big-endian: the high byte is the z
//   coefficient, the low byte the constant one. Secrets of odd length are refused.
// - Prime field: the whole secret is one big-endian integer that must be smaller than the
//   prime (Prime Field Size); every part is an integer mod p written big-endian on as many
//   bytes as p needs.
// - XOR: every part is needed (threshold = parts): N − 1 random parts and the XOR of the
//   secret with all of them.
// Pure: no I/O; randomness from node:crypto.
import { checkPrimeSync, randomBytes } from 'node:crypto';

export const SplitMethod = { XOR: 1, GF2_16: 2, PrimeField: 3, GF2_8: 4 } as const;

export class SplitKeyError extends Error {}

export interface SplitParams {
  method: number;
  parts: number;
  threshold: number;
  /** Required for the prime field method. */
  prime?: bigint;
}

export interface KeyPart {
  /** Key Part Identifier: the x coordinate (1..N). */
  id: number;
  bytes: Buffer;
}

// ---- GF(2^8), AES polynomial ------------------------------------------------------------

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
(() => {
  // 0x03 generates the multiplicative group of the AES field.
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    // x * 3 = x * 2 ^ x, with the reduction by 0x11B.
    let x2 = x << 1;
    if (x2 & 0x100) x2 ^= 0x11b;
    x = x2 ^ x;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
})();

export function gf8Mul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

export function gf8Inv(a: number): number {
  if (a === 0) throw new SplitKeyError('zero has no inverse in GF(2^8)');
  return EXP[255 - LOG[a]!]!;
}

// ---- GF(2^16) = GF(2^8)[z] / (z^2 + z + 0x3A) -------------------------------------------

const GF16_M = 0x3a;

/** Element as a 16-bit number: high byte = z coefficient, low byte = constant. */
export function gf16Mul(a: number, b: number): number {
  const a0 = a & 0xff, a1 = a >> 8, b0 = b & 0xff, b1 = b >> 8;
  const c0 = gf8Mul(a0, b0);
  const c1 = gf8Mul(a0, b1) ^ gf8Mul(a1, b0);
  const c2 = gf8Mul(a1, b1);
  // z^2 = z + m (characteristic 2): c2·z^2 = c2·z + c2·m.
  return ((c1 ^ c2) << 8) | (c0 ^ gf8Mul(c2, GF16_M));
}

export function gf16Inv(a: number): number {
  if (a === 0) throw new SplitKeyError('zero has no inverse in GF(2^16)');
  // (u + v·z)^-1 = ((u + v) + v·z) / d with d = u(u + v) + m·v^2, the norm (in GF(2^8)).
  const u = a & 0xff, v = a >> 8;
  const d = gf8Mul(u, u ^ v) ^ gf8Mul(GF16_M, gf8Mul(v, v));
  const dInv = gf8Inv(d);
  return (gf8Mul(v, dInv) << 8) | gf8Mul(u ^ v, dInv);
}

// ---- a field as four operations -----------------------------------------------------------

interface Field<T> {
  zero: T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  inv(a: T): T;
  fromX(x: number): T;
  random(): T;
}

const GF8: Field<number> = {
  zero: 0, add: (a, b) => a ^ b, sub: (a, b) => a ^ b, mul: gf8Mul, inv: gf8Inv, fromX: (x) => x,
  random: () => randomBytes(1)[0]!,
};

const GF16: Field<number> = {
  zero: 0, add: (a, b) => a ^ b, sub: (a, b) => a ^ b, mul: gf16Mul, inv: gf16Inv, fromX: (x) => x,
  random: () => randomBytes(2).readUInt16BE(0),
};

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let r = 1n;
  let b = base % m;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

function primeField(p: bigint): Field<bigint> {
  const bytes = byteLength(p);
  const mod = (a: bigint): bigint => ((a % p) + p) % p;
  return {
    zero: 0n,
    add: (a, b) => mod(a + b),
    sub: (a, b) => mod(a - b),
    mul: (a, b) => mod(a * b),
    // Fermat: a^(p-2) = a^-1 for a prime p.
    inv: (a) => {
      if (a === 0n) throw new SplitKeyError('zero has no inverse in the prime field');
      return modPow(a, p - 2n, p);
    },
    fromX: (x) => BigInt(x),
    // Uniform below p: draw a few bytes more than p has and reduce (bias < 2^-64).
    random: () => mod(bytesToBig(randomBytes(bytes + 8))),
  };
}

const byteLength = (n: bigint): number => Math.max(1, Math.ceil(n.toString(16).length / 2));

export function bytesToBig(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

export function bigToBytes(n: bigint, length: number): Buffer {
  const hex = n.toString(16).padStart(length * 2, '0');
  if (hex.length > length * 2) throw new SplitKeyError(`value does not fit in ${length} bytes`);
  return Buffer.from(hex, 'hex');
}

/** Shares of one secret element: f(x) for x = 1..parts, f of degree threshold − 1 with f(0) = secret. */
function shareElement<T>(f: Field<T>, secret: T, parts: number, threshold: number): T[] {
  const coeffs: T[] = [secret];
  for (let i = 1; i < threshold; i++) coeffs.push(f.random());
  const out: T[] = [];
  for (let x = 1; x <= parts; x++) {
    const xv = f.fromX(x);
    // Horner.
    let acc: T = coeffs[coeffs.length - 1] as T;
    for (let i = coeffs.length - 2; i >= 0; i--) acc = f.add(f.mul(acc, xv), coeffs[i]!);
    out.push(acc);
  }
  return out;
}

/** Lagrange weights at x = 0 for the given x coordinates. */
function lagrangeAtZero<T>(f: Field<T>, xs: readonly number[]): T[] {
  return xs.map((xi, i) => {
    let num: T = f.fromX(1);
    let den: T = f.fromX(1);
    xs.forEach((xj, j) => {
      if (i === j) return;
      // (0 - xj) / (xi - xj)
      num = f.mul(num, f.sub(f.zero, f.fromX(xj)));
      den = f.mul(den, f.sub(f.fromX(xi), f.fromX(xj)));
    });
    return f.mul(num, f.inv(den));
  });
}

function combine<T>(f: Field<T>, weights: readonly T[], values: readonly T[]): T {
  let acc = f.zero;
  values.forEach((v, i) => { acc = f.add(acc, f.mul(weights[i]!, v)); });
  return acc;
}

// ---- checks -------------------------------------------------------------------------------

/**
 * Limits of each method: the x coordinates 1..N must be distinct non-zero field elements.
 * `registered`: the part was made by the client and is only stored (Register). KMIP (1.4
 * s.2.2.5, 2.1 s.2.2.5) defines the Split Key Threshold as "the minimum number of parts
 * needed to reconstruct the entire key" and sets no rule tying it to XOR, so a stored XOR
 * part with threshold < parts is accepted; only splitting and joining here need every XOR part.
 */
export function checkSplitParams(p: SplitParams, opts: { registered?: boolean } = {}): void {
  if (!Number.isInteger(p.parts) || p.parts < 2) throw new SplitKeyError('Split Key Parts must be at least 2');
  if (!Number.isInteger(p.threshold) || p.threshold < 1 || p.threshold > p.parts) {
    throw new SplitKeyError(`Split Key Threshold must be between 1 and Split Key Parts (${p.parts})`);
  }
  switch (p.method) {
    case SplitMethod.XOR:
      if (opts.registered !== true && p.threshold !== p.parts) throw new SplitKeyError('XOR splitting needs every part: Split Key Threshold must equal Split Key Parts');
      return;
    case SplitMethod.GF2_8:
      if (p.parts > 255) throw new SplitKeyError('GF(2^8) sharing allows at most 255 parts');
      return;
    case SplitMethod.GF2_16:
      if (p.parts > 65535) throw new SplitKeyError('GF(2^16) sharing allows at most 65535 parts');
      return;
    case SplitMethod.PrimeField: {
      if (p.prime === undefined) throw new SplitKeyError('Polynomial Sharing Prime Field needs a Prime Field Size');
      if (p.prime <= BigInt(p.parts)) throw new SplitKeyError('the Prime Field Size must be larger than the number of parts');
      if (!checkPrimeSync(p.prime, { checks: 64 })) throw new SplitKeyError('the Prime Field Size is not a prime');
      return;
    }
    default:
      throw new SplitKeyError(`unknown Split Key Method 0x${p.method.toString(16)}`);
  }
}

// ---- split / join -------------------------------------------------------------------------

/** Splits `secret` into `parts` parts, any `threshold` of which rebuild it. */
export function splitSecret(secret: Buffer, p: SplitParams): KeyPart[] {
  checkSplitParams(p);
  if (secret.length === 0) throw new SplitKeyError('nothing to split: the key material is empty');
  const ids = Array.from({ length: p.parts }, (_, i) => i + 1);
  switch (p.method) {
    case SplitMethod.XOR: {
      const out = ids.slice(0, -1).map((id) => ({ id, bytes: randomBytes(secret.length) }));
      const last = Buffer.from(secret);
      for (const part of out) for (let i = 0; i < last.length; i++) last[i]! ^= part.bytes[i]!;
      out.push({ id: p.parts, bytes: last });
      return out;
    }
    case SplitMethod.GF2_8: {
      const out = ids.map((id) => ({ id, bytes: Buffer.alloc(secret.length) }));
      for (let i = 0; i < secret.length; i++) {
        shareElement(GF8, secret[i]!, p.parts, p.threshold).forEach((y, k) => { out[k]!.bytes[i] = y; });
      }
      return out;
    }
    case SplitMethod.GF2_16: {
      if (secret.length % 2 !== 0) throw new SplitKeyError('GF(2^16) sharing splits 16-bit words: the key material must have an even number of bytes');
      const out = ids.map((id) => ({ id, bytes: Buffer.alloc(secret.length) }));
      for (let i = 0; i < secret.length; i += 2) {
        shareElement(GF16, secret.readUInt16BE(i), p.parts, p.threshold).forEach((y, k) => { out[k]!.bytes.writeUInt16BE(y, i); });
      }
      return out;
    }
    case SplitMethod.PrimeField: {
      const prime = p.prime!;
      const s = bytesToBig(secret);
      if (s >= prime) throw new SplitKeyError('the key material, read as a big-endian integer, is not smaller than the Prime Field Size');
      const len = byteLength(prime);
      return shareElement(primeField(prime), s, p.parts, p.threshold).map((y, k) => ({ id: ids[k]!, bytes: bigToBytes(y, len) }));
    }
    default:
      throw new SplitKeyError(`unknown Split Key Method 0x${p.method.toString(16)}`);
  }
}

/**
 * Rebuilds the secret from at least `threshold` parts (the first `threshold` distinct ones
 * are used). `secretLength` is the byte length of the secret for the prime field method
 * (leading zero bytes are not recoverable from the integer).
 */
export function joinParts(parts: readonly KeyPart[], p: SplitParams, secretLength?: number): Buffer {
  checkSplitParams(p);
  const ids = new Set<number>();
  for (const part of parts) {
    if (!Number.isInteger(part.id) || part.id < 1 || part.id > p.parts) {
      throw new SplitKeyError(`Key Part Identifier ${part.id} is outside 1..${p.parts}`);
    }
    if (ids.has(part.id)) throw new SplitKeyError(`Key Part Identifier ${part.id} is given twice`);
    ids.add(part.id);
  }
  if (parts.length < p.threshold) throw new SplitKeyError(`${parts.length} part(s) given; the Split Key Threshold is ${p.threshold}`);
  const use = parts.slice(0, p.threshold);
  const length = use[0]!.bytes.length;
  if (use.some((u) => u.bytes.length !== length)) throw new SplitKeyError('the key parts differ in length');
  const xs = use.map((u) => u.id);
  switch (p.method) {
    case SplitMethod.XOR: {
      const out = Buffer.alloc(length);
      for (const u of use) for (let i = 0; i < length; i++) out[i]! ^= u.bytes[i]!;
      return out;
    }
    case SplitMethod.GF2_8: {
      const w = lagrangeAtZero(GF8, xs);
      const out = Buffer.alloc(length);
      for (let i = 0; i < length; i++) out[i] = combine(GF8, w, use.map((u) => u.bytes[i]!));
      return out;
    }
    case SplitMethod.GF2_16: {
      if (length % 2 !== 0) throw new SplitKeyError('a GF(2^16) key part must have an even number of bytes');
      const w = lagrangeAtZero(GF16, xs);
      const out = Buffer.alloc(length);
      for (let i = 0; i < length; i += 2) out.writeUInt16BE(combine(GF16, w, use.map((u) => u.bytes.readUInt16BE(i))), i);
      return out;
    }
    case SplitMethod.PrimeField: {
      const f = primeField(p.prime!);
      const s = combine(f, lagrangeAtZero(f, xs), use.map((u) => bytesToBig(u.bytes)));
      return bigToBytes(s, secretLength ?? byteLength(s));
    }
    default:
      throw new SplitKeyError(`unknown Split Key Method 0x${p.method.toString(16)}`);
  }
}
