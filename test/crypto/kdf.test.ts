// Known answers for src/crypto/kdf.ts: RFC 5869 (HKDF), RFC 6070 (PBKDF2-HMAC-SHA1),
// NIST CAVP SP 800-108 KBKDF (counter mode CAVS 14.4, feedback mode without zero IV).
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  KdfError, MAX_PBKDF2_ITERATIONS, hashDerive, hkdf, hmacDerive, kdfCounter, kdfFeedback, pbkdf2,
} from '../../src/crypto/kdf.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('HKDF (RFC 5869 Appendix A)', () => {
  it('A.1 basic SHA-256', () => {
    const okm = hkdf('sha256', hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(okm.toString('hex')).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });
  it('A.3 SHA-256 with empty salt and info', () => {
    const okm = hkdf('sha256', hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'), Buffer.alloc(0), Buffer.alloc(0), 42);
    expect(okm.toString('hex')).toBe('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
  });
  it('A.4 basic SHA-1', () => {
    const okm = hkdf('sha1', hex('0b0b0b0b0b0b0b0b0b0b0b'), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(okm.toString('hex')).toBe('085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896');
  });
  it('refuses more than 255 hash lengths and empty input keying material', () => {
    expect(() => hkdf('sha256', Buffer.alloc(32, 1), Buffer.alloc(0), Buffer.alloc(0), 255 * 32 + 1)).toThrow(KdfError);
    expect(() => hkdf('sha256', Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), 16)).toThrow(KdfError);
  });
});

describe('PBKDF2-HMAC-SHA1 (RFC 6070)', () => {
  const P = Buffer.from('password');
  const S = Buffer.from('salt');
  it('c = 1, 2, 4096', async () => {
    expect((await pbkdf2('sha1', P, S, 1, 20)).toString('hex')).toBe('0c60c80f961f0e71f3a9b524af6012062fe037a6');
    expect((await pbkdf2('sha1', P, S, 2, 20)).toString('hex')).toBe('ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957');
    expect((await pbkdf2('sha1', P, S, 4096, 20)).toString('hex')).toBe('4b007901b765489abead49d926f721d065a429c1');
  });
  it('long password and salt, 25 bytes', async () => {
    const out = await pbkdf2('sha1', Buffer.from('passwordPASSWORDpassword'), Buffer.from('saltSALTsaltSALTsaltSALTsaltSALTsalt'), 4096, 25);
    expect(out.toString('hex')).toBe('3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038');
  });
  it('embedded NUL bytes', async () => {
    const out = await pbkdf2('sha1', Buffer.from('pass\0word'), Buffer.from('sa\0lt'), 4096, 16);
    expect(out.toString('hex')).toBe('56fa6aa75548099dcc37d7f03425e0c3');
  });
  it('refuses a zero or excessive iteration count', () => {
    expect(() => pbkdf2('sha256', P, S, 0, 32)).toThrow(KdfError);
    expect(() => pbkdf2('sha256', P, S, MAX_PBKDF2_ITERATIONS + 1, 32)).toThrow(/limit/);
    expect(() => pbkdf2('sha256', P, S, 1.5, 32)).toThrow(KdfError);
  });
});

describe('SP 800-108 counter mode (NIST CAVP KDFCTR, CTRLOCATION=BEFORE_FIXED, RLEN=32_BITS)', () => {
  it('HMAC-SHA256 COUNT=0, L=128', () => {
    const ko = kdfCounter({ kind: 'hmac', hash: 'sha256' },
      hex('dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0'),
      hex('01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac'), 16);
    expect(ko.toString('hex')).toBe('10621342bfb0fd40046c0e29f2cfdbf0');
  });
  it('HMAC-SHA256 COUNT=30, L=320 (two PRF blocks)', () => {
    const ko = kdfCounter({ kind: 'hmac', hash: 'sha256' },
      hex('c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac'),
      hex('1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacace6a5946542da3dfe24ff626b4897898cafb7db83bdff3c14fa46fd4b'), 40);
    expect(ko.toString('hex')).toBe('1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f12d0dd1152cf44430');
  });
  it('HMAC-SHA1 COUNT=30, L=320 (two PRF blocks)', () => {
    const ko = kdfCounter({ kind: 'hmac', hash: 'sha1' },
      hex('693adb9037184627ad300f176985bd379f388a95'),
      hex('7f09570c2d9304ec743ab845a8761c126c18f5cf72358eada2b5d1deb43dc6a0f4ff8f933bef7af0bcfacb33fa07f8ca04a06afe231835d5075996be'), 40);
    expect(ko.toString('hex')).toBe('52f55f51010e9bd78e4f58cab274ecafa561bd4e0f20da84f0303a1e5ff9bebc514361ec6df5c77e');
  });
  it('CMAC-AES128 COUNT=0, L=128 and COUNT=10, L=256', () => {
    const a = kdfCounter({ kind: 'cmac' }, hex('c10b152e8c97b77e18704e0f0bd38305'),
      hex('98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4'), 16);
    expect(a.toString('hex')).toBe('26faf61908ad9ee881b8305c221db53f');
    const b = kdfCounter({ kind: 'cmac' }, hex('695f1b1a16c949cea51cdf2554ec9d42'),
      hex('4fce5942832a390aa1cbe8a0bf9d202cb799e986c9d6b51f45e4d597a6b57f06a4ebfec6467335d116b7f5f9c5b954062f661820f5db2a5bbb3e0625'), 32);
    expect(b.toString('hex')).toBe('d34b601ec18c34dfa0f9e0b7523e218bdddb9befe8d08b6c0202d75ace0dba89');
  });
  it('refuses an AES-CMAC PRF key of a non-AES length and an empty key', () => {
    expect(() => kdfCounter({ kind: 'cmac' }, Buffer.alloc(15), Buffer.alloc(4), 16)).toThrow(KdfError);
    expect(() => kdfCounter({ kind: 'hmac', hash: 'sha256' }, Buffer.alloc(0), Buffer.alloc(4), 16)).toThrow(KdfError);
  });
});

describe('SP 800-108 feedback mode (NIST CAVP FeedbackModeNOzeroiv, CTRLOCATION=AFTER_ITER, RLEN=32_BITS)', () => {
  it('HMAC-SHA256 COUNT=0, L=512', () => {
    const ko = kdfFeedback({ kind: 'hmac', hash: 'sha256' },
      hex('93f698e842eed75394d629d957e2e89c6e741f810b623c8b901e38376d068e7b'),
      hex('9f575d9059d3e0c0803f08112f8a806de3c3471912cdf42b095388b14b33508e'),
      hex('53b89c18690e2057a1d167822e636de50be0018532c431f7f5e37f77139220d5e042599ebe266af5767ee18cd2c5c19a1f0f80'), 64);
    expect(ko.toString('hex')).toBe('bd1476f43a4e315747cf5918e0ea5bc0d98769457477c3ab18b742def0e079a933b756365afb5541f253fee43c6fd788a44041038509e9eeb68f7d65ffbb5f95');
  });
});

describe('KMIP HASH and HMAC derivation', () => {
  it('HASH is the truncated digest; longer than the digest is refused', () => {
    const input = Buffer.from('derivation input');
    expect(hashDerive('sha256', input, 16)).toEqual(createHash('sha256').update(input).digest().subarray(0, 16));
    expect(() => hashDerive('sha256', input, 33)).toThrow(KdfError);
  });
  it('HMAC is keyed with the derivation key over the data (RFC 4231 case 2 for SHA-256)', () => {
    const out = hmacDerive('sha256', Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), 32);
    expect(out.toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(hmacDerive('sha512', Buffer.from('k'), Buffer.from('d'), 20)).toEqual(createHmac('sha512', 'k').update('d').digest().subarray(0, 20));
    expect(() => hmacDerive('sha256', Buffer.from('k'), Buffer.alloc(0), 33)).toThrow(KdfError);
    expect(() => hmacDerive('sha256', Buffer.from('k'), Buffer.alloc(0), 0)).toThrow(KdfError);
  });
});
