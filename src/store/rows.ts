// Row ↔ object conversion shared by the SQLite and PostgreSQL vault stores: both keep a
// managed object as one `objects` row (TTLV-encoded Attributes, the wrapped value) plus
// derived index columns, and both plan Locate scans the same way. One copy here keeps the
// two stores reading and writing the same row shape (test/store/contract.ts runs on both).
import { decode } from '../ttlv/decode.ts';
import { encode } from '../ttlv/encode.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { State } from '../ttlv/generated/enumerations.ts';
import type { StoredObject } from '../kmip/object.ts';
import { StoreSchemaError, type LocatePrefilter } from './types.ts';
import { DATE_COLUMNS, deriveIndexColumns } from './attributes-index.ts';

/** States whose value has been erased (KMIP 2.1 §6.1.15 Destroy). */
export const DESTROYED_STATES: readonly number[] = [State.Destroyed, State.DestroyedCompromised];
export const ALL_STATES: readonly number[] = Object.values(State);

/**
 * One `objects` row as a driver returns it. created_seq is a number on SQLite and text on
 * PostgreSQL (BIGINT read as text, exact beyond 2^53).
 */
export interface ObjectRow<Seq extends number | string = number | string> {
  uid: string;
  tenant: string;
  service: string;
  object_type: number;
  state: number;
  revision: number;
  created_seq: Seq;
  attributes: Buffer;
  wrapped_value: Buffer | null;
}

/** The derived index columns of `objects`, in the order derivedParams() gives their values. */
export const DERIVED_COLUMNS = ['cryptographic_algorithm', 'cryptographic_length', ...DATE_COLUMNS.map(([c]) => c)];

/** The object's attributes as stored: one TTLV Attributes structure (KMIP 2.1 §7.2). */
export function encodeAttributes(obj: StoredObject): Buffer {
  return encode({ tag: Tag.Attributes, type: 'Structure', value: obj.attributes });
}

export function rowToObject(row: ObjectRow): StoredObject {
  const attrs = decode(row.attributes);
  if (attrs.tag !== Tag.Attributes || attrs.type !== 'Structure') {
    throw new StoreSchemaError(`object ${row.uid}: stored attributes are not an Attributes structure`);
  }
  const obj: StoredObject = {
    uid: row.uid,
    tenant: row.tenant,
    service: row.service,
    objectType: row.object_type,
    state: row.state,
    revision: row.revision,
    attributes: attrs.value,
  };
  if (row.wrapped_value !== null) obj.wrappedValue = row.wrapped_value;
  return obj;
}

/**
 * Parameters of the derived columns, in DERIVED_COLUMNS order, and the Name / Object Group
 * lookup rows, each value once: the lookup tables' primary key is (tenant, uid, value), and
 * an object may carry the same Name twice (Name and Object Group are multi-instance attributes).
 */
export function derivedParams(obj: StoredObject) {
  const d = deriveIndexColumns(obj.attributes);
  return {
    values: [d.cryptographicAlgorithm, d.cryptographicLength, ...DATE_COLUMNS.map(([, key]) => d[key])],
    names: [...new Set(d.names)],
    groups: [...new Set(d.groups)],
  };
}

/**
 * The state sets scan() queries separately. Destroyed objects are left out unless asked for
 * (Storage Status Mask, absent = on-line only; Destroyed Storage 0x4 is 2.x, KMIP 2.1 §6.1.28).
 * Several states over a wide candidate set are walked one index range per state and merged:
 * `state IN (…) ORDER BY created_seq` would sort every matching row for each page. A Name or
 * Object Group lookup is already walked in creation order, so one query suffices there.
 */
export function scanShapes(filter: LocatePrefilter): number[][] {
  let states = filter.states !== undefined ? [...new Set(filter.states)] : [...ALL_STATES];
  if (filter.includeDestroyed !== true) states = states.filter((s) => !DESTROYED_STATES.includes(s));
  if (states.length === 0) return [];
  if (states.length === 1 || filter.name !== undefined || filter.objectGroup !== undefined) return [states];
  return states.map((s) => [s]);
}

/**
 * Which of the merged per-state cursors holds the newest row (highest created_seq), or -1
 * when all are done: scan() yields that one next, so the merge stays newest first.
 */
export function newestHead(heads: readonly IteratorResult<ObjectRow, unknown>[]): number {
  let best = -1;
  let bestSeq = -1n;
  for (let i = 0; i < heads.length; i++) {
    const h = heads[i]!;
    if (h.done !== true && BigInt(h.value.created_seq) > bestSeq) {
      best = i;
      bestSeq = BigInt(h.value.created_seq);
    }
  }
  return best;
}
