import type { StoredObject } from '../kmip/object.ts';

/**
 * Columns the store indexes so that Locate stays fast at a million objects. Every field
 * is optional; the store returns candidates matching all given fields, newest first, and
 * the Locate operation applies the exact attribute matching of s.6.1.28 on top.
 */
export interface LocatePrefilter {
  objectType?: number;
  /** Any of these states. */
  states?: number[];
  /** Exact Name Value match (any of the object's names). */
  name?: string;
  cryptographicAlgorithm?: number;
  cryptographicLength?: number;
  objectGroup?: string;
  /** Include objects whose value was destroyed (Storage Status Mask Destroyed Storage, 2.x). */
  includeDestroyed?: boolean;
}

export interface UpdateOptions {
  /**
   * false: resolve once the change is committed (every reader sees it) without waiting for
   * the flush that makes it durable, which still follows within one WAL flush (SQLite; a
   * PostgreSQL commit is durable when it returns anyway). Only for changes that a crash may
   * lose without harm, documented where used (Get's Fresh = false, KMIP 2.1 §4.19).
   * Default true: resolved ⇒ on disk.
   */
  waitForDisk?: boolean;
}

/**
 * Persistence of managed objects (DESIGN.md §5). Async because a PostgreSQL store will
 * follow; the SQLite implementation answers synchronously inside.
 * All calls are scoped by tenant: an object of another tenant is invisible. An object's key
 * is (tenant, uid): a Unique Identifier is unique within its tenant only, so two tenants may
 * hold the same one independently (issue 16 — a global key made Import an existence oracle
 * across tenants, DESIGN.md §3).
 */
export interface ObjectStore {
  /** StoreConflictError when the tenant already holds an object with this uid (never for another tenant's). */
  insert(obj: StoredObject): Promise<void>;
  /**
   * Replaces the object. Fails with StoreConflictError when `obj.revision` is not the
   * stored revision (another writer got there first); on success the stored revision is
   * obj.revision + 1 and the caller's object is updated to match.
   */
  update(obj: StoredObject, opts?: UpdateOptions): Promise<void>;
  get(tenant: string, uid: string): Promise<StoredObject | undefined>;
  /** Candidates for Locate, newest first (by creation order). */
  scan(tenant: string, filter: LocatePrefilter): AsyncIterable<StoredObject>;
  /** Physically removes the row (used only by tests and by Undo); Destroy keeps metadata. */
  delete(tenant: string, uid: string): Promise<boolean>;
  close(): Promise<void>;
}

export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}

/**
 * The store cannot take writes: its file system is full, read-only, or failing (issue 16
 * §4). Nothing of the failed write was stored; earlier commits are intact, and writes
 * resume by themselves once the condition is gone (no restart). The KMIP layer answers it
 * with a Result Reason and this message, never as an internal error.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(readonly condition: 'full' | 'read-only' | 'io', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The database schema is not one this code can use (newer than it, or damaged). */
export class StoreSchemaError extends Error {
  override readonly name = 'StoreSchemaError';
}

/** A tenant's L1 pointer (migration 4): provider description (JSON, no secrets) and state. */
export interface TenantL1Row {
  tenant: string;
  providerRef: string;
  state: 'active' | 'disabled';
  updatedAt: number;
}

/** An L2 key wrapped by the tenant's L1. */
export interface L2KeyRow {
  tenant: string;
  version: number;
  wrapped: Buffer;
  createdAt: number;
  current: boolean;
}

/** A version of a service's L3 key, wrapped by the tenant's L2 version `l2Version`. */
export interface L3KeyRow {
  tenant: string;
  service: string;
  version: number;
  l2Version: number;
  wrapped: Buffer;
  createdAt: number;
  current: boolean;
}

export interface WrappedValueRow {
  uid: string;
  tenant: string;
  service: string;
  wrappedValue: Buffer;
}

/**
 * Server-wide wrapped blobs (the interim data-encryption key): only wrapped bytes, never
 * plaintext.
 */
export interface SystemBlobStore {
  getSystemBlob(name: string): Promise<Buffer | undefined>;
  /**
   * Stores a blob under `name` unless one is already there; returns the blob that is stored
   * afterwards (ours, or the one another process wrote first), so two servers starting
   * together on one database agree on a single key.
   */
  putSystemBlobIfAbsent(name: string, blob: Buffer): Promise<Buffer>;
  deleteSystemBlob(name: string): Promise<boolean>;
}

/**
 * Persistence of the key hierarchy (src/hierarchy): only wrapped blobs cross it. Every
 * method that two nodes on one database may race on decides atomically in the store and
 * reports who won (false = another writer got there first; the caller re-reads).
 */
export interface HierarchyStore {
  getTenantL1(tenant: string): Promise<TenantL1Row | undefined>;
  putTenantL1(tenant: string, providerRef: string, state: 'active' | 'disabled'): Promise<void>;
  /** Every tenant that has an L1 pointer or an L2. */
  listHierarchyTenants(): Promise<string[]>;
  listL2Keys(tenant: string): Promise<L2KeyRow[]>;
  /**
   * Inserts the tenant's first L2 (version 1, current) unless the tenant has one already;
   * false when another writer got there first (the caller re-reads and uses that one).
   */
  insertFirstL2Key(tenant: string, wrapped: Buffer): Promise<boolean>;
  listL3Keys(tenant: string, service?: string): Promise<L3KeyRow[]>;
  /**
   * Adds an L3 version and makes it the service's current one. The version is chosen by the
   * caller (it is bound into the blob's associated data), so a concurrent writer that took
   * the same number makes this return false; `expectedCurrent` (undefined: the service has
   * no L3 yet) guards against rotating past a version this caller has not seen.
   */
  insertL3Key(row: { tenant: string; service: string; version: number; l2Version: number; wrapped: Buffer }, expectedCurrent: number | undefined): Promise<boolean>;
  /**
   * L2 rotation in one transaction: the new L2 becomes current, every listed L3 row gets its
   * re-wrapped blob, and the other L2 versions are deleted (nothing references them any
   * more). False, with nothing changed, when the current L2 is not `oldVersion` or an L3 row
   * of the tenant is not in `l3s` (another writer rotated or added one meanwhile).
   */
  replaceL2Key(
    tenant: string,
    oldVersion: number,
    next: { version: number; wrapped: Buffer },
    l3s: readonly { service: string; version: number; wrapped: Buffer }[],
  ): Promise<boolean>;
  /**
   * Wrapped object values in (tenant, uid) order, optionally of one tenant / service,
   * optionally only those whose first byte (the blob format) is `format`. Keyset paging:
   * pass the last row's tenant as `afterTenant` and its uid as `afterUid` (a uid is unique
   * only within its tenant); with `tenant` set, `afterTenant` may be left out.
   */
  scanWrappedValues(q: { tenant?: string; service?: string; afterTenant?: string; afterUid?: string; format?: number; limit: number }): Promise<WrappedValueRow[]>;
  /**
   * Re-wrapping: replaces each object's wrapped value when it is still `expected` (a writer
   * that saved meanwhile wins). The revision is unchanged. Returns how many were replaced.
   */
  replaceWrappedValues(changes: readonly { tenant: string; uid: string; expected: Buffer; next: Buffer }[]): Promise<number>;
}

/**
 * Everything the hierarchy engine and the runtime keep in a regional vault: managed objects,
 * the wrapped L2/L3 keys and tenant L1 pointers, and server-wide wrapped blobs. SQLite
 * (src/store/sqlite.ts) and PostgreSQL (src/store/postgres.ts) implement it and pass one
 * contract suite (test/store/contract.ts, test/store/hierarchy-contract.ts).
 */
export interface VaultStore extends ObjectStore, HierarchyStore, SystemBlobStore {
  /** Which backend, for logs and Query's server information: 'sqlite' | 'postgres'. */
  readonly kind: 'sqlite' | 'postgres';
}
