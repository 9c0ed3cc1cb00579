// The audit trail as the CMK, the admin API, the link's ingest and the SIEM exporters use it
// (issue 10 §4: the CMK runs on SQLite or PostgreSQL). Appending stays synchronous and never
// waits for a disk (group commit, as log.ts); everything that reads or waits for the store
// returns a promise, so one caller works over either backend:
//
// - SQLite: sqliteAuditTrail(log) adapts today's AuditLog (log.ts), which `openkcm serve` and
//   the cores keep using directly on their request paths;
// - PostgreSQL: src/audit/pg-log.ts (the CMK's global trail on its PostgreSQL database).
import type Database from 'better-sqlite3';
import { GENESIS_HASH, recordHash, type AuditInput, type AuditRecord, type ExactAuditInput } from './record.ts';
import { AUDIT_COLUMNS } from './schema.ts';
import type { AuditAnchor, VerifyOptions, VerifyResult } from './verify.ts';
import type { AuditAvailability, AuditLog, AuditSubscriber } from './log.ts';

/** One record shipped by a core node (src/link/ingest.ts), its fields already checked. */
export interface ShippedRecord {
  nodeSeq: number;
  fields: Omit<AuditRecord, 'seq' | 'time' | 'prevHash' | 'hash'>;
}

/** What appendShipped stored: the node's cursor after it, and the nodeSeq range written now (0 when none). */
export interface ShippedResult { acceptedThrough: number; stored: number; first: number; last: number }

export interface AuditTrail {
  readonly backend: 'sqlite' | 'postgres';
  /** As AuditLog.append: queued, chained, committed by group; throws AuditUnavailableError when it cannot be kept. */
  append<T extends AuditInput>(record: ExactAuditInput<T>): void;
  /** Commits every queued record. */
  flush(): Promise<void>;
  /** Flushes, then recomputes the whole chain (anchored at this writer's head by default). */
  verify(options?: VerifyOptions): Promise<VerifyResult>;
  /** The newest n committed records (after a flush), oldest first. */
  tail(n: number): Promise<AuditRecord[]>;
  /** Committed records with seq > afterSeq, oldest first, at most `limit`. */
  readAfter(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  /** seq and hash of the newest record, after a flush. */
  anchor(): Promise<AuditAnchor>;
  /** seq of the newest record, queued ones included. */
  lastSeq(): number;
  pendingCount(): number;
  availability(): AuditAvailability;
  subscribe(fn: AuditSubscriber): () => void;
  /** The last seq a SIEM exporter delivered (undefined before its first start). */
  readExportCursor(name: string): Promise<number | undefined>;
  saveExportCursor(name: string, seq: number): Promise<void>;
  /** Synchronous stores only: the saved cursor, or `initial` saved as the cursor when there is none. */
  placeExportCursorNow?(name: string, initial: number): number;
  /**
   * Appends a core node's shipped records after its cursor, in one transaction with the
   * cursor's move: records at or below what the trail holds for the node are skipped, so a
   * batch sent twice is stored once (issue 10 §2). Queued records of this writer go first.
   */
  appendShipped(cursorKey: string, region: string, records: readonly ShippedRecord[], time: string): Promise<ShippedResult>;
  /** Flushes and stops (a database handle or pool given by the caller stays open). */
  close(): Promise<void>;
}

/** Chains `records` after (seq, hash), in order: the one place shipped records get their place on a chain. */
export function chainShipped(records: readonly ShippedRecord[], seq: number, hash: string, time: string): AuditRecord[] {
  return records.map((r) => {
    const rec: Omit<AuditRecord, 'hash'> = { ...r.fields, seq: ++seq, time, prevHash: hash };
    const full: AuditRecord = { ...rec, hash: recordHash(rec) };
    hash = full.hash;
    return full;
  });
}

const INSERT_SQL = `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (@seq, @time, @kind, @identity, @tenant, @service, @operation, @objectId, @result, @reason, @detail, @prevHash, @hash)`;

class SqliteAuditTrail implements AuditTrail {
  readonly backend = 'sqlite' as const;
  constructor(readonly log: AuditLog) {}
  private get db(): Database.Database { return this.log.db; }

  append<T extends AuditInput>(record: ExactAuditInput<T>): void { this.log.append(record); }
  async flush() { this.log.flush(); }
  async verify(options?: VerifyOptions) { return this.log.verify(options); }
  async tail(n: number) { return this.log.tail(n); }
  async readAfter(afterSeq: number, limit: number) { return this.log.readAfter(afterSeq, limit); }
  async anchor() { return this.log.anchor(); }
  lastSeq() { return this.log.lastSeq(); }
  pendingCount() { return this.log.pendingCount(); }
  availability() { return this.log.availability(); }
  subscribe(fn: AuditSubscriber) { return this.log.subscribe(fn); }

  async readExportCursor(name: string) {
    return (this.db.prepare('SELECT seq FROM audit_export_cursor WHERE name = ?').get(name) as { seq: number } | undefined)?.seq;
  }

  async saveExportCursor(name: string, seq: number) {
    // Inside a foreign transaction the write would share its fate; the cursor is saved on
    // the next batch instead (at worst a few records are sent again after a crash).
    if (this.db.inTransaction) return;
    this.db.prepare('INSERT INTO audit_export_cursor (name, seq, updated) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated = excluded.updated')
      .run(name, seq, new Date().toISOString());
  }

  placeExportCursorNow(name: string, initial: number): number {
    const row = this.db.prepare('SELECT seq FROM audit_export_cursor WHERE name = ?').get(name) as { seq: number } | undefined;
    if (row) return row.seq;
    if (initial > 0) this.log.flush(); // the records up to `initial` are committed before the cursor says they are delivered
    void this.saveExportCursor(name, initial);
    return initial;
  }

  async appendShipped(node: string, region: string, records: readonly ShippedRecord[], time: string): Promise<ShippedResult> {
    // Our own queued records first: the shipped ones follow them on the chain (the log's
    // writer re-chains after any other writer, log.ts, so it stays one chain).
    this.log.flush();
    const db = this.db;
    const insert = db.prepare(INSERT_SQL);
    return db.transaction(() => {
      const through = (db.prepare('SELECT accepted_through FROM link_audit_cursors WHERE node = ?').get(node) as { accepted_through: number } | undefined)?.accepted_through ?? 0;
      const fresh = records.filter((r) => r.nodeSeq > through);
      if (fresh.length === 0) return { acceptedThrough: through, stored: 0, first: 0, last: 0 };
      const head = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
      for (const r of chainShipped(fresh, head?.seq ?? 0, head?.hash ?? GENESIS_HASH, time)) insert.run(r);
      const acceptedThrough = fresh[fresh.length - 1]!.nodeSeq;
      db.prepare('INSERT INTO link_audit_cursors (node, region, accepted_through, updated_at) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (node) DO UPDATE SET region = excluded.region, accepted_through = excluded.accepted_through, updated_at = excluded.updated_at')
        .run(node, region, acceptedThrough, time);
      return { acceptedThrough, stored: fresh.length, first: fresh[0]!.nodeSeq, last: acceptedThrough };
    })();
  }

  async close() { this.log.close(); }
}

const adapted = new WeakMap<AuditLog, AuditTrail>();

/** The async trail over a SQLite AuditLog (the same adapter for the same log). */
export function sqliteAuditTrail(log: AuditLog): AuditTrail {
  let t = adapted.get(log);
  if (!t) { t = new SqliteAuditTrail(log); adapted.set(log, t); }
  return t;
}

/** An AuditLog is adapted; a trail is taken as is. */
export function asAuditTrail(x: AuditLog | AuditTrail): AuditTrail {
  return 'backend' in x ? x : sqliteAuditTrail(x);
}
