// The audit log writer: synchronous appends chained in memory, group-committed to SQLite.
//
// append() validates, assigns seq/time, computes the hash and queues the record; it never
// waits for the disk. A group is written in one transaction when it reaches maxRecords or
// maxDelayMs after its first record, whichever comes first, and on flush()/close(). One
// fsync per group instead of per record is what keeps KMIP traffic from slowing down
// (bench/audit.ts). The price: a crash loses at most the last maxDelayMs of records;
// maxRecords: 1 makes every append durable before it returns.
//
// Several writers on one database (a server and `kmipctl` in another process) stay on one
// chain: each group checks, inside its write transaction, that the database still ends
// where this writer thinks it does, and re-chains its queued records after the real head
// when it does not.
import type Database from 'better-sqlite3';
import { GENESIS_HASH, recordHash, validateAuditInput, type AuditInput, type AuditRecord, type ExactAuditInput } from './record.ts';
import { AUDIT_COLUMNS, ensureAuditSchema, type AuditRow } from './schema.ts';
import { rowToRecord, verifyAuditLog, type AuditAnchor, type VerifyOptions, type VerifyResult } from './verify.ts';

export interface GroupCommitOptions {
  /** Records per transaction at most (default 512). 1 = durable on return. */
  maxRecords?: number;
  /** Longest a queued record waits for its transaction, in ms (default 5). */
  maxDelayMs?: number;
}

export interface AuditLogOptions {
  groupCommit?: GroupCommitOptions;
  /**
   * Most records queued while the database refuses writes (disk full, locked). Beyond it
   * append() throws AuditUnavailableError: the caller decides whether to refuse service —
   * records are never dropped silently. Default 100 000.
   */
  maxPending?: number;
  /** Clock for record times (tests). */
  clock?: () => Date;
  /** Errors of background commits and of subscribers (default: ignored after retry scheduling). */
  onError?: (err: Error) => void;
}

export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
}

/**
 * Whether a record appended now will reach the database. A server asks before it serves a
 * request and refuses service while the answer is no (issue 16 §1: never serve unaudited).
 */
export type AuditAvailability = { ok: true } | { ok: false; reason: string };

/** Called with each committed group, in seq order. Must not throw (errors go to onError). */
export type AuditSubscriber = (records: readonly AuditRecord[]) => void;

export interface AuditLog {
  /**
   * Queues one record. Text is escaped and cut, never refused (record.ts). Throws
   * AuditInputError only for a programming error (unknown field, bytes, bad kind/result/
   * reason/operation) and AuditUnavailableError when closed or maxPending records are queued.
   */
  append<T extends AuditInput>(record: ExactAuditInput<T>): void;
  /** Commits every queued record now. */
  flush(): void;
  /** Flushes, then recomputes the whole chain (anchored at this writer's own head by default). */
  verify(options?: VerifyOptions): VerifyResult;
  /** The newest n committed records (after a flush), oldest first. */
  tail(n: number): AuditRecord[];
  /** Committed records with seq > afterSeq, oldest first, at most `limit`. */
  readAfter(afterSeq: number, limit: number): AuditRecord[];
  /** Hash of the newest record (GENESIS_HASH for an empty log), after a flush. */
  head(): string;
  /** seq and hash of the newest record, after a flush: keep it outside the database. */
  anchor(): AuditAnchor;
  /** seq of the newest record, queued ones included. */
  lastSeq(): number;
  /** Records queued but not yet committed. */
  pendingCount(): number;
  /**
   * Not ok when the log or its database is closed, when the last commit failed (database
   * read-only, full, locked past its busy timeout…) and no commit has succeeded since, or
   * when maxPending records are queued. Queued records are retried in the background; the
   * first commit that succeeds makes the log available again.
   */
  availability(): AuditAvailability;
  subscribe(fn: AuditSubscriber): () => void;
  /** Flushes and stops; the database handle stays open (it belongs to the caller). */
  close(): void;
  readonly db: Database.Database;
}

const DEFAULT_MAX_RECORDS = 512;
const DEFAULT_MAX_DELAY_MS = 5;
const DEFAULT_MAX_PENDING = 100_000;

function positiveInt(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new RangeError(`audit log option ${name}: expected an integer ≥ ${min}, got ${v}`);
  return v;
}

class SqliteAuditLog implements AuditLog {
  private pending: AuditRecord[] = [];
  private seq: number;
  private hash: string;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The error of the last commit attempt, until a commit succeeds. */
  private commitError: Error | undefined;
  private readonly subscribers = new Set<AuditSubscriber>();
  private readonly maxRecords: number;
  private readonly maxDelayMs: number;
  private readonly maxPending: number;
  private readonly clock: () => Date;
  private readonly onError: (err: Error) => void;
  private readonly insert: Database.Statement;
  private readonly lastRow: Database.Statement;
  private readonly tailStmt: Database.Statement;
  private readonly afterStmt: Database.Statement;
  private readonly commitGroup: (group: AuditRecord[]) => AuditRecord[];

  constructor(readonly db: Database.Database, options: AuditLogOptions) {
    this.maxRecords = positiveInt('groupCommit.maxRecords', options.groupCommit?.maxRecords, DEFAULT_MAX_RECORDS, 1);
    this.maxDelayMs = positiveInt('groupCommit.maxDelayMs', options.groupCommit?.maxDelayMs, DEFAULT_MAX_DELAY_MS, 0);
    this.maxPending = positiveInt('maxPending', options.maxPending, DEFAULT_MAX_PENDING, 1);
    this.clock = options.clock ?? (() => new Date());
    this.onError = options.onError ?? (() => {});
    ensureAuditSchema(db);
    this.insert = db.prepare(`INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (@seq, @time, @kind, @identity, @tenant, @service, @operation, @objectId, @result, @reason, @detail, @prevHash, @hash)`);
    this.lastRow = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.tailStmt = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?`);
    this.afterStmt = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`);
    const last = this.lastRow.get() as { seq: number; hash: string } | undefined;
    this.seq = last?.seq ?? 0;
    this.hash = last?.hash ?? GENESIS_HASH;
    this.commitGroup = db.transaction((group: AuditRecord[]) => {
      const dbLast = this.lastRow.get() as { seq: number; hash: string } | undefined;
      const dbSeq = dbLast?.seq ?? 0;
      const dbHash = dbLast?.hash ?? GENESIS_HASH;
      let records = group;
      if (dbSeq !== group[0]!.seq - 1 || dbHash !== group[0]!.prevHash) {
        records = this.rechain(group, dbSeq, dbHash); // another writer appended meanwhile
      }
      for (const r of records) this.insert.run(r);
      return records;
    });
  }

  private rechain(group: readonly AuditRecord[], seq: number, hash: string): AuditRecord[] {
    return group.map((r) => {
      const { hash: _old, ...rest } = r;
      const moved = { ...rest, seq: ++seq, prevHash: hash };
      hash = recordHash(moved);
      return { ...moved, hash };
    });
  }

  append<T extends AuditInput>(input: ExactAuditInput<T>): void {
    if (this.closed) throw new AuditUnavailableError('audit log is closed');
    const fields = validateAuditInput(input);
    if (this.pending.length >= this.maxPending) {
      throw new AuditUnavailableError(`audit log cannot commit (${this.pending.length} records queued); the database refuses writes`);
    }
    const record: AuditRecord = { ...fields, seq: this.seq + 1, time: this.clock().toISOString(), prevHash: this.hash, hash: '' };
    record.hash = recordHash(record);
    this.pending.push(record);
    this.seq = record.seq;
    this.hash = record.hash;
    if (this.pending.length >= this.maxRecords) this.backgroundFlush();
    else this.timer ??= setTimeout(() => this.backgroundFlush(), this.maxDelayMs).unref();
  }

  /** A flush nobody waits for: errors are reported, records stay queued and are retried. */
  private backgroundFlush(): void {
    if (this.db.inTransaction) {
      this.timer ??= setTimeout(() => this.backgroundFlush(), Math.max(this.maxDelayMs, 1)).unref();
      return;
    }
    try {
      this.flush();
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      this.timer ??= setTimeout(() => this.backgroundFlush(), Math.max(this.maxDelayMs, 50)).unref();
    }
  }

  flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.pending.length === 0) return;
    if (this.db.inTransaction) {
      // Our group would become part of someone else's transaction and vanish with its
      // rollback while our in-memory head moved on. Wait for it to finish.
      throw new AuditUnavailableError('audit log cannot commit inside an open transaction of the same connection');
    }
    const group = this.pending;
    let committed: AuditRecord[];
    try {
      committed = this.commitGroup(group);
    } catch (err) {
      this.commitError = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    this.commitError = undefined;
    this.pending = [];
    if (committed !== group) {
      const last = committed[committed.length - 1]!;
      this.seq = last.seq;
      this.hash = last.hash;
    }
    for (const fn of this.subscribers) {
      try { fn(committed); } catch (err) { this.onError(err instanceof Error ? err : new Error(String(err))); }
    }
  }

  verify(options: VerifyOptions = {}): VerifyResult {
    this.flush();
    // Our own head is an anchor: a tail truncated behind our back is reported.
    return verifyAuditLog(this.db, { anchor: options.anchor ?? (this.seq > 0 ? { seq: this.seq, hash: this.hash } : undefined) });
  }

  tail(n: number): AuditRecord[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`tail: expected a non-negative integer, got ${n}`);
    this.flush();
    return (this.tailStmt.all(n) as AuditRow[]).reverse().map(rowToRecord);
  }

  readAfter(afterSeq: number, limit: number): AuditRecord[] {
    return (this.afterStmt.all(afterSeq, limit) as AuditRow[]).map(rowToRecord);
  }

  head(): string {
    this.flush();
    return this.hash;
  }

  anchor(): AuditAnchor {
    this.flush();
    return { seq: this.seq, hash: this.hash };
  }

  lastSeq(): number {
    return this.seq;
  }

  pendingCount(): number {
    return this.pending.length;
  }

  availability(): AuditAvailability {
    if (this.closed) return { ok: false, reason: 'the audit log is closed' };
    if (!this.db.open) return { ok: false, reason: 'the audit database is closed' };
    if (this.commitError !== undefined) {
      return { ok: false, reason: `the audit database refuses writes (${this.commitError.message}); ${this.pending.length} record(s) queued` };
    }
    if (this.pending.length >= this.maxPending) return { ok: false, reason: `${this.pending.length} audit records are queued uncommitted` };
    return { ok: true };
  }

  subscribe(fn: AuditSubscriber): () => void {
    this.subscribers.add(fn);
    return () => { this.subscribers.delete(fn); };
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.subscribers.clear();
  }
}

/**
 * Opens the audit log in `db` (creating its tables). One AuditLog per database handle:
 * the chain head is kept in memory.
 */
export function openAuditLog(db: Database.Database, options: AuditLogOptions = {}): AuditLog {
  return new SqliteAuditLog(db, options);
}
