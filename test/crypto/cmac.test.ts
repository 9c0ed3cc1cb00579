import { describe, expect, it } from 'vitest';
import { aesCmac, aesCmacVerify } from '../../src/crypto/cmac.ts';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 4493 §4 test vectors (AES-128), and NIST SP 800-38B Appendix D.2/D.3 (AES-192/256).
const M = h(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
             30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`);
const cases: { key: string; len: number; mac: string }[] = [
  { key: '2b7e151628aed2a6abf7158809cf4f3c', len: 0, mac: 'bb1d6929e95937287fa37d129b756746' },
  { key: '2b7e151628aed2a6abf7158809cf4f3c', len: 16, mac: '070a16b46b4d4144f79bdd9dd04a287c' },
  { key: '2b7e151628aed2a6abf7158809cf4f3c', len: 40, mac: 'dfa66747de9ae63030ca32611497c827' },
  { key: '2b7e151628aed2a6abf7158809cf4f3c', len: 64, mac: '51f0bebf7e3b9d92fc49741779363cfe' },
  { key: '8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', len: 0, mac: 'd17ddf46adaacde531cac483de7a9367' },
  { key: '8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', len: 64, mac: 'a1d5df0eed790f794d77589659f39a11' },
  { key: '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', len: 0, mac: '028962f61b7bf89efc6b551f4667d983' },
  { key: '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', len: 16, mac: '28a7023f452e8f82bd4bf28d8c37c35c' },
  { key: '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', len: 64, mac: 'e1992190549f6ed5696a2c056c315410' },
];

describe('AES-CMAC known answers (RFC 4493, SP 800-38B)', () => {
  it.each(cases)('key $key, $len-byte message', ({ key, len, mac }) => {
    const tag = aesCmac(h(key), M.subarray(0, len));
    expect(tag.toString('hex')).toBe(mac);
    expect(aesCmacVerify(h(key), M.subarray(0, len), h(mac))).toBe(true);
    expect(aesCmacVerify(h(key), M.subarray(0, len), h(mac).subarray(0, 8))).toBe(true);
  });

  it('rejects a tag with one bit flipped, an empty tag and a wrong key size', () => {
    const key = h(cases[1]!.key);
    const bad = h(cases[1]!.mac);
    bad[15]! ^= 1;
    expect(aesCmacVerify(key, M.subarray(0, 16), bad)).toBe(false);
    expect(aesCmacVerify(key, M.subarray(0, 16), Buffer.alloc(0))).toBe(false);
    expect(() => aesCmac(Buffer.alloc(15), M)).toThrow(/16, 24 or 32/);
  });
});
