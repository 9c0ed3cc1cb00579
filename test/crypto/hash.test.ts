import { describe, expect, it } from 'vitest';
import { createIncrementalHash, digest, hashLength, HASH_NAMES, isHashName } from '../../src/crypto/hash.ts';

const abc = Buffer.from('abc');

describe('hash: known answers (FIPS 180-4 / FIPS 202 "abc" examples)', () => {
  it.each([
    ['sha1', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['sha224', '23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7'],
    ['sha256', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['sha384', 'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7'],
    ['sha512', 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f'],
    ['sha3-256', '3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532'],
  ] as const)('%s("abc")', (name, hex) => {
    expect(digest(name, abc).toString('hex')).toBe(hex);
  });

  it('the OASIS CS-AC-M-7 vector: SHA-256 of 0102…16', () => {
    const data = Buffer.from('01020304050607080910111213141516', 'hex');
    expect(digest('sha256', data).toString('hex')).toMatch(/^ad41233d22cf9322e3a7ff49a13da434797abed3/);
  });
});

describe('hash: lengths and incremental use', () => {
  it('hashLength matches the output of every supported digest', () => {
    for (const h of HASH_NAMES) expect(digest(h, abc).length).toBe(hashLength(h));
  });

  it('a digest fed in parts equals the one-shot digest', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog, several times over');
    for (const h of HASH_NAMES) {
      const inc = createIncrementalHash(h);
      inc.update(data.subarray(0, 7));
      inc.update(Buffer.alloc(0));
      inc.update(data.subarray(7));
      expect(inc.digest().equals(digest(h, data))).toBe(true);
    }
  });

  it('an incremental digest cannot be reused after it finished', () => {
    const inc = createIncrementalHash('sha256');
    inc.digest();
    expect(() => inc.update(abc)).toThrow(/finished/);
    expect(() => inc.digest()).toThrow(/finished/);
  });

  it('broken digests are not offered', () => {
    expect(isHashName('md5')).toBe(false);
    expect(isHashName('sha256')).toBe(true);
  });
});
