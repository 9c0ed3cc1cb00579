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

/**
 * Persistence of managed objects (DESIGN.md §5). Async because a PostgreSQL store will
 * follow; the SQLite implementation answers synchronously inside.
 * All calls are scoped by tenant: an object of another tenant is invisible.
 */
export interface ObjectStore {
  insert(obj: StoredObject): Promise<void>;
  /**
   * Replaces the object. Fails with StoreConflictError when `obj.revision` is not the
   * stored revision (another writer got there first); on success the stored revision is
   * obj.revision + 1 and the caller's object is updated to match.
   */
  update(obj: StoredObject): Promise<void>;
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
