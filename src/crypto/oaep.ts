// RSA-OAEP with the MGF1 hash chosen independently of the label hash (RFC 8017 §7.1,
// KMIP 2.1 s.4.16 Mask Generator Hashing Algorithm). Node's OAEP ties MGF1 to the OAEP
// hash, so the encoding is done here and the RSA primitive runs with no padding.
import { constants, createHash, privateDecrypt, publicEncrypt, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

export type OaepHash = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

const hashLen = (h: OaepHash) => createHash(h).digest().length;

/** MGF1 (RFC 8017 §B.2.1). */
export function mgf1(seed: Buffer, length: number, hash: OaepHash): Buffer {
  const out: Buffer[] = [];
  const counter = Buffer.alloc(4);
  let produced = 0;
  for (let i = 0; produced < length; i++) {
    counter.writeUInt32BE(i);
    const d = createHash(hash).update(seed).update(counter).digest();
    out.push(d);
    produced += d.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (!bits) throw new TypeError('not an RSA key');
  return Math.ceil(bits / 8);
}

function xorInPlace(a: Buffer, b: Buffer): void {
  for (let i = 0; i < a.length; i++) a[i]! ^= b[i]!;
}

export interface OaepParams {
  hash: OaepHash;
  mgf1Hash: OaepHash;
  label?: Buffer;
}

/** RSAES-OAEP-ENCRYPT (RFC 8017 §7.1.1). Throws RangeError when the message is too long. */
export function oaepEncrypt(publicKey: KeyObject, message: Buffer, p: OaepParams): Buffer {
  const k = modulusBytes(publicKey);
  const hLen = hashLen(p.hash);
  if (message.length > k - 2 * hLen - 2) throw new RangeError(`message of ${message.length} bytes is too long for OAEP with this key (max ${k - 2 * hLen - 2})`);
  const lHash = createHash(p.hash).update(p.label ?? Buffer.alloc(0)).digest();
  const db = Buffer.alloc(k - hLen - 1);
  lHash.copy(db, 0);
  db[db.length - message.length - 1] = 0x01;
  message.copy(db, db.length - message.length);
  const seed = randomBytes(hLen);
  xorInPlace(db, mgf1(seed, db.length, p.mgf1Hash));
  xorInPlace(seed, mgf1(db, hLen, p.mgf1Hash));
  const em = Buffer.concat([Buffer.from([0]), seed, db]);
  return publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);
}

/**
 * RSAES-OAEP-DECRYPT (RFC 8017 §7.1.2). Every decoding failure raises the same error,
 * so a caller cannot be used as a padding oracle (Manger's attack).
 */
export function oaepDecrypt(privateKey: KeyObject, ciphertext: Buffer, p: OaepParams): Buffer {
  const k = modulusBytes(privateKey);
  const hLen = hashLen(p.hash);
  const fail = () => new Error('OAEP decryption error');
  if (ciphertext.length !== k || k < 2 * hLen + 2) throw fail();
  let em: Buffer;
  try {
    em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    throw fail();
  }
  if (em.length < k) em = Buffer.concat([Buffer.alloc(k - em.length), em]);
  const lHash = createHash(p.hash).update(p.label ?? Buffer.alloc(0)).digest();
  const seed = Buffer.from(em.subarray(1, 1 + hLen));
  const db = Buffer.from(em.subarray(1 + hLen));
  xorInPlace(seed, mgf1(db, hLen, p.mgf1Hash));
  xorInPlace(db, mgf1(seed, db.length, p.mgf1Hash));
  // Scan the whole padding without early exit, then decide once.
  let bad = em[0]! !== 0 ? 1 : 0;
  bad |= timingSafeEqual(db.subarray(0, hLen), lHash) ? 0 : 1;
  let sep = -1;
  let lookingForSep = 1;
  for (let i = hLen; i < db.length; i++) {
    const isOne = db[i] === 0x01 ? 1 : 0;
    const isZero = db[i] === 0x00 ? 1 : 0;
    if (lookingForSep && isOne) sep = i;
    if (lookingForSep && !isOne && !isZero) bad = 1;
    if (isOne) lookingForSep = 0;
  }
  if (bad || sep < 0) throw fail();
  return Buffer.from(db.subarray(sep + 1));
}
