// Symmetric ciphers for Encrypt / Decrypt (KMIP 2.1 s.6.1.17, s.6.1.11) over node:crypto:
// AES (ECB, CBC, CTR, GCM, XTS), 3DES (ECB, CBC), Camellia (ECB, CBC, CTR; RFC 3713),
// ARIA (ECB, CBC, CTR, GCM; RFC 5794), SM4 (ECB, CBC, CTR), ChaCha20 and ChaCha20-Poly1305
// (RFC 8439), padding None or PKCS5 (s.11.38). Those are the block and stream ciphers that
// OpenSSL 3's default provider holds; Blowfish, CAST5, IDEA, RC2, RC4, SEED and single DES
// live in its legacy provider, which Node does not load. Pure: no KMIP types, plain parameters.
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';

export type SymmetricAlgorithm = 'AES' | 'DES3' | 'Camellia' | 'ARIA' | 'SM4' | 'ChaCha20' | 'ChaCha20Poly1305';

/** The 128-bit block ciphers other than AES, with the modes OpenSSL offers for them and their key sizes. */
const OTHER_BLOCK_CIPHERS: Readonly<Record<'Camellia' | 'ARIA' | 'SM4', { prefix: string; modes: readonly BlockMode[]; keyBytes: readonly number[] }>> = {
  Camellia: { prefix: 'camellia', modes: ['ECB', 'CBC', 'CTR'], keyBytes: [16, 24, 32] },
  ARIA: { prefix: 'aria', modes: ['ECB', 'CBC', 'CTR', 'GCM'], keyBytes: [16, 24, 32] },
  SM4: { prefix: 'sm4', modes: ['ECB', 'CBC', 'CTR'], keyBytes: [16] },
};

/** Whether the algorithm is a block cipher that needs a Block Cipher Mode. */
export const isBlockCipher = (a: SymmetricAlgorithm): boolean => a !== 'ChaCha20' && a !== 'ChaCha20Poly1305';
/** The block size in bytes (3DES 8, the others 16). */
export const blockBytes = (a: SymmetricAlgorithm): number => (a === 'DES3' ? 8 : 16);
export type BlockMode = 'ECB' | 'CBC' | 'CTR' | 'GCM' | 'XTS';
export type Padding = 'None' | 'PKCS5';

export interface SymmetricParams {
  algorithm: SymmetricAlgorithm;
  /** Required for AES and 3DES. */
  mode?: BlockMode;
  padding?: Padding;
  key: Buffer;
  /** IV, counter block or nonce, as the mode needs it. */
  iv?: Buffer;
  /** GCM / ChaCha20-Poly1305. */
  aad?: Buffer;
  /** GCM / ChaCha20-Poly1305 tag length in bytes (encrypt) — or the tag itself on decrypt. */
  tagLength?: number;
  tag?: Buffer;
}

/** A parameter problem the caller should report as InvalidField / BadCryptographicParameters. */
export class CryptoParamError extends Error {
  override readonly name = 'CryptoParamError';
}
/** Authentication or padding failure on decrypt: CryptographicFailure. */
export class CryptoFailure extends Error {
  override readonly name = 'CryptoFailure';
}

/**
 * Longest GCM IV accepted. SP 800-38D allows any length, but OpenSSL (through Node) refuses
 * IVs over 128 bytes with a bare "Invalid initialization vector", which would reach the
 * client as a server fault; no real client sends more than 16 (found by the fuzzer).
 */
export const MAX_GCM_IV_BYTES = 128;

/** IV / nonce length each mode takes, in bytes. */
export function ivLength(algorithm: SymmetricAlgorithm, mode?: BlockMode): number {
  if (algorithm === 'ChaCha20') return 16; // RFC 8439 counter (4) + nonce (12), as OpenSSL takes it
  if (algorithm === 'ChaCha20Poly1305') return 12;
  const block = blockBytes(algorithm);
  switch (mode) {
    case 'ECB': return 0;
    case 'GCM': return 12;
    case 'XTS': return 16; // the tweak
    default: return block;
  }
}

/** The OpenSSL cipher name for the parameters, after checking key size and mode (CryptoParamError). */
export function cipherName(p: SymmetricParams): string {
  const bits = p.key.length * 8;
  switch (p.algorithm) {
    case 'AES': {
      if (p.mode === 'XTS') {
        if (p.key.length !== 32 && p.key.length !== 64) throw new CryptoParamError(`AES-XTS needs a 256- or 512-bit key (two AES keys), got ${bits} bits`);
        // IEEE 1619 / SP 800-38E: the data key and the tweak key must differ (OpenSSL refuses it too).
        if (p.key.subarray(0, p.key.length / 2).equals(p.key.subarray(p.key.length / 2))) throw new CryptoParamError('AES-XTS key halves must differ');
        return `aes-${bits / 2}-xts`;
      }
      if (![16, 24, 32].includes(p.key.length)) throw new CryptoParamError(`AES key must be 128, 192 or 256 bits, got ${bits}`);
      if (!p.mode) throw new CryptoParamError('AES needs a Block Cipher Mode');
      if (!['ECB', 'CBC', 'CTR', 'GCM'].includes(p.mode)) throw new CryptoParamError(`AES mode ${p.mode} is not supported`);
      return `aes-${bits}-${p.mode.toLowerCase()}`;
    }
    case 'DES3': {
      if (p.key.length !== 24 && p.key.length !== 16) throw new CryptoParamError(`3DES key must be 128 or 192 bits, got ${bits}`);
      const two = p.key.length === 16 ? '' : '3';
      if (p.mode === 'ECB') return `des-ede${two}-ecb`;
      if (p.mode === 'CBC') return `des-ede${two}-cbc`;
      throw new CryptoParamError(`3DES mode ${p.mode ?? '(none)'} is not supported (ECB, CBC)`);
    }
    case 'Camellia':
    case 'ARIA':
    case 'SM4': {
      const c = OTHER_BLOCK_CIPHERS[p.algorithm];
      if (!c.keyBytes.includes(p.key.length)) throw new CryptoParamError(`${p.algorithm} key must be ${c.keyBytes.map((b) => b * 8).join(', ')} bits, got ${bits}`);
      if (!p.mode) throw new CryptoParamError(`${p.algorithm} needs a Block Cipher Mode`);
      if (!c.modes.includes(p.mode)) throw new CryptoParamError(`${p.algorithm} mode ${p.mode} is not supported (${c.modes.join(', ')})`);
      return p.algorithm === 'SM4' ? `sm4-${p.mode.toLowerCase()}` : `${c.prefix}-${bits}-${p.mode.toLowerCase()}`;
    }
    case 'ChaCha20':
      if (p.key.length !== 32) throw new CryptoParamError('ChaCha20 needs a 256-bit key');
      return 'chacha20';
    case 'ChaCha20Poly1305':
      if (p.key.length !== 32) throw new CryptoParamError('ChaCha20-Poly1305 needs a 256-bit key');
      return 'chacha20-poly1305';
  }
}

const isAead = (p: SymmetricParams) => p.algorithm === 'ChaCha20Poly1305' || p.mode === 'GCM';
// Padding applies to the block modes only; stream and AEAD modes never pad.
const usesPadding = (p: SymmetricParams) => (p.mode === 'ECB' || p.mode === 'CBC') && p.algorithm !== 'ChaCha20' && p.algorithm !== 'ChaCha20Poly1305';

function checkIv(p: SymmetricParams): Buffer | null {
  const want = ivLength(p.algorithm, p.mode);
  if (want === 0) return null;
  if (!p.iv) throw new CryptoParamError(`${p.algorithm}${p.mode ? '-' + p.mode : ''} needs an IV/Counter/Nonce of ${want} bytes`);
  // GCM accepts other IV lengths (SP 800-38D), 12 is only the recommended one.
  if (p.mode === 'GCM' ? p.iv.length === 0 : p.iv.length !== want) throw new CryptoParamError(`IV/Counter/Nonce must be ${want} bytes, got ${p.iv.length}`);
  if (p.mode === 'GCM' && p.iv.length > MAX_GCM_IV_BYTES) throw new CryptoParamError(`a GCM IV/Counter/Nonce may be at most ${MAX_GCM_IV_BYTES} bytes, got ${p.iv.length}`);
  return p.iv;
}

export interface EncryptResult {
  data: Buffer;
  tag?: Buffer;
}

/** update() and final() output as one Buffer; final() is empty for GCM, CTR, XTS…: no copy then. */
function joinFinal(head: Buffer, tail: Buffer): Buffer {
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

export function symmetricEncrypt(p: SymmetricParams, plaintext: Buffer): EncryptResult {
  const name = cipherName(p);
  const iv = checkIv(p);
  const tagLength = p.tagLength ?? 16;
  if (isAead(p) && (tagLength < 4 || tagLength > 16)) throw new CryptoParamError(`tag length ${tagLength} is outside 4..16 bytes`);
  const block = blockBytes(p.algorithm);
  if (usesPadding(p) && (p.padding ?? 'None') === 'None' && plaintext.length % block !== 0)
    throw new CryptoParamError(`without padding the data must be a multiple of ${block} bytes, got ${plaintext.length}`);
  if (p.mode === 'XTS' && plaintext.length < 16) throw new CryptoParamError('AES-XTS needs at least 16 bytes of data');
  const c = isAead(p)
    ? createCipheriv(name as CipherGCMTypes, p.key, iv as Buffer, { authTagLength: tagLength })
    : createCipheriv(name, p.key, iv);
  if (usesPadding(p)) c.setAutoPadding((p.padding ?? 'None') === 'PKCS5');
  if (isAead(p) && p.aad) (c as ReturnType<typeof createCipheriv> & { setAAD(b: Buffer, o?: object): void }).setAAD(p.aad, { plaintextLength: plaintext.length });
  const data = joinFinal(c.update(plaintext), c.final());
  if (!isAead(p)) return { data };
  const tag = (c as unknown as { getAuthTag(): Buffer }).getAuthTag();
  return { data, tag };
}

export function symmetricDecrypt(p: SymmetricParams, ciphertext: Buffer): Buffer {
  const name = cipherName(p);
  const iv = checkIv(p);
  if (isAead(p) && !p.tag) throw new CryptoParamError('an Authenticated Encryption Tag is required to decrypt');
  const block = blockBytes(p.algorithm);
  if (usesPadding(p) && ciphertext.length % block !== 0) throw new CryptoParamError(`ciphertext must be a multiple of ${block} bytes, got ${ciphertext.length}`);
  const d = isAead(p)
    ? createDecipheriv(name as CipherGCMTypes, p.key, iv as Buffer, { authTagLength: p.tag!.length })
    : createDecipheriv(name, p.key, iv);
  if (usesPadding(p)) d.setAutoPadding((p.padding ?? 'None') === 'PKCS5');
  if (isAead(p)) {
    const ad = d as unknown as { setAuthTag(b: Buffer): void; setAAD(b: Buffer, o?: object): void };
    ad.setAuthTag(p.tag!);
    if (p.aad) ad.setAAD(p.aad, { plaintextLength: ciphertext.length });
  }
  try {
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    // Node reports a failed tag or bad padding as a generic error; both are CryptographicFailure.
    throw new CryptoFailure(isAead(p) ? 'authentication tag check failed' : 'bad padding');
  }
}
