// What the admin API and the web console may know of a tenant's keys (issue 14 §3: "the keys
// of a tenant, metadata only, never key material"). The vault's rows carry wrapped key bytes
// (StoredObject.wrappedValue, L3KeyRow.wrapped); this module copies out a fixed list of
// descriptive fields and nothing else, so no byte of a key, wrapped or not, can reach an
// admin route by accident — a new attribute or column is invisible here until it is named.
import type { HierarchyStore, ObjectStore } from '../store/types.ts';
import type { StoredObject } from '../kmip/object.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, ObjectType, State } from '../ttlv/generated/enumerations.ts';
import type { KeyMetadataPort, L3VersionInfo, ObjectMetadata } from './admin/context.ts';

const nameOf = (table: Readonly<Record<string, number>>, v: number): string =>
  Object.entries(table).find(([, x]) => x === v)?.[0] ?? `0x${v.toString(16)}`;

const dateOf = (item: TtlvItem | undefined): string | null =>
  item !== undefined && item.type === 'DateTime' ? new Date(Number(item.value) * 1000).toISOString() : null;

/** The usage mask as its bit names (KMIP 2.1 §11.15), e.g. ["Encrypt", "Decrypt"]. */
function usageNames(mask: number): string[] {
  return Object.entries(CryptographicUsageMask).filter(([, bit]) => (mask & bit) !== 0).map(([n]) => n);
}

/** One stored object's description: identifiers, type, state, names and dates; no value. */
export function objectMetadata(o: StoredObject): ObjectMetadata {
  const attr = (tag: number) => o.attributes.find((a) => a.tag === tag);
  const all = (tag: number) => o.attributes.filter((a) => a.tag === tag);
  const names = all(Tag.Name).flatMap((n) => (n.type === 'Structure'
    ? n.value.filter((c) => c.tag === Tag.NameValue && c.type === 'TextString').map((c) => c.value as string) : []));
  const alg = attr(Tag.CryptographicAlgorithm);
  const len = attr(Tag.CryptographicLength);
  const usage = attr(Tag.CryptographicUsageMask);
  return {
    uid: o.uid,
    service: o.service,
    objectType: nameOf(ObjectType, o.objectType),
    state: nameOf(State, o.state),
    names,
    algorithm: alg?.type === 'Enumeration' ? nameOf(CryptographicAlgorithm, alg.value) : null,
    length: len?.type === 'Integer' ? len.value : null,
    usage: usage?.type === 'Integer' ? usageNames(usage.value) : [],
    objectGroups: all(Tag.ObjectGroup).flatMap((g) => (g.type === 'TextString' ? [g.value] : [])),
    initialDate: dateOf(attr(Tag.InitialDate)),
    activationDate: dateOf(attr(Tag.ActivationDate)),
    // Whether a value is stored at all (a destroyed object keeps its metadata, KMIP 2.1 §6.1.16).
    hasValue: o.wrappedValue !== undefined,
  };
}

/** The port over a vault store (SQLite or PostgreSQL): reads, never writes. */
export function vaultKeyMetadata(store: Pick<ObjectStore, 'scan'> & Pick<HierarchyStore, 'listL3Keys'>): KeyMetadataPort {
  return {
    async objects(tenant, opts) {
      const out: ObjectMetadata[] = [];
      let more = false;
      // Newest first (the store's scan order); destroyed objects too: an operator asks "what was there".
      for await (const o of store.scan(tenant, { includeDestroyed: true })) {
        if (opts.service !== undefined && o.service !== opts.service) continue;
        if (out.length === opts.limit) {
          more = true;
          break;
        }
        out.push(objectMetadata(o));
      }
      return { objects: out, more };
    },
    async duplicatedName(tenant) {
      // The objects a Create or Register would be checked against (assertNamesFree): the
      // tenant's objects whose value is not destroyed, every service.
      const seen = new Set<string>();
      for await (const o of store.scan(tenant, {})) {
        for (const n of new Set(objectMetadata(o).names)) {
          if (seen.has(n)) return n;
          seen.add(n);
        }
      }
      return undefined;
    },
    async l3Versions(tenant) {
      return (await store.listL3Keys(tenant)).map((r): L3VersionInfo => ({
        service: r.service, version: r.version, l2Version: r.l2Version, createdAt: new Date(r.createdAt).toISOString(), current: r.current,
      }));
    },
  };
}
