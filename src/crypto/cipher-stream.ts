// Incremental symmetric encryption / decryption for multi-part Encrypt and Decrypt (KMIP
// 2.1 s.6.1.17, s.6.1.11 Init / Final Indicator). Single-part requests use symmetric.ts;
// this module keeps a node:crypto Cipher alive between the parts of one stream, so each part
// returns its output at once and memory stays constant. Parameter checks mirror
// symmetric.ts (same SymmetricParams, same errors) and reuse its IV lengths.
import { createCipheriv, createDecipheriv, type Cipher, type CipherGCMTypes, type Decipher } from 'node:crypto';
import { blockBytes, cipherName, CryptoFailure, CryptoParamError, ivLength, MAX_GCM_IV_BYTES, type SymmetricParams } from './symmetric.ts';

export interface CipherStream {
  /** Output for this part (may be shorter or longer than the input: block modes hold back a partial block). */
  update(part: Buffer): Buffer;
  /** The remaining output, and the tag for an AEAD encryption. */
  final(): { data: Buffer; tag?: Buffer };
  /** Ends the stream without output (abandoned or failed streams). */
  abort(): void;
}

const isAead = (p: SymmetricParams) => p.algorithm === 'ChaCha20Poly1305' || p.mode === 'GCM';

/** OpenSSL cipher name, with symmetric.ts's checks; XTS is refused here (see below). */
function streamCipherName(p: SymmetricParams): string {
  const name = cipherName(p);
  // XTS encrypts a data unit as a whole (ciphertext stealing over its last blocks): it
  // cannot be split over requests.
  if (p.mode === 'XTS') throw new CryptoParamError('AES-XTS processes one data unit per request; multi-part XTS is not supported');
  return name;
}

function checkedIv(p: SymmetricParams): Buffer | null {
  const want = ivLength(p.algorithm, p.mode);
  if (want === 0) return null;
  if (p.iv === undefined) throw new CryptoParamError(`an IV/Counter/Nonce of ${want} bytes is required`);
  if (p.mode === 'GCM' ? p.iv.length === 0 : p.iv.length !== want) throw new CryptoParamError(`IV/Counter/Nonce must be ${want} bytes, got ${p.iv.length}`);
  if (p.mode === 'GCM' && p.iv.length > MAX_GCM_IV_BYTES) throw new CryptoParamError(`a GCM IV/Counter/Nonce may be at most ${MAX_GCM_IV_BYTES} bytes, got ${p.iv.length}`);
  return p.iv;
}

/** Opens an incremental cipher. AEAD decryption is refused: it would release plaintext before the tag is checked. */
export function openCipherStream(p: SymmetricParams, direction: 'encrypt' | 'decrypt'): CipherStream {
  const name = streamCipherName(p);
  const iv = checkedIv(p);
  const aead = isAead(p);
  if (aead && direction === 'decrypt') {
    throw new CryptoParamError('multi-part authenticated decryption would return plaintext before its tag is verified; send the ciphertext in one request');
  }
  const tagLength = p.tagLength ?? 16;
  if (aead && (tagLength < 4 || tagLength > 16)) throw new CryptoParamError(`tag length ${tagLength} is outside 4..16 bytes`);
  const blockMode = (p.mode === 'ECB' || p.mode === 'CBC') && p.algorithm !== 'ChaCha20';
  let c: Cipher | Decipher | undefined = direction === 'encrypt'
    ? aead
      ? createCipheriv(name as CipherGCMTypes, p.key, iv as Buffer, { authTagLength: tagLength })
      : createCipheriv(name, p.key, iv)
    : createDecipheriv(name, p.key, iv);
  if (blockMode) c.setAutoPadding((p.padding ?? 'None') === 'PKCS5');
  if (aead && p.aad) (c as unknown as { setAAD(b: Buffer): void }).setAAD(p.aad);
  const block = blockBytes(p.algorithm);
  let total = 0;
  return {
    update(part) {
      if (c === undefined) throw new Error('cipher stream already ended');
      total += part.length;
      return c.update(part);
    },
    final() {
      if (c === undefined) throw new Error('cipher stream already ended');
      const cur = c;
      c = undefined;
      if (blockMode && (p.padding ?? 'None') === 'None' && total % block !== 0) {
        throw new CryptoParamError(`without padding the data must total a multiple of ${block} bytes, got ${total}`);
      }
      let data: Buffer;
      try {
        data = cur.final();
      } catch {
        throw new CryptoFailure(direction === 'decrypt' ? 'bad padding' : 'encryption failed');
      }
      return aead ? { data, tag: (cur as Cipher & { getAuthTag(): Buffer }).getAuthTag() } : { data };
    },
    abort() {
      c = undefined;
    },
  };
}
