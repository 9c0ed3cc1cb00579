import { constants, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pkcs1v15Decrypt, pkcs1v15Encrypt, RsaPaddingParamError } from '../../src/crypto/rsa-pkcs1.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('RSAES-PKCS1-v1_5 with implicit rejection', () => {
  it('round-trips messages from 0 to k-11 bytes', () => {
    for (const n of [0, 1, 16, 245]) {
      const m = Buffer.alloc(n, 0x5a);
      expect(pkcs1v15Decrypt(privateKey, pkcs1v15Encrypt(publicKey, m)).equals(m)).toBe(true);
    }
  });
  it('refuses a message longer than k-11 and a ciphertext of the wrong length', () => {
    expect(() => pkcs1v15Encrypt(publicKey, Buffer.alloc(246))).toThrow(RsaPaddingParamError);
    expect(() => pkcs1v15Decrypt(privateKey, Buffer.alloc(255))).toThrow(RsaPaddingParamError);
  });
  it('a ciphertext with bad padding decrypts to a synthetic message: no error, the same each time, not the plaintext', () => {
    // Raw RSA of a block without the 00 02 prefix: wrong padding.
    const bad = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, Buffer.alloc(256, 0x01));
    const a = pkcs1v15Decrypt(privateKey, bad);
    const b = pkcs1v15Decrypt(privateKey, bad);
    expect(a.equals(b)).toBe(true);
    expect(a.length).toBeLessThanOrEqual(245);
    const other = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, Buffer.alloc(256, 0x02));
    expect(pkcs1v15Decrypt(privateKey, other).equals(a)).toBe(false);
    // A ciphertext ≥ n is not an error either.
    expect(() => pkcs1v15Decrypt(privateKey, Buffer.alloc(256, 0xff))).not.toThrow();
  });
  it('a block with a padding string shorter than 8 bytes is rejected (implicitly)', () => {
    const em = Buffer.alloc(256, 0x33);
    em[0] = 0; em[1] = 2; em[5] = 0; // separator after only 3 padding bytes
    const c = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);
    expect(pkcs1v15Decrypt(privateKey, c).equals(em.subarray(6))).toBe(false);
  });
});
