// The split-key arithmetic (src/crypto/split-key.ts) on its own: field laws, the AES field's
// known product, and for every method that any threshold-many parts rebuild the secret and
// that fewer do not.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  SplitKeyError, SplitMethod, checkSplitParams, gf16Inv, gf16Mul, gf8Inv, gf8Mul, joinParts, splitSecret, type SplitParams,
} from '../../src/crypto/split-key.ts';

// 2^127 − 1, a Mersenne prime.
const P127 = (1n << 127n) - 1n;

describe('fields', () => {
  it('GF(2^8) is the AES field (FIPS 197 §4.2: {57}·{83} = {c1}) and every non-zero element has an inverse', () => {
    expect(gf8Mul(0x57, 0x83)).toBe(0xc1);
    for (let a = 1; a < 256; a++) expect(gf8Mul(a, gf8Inv(a))).toBe(1);
  });
  it('GF(2^16) = GF(2^8)[z]/(z^2+z+0x3A) is a field: every non-zero element has an inverse', () => {
    for (let a = 1; a < 65536; a++) if (gf16Mul(a, gf16Inv(a)) !== 1) throw new Error(`no inverse for ${a}`);
  });
  it('GF(2^16) multiplication is associative and distributes over XOR', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (a, b, c) => {
      expect(gf16Mul(gf16Mul(a, b), c)).toBe(gf16Mul(a, gf16Mul(b, c)));
      expect(gf16Mul(a, b ^ c)).toBe(gf16Mul(a, b) ^ gf16Mul(a, c));
    }));
  });
});

const methods: [string, (parts: number, threshold: number) => SplitParams, (b: Uint8Array) => Buffer][] = [
  ['XOR', (parts) => ({ method: SplitMethod.XOR, parts, threshold: parts }), (b) => Buffer.from(b)],
  ['GF(2^8)', (parts, threshold) => ({ method: SplitMethod.GF2_8, parts, threshold }), (b) => Buffer.from(b)],
  ['GF(2^16)', (parts, threshold) => ({ method: SplitMethod.GF2_16, parts, threshold }), (b) => Buffer.from(b.length % 2 ? [...b, 7] : b)],
  // Secrets below the prime: clear the top bit of a 16-byte secret.
  ['prime field', (parts, threshold) => ({ method: SplitMethod.PrimeField, parts, threshold, prime: P127 }),
    (b) => { const s = Buffer.alloc(16); Buffer.from(b).copy(s, 0, 0, 16); s[0]! &= 0x7f; return s; }],
];

describe.each(methods)('%s', (_name, paramsOf, secretOf) => {
  it('any threshold-many parts, in any order, rebuild the secret', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 48 }), fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.func(fc.integer()),
      (raw, parts, t, order) => {
        const p = paramsOf(parts, Math.min(t, parts));
        const secret = secretOf(raw);
        const shares = splitSecret(secret, p);
        expect(shares.map((s) => s.id)).toEqual(Array.from({ length: parts }, (_, i) => i + 1));
        const pick = [...shares].sort((a, b) => order(a.id) - order(b.id) || a.id - b.id).slice(0, p.threshold);
        expect(joinParts(pick, p, secret.length).equals(secret)).toBe(true);
      },
    ), { numRuns: 60 });
  });
  it('refuses fewer parts than the threshold', () => {
    const p = paramsOf(4, 3);
    const shares = splitSecret(secretOf(new Uint8Array(16).fill(9)), p);
    expect(() => joinParts(shares.slice(0, p.threshold - 1), p)).toThrow(SplitKeyError);
  });
});

describe('what one part less reveals', () => {
  it('GF(2^8): threshold − 1 parts are consistent with every value of a secret byte', () => {
    // For t = 2 one share y1 = s + a·1 fits any s (a = y1 − s): all 256 secrets stay possible.
    const p: SplitParams = { method: SplitMethod.GF2_8, parts: 3, threshold: 2 };
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(splitSecret(Buffer.from([0x42]), p)[0]!.bytes[0]!);
    expect(seen.size).toBeGreaterThan(200);
  });
});

describe('parameters', () => {
  it('refuses what cannot be split', () => {
    expect(() => checkSplitParams({ method: SplitMethod.XOR, parts: 3, threshold: 2 })).toThrow(/threshold must equal/i);
    expect(() => checkSplitParams({ method: SplitMethod.XOR, parts: 3, threshold: 2 }, { registered: true })).not.toThrow();
    expect(() => checkSplitParams({ method: SplitMethod.GF2_8, parts: 256, threshold: 2 })).toThrow(/255/);
    expect(() => checkSplitParams({ method: SplitMethod.GF2_8, parts: 1, threshold: 1 })).toThrow(/at least 2/);
    expect(() => checkSplitParams({ method: SplitMethod.GF2_8, parts: 3, threshold: 4 })).toThrow(/Threshold/);
    expect(() => checkSplitParams({ method: SplitMethod.PrimeField, parts: 3, threshold: 2 })).toThrow(/Prime Field Size/);
    expect(() => checkSplitParams({ method: SplitMethod.PrimeField, parts: 3, threshold: 2, prime: 1n << 64n })).toThrow(/not a prime/);
    expect(() => checkSplitParams({ method: 9, parts: 3, threshold: 2 })).toThrow(/unknown/);
    expect(() => splitSecret(Buffer.from([1, 2, 3]), { method: SplitMethod.GF2_16, parts: 3, threshold: 2 })).toThrow(/even/);
    expect(() => splitSecret(Buffer.alloc(16, 0xff), { method: SplitMethod.PrimeField, parts: 3, threshold: 2, prime: P127 })).toThrow(/smaller/);
  });
  it('refuses duplicate and out-of-range Key Part Identifiers', () => {
    const p: SplitParams = { method: SplitMethod.GF2_8, parts: 3, threshold: 2 };
    const s = splitSecret(Buffer.from('secret'), p);
    expect(() => joinParts([s[0]!, s[0]!], p)).toThrow(/twice/);
    expect(() => joinParts([s[0]!, { id: 9, bytes: s[1]!.bytes }], p)).toThrow(/outside/);
  });
});
