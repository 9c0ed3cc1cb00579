// The cryptography of key wrapping (KMIP 2.1 s.2.1.5 Key Wrapping Data, s.2.1.6 Key
// Wrapping Specification): encrypting the encoded Key Value under a wrapping key and
// authenticating it with a MAC or signature key. What is wrapped (TTLV-encoded Key Value or
// bare key material, s.11.16 Encoding Option) and which managed keys take part is the
// operation layer's business (operations/common/key-wrapping.ts); this module only maps a
// chosen mechanism onto the primitives.
//
// Encrypt mechanisms:
//  - AES key wrap (RFC 3394, Block Cipher Mode NISTKeyWrap) and AES key wrap with padding
//    (RFC 5649, AESKeyWrapPadding), the mechanisms the OASIS vectors and most clients use;
//  - AES-GCM (SP 800-38D): the 12-byte IV travels in the IV/Counter/Nonce field of Key
//    Wrapping Data, the tag is appended to the ciphertext (the PKCS#11 CKM_AES_GCM layout),
//    since Key Wrapping Data has no field of its own for a tag;
//  - RSA-OAEP (RFC 8017 §7.1) and RSAES-PKCS1-v1_5 (§7.2, unwrapping with implicit
//    rejection: a bad padding yields a pseudo-random key that then fails its own checks,
//    so unwrapping is no Bleichenbacher oracle).
// MAC/sign: HMAC, AES-CMAC or a signature scheme over the bytes the Wrapping Method names.
import { randomBytes, type KeyObject } from 'node:crypto';
import { aesKeyUnwrap, aesKeyUnwrapPad, aesKeyWrap, aesKeyWrapPad, KeyWrapError } from './keywrap.ts';
import { computeMac, verifyMac, type MacAlgorithm } from './mac.ts';
import { oaepDecrypt, oaepEncrypt, type OaepParams } from './oaep.ts';
import { pkcs1v15Decrypt, pkcs1v15Encrypt } from './rsa-pkcs1.ts';
import { signData, verifyData, type SignatureScheme } from './signature.ts';
import { CryptoFailure, symmetricDecrypt, symmetricEncrypt } from './symmetric.ts';

/** The mechanism or key does not fit (the caller answers Invalid Field / Bad Cryptographic Parameters). */
export class WrapParamError extends Error {
  override readonly name = 'WrapParamError';
}

/** Unwrapping or authentication failed: wrong key, corrupted or forged data (Cryptographic Failure). */
export class UnwrapFailure extends Error {
  override readonly name = 'UnwrapFailure';
}

export type WrapCipher =
  | { kind: 'aes-kw' }
  | { kind: 'aes-kwp' }
  | { kind: 'aes-gcm'; tagLength: number }
  | { kind: 'rsa-oaep'; oaep: OaepParams }
  | { kind: 'rsa-pkcs1v15' };

/** Key material for wrapping: symmetric bytes, or RSA key objects. */
export interface WrappingKeyMaterial {
  bytes?: Buffer;
  publicKey?: KeyObject;
  privateKey?: KeyObject;
}

export interface Encrypted {
  wrapped: Buffer;
  /** The IV the mechanism used, to be carried in Key Wrapping Data (GCM only). */
  iv?: Buffer;
}

/** SP 800-38D §8.2: a 96-bit random IV is the recommended construction. */
const GCM_IV_BYTES = 12;

function aesKey(key: WrappingKeyMaterial, what: string): Buffer {
  if (key.bytes === undefined || ![16, 24, 32].includes(key.bytes.length)) {
    throw new WrapParamError(`${what} needs a 128, 192 or 256-bit AES wrapping key`);
  }
  return key.bytes;
}

function rsaKey(k: KeyObject | undefined, what: string): KeyObject {
  if (k === undefined || k.asymmetricKeyType !== 'rsa') throw new WrapParamError(`${what} needs an RSA ${what.includes('unwrap') ? 'private' : 'public'} key`);
  return k;
}

/** Encrypts `plaintext` (the encoded key) with the wrapping key. */
export function encryptKeyData(cipher: WrapCipher, key: WrappingKeyMaterial, plaintext: Buffer): Encrypted {
  try {
    switch (cipher.kind) {
      case 'aes-kw':
        return { wrapped: aesKeyWrap(aesKey(key, 'AES key wrap'), plaintext) };
      case 'aes-kwp':
        return { wrapped: aesKeyWrapPad(aesKey(key, 'AES key wrap with padding'), plaintext) };
      case 'aes-gcm': {
        const iv = randomBytes(GCM_IV_BYTES);
        const r = symmetricEncrypt({ algorithm: 'AES', mode: 'GCM', key: aesKey(key, 'AES-GCM wrapping'), iv, tagLength: cipher.tagLength }, plaintext);
        if (r.tag === undefined) throw new WrapParamError('AES-GCM produced no tag');
        return { wrapped: Buffer.concat([r.data, r.tag]), iv };
      }
      case 'rsa-oaep':
        return { wrapped: oaepEncrypt(rsaKey(key.publicKey, 'RSA-OAEP wrapping'), plaintext, cipher.oaep) };
      case 'rsa-pkcs1v15':
        return { wrapped: pkcs1v15Encrypt(rsaKey(key.publicKey, 'RSA PKCS#1 v1.5 wrapping'), plaintext) };
    }
  } catch (e) {
    // Too much data for the key (RSA), a length RFC 3394 cannot wrap: parameter problems.
    if (e instanceof WrapParamError) throw e;
    throw new WrapParamError(e instanceof Error ? e.message : String(e));
  }
}

/** Decrypts wrapped key data; every integrity failure is UnwrapFailure with one message. */
export function decryptKeyData(cipher: WrapCipher, key: WrappingKeyMaterial, wrapped: Buffer, iv?: Buffer): Buffer {
  const fail = (): never => {
    throw new UnwrapFailure('the wrapped key could not be unwrapped: wrong wrapping key or corrupted data');
  };
  switch (cipher.kind) {
    case 'aes-kw':
    case 'aes-kwp': {
      const kek = aesKey(key, cipher.kind === 'aes-kw' ? 'AES key unwrap' : 'AES key unwrap with padding');
      try {
        return cipher.kind === 'aes-kw' ? aesKeyUnwrap(kek, wrapped) : aesKeyUnwrapPad(kek, wrapped);
      } catch (e) {
        if (e instanceof KeyWrapError) return fail();
        throw e;
      }
    }
    case 'aes-gcm': {
      const kek = aesKey(key, 'AES-GCM unwrapping');
      if (iv === undefined || iv.length === 0) throw new WrapParamError('AES-GCM unwrapping needs the IV/Counter/Nonce of the Key Wrapping Data');
      if (wrapped.length < cipher.tagLength) return fail();
      const ct = wrapped.subarray(0, wrapped.length - cipher.tagLength);
      const tag = wrapped.subarray(wrapped.length - cipher.tagLength);
      try {
        return symmetricDecrypt({ algorithm: 'AES', mode: 'GCM', key: kek, iv, tag }, ct);
      } catch (e) {
        if (e instanceof CryptoFailure) return fail();
        throw new WrapParamError(e instanceof Error ? e.message : String(e));
      }
    }
    case 'rsa-oaep':
      try {
        return oaepDecrypt(rsaKey(key.privateKey, 'RSA-OAEP unwrapping'), wrapped, cipher.oaep);
      } catch (e) {
        if (e instanceof WrapParamError) throw e;
        return fail();
      }
    case 'rsa-pkcs1v15':
      try {
        return pkcs1v15Decrypt(rsaKey(key.privateKey, 'RSA PKCS#1 v1.5 unwrapping'), wrapped);
      } catch (e) {
        if (e instanceof WrapParamError) throw e;
        return fail();
      }
  }
}

// ---------------------------------------------------------------------------
// MAC / signature part (Wrapping Methods MAC/sign, Encrypt then MAC/sign)

export type WrapAuthentication =
  | { kind: 'mac'; mac: MacAlgorithm; key: Buffer }
  | { kind: 'signature'; scheme: SignatureScheme; key: KeyObject };

/** The MAC/Signature of `data` (s.2.1.5 MAC/Signature field). */
export function authenticateKeyData(auth: WrapAuthentication, data: Buffer): Buffer {
  try {
    return auth.kind === 'mac' ? computeMac(auth.mac, auth.key, data) : signData(auth.key, auth.scheme, data);
  } catch (e) {
    throw new WrapParamError(e instanceof Error ? e.message : String(e));
  }
}

/** Checks a MAC/Signature; a mismatch is UnwrapFailure. */
export function verifyKeyData(auth: WrapAuthentication, data: Buffer, tag: Buffer): void {
  let ok: boolean;
  try {
    ok = auth.kind === 'mac' ? verifyMac(auth.mac, auth.key, data, tag) : verifyData(auth.key, auth.scheme, data, tag);
  } catch (e) {
    throw new WrapParamError(e instanceof Error ? e.message : String(e));
  }
  if (!ok) throw new UnwrapFailure('the MAC/Signature of the wrapped key does not verify');
}
