import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, constants, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { HashName } from '../../src/crypto/hash.ts';
import {
  createSigner, createVerifier, digestInfo, recoverPkcs1DigestInfo, signData, signDigest, SignatureParamError, verifyData, verifyDigest,
  type SignatureScheme,
} from '../../src/crypto/signature.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
// A modulus whose bit length is ≡ 1 mod 8, where EMSA-PSS's emLen is one byte shorter than k.
const rsaOdd = generateKeyPairSync('rsa', { modulusLength: 1025 });
const data = Buffer.from('01020304050607080910111213141516', 'hex');
const sha = (h: HashName, b: Buffer) => createHash(h).update(b).digest();

describe('Ed25519 (RFC 8032 §7.1 test 1)', () => {
  const secret = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const pub = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
  const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: secret.toString('base64url'), x: pub.toString('base64url') }, format: 'jwk' });
  const pubKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') }, format: 'jwk' });
  const expected = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
  it('signs the empty message to the published signature and verifies it', () => {
    const sig = signData(priv, { family: 'ed25519' }, Buffer.alloc(0));
    expect(sig.toString('hex')).toBe(expected);
    expect(verifyData(pubKey, { family: 'ed25519' }, Buffer.alloc(0), sig)).toBe(true);
    expect(verifyData(pubKey, { family: 'ed25519' }, Buffer.from([0]), sig)).toBe(false);
  });
  it('refuses Digested Data', () => {
    expect(() => signDigest(priv, { family: 'ed25519' }, Buffer.alloc(64))).toThrow(SignatureParamError);
  });
  it('multi-part signing buffers the parts and gives the same signature', () => {
    const s = createSigner(priv, { family: 'ed25519' }, 64);
    s.update(data.subarray(0, 3));
    s.update(data.subarray(3));
    const sig = s.sign();
    expect(sig.equals(signData(priv, { family: 'ed25519' }, data))).toBe(true);
    const over = createSigner(priv, { family: 'ed25519' }, 8);
    expect(() => over.update(Buffer.alloc(9))).toThrow(SignatureParamError);
  });
});

describe('ECDSA', () => {
  it('verifies the RFC 6979 §A.2.5 P-256 / SHA-256 signature of "sample"', () => {
    const x = Buffer.from('60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6', 'hex');
    const y = Buffer.from('7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299', 'hex');
    const pub = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
    const r = Buffer.from('EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716', 'hex');
    const s = Buffer.from('F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8', 'hex');
    const int = (b: Buffer) => (b[0]! & 0x80 ? Buffer.concat([Buffer.from([0x02, b.length + 1, 0]), b]) : Buffer.concat([Buffer.from([0x02, b.length]), b]));
    const body = Buffer.concat([int(r), int(s)]);
    const derSig = Buffer.concat([Buffer.from([0x30, body.length]), body]);
    expect(verifyData(pub, { family: 'ecdsa', hash: 'sha256' }, Buffer.from('sample'), derSig)).toBe(true);
    expect(verifyData(pub, { family: 'ecdsa', hash: 'sha256' }, Buffer.from('samplf'), derSig)).toBe(false);
  });

  for (const [curve, hash] of [['P-256', 'sha256'], ['P-384', 'sha384'], ['P-521', 'sha512']] as const) {
    it(`${curve}/${hash}: signs, verifies, and rejects tampering and garbage`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const scheme: SignatureScheme = { family: 'ecdsa', hash };
      const sig = signData(privateKey, scheme, data);
      expect(nodeVerify(hash, data, publicKey, sig)).toBe(true);
      expect(verifyData(publicKey, scheme, data, sig)).toBe(true);
      const bad = Buffer.from(sig);
      bad[bad.length - 1]! ^= 1;
      expect(verifyData(publicKey, scheme, data, bad)).toBe(false);
      expect(verifyData(publicKey, scheme, data, Buffer.from('not der'))).toBe(false);
      const v = createVerifier(publicKey, scheme, 0);
      v.update(data.subarray(0, 1));
      v.update(data.subarray(1));
      expect(v.verify(sig)).toBe(true);
    });
  }
  it('refuses an RSA key and Digested Data', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => signData(rsa.privateKey, { family: 'ecdsa', hash: 'sha256' }, data)).toThrow(SignatureParamError);
    expect(() => signDigest(privateKey, { family: 'ecdsa', hash: 'sha256' }, sha('sha256', data))).toThrow(SignatureParamError);
  });
});

describe('RSA PKCS#1 v1.5', () => {
  const hashes: HashName[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3-256'];
  it.each(hashes)('%s: our DigestInfo is the one inside OpenSSL\'s signature, and signing the digest gives the same (deterministic) signature', (h) => {
    const scheme: SignatureScheme = { family: 'rsa', padding: 'pkcs1v15', hash: h };
    const native = nodeSign(h, data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING });
    expect(recoverPkcs1DigestInfo(rsa.publicKey, native)?.equals(digestInfo(h, sha(h, data)))).toBe(true);
    expect(signDigest(rsa.privateKey, scheme, sha(h, data)).equals(native)).toBe(true);
    expect(signData(rsa.privateKey, scheme, data).equals(native)).toBe(true);
    expect(verifyDigest(rsa.publicKey, scheme, sha(h, data), native)).toBe(true);
    expect(verifyData(rsa.publicKey, scheme, data, native)).toBe(true);
    const other = Buffer.from(data);
    other[0] = 0xff;
    expect(verifyData(rsa.publicKey, scheme, other, native)).toBe(false);
    expect(verifyDigest(rsa.publicKey, scheme, sha(h, other), native)).toBe(false);
  });
  it('a digest of the wrong length is refused, a signature of the wrong length is invalid', () => {
    const scheme: SignatureScheme = { family: 'rsa', padding: 'pkcs1v15', hash: 'sha256' };
    expect(() => signDigest(rsa.privateKey, scheme, Buffer.alloc(20))).toThrow(SignatureParamError);
    expect(verifyDigest(rsa.publicKey, scheme, Buffer.alloc(32), Buffer.alloc(10))).toBe(false);
    expect(verifyDigest(rsa.publicKey, scheme, Buffer.alloc(32), Buffer.alloc(256, 0xff))).toBe(false);
  });
});

describe('RSA-PSS', () => {
  const keys: Array<[string, { privateKey: KeyObject; publicKey: KeyObject }]> = [['2048-bit', rsa], ['1025-bit', rsaOdd]];
  for (const [label, k] of keys) {
    it(`${label}: our EMSA-PSS over a digest verifies with OpenSSL, and OpenSSL's verifies with ours`, () => {
      const scheme: SignatureScheme = { family: 'rsa', padding: 'pss', hash: 'sha256' };
      const ours = signDigest(k.privateKey, scheme, sha('sha256', data));
      expect(nodeVerify('sha256', data, { key: k.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, ours)).toBe(true);
      const theirs = nodeSign('sha256', data, { key: k.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 });
      expect(verifyDigest(k.publicKey, scheme, sha('sha256', data), theirs)).toBe(true); // salt length recovered
      expect(verifyDigest(k.publicKey, { ...scheme, saltLength: 20 }, sha('sha256', data), theirs)).toBe(true);
      expect(verifyDigest(k.publicKey, { ...scheme, saltLength: 32 }, sha('sha256', data), theirs)).toBe(false);
      expect(verifyData(k.publicKey, scheme, data, theirs)).toBe(true);
    });
  }
  it('the maximum salt (OASIS CS-AC-M-1 uses 222 with a 2048-bit key and SHA-256) works; one more is refused', () => {
    const scheme: SignatureScheme = { family: 'rsa', padding: 'pss', hash: 'sha256', saltLength: 222 };
    const sig = signData(rsa.privateKey, scheme, data);
    expect(verifyData(rsa.publicKey, { family: 'rsa', padding: 'pss', hash: 'sha256' }, data, sig)).toBe(true);
    expect(() => signData(rsa.privateKey, { ...scheme, saltLength: 223 }, data)).toThrow(SignatureParamError);
  });
  it('an MGF1 hash different from the message hash goes through the local encoding and round-trips', () => {
    const scheme: SignatureScheme = { family: 'rsa', padding: 'pss', hash: 'sha384', mgf1Hash: 'sha1' };
    const sig = signData(rsa.privateKey, scheme, data);
    expect(verifyData(rsa.publicKey, scheme, data, sig)).toBe(true);
    expect(verifyData(rsa.publicKey, { ...scheme, mgf1Hash: 'sha384' }, data, sig)).toBe(false);
    const s = createSigner(rsa.privateKey, scheme, 0);
    s.update(data);
    expect(verifyData(rsa.publicKey, scheme, data, s.sign())).toBe(true);
  });
  it('verification with the wrong hash is Invalid, not an error (CS-AC-M-3 step 4)', () => {
    const sig = signData(rsa.privateKey, { family: 'rsa', padding: 'pss', hash: 'sha256' }, data);
    expect(verifyData(rsa.publicKey, { family: 'rsa', padding: 'pss', hash: 'sha1' }, data, sig)).toBe(false);
  });
  it('multi-part signing equals one-shot verification', () => {
    const scheme: SignatureScheme = { family: 'rsa', padding: 'pss', hash: 'sha512' };
    const s = createSigner(rsa.privateKey, scheme, 0);
    s.update(data.subarray(0, 4));
    s.update(data.subarray(4));
    expect(verifyData(rsa.publicKey, scheme, data, s.sign())).toBe(true);
  });
});
