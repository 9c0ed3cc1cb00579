// Blob formats and associated data of the key hierarchy (DESIGN.md §2), and the store
// interface the engine persists through. Everything here is pure except the random nonces.
//
// Every blob is AES-256-GCM with associated data naming its place:
//   L2 (wrapped by the L1 provider)  context "l2|tenant|version"
//   L3 (wrapped by an L2)            AAD     "l3|tenant|service|version|l2version"
//   L4 (object value, by an L3)      AAD     "l4|tenant|service|uid|l3version"
// so a blob copied to another tenant, service, object or version does not open.
import { randomBytes } from 'node:crypto';
import { aes256GcmOpen, aes256GcmSeal, aes256GcmSealInto, GCM_NONCE_BYTES, GCM_TAG_BYTES, randomNonce } from '../crypto/aead.ts';
import { KeyProtectionError } from './interim.ts';
import type { L2KeyRow, L3KeyRow, TenantL1Row, WrappedValueRow } from '../store/types.ts';

export type { L2KeyRow, L3KeyRow, TenantL1Row, WrappedValueRow };

/** 256-bit L2 and L3 keys (AES-256). */
export const HIERARCHY_KEY_BYTES = 32;
/** 96-bit random GCM nonces (NIST SP 800-38D §8.2.2). */
const NONCE_BYTES = GCM_NONCE_BYTES;
const TAG_BYTES = GCM_TAG_BYTES;

/** L3 blob layout byte: [0x01][nonce 12][tag 16][ciphertext]. */
export const L3_BLOB_V1 = 0x01;
/**
 * L4 (object value) layout byte: [0x02][L3 version, uint32 BE][nonce 12][tag 16][ciphertext].
 * It differs from the interim protector's 0x01 on purpose: the interim migration tells the
 * two apart by this byte alone, and a crashed migration resumes on it.
 */
export const L4_BLOB_V1 = 0x02;
export const L4_HEADER_BYTES = 1 + 4 + NONCE_BYTES + TAG_BYTES;
const L3_HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

/**
 * A blob that does not open at its place: altered, truncated, or moved to another place.
 * A KeyProtectionError, like the interim protector's, so callers handle both alike.
 */
export class HierarchyBlobError extends KeyProtectionError {}

/**
 * One field of an associated-data string. '%' and '|' are escaped, so the '|'-separated form
 * stays injective whatever names tenants and services use ("a|b" + "c" ≠ "a" + "b|c"); an
 * ordinary name reads as itself.
 */
function field(s: string): string {
  return s.replace(/%/g, '%25').replace(/\|/g, '%7C');
}

export const l2Context = (tenant: string, version: number): string => `l2|${field(tenant)}|${version}`;
export const l3Aad = (tenant: string, service: string, version: number, l2Version: number): string =>
  `l3|${field(tenant)}|${field(service)}|${version}|${l2Version}`;
export const l4Aad = (tenant: string, service: string, uid: string, l3Version: number): string =>
  `l4|${field(tenant)}|${field(service)}|${field(uid)}|${l3Version}`;

function gcmSeal(key: Buffer, aad: string, plaintext: Buffer): { nonce: Buffer; tag: Buffer; ct: Buffer } {
  return aes256GcmSeal(key, aad, plaintext);
}

function gcmOpen(key: Buffer, aad: string, nonce: Buffer, tag: Buffer, ct: Buffer, what: string): Buffer {
  const out = aes256GcmOpen(key, aad, nonce, tag, ct);
  if (out === undefined) throw new HierarchyBlobError(`${what} (${aad}) fails authentication: altered, or moved from another place`);
  return out;
}

export function wrapL3(l2: Buffer, aad: string, l3: Buffer): Buffer {
  const { nonce, tag, ct } = gcmSeal(l2, aad, l3);
  return Buffer.concat([Buffer.of(L3_BLOB_V1), nonce, tag, ct]);
}

export function unwrapL3(l2: Buffer, aad: string, blob: Buffer): Buffer {
  if (blob.length !== L3_HEADER_BYTES + HIERARCHY_KEY_BYTES || blob[0] !== L3_BLOB_V1) {
    throw new HierarchyBlobError(`L3 blob (${aad}) has format ${blob[0]} and ${blob.length} bytes, not a v1 wrapped 256-bit key`);
  }
  return gcmOpen(l2, aad, blob.subarray(1, 1 + NONCE_BYTES), blob.subarray(1 + NONCE_BYTES, L3_HEADER_BYTES), blob.subarray(L3_HEADER_BYTES), 'L3 blob');
}

export function wrapL4(l3: Buffer, l3Version: number, aad: string, plaintext: Buffer): Buffer {
  return wrapL4Many(l3, l3Version, aad, [plaintext])[0]!;
}

/**
 * Several values wrapped at one place (a gateway's bulk wrap: many data keys of one service
 * and context), each its own L4 blob with its own nonce, laid out back to back in one buffer;
 * the blobs returned are views of it. What is done once, not per value: the associated data's
 * bytes, the CSPRNG call for every nonce (one draw of 12 bytes per value, each slice used
 * once: the RBG-based nonces of SP 800-38D §8.2.2), the output allocation. Per value only
 * the cipher itself is left (Node makes one cipher object per key and nonce).
 */
export function wrapL4Many(l3: Buffer, l3Version: number, aad: string, plaintexts: readonly Buffer[]): Buffer[] {
  const aadBuf = Buffer.from(aad, 'utf8');
  const nonces = randomNonce(NONCE_BYTES * plaintexts.length);
  let size = 0;
  for (const p of plaintexts) size += L4_HEADER_BYTES + p.length;
  const out = Buffer.allocUnsafe(size);
  const blobs: Buffer[] = new Array(plaintexts.length);
  let at = 0;
  for (let i = 0; i < plaintexts.length; i++) {
    const p = plaintexts[i]!;
    const start = at;
    out[at] = L4_BLOB_V1;
    out.writeUInt32BE(l3Version, at + 1);
    nonces.copy(out, at + 5, i * NONCE_BYTES, (i + 1) * NONCE_BYTES);
    aes256GcmSealInto(l3, aadBuf, out.subarray(at + 5, at + 5 + NONCE_BYTES), p, out, at + 5 + NONCE_BYTES, at + L4_HEADER_BYTES);
    at += L4_HEADER_BYTES + p.length;
    blobs[i] = out.subarray(start, at);
  }
  nonces.fill(0);
  return blobs;
}

/** The L3 version named in an L4 blob's header; throws on anything that is not an L4 v1 blob. */
export function l4Version(blob: Buffer, uid: string): number {
  if (blob.length < L4_HEADER_BYTES || blob[0] !== L4_BLOB_V1) {
    throw new HierarchyBlobError(`value of object ${uid} is not a hierarchy-wrapped blob (format ${blob[0]}, ${blob.length} bytes)`);
  }
  const v = blob.readUInt32BE(1);
  if (v === 0) throw new HierarchyBlobError(`value of object ${uid} names L3 version 0, which never exists`);
  return v;
}

export function unwrapL4(l3: Buffer, aad: string, blob: Buffer): Buffer {
  return gcmOpen(l3, aad, blob.subarray(5, 5 + NONCE_BYTES), blob.subarray(5 + NONCE_BYTES, L4_HEADER_BYTES), blob.subarray(L4_HEADER_BYTES), 'object value');
}

/** Persistence of the hierarchy: src/store/types.ts HierarchyStore (SQLite and PostgreSQL implement it). */
export type { HierarchyStore } from '../store/types.ts';

/** A fresh 256-bit key. */
export const freshKey = (): Buffer => randomBytes(HIERARCHY_KEY_BYTES);
