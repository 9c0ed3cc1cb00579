// The vault store on PostgreSQL (issue 10 §4): managed objects, the wrapped L2/L3 keys and
// tenant L1 pointers, server-wide wrapped blobs — the VaultStore of src/store/types.ts, with
// the same contract as SQLite (test/store/contract.ts, test/store/hierarchy-contract.ts).
// Several core nodes of one region share one database: every decision two nodes may race on
// is taken by PostgreSQL in one statement or one transaction, never read-then-write in Node.
//
// Driver: `pg` (node-postgres). It is mature (the reference Node driver for over a decade),
// pure JavaScript (no native build beside better-sqlite3 and pkcs11js), and has what this
// store needs: a connection pool, named prepared statements for the hot queries, arrays of
// bytea as parameters (a whole group commit in one statement) and LISTEN/NOTIFY (hierarchy
// changes reach the other nodes at once).
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import type { StoredObject } from '../kmip/object.ts';
import {
  StoreConflictError,
  StoreSchemaError,
  type L2KeyRow,
  type L3KeyRow,
  type LocatePrefilter,
  type TenantL1Row,
  type VaultStore,
  type WrappedValueRow,
} from './types.ts';
import { DATE_COLUMNS } from './attributes-index.ts';
import { DERIVED_COLUMNS, derivedParams, encodeAttributes, newestHead, rowToObject, scanShapes, type ObjectRow as BaseObjectRow } from './rows.ts';
import { PG_LATEST_SCHEMA_VERSION, PG_MIGRATIONS } from './pg-migrations.ts';
import type { Migration } from './migrations.ts';

/**
 * Connections one node holds at most. PostgreSQL's max_connections (default 100) is shared
 * by every node of the region and each connection is a server process: an unbounded pool
 * lets one busy node starve the others and exhaust the server's memory.
 */
export const PG_POOL_MAX = 16;
/**
 * How long opening a connection may take: a server that does not answer (wrong host, a
 * firewall that drops packets) fails the start with a clear error instead of hanging.
 */
export const PG_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Longest a statement may run, lock waits included: a query queued behind a row lock that a
 * hung node (or an operator's open psql transaction) holds fails with an error the client
 * sees, instead of holding its request, and a pool connection, forever. Migrations at start
 * are exempt (they may rewrite large tables).
 */
export const PG_STATEMENT_TIMEOUT_MS = 30_000;
/** Idle connections are closed after this, so a quiet node gives its server slots back. */
export const PG_IDLE_TIMEOUT_MS = 30_000;
/**
 * Most inserts in one group commit: bounds the size of one statement (and of one
 * transaction's lock set) however large the burst is.
 */
export const GROUP_COMMIT_MAX_BATCH = 256;
/** Rows per query while scanning: bounds memory at a million objects (as SQLite's SCAN_PAGE_SIZE). */
export const PG_SCAN_PAGE_SIZE = 256;
/** Rows of the first query of a scan; pages double up to PG_SCAN_PAGE_SIZE (Locate with MaximumItems 1 reads a few rows). */
export const PG_FIRST_PAGE_SIZE = 8;
/** Channel of the hierarchy change notifications (LISTEN/NOTIFY). */
export const HIERARCHY_CHANNEL = 'openkcm_hierarchy';
/** Key of the advisory lock that serialises migrations of nodes starting together. */
const MIGRATION_LOCK_KEY = 0x6f6b636d; // "okcm"

/** The database cannot be reached or refuses us: wrong URL, server down, bad credentials. */
export class StoreConnectionError extends Error {
  override readonly name = 'StoreConnectionError';
}

/** A hierarchy change made by some node (this one included): the others reload what it touched. */
export type HierarchyChange =
  | { kind: 'l3'; tenant: string; service: string; version: number }
  | { kind: 'l2'; tenant: string; version: number }
  | { kind: 'l1'; tenant: string; state: 'active' | 'disabled' };

/**
 * Wait before re-opening a lost notification connection, doubling up to the maximum: a
 * PostgreSQL that is restarting is not hammered with connection attempts by every node.
 */
export const LISTEN_RETRY_MIN_MS = 500;
export const LISTEN_RETRY_MAX_MS = 30_000;
/** application_name of the notification connection (operators see it in pg_stat_activity). */
export const LISTEN_APPLICATION_NAME = 'openkcm-listen';

export interface PostgresStoreOptions {
  /** Pool size; default PG_POOL_MAX. */
  poolMax?: number;
  connectTimeoutMs?: number;
  logger?: Logger;
  /** Replaces the migrations (tests of the migration runner only). */
  migrations?: readonly Migration[];
  /** LISTEN for hierarchy changes of other nodes (default true). */
  listen?: boolean;
  /** Statement limit; default PG_STATEMENT_TIMEOUT_MS. */
  statementTimeoutMs?: number;
}

type ObjectRow = BaseObjectRow<string>;

/** created_seq is BIGINT: read as text (exact), compared as BigInt. */
const OBJECT_COLUMNS = ['uid', 'tenant', 'service', 'object_type', 'state', 'revision', 'created_seq::text AS created_seq', 'attributes', 'wrapped_value'];
const DERIVED_TYPES = ['int', 'int', ...DATE_COLUMNS.map(() => 'bigint')];

function buildScanQuery(tenant: string, filter: LocatePrefilter, states: readonly number[], before: string | undefined, limit: number) {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  let from = 'objects o';
  let order = 'o.created_seq';
  const where: string[] = [];
  // A Name or Object Group filter drives the query from its lookup index, already in
  // creation order (newest first): the join probes objects by primary key per candidate.
  if (filter.name !== undefined) {
    from = 'object_names l JOIN objects o ON o.tenant = l.tenant AND o.uid = l.uid';
    where.push(`l.tenant = ${p(tenant)}`, `l.name = ${p(filter.name)}`);
    order = 'l.created_seq';
  } else if (filter.objectGroup !== undefined) {
    from = 'object_groups l JOIN objects o ON o.tenant = l.tenant AND o.uid = l.uid';
    where.push(`l.tenant = ${p(tenant)}`, `l.grp = ${p(filter.objectGroup)}`);
    order = 'l.created_seq';
  }
  if (before !== undefined) where.push(`${order} < ${p(before)}`);
  where.push(`o.tenant = ${p(tenant)}`);
  if (filter.name !== undefined && filter.objectGroup !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM object_groups g WHERE g.tenant = o.tenant AND g.uid = o.uid AND g.grp = ${p(filter.objectGroup)})`);
  }
  if (filter.objectType !== undefined) where.push(`o.object_type = ${p(filter.objectType)}`);
  if (states.length === 1) where.push(`o.state = ${p(states[0])}`);
  else where.push(`o.state = ANY(${p(states)}::int[])`);
  if (filter.cryptographicAlgorithm !== undefined) where.push(`o.cryptographic_algorithm = ${p(filter.cryptographicAlgorithm)}`);
  if (filter.cryptographicLength !== undefined) where.push(`o.cryptographic_length = ${p(filter.cryptographicLength)}`);
  const cols = OBJECT_COLUMNS.map((c) => 'o.' + c).join(', ');
  return { text: `SELECT ${cols} FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${order} DESC LIMIT ${p(limit)}`, values: params };
}

/** The URL without its password, for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** One line saying what is wrong with the connection and what to fix. */
export function connectionError(url: string, err: unknown): StoreConnectionError {
  const e = err as { code?: string; message?: string };
  const where = redactDatabaseUrl(url);
  let what: string;
  switch (e.code) {
    case '28P01':
    case '28000':
      what = `${e.message ?? 'authentication failed'} — check the user and password in the database URL`;
      break;
    case '3D000':
      what = `${e.message ?? 'database does not exist'} — create it (createdb) or fix the database name in the URL`;
      break;
    case 'ECONNREFUSED':
      what = 'connection refused — is PostgreSQL running and listening on that host and port?';
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      what = 'host name not found — check the host in the database URL';
      break;
    default:
      what = /timeout/i.test(e.message ?? '')
        ? `no answer within ${PG_CONNECT_TIMEOUT_MS / 1000} s — check the host and port, and that a firewall lets the connection through`
        : (e.message ?? String(err));
  }
  return new StoreConnectionError(`cannot connect to PostgreSQL at ${where}: ${what}`, { cause: err });
}

/** Parses and checks a database URL; a clear one-line error for anything that is not postgres://… */
export function parseDatabaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StoreConnectionError(`the database URL ${JSON.stringify(redactDatabaseUrl(url) === '(unparseable URL)' ? url.replace(/:[^:@/]*@/, ':***@') : url)} is not a URL; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new StoreConnectionError(`the database URL ${redactDatabaseUrl(url)} is not a PostgreSQL URL (scheme ${u.protocol.replace(/:$/, '')}); write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  if (u.pathname === '' || u.pathname === '/') {
    throw new StoreConnectionError(`the database URL ${redactDatabaseUrl(url)} names no database; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  return u;
}

interface PendingInsert {
  obj: StoredObject;
  attrs: Buffer;
  d: ReturnType<typeof derivedParams>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class PostgresStore implements VaultStore {
  readonly kind = 'postgres' as const;
  private closed = false;
  private queue: PendingInsert[] = [];
  private flushing: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  private readonly changes = new EventEmitter();

  /** Use openPostgresStore(). */
  constructor(
    private readonly pool: pg.Pool,
    readonly url: string,
    private readonly log: Logger | undefined,
  ) {}

  private assertOpen(): void {
    if (this.closed) throw new Error('the object store is closed');
  }

  private async q<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], name?: string): Promise<pg.QueryResult<R>> {
    this.assertOpen();
    return this.pool.query<R>(name !== undefined ? { name, text, values } : { text, values });
  }

  /** Runs fn in one transaction on one pooled connection; rolled back when it throws. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen();
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  // ------------------------------------------------------------------ objects

  /**
   * Group commit: inserts wait in a queue while the previous batch commits; the next batch
   * takes all of them (up to GROUP_COMMIT_MAX_BATCH) in one statement (insertBatch), so a
   * burst of Creates costs one round trip and one commit (one WAL flush) instead of one each.
   * Under light load a batch is a single insert and waits for nothing. A duplicate
   * (tenant, uid) rejects only its own promise (ON CONFLICT DO NOTHING, then the missing
   * rows are the conflicts). Every promise settles after COMMIT: acknowledged ⇒ committed.
   */
  async insert(obj: StoredObject): Promise<void> {
    this.assertOpen();
    const attrs = encodeAttributes(obj);
    const d = derivedParams(obj);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ obj: { ...obj }, attrs, d, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    // Let the inserts issued in this turn of the event loop join the first batch.
    await new Promise<void>((r) => setImmediate(r));
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, GROUP_COMMIT_MAX_BATCH);
        try {
          await this.insertBatch(batch);
        } catch (e) {
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async insertBatch(batch: PendingInsert[]): Promise<void> {
    // Within a batch a (tenant, uid) may repeat: the first call wins, as it would have alone.
    const seen = new Set<string>();
    const dupInBatch = new Set<number>();
    batch.forEach((w, i) => {
      const k = JSON.stringify([w.obj.tenant, w.obj.uid]);
      if (seen.has(k)) dupInBatch.add(i);
      seen.add(k);
    });
    const rows = batch.filter((_, i) => !dupInBatch.has(i));
    const cols = ['tenant', 'uid', 'service', 'object_type', 'state', 'revision', 'attributes', 'wrapped_value', ...DERIVED_COLUMNS];
    const types = ['text', 'text', 'text', 'int', 'int', 'int', 'bytea', 'bytea', ...DERIVED_TYPES];
    const values: unknown[][] = cols.map(() => []);
    const names: unknown[][] = [[], [], []];
    const groups: unknown[][] = [[], [], []];
    for (const w of rows) {
      const o = w.obj;
      [o.tenant, o.uid, o.service, o.objectType, o.state, o.revision, w.attrs, o.wrappedValue ?? null, ...w.d.values].forEach((x, j) => values[j]!.push(x));
      for (const n of w.d.names) [o.tenant, o.uid, n].forEach((x, j) => names[j]!.push(x));
      for (const g of w.d.groups) [o.tenant, o.uid, g].forEach((x, j) => groups[j]!.push(x));
    }
    const k = cols.length;
    // The whole batch is ONE statement, so ONE round trip and one commit however many
    // objects it holds: the rows come in as arrays (unnest), take their creation sequence
    // numbers in call order (WITH ORDINALITY; nextval is evaluated after the ORDER BY, so
    // Locate's newest-first order follows the calls), and the Name / Object Group lookups
    // of the rows that went in are written by the same statement. A (tenant, uid) already
    // stored is skipped (ON CONFLICT DO NOTHING) and missing from RETURNING: that insert's
    // conflict.
    const text =
      `WITH v AS (SELECT t.*, nextval('objects_created_seq') AS seq FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) ` +
      `WITH ORDINALITY AS t(${cols.join(', ')}, ord) ORDER BY ord), ` +
      `ins AS (INSERT INTO objects (${cols.join(', ')}, created_seq) SELECT ${cols.join(', ')}, seq FROM v ORDER BY ord ` +
      'ON CONFLICT (tenant, uid) DO NOTHING RETURNING tenant, uid, created_seq), ' +
      `n AS (INSERT INTO object_names (tenant, uid, name, created_seq) SELECT ins.tenant, ins.uid, x.name, ins.created_seq FROM ins ` +
      `JOIN unnest($${k + 1}::text[], $${k + 2}::text[], $${k + 3}::text[]) AS x(tenant, uid, name) ON x.tenant = ins.tenant AND x.uid = ins.uid), ` +
      `g AS (INSERT INTO object_groups (tenant, uid, grp, created_seq) SELECT ins.tenant, ins.uid, x.grp, ins.created_seq FROM ins ` +
      `JOIN unnest($${k + 4}::text[], $${k + 5}::text[], $${k + 6}::text[]) AS x(tenant, uid, grp) ON x.tenant = ins.tenant AND x.uid = ins.uid) ` +
      'SELECT tenant, uid FROM ins';
    const res = await this.q<{ tenant: string; uid: string }>(text, [...values, ...names, ...groups], 'okv_insert_batch');
    const inserted = new Set(res.rows.map((r) => JSON.stringify([r.tenant, r.uid])));
    batch.forEach((w, i) => {
      if (!dupInBatch.has(i) && inserted.has(JSON.stringify([w.obj.tenant, w.obj.uid]))) w.resolve();
      else w.reject(new StoreConflictError(`an object with unique identifier ${w.obj.uid} already exists`));
    });
  }

  /**
   * One statement: the row is updated only at the revision the caller read (a concurrent
   * writer on any node makes it match nothing: READ COMMITTED re-checks the WHERE after
   * waiting for the other's row lock), and the Name/Object Group lookups are brought in line
   * in the same statement, so a reader never sees one without the other.
   */
  async update(obj: StoredObject): Promise<void> {
    const attrs = encodeAttributes(obj);
    const d = derivedParams(obj);
    const { uid, tenant, revision } = obj;
    const sets = ['service = $4', 'object_type = $5', 'state = $6', 'revision = revision + 1', 'attributes = $7', 'wrapped_value = $8',
      ...DERIVED_COLUMNS.map((c, i) => `${c} = $${11 + i}::${DERIVED_TYPES[i]}`)];
    const text =
      `WITH u AS (UPDATE objects SET ${sets.join(', ')} WHERE tenant = $1 AND uid = $2 AND revision = $3 RETURNING tenant, uid, created_seq), ` +
      'dn AS (DELETE FROM object_names n USING u WHERE n.tenant = u.tenant AND n.uid = u.uid AND NOT (n.name = ANY($9::text[]))), ' +
      'dg AS (DELETE FROM object_groups g USING u WHERE g.tenant = u.tenant AND g.uid = u.uid AND NOT (g.grp = ANY($10::text[]))), ' +
      'inn AS (INSERT INTO object_names (tenant, uid, name, created_seq) SELECT u.tenant, u.uid, x, u.created_seq FROM u, unnest($9::text[]) x ON CONFLICT DO NOTHING), ' +
      'ing AS (INSERT INTO object_groups (tenant, uid, grp, created_seq) SELECT u.tenant, u.uid, x, u.created_seq FROM u, unnest($10::text[]) x ON CONFLICT DO NOTHING) ' +
      'SELECT created_seq FROM u';
    const res = await this.q(text, [tenant, uid, revision, obj.service, obj.objectType, obj.state, attrs, obj.wrappedValue ?? null, d.names, d.groups, ...d.values], 'okv_update');
    if (res.rowCount === 0) {
      const cur = await this.q<{ revision: number }>('SELECT revision FROM objects WHERE tenant = $1 AND uid = $2', [tenant, uid], 'okv_revision');
      throw new StoreConflictError(
        cur.rows.length === 0
          ? `object ${uid} no longer exists`
          : `object ${uid} was changed concurrently (revision ${revision} expected, ${cur.rows[0]!.revision} stored)`,
      );
    }
    obj.revision = revision + 1;
  }

  async get(tenant: string, uid: string): Promise<StoredObject | undefined> {
    const res = await this.q<ObjectRow>(`SELECT ${OBJECT_COLUMNS.join(', ')} FROM objects WHERE tenant = $1 AND uid = $2`, [tenant, uid], 'okv_get');
    const row = res.rows[0];
    return row === undefined ? undefined : rowToObject(row);
  }

  async delete(tenant: string, uid: string): Promise<boolean> {
    // ON DELETE CASCADE removes the name and group rows.
    return ((await this.q('DELETE FROM objects WHERE tenant = $1 AND uid = $2', [tenant, uid], 'okv_delete')).rowCount ?? 0) > 0;
  }

  async *scan(tenant: string, filter: LocatePrefilter): AsyncIterable<StoredObject> {
    this.assertOpen();
    const shapes = scanShapes(filter);
    if (shapes.length === 0) return;
    if (shapes.length === 1) {
      for await (const row of this.pages(tenant, filter, shapes[0]!)) yield rowToObject(row);
      return;
    }
    // One index walk per state, merged newest first.
    const cursors = shapes.map((states) => this.pages(tenant, filter, states)[Symbol.asyncIterator]());
    const heads = await Promise.all(cursors.map((c) => c.next()));
    for (;;) {
      const best = newestHead(heads);
      if (best < 0) return;
      const row = heads[best]!.value as ObjectRow;
      heads[best] = await cursors[best]!.next();
      yield rowToObject(row);
    }
  }

  /** Rows of one query shape, newest first, in growing pages (keyset paging on created_seq). */
  private async *pages(tenant: string, filter: LocatePrefilter, states: readonly number[]): AsyncGenerator<ObjectRow, void, undefined> {
    let limit = PG_FIRST_PAGE_SIZE;
    let before: string | undefined;
    for (;;) {
      const q = buildScanQuery(tenant, filter, states, before, limit);
      const rows = (await this.q<ObjectRow>(q.text, q.values)).rows;
      yield* rows;
      if (rows.length < limit) return;
      before = rows[rows.length - 1]!.created_seq;
      limit = Math.min(limit * 2, PG_SCAN_PAGE_SIZE);
    }
  }

  /**
   * EXPLAIN of every query scan() runs for this filter, first page (PG_FIRST_PAGE_SIZE rows)
   * and a later keyset page of `pageSize` rows (default PG_SCAN_PAGE_SIZE), one string per
   * plan line. Tests use it to prove Locate walks indexes, never the table. Unlike SQLite,
   * PostgreSQL plans by cost: with few matching rows it may fetch them through a bitmap and
   * sort them, which is then the cheaper plan; the ordered index walk wins as tables grow.
   */
  async explainScan(tenant: string, filter: LocatePrefilter, which: 'first' | 'later' | 'both' = 'both'): Promise<string[]> {
    const out: string[] = [];
    const pages: Array<[string | undefined, number]> = [];
    if (which !== 'later') pages.push([undefined, PG_FIRST_PAGE_SIZE]);
    if (which !== 'first') pages.push([String(Number.MAX_SAFE_INTEGER), PG_SCAN_PAGE_SIZE]);
    for (const states of scanShapes(filter)) {
      for (const [before, limit] of pages) {
        const q = buildScanQuery(tenant, filter, states, before, limit);
        const plan = await this.q<{ 'QUERY PLAN': string }>(`EXPLAIN ${q.text}`, q.values);
        out.push(...plan.rows.map((r) => r['QUERY PLAN']));
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ system blobs

  async getSystemBlob(name: string): Promise<Buffer | undefined> {
    return (await this.q<{ blob: Buffer }>('SELECT blob FROM system_blobs WHERE name = $1', [name])).rows[0]?.blob;
  }

  async putSystemBlobIfAbsent(name: string, blob: Buffer): Promise<Buffer> {
    // A concurrent insert of the same name makes ours wait for it and then do nothing; the
    // SELECT (a new snapshot under READ COMMITTED) then sees the winner.
    await this.q('INSERT INTO system_blobs (name, blob, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [name, blob, Date.now()]);
    return (await this.q<{ blob: Buffer }>('SELECT blob FROM system_blobs WHERE name = $1', [name])).rows[0]!.blob;
  }

  async deleteSystemBlob(name: string): Promise<boolean> {
    return ((await this.q('DELETE FROM system_blobs WHERE name = $1', [name])).rowCount ?? 0) > 0;
  }

  // ------------------------------------------------------------------ key hierarchy

  async getTenantL1(tenant: string): Promise<TenantL1Row | undefined> {
    const r = (await this.q<{ tenant: string; provider_ref: string; state: 'active' | 'disabled'; updated_at: string }>(
      'SELECT tenant, provider_ref, state, updated_at FROM tenants_l1 WHERE tenant = $1', [tenant], 'okv_l1',
    )).rows[0];
    return r === undefined ? undefined : { tenant: r.tenant, providerRef: r.provider_ref, state: r.state, updatedAt: Number(r.updated_at) };
  }

  async putTenantL1(tenant: string, providerRef: string, state: 'active' | 'disabled'): Promise<void> {
    await this.tx(async (c) => {
      await c.query(
        'INSERT INTO tenants_l1 (tenant, provider_ref, state, updated_at) VALUES ($1, $2, $3, $4) ' +
          'ON CONFLICT (tenant) DO UPDATE SET provider_ref = excluded.provider_ref, state = excluded.state, updated_at = excluded.updated_at',
        [tenant, providerRef, state, Date.now()],
      );
      await this.notify(c, { kind: 'l1', tenant, state });
    });
  }

  async listHierarchyTenants(): Promise<string[]> {
    const rows = (await this.q<{ tenant: string }>('SELECT tenant FROM tenants_l1 UNION SELECT tenant FROM l2_keys ORDER BY tenant')).rows;
    return rows.map((r) => r.tenant);
  }

  async listL2Keys(tenant: string): Promise<L2KeyRow[]> {
    const rows = (await this.q<{ tenant: string; version: number; wrapped: Buffer; created_at: string; current: boolean }>(
      'SELECT tenant, version, wrapped, created_at, current FROM l2_keys WHERE tenant = $1 ORDER BY version', [tenant], 'okv_l2',
    )).rows;
    return rows.map((r) => ({ tenant: r.tenant, version: r.version, wrapped: r.wrapped, createdAt: Number(r.created_at), current: r.current }));
  }

  async insertFirstL2Key(tenant: string, wrapped: Buffer): Promise<boolean> {
    // The partial unique index l2_keys_current holds one current L2 per tenant: a tenant that
    // has one (from any node, even after rotations) makes this insert do nothing.
    return this.tx(async (c) => {
      const res = await c.query('INSERT INTO l2_keys (tenant, version, wrapped, created_at, current) VALUES ($1, 1, $2, $3, true) ON CONFLICT DO NOTHING', [tenant, wrapped, Date.now()]);
      if (res.rowCount !== 1) return false;
      await this.notify(c, { kind: 'l2', tenant, version: 1 });
      return true;
    });
  }

  async listL3Keys(tenant: string, service?: string): Promise<L3KeyRow[]> {
    const cols = 'tenant, service, version, l2_version, wrapped, created_at, current';
    const rows = (
      service === undefined
        ? await this.q(`SELECT ${cols} FROM l3_keys WHERE tenant = $1 ORDER BY service, version`, [tenant], 'okv_l3_all')
        : await this.q(`SELECT ${cols} FROM l3_keys WHERE tenant = $1 AND service = $2 ORDER BY version`, [tenant, service], 'okv_l3')
    ).rows as { tenant: string; service: string; version: number; l2_version: number; wrapped: Buffer; created_at: string; current: boolean }[];
    return rows.map((r) => ({
      tenant: r.tenant, service: r.service, version: r.version, l2Version: r.l2_version, wrapped: r.wrapped, createdAt: Number(r.created_at), current: r.current,
    }));
  }

  /**
   * Row-locked: the tenant's current L2 row is locked FOR SHARE (an L2 rotation, which locks
   * it FOR UPDATE, waits for us and then counts our row, or we wait for it and find the L2
   * version changed), then the service's current L3 row FOR UPDATE (two nodes rotating the
   * same service: the second sees the first's commit). The unique indexes settle the rest:
   * a duplicate version or a second current row rolls the transaction back → false.
   */
  async insertL3Key(row: { tenant: string; service: string; version: number; l2Version: number; wrapped: Buffer }, expectedCurrent: number | undefined): Promise<boolean> {
    try {
      return await this.tx(async (c) => {
        const l2 = await c.query<{ version: number }>('SELECT version FROM l2_keys WHERE tenant = $1 AND current FOR SHARE', [row.tenant]);
        // An L3 wrapped by an L2 that is no longer current would be lost at the next L2 rotation.
        if (l2.rows[0]?.version !== row.l2Version) return false;
        const cur = await c.query<{ version: number }>('SELECT version FROM l3_keys WHERE tenant = $1 AND service = $2 AND current FOR UPDATE', [row.tenant, row.service]);
        if (cur.rows[0]?.version !== expectedCurrent) return false;
        await c.query('UPDATE l3_keys SET current = false WHERE tenant = $1 AND service = $2 AND current', [row.tenant, row.service]);
        const ins = await c.query(
          'INSERT INTO l3_keys (tenant, service, version, l2_version, wrapped, created_at, current) VALUES ($1, $2, $3, $4, $5, $6, true) ON CONFLICT DO NOTHING',
          [row.tenant, row.service, row.version, row.l2Version, row.wrapped, Date.now()],
        );
        if (ins.rowCount !== 1) throw new L3RaceLost();
        await this.notify(c, { kind: 'l3', tenant: row.tenant, service: row.service, version: row.version });
        return true;
      });
    } catch (e) {
      if (e instanceof L3RaceLost || (e as { code?: string }).code === '23505') return false;
      throw e;
    }
  }

  async replaceL2Key(
    tenant: string,
    oldVersion: number,
    next: { version: number; wrapped: Buffer },
    l3s: readonly { service: string; version: number; wrapped: Buffer }[],
  ): Promise<boolean> {
    try {
      return await this.tx(async (c) => {
        // FOR UPDATE on the current L2 excludes L3 inserts (FOR SHARE) while we count and re-wrap.
        const cur = await c.query<{ version: number }>('SELECT version FROM l2_keys WHERE tenant = $1 AND current FOR UPDATE', [tenant]);
        if (cur.rows[0]?.version !== oldVersion) return false;
        const count = Number((await c.query<{ n: string }>('SELECT COUNT(*) AS n FROM l3_keys WHERE tenant = $1', [tenant])).rows[0]!.n);
        if (count !== l3s.length) return false;
        await c.query('UPDATE l2_keys SET current = false WHERE tenant = $1 AND current', [tenant]);
        await c.query('INSERT INTO l2_keys (tenant, version, wrapped, created_at, current) VALUES ($1, $2, $3, $4, true)', [tenant, next.version, next.wrapped, Date.now()]);
        const res = await c.query(
          'UPDATE l3_keys k SET wrapped = v.wrapped, l2_version = $2 FROM unnest($3::text[], $4::int[], $5::bytea[]) AS v(service, version, wrapped) ' +
            'WHERE k.tenant = $1 AND k.service = v.service AND k.version = v.version',
          [tenant, next.version, l3s.map((l) => l.service), l3s.map((l) => l.version), l3s.map((l) => l.wrapped)],
        );
        if (res.rowCount !== l3s.length) throw new StoreConflictError(`an L3 row of ${tenant} vanished during L2 rotation`);
        await c.query('DELETE FROM l2_keys WHERE tenant = $1 AND version <> $2', [tenant, next.version]);
        await this.notify(c, { kind: 'l2', tenant, version: next.version });
        return true;
      });
    } catch (e) {
      if ((e as { code?: string }).code === '23505') return false;
      throw e;
    }
  }

  async scanWrappedValues(q: { tenant?: string; service?: string; afterTenant?: string; afterUid?: string; format?: number; limit: number }): Promise<WrappedValueRow[]> {
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where = ['wrapped_value IS NOT NULL'];
    if (q.afterUid !== undefined) {
      const afterTenant = q.afterTenant ?? q.tenant;
      // Without the tenant of the last row, a scan over every tenant would start over.
      if (afterTenant === undefined) throw new Error('scanWrappedValues: afterUid over every tenant needs afterTenant');
      where.push(`(tenant, uid) > (${p(afterTenant)}, ${p(q.afterUid)})`);
    }
    if (q.tenant !== undefined) where.push(`tenant = ${p(q.tenant)}`);
    if (q.service !== undefined) where.push(`service = ${p(q.service)}`);
    if (q.format !== undefined) where.push(`get_byte(wrapped_value, 0) = ${p(q.format)}`);
    // The primary key (tenant, uid) is the walk.
    const rows = (await this.q<{ uid: string; tenant: string; service: string; wrapped_value: Buffer }>(
      `SELECT uid, tenant, service, wrapped_value FROM objects WHERE ${where.join(' AND ')} ORDER BY tenant, uid LIMIT ${p(q.limit)}`, params,
    )).rows;
    return rows.map((r) => ({ uid: r.uid, tenant: r.tenant, service: r.service, wrappedValue: r.wrapped_value }));
  }

  async replaceWrappedValues(changes: readonly { tenant: string; uid: string; expected: Buffer; next: Buffer }[]): Promise<number> {
    if (changes.length === 0) return 0;
    // Compare-and-set in one statement: a value saved meanwhile (by any node) is left alone.
    const res = await this.q(
      'UPDATE objects o SET wrapped_value = c.next FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[]) AS c(tenant, uid, expected, next) ' +
        'WHERE o.tenant = c.tenant AND o.uid = c.uid AND o.wrapped_value = c.expected',
      [changes.map((c) => c.tenant), changes.map((c) => c.uid), changes.map((c) => c.expected), changes.map((c) => c.next)],
    );
    return res.rowCount ?? 0;
  }

  // ------------------------------------------------------------------ notifications

  /** NOTIFY inside the writing transaction: delivered to listeners only if it commits. */
  private async notify(c: pg.PoolClient, change: HierarchyChange): Promise<void> {
    await c.query('SELECT pg_notify($1, $2)', [HIERARCHY_CHANNEL, JSON.stringify(change)]);
  }

  /**
   * Hierarchy changes committed by any node on this database (this one included), through
   * LISTEN/NOTIFY. Returns the function that unsubscribes.
   */
  onHierarchyChange(fn: (c: HierarchyChange) => void): () => void {
    this.changes.on('change', fn);
    return () => this.changes.off('change', fn);
  }

  /**
   * The notification connection was lost and is back: changes made meanwhile were not
   * delivered (NOTIFY is not queued for a listener that is gone), so whoever holds keys
   * re-reads them. Returns the function that unsubscribes.
   */
  onResync(fn: () => void): () => void {
    this.changes.on('resync', fn);
    return () => this.changes.off('resync', fn);
  }

  /** Starts the LISTEN connection (openPostgresStore does, unless listen: false). */
  async listen(): Promise<void> {
    if (this.listener !== undefined || this.closed) return;
    const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS, application_name: LISTEN_APPLICATION_NAME });
    let lost = false;
    const onLost = (why: string) => {
      if (lost) return;
      lost = true;
      if (this.listener === c) this.listener = undefined;
      c.end().catch(() => undefined);
      if (this.closed) return;
      this.log?.error({ event: 'pg_listen_lost', err: why }, 'PostgreSQL notification connection lost; reconnecting');
      this.scheduleRelisten(LISTEN_RETRY_MIN_MS);
    };
    c.on('error', (err) => onLost(err.message));
    c.on('end', () => onLost('connection ended'));
    c.on('notification', (m) => {
      if (m.channel !== HIERARCHY_CHANNEL || m.payload === undefined) return;
      try {
        this.changes.emit('change', JSON.parse(m.payload) as HierarchyChange);
      } catch (err) {
        this.log?.warn({ event: 'pg_notify_bad_payload', err: (err as Error).message }, 'ignored a malformed hierarchy notification');
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${HIERARCHY_CHANNEL}`);
    } catch (e) {
      lost = true;
      await c.end().catch(() => undefined);
      throw e;
    }
    this.listener = c;
  }

  private relistenTimer: NodeJS.Timeout | undefined;

  private scheduleRelisten(delayMs: number): void {
    if (this.closed || this.relistenTimer !== undefined) return;
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = undefined;
      this.listen().then(
        () => {
          this.log?.info({ event: 'pg_listen_restored' }, 'PostgreSQL notification connection restored');
          this.changes.emit('resync');
        },
        (err: Error) => {
          this.log?.warn({ event: 'pg_listen_retry', err: err.message, retryInMs: Math.min(delayMs * 2, LISTEN_RETRY_MAX_MS) }, 'PostgreSQL notification connection not restored yet');
          this.scheduleRelisten(Math.min(delayMs * 2, LISTEN_RETRY_MAX_MS));
        },
      );
    }, delayMs);
    this.relistenTimer.unref();
  }

  /** The pool (tests that inspect the database directly). */
  get database(): pg.Pool {
    return this.pool;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Inserts already accepted are committed, not dropped.
    while (this.flushing !== undefined) await this.flushing;
    this.closed = true;
    if (this.relistenTimer !== undefined) clearTimeout(this.relistenTimer);
    this.changes.removeAllListeners();
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
    await this.pool.end();
  }
}

class L3RaceLost extends Error {}

/**
 * Applies every migration above the database's version, in one transaction under an advisory
 * lock. `table` names the version table: the vault's is schema_migrations; the CMK's
 * governance (src/store/pg-governance.ts) keeps its own numbers in another table, so neither
 * schema can be mistaken for the other.
 */
export async function applyMigrations(pool: pg.Pool, migrations: readonly Migration[], latest: number, table = 'schema_migrations', lockKey = MIGRATION_LOCK_KEY): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SET LOCAL statement_timeout = 0');
    // Two nodes starting together: the second waits here and then finds nothing to do.
    await c.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
    await c.query(`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const current = Number((await c.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0) AS v FROM ${table}`)).rows[0]!.v);
    if (current > latest) {
      throw new StoreSchemaError(
        `database schema version ${current} is newer than this OpenKCM understands (${latest}); ` +
          'run the OpenKCM version that wrote it, or restore a backup',
      );
    }
    for (const m of migrations) {
      if (m.version <= current) continue;
      await c.query(m.sql);
      await c.query(`INSERT INTO ${table} (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, new Date().toISOString()]);
    }
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

/**
 * A pool on `url` whose first connection has been made: a URL that is not one, a server that
 * does not answer or refused credentials fail here with a one-line StoreConnectionError (the
 * pool is closed again), not at the first query. Shared by the vault and the CMK's governance.
 */
export async function openCheckedPool(url: string, o: {
  max: number;
  connectTimeoutMs?: number | undefined;
  statementTimeoutMs?: number | undefined;
  applicationName: string;
  logger?: Logger | undefined;
}): Promise<pg.Pool> {
  parseDatabaseUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: o.max,
    connectionTimeoutMillis: o.connectTimeoutMs ?? PG_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: PG_IDLE_TIMEOUT_MS,
    statement_timeout: o.statementTimeoutMs ?? PG_STATEMENT_TIMEOUT_MS,
    application_name: o.applicationName,
  });
  // An idle connection dropped by the server emits here; unhandled it would end the process.
  pool.on('error', (err) => o.logger?.error({ event: 'pg_pool_error', err: err.message }, 'PostgreSQL connection lost (the pool reconnects)'));
  try {
    const c = await pool.connect();
    c.release();
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw connectionError(url, e);
  }
  return pool;
}

/**
 * Connects to PostgreSQL at `url` (postgres://USER:PASSWORD@HOST:PORT/DATABASE), brings the
 * schema up to date and returns the store. A URL that is not one, a server that does not
 * answer, refused credentials or a missing database fail with a one-line
 * StoreConnectionError; a database at a newer schema with StoreSchemaError.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const pool = await openCheckedPool(url, {
    max: opts.poolMax ?? PG_POOL_MAX,
    connectTimeoutMs: opts.connectTimeoutMs,
    statementTimeoutMs: opts.statementTimeoutMs,
    applicationName: 'openkcm',
    logger: opts.logger,
  });
  try {
    const migrations = opts.migrations ?? PG_MIGRATIONS;
    const latest = opts.migrations === undefined ? PG_LATEST_SCHEMA_VERSION : (migrations.at(-1)?.version ?? 0);
    await applyMigrations(pool, migrations, latest);
    const store = new PostgresStore(pool, url, opts.logger);
    if (opts.listen !== false) await store.listen();
    return store;
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
}
