// Message authentication codes for MAC / MAC Verify (KMIP 2.1 s.6.1.29, s.6.1.30; 1.4
// s.4.33, s.4.34): HMAC (RFC 2104 / FIPS 198-1) over the SHA-1, SHA-2 and SHA-3 digests,
// and AES-CMAC (SP 800-38B, implemented in cmac.ts). Pure: plain names and buffers.
import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import { aesCmac } from './cmac.ts';
import { hashLength, type HashName } from './hash.ts';

export type MacAlgorithm = { kind: 'hmac'; hash: HashName } | { kind: 'cmac' };

/** A key or parameter the MAC cannot be computed with (the caller answers Invalid Field). */
export class MacParamError extends Error {
  override readonly name = 'MacParamError';
}

/** Output length in bytes of the untruncated MAC. */
export const macLength = (a: MacAlgorithm): number => (a.kind === 'hmac' ? hashLength(a.hash) : 16);

function checkKey(a: MacAlgorithm, key: Buffer): void {
  if (a.kind === 'cmac') {
    if (![16, 24, 32].includes(key.length)) throw new MacParamError(`AES-CMAC needs a 128-, 192- or 256-bit AES key, got ${key.length * 8} bits`);
    return;
  }
  // FIPS 198-1 allows any key length, but an empty key authenticates nothing.
  if (key.length === 0) throw new MacParamError('an HMAC key must not be empty');
}

export function computeMac(a: MacAlgorithm, key: Buffer, data: Buffer): Buffer {
  checkKey(a, key);
  return a.kind === 'hmac' ? createHmac(a.hash, key).update(data).digest() : aesCmac(key, data);
}

/**
 * Constant-time comparison of `mac` with the MAC of `data`. A MAC of another length is
 * invalid: the server does not accept truncated MACs, so a client cannot shorten a MAC to
 * make forging it cheaper.
 */
export function verifyMac(a: MacAlgorithm, key: Buffer, data: Buffer, mac: Buffer): boolean {
  return equalMac(computeMac(a, key, data), mac);
}

export function equalMac(expected: Buffer, given: Buffer): boolean {
  if (expected.length !== given.length) return false;
  return timingSafeEqual(expected, given);
}

/**
 * A MAC fed in parts (multi-part MAC, s.6.1.29 Init/Final Indicator). HMAC keeps only the
 * running state. The AES-CMAC of cmac.ts works on a whole message, so its parts are
 * buffered up to `maxBufferedBytes` (a MacParamError beyond, which the caller reports).
 */
export interface IncrementalMac {
  update(part: Buffer): void;
  final(): Buffer;
  /** Bytes held in memory for this computation. */
  readonly buffered: number;
}

export function createIncrementalMac(a: MacAlgorithm, key: Buffer, maxBufferedBytes: number): IncrementalMac {
  checkKey(a, key);
  if (a.kind === 'hmac') {
    let h: Hmac | undefined = createHmac(a.hash, key);
    return {
      buffered: 0,
      update(part) {
        if (h === undefined) throw new Error('MAC already finished');
        h.update(part);
      },
      final() {
        if (h === undefined) throw new Error('MAC already finished');
        const out = h.digest();
        h = undefined;
        return out;
      },
    };
  }
  const keyCopy = Buffer.from(key);
  const parts: Buffer[] = [];
  let size = 0;
  let done = false;
  return {
    get buffered() {
      return size;
    },
    update(part) {
      if (done) throw new Error('MAC already finished');
      if (size + part.length > maxBufferedBytes) throw new MacParamError(`multi-part AES-CMAC is limited to ${maxBufferedBytes} bytes`);
      parts.push(Buffer.from(part));
      size += part.length;
    },
    final() {
      if (done) throw new Error('MAC already finished');
      done = true;
      const all = Buffer.concat(parts);
      const out = aesCmac(keyCopy, all);
      all.fill(0);
      for (const p of parts) p.fill(0);
      keyCopy.fill(0);
      return out;
    },
  };
}
