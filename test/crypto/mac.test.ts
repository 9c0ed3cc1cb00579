import { describe, expect, it } from 'vitest';
import { computeMac, createIncrementalMac, MacParamError, verifyMac, type MacAlgorithm } from '../../src/crypto/mac.ts';

const hmac = (hash: 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512' | 'sha3-256' | 'sha3-384' | 'sha3-512'): MacAlgorithm => ({ kind: 'hmac', hash });

describe('HMAC known answers (RFC 4231, RFC 2202)', () => {
  const jefe = Buffer.from('Jefe');
  const wanted = Buffer.from('what do ya want for nothing?');
  it('RFC 4231 test case 2, HMAC-SHA-256 and HMAC-SHA-512', () => {
    expect(computeMac(hmac('sha256'), jefe, wanted).toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(computeMac(hmac('sha512'), jefe, wanted).toString('hex')).toBe(
      '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    );
  });
  it('RFC 4231 test case 1, HMAC-SHA-224 and HMAC-SHA-384', () => {
    const key = Buffer.alloc(20, 0x0b);
    const data = Buffer.from('Hi There');
    expect(computeMac(hmac('sha224'), key, data).toString('hex')).toBe('896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22');
    expect(computeMac(hmac('sha384'), key, data).toString('hex')).toBe(
      'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
    );
  });
  it('RFC 2202 test case 2, HMAC-SHA-1', () => {
    expect(computeMac(hmac('sha1'), jefe, wanted).toString('hex')).toBe('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
  });
  it('the OASIS CS-AC-M-4 vector: HMAC-SHA-256 under a 128-bit key', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const data = Buffer.from('01020304050607080910111213141516', 'hex');
    expect(computeMac(hmac('sha256'), key, data).toString('hex')).toMatch(/^c911e78196d64c30f631bb079ea37b97a95936d4/);
  });
});

describe('AES-CMAC dispatch (RFC 4493)', () => {
  const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
  it('example 2 (one block)', () => {
    const m = Buffer.from('6bc1bee22e409f96e93d7e117393172a', 'hex');
    expect(computeMac({ kind: 'cmac' }, key, m).toString('hex')).toBe('070a16b46b4d4144f79bdd9dd04a287c');
  });
  it('refuses a key that is not an AES key', () => {
    expect(() => computeMac({ kind: 'cmac' }, Buffer.alloc(20), Buffer.alloc(1))).toThrow(MacParamError);
  });
});

describe('verification', () => {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const data = Buffer.from('message');
  for (const alg of [hmac('sha256'), hmac('sha3-512'), { kind: 'cmac' } as MacAlgorithm]) {
    it(`${alg.kind === 'hmac' ? alg.hash : 'cmac'}: accepts its own MAC, rejects a changed MAC, data or truncation`, () => {
      const mac = computeMac(alg, key, data);
      expect(verifyMac(alg, key, data, mac)).toBe(true);
      const flipped = Buffer.from(mac);
      flipped[0]! ^= 1;
      expect(verifyMac(alg, key, data, flipped)).toBe(false);
      expect(verifyMac(alg, key, Buffer.from('messagf'), mac)).toBe(false);
      expect(verifyMac(alg, key, data, mac.subarray(0, mac.length - 1))).toBe(false);
      expect(verifyMac(alg, key, data, Buffer.alloc(0))).toBe(false);
    });
  }
  it('an empty HMAC key is refused', () => {
    expect(() => computeMac(hmac('sha256'), Buffer.alloc(0), data)).toThrow(MacParamError);
  });
});

describe('incremental MAC', () => {
  const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
  const data = Buffer.from('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411', 'hex');
  it.each([[hmac('sha256')], [hmac('sha3-256')], [{ kind: 'cmac' } as MacAlgorithm]])('parts give the one-shot MAC (%o)', (alg) => {
    const inc = createIncrementalMac(alg, key, 1024);
    inc.update(data.subarray(0, 5));
    inc.update(data.subarray(5, 21));
    inc.update(data.subarray(21));
    expect(inc.final().equals(computeMac(alg, key, data))).toBe(true);
  });
  it('RFC 4493 example 3 (40 bytes) through the incremental CMAC', () => {
    const inc = createIncrementalMac({ kind: 'cmac' }, key, 1024);
    inc.update(data);
    expect(inc.final().toString('hex')).toBe('dfa66747de9ae63030ca32611497c827');
  });
  it('a buffered CMAC stops at its limit', () => {
    const inc = createIncrementalMac({ kind: 'cmac' }, key, 16);
    inc.update(Buffer.alloc(16));
    expect(inc.buffered).toBe(16);
    expect(() => inc.update(Buffer.alloc(1))).toThrow(MacParamError);
  });
});
