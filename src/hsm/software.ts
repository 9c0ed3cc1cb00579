// The development L1 provider (DESIGN.md §2): a 256-bit key in a local file. It exists so
// that `npm start` works without an HSM or a cloud KMS, and it says so in describe()
// (developmentOnly) so that Query and the start banner can warn. Never for production: the
// key sits on the same disk as the database it protects.
//
// The key is read from its file for each wrap/unwrap and zeroized right after, so deleting
// or locking the file acts like revoking a real L1 key: the next unseal fails.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { aes256GcmOpen, aes256GcmSeal, GCM_NONCE_BYTES, GCM_TAG_BYTES } from '../crypto/aead.ts';
import { closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { L1Description, L1Provider, L1Status } from './types.ts';
// L1Error lives in errors.ts so that code which only validates L1 configurations (the CMK,
// issue 10) can use it without loading any provider module.
import { L1Error } from './errors.ts';
export { L1Error } from './errors.ts';

export const SOFTWARE_KEY_BYTES = 32;
/** Blob layout version byte. A new layout gets a new byte; unwrap refuses unknown ones. */
export const SOFTWARE_BLOB_V1 = 0x01;
const NONCE_BYTES = GCM_NONCE_BYTES; // 96-bit GCM nonce (NIST SP 800-38D §8.2.2: random IVs of 96 bits)
const TAG_BYTES = GCM_TAG_BYTES;
const HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES;
/** The key file holds the key in hex, one line, so that it survives copy and paste. */
const KEY_FILE_CHARS = SOFTWARE_KEY_BYTES * 2;

function modeString(mode: number): string {
  return '0' + (mode & 0o777).toString(8);
}

/**
 * Reads and checks the key file. Throws L1Error with the status it implies:
 * missing → revoked (the key was deleted: as final as revoking it), anything else → unreachable.
 */
function readKeyFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new L1Error(`software L1 key file ${path} is gone`, 'revoked');
    throw new L1Error(`software L1 key file ${path} cannot be opened (${code ?? String(e)})`, 'unreachable');
  }
  const text = Buffer.alloc(KEY_FILE_CHARS + 2);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new L1Error(`software L1 key file ${path} is not a regular file`, 'unreachable');
    // A key others can read is no key at all (compare ssh's refusal of readable private keys).
    if ((st.mode & 0o007) !== 0) {
      throw new L1Error(
        `software L1 key file ${path} is accessible to every user (mode ${modeString(st.mode)}); run: chmod 600 ${path}`,
        'unreachable',
      );
    }
    const n = readSync(fd, text, 0, text.length, 0);
    let end = n;
    while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d)) end--;
    const hex = text.subarray(0, end).toString('latin1');
    if (end !== KEY_FILE_CHARS || !/^[0-9a-fA-F]+$/.test(hex)) {
      throw new L1Error(`software L1 key file ${path} does not hold a 256-bit key as ${KEY_FILE_CHARS} hex digits`, 'unreachable');
    }
    return Buffer.from(hex, 'hex');
  } finally {
    text.fill(0);
    closeSync(fd);
  }
}

/** Creates the key file with a fresh key, mode 0600, failing if it appeared meanwhile. */
function createKeyFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(SOFTWARE_KEY_BYTES);
  const text = Buffer.from(key.toString('hex') + '\n', 'latin1');
  key.fill(0);
  // O_EXCL: two processes starting together must not each write their own key.
  const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    writeSync(fd, text);
  } finally {
    text.fill(0);
    closeSync(fd);
  }
}

export class SoftwareL1Provider implements L1Provider {
  private closed = false;

  private constructor(
    readonly keyPath: string,
    /** SHA-256 of the key seen at open: a file later replaced by another key reads as revoked. */
    private readonly keyCheck: Buffer,
  ) {}

  /**
   * Opens the key file at `keyPath`, creating it (mode 0600, parent directories 0700) when
   * absent. Refuses an existing file that every user may access, or one that does not hold
   * a 256-bit key.
   */
  static async open(keyPath: string): Promise<SoftwareL1Provider> {
    try {
      readKeyFile(keyPath).fill(0);
    } catch (e) {
      // Only a missing file is created; any other problem is the operator's to fix.
      if (!(e instanceof L1Error && e.status === 'revoked')) throw e;
      try {
        createKeyFile(keyPath);
      } catch (ce) {
        if ((ce as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new L1Error(`cannot create software L1 key file ${keyPath}: ${(ce as Error).message}`);
        }
      }
    }
    const key = readKeyFile(keyPath);
    const check = createHash('sha256').update(key).digest();
    key.fill(0);
    return new SoftwareL1Provider(keyPath, check);
  }

  private withKey<T>(fn: (key: Buffer) => T): T {
    if (this.closed) throw new L1Error('software L1 provider is closed');
    const key = readKeyFile(this.keyPath);
    try {
      if (!timingSafeEqual(createHash('sha256').update(key).digest(), this.keyCheck)) {
        throw new L1Error(`software L1 key file ${this.keyPath} now holds a different key than at start`, 'revoked');
      }
      return fn(key);
    } finally {
      key.fill(0);
    }
  }

  async wrap(plaintext: Buffer, context: string): Promise<Buffer> {
    return this.withKey((key) => {
      const { nonce, tag, ct } = aes256GcmSeal(key, context, plaintext);
      return Buffer.concat([Buffer.of(SOFTWARE_BLOB_V1), nonce, tag, ct]);
    });
  }

  async unwrap(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length < HEADER_BYTES) throw new L1Error(`software L1 blob is ${blob.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
    if (blob[0] !== SOFTWARE_BLOB_V1) throw new L1Error(`software L1 blob has unknown format version ${blob[0]}`);
    const nonce = blob.subarray(1, 1 + NONCE_BYTES);
    const tag = blob.subarray(1 + NONCE_BYTES, HEADER_BYTES);
    const ct = blob.subarray(HEADER_BYTES);
    return this.withKey((key) => {
      const out = aes256GcmOpen(key, context, nonce, tag, ct);
      if (out === undefined) throw new L1Error('software L1 unwrap failed: the blob was altered, wrapped under another key, or bound to another context');
      return out;
    });
  }

  async status(): Promise<L1Status> {
    if (this.closed) return { state: 'unreachable', detail: 'software L1 provider is closed' };
    try {
      this.withKey(() => undefined);
      return { state: 'active' };
    } catch (e) {
      if (e instanceof L1Error) return { state: e.status ?? 'unreachable', detail: e.message };
      return { state: 'unreachable', detail: (e as Error).message };
    }
  }

  describe(): L1Description {
    return { provider: 'software', keyRef: this.keyPath, developmentOnly: true };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
