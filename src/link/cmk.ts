// The CMK side of the link, assembled (issue 10 §2): snapshot, change streams, audit ingest
// and node statuses over one governance store, one audit log and their database. The admin
// API's link routes (src/server/admin/link.ts) call it through its LinkPort; nothing here
// holds or asks for key material.
import type Database from 'better-sqlite3';
import type { ServerResponse } from 'node:http';
import type { AuditLog } from '../audit/index.ts';
import type { GovernanceStore } from '../store/governance.ts';
import { buildSnapshot, checkResumable, LinkChangeHub, type LinkStreamInfo } from './changes.ts';
import { ingestAuditBatch, listNodeStatuses, recordNodeStatus, type LinkCaller, type StoredNodeStatus } from './ingest.ts';
import type { LinkAuditAck, LinkSnapshot } from './protocol.ts';

export interface CmkLinkOptions {
  governance: GovernanceStore;
  audit: AuditLog;
  /** The database of both (the CMK's SQLite file). */
  db: Database.Database;
  heartbeatMs?: number;
  maxStreams?: number;
  now?: () => Date;
  onStreamError?: (info: LinkStreamInfo, err: Error) => void;
}

export interface CmkLink {
  snapshot(region: string): LinkSnapshot;
  checkResumable(after: number): void;
  hasRoom(): boolean;
  openStream(res: ServerResponse, who: LinkCaller, after: number): void;
  ingestAudit(body: Record<string, unknown>, caller: LinkCaller): LinkAuditAck;
  recordStatus(body: Record<string, unknown>, caller: LinkCaller): StoredNodeStatus;
  nodes(): StoredNodeStatus[];
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
    ingestAudit: (body, caller) => ingestAuditBatch(o.db, o.audit, body, caller, now),
    recordStatus: (body, caller) => recordNodeStatus(o.db, body, caller, new Set(o.governance.tenantsInRegion(caller.region)), now),
    nodes: () => listNodeStatuses(o.db),
    streams: () => hub.list(),
    close: () => hub.close(),
  };
}
