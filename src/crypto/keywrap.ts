// AES Key Wrap (RFC 3394) and AES Key Wrap with Padding (RFC 5649), used by Get/Export
// with a Key Wrapping Specification and by Register/Import of wrapped key blocks
// (KMIP 2.1 s.2.1.5, Wrapping Method Encrypt with Block Cipher Mode NISTKeyWrap /
// AESKeyWrapPadding). OpenSSL provides both; this module fixes the IVs and the errors.
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** RFC 3394 §2.2.3.1 default initial value. */
const RFC3394_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
/** RFC 5649 §3 alternative initial value prefix (the length follows, set by OpenSSL). */
const RFC5649_AIV = Buffer.from('a65959a6', 'hex');

export class KeyWrapError extends Error {
  override readonly name = 'KeyWrapError';
}

function kekCipher(kek: Buffer, padded: boolean): string {
  if (![16, 24, 32].includes(kek.length)) throw new KeyWrapError(`key-encryption key must be 128, 192 or 256 bits, got ${kek.length * 8}`);
  return `id-aes${kek.length * 8}-wrap${padded ? '-pad' : ''}`;
}

export function aesKeyWrap(kek: Buffer, keyData: Buffer): Buffer {
  // RFC 3394 §2: at least two 64-bit blocks, whole blocks only.
  if (keyData.length < 16 || keyData.length % 8 !== 0) throw new KeyWrapError(`RFC 3394 wraps a multiple of 8 bytes, at least 16; got ${keyData.length} (use AES key wrap with padding)`);
  const c = createCipheriv(kekCipher(kek, false), kek, RFC3394_IV);
  return Buffer.concat([c.update(keyData), c.final()]);
}

export function aesKeyUnwrap(kek: Buffer, wrapped: Buffer): Buffer {
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) throw new KeyWrapError(`wrapped data must be a multiple of 8 bytes, at least 24; got ${wrapped.length}`);
  try {
    const d = createDecipheriv(kekCipher(kek, false), kek, RFC3394_IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch (e) {
    if (e instanceof KeyWrapError) throw e;
    throw new KeyWrapError('integrity check failed: wrong key-encryption key or corrupted data');
  }
}

export function aesKeyWrapPad(kek: Buffer, keyData: Buffer): Buffer {
  if (keyData.length === 0) throw new KeyWrapError('nothing to wrap');
  const c = createCipheriv(kekCipher(kek, true), kek, RFC5649_AIV);
  return Buffer.concat([c.update(keyData), c.final()]);
}

export function aesKeyUnwrapPad(kek: Buffer, wrapped: Buffer): Buffer {
  if (wrapped.length < 16 || wrapped.length % 8 !== 0) throw new KeyWrapError(`wrapped data must be a multiple of 8 bytes, at least 16; got ${wrapped.length}`);
  try {
    const d = createDecipheriv(kekCipher(kek, true), kek, RFC5649_AIV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch (e) {
    if (e instanceof KeyWrapError) throw e;
    throw new KeyWrapError('integrity check failed: wrong key-encryption key or corrupted data');
  }
}
