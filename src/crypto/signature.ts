// Digital signatures for Sign / Signature Verify (KMIP 2.1 s.6.1.49, s.6.1.50; 1.4 s.4.31,
// s.4.32): RSA PKCS#1 v1.5 and PSS (RFC 8017 §8), ECDSA on P-256/384/521 (FIPS 186-4, DER
// signatures as X9.62 / RFC 3279 encode them) and Ed25519 (RFC 8032), over data or over a
// digest the client computed (Digested Data). Pure: node:crypto keys and names.
//
// Where node:crypto cannot do it directly the encoding is done here and only the RSA
// primitive runs in OpenSSL (with its blinding):
//  - PKCS#1 v1.5 over a digest: EMSA-PKCS1-v1_5 is "type-1 padding of DigestInfo", which is
//    exactly what privateEncrypt with RSA_PKCS1_PADDING computes;
//  - PSS over a digest, or with an MGF1 hash other than the message hash (KMIP's Mask
//    Generator Hashing Algorithm): EMSA-PSS (RFC 8017 §9.1) here, RSASP1 / RSAVP1 via the
//    no-padding RSA calls.
// ECDSA and Ed25519 over a digest are refused: Node exposes no raw-digest ECDSA signing and
// a hand-written one in JavaScript would leak the nonce through timing; Ed25519ph is not in
// OpenSSL 3.0.
import {
  constants, createHash, createSign, createVerify, privateDecrypt, privateEncrypt, publicDecrypt, publicEncrypt,
  randomBytes, sign as nodeSign, timingSafeEqual, verify as nodeVerify, type KeyObject,
} from 'node:crypto';
import { createIncrementalHash, hashLength, type HashName, type IncrementalHash } from './hash.ts';

export type SignatureScheme =
  | { family: 'rsa'; padding: 'pkcs1v15'; hash: HashName }
  | { family: 'rsa'; padding: 'pss'; hash: HashName; mgf1Hash?: HashName; saltLength?: number }
  | { family: 'ecdsa'; hash: HashName }
  | { family: 'ed25519' };

/** The scheme cannot be used with this key or these parameters (the caller answers Invalid Field). */
export class SignatureParamError extends Error {
  override readonly name = 'SignatureParamError';
}

// ---------------------------------------------------------------------------
// Key checks

function checkKey(key: KeyObject, scheme: SignatureScheme): void {
  const t = key.asymmetricKeyType;
  const ok = scheme.family === 'rsa' ? t === 'rsa' : scheme.family === 'ecdsa' ? t === 'ec' : t === 'ed25519';
  if (!ok) throw new SignatureParamError(`a ${t ?? 'non-asymmetric'} key cannot make ${scheme.family.toUpperCase()} signatures`);
}

function modulusBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined) throw new SignatureParamError('not an RSA key');
  return bits;
}

// ---------------------------------------------------------------------------
// EMSA-PKCS1-v1_5 DigestInfo (RFC 8017 §9.2)

/** DER of the AlgorithmIdentifier OID of each hash (RFC 8017 Appendix B.1; NIST CSOR for SHA-3). */
const NIST_HASH_ARC = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02]; // 2.16.840.1.101.3.4.2
const HASH_OID: Readonly<Record<HashName, number[]>> = {
  sha1: [0x2b, 0x0e, 0x03, 0x02, 0x1a], // 1.3.14.3.2.26
  sha256: [...NIST_HASH_ARC, 1],
  sha384: [...NIST_HASH_ARC, 2],
  sha512: [...NIST_HASH_ARC, 3],
  sha224: [...NIST_HASH_ARC, 4],
  'sha512-224': [...NIST_HASH_ARC, 5],
  'sha512-256': [...NIST_HASH_ARC, 6],
  'sha3-224': [...NIST_HASH_ARC, 7],
  'sha3-256': [...NIST_HASH_ARC, 8],
  'sha3-384': [...NIST_HASH_ARC, 9],
  'sha3-512': [...NIST_HASH_ARC, 10],
};

const der = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag, body.length]), body]); // all bodies < 128 bytes

/** DigestInfo ::= SEQUENCE { AlgorithmIdentifier { oid, NULL }, OCTET STRING digest }. */
export function digestInfo(hash: HashName, digestValue: Buffer): Buffer {
  if (digestValue.length !== hashLength(hash)) {
    throw new SignatureParamError(`a ${hash} digest is ${hashLength(hash)} bytes, got ${digestValue.length}`);
  }
  const algId = der(0x30, Buffer.concat([der(0x06, Buffer.from(HASH_OID[hash])), Buffer.from([0x05, 0x00])]));
  return der(0x30, Buffer.concat([algId, der(0x04, digestValue)]));
}

// ---------------------------------------------------------------------------
// EMSA-PSS (RFC 8017 §9.1)

function mgf1(hash: HashName, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0, produced = 0; produced < length; i++) {
    counter.writeUInt32BE(i);
    const d = createHash(hash).update(seed).update(counter).digest();
    out.push(d);
    produced += d.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

const PSS_ZEROS = Buffer.alloc(8);

function pssEncode(mHash: Buffer, emBits: number, hash: HashName, mgfHash: HashName, sLen: number): Buffer {
  const hLen = hashLength(hash);
  const emLen = Math.ceil(emBits / 8);
  if (emLen < hLen + sLen + 2) throw new SignatureParamError(`PSS salt of ${sLen} bytes is too long for this key and ${hash} (max ${emLen - hLen - 2})`);
  const salt = randomBytes(sLen);
  const h = createHash(hash).update(PSS_ZEROS).update(mHash).update(salt).digest();
  const db = Buffer.alloc(emLen - hLen - 1);
  db[emLen - sLen - hLen - 2] = 0x01;
  salt.copy(db, emLen - sLen - hLen - 1);
  const mask = mgf1(mgfHash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >>> (8 * emLen - emBits);
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

/** EMSA-PSS-VERIFY; `sLen` undefined recovers the salt length from the encoding. */
function pssVerify(mHash: Buffer, em: Buffer, emBits: number, hash: HashName, mgfHash: HashName, sLen: number | undefined): boolean {
  const hLen = hashLength(hash);
  const emLen = Math.ceil(emBits / 8);
  if (em.length !== emLen || emLen < hLen + 2 || em[emLen - 1] !== 0xbc) return false;
  const topMask = 0xff >>> (8 * emLen - emBits);
  const db = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  if ((db[0]! & ~topMask) !== 0) return false;
  const mask = mgf1(mgfHash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= topMask;
  let sep = 0;
  while (sep < db.length && db[sep] === 0) sep++;
  if (sep >= db.length || db[sep] !== 0x01) return false;
  const salt = db.subarray(sep + 1);
  if (sLen !== undefined && salt.length !== sLen) return false;
  const h2 = createHash(hash).update(PSS_ZEROS).update(mHash).update(salt).digest();
  return timingSafeEqual(h, h2);
}

const leftPad = (b: Buffer, size: number): Buffer => (b.length >= size ? b : Buffer.concat([Buffer.alloc(size - b.length), b]));

/** Does this PSS scheme need the encoding done here (rather than by OpenSSL's sign())? */
const manualPss = (s: SignatureScheme): boolean => s.family === 'rsa' && s.padding === 'pss' && s.mgf1Hash !== undefined && s.mgf1Hash !== s.hash;

function pssSaltLength(key: KeyObject, s: { hash: HashName; saltLength?: number }): number {
  // Default salt = hash length (RFC 8017 §9.1 note 4; FIPS 186-4 §5.5 caps it there).
  const sLen = s.saltLength ?? hashLength(s.hash);
  const max = Math.ceil((modulusBits(key) - 1) / 8) - hashLength(s.hash) - 2;
  if (sLen < 0 || sLen > max) throw new SignatureParamError(`PSS salt length ${sLen} is outside 0..${max} for this key and ${s.hash}`);
  return sLen;
}

// ---------------------------------------------------------------------------
// Sign / verify a digest

export function signDigest(key: KeyObject, scheme: SignatureScheme, mHash: Buffer): Buffer {
  checkKey(key, scheme);
  if (scheme.family !== 'rsa') {
    throw new SignatureParamError(`${scheme.family === 'ecdsa' ? 'ECDSA' : 'Ed25519'} signatures over Digested Data are not supported; send the Data`);
  }
  if (mHash.length !== hashLength(scheme.hash)) throw new SignatureParamError(`a ${scheme.hash} digest is ${hashLength(scheme.hash)} bytes, got ${mHash.length}`);
  if (scheme.padding === 'pkcs1v15') {
    return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo(scheme.hash, mHash));
  }
  const bits = modulusBits(key);
  const k = Math.ceil(bits / 8);
  const em = pssEncode(mHash, bits - 1, scheme.hash, scheme.mgf1Hash ?? scheme.hash, pssSaltLength(key, scheme));
  // RSASP1: the no-padding "decrypt" is the bare private-key operation m^d mod n.
  return leftPad(privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, leftPad(em, k)), k);
}

export function verifyDigest(key: KeyObject, scheme: SignatureScheme, mHash: Buffer, signature: Buffer): boolean {
  checkKey(key, scheme);
  if (scheme.family !== 'rsa') {
    throw new SignatureParamError(`${scheme.family === 'ecdsa' ? 'ECDSA' : 'Ed25519'} verification over Digested Data is not supported; send the Data`);
  }
  if (mHash.length !== hashLength(scheme.hash)) throw new SignatureParamError(`a ${scheme.hash} digest is ${hashLength(scheme.hash)} bytes, got ${mHash.length}`);
  const bits = modulusBits(key);
  const k = Math.ceil(bits / 8);
  if (signature.length !== k) return false;
  let m: Buffer;
  try {
    // RSAVP1: s^e mod n; OpenSSL refuses s >= n, which is an invalid signature.
    m = leftPad(publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, signature), k);
  } catch {
    return false;
  }
  if (scheme.padding === 'pkcs1v15') {
    const expected = Buffer.concat([Buffer.from([0x00, 0x01]), Buffer.alloc(k - 3 - digestInfo(scheme.hash, mHash).length, 0xff), Buffer.from([0x00]), digestInfo(scheme.hash, mHash)]);
    return expected.length === m.length && timingSafeEqual(expected, m);
  }
  const emLen = Math.ceil((bits - 1) / 8);
  if (emLen < k && m[0] !== 0) return false;
  return pssVerify(mHash, m.subarray(k - emLen), bits - 1, scheme.hash, scheme.mgf1Hash ?? scheme.hash, scheme.saltLength);
}

// ---------------------------------------------------------------------------
// Sign / verify data

function nodeOptions(key: KeyObject, scheme: SignatureScheme, verifying: boolean) {
  if (scheme.family === 'ecdsa') return { key, dsaEncoding: 'der' as const };
  if (scheme.family === 'rsa' && scheme.padding === 'pss') {
    // A verifier that was not told the salt length recovers it (RFC 8017 §9.1.2 allows any).
    const saltLength = verifying && scheme.saltLength === undefined ? constants.RSA_PSS_SALTLEN_AUTO : pssSaltLength(key, scheme);
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
  }
  return { key, padding: constants.RSA_PKCS1_PADDING };
}

export function signData(key: KeyObject, scheme: SignatureScheme, data: Buffer): Buffer {
  checkKey(key, scheme);
  if (scheme.family === 'ed25519') return nodeSign(null, data, key);
  if (manualPss(scheme)) return signDigest(key, scheme, createHash(scheme.hash).update(data).digest());
  return nodeSign(scheme.hash, data, nodeOptions(key, scheme, false));
}

/** False for a wrong or malformed signature; throws only for a key/scheme mismatch. */
export function verifyData(key: KeyObject, scheme: SignatureScheme, data: Buffer, signature: Buffer): boolean {
  checkKey(key, scheme);
  if (scheme.family === 'rsa' && scheme.padding === 'pss' && scheme.saltLength !== undefined) pssSaltLength(key, scheme);
  if (manualPss(scheme)) return verifyDigest(key, scheme, createHash((scheme as { hash: HashName }).hash).update(data).digest(), signature);
  try {
    if (scheme.family === 'ed25519') return nodeVerify(null, data, key, signature);
    return nodeVerify(scheme.hash, data, nodeOptions(key, scheme, true), signature);
  } catch {
    // OpenSSL rejects some malformed signatures (bad DER, wrong length) by throwing.
    return false;
  }
}

// ---------------------------------------------------------------------------
// Multi-part (s.6.1.49 Init / Final Indicator)

export interface IncrementalSigner {
  update(part: Buffer): void;
  sign(): Buffer;
  readonly buffered: number;
}
export interface IncrementalVerifier {
  update(part: Buffer): void;
  verify(signature: Buffer): boolean;
  readonly buffered: number;
}

/**
 * Ed25519 signs the whole message (RFC 8032 PureEdDSA hashes it twice), so its parts are
 * buffered up to `maxBufferedBytes`; the hash-based schemes keep only the hash state.
 */
function collector(maxBufferedBytes: number) {
  const parts: Buffer[] = [];
  let size = 0;
  return {
    get size() {
      return size;
    },
    add(part: Buffer) {
      if (size + part.length > maxBufferedBytes) throw new SignatureParamError(`multi-part Ed25519 data is limited to ${maxBufferedBytes} bytes`);
      parts.push(Buffer.from(part));
      size += part.length;
    },
    all: () => Buffer.concat(parts),
  };
}

export function createSigner(key: KeyObject, scheme: SignatureScheme, maxBufferedBytes: number): IncrementalSigner {
  checkKey(key, scheme);
  if (scheme.family === 'ed25519') {
    const c = collector(maxBufferedBytes);
    return { get buffered() { return c.size; }, update: (p) => c.add(p), sign: () => nodeSign(null, c.all(), key) };
  }
  if (manualPss(scheme)) {
    const h: IncrementalHash = createIncrementalHash(scheme.hash);
    return { buffered: 0, update: (p) => h.update(p), sign: () => signDigest(key, scheme, h.digest()) };
  }
  const opts = nodeOptions(key, scheme, false);
  const s = createSign(scheme.hash);
  return { buffered: 0, update: (p) => void s.update(p), sign: () => s.sign(opts) };
}

export function createVerifier(key: KeyObject, scheme: SignatureScheme, maxBufferedBytes: number): IncrementalVerifier {
  checkKey(key, scheme);
  if (scheme.family === 'ed25519') {
    const c = collector(maxBufferedBytes);
    return { get buffered() { return c.size; }, update: (p) => c.add(p), verify: (sig) => verifyData(key, scheme, c.all(), sig) };
  }
  if (manualPss(scheme)) {
    const h: IncrementalHash = createIncrementalHash(scheme.hash);
    return { buffered: 0, update: (p) => h.update(p), verify: (sig) => verifyDigest(key, scheme, h.digest(), sig) };
  }
  const opts = nodeOptions(key, scheme, true);
  const v = createVerify(scheme.hash);
  return {
    buffered: 0,
    update: (p) => void v.update(p),
    verify: (sig) => {
      try {
        return v.verify(opts, sig);
      } catch {
        return false;
      }
    },
  };
}

/**
 * The DigestInfo inside a PKCS#1 v1.5 signature (RSAVP1 then removal of the type-1
 * padding), or undefined when the signature does not open. Lets tests check digestInfo()
 * against signatures OpenSSL made on its own.
 */
export function recoverPkcs1DigestInfo(key: KeyObject, signature: Buffer): Buffer | undefined {
  try {
    return publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return undefined;
  }
}
