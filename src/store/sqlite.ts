// ObjectStore on SQLite (better-sqlite3). Synchronous inside, async outside, so that the
// PostgreSQL store of the scale-out design (DESIGN.md §7) can share the interface.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { StoredObject } from '../kmip/object.ts';
import {
  StoreConflictError, StoreSchemaError, StoreUnavailableError, type UpdateOptions, type L2KeyRow, type L3KeyRow, type LocatePrefilter, type TenantL1Row, type VaultStore, type WrappedValueRow,
} from './types.ts';

export { StoreSchemaError, type L2KeyRow, type L3KeyRow, type TenantL1Row, type WrappedValueRow };
import { DERIVED_COLUMNS, derivedParams, encodeAttributes, newestHead, rowToObject, scanShapes, type ObjectRow as BaseObjectRow } from './rows.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.ts';
import { WalDurability } from './wal-durability.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

/** How long a writer waits for another process's write lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5_000;
/** Most rows fetched per query while scanning: bounds memory at a million objects. */
export const SCAN_PAGE_SIZE = 256;
/**
 * Rows of the first query of a scan; each further page doubles up to SCAN_PAGE_SIZE. Locate
 * with MaximumItems 1 (PyKMIP's locate-by-name) then reads a few rows, not a full page.
 */
export const FIRST_PAGE_SIZE = 8;

/**
 * SQLite's result codes for a store that cannot write (https://sqlite.org/rescode.html):
 * SQLITE_FULL (disk or quota full, or max_page_count reached), SQLITE_READONLY_* (file or
 * file system read-only), SQLITE_IOERR_* (write/fsync failed). Anything else is passed on.
 */
export function storeUnavailable(e: unknown, path: string): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || e instanceof StoreUnavailableError) return e;
  const where = path === ':memory:' || path === '' ? 'the in-memory database' : path;
  if (code === 'SQLITE_FULL') {
    return new StoreUnavailableError('full', `the key store is full (${where}: no space left): nothing was stored; free disk space and retry`, { cause: e });
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new StoreUnavailableError('read-only', `the key store is read-only (${where}): nothing was stored; make it writable and retry`, { cause: e });
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new StoreUnavailableError('io', `the key store cannot write (${where}: ${code}): nothing was stored; check the disk and retry`, { cause: e });
  }
  return e;
}

type ObjectRow = BaseObjectRow<number>;

/**
 * The Name / Object Group values stored for one object. INDEXED BY: without statistics SQLite
 * prefers the by-value index because it covers the column, and walks every lookup row of the
 * tenant (a million at scale: 100 % CPU per Get of a never-served object, seen in bench/scale).
 * test/store/sqlite.test.ts pins the plan.
 */
export function lookupValuesSql(table: 'object_names' | 'object_groups', column: 'name' | 'grp'): string {
  return `SELECT ${column} FROM ${table} INDEXED BY ${table}_by_uid WHERE tenant = ? AND uid = ?`;
}

const OBJECT_COLUMNS = 'uid, tenant, service, object_type, state, revision, created_seq, attributes, wrapped_value';

function buildScanQuery(tenant: string, filter: LocatePrefilter, states: readonly number[], before: number | undefined, limit: number) {
  // A Name or Object Group filter drives the query from its lookup table, whose index holds
  // the creation order (migration 3): the walk is newest first with no sort. CROSS JOIN keeps
  // SQLite from reordering the join (https://sqlite.org/optoverview.html#crossjoin); left to
  // itself, without statistics, it prefers walking the tenant's newest-first index and
  // testing each row, which at a million objects reads them all.
  let from = 'objects o';
  let order = 'o.created_seq';
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.name !== undefined) {
    from = 'object_names l CROSS JOIN objects o ON o.tenant = l.tenant AND o.uid = l.uid';
    where.push('l.tenant = ?', 'l.name = ?');
    params.push(tenant, filter.name);
    order = 'l.created_seq';
  } else if (filter.objectGroup !== undefined) {
    from = 'object_groups l CROSS JOIN objects o ON o.tenant = l.tenant AND o.uid = l.uid';
    where.push('l.tenant = ?', 'l.grp = ?');
    params.push(tenant, filter.objectGroup);
    order = 'l.created_seq';
  }
  if (before !== undefined) {
    where.push(`${order} < ?`);
    params.push(before);
  }
  where.push('o.tenant = ?');
  params.push(tenant);
  if (filter.name !== undefined && filter.objectGroup !== undefined) {
    where.push('EXISTS (SELECT 1 FROM object_groups g WHERE g.tenant = o.tenant AND g.uid = o.uid AND g.grp = ?)');
    params.push(filter.objectGroup);
  }
  if (filter.objectType !== undefined) {
    where.push('o.object_type = ?');
    params.push(filter.objectType);
  }
  if (states.length === 1) {
    where.push('o.state = ?');
    params.push(states[0]);
  } else {
    where.push(`o.state IN (${states.map(() => '?').join(', ')})`);
    params.push(...states);
  }
  if (filter.cryptographicAlgorithm !== undefined) {
    where.push('o.cryptographic_algorithm = ?');
    params.push(filter.cryptographicAlgorithm);
  }
  if (filter.cryptographicLength !== undefined) {
    where.push('o.cryptographic_length = ?');
    params.push(filter.cryptographicLength);
  }
  params.push(limit);
  const cols = OBJECT_COLUMNS.split(', ').map((c) => 'o.' + c).join(', ');
  return { sql: `SELECT ${cols} FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${order} DESC LIMIT ?`, params };
}

export class SqliteStore implements VaultStore {
  readonly kind = 'sqlite' as const;
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;
  /** `lazy`: settled at the commit, not after the WAL flush (UpdateOptions.waitForDisk false). */
  private queue: Array<{ work: () => void; resolve: () => void; reject: (e: unknown) => void; lazy: boolean }> = [];
  private flushTimer: NodeJS.Immediate | undefined;

  /**
   * Flushes the WAL off the event loop for the group commits (wal-durability.ts); undefined
   * in memory. The audit log on this database shares it, so one flush serves both.
   */
  readonly durability: WalDurability | undefined;
  /** Checkpoints the WAL on a worker thread, off the request path (wal-checkpointer.ts); undefined in memory. */
  readonly checkpointer: WalCheckpointer | undefined;

  /**
   * Told the time of each group commit (the transaction and, on disk, the WAL flush that makes
   * it durable) and how many writes it carried: the server's store commit latency metric.
   * A hook, not a metrics library: the store module stays free of the server's choices.
   */
  commitObserver: ((seconds: number, writes: number) => void) | undefined;

  /** Use openSqliteStore(). */
  constructor(private readonly db: Database.Database, readonly path: string) {
    this.checkpointer = WalCheckpointer.for(db, path);
    const checkpointer = this.checkpointer;
    this.durability = WalDurability.for(db, path, checkpointer === undefined ? undefined : () => checkpointer.started());
  }

  /** Prepared statements are cached by their text: the scan builds a handful of shapes. */
  private stmt(sql: string): Database.Statement {
    if (this.closed) throw new Error('the object store is closed');
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** One row per distinct value: an object named twice the same is still one candidate. */
  private writeNamesAndGroups(uid: string, tenant: string, createdSeq: number, names: string[], groups: string[]): void {
    const n = this.stmt('INSERT INTO object_names (uid, tenant, name, created_seq) VALUES (?, ?, ?, ?)');
    for (const name of new Set(names)) n.run(uid, tenant, name, createdSeq);
    const g = this.stmt('INSERT INTO object_groups (uid, tenant, grp, created_seq) VALUES (?, ?, ?, ?)');
    for (const grp of new Set(groups)) g.run(uid, tenant, grp, createdSeq);
  }

  /** Brings one lookup table's rows of an object to `values` (each distinct), touching only what changed. */
  private syncLookup(table: 'object_names' | 'object_groups', column: 'name' | 'grp', tenant: string, uid: string, createdSeq: number, values: readonly string[]): void {
    const stored = this.stmt(lookupValuesSql(table, column)).pluck().all(tenant, uid) as string[];
    const wanted = new Set(values);
    const del = this.stmt(`DELETE FROM ${table} WHERE tenant = ? AND uid = ? AND ${column} = ?`);
    for (const v of stored) if (!wanted.has(v)) del.run(tenant, uid, v);
    const have = new Set(stored);
    const ins = this.stmt(`INSERT INTO ${table} (uid, tenant, ${column}, created_seq) VALUES (?, ?, ?, ?)`);
    for (const v of wanted) if (!have.has(v)) ins.run(uid, tenant, v, createdSeq);
  }

  /**
   * Group commit: writes issued in the same turn of the event loop share one transaction,
   * and one WAL flush makes a whole burst of Creates durable instead of one each. A failing
   * write (a conflict) rejects only its own promise: the batch first runs as plain statements
   * (a SAVEPOINT and RELEASE around each write cost as much as the write itself: 13–30 µs of
   * 25–40 µs per insert, measured); when a write throws, that transaction is rolled back whole
   * and the batch runs again with each write in its own SAVEPOINT (better-sqlite3 nests
   * transactions that way), so the failing write is rolled back alone. Every promise settles
   * after the WAL flush that covers the COMMIT (on disk: WalDurability, off the event loop),
   * so a resolved insert is durable.
   */
  private enqueue(work: () => void, lazy = false): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the object store is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ work, resolve, reject, lazy });
      this.flushTimer ??= setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushTimer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const failures = new Map<number, unknown>();
    const observer = this.commitObserver;
    const started = observer !== undefined ? process.hrtime.bigint() : 0n;
    /** Set when a write (not BEGIN or COMMIT) threw in the plain run. */
    let writeFailed = false;
    const plain = this.db.transaction(() => {
      for (const w of batch) {
        try {
          w.work();
        } catch (e) {
          writeFailed = true;
          throw e;
        }
      }
    });
    const isolated = this.db.transaction(() => {
      batch.forEach((w, i) => {
        try {
          this.db.transaction(w.work)();
        } catch (e) {
          failures.set(i, storeUnavailable(e, this.path));
        }
      });
    });
    const commit = () => {
      try {
        plain.immediate();
      } catch (e) {
        if (!writeFailed) throw e;
        // Rolled back whole: nothing of the plain run is kept. Alone, the write's own error
        // is its answer; in a batch, run again with each write isolated.
        if (batch.length === 1) failures.set(0, storeUnavailable(e, this.path));
        else isolated.immediate();
      }
    };
    try {
      if (this.durability !== undefined) this.durability.commitLazily(commit);
      else commit();
    } catch (e) {
      // BEGIN or COMMIT failed (busy past the timeout, disk full…): nothing of the batch is
      // stored, and SQLite has rolled it back, so the next batch starts clean.
      const err = storeUnavailable(e, this.path);
      for (const w of batch) w.reject(err);
      return;
    }
    const answer = (lazy: boolean) => batch.forEach((w, i) => {
      if (w.lazy === lazy) (failures.has(i) ? w.reject(failures.get(i)) : w.resolve());
    });
    const settle = () => {
      if (observer !== undefined) observer(Number(process.hrtime.bigint() - started) / 1e9, batch.length);
      answer(false);
    };
    // Lazy writes are answered now, committed and visible; the flush below still covers them.
    answer(true);
    if (this.durability === undefined) { settle(); return; }
    this.durability.sync().then(settle, (e: unknown) => {
      // Committed but not known to be on disk: nobody is told it was stored.
      const err = new StoreUnavailableError('io', `the key store cannot flush its log to disk (${this.path}: ${(e as Error).message}); the write may not be durable, retry`, { cause: e });
      batch.forEach((w, i) => { if (!w.lazy) w.reject(failures.get(i) ?? err); });
    });
  }

  async insert(obj: StoredObject): Promise<void> {
    const attrs = encodeAttributes(obj);
    const d = derivedParams(obj);
    const params = [obj.uid, obj.tenant, obj.service, obj.objectType, obj.state, obj.revision, attrs, obj.wrappedValue ?? null, ...d.values];
    const { uid, tenant } = obj;
    const insert = this.stmt(
      `INSERT INTO objects (uid, tenant, service, object_type, state, revision, created_seq, attributes, wrapped_value, ${DERIVED_COLUMNS.join(', ')}) ` +
        `VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(created_seq), 0) + 1 FROM objects), ?, ?, ${DERIVED_COLUMNS.map(() => '?').join(', ')}) RETURNING created_seq`,
    );
    await this.enqueue(() => {
      let seq: number;
      try {
        seq = (insert.get(...params) as { created_seq: number }).created_seq;
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new StoreConflictError(`tenant ${tenant} already has an object with unique identifier ${uid}`);
        }
        throw e;
      }
      this.writeNamesAndGroups(uid, tenant, seq, d.names, d.groups);
    });
  }

  async update(obj: StoredObject, opts?: UpdateOptions): Promise<void> {
    const attrs = encodeAttributes(obj);
    const d = derivedParams(obj);
    const { uid, tenant, revision } = obj;
    const params = [obj.service, obj.objectType, obj.state, attrs, obj.wrappedValue ?? null, ...d.values, tenant, uid, revision];
    const update = this.stmt(
      `UPDATE objects SET service = ?, object_type = ?, state = ?, revision = revision + 1, attributes = ?, wrapped_value = ?, ` +
        `${DERIVED_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE tenant = ? AND uid = ? AND revision = ? RETURNING created_seq`,
    );
    const exists = this.stmt('SELECT revision FROM objects WHERE tenant = ? AND uid = ?');
    await this.enqueue(() => {
      const r = update.get(...params) as { created_seq: number } | undefined;
      if (r === undefined) {
        const cur = exists.get(tenant, uid) as { revision: number } | undefined;
        throw new StoreConflictError(
          cur === undefined
            ? `object ${uid} no longer exists`
            : `object ${uid} was changed concurrently (revision ${revision} expected, ${cur.revision} stored)`,
        );
      }
      // Name and Object Group are multi-instance: the lookup rows follow them exactly. Only
      // the differences are written: most updates (Get's Fresh, a state change) keep both,
      // and a delete and re-insert would rewrite two B-trees per lookup row for nothing.
      this.syncLookup('object_names', 'name', tenant, uid, r.created_seq, d.names);
      this.syncLookup('object_groups', 'grp', tenant, uid, r.created_seq, d.groups);
    }, opts?.waitForDisk === false);
    obj.revision = revision + 1;
  }

  async get(tenant: string, uid: string): Promise<StoredObject | undefined> {
    const row = this.stmt(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE tenant = ? AND uid = ?`).get(tenant, uid) as ObjectRow | undefined;
    return row === undefined ? undefined : rowToObject(row);
  }

  async delete(tenant: string, uid: string): Promise<boolean> {
    // ON DELETE CASCADE removes the name and group rows.
    return this.stmt('DELETE FROM objects WHERE tenant = ? AND uid = ?').run(tenant, uid).changes > 0;
  }

  async *scan(tenant: string, filter: LocatePrefilter): AsyncIterable<StoredObject> {
    const shapes = scanShapes(filter);
    if (shapes.length === 0) return;
    if (shapes.length === 1) {
      for (const row of this.pages(tenant, filter, shapes[0]!)) yield rowToObject(row);
      return;
    }
    const cursors = shapes.map((states) => this.pages(tenant, filter, states));
    const heads = cursors.map((c) => c.next());
    for (;;) {
      const best = newestHead(heads);
      if (best < 0) return;
      const row = heads[best]!.value as ObjectRow;
      heads[best] = cursors[best]!.next();
      yield rowToObject(row);
    }
  }

  /** Rows of one query shape, newest first, in growing pages (keyset paging on created_seq). */
  private *pages(tenant: string, filter: LocatePrefilter, states: readonly number[]): Generator<ObjectRow, void, undefined> {
    let limit = FIRST_PAGE_SIZE;
    let before: number | undefined;
    for (;;) {
      const q = buildScanQuery(tenant, filter, states, before, limit);
      const rows = this.stmt(q.sql).all(...q.params) as ObjectRow[];
      yield* rows;
      if (rows.length < limit) return;
      before = rows[rows.length - 1]!.created_seq;
      limit = Math.min(limit * 2, SCAN_PAGE_SIZE);
    }
  }

  /**
   * EXPLAIN QUERY PLAN of every query scan() runs for this filter, first page and a later
   * (keyset) page, one string per plan row ("SEARCH o USING INDEX …"). Tests use it to prove
   * that Locate never scans a table.
   */
  explainScan(tenant: string, filter: LocatePrefilter): string[] {
    const out: string[] = [];
    for (const states of scanShapes(filter)) {
      for (const before of [undefined, Number.MAX_SAFE_INTEGER]) {
        const q = buildScanQuery(tenant, filter, states, before, SCAN_PAGE_SIZE);
        const plan = this.db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params) as { detail: string }[];
        out.push(...plan.map((r) => r.detail));
      }
    }
    return out;
  }

  // --- server-wide wrapped blobs (migration 2) ---

  async getSystemBlob(name: string): Promise<Buffer | undefined> {
    const row = this.stmt('SELECT blob FROM system_blobs WHERE name = ?').get(name) as { blob: Buffer } | undefined;
    return row?.blob;
  }

  /**
   * Stores a blob under `name` unless one is already there; returns the blob that is stored
   * afterwards (ours, or the one another process wrote first), so two servers starting
   * together on one database agree on a single key.
   */
  async putSystemBlobIfAbsent(name: string, blob: Buffer): Promise<Buffer> {
    return this.db.transaction(() => {
      this.stmt('INSERT INTO system_blobs (name, blob, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING').run(name, blob, Date.now());
      return (this.stmt('SELECT blob FROM system_blobs WHERE name = ?').get(name) as { blob: Buffer }).blob;
    }).immediate();
  }

  async deleteSystemBlob(name: string): Promise<boolean> {
    return this.stmt('DELETE FROM system_blobs WHERE name = ?').run(name).changes > 0;
  }

  // --- key hierarchy (migration 4); only wrapped blobs, see src/hierarchy/keyring.ts ---

  async getTenantL1(tenant: string): Promise<TenantL1Row | undefined> {
    const r = this.stmt('SELECT tenant, provider_ref, state, updated_at FROM tenants_l1 WHERE tenant = ?').get(tenant) as
      | { tenant: string; provider_ref: string; state: 'active' | 'disabled'; updated_at: number }
      | undefined;
    return r === undefined ? undefined : { tenant: r.tenant, providerRef: r.provider_ref, state: r.state, updatedAt: r.updated_at };
  }

  async putTenantL1(tenant: string, providerRef: string, state: 'active' | 'disabled'): Promise<void> {
    this.stmt(
      'INSERT INTO tenants_l1 (tenant, provider_ref, state, updated_at) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (tenant) DO UPDATE SET provider_ref = excluded.provider_ref, state = excluded.state, updated_at = excluded.updated_at',
    ).run(tenant, providerRef, state, Date.now());
  }

  /** Every tenant that has an L1 pointer or an L2. */
  async listHierarchyTenants(): Promise<string[]> {
    const rows = this.stmt('SELECT tenant FROM tenants_l1 UNION SELECT tenant FROM l2_keys ORDER BY tenant').all() as { tenant: string }[];
    return rows.map((r) => r.tenant);
  }

  async listL2Keys(tenant: string): Promise<L2KeyRow[]> {
    const rows = this.stmt('SELECT tenant, version, wrapped, created_at, current FROM l2_keys WHERE tenant = ? ORDER BY version').all(tenant) as {
      tenant: string; version: number; wrapped: Buffer; created_at: number; current: number;
    }[];
    return rows.map((r) => ({ tenant: r.tenant, version: r.version, wrapped: r.wrapped, createdAt: r.created_at, current: r.current === 1 }));
  }

  /**
   * Inserts the tenant's first L2 (version 1, current) unless the tenant has one already;
   * false when another writer got there first (the caller re-reads and uses that one).
   */
  async insertFirstL2Key(tenant: string, wrapped: Buffer): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.stmt('SELECT 1 FROM l2_keys WHERE tenant = ? LIMIT 1').get(tenant) !== undefined) return false;
      this.stmt('INSERT INTO l2_keys (tenant, version, wrapped, created_at, current) VALUES (?, 1, ?, ?, 1)').run(tenant, wrapped, Date.now());
      return true;
    }).immediate();
  }

  async listL3Keys(tenant: string, service?: string): Promise<L3KeyRow[]> {
    const cols = 'tenant, service, version, l2_version, wrapped, created_at, current';
    const rows = (
      service === undefined
        ? this.stmt(`SELECT ${cols} FROM l3_keys WHERE tenant = ? ORDER BY service, version`).all(tenant)
        : this.stmt(`SELECT ${cols} FROM l3_keys WHERE tenant = ? AND service = ? ORDER BY version`).all(tenant, service)
    ) as { tenant: string; service: string; version: number; l2_version: number; wrapped: Buffer; created_at: number; current: number }[];
    return rows.map((r) => ({
      tenant: r.tenant, service: r.service, version: r.version, l2Version: r.l2_version, wrapped: r.wrapped, createdAt: r.created_at, current: r.current === 1,
    }));
  }

  /**
   * Adds an L3 version and makes it the service's current one. The version is chosen by the
   * caller (it is bound into the blob's associated data), so a concurrent writer that took
   * the same number makes this return false; `expectedCurrent` (undefined: the service has
   * no L3 yet) guards against rotating past a version this caller has not seen.
   */
  async insertL3Key(row: { tenant: string; service: string; version: number; l2Version: number; wrapped: Buffer }, expectedCurrent: number | undefined): Promise<boolean> {
    return this.db.transaction(() => {
      // An L3 wrapped by an L2 that is no longer current would be lost at the next L2 rotation.
      const l2 = this.stmt('SELECT version FROM l2_keys WHERE tenant = ? AND current = 1').get(row.tenant) as { version: number } | undefined;
      if (l2?.version !== row.l2Version) return false;
      const cur = this.stmt('SELECT version FROM l3_keys WHERE tenant = ? AND service = ? AND current = 1').get(row.tenant, row.service) as { version: number } | undefined;
      if (cur?.version !== expectedCurrent) return false;
      if (this.stmt('SELECT 1 FROM l3_keys WHERE tenant = ? AND service = ? AND version = ?').get(row.tenant, row.service, row.version) !== undefined) return false;
      this.stmt('UPDATE l3_keys SET current = 0 WHERE tenant = ? AND service = ? AND current = 1').run(row.tenant, row.service);
      this.stmt('INSERT INTO l3_keys (tenant, service, version, l2_version, wrapped, created_at, current) VALUES (?, ?, ?, ?, ?, ?, 1)').run(
        row.tenant, row.service, row.version, row.l2Version, row.wrapped, Date.now(),
      );
      return true;
    }).immediate();
  }

  /**
   * L2 rotation in one transaction: the new L2 becomes current, every listed L3 row gets its
   * re-wrapped blob, and the other L2 versions are deleted (nothing references them any
   * more). False, with nothing changed, when the current L2 is not `oldVersion` or an L3 row
   * of the tenant is not in `l3s` (another writer rotated or added one meanwhile).
   */
  async replaceL2Key(
    tenant: string,
    oldVersion: number,
    next: { version: number; wrapped: Buffer },
    l3s: readonly { service: string; version: number; wrapped: Buffer }[],
  ): Promise<boolean> {
    return this.db.transaction(() => {
      const cur = this.stmt('SELECT version FROM l2_keys WHERE tenant = ? AND current = 1').get(tenant) as { version: number } | undefined;
      if (cur?.version !== oldVersion) return false;
      const count = (this.stmt('SELECT COUNT(*) AS n FROM l3_keys WHERE tenant = ?').get(tenant) as { n: number }).n;
      if (count !== l3s.length) return false;
      this.stmt('UPDATE l2_keys SET current = 0 WHERE tenant = ?').run(tenant);
      this.stmt('INSERT INTO l2_keys (tenant, version, wrapped, created_at, current) VALUES (?, ?, ?, ?, 1)').run(tenant, next.version, next.wrapped, Date.now());
      const upd = this.stmt('UPDATE l3_keys SET wrapped = ?, l2_version = ? WHERE tenant = ? AND service = ? AND version = ?');
      for (const l3 of l3s) {
        if (upd.run(l3.wrapped, next.version, tenant, l3.service, l3.version).changes !== 1) throw new StoreConflictError(`L3 ${l3.service} v${l3.version} of ${tenant} vanished during L2 rotation`);
      }
      this.stmt('DELETE FROM l2_keys WHERE tenant = ? AND version <> ?').run(tenant, next.version);
      return true;
    }).immediate();
  }

  /**
   * Wrapped object values in (tenant, uid) order, after (`afterTenant`, `afterUid`) (keyset
   * paging; a uid is unique only within its tenant, migration 6), optionally of one tenant /
   * service, optionally only those whose first byte (the blob format) is `format`.
   * `afterTenant` defaults to `tenant`: a scan of one tenant pages by uid alone.
   */
  async scanWrappedValues(q: { tenant?: string; service?: string; afterTenant?: string; afterUid?: string; format?: number; limit: number }): Promise<WrappedValueRow[]> {
    const where = ['wrapped_value IS NOT NULL'];
    const params: unknown[] = [];
    if (q.afterUid !== undefined) {
      const afterTenant = q.afterTenant ?? q.tenant;
      // Without the tenant of the last row, a scan over every tenant would start over.
      if (afterTenant === undefined) throw new Error('scanWrappedValues: afterUid over every tenant needs afterTenant');
      where.push('(tenant, uid) > (?, ?)');
      params.push(afterTenant, q.afterUid);
    }
    if (q.tenant !== undefined) { where.push('tenant = ?'); params.push(q.tenant); }
    if (q.service !== undefined) { where.push('service = ?'); params.push(q.service); }
    if (q.format !== undefined) { where.push('substr(wrapped_value, 1, 1) = ?'); params.push(Buffer.of(q.format)); }
    params.push(q.limit);
    const rows = this.stmt(`SELECT uid, tenant, service, wrapped_value FROM objects WHERE ${where.join(' AND ')} ORDER BY tenant, uid LIMIT ?`).all(...params) as {
      uid: string; tenant: string; service: string; wrapped_value: Buffer;
    }[];
    return rows.map((r) => ({ uid: r.uid, tenant: r.tenant, service: r.service, wrappedValue: r.wrapped_value }));
  }

  /**
   * Re-wrapping: replaces each object's wrapped value when it is still `expected` (a writer
   * that saved meanwhile wins; its value is wrapped under the current keys anyway). The
   * revision is unchanged: the object's content is the same. Returns how many were replaced.
   */
  async replaceWrappedValues(changes: readonly { tenant: string; uid: string; expected: Buffer; next: Buffer }[]): Promise<number> {
    if (changes.length === 0) return 0;
    const upd = this.stmt('UPDATE objects SET wrapped_value = ? WHERE tenant = ? AND uid = ? AND wrapped_value = ?');
    return this.db.transaction(() => {
      let n = 0;
      for (const c of changes) n += upd.run(c.next, c.tenant, c.uid, c.expected).changes;
      return n;
    }).immediate();
  }

  /** The raw database handle, for tests that inspect query plans and files. */
  get database(): Database.Database {
    return this.db;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Writes already accepted are committed, not dropped.
    if (this.flushTimer !== undefined) clearImmediate(this.flushTimer);
    this.flush();
    await this.durability?.sync().catch(() => undefined);
    await this.durability?.close();
    // Before the main connection: the last one to close checkpoints everything and removes the WAL.
    await this.checkpointer?.close();
    this.closed = true;
    this.statements.clear();
    this.db.close();
  }
}

function applyMigrations(db: Database.Database, migrations: readonly Migration[], latest: number): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  db.transaction(() => {
    const current = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
    if (current > latest) {
      throw new StoreSchemaError(
        `database schema version ${current} is newer than this OpenKCM understands (${latest}); ` +
          'run the OpenKCM version that wrote it, or restore a backup',
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    }
  }).immediate();
}

/**
 * Opens (creating when absent) a SQLite object store and brings its schema up to date.
 * `migrations` is for tests of the migration runner only.
 */
export async function openSqliteStore(path: string, migrations: readonly Migration[] = MIGRATIONS): Promise<SqliteStore> {
  const onDisk = path !== ':memory:' && path !== '';
  // The database directory holds wrapped key material: private to the server's user.
  if (onDisk) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (e) {
    throw new Error(`cannot open the SQLite database ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    if (onDisk) {
      // WAL lets Locate read while a Create commits; FULL makes each commit durable in WAL mode too.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') throw new StoreSchemaError(`cannot switch ${path} to WAL journal mode (got ${String(mode)})`);
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
    applyMigrations(db, migrations, migrations === MIGRATIONS ? LATEST_SCHEMA_VERSION : latest);
  } catch (e) {
    db.close();
    throw e;
  }
  return new SqliteStore(db, path);
}
