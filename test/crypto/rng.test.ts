import { describe, expect, it } from 'vitest';
import { MAX_RNG_RETRIEVE_BYTES, MAX_RNG_SEED_BYTES, RandomPool } from '../../src/crypto/rng.ts';

describe('RandomPool', () => {
  it('returns exactly the requested length, across block boundaries', () => {
    const p = new RandomPool();
    for (const n of [1, 32, 63, 64, 65, 1000]) expect(p.retrieve(n).length).toBe(n);
  });
  it('never repeats itself and does not return all zeros', () => {
    const p = new RandomPool();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(p.retrieve(16).toString('hex'));
    expect(seen.size).toBe(200);
    expect(p.retrieve(64).equals(Buffer.alloc(64))).toBe(false);
  });
  it('the same hostile seed fed to two pools does not make their outputs equal or predictable', () => {
    const a = new RandomPool();
    const b = new RandomPool();
    const seed = Buffer.alloc(64, 0x41);
    expect(a.seed(seed)).toBe(64);
    expect(b.seed(seed)).toBe(64);
    expect(a.retrieve(32).equals(b.retrieve(32))).toBe(false);
  });
  it('byte frequencies of 64 KiB of output are roughly uniform', () => {
    const out = new RandomPool().retrieve(65536);
    const counts = new Array<number>(256).fill(0);
    for (const byte of out) counts[byte]!++;
    // Expected 256 per value; a chi-square over 255 degrees of freedom above 400 has p < 1e-8.
    const chi = counts.reduce((s, c) => s + (c - 256) ** 2 / 256, 0);
    expect(chi).toBeLessThan(400);
  });
  it('uses at most MAX_RNG_SEED_BYTES of a seed and says so', () => {
    expect(new RandomPool().seed(Buffer.alloc(MAX_RNG_SEED_BYTES + 10))).toBe(MAX_RNG_SEED_BYTES);
    expect(new RandomPool().seed(Buffer.alloc(0))).toBe(0);
  });
  it('refuses lengths outside 1..MAX_RNG_RETRIEVE_BYTES', () => {
    const p = new RandomPool();
    for (const n of [0, -1, 1.5, MAX_RNG_RETRIEVE_BYTES + 1]) expect(() => p.retrieve(n)).toThrow(RangeError);
  });
});
