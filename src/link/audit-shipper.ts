// Audit shipping from a core to its CMK (issue 10 §2 "Audit"): the chain the core appends to
// is the durable buffer; records go to POST /v1/link/audit in seq order, and the cursor —
// the last seq the CMK acknowledged as durably held — is saved beside them. While the CMK is
// down nothing is dropped: the records wait in the chain and the shipper catches up from the
// cursor when the CMK answers again, also across a restart of the core.
//
// Two kinds of chain (ShipSource):
//   node   — the core's own chain in its SQLite vault (one node per vault); the cursor is in
//            the same database (audit_export_cursor, the table the SIEM exporters use).
//   region — the chain every node of the region appends to in the PostgreSQL vault
//            (src/audit/pg-chain.ts); the cursor is in the vault too (audit_ship_cursor) and
//            one node ships at a time (a lease the database hands out). When that node dies,
//            another takes the lease and ships from the cursor: what a dead node committed is
//            shipped by the others. The CMK keeps one acknowledgement per region chain, so a
//            batch sent again by another node is stored once.
import type { Logger } from 'pino';
import type { AuditLog, AuditRecord } from '../audit/index.ts';
import type { PgAuditChain, PgShipLease } from '../audit/pg-chain.ts';
import type { LinkAuditBatch, LinkAuditRecord } from './protocol.ts';
import type { LinkClient } from './client.ts';

/** Records per POST: bounds the request body (a record is at most a few KB). */
export const AUDIT_SHIP_BATCH = 500;
/** Retry delay after a failed shipment, doubling up to the maximum. */
export const AUDIT_SHIP_RETRY_MS = 250;
export const AUDIT_SHIP_MAX_RETRY_MS = 5_000;
/**
 * How often a node without the shipping lease of a shared chain asks for it again: the
 * longest a dead shipper's records wait for another node (plus the time the database takes
 * to notice the dead session: at once for a killed process, whose socket the kernel closes).
 */
export const AUDIT_SHIP_LEASE_RETRY_MS = 1_000;
/** Cursor name (audit_export_cursor in SQLite, audit_ship_cursor in PostgreSQL). */
export const AUDIT_SHIP_CURSOR = 'cmk-link';

/** Where the shipper reads records and keeps its cursor. */
export interface ShipSource {
  readonly chain: 'node' | 'region';
  readAfter(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  loadCursor(): Promise<number>;
  saveCursor(seq: number): Promise<void>;
  /** Called after each commit of this node's records. */
  subscribe(fn: () => void): () => void;
  /** Commits what this node has queued. */
  flush(): Promise<void>;
  /** seq of the newest record this node committed: drained() waits for the cursor to pass it. */
  ownLastSeq(): number;
  /** Whether this node may ship now (one shipper per shared chain). Absent: always. */
  lease?(): Promise<boolean>;
  /** Gives the lease up (at stop). */
  releaseLease?(): Promise<void>;
}

/** The node's own chain in its SQLite vault. */
export function sqliteShipSource(audit: AuditLog): ShipSource {
  const db = audit.db;
  return {
    chain: 'node',
    readAfter: async (after, limit) => audit.readAfter(after, limit),
    loadCursor: async () => (db.prepare('SELECT seq FROM audit_export_cursor WHERE name = ?').get(AUDIT_SHIP_CURSOR) as { seq: number } | undefined)?.seq ?? 0,
    saveCursor: async (seq) => {
      db.prepare('INSERT INTO audit_export_cursor (name, seq, updated) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated = excluded.updated')
        .run(AUDIT_SHIP_CURSOR, seq, new Date().toISOString());
    },
    subscribe: (fn) => audit.subscribe(() => fn()),
    flush: async () => audit.flush(),
    ownLastSeq: () => audit.lastSeq(),
  };
}

/** The region's chain in its PostgreSQL vault, shipped by whichever node holds the lease. */
export function regionShipSource(chain: PgAuditChain, lease: PgShipLease): ShipSource {
  return {
    chain: 'region',
    readAfter: (after, limit) => chain.readAfter(after, limit),
    loadCursor: () => chain.loadCursor(AUDIT_SHIP_CURSOR),
    saveCursor: (seq) => chain.saveCursor(AUDIT_SHIP_CURSOR, seq),
    subscribe: (fn) => chain.subscribe(() => fn()),
    flush: () => chain.flush(),
    ownLastSeq: () => chain.lastOwnSeq(),
    lease: () => lease.acquire(),
    releaseLease: () => lease.release(),
  };
}

export interface AuditShipperStats {
  chain: 'node' | 'region';
  cursor: number;
  /** Whether this node ships now (always true for a node chain). */
  shipping: boolean;
  shipped: number;
  failures: number;
  lastError: string | undefined;
}

export class AuditShipper {
  private cursor = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private delay = AUDIT_SHIP_RETRY_MS;
  private shipped = 0;
  private failures = 0;
  private leading = false;
  private lastError: string | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly source: ShipSource,
    private readonly client: LinkClient,
    private readonly node: { node: string; region: string },
    private readonly log?: Logger,
  ) {
    this.unsubscribe = source.subscribe(() => this.kick());
    if (source.lease !== undefined) {
      // A node without the lease asks again now and then: the shipper may have died.
      this.leaseTimer = setInterval(() => this.kick(), AUDIT_SHIP_LEASE_RETRY_MS);
      this.leaseTimer.unref();
    }
    this.kick();
  }

  /** Ships what is committed and not yet acknowledged (coalesces calls). */
  kick(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return; // waiting for a retry
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private fail(e: unknown, what: string): void {
    this.failures++;
    this.lastError = (e as Error).message;
    if (this.failures === 1 || this.failures % 20 === 0) {
      this.log?.warn({ event: 'audit_ship_failed', err: this.lastError, cursor: this.cursor, failures: this.failures, chain: this.source.chain }, what);
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.delay);
      this.timer.unref();
      this.delay = Math.min(this.delay * 2, AUDIT_SHIP_MAX_RETRY_MS);
    }
  }

  private async drain(): Promise<void> {
    try {
      if (this.source.lease !== undefined) {
        const lead = await this.source.lease();
        if (lead !== this.leading) {
          this.leading = lead;
          if (lead) this.log?.info({ event: 'audit_ship_lease', chain: this.source.chain }, 'this node ships the region\'s audit chain to the CMK');
        }
        if (!lead) return; // another node ships; the lease timer asks again
      } else {
        this.leading = true;
      }
      // Another node may have shipped (and moved the cursor) since we last looked.
      this.cursor = Math.max(this.cursor, await this.source.loadCursor());
    } catch (e) {
      this.fail(e, 'the audit chain cannot be read; records wait in the chain');
      return;
    }
    for (;;) {
      if (this.stopped) return;
      let records: AuditRecord[];
      try {
        records = await this.source.readAfter(this.cursor, AUDIT_SHIP_BATCH);
      } catch (e) {
        this.fail(e, 'the audit chain cannot be read; records wait in the chain');
        return;
      }
      if (records.length === 0) return;
      const batch: LinkAuditRecord[] = records.map((r) => ({ nodeSeq: r.seq, record: r as unknown as Record<string, unknown>, hash: r.hash }));
      try {
        const body: LinkAuditBatch = { node: this.node.node, region: this.node.region, records: batch, ...(this.source.chain === 'region' ? { chain: 'region' as const } : {}) };
        const ack = await this.client.shipAudit(body);
        // The CMK may hold fewer than we sent (it says so); never move the cursor backwards.
        const through = Math.min(ack.acceptedThrough, records[records.length - 1]!.seq);
        if (through > this.cursor) {
          this.shipped += through - this.cursor;
          this.cursor = through;
          await this.source.saveCursor(through);
        } else if (ack.acceptedThrough < records[0]!.seq) {
          throw new Error(`the CMK acknowledged through ${ack.acceptedThrough}, before the first record sent (${records[0]!.seq})`);
        }
        this.delay = AUDIT_SHIP_RETRY_MS;
        this.lastError = undefined;
      } catch (e) {
        this.fail(e, 'audit records not shipped to the CMK yet; they wait in the chain');
        return;
      }
    }
  }

  stats(): AuditShipperStats {
    return { chain: this.source.chain, cursor: this.cursor, shipping: this.leading, shipped: this.shipped, failures: this.failures, lastError: this.lastError };
  }

  /** Resolves true when every record this node committed is acknowledged (by whichever node shipped it), false after `ms`. */
  async drained(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      try {
        await this.source.flush();
        const cursor = Math.max(this.cursor, await this.source.loadCursor());
        if (cursor >= this.source.ownLastSeq()) return true;
      } catch {
        // the chain is unreachable now: wait and ask again
      }
      if (Date.now() >= end) return false;
      this.kick();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.leaseTimer !== undefined) clearInterval(this.leaseTimer);
    await this.running;
    // Closing the lease's session lets another node of the region ship at once.
    await this.source.releaseLease?.();
  }
}
