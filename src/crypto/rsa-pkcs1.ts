// RSAES-PKCS1-v1_5 (RFC 8017 §7.2) for Encrypt / Decrypt with Padding Method PKCS1 v1.5
// (KMIP 2.1 s.6.1.17, s.6.1.11). Node 20 refuses PKCS#1 v1.5 private decryption
// (CVE-2023-46809, the Marvin attack): a server that answers "bad padding" differently from
// "good padding" is a Bleichenbacher oracle. Decryption here uses implicit rejection (the
// approach of draft-irtf-cfrg-rsa-guidance and OpenSSL 3.2): a ciphertext whose padding is
// wrong decrypts to a pseudo-random message derived from the private key and the ciphertext,
// so the answer looks the same either way and repeats for the same ciphertext.
// JavaScript cannot promise constant time; the selection below avoids data-dependent early
// exits, which removes the coarse timing signal.
import { constants, createHash, createHmac, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';

export class RsaPaddingParamError extends Error {
  override readonly name = 'RsaPaddingParamError';
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== 'rsa' || bits === undefined) throw new RsaPaddingParamError('PKCS#1 v1.5 encryption needs an RSA key');
  return Math.ceil(bits / 8);
}

/** RSAES-PKCS1-V1_5-ENCRYPT; the message may be at most k − 11 bytes. */
export function pkcs1v15Encrypt(publicKey: KeyObject, message: Buffer): Buffer {
  const k = modulusBytes(publicKey);
  if (message.length > k - 11) throw new RsaPaddingParamError(`message of ${message.length} bytes is too long for PKCS#1 v1.5 with this key (max ${k - 11})`);
  // Encryption with type-2 padding is still offered by OpenSSL and is not an oracle.
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, message);
}

function prf(kdk: Buffer, label: string, input: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, n = 0; n < length; i++) {
    const c = Buffer.alloc(2);
    c.writeUInt16BE(i);
    const block = createHmac('sha256', kdk).update(c).update(label).update(input).digest();
    out.push(block);
    n += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/**
 * RSAES-PKCS1-V1_5-DECRYPT with implicit rejection. Throws only for a ciphertext of the
 * wrong length (public information); any other failure yields the synthetic message.
 */
export function pkcs1v15Decrypt(privateKey: KeyObject, ciphertext: Buffer): Buffer {
  const k = modulusBytes(privateKey);
  if (ciphertext.length !== k) throw new RsaPaddingParamError(`ciphertext must be ${k} bytes for this key, got ${ciphertext.length}`);
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');
  const kdk = createHmac('sha256', createHash('sha256').update(d).digest()).update(ciphertext).digest();
  d.fill(0);

  let em: Buffer;
  let bad = 0;
  try {
    em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext);
    if (em.length < k) em = Buffer.concat([Buffer.alloc(k - em.length), em]);
  } catch {
    // c ≥ n: not a ciphertext of this key.
    em = Buffer.alloc(k);
    bad = 1;
  }
  // EM = 0x00 ‖ 0x02 ‖ PS (≥ 8 non-zero bytes) ‖ 0x00 ‖ M
  bad |= em[0]! !== 0 ? 1 : 0;
  bad |= em[1]! !== 2 ? 1 : 0;
  let sep = 0;
  for (let i = 2; i < k; i++) {
    const isZero = em[i] === 0 ? 1 : 0;
    const first = isZero & (sep === 0 ? 1 : 0);
    sep = first ? i : sep;
  }
  bad |= sep === 0 ? 1 : 0;
  bad |= sep < 10 ? 1 : 0;

  const lenBytes = prf(kdk, 'length', ciphertext, 2);
  const synthLen = lenBytes.readUInt16BE(0) % (k - 10);
  const synthetic = prf(kdk, 'message', ciphertext, synthLen);
  const real = em.subarray(sep + 1);
  const out = Buffer.from(bad ? synthetic : real);
  em.fill(0);
  return out;
}
