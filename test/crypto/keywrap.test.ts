import { describe, expect, it } from 'vitest';
import { aesKeyUnwrap, aesKeyUnwrapPad, aesKeyWrap, aesKeyWrapPad, KeyWrapError } from '../../src/crypto/keywrap.ts';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RFC 3394 AES key wrap', () => {
  // RFC 3394 §4.1–4.6
  const cases = [
    ['000102030405060708090A0B0C0D0E0F', '00112233445566778899AABBCCDDEEFF', '1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5'],
    ['000102030405060708090A0B0C0D0E0F1011121314151617', '00112233445566778899AABBCCDDEEFF', '96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D'],
    ['000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F', '00112233445566778899AABBCCDDEEFF', '64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7'],
    ['000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F', '00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F',
      '28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21'],
  ];
  it.each(cases)('KEK %s', (kek, key, wrapped) => {
    expect(aesKeyWrap(h(kek), h(key))).toEqual(h(wrapped));
    expect(aesKeyUnwrap(h(kek), h(wrapped))).toEqual(h(key));
  });
  it('detects a wrong KEK or tampering, refuses bad sizes', () => {
    const w = h(cases[0]![2]!);
    expect(() => aesKeyUnwrap(Buffer.alloc(16, 1), w)).toThrow(KeyWrapError);
    const t = Buffer.from(w);
    t[3]! ^= 1;
    expect(() => aesKeyUnwrap(h(cases[0]![0]!), t)).toThrow(/integrity/);
    expect(() => aesKeyWrap(h(cases[0]![0]!), Buffer.alloc(20))).toThrow(/multiple of 8/);
    expect(() => aesKeyWrap(Buffer.alloc(10), Buffer.alloc(16))).toThrow(/128, 192 or 256/);
  });
});

describe('RFC 5649 AES key wrap with padding', () => {
  // RFC 5649 §6
  const kek = h('5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8');
  it('20-octet key', () => {
    const key = h('c37b7e6492584340 bed1220780894115 5068f738');
    const w = h('138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a');
    expect(aesKeyWrapPad(kek, key)).toEqual(w);
    expect(aesKeyUnwrapPad(kek, w)).toEqual(key);
  });
  it('7-octet key', () => {
    const key = h('466f7250617369');
    const w = h('afbeb0f07dfbf541 9200f2ccb50bb24f');
    expect(aesKeyWrapPad(kek, key)).toEqual(w);
    expect(aesKeyUnwrapPad(kek, w)).toEqual(key);
  });
  it('detects tampering', () => {
    const w = h('afbeb0f07dfbf541 9200f2ccb50bb24f');
    w[0]! ^= 0x80;
    expect(() => aesKeyUnwrapPad(kek, w)).toThrow(KeyWrapError);
  });
});
