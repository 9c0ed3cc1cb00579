// The CMK side of the link, assembled (issue 10 §2): snapshot, change streams, audit ingest
// and node statuses over one governance store, one audit log and their database. The admin
// API's link routes (src/server/admin/link.ts) call it through its LinkPort; nothing here
// holds or asks for key material.
import type { ServerResponse } from 'node:http';
import type { AuditTrail } from '../audit/index.ts';
import type { Governance } from '../store/governance-async.ts';
import { buildSnapshot, checkResumable, LinkChangeHub, type LinkStreamInfo } from './changes.ts';
import { ingestAuditBatch, listNodeStatuses, recordNodeStatus, type LinkCaller, type StoredNodeStatus } from './ingest.ts';
import type { LinkAuditAck, LinkSnapshot } from './protocol.ts';

export interface CmkLinkOptions {
  /** The CMK's governance (SQLite or PostgreSQL, src/store/governance-async.ts). */
  governance: Governance;
  /** The CMK's global audit trail, on the same database. */
  audit: AuditTrail;
  heartbeatMs?: number;
  maxStreams?: number;
  now?: () => Date;
  onStreamError?: (info: LinkStreamInfo, err: Error) => void;
}

export interface CmkLink {
  snapshot(region: string): Promise<LinkSnapshot>;
  checkResumable(after: number): Promise<void>;
  hasRoom(): boolean;
  openStream(res: ServerResponse, who: LinkCaller, after: number): void;
  ingestAudit(body: Record<string, unknown>, caller: LinkCaller): Promise<LinkAuditAck>;
  recordStatus(body: Record<string, unknown>, caller: LinkCaller): Promise<StoredNodeStatus>;
  nodes(): Promise<StoredNodeStatus[]>;
  streams(): LinkStreamInfo[];
  /** Ends every open stream (their clients reconnect elsewhere or later). */
  close(): void;
}

export function createCmkLink(o: CmkLinkOptions): CmkLink {
  const now = o.now ?? (() => new Date());
  const hub = new LinkChangeHub(o.governance, {
    now,
    ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.maxStreams !== undefined ? { maxStreams: o.maxStreams } : {}),
    ...(o.onStreamError ? { onStreamError: o.onStreamError } : {}),
  });
  return {
    snapshot: (region) => buildSnapshot(o.governance, region, now),
    checkResumable: (after) => checkResumable(o.governance, after),
    hasRoom: () => hub.hasRoom(),
    openStream: (res, who, after) => hub.open(res, who, after),
    ingestAudit: (body, caller) => ingestAuditBatch(o.audit, body, caller, now),
    recordStatus: async (body, caller) => recordNodeStatus(o.governance, body, caller, new Set(await o.governance.tenantsInRegion(caller.region)), now),
    nodes: () => listNodeStatuses(o.governance),
    streams: () => hub.list(),
    close: () => hub.close(),
  };
}
