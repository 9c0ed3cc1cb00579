// The audit hash chain on PostgreSQL, appended by several writers (issue 10 §2: "cores append
// their records to the regional vault's chain"). Every core node of a region writes into one
// chain in the region's vault database; the records keep the chain rule of record.ts, with
// the writing node hashed into each record (AuditRecord.node).
//
// How the nodes take turns. A node queues its records in memory (append() never waits, as
// in log.ts) and commits them in groups. One group is one transaction that
//   1. takes a transaction-scoped advisory lock (AUDIT_CHAIN_LOCK_KEY) — the chain's only
//      serialisation point, released by COMMIT or by the death of the session;
//   2. reads the head (seq, hash of the newest row, one primary-key index probe);
//   3. numbers and hashes its records after that head and inserts them in one statement.
// A record's seq, prevHash and hash are therefore fixed only at commit, under the lock, and
// a group never has to be re-chained. Why this and not a sequence plus per-node chains:
// per-node chains need no lock, but then the region has N chains and an auditor (and
// `kmipctl audit verify`) must check N chains plus a merge order nobody hashed; a deleted
// record at the tail of one node's chain is invisible without a per-node anchor. One chain
// has one head to anchor. The lock costs little because it is taken once per group, not
// per record: bench/vault-audit.ts measures one chain against per-node chains side by side
// (bench/README.md "Audit chain in the regional vault").
//
// Shipping to the CMK (src/link/audit-shipper.ts) reads this chain from a cursor kept in the
// same database (audit_ship_cursor), and only one node of the region ships at a time: it
// holds a session-level advisory lock (AUDIT_SHIP_LOCK_KEY) on a connection of its own. A
// node that dies loses its session and with it the lock; another node takes over from the
// cursor, so nothing a dead node committed stays unshipped.
//
// The module owns its tables as the SQLite log does (schema.ts): ensurePgAuditSchema creates
// and versions them (audit_pg_schema_version) in whatever database it is given, so the
// chain can live beside any other schema without sharing its migration numbers.
import pg from 'pg';
import { GENESIS_HASH, recordHash, validateAuditInput, type AuditInput, type AuditRecord, type ExactAuditInput } from './record.ts';
import { AuditSchemaError, type AuditRow } from './schema.ts';
import { rowToRecord, runChainCheckAsync, type AuditAnchor, type VerifyOptions, type VerifyResult } from './verify.ts';
import { AuditUnavailableError, type AuditAvailability } from './log.ts';

export const AUDIT_PG_SCHEMA_VERSION = 1;
/** Advisory lock keys (one keyspace per database): the chain's append turn, the shipper's lease, schema creation. */
export const AUDIT_CHAIN_LOCK_KEY = 0x6f6b6361; // "okca"
export const AUDIT_SHIP_LOCK_KEY = 0x6f6b6373; // "okcs"
const AUDIT_SCHEMA_LOCK_KEY = 0x6f6b6376; // "okcv"
/** Connections of one writer: one commits, one reads (shipping, verify). */
export const AUDIT_PG_POOL_MAX = 2;
/** Retry delay after a failed commit (the database restarting, a network cut), doubling. */
export const AUDIT_PG_RETRY_MS = 50;
export const AUDIT_PG_MAX_RETRY_MS = 2_000;

const COLUMNS = 'seq, time, node, kind, identity, tenant, service, operation, object_id, result, reason, detail, prev_hash, hash';
const SELECT = 'seq::float8 AS seq, time, node, kind, identity, tenant, service, operation, object_id, result, reason, detail, prev_hash, hash';

const DDL_V1 = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq       BIGINT PRIMARY KEY,
  time      TEXT NOT NULL,
  -- The node that wrote the record (hashed into it); NULL in a chain of one writer.
  node      TEXT,
  kind      TEXT NOT NULL,
  identity  TEXT,
  tenant    TEXT,
  service   TEXT,
  operation TEXT,
  object_id TEXT,
  result    TEXT NOT NULL,
  reason    TEXT,
  detail    TEXT,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
-- Append-only at the SQL level, as in SQLite (schema.ts). The table's owner can disable
-- these; the hash chain (verify.ts) is what catches that.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$;
DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
-- Last seq delivered per consumer (the CMK link shipper). Mutable by design; it only grows.
CREATE TABLE IF NOT EXISTS audit_ship_cursor (
  name    TEXT PRIMARY KEY,
  seq     BIGINT NOT NULL,
  updated TEXT NOT NULL
);
`;

/** Creates the chain's tables when absent (several nodes at once: one does it); refuses a newer schema. */
export async function ensurePgAuditSchema(pool: pg.Pool): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_SCHEMA_LOCK_KEY]);
    await c.query('CREATE TABLE IF NOT EXISTS audit_pg_schema_version (version INTEGER NOT NULL)');
    const current = Number((await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM audit_pg_schema_version')).rows[0]!.v ?? 0);
    if (current > AUDIT_PG_SCHEMA_VERSION) {
      throw new AuditSchemaError(`audit schema version ${current} is newer than this build supports (${AUDIT_PG_SCHEMA_VERSION}); upgrade OpenKCM`);
    }
    if (current < AUDIT_PG_SCHEMA_VERSION) {
      await c.query(DDL_V1);
      await c.query('INSERT INTO audit_pg_schema_version (version) VALUES ($1)', [AUDIT_PG_SCHEMA_VERSION]);
    }
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

export interface PgAuditChainOptions {
  /** The node whose records these are (hashed into each). Absent: a chain of one writer. */
  node?: string;
  /** Records per transaction at most (default 512). */
  maxRecords?: number;
  /** Longest a record waits for its transaction, in ms (default 5). */
  maxDelayMs?: number;
  /** Most records queued while the database refuses writes; beyond it append() throws. Default 100 000. */
  maxPending?: number;
  clock?: () => Date;
  onError?: (err: Error) => void;
}

/** Called with each group this writer committed, in seq order. Must not throw. */
export type PgChainSubscriber = (records: readonly AuditRecord[]) => void;

interface Queued {
  fields: ReturnType<typeof validateAuditInput>;
  time: string;
}

function positiveInt(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new RangeError(`audit chain option ${name}: expected an integer ≥ ${min}, got ${v}`);
  return v;
}

/** Opens a small pool of its own on `url` for the chain (the vault's pool serves KMIP traffic). */
export function auditPool(url: string, applicationName = 'openkcm-audit'): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: AUDIT_PG_POOL_MAX, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000, statement_timeout: 30_000, application_name: applicationName });
  pool.on('error', () => undefined); // an idle connection the server dropped: the pool reconnects
  return pool;
}

/**
 * One writer of a chain several writers share. The AuditSink of the KMIP engine
 * (append + availability), plus what shipping and verification need.
 */
export class PgAuditChain {
  private queue: Queued[] = [];
  private committing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private commitError: Error | undefined;
  private retryMs = AUDIT_PG_RETRY_MS;
  private appended = 0;
  private committed = 0;
  private ownSeq = 0;
  private readonly subscribers = new Set<PgChainSubscriber>();
  private readonly waiters: Array<{ target: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly maxRecords: number;
  private readonly maxDelayMs: number;
  private readonly maxPending: number;
  private readonly clock: () => Date;
  private readonly onError: (err: Error) => void;

  /** Use PgAuditChain.open(). */
  private constructor(readonly pool: pg.Pool, private readonly ownsPool: boolean, readonly node: string | undefined, o: PgAuditChainOptions) {
    this.maxRecords = positiveInt('maxRecords', o.maxRecords, 512, 1);
    this.maxDelayMs = positiveInt('maxDelayMs', o.maxDelayMs, 5, 0);
    this.maxPending = positiveInt('maxPending', o.maxPending, 100_000, 1);
    this.clock = o.clock ?? (() => new Date());
    this.onError = o.onError ?? (() => {});
  }

  /** Opens a writer on `target` (a URL: a pool of its own, closed with the writer; or a pool the caller keeps). */
  static async open(target: string | pg.Pool, options: PgAuditChainOptions = {}): Promise<PgAuditChain> {
    const owns = typeof target === 'string';
    const pool = typeof target === 'string' ? auditPool(target) : target;
    try {
      await ensurePgAuditSchema(pool);
      return new PgAuditChain(pool, owns, options.node, options);
    } catch (e) {
      if (owns) await pool.end().catch(() => undefined);
      throw e;
    }
  }

  append<T extends AuditInput>(input: ExactAuditInput<T>): void {
    if (this.closed) throw new AuditUnavailableError('audit log is closed');
    const fields = validateAuditInput(input);
    if (this.queue.length >= this.maxPending) {
      throw new AuditUnavailableError(`audit chain cannot commit (${this.queue.length} records queued); the database refuses writes`);
    }
    this.queue.push({ fields, time: this.clock().toISOString() });
    this.appended++;
    if (this.queue.length >= this.maxRecords) this.kick();
    else this.timer ??= setTimeout(() => { this.timer = undefined; this.kick(); }, this.maxDelayMs).unref();
  }

  /** Not ok while closed, after a failed commit (until one succeeds) or at maxPending (issue 16 §1). */
  availability(): AuditAvailability {
    if (this.closed) return { ok: false, reason: 'the audit log is closed' };
    if (this.commitError !== undefined) {
      return { ok: false, reason: `the regional audit chain refuses writes (${this.commitError.message}); ${this.queue.length} record(s) queued` };
    }
    if (this.queue.length >= this.maxPending) return { ok: false, reason: `${this.queue.length} audit records are queued uncommitted` };
    return { ok: true };
  }

  pendingCount(): number {
    return this.queue.length;
  }

  /** seq of the newest record this writer committed (0 before its first). */
  lastOwnSeq(): number {
    return this.ownSeq;
  }

  subscribe(fn: PgChainSubscriber): () => void {
    this.subscribers.add(fn);
    return () => { this.subscribers.delete(fn); };
  }

  /** Resolves once every record appended before the call is committed; rejects with the commit error. */
  flush(): Promise<void> {
    if (this.committed >= this.appended) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ target: this.appended, resolve, reject }));
    this.kick();
    return p;
  }

  private kick(): void {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.committing !== undefined || this.queue.length === 0) return;
    this.committing = this.commitLoop().finally(() => { this.committing = undefined; });
  }

  /** Commits groups until the queue is empty or a commit fails (then retries later). */
  private async commitLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.slice(0, this.maxRecords);
      let records: AuditRecord[];
      try {
        records = await this.commitGroup(group);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.commitError = err;
        this.onError(err);
        for (const w of this.waiters.splice(0)) w.reject(err);
        if (!this.closed) {
          this.timer = setTimeout(() => { this.timer = undefined; this.kick(); }, this.retryMs).unref();
          this.retryMs = Math.min(this.retryMs * 2, AUDIT_PG_MAX_RETRY_MS);
        }
        return;
      }
      this.commitError = undefined;
      this.retryMs = AUDIT_PG_RETRY_MS;
      this.queue.splice(0, group.length);
      this.committed += group.length;
      this.ownSeq = records[records.length - 1]!.seq;
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i]!;
        if (w.target <= this.committed) { this.waiters.splice(i, 1); w.resolve(); }
      }
      for (const fn of this.subscribers) {
        try { fn(records); } catch (err) { this.onError(err instanceof Error ? err : new Error(String(err))); }
      }
    }
  }

  private async commitGroup(group: readonly Queued[]): Promise<AuditRecord[]> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      // The chain's turn: held to COMMIT, so the head read below is the head we append to.
      await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK_KEY]);
      const head = (await c.query<{ seq: number; hash: string }>('SELECT seq::float8 AS seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')).rows[0];
      let seq = head?.seq ?? 0;
      let hash = head?.hash ?? GENESIS_HASH;
      const records: AuditRecord[] = group.map((q) => {
        const base: Omit<AuditRecord, 'hash'> = { ...q.fields, seq: ++seq, time: q.time, prevHash: hash, ...(this.node !== undefined ? { node: this.node } : {}) };
        hash = recordHash(base);
        return { ...base, hash };
      });
      const col = <K extends keyof AuditRecord>(k: K) => records.map((r) => r[k] ?? null);
      await c.query(
        `INSERT INTO audit_log (${COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`,
        [col('seq'), col('time'), col('node'), col('kind'), col('identity'), col('tenant'), col('service'), col('operation'), col('objectId'), col('result'), col('reason'), col('detail'), col('prevHash'), col('hash')],
      );
      await c.query('COMMIT');
      return records;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /** Committed records with seq > afterSeq, oldest first, at most `limit` (every writer's). */
  async readAfter(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = (await this.pool.query<AuditRow>(`SELECT ${SELECT} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit])).rows;
    return rows.map(rowToRecord);
  }

  /** The chain's head now (every writer's records). */
  async anchor(): Promise<AuditAnchor> {
    const head = (await this.pool.query<{ seq: number; hash: string }>('SELECT seq::float8 AS seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')).rows[0];
    return head ?? { seq: 0, hash: GENESIS_HASH };
  }

  /** Flushes, then recomputes the whole chain. */
  async verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    await this.flush();
    return verifyPgAuditChain(this.pool, options);
  }

  async loadCursor(name: string): Promise<number> {
    const r = (await this.pool.query<{ seq: number }>('SELECT seq::float8 AS seq FROM audit_ship_cursor WHERE name = $1', [name])).rows[0];
    return r?.seq ?? 0;
  }

  /** Moves a consumer's cursor forward (never back: two nodes saving out of order keep the higher). */
  async saveCursor(name: string, seq: number): Promise<void> {
    await this.pool.query(
      'INSERT INTO audit_ship_cursor (name, seq, updated) VALUES ($1, $2, $3) ' +
        'ON CONFLICT (name) DO UPDATE SET seq = GREATEST(audit_ship_cursor.seq, excluded.seq), updated = excluded.updated',
      [name, seq, new Date().toISOString()],
    );
  }

  /** Commits what is queued, then stops (a pool given by the caller stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.timer !== undefined) clearTimeout(this.timer);
      await this.committing;
      this.subscribers.clear();
      if (this.ownsPool) await this.pool.end().catch(() => undefined);
    }
  }
}

/**
 * The shipping lease of a shared chain: a session-level advisory lock on a connection of its
 * own. Held while that session lives; a node that dies (or loses its connection) loses it,
 * and the next node that asks gets it.
 */
export class PgShipLease {
  private client: pg.Client | undefined;
  private held = false;
  private connecting: Promise<boolean> | undefined;

  constructor(private readonly url: string, private readonly applicationName: string) {}

  /** True when this process holds the lease (taking it if free). */
  async acquire(): Promise<boolean> {
    if (this.held) return true;
    this.connecting ??= this.tryAcquire().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  private async tryAcquire(): Promise<boolean> {
    try {
      if (this.client === undefined) {
        const c = new pg.Client({ connectionString: this.url, application_name: this.applicationName, connectionTimeoutMillis: 10_000 });
        const lost = () => {
          this.held = false;
          if (this.client === c) this.client = undefined;
          c.end().catch(() => undefined);
        };
        c.on('error', lost);
        c.on('end', lost);
        await c.connect();
        this.client = c;
      }
      const r = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [AUDIT_SHIP_LOCK_KEY]);
      this.held = r.rows[0]!.ok;
      return this.held;
    } catch {
      this.held = false;
      const c = this.client;
      this.client = undefined;
      await c?.end().catch(() => undefined);
      return false;
    }
  }

  isHeld(): boolean {
    return this.held;
  }

  /** Gives the lease back (closing the session releases it). */
  async release(): Promise<void> {
    await this.connecting?.catch(() => undefined);
    this.held = false;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}

/**
 * Recomputes a chain on PostgreSQL (`kmipctl audit verify --database-url`): the same check,
 * problems and messages as verifyAuditLog on SQLite.
 */
export async function verifyPgAuditChain(pool: pg.Pool | pg.Client, options: VerifyOptions = {}): Promise<VerifyResult> {
  const has = (await pool.query<{ t: string | null }>("SELECT to_regclass('audit_log')::text AS t")).rows[0]!.t;
  if (has === null) throw new AuditSchemaError('this database has no audit_log table');
  const rows = async (text: string, values: unknown[]) => (await pool.query<AuditRow>(text, values)).rows;
  return runChainCheckAsync({
    page: (after, limit) => (after === undefined
      ? rows(`SELECT ${SELECT} FROM audit_log ORDER BY seq LIMIT $1`, [limit])
      : rows(`SELECT ${SELECT} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, limit])),
    byHash: async (hash) => (await rows(`SELECT ${SELECT} FROM audit_log WHERE hash = $1 ORDER BY seq LIMIT 1`, [hash]))[0],
    bySeq: async (seq) => (await rows(`SELECT ${SELECT} FROM audit_log WHERE seq = $1`, [seq]))[0],
    next: async (after) => (await rows(`SELECT ${SELECT} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1`, [after]))[0],
  }, options);
}
