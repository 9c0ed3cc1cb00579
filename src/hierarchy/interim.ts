// Interim key protection (issue 3 §3): until the L2/L3 hierarchy lands, every object value
// is wrapped under one server-wide 256-bit data-encryption key (DEK). The DEK is generated
// once, stored in the database wrapped by the L1 provider, and unwrapped into memory at
// start. The hierarchy issue replaces this module behind the same KeyProtector interface.
import { randomBytes } from 'node:crypto';
import { aes256GcmOpen, aes256GcmSeal, GCM_NONCE_BYTES, GCM_TAG_BYTES } from '../crypto/aead.ts';
import type { L1Provider } from '../hsm/types.ts';
import type { KeyProtector, ObjectPlace } from './types.ts';
import type { SystemBlobStore as VaultSystemBlobStore } from '../store/types.ts';

/** Where the wrapped DEK lives: the system blobs of a VaultStore (src/store/types.ts). */
export type SystemBlobStore = Pick<VaultSystemBlobStore, 'getSystemBlob' | 'putSystemBlobIfAbsent'>;

export const INTERIM_DEK_NAME = 'interim-dek';
/** L1 wrapping context of the DEK: binds the blob to its purpose, so no other L1 blob can pose as it. */
export const INTERIM_DEK_CONTEXT = 'openkcm/interim-dek/v1';
const DEK_BYTES = 32;
const BLOB_V1 = 0x01;
const NONCE_BYTES = GCM_NONCE_BYTES;
const TAG_BYTES = GCM_TAG_BYTES;
const HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

/** An object value that does not open under its place: corruption, or a blob moved to another object. */
export class KeyProtectionError extends Error {
  override readonly name = 'KeyProtectionError';
}

export interface InterimProtector extends KeyProtector {
  /** Zeroizes the DEK in memory; protect/unprotect fail afterwards. */
  close(): void;
}

/**
 * Associated data of a value blob (DESIGN.md §2): tenant, service and uid, each
 * length-prefixed so that no two places share an encoding ("a|b" + "c" ≠ "a" + "b|c").
 */
function placeAad(place: ObjectPlace): Buffer {
  const parts = ['openkcm/object/v1', place.tenant, place.service, place.uid].map((s) => Buffer.from(s, 'utf8'));
  const out: Buffer[] = [];
  for (const p of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    out.push(len, p);
  }
  return Buffer.concat(out);
}

export async function createInterimProtector(l1: L1Provider, store: SystemBlobStore): Promise<InterimProtector> {
  let wrapped = await store.getSystemBlob(INTERIM_DEK_NAME);
  if (wrapped === undefined) {
    const fresh = randomBytes(DEK_BYTES);
    try {
      // If another process stored its DEK first, we use that one and drop ours.
      wrapped = await store.putSystemBlobIfAbsent(INTERIM_DEK_NAME, await l1.wrap(fresh, INTERIM_DEK_CONTEXT));
    } finally {
      fresh.fill(0);
    }
  }
  let dek: Buffer | undefined = await l1.unwrap(wrapped, INTERIM_DEK_CONTEXT);
  if (dek.length !== DEK_BYTES) {
    dek.fill(0);
    throw new KeyProtectionError(`the stored interim data-encryption key is ${dek.length} bytes, not ${DEK_BYTES}`);
  }

  const liveKey = (): Buffer => {
    if (dek === undefined) throw new KeyProtectionError('the interim key protector is closed (key zeroized)');
    return dek;
  };

  return {
    async protect(place: ObjectPlace, plaintext: Buffer): Promise<Buffer> {
      const { nonce, tag, ct } = aes256GcmSeal(liveKey(), placeAad(place), plaintext);
      return Buffer.concat([Buffer.of(BLOB_V1), nonce, tag, ct]);
    },

    async unprotect(place: ObjectPlace, blob: Buffer): Promise<Buffer> {
      if (blob.length < HEADER_BYTES || blob[0] !== BLOB_V1) {
        throw new KeyProtectionError(`value of object ${place.uid} is not an interim-protected blob (format ${blob[0]}, ${blob.length} bytes)`);
      }
      const out = aes256GcmOpen(liveKey(), placeAad(place), blob.subarray(1, 1 + NONCE_BYTES), blob.subarray(1 + NONCE_BYTES, HEADER_BYTES), blob.subarray(HEADER_BYTES));
      if (out === undefined) throw new KeyProtectionError(`value of object ${place.uid} fails authentication: altered, or not bound to this tenant, service and object`);
      return out;
    },

    close(): void {
      dek?.fill(0);
      dek = undefined;
    },
  };
}
