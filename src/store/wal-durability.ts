// Durable commits without blocking the event loop (issue 12: durable Creates at 5 000/s).
//
// better-sqlite3 is synchronous: with `synchronous = FULL` every COMMIT in WAL mode calls
// fdatasync() on the WAL file inside the JavaScript thread, so the whole server — every TLS
// connection, every Get and Encrypt — stops for the length of a disk flush (~15 % of a
// profile under Encrypt load, more under Create load). Here the hot writers (the object
// store's group commit, the audit log's group commit) commit with `synchronous = NORMAL`
// (SQLite writes the WAL frames but does not flush them) and then flush the WAL file
// themselves with fdatasync() on libuv's thread pool, answering nobody before that flush
// has returned. One flush covers every commit made before it started, so while one flush is
// on its way the next commits gather for the next one: group commit across both writers.
//
// Why this is as durable as FULL (https://sqlite.org/pragma.html#pragma_synchronous,
// https://sqlite.org/wal.html): a WAL transaction is committed once its frames, the last
// one marked as a commit frame, are in the WAL file; recovery after a crash replays every
// frame up to the last valid commit frame (frames carry checksums and the WAL's salt).
// FULL's only extra over NORMAL is the fdatasync() of the WAL after each commit — which is
// exactly what sync() does, later and off-thread. Checkpoints in NORMAL mode sync the WAL
// before copying it back and the database after, and SQLite syncs the WAL header when it
// starts reusing the file, so nothing acknowledged depends on a write that was not flushed.
//
// What differs from FULL, and is accepted: between the commit and the flush (about one
// fdatasync, a few ms) another connection can already read the new rows (a Locate, a Get by
// a client that guessed the id). A crash inside that window loses them although someone saw
// them; nobody was told they were stored. Every other writer of the database (governance,
// key hierarchy) keeps FULL: the pragma is set to NORMAL only around the hot commits.
//
// Writers that queue work between flushes (the audit log's group, log.ts) join the next flush
// through joinFlushes(): just before a flush starts, each commits what it has queued, and that
// flush covers it too. Without it, the object store's commit and the audit log's commit of one
// burst of Creates took two fdatasyncs one after the other, and the next burst's commit waited
// behind the audit's flush (measured: 2 flushes per group of 16 Creates, 1 after).
//
// The WAL file is opened once and kept: SQLite deletes it only when the last connection to
// the database closes, and this one stays open; sync() still checks, once a second, that the
// path names the file it holds (a file replaced by hand) and reopens it otherwise.
import { open, stat, type FileHandle } from 'node:fs/promises';
import type Database from 'better-sqlite3';

/** How often sync() checks that the WAL path still names the file it holds. */
const INODE_CHECK_INTERVAL_MS = 1000;

export class WalDurability {
  private handle: FileHandle | undefined;
  private checkedAt = 0;
  private ino: number | bigint | undefined;
  private inflight: Promise<void> | undefined;
  /** Callers that arrived while a flush was running: they need the next one. */
  private next: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private closed = false;
  /** Called just before each flush starts (joinFlushes). */
  private readonly joiners = new Set<() => void>();
  /**
   * Set while the joiners of a flush that has not started yet commit: a sync() then is covered
   * by that flush (its fdatasync is issued after they return).
   */
  private assembling: Promise<void> | undefined;
  /** Flushes done (tests, benchmarks: commits per flush). */
  flushes = 0;

  private constructor(private readonly db: Database.Database, readonly walPath: string, private readonly afterCommit: (() => void) | undefined) {}

  /**
   * For an on-disk database in WAL mode; undefined otherwise (in memory: nothing to flush).
   * `afterCommit` runs after each lazy commit (the checkpointer starts its worker then).
   */
  static for(db: Database.Database, path: string, afterCommit?: () => void): WalDurability | undefined {
    if (path === ':memory:' || path === '' || db.memory) return undefined;
    const mode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
    if (mode !== 'wal') return undefined;
    return new WalDurability(db, `${path}-wal`, afterCommit);
  }

  /**
   * Runs `commit` (a synchronous transaction of this database) without SQLite's own flush
   * and returns its result; the data is durable once a later sync() resolves.
   */
  commitLazily<T>(commit: () => T): T {
    // Not a prepared statement: SQLite applies `PRAGMA synchronous = …` when the statement is
    // compiled, not when it runs, so each switch is compiled afresh (a few µs per group).
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      return commit();
    } finally {
      this.db.exec('PRAGMA synchronous = FULL');
      this.afterCommit?.();
    }
  }

  /**
   * `commitQueued` runs, synchronously, just before each flush of this WAL starts: a writer
   * that holds queued work commits it then (commitLazily, then sync(), which returns that very
   * flush), so one fdatasync serves both. It must not throw; errors are its own to report.
   * Returns the function that leaves.
   */
  joinFlushes(commitQueued: () => void): () => void {
    this.joiners.add(commitQueued);
    return () => { this.joiners.delete(commitQueued); };
  }

  /** Resolves once everything committed before this call is on disk. */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    if (this.assembling !== undefined) return this.assembling;
    if (this.inflight === undefined) return this.start();
    // The running flush may have begun before the caller's commit: wait for the next one.
    if (this.next === undefined) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      this.next = { promise, resolve, reject };
    }
    return this.next.promise;
  }

  private start(): Promise<void> {
    let settle!: { resolve: () => void; reject: (e: unknown) => void };
    const flushed = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
    if (this.joiners.size > 0) {
      this.assembling = flushed;
      try {
        for (const commitQueued of this.joiners) {
          try { commitQueued(); } catch { /* a joiner reports its own errors; the flush goes on */ }
        }
      } finally {
        this.assembling = undefined;
      }
    }
    const run = this.flushOnce();
    run.then(settle.resolve, settle.reject);
    this.inflight = run.then(() => undefined, () => undefined).then(() => {
      this.inflight = undefined;
      const n = this.next;
      this.next = undefined;
      if (n !== undefined) this.start().then(n.resolve, n.reject);
    });
    return flushed;
  }

  private async flushOnce(): Promise<void> {
    // The identity check costs a stat per flush (a few % of a Create's CPU in a profile):
    // once a second is enough for a file that is only replaced by hand.
    const now = Date.now();
    if (this.handle === undefined || now - this.checkedAt >= INODE_CHECK_INTERVAL_MS) {
      const st = await stat(this.walPath, { bigint: true });
      this.checkedAt = now;
      if (this.handle === undefined || st.ino !== this.ino) {
        await this.handle?.close().catch(() => undefined);
        this.handle = await open(this.walPath, 'r');
        this.ino = st.ino;
      }
    }
    await this.handle.datasync();
    this.flushes++;
  }

  /** Waits for the flushes under way, then lets go of the WAL file. */
  async close(): Promise<void> {
    while (this.inflight !== undefined) await this.inflight;
    this.closed = true;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}
