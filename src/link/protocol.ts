// The CMK ⇄ core link (issue 10 §2; DESIGN.md §1): the wire contract both planes share.
// The CMK (`openkcm cmk`) is the only writer of governance data; a regional core
// (`openkcm core --region R`) holds none of its own. At start a core loads a snapshot of
// what its region needs, then follows an ordered, numbered change stream from the version
// the snapshot carried; on reconnect it resumes after the last sequence number it applied,
// so nothing is missed. The CMK never holds key material: nothing on this link carries an
// L1/L2/L3/L4 byte in either direction (pointers only: provider + reference, never a secret).
//
// Transport: HTTPS with mutual TLS on the CMK's admin listener. The caller must map to an
// identity of built-in role `core`, bound to one region (certificate SAN URI
// `openkcm://core/region/<region>/node/<name>`, issued by `kmipctl cert issue --role core
// --region R`). Every route answers only what that region may see: a tenant not pinned to
// the caller's region is absent from its snapshot and from its stream, as if it did not exist.
//
// Routes (all JSON unless said):
//   GET  /v1/link/snapshot                → LinkSnapshot
//   GET  /v1/link/changes?after=SEQ       → text/event-stream (Server-Sent Events):
//          `event: change`    `id: <seq>`  `data: <LinkChange JSON>`, in seq order;
//          `event: heartbeat`              `data: <LinkHeartbeat JSON>` every LINK_HEARTBEAT_MS.
//        A client may also send `Last-Event-ID: SEQ` instead of `after`. When SEQ is older
//        than the oldest change the CMK retains, the answer is 410 Gone: reload the snapshot.
//   POST /v1/link/audit   LinkAuditBatch  → LinkAuditAck   (cores ship their audit records)
//   POST /v1/link/status  LinkNodeStatus  → 204           (what a node sees: seal state, L1 status)
//
// Errors use the admin API's shape `{ error: { code, message, hint } }`: 401/403 for a caller
// that is not a core of a region, 400 for a malformed query or body, 410 as above.
import type { GovernanceChange, Grant, Identity, L1Pointer, L2RotationRequest, Role, RotationRequest, Service, Tenant } from '../store/governance.ts';

export const LINK_PROTOCOL_VERSION = 1;
/** The CMK sends a heartbeat this often, so a core can tell a quiet stream from a dead link. */
export const LINK_HEARTBEAT_MS = 1_000;
/** Default lease (issue 10 §2): no contact with the CMK for longer than this → the core seals. */
export const DEFAULT_LEASE_MS = 30_000;

/** A tenant as a region sees it: pinned to one or more regions. */
export interface LinkTenant extends Tenant {
  regions: string[];
}

export interface LinkSnapshot {
  protocol: typeof LINK_PROTOCOL_VERSION;
  /** The sequence number of the last change this snapshot includes; follow the stream after it. */
  seq: number;
  region: string;
  /** CMK clock when the snapshot was taken (ISO 8601). */
  at: string;
  tenants: LinkTenant[];
  services: Service[];
  roles: Role[];
  identities: Identity[];
  grants: Grant[];
  l1Pointers: L1Pointer[];
  /** Current L3 version each service must have at least (rotation requested on the CMK). */
  rotations: LinkRotation[];
  /** The latest L2 rotation requested per tenant (absent from a CMK that publishes none). */
  l2Rotations?: LinkL2Rotation[];
}

/** `kmipctl service rotate T S` on the CMK: every core makes sure S has an L3 version ≥ minVersion. */
export type LinkRotation = RotationRequest;

/**
 * `kmipctl tenant rotate-l2 T` on the CMK: every region serving T rotates its own L2 (the CMK
 * has none) once for this generation. Nodes of one region race; the vault decides: the first
 * node to see a generation records the region's current L2 version for it, and a rotation
 * happens only while the vault's current version is still that one (src/server/core.ts).
 */
export type LinkL2Rotation = L2RotationRequest;

/**
 * One change, applied idempotently by upsert/delete of the whole record: a core that
 * applies a change twice, or a change whose effect the snapshot already holds, ends in the
 * same state. `tenant` names the tenant the change concerns (absent for roles, which are
 * global); the CMK filters the stream by it. It is the CMK's change-log entry exactly as the
 * governance store keeps it (one type, so the wire format cannot drift from the log).
 */
export type LinkChange = GovernanceChange;

export interface LinkHeartbeat {
  /** The CMK's latest sequence number (for the caller's region). */
  seq: number;
  at: string;
}

/**
 * An audit record written by a core, shipped in order; `nodeSeq` is its position in the
 * chain it was shipped from (the node's own chain, or the region's with `chain: 'region'`).
 */
export interface LinkAuditRecord {
  nodeSeq: number;
  /** The record as the core's audit chain stored it (src/audit record JSON). */
  record: Record<string, unknown>;
  /** The hash of this record in the node's chain (hex). */
  hash: string;
}

export interface LinkAuditBatch {
  /** The node sending the batch. */
  node: string;
  region: string;
  /**
   * Which chain the records come from. Absent or 'node': the sender's own chain (SQLite
   * vault). 'region': the chain every node of the region appends to (PostgreSQL vault,
   * src/audit/pg-chain.ts); any node of the region may send it, each record names the node
   * that wrote it, and the CMK keeps one acknowledgement for the region, not per sender.
   */
  chain?: 'node' | 'region';
  records: LinkAuditRecord[];
}

/** The CMK answers with the last nodeSeq it holds durably; the core may drop records up to it. */
export interface LinkAuditAck {
  node: string;
  acceptedThrough: number;
}

export interface LinkNodeStatus {
  node: string;
  region: string;
  at: string;
  /** Last sequence number the node applied. */
  seq: number;
  tenants: { tenant: string; state: 'unsealed' | 'sealed' | 'killed'; reason?: string; l1Status?: string }[];
}
