// WAL checkpoints off the request path (issue 12 §1: Get and Locate p99 < 2 ms at 1 000 000
// objects).
//
// SQLite copies the WAL back into the database file ("checkpoint", https://sqlite.org/wal.html
// #ckpt) by default inside the COMMIT that makes the WAL pass 1000 pages, on the connection
// that committed: here the server's only connection, on the JavaScript thread. That commit
// then writes up to 1000 scattered pages of a 1.3 GB file and fsyncs the WAL and the database
// (20–45 ms measured at 1 M objects), and every request of the process waits behind it: the
// slowest 1 % of group commits, and the p99 of Gets that happen to arrive then.
//
// Here the server's connection never checkpoints by itself (`wal_autocheckpoint = 0`). A
// worker thread with a connection of its own runs PASSIVE checkpoints: they take no lock that
// a writer or a reader of the main connection waits for (PASSIVE "does as much work as
// possible without interfering with other database connections"), so requests go on while
// the pages are copied and synced. The worker's connection keeps synchronous = FULL: a
// checkpoint syncs the WAL before it copies frames and the database after, so it never copies
// a frame that is not on disk (the lazy commits of wal-durability.ts included).
//
// A PASSIVE checkpoint that runs beside a busy writer may never catch up (the writer appends
// while it copies), and SQLite restarts the WAL from its beginning only once every frame has
// been copied: under a write load that never pauses, the WAL would grow without bound. When
// the WAL still holds more than WAL_BEHIND_FRAMES not yet copied after a checkpoint, the main
// connection's own autocheckpoint is switched back on until the worker catches up again: the
// old behaviour, only while the writes outrun the worker. If the worker fails, it is switched
// back on for good.
//
// The worker starts with the first commit that goes through the store (stores opened by a
// test and never written start no thread), and stops before the main connection closes (the
// last connection to close checkpoints everything and removes the WAL, as before).
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';

/** How often the worker checkpoints while frames arrive (ms); idle checks cost a lock and a header read. */
export const CHECKPOINT_INTERVAL_MS = 200;
/**
 * WAL frames (pages) left uncopied after a worker checkpoint past which the main connection
 * checkpoints again itself. 4 × SQLite's default autocheckpoint: the WAL stays a few tens of
 * MB at most, and a burst of Creates does not switch it on.
 */
export const WAL_BEHIND_FRAMES = 4_000;
/** SQLite's own default (https://sqlite.org/pragma.html#pragma_wal_autocheckpoint), used while the worker is behind. */
const FALLBACK_AUTOCHECKPOINT = 1_000;

/** What the worker reports after a checkpoint that changed something: PRAGMA wal_checkpoint's row. */
export interface CheckpointReport { busy: number; log: number; checkpointed: number }

// CommonJS run with `eval: true`: no TypeScript loader in the worker (execArgv: []), and the
// driver is required by the absolute path resolved here.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = FULL');
db.pragma('wal_autocheckpoint = 0');
let timer;
let last = '';
const tick = () => {
  let row;
  try {
    row = db.pragma('wal_checkpoint(PASSIVE)')[0];
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
    return;
  }
  // Only news: an idle server's checks wake nobody.
  const now = row.busy + ':' + row.log + ':' + row.checkpointed;
  if (now !== last) { last = now; parentPort.postMessage(row); }
  // Behind: go again at once, the next pass is shorter.
  timer = setTimeout(tick, row.log > row.checkpointed ? 0 : workerData.interval);
};
timer = setTimeout(tick, workerData.interval);
parentPort.on('message', (m) => {
  if (m === 'stop') { clearTimeout(timer); db.close(); parentPort.close(); }
});
`;

export class WalCheckpointer {
  private worker: Worker | undefined;
  /** Settles when the worker thread has ended, however it ended. */
  private exited: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The main connection checkpoints by itself again (the worker is behind, or failed). */
  private fallback = false;
  /** Worker checkpoint reports received (tests, benchmarks). */
  checkpoints = 0;
  /** The latest: frames in the WAL, frames copied back (tests, benchmarks). */
  lastReport: CheckpointReport | undefined;
  /** Times the main connection had to checkpoint again because the worker was behind. */
  fallbacks = 0;
  /** The last failure of the worker, if any (kept for the operator's log and for tests). */
  lastError: string | undefined;

  private constructor(private readonly db: Database.Database, private readonly path: string) {}

  /** For an on-disk database in WAL mode; undefined otherwise (nothing to checkpoint). */
  static for(db: Database.Database, path: string): WalCheckpointer | undefined {
    if (path === ':memory:' || path === '' || db.memory) return undefined;
    if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return undefined;
    return new WalCheckpointer(db, path);
  }

  /**
   * Called at each hot commit of the main connection: the first time, hands checkpoints to the
   * worker. Until then SQLite's own autocheckpoint stays (a store that only governance writes).
   */
  started(): void {
    if (this.worker !== undefined || this.stopped) return;
    this.db.pragma('wal_autocheckpoint = 0');
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], env: {}, workerData: { driver, path: this.path, interval: CHECKPOINT_INTERVAL_MS } });
    // Never keeps the process alive: close() stops it, and a server that exits is not held.
    w.unref();
    w.on('message', (m: CheckpointReport | { error: string }) => {
      if (this.stopped) return;
      if ('error' in m) { this.fail(m.error); return; }
      this.checkpoints++;
      this.lastReport = m;
      this.setFallback(m.log - m.checkpointed > WAL_BEHIND_FRAMES);
    });
    w.on('error', (e) => this.fail(e.message));
    this.exited = new Promise<void>((resolve) => w.once('exit', () => {
      resolve();
      if (!this.stopped) this.fail('the checkpoint worker exited');
    }));
    this.worker = w;
  }

  private fail(message: string): void {
    this.lastError = message;
    this.setFallback(true);
    const w = this.worker;
    this.stopped = true;
    this.worker = undefined;
    if (w !== undefined) void w.terminate();
  }

  private setFallback(on: boolean): void {
    if (on === this.fallback || !this.db.open) return;
    this.fallback = on;
    if (on) this.fallbacks++;
    this.db.pragma(`wal_autocheckpoint = ${on ? FALLBACK_AUTOCHECKPOINT : 0}`);
  }

  /** Stops the worker (waiting for a checkpoint under way); the caller closes the main connection after. */
  async close(): Promise<void> {
    const w = this.worker;
    this.stopped = true;
    this.worker = undefined;
    if (w === undefined) return;
    // Referenced again: a process that is closing down waits for the checkpoint under way.
    w.ref();
    w.postMessage('stop');
    await this.exited;
  }
}
