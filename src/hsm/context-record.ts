// The inner record that binds a hierarchy context to a wrapped key when the L1 mechanism has
// no associated data (DESIGN.md §2): PKCS#11 AES key wrap with padding (pkcs11.ts, format
// 0x22) and Azure Key Vault's wrapKey with RSA-OAEP-256 or A256KW (azure-keyvault.ts).
//
//   0x01 | nonce (16) | SHA-256(context) (32) | plaintext length (u32 BE) | plaintext | zeros
//
// The L1 mechanism encrypts the whole record. Each of those mechanisms is authenticated over
// its whole input (AES-KW/KWP: RFC 3394 §2.2.3 / RFC 5649 §3 integrity check over every
// block; RSA-OAEP: the OAEP decoding check, RFC 8017 §7.1.2), so no ciphertext change can keep
// the embedded digest while altering anything else, and a blob presented under another
// context fails the digest comparison. The random nonce makes two wraps of the same plaintext
// differ even when the mechanism is deterministic (AES-KW, KWP).
//
// Trailing zeros: up to 7 are accepted after the plaintext. AES-KW (RFC 3394) takes whole
// 64-bit blocks, so the sealer pads to `blockSize`; SoftHSM 2.6 returns a KWP-unwrapped value
// without removing RFC 5649's padding. The explicit length says where the plaintext ends.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { L1Error } from './errors.ts';

const RECORD_V1 = 0x01;
const NONCE_BYTES = 16;
const DIGEST_BYTES = 32;
/** Bytes before the plaintext. */
export const CONTEXT_RECORD_HEADER = 1 + NONCE_BYTES + DIGEST_BYTES + 4;
/** At most this many zero bytes may follow the plaintext (one 64-bit block minus one). */
const MAX_TRAILING_ZEROS = 7;

/** The record for `plaintext` under `context`, zero-padded to a multiple of `blockSize` (1 to 8). */
export function sealContextRecord(plaintext: Buffer, context: string, blockSize = 1): Buffer {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_TRAILING_ZEROS + 1) throw new RangeError(`blockSize ${blockSize} is not from 1 to 8`);
  const size = CONTEXT_RECORD_HEADER + plaintext.length;
  const record = Buffer.alloc(Math.ceil(size / blockSize) * blockSize);
  record[0] = RECORD_V1;
  randomBytes(NONCE_BYTES).copy(record, 1);
  createHash('sha256').update(context, 'utf8').digest().copy(record, 1 + NONCE_BYTES);
  record.writeUInt32BE(plaintext.length, 1 + NONCE_BYTES + DIGEST_BYTES);
  plaintext.copy(record, CONTEXT_RECORD_HEADER);
  return record;
}

/**
 * The plaintext of a record the L1 mechanism returned, after checking that it was sealed
 * under `context`. Errors are L1Error prefixed with `who` (the provider's name). The caller
 * zeroizes `record`; the returned plaintext is a copy.
 */
export function openContextRecord(record: Buffer, context: string, who: string): Buffer {
  if (record.length < CONTEXT_RECORD_HEADER || record[0] !== RECORD_V1) throw new L1Error(`${who}: unwrap failed: the unwrapped record has an unknown layout`);
  const digest = createHash('sha256').update(context, 'utf8').digest();
  if (!timingSafeEqual(digest, record.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + DIGEST_BYTES))) {
    throw new L1Error(`${who}: unwrap failed: the blob is bound to another context`);
  }
  const len = record.readUInt32BE(1 + NONCE_BYTES + DIGEST_BYTES);
  const rest = record.length - CONTEXT_RECORD_HEADER;
  if (len > rest || rest - len > MAX_TRAILING_ZEROS || record.subarray(CONTEXT_RECORD_HEADER + len).some((b) => b !== 0)) {
    throw new L1Error(`${who}: unwrap failed: the unwrapped record has an inconsistent length`);
  }
  return Buffer.from(record.subarray(CONTEXT_RECORD_HEADER, CONTEXT_RECORD_HEADER + len));
}
