// The audit log writer: synchronous appends queued in memory, hash-chained and
// group-committed to SQLite.
//
// append() validates the record (escaping and cutting text), gives it its seq and time and
// queues it; it never hashes and never waits for the disk, so a KMIP request pays only for
// its fields. A group is chained (each record's hash over the previous one, record.ts) and
// written in one transaction when it reaches maxRecords or maxDelayMs after its first
// record, whichever comes first, and on flush()/close(). One disk flush per group instead of
// per record is what keeps KMIP traffic from slowing down (bench/audit.ts).
//
// The guarantee (issue 12 §2, kept from before): a KMIP reply is sent once its records are
// queued, so a crash loses at most the records of the last maxDelayMs plus the disk flush
// under way (a few ms). With `durability` (the WAL flush of an on-disk database, shared
// with the object store: src/store/wal-durability.ts) that flush runs off the event loop;
// subscribers (SIEM exporters, the shipper to the CMK) see a group only once it is on disk,
// so nothing leaves the server that a crash could take back. whenDurable() lets a caller
// wait until its records are on disk (`audit.durable: true`); maxRecords: 1 still makes
// every append commit at once.
//
// Several writers on one database (a server and `kmipctl` in another process) stay on one
// chain: each group reads, inside its write transaction, where the database ends, and
// chains (and numbers) its records after that head.
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

/** A WAL flushed off the event loop (src/store/wal-durability.ts WalDurability). */
export interface AuditDurability {
  /** Runs a synchronous transaction without SQLite's own flush; durable after a later sync(). */
  commitLazily<T>(commit: () => T): T;
  /** Resolves once everything committed before the call is on disk. */
  sync(): Promise<void>;
  /**
   * Runs `commitQueued` just before each flush of the WAL starts (whoever asked for it), so
   * that queued records ride on that flush; returns the function that leaves.
   */
  joinFlushes?(commitQueued: () => void): () => void;
}

export interface AuditLogOptions {
  groupCommit?: GroupCommitOptions;
  /** Absent: commits are flushed by SQLite itself (synchronous = FULL), on the calling thread. */
  durability?: AuditDurability;
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
  /** Commits every queued record now (durable at once without `durability`, else after its sync). */
  flush(): void;
  /**
   * Resolves once every record appended before the call is on disk (committed in a group
   * soon, not at once: the records of other callers in this turn of the event loop join the
   * group). Rejects when the commit or the flush fails.
   */
  whenDurable(): Promise<void>;
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
   * `fn(seconds, records)` after each group commit that succeeded: the time of its
   * transaction (the WAL flush that follows is shared with the store and timed there).
   * The server's audit commit latency metric; one observer, a later call replaces it.
   */
  observeCommits(fn: ((seconds: number, records: number) => void) | undefined): void;
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

/** A queued record: fields, seq and time; chained (prevHash, hash) when its group commits. */
type QueuedRecord = Omit<AuditRecord, 'prevHash' | 'hash'>;

class SqliteAuditLog implements AuditLog {
  private pending: QueuedRecord[] = [];
  private commitObserver: ((seconds: number, records: number) => void) | undefined;
  /** whenDurable() callers waiting for the next group. */
  private durableWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private immediate: NodeJS.Immediate | undefined;
  private readonly durability: AuditDurability | undefined;
  private leaveFlushes: (() => void) | undefined;
  /** The flush that covers the last committed group (with `durability`). */
  private lastGroupFlushed: Promise<void> | undefined;
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
  /**
   * The default clock's last millisecond and its ISO text: a Date and its toISOString() cost
   * 0.5–0.9 µs per record, and at a few thousand records/s most share their millisecond.
   */
  private lastMs = -1;
  private lastIso = '';
  private readonly customClock: boolean;
  private readonly lastRow: Database.Statement;
  private readonly tailStmt: Database.Statement;
  private readonly afterStmt: Database.Statement;
  private readonly commitGroup: Database.Transaction<(group: QueuedRecord[]) => AuditRecord[]>;

  constructor(readonly db: Database.Database, options: AuditLogOptions) {
    this.maxRecords = positiveInt('groupCommit.maxRecords', options.groupCommit?.maxRecords, DEFAULT_MAX_RECORDS, 1);
    this.maxDelayMs = positiveInt('groupCommit.maxDelayMs', options.groupCommit?.maxDelayMs, DEFAULT_MAX_DELAY_MS, 0);
    this.maxPending = positiveInt('maxPending', options.maxPending, DEFAULT_MAX_PENDING, 1);
    this.clock = options.clock ?? (() => new Date());
    this.customClock = options.clock !== undefined;
    this.onError = options.onError ?? (() => {});
    this.durability = options.durability;
    // Whenever the WAL is about to be flushed for someone else (the object store's group
    // commit of a burst of Creates), the queued group commits first and shares that flush:
    // one fdatasync per burst instead of the store's and then the audit log's. Records still
    // commit by maxDelayMs at the latest when no other flush comes.
    this.leaveFlushes = this.durability?.joinFlushes?.(() => { if (this.pending.length > 0) this.backgroundFlush(); });
    ensureAuditSchema(db);
    this.insert = db.prepare(`INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (@seq, @time, @kind, @identity, @tenant, @service, @operation, @objectId, @result, @reason, @detail, @prevHash, @hash)`);
    this.lastRow = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.tailStmt = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?`);
    this.afterStmt = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`);
    const last = this.lastRow.get() as { seq: number; hash: string } | undefined;
    this.seq = last?.seq ?? 0;
    this.hash = last?.hash ?? GENESIS_HASH;
    this.commitGroup = db.transaction((group: QueuedRecord[]) => {
      // Chained here, in the group commit, from the head the database really has: another
      // writer may have appended since this one last committed, and then the group is
      // numbered after its records too.
      const dbLast = this.lastRow.get() as { seq: number; hash: string } | undefined;
      let seq = dbLast?.seq ?? 0;
      let hash = dbLast?.hash ?? GENESIS_HASH;
      const records = new Array<AuditRecord>(group.length);
      for (let i = 0; i < group.length; i++) {
        const r: AuditRecord = { ...group[i]!, seq: ++seq, prevHash: hash, hash: '' };
        r.hash = hash = recordHash(r);
        this.insert.run(r);
        records[i] = r;
      }
      return records;
    });
  }

  /** The record time: the same text as `new Date().toISOString()` (record.ts), made once per millisecond. */
  private now(): string {
    if (this.customClock) return this.clock().toISOString();
    const ms = Date.now();
    if (ms !== this.lastMs) { this.lastMs = ms; this.lastIso = new Date(ms).toISOString(); }
    return this.lastIso;
  }

  append<T extends AuditInput>(input: ExactAuditInput<T>): void {
    if (this.closed) throw new AuditUnavailableError('audit log is closed');
    const fields = validateAuditInput(input);
    if (this.pending.length >= this.maxPending) {
      throw new AuditUnavailableError(`audit log cannot commit (${this.pending.length} records queued); the database refuses writes`);
    }
    this.pending.push({ ...fields, seq: ++this.seq, time: this.now() });
    if (this.pending.length >= this.maxRecords) this.backgroundFlush();
    else this.timer ??= setTimeout(() => this.backgroundFlush(), this.maxDelayMs).unref();
  }

  observeCommits(fn: ((seconds: number, records: number) => void) | undefined): void {
    this.commitObserver = fn;
  }

  whenDurable(): Promise<void> {
    if (this.closed) return Promise.reject(new AuditUnavailableError('audit log is closed'));
    if (this.pending.length === 0) {
      // Committed already; on disk once the flush that covers the last commit returns (a
      // fresh flush only if that one failed, or if this writer has committed nothing yet).
      const d = this.durability;
      if (d === undefined) return Promise.resolve();
      return this.lastGroupFlushed?.catch(() => d.sync()) ?? d.sync();
    }
    return new Promise<void>((resolve, reject) => {
      this.durableWaiters.push({ resolve, reject });
      // Soon, not now: the callers of this turn of the event loop share the group and its flush.
      this.immediate ??= setImmediate(() => { this.immediate = undefined; this.backgroundFlush(); });
    });
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
    const waiters = this.durableWaiters;
    let committed: AuditRecord[];
    try {
      // IMMEDIATE: the write lock is taken before the head is read. A deferred transaction
      // would read under a snapshot and then fail at once with SQLITE_BUSY_SNAPSHOT (no busy
      // wait) whenever another process (a second worker, kmipctl) committed in between.
      const commit = () => this.commitGroup.immediate(group);
      const started = this.commitObserver !== undefined ? process.hrtime.bigint() : 0n;
      committed = this.durability !== undefined ? this.durability.commitLazily(commit) : commit();
      this.commitObserver?.(Number(process.hrtime.bigint() - started) / 1e9, group.length);
    } catch (err) {
      this.commitError = err instanceof Error ? err : new Error(String(err));
      // The records stay queued and are retried; whoever waits for them hears of the failure.
      this.durableWaiters = [];
      for (const w of waiters) w.reject(err);
      throw err;
    }
    this.commitError = undefined;
    this.pending = [];
    this.durableWaiters = [];
    const last = committed[committed.length - 1]!;
    this.hash = last.hash;
    // Another writer moved the chain on: this writer's numbering follows the database's.
    if (last.seq > this.seq) this.seq = last.seq;
    if (this.durability === undefined) {
      this.publish(committed);
      for (const w of waiters) w.resolve();
      return;
    }
    const flushed = this.durability.sync();
    this.lastGroupFlushed = flushed;
    flushed.then(() => {
      this.publish(committed);
      for (const w of waiters) w.resolve();
    }, (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      this.onError(e);
      for (const w of waiters) w.reject(e);
    });
  }

  private publish(committed: readonly AuditRecord[]): void {
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
    this.leaveFlushes?.();
    this.leaveFlushes = undefined;
    if (this.immediate !== undefined) { clearImmediate(this.immediate); this.immediate = undefined; }
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
