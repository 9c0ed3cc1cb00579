import { describe, expect, it } from 'vitest';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt } from 'node:crypto';
import { mgf1, oaepDecrypt, oaepEncrypt } from '../../src/crypto/oaep.ts';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('RSA-OAEP with independent MGF1 hash', () => {
  it('MGF1-SHA1 known answer (seed "foo", 3 bytes → 1ac907)', () => {
    // RFC 8017 gives no MGF1 vector; this is the widely published value MGF1-SHA1("foo", 3).
    expect(mgf1(Buffer.from('foo'), 3, 'sha1').toString('hex')).toBe('1ac907');
    expect(mgf1(Buffer.from('bar'), 5, 'sha256').toString('hex')).toBe('382576a7841021cc28fc4c0948753fb8312090cea942ea4c4e735d10dc724b15'.slice(0, 10));
  });

  it.each(['sha1', 'sha256', 'sha384', 'sha512'] as const)('interoperates with OpenSSL when MGF1 hash = OAEP hash (%s)', (hash) => {
    const msg = Buffer.from('a 32-byte data key to be wrapped');
    const ct = oaepEncrypt(publicKey, msg, { hash, mgf1Hash: hash });
    expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ct)).toEqual(msg);
    const ct2 = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, msg);
    expect(oaepDecrypt(privateKey, ct2, { hash, mgf1Hash: hash })).toEqual(msg);
  });

  it('round-trips with SHA-256 OAEP and SHA-1 MGF1 and a label; a different MGF1 hash or label fails', () => {
    const msg = Buffer.from('secret');
    const p = { hash: 'sha256', mgf1Hash: 'sha1', label: Buffer.from('L') } as const;
    const ct = oaepEncrypt(publicKey, msg, p);
    expect(oaepDecrypt(privateKey, ct, p)).toEqual(msg);
    expect(() => oaepDecrypt(privateKey, ct, { ...p, mgf1Hash: 'sha256' })).toThrow('OAEP decryption error');
    expect(() => oaepDecrypt(privateKey, ct, { ...p, label: Buffer.from('M') })).toThrow('OAEP decryption error');
    const tampered = Buffer.from(ct);
    tampered[10]! ^= 1;
    expect(() => oaepDecrypt(privateKey, tampered, p)).toThrow('OAEP decryption error');
  });

  it('refuses a message longer than the key allows', () => {
    expect(() => oaepEncrypt(publicKey, Buffer.alloc(200), { hash: 'sha512', mgf1Hash: 'sha512' })).toThrow(/too long/);
  });
});
