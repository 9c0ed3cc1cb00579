// Audit shipping from a core to its CMK (issue 10 §2 "Audit"): the core's own hash chain
// (src/audit, its local database) is the durable buffer; records go to POST /v1/link/audit
// in seq order, and the cursor — the last seq the CMK acknowledged as durably held — is
// saved beside them (audit_export_cursor, the table the SIEM exporters use). While the CMK
// is down nothing is dropped: the records wait in the chain and the shipper catches up
// from the cursor when the CMK answers again, also across a restart of the core.
import type { Logger } from 'pino';
import type { AuditLog, AuditRecord } from '../audit/index.ts';
import type { LinkAuditRecord } from './protocol.ts';
import type { LinkClient } from './client.ts';

/** Records per POST: bounds the request body (a record is at most a few KB). */
export const AUDIT_SHIP_BATCH = 500;
/** Retry delay after a failed shipment, doubling up to the maximum. */
export const AUDIT_SHIP_RETRY_MS = 250;
export const AUDIT_SHIP_MAX_RETRY_MS = 5_000;
/** Cursor name in audit_export_cursor. */
export const AUDIT_SHIP_CURSOR = 'cmk-link';

export interface AuditShipperStats {
  cursor: number;
  lastSeq: number;
  shipped: number;
  failures: number;
  lastError: string | undefined;
}

export class AuditShipper {
  private cursor: number;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private delay = AUDIT_SHIP_RETRY_MS;
  private shipped = 0;
  private failures = 0;
  private lastError: string | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly audit: AuditLog,
    private readonly client: LinkClient,
    private readonly node: { node: string; region: string },
    private readonly log?: Logger,
  ) {
    const db = audit.db;
    const row = db.prepare('SELECT seq FROM audit_export_cursor WHERE name = ?').get(AUDIT_SHIP_CURSOR) as { seq: number } | undefined;
    this.cursor = row?.seq ?? 0;
    this.unsubscribe = audit.subscribe(() => this.kick());
    this.kick();
  }

  private saveCursor(seq: number): void {
    this.audit.db.prepare('INSERT INTO audit_export_cursor (name, seq, updated) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated = excluded.updated')
      .run(AUDIT_SHIP_CURSOR, seq, new Date().toISOString());
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

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const records: AuditRecord[] = this.audit.readAfter(this.cursor, AUDIT_SHIP_BATCH);
      if (records.length === 0) return;
      const batch: LinkAuditRecord[] = records.map((r) => ({ nodeSeq: r.seq, record: r as unknown as Record<string, unknown>, hash: r.hash }));
      try {
        const ack = await this.client.shipAudit({ node: this.node.node, region: this.node.region, records: batch });
        // The CMK may hold fewer than we sent (it says so); never move the cursor backwards.
        const through = Math.min(ack.acceptedThrough, records[records.length - 1]!.seq);
        if (through > this.cursor) {
          this.shipped += through - this.cursor;
          this.cursor = through;
          this.saveCursor(through);
        } else if (ack.acceptedThrough < records[0]!.seq) {
          throw new Error(`the CMK acknowledged through ${ack.acceptedThrough}, before the first record sent (${records[0]!.seq})`);
        }
        this.delay = AUDIT_SHIP_RETRY_MS;
        this.lastError = undefined;
      } catch (e) {
        this.failures++;
        this.lastError = (e as Error).message;
        if (this.failures === 1 || this.failures % 20 === 0) this.log?.warn({ event: 'audit_ship_failed', err: this.lastError, cursor: this.cursor, failures: this.failures }, 'audit records not shipped to the CMK yet; they wait in the local chain');
        if (!this.stopped) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.kick();
          }, this.delay);
          this.timer.unref();
          this.delay = Math.min(this.delay * 2, AUDIT_SHIP_MAX_RETRY_MS);
        }
        return;
      }
    }
  }

  stats(): AuditShipperStats {
    return { cursor: this.cursor, lastSeq: this.audit.lastSeq(), shipped: this.shipped, failures: this.failures, lastError: this.lastError };
  }

  /** Resolves true when every committed record is acknowledged, false after `ms`. */
  async drained(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      this.audit.flush();
      if (this.cursor >= this.audit.lastSeq()) return true;
      if (Date.now() >= end) return false;
      this.kick();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }
}
