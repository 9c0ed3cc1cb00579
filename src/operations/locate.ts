// Locate (KMIP 2.1 s.6.1.28; 1.4 s.4.9).
import { ObjectType, ObjectGroupMember, Operation, ResultReason, State, StorageStatusMask } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { integer, optEnum, optInt, optStruct, structure, textString } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import type { LocatePrefilter } from '../store/types.ts';
import { ATTRIBUTE_RULES, itemsEqual, sameAttribute, withObjectMeta } from '../policy/attributes.ts';
import { applyTimeTransitions, isArchived, isDestroyed } from '../policy/lifecycle.ts';
import { defineOperation, recordResult } from './uid.ts';

type Candidate = Omit<ManagedObject, 'value'>;

/** Does `have` contain every field of `want` (a structure filter names only what it cares about)? */
function structContains(have: TtlvItem, want: TtlvItem): boolean {
  if (have.type !== 'Structure' || want.type !== 'Structure') return itemsEqual(have, want);
  return want.value.every((w) => have.value.some((h) => h.tag === w.tag && (w.type === 'Structure' ? structContains(h, w) : itemsEqual(h, w))));
}

/** States a stored object may be in and still be in `state` once its dates are applied (s.4.57). */
function storedStatesFor(state: number): number[] {
  if (state === State.Active) return [State.PreActive, State.Active];
  if (state === State.Deactivated) return [State.PreActive, State.Active, State.Deactivated];
  return [state];
}

interface Filter {
  /** attributes compared by value (any instance matching each) */
  plain: TtlvItem[];
  /** date attributes: inclusive ranges (s.6.1.28: a date given twice is a range) */
  dates: Map<number, [bigint, bigint]>;
  usageMask?: number;
}

function buildFilter(attrs: TtlvItem[]): Filter {
  const f: Filter = { plain: [], dates: new Map() };
  const dateValues = new Map<number, bigint[]>();
  for (const a of attrs) {
    if (a.tag === Tag.CryptographicUsageMask) {
      if (a.type !== 'Integer') throw new KmipError(ResultReason.InvalidField, 'Cryptographic Usage Mask must be an Integer');
      f.usageMask = (f.usageMask ?? 0) | a.value;
    } else if (a.type === 'DateTime') {
      const list = dateValues.get(a.tag) ?? [];
      list.push(a.value);
      dateValues.set(a.tag, list);
    } else {
      f.plain.push(a);
    }
  }
  for (const [tag, list] of dateValues) {
    if (list.length > 2) throw new KmipError(ResultReason.InvalidField, 'a date attribute may be given at most twice (a range) in Locate');
    const [a, b = a] = list as [bigint, bigint?];
    f.dates.set(tag, a! <= b! ? [a!, b!] : [b!, a!]);
  }
  return f;
}

function matches(obj: Candidate, f: Filter): boolean {
  const attrs = withObjectMeta(obj);
  for (const want of f.plain) {
    const ok = attrs.some((have) => sameAttribute(have, want) && (want.type === 'Structure' ? structContains(have, want) : itemsEqual(have, want)));
    if (!ok) return false;
  }
  for (const [tag, [lo, hi]] of f.dates) {
    const have = attrs.find((a) => a.tag === tag);
    if (have === undefined || have.type !== 'DateTime' || have.value < lo || have.value > hi) return false;
  }
  if (f.usageMask !== undefined) {
    const have = attrs.find((a) => a.tag === Tag.CryptographicUsageMask);
    // s.6.1.28: every requested usage bit must be set on the object.
    if (have === undefined || have.type !== 'Integer' || (have.value & f.usageMask) !== f.usageMask) return false;
  }
  return true;
}

function prefilterOf(attrs: TtlvItem[], includeDestroyed: boolean): LocatePrefilter {
  const p: LocatePrefilter = { includeDestroyed };
  const one = (tag: number) => {
    const list = attrs.filter((a) => a.tag === tag);
    return list.length === 1 ? list[0] : undefined;
  };
  const ot = one(Tag.ObjectType);
  if (ot?.type === 'Enumeration') p.objectType = ot.value;
  const st = one(Tag.State);
  if (st?.type === 'Enumeration') p.states = storedStatesFor(st.value);
  const alg = one(Tag.CryptographicAlgorithm);
  if (alg?.type === 'Enumeration') p.cryptographicAlgorithm = alg.value;
  const len = one(Tag.CryptographicLength);
  if (len?.type === 'Integer') p.cryptographicLength = len.value;
  const name = attrs.find((a) => a.tag === Tag.Name);
  if (name?.type === 'Structure') {
    const v = name.value.find((c) => c.tag === Tag.NameValue);
    if (v?.type === 'TextString') p.name = v.value;
  }
  const group = attrs.find((a) => a.tag === Tag.ObjectGroup);
  if (group?.type === 'TextString') p.objectGroup = group.value;
  return p;
}

export const locate = defineOperation(Operation.Locate, 'Locate', '1.0', async (ctx, payload) => {
  const maxItems = optInt(payload, Tag.MaximumItems);
  const offsetItems = optInt(payload, Tag.OffsetItems);
  if (maxItems !== undefined && maxItems < 0) throw new KmipError(ResultReason.InvalidField, 'Maximum Items must not be negative');
  if (offsetItems !== undefined && offsetItems < 0) throw new KmipError(ResultReason.InvalidField, 'Offset Items must not be negative');
  const is2x = ctx.version.major >= 2;
  // s.6.1.28: absent = on-line objects only. Archival Storage finds archived objects
  // (Archive, s.6.1.2); Destroyed Storage exists from 2.0.
  const mask = optInt(payload, Tag.StorageStatusMask) ?? StorageStatusMask.OnLineStorage;
  const wantOnline = (mask & StorageStatusMask.OnLineStorage) !== 0;
  const wantArchived = (mask & StorageStatusMask.ArchivalStorage) !== 0;
  const wantDestroyed = is2x && (mask & StorageStatusMask.DestroyedStorage) !== 0;
  const member = optEnum(payload, Tag.ObjectGroupMember);
  if (member !== undefined && member !== ObjectGroupMember.GroupMemberFresh && member !== ObjectGroupMember.GroupMemberDefault) {
    throw new KmipError(ResultReason.InvalidField, `unknown Object Group Member 0x${member.toString(16)}`);
  }
  // 2.x: Attributes is REQUIRED but may be empty; 1.x requests arrive converted, possibly without it.
  const attrsStruct = optStruct(payload, Tag.Attributes);
  if (attrsStruct === undefined && is2x) throw new KmipError(ResultReason.InvalidField, 'Attributes is required');
  const attrs = attrsStruct?.value ?? [];
  for (const a of attrs) {
    if (a.tag !== Tag.Attribute && !ATTRIBUTE_RULES.has(a.tag)) {
      throw new KmipError(ResultReason.InvalidAttribute, `tag 0x${a.tag.toString(16)} is not an attribute`);
    }
  }
  const filter = buildFilter(attrs);
  const now = ctx.now();

  const found: string[] = [];
  if (wantOnline || wantArchived || wantDestroyed) {
    for await (const obj of ctx.objects.scan(prefilterOf(attrs, wantDestroyed))) {
      const o: Candidate = { ...obj, attributes: [...obj.attributes] };
      applyTimeTransitions(o, now);
      const destroyed = isDestroyed(o.state);
      // A destroyed object is in destroyed storage whether or not it was archived before.
      const wanted = destroyed ? wantDestroyed : isArchived(o) ? wantArchived : wantOnline;
      if (!wanted) continue;
      // Template objects (1.4 s.2.2.6) do not exist for 2.x clients (Reserved, 2.1 s.11.29).
      if (is2x && o.objectType === ObjectType.Template) continue;
      if (member === ObjectGroupMember.GroupMemberFresh) {
        // s.6.1.28 / s.4 Fresh: only objects of the group never handed out yet.
        const fresh = o.attributes.find((a) => a.tag === Tag.Fresh);
        if (fresh === undefined || fresh.type !== 'Boolean' || !fresh.value) continue;
      }
      if (matches(o, filter)) found.push(o.uid);
    }
  }
  // Newest first (the scan order); matching happens before counting and paging.
  const start = offsetItems ?? 0;
  const page = found.slice(start, maxItems === undefined ? undefined : start + maxItems);
  // s.6.1 intro: the ID Placeholder takes the result only when exactly one object is returned.
  recordResult(ctx, Operation.Locate, page, { setPlaceholder: true });
  const out: TtlvItem[] = [];
  // Located Items tells the client how many matched in all; returned when it pages.
  if (maxItems !== undefined || offsetItems !== undefined) out.push(integer(Tag.LocatedItems, found.length));
  for (const uid of page) out.push(textString(Tag.UniqueIdentifier, uid));
  return structure(Tag.ResponsePayload, out);
});
