import { describe, expect, it } from 'vitest';
import { CryptoFailure, CryptoParamError, symmetricDecrypt, symmetricEncrypt, type SymmetricParams } from '../../src/crypto/symmetric.ts';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const K128 = h('2b7e151628aed2a6abf7158809cf4f3c');
const P1 = h('6bc1bee22e409f96e93d7e117393172a');

describe('known answers', () => {
  const cases: [string, SymmetricParams, Buffer, string][] = [
    // NIST SP 800-38A F.1.1, F.2.1, F.5.1 (first block)
    ['AES-128-ECB (SP 800-38A F.1.1)', { algorithm: 'AES', mode: 'ECB', key: K128 }, P1, '3ad77bb40d7a3660a89ecaf32466ef97'],
    ['AES-128-CBC (SP 800-38A F.2.1)', { algorithm: 'AES', mode: 'CBC', key: K128, iv: h('000102030405060708090a0b0c0d0e0f') }, P1, '7649abac8119b246cee98e9b12e9197d'],
    ['AES-128-CTR (SP 800-38A F.5.1)', { algorithm: 'AES', mode: 'CTR', key: K128, iv: h('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff') }, P1, '874d6191b620e3261bef6864990db6ce'],
    // IEEE 1619-2007 XTS-AES-128 vector 4 (first 32 bytes of the 512-byte data unit)
    ['AES-XTS (IEEE 1619 vector 4)', { algorithm: 'AES', mode: 'XTS', key: h('27182818284590452353602874713526 31415926535897932384626433832795'), iv: Buffer.alloc(16) }, Buffer.from(Array.from({ length: 32 }, (_, i) => i)), '27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c'],
  ];
  it.each(cases)('%s', (_n, p, pt, ct) => {
    expect(symmetricEncrypt(p, pt).data.toString('hex')).toBe(ct);
    expect(symmetricDecrypt(p, h(ct))).toEqual(pt);
  });

  it('AES-128-GCM (McGrew–Viega test case 2)', () => {
    const p: SymmetricParams = { algorithm: 'AES', mode: 'GCM', key: Buffer.alloc(16), iv: Buffer.alloc(12) };
    const r = symmetricEncrypt(p, Buffer.alloc(16));
    expect(r.data.toString('hex')).toBe('0388dace60b6a392f328c2b971b2fe78');
    expect(r.tag!.toString('hex')).toBe('ab6e47d42cec13bdf53a67b21257bddf');
    expect(symmetricDecrypt({ ...p, tag: r.tag! }, r.data)).toEqual(Buffer.alloc(16));
    const bad = Buffer.from(r.tag!);
    bad[0]! ^= 1;
    expect(() => symmetricDecrypt({ ...p, tag: bad }, r.data)).toThrow(CryptoFailure);
  });

  const key8439 = h('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const sunscreen = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
  it('ChaCha20-Poly1305 (RFC 8439 §2.8.2)', () => {
    const p: SymmetricParams = { algorithm: 'ChaCha20Poly1305', key: key8439, iv: h('070000004041424344454647'), aad: h('50515253c0c1c2c3c4c5c6c7') };
    const r = symmetricEncrypt(p, sunscreen);
    expect(r.data.subarray(0, 16).toString('hex')).toBe('d31a8d34648e60db7b86afbc53ef7ec2');
    expect(r.tag!.toString('hex')).toBe('1ae10b594f09e26a7e902ecbd0600691');
    expect(symmetricDecrypt({ ...p, tag: r.tag! }, r.data)).toEqual(sunscreen);
    expect(() => symmetricDecrypt({ ...p, aad: Buffer.from('x'), tag: r.tag! }, r.data)).toThrow(CryptoFailure);
  });

  it('ChaCha20 (RFC 8439 §2.4.2; OpenSSL IV = 32-bit LE counter ‖ 96-bit nonce)', () => {
    const key = h('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const p: SymmetricParams = { algorithm: 'ChaCha20', key, iv: h('01000000 000000000000004a00000000') };
    const r = symmetricEncrypt(p, sunscreen);
    expect(r.data.subarray(0, 16).toString('hex')).toBe('6e2e359a2568f98041ba0728dd0d6981');
    expect(symmetricDecrypt(p, r.data)).toEqual(sunscreen);
  });
});

describe('padding and parameter errors', () => {
  const cbc: SymmetricParams = { algorithm: 'AES', mode: 'CBC', key: K128, iv: Buffer.alloc(16), padding: 'PKCS5' };
  it('PKCS5 pads to the block and strips on decrypt', () => {
    const r = symmetricEncrypt(cbc, Buffer.from('hello'));
    expect(r.data.length).toBe(16);
    expect(symmetricDecrypt(cbc, r.data).toString()).toBe('hello');
  });
  it('no padding refuses a partial block', () => {
    expect(() => symmetricEncrypt({ ...cbc, padding: 'None' }, Buffer.from('hello'))).toThrow(CryptoParamError);
  });
  it('3DES-CBC round trip', () => {
    const p: SymmetricParams = { algorithm: 'DES3', mode: 'CBC', key: Buffer.alloc(24, 0x11), iv: Buffer.alloc(8), padding: 'PKCS5' };
    expect(symmetricDecrypt(p, symmetricEncrypt(p, Buffer.from('three keys')).data).toString()).toBe('three keys');
  });
  it('wrong key sizes, IV sizes and missing modes are parameter errors', () => {
    expect(() => symmetricEncrypt({ algorithm: 'AES', mode: 'CBC', key: Buffer.alloc(15), iv: Buffer.alloc(16) }, P1)).toThrow(/128, 192 or 256/);
    expect(() => symmetricEncrypt({ algorithm: 'AES', mode: 'CBC', key: K128, iv: Buffer.alloc(8) }, P1)).toThrow(/16 bytes/);
    expect(() => symmetricEncrypt({ algorithm: 'AES', key: K128 }, P1)).toThrow(/Block Cipher Mode/);
    expect(() => symmetricEncrypt({ algorithm: 'AES', mode: 'CBC', key: K128 }, P1)).toThrow(/needs an IV/);
    expect(() => symmetricDecrypt({ algorithm: 'AES', mode: 'GCM', key: K128, iv: Buffer.alloc(12) }, P1)).toThrow(/Tag is required/);
  });
  it('AES-XTS with equal key halves is refused', () => {
    expect(() => symmetricEncrypt({ algorithm: 'AES', mode: 'XTS', key: Buffer.alloc(32), iv: Buffer.alloc(16) }, Buffer.alloc(32))).toThrow(/halves must differ/);
  });
  it('bad padding on decrypt is a CryptoFailure', () => {
    const ct = symmetricEncrypt({ ...cbc, padding: 'None' }, Buffer.alloc(16, 0x41)).data;
    expect(() => symmetricDecrypt(cbc, ct)).toThrow(CryptoFailure);
  });
});
