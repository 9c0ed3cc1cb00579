// The tenant-scoped view of the store that operations use (operations/types.ts
// ObjectRepository, declared below as ScopedObjectRepository). Values cross this boundary
// in the clear on the operation side and wrapped on the store side; nothing of another
// tenant is reachable through it (DESIGN.md §3: a foreign object answers exactly like a
// missing one).
//
// Within the tenant, objects belong to a service (issue 7 "Tenant isolation"): an object of
// another service is reachable only when the scope's `access` says so (the batch executor
// decides from the caller's role and the grants of the tenant, src/policy/access.ts).
// Without `access`, only the scope's own service is visible: deny by default. An object the
// caller may not reach is filtered out of load and scan alike, before its value is
// unwrapped, so it looks exactly like a missing one and Locate counts after filtering.
import { decode } from '../ttlv/decode.ts';
import { encode } from '../ttlv/encode.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import type { ManagedObject, StoredObject } from '../kmip/object.ts';
import type { LocatePrefilter, ObjectStore, UpdateOptions } from '../store/types.ts';
import type { KeyProtector, ObjectPlace } from './types.ts';

/**
 * The shape of operations/types.ts ObjectRepository, declared here because hierarchy sits
 * below operations (DESIGN.md §5) and may not import it; TypeScript's structural typing
 * makes the two interchangeable, and test/hierarchy/repository.test.ts pins that down.
 */
export interface ScopedObjectRepository {
  create(obj: Omit<ManagedObject, 'tenant' | 'service' | 'revision'>): Promise<ManagedObject>;
  /** undefined when missing or of another tenant. */
  load(uid: string): Promise<ManagedObject | undefined>;
  /** Persists changes; StoreConflictError when another writer saved first. */
  save(obj: ManagedObject, opts?: UpdateOptions): Promise<void>;
  /** Metadata only (value not unwrapped), newest first. */
  scan(filter: LocatePrefilter): AsyncIterable<Omit<ManagedObject, 'value'>>;
}

/** What the access decision needs to know of an object (metadata only, never its value). */
export interface ObjectMeta {
  uid: string;
  service: string;
  objectType: number;
  /** Object Group values (KMIP 2.1 §4.31). */
  groups: string[];
}

/** The caller's rights over objects, evaluated per object by the repository. */
export interface ObjectAccess {
  /** May the caller reach this existing object (for the operation running now)? */
  canReach(o: ObjectMeta): boolean;
  /** Throws (a KmipError the client sees) when the caller may not create this object. */
  assertCreate(o: ObjectMeta): void;
}

export interface RepositoryScope {
  tenant: string;
  service: string;
  /** Rights within the tenant; absent = the scope's own service only. */
  access?: ObjectAccess;
}

function groupsOf(attributes: readonly TtlvItem[]): string[] {
  const out: string[] = [];
  for (const a of attributes) if (a.tag === Tag.ObjectGroup && a.type === 'TextString') out.push(a.value);
  return out;
}

export function objectMeta(o: { uid: string; service: string; objectType: number; attributes: readonly TtlvItem[] }): ObjectMeta {
  return { uid: o.uid, service: o.service, objectType: o.objectType, groups: groupsOf(o.attributes) };
}

const placeOf = (o: { tenant: string; service: string; uid: string }): ObjectPlace => ({ tenant: o.tenant, service: o.service, uid: o.uid });

export function createObjectRepository(store: ObjectStore, protector: KeyProtector, scope: RepositoryScope): ScopedObjectRepository {
  const { tenant, service } = scope;
  const reachable = (o: { uid: string; tenant: string; service: string; objectType: number; attributes: readonly TtlvItem[] }): boolean => {
    // The store already scopes by tenant; checking again costs nothing and keeps this
    // boundary correct even over a store with a bug.
    if (o.tenant !== tenant) return false;
    return scope.access ? scope.access.canReach(objectMeta(o)) : o.service === service;
  };

  async function wrapValue(obj: ManagedObject): Promise<Buffer | undefined> {
    if (obj.value === undefined) return undefined;
    const plain = encode(obj.value);
    try {
      return await protector.protect(placeOf(obj), plain);
    } finally {
      plain.fill(0);
    }
  }

  async function toStored(obj: ManagedObject): Promise<StoredObject> {
    const stored: StoredObject = {
      uid: obj.uid,
      tenant: obj.tenant,
      service: obj.service,
      objectType: obj.objectType,
      state: obj.state,
      attributes: obj.attributes,
      revision: obj.revision,
    };
    const wrapped = await wrapValue(obj);
    if (wrapped !== undefined) stored.wrappedValue = wrapped;
    return stored;
  }

  return {
    async create(input) {
      const obj: ManagedObject = { ...input, tenant, service, revision: 0 };
      scope.access?.assertCreate(objectMeta(obj));
      await store.insert(await toStored(obj));
      return obj;
    },

    async load(uid) {
      const stored = await store.get(tenant, uid);
      if (stored === undefined || !reachable(stored)) return undefined;
      const { wrappedValue, ...meta } = stored;
      const obj: ManagedObject = meta;
      if (wrappedValue !== undefined) {
        const plain = await protector.unprotect(placeOf(stored), wrappedValue);
        try {
          // Copy byte strings out, so the plaintext buffer can be zeroized now.
          obj.value = decode(plain, { copyByteStrings: true });
        } finally {
          plain.fill(0);
        }
      }
      return obj;
    },

    async save(obj, opts) {
      if (obj.tenant !== tenant) {
        // Operations only save objects they loaded here; anything else is a programming error.
        throw new Error(`refusing to save object ${obj.uid} of another tenant through this repository`);
      }
      if (!reachable(obj)) {
        // Operations save only what load returned; an object of a service the caller cannot
        // reach never gets here unless an operation builds one itself — a programming error.
        throw new Error(`refusing to save object ${obj.uid}: not reachable by this caller`);
      }
      const stored = await toStored(obj);
      await store.update(stored, opts);
      obj.revision = stored.revision;
    },

    async *scan(filter: LocatePrefilter) {
      for await (const stored of store.scan(tenant, filter)) {
        if (!reachable(stored)) continue;
        const { wrappedValue: _omit, ...meta } = stored;
        yield meta;
      }
    },
  };
}
