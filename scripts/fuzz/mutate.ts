// Mutations of real KMIP requests, seeded and reproducible (same seed → same messages).
// Two families, stacked one to three deep:
// - byte level, on the canonical encoding: bit flips, byte insert/delete, an item's Length
//   field rewritten, Tag and Type bytes swapped, truncation. They exercise the framer and the
//   strict decoder (src/ttlv/decode.ts) and its named limits;
// - tree level, re-encoded: a subtree spliced in from another request, deep nesting around
//   MAX_DEPTH, duplicated children (hundreds of batch items), children removed or reordered,
//   values pushed to their extremes, an item's type changed. These decode cleanly and reach
//   the message parser, the version adapters, the batch executor and the operations.
// The outer frame length is usually corrected after a byte mutation, so the message is
// framed and decoded; otherwise the framer's handling of a short or long claim is tested.
import { encode } from '../../src/ttlv/encode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { MAX_DEPTH } from '../../src/ttlv/limits.ts';
import type { ItemTypeName } from '../../src/ttlv/generated/itemTypes.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { cloneItem } from './corpus.ts';

/** mulberry32: small, fast, seedable; quality is ample for choosing mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const KNOWN_TAGS: readonly number[] = Object.values(Tag);
const TYPES: readonly ItemTypeName[] = [
  'Structure', 'Integer', 'LongInteger', 'BigInteger', 'Enumeration', 'Boolean', 'TextString', 'ByteString', 'DateTime', 'Interval', 'DateTimeExtended',
];

/** Offsets of every item header in a well-formed encoding (walks Structures). */
export function itemOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  const walk = (start: number, end: number, depth: number): void => {
    let o = start;
    while (o + 8 <= end && depth <= MAX_DEPTH + 2) {
      out.push(o);
      const type = buf[o + 3]!;
      const len = buf.readUInt32BE(o + 4);
      if (type === 0x01) walk(o + 8, Math.min(end, o + 8 + len), depth + 1);
      o += 8 + (type === 0x01 ? len : Math.ceil(len / 8) * 8);
    }
  };
  walk(0, buf.length, 0);
  return out;
}

/** Every node of a tree with its parent (for splicing, nesting and removal). */
function nodes(root: TtlvItem): Array<{ item: TtlvItem; parent: TtlvItem[] | undefined; index: number }> {
  const out: Array<{ item: TtlvItem; parent: TtlvItem[] | undefined; index: number }> = [{ item: root, parent: undefined, index: 0 }];
  for (let i = 0; i < out.length; i++) {
    const it = out[i]!.item;
    if (it.type === 'Structure') it.value.forEach((c, index) => out.push({ item: c, parent: it.value, index }));
  }
  return out;
}

function extremeValue(rng: Rng, type: ItemTypeName): TtlvItem['value'] {
  switch (type) {
    case 'Integer': return rng.pick([0, -1, 1, 0x7fffffff, -0x80000000, rng.int(0x10000)]);
    case 'Enumeration': case 'Interval': return rng.pick([0, 1, 0xffffffff, 0x80000000, rng.int(64), rng.int(0x100000000)]);
    case 'LongInteger': return rng.pick([0n, -1n, (1n << 63n) - 1n, -(1n << 63n), BigInt(rng.int(1e9))]);
    case 'BigInteger': return rng.pick([0n, -1n, 1n << BigInt(8 * rng.int(600)), -(1n << 4000n)]);
    case 'DateTime': return rng.pick([0n, -1n, (1n << 63n) - 1n, -(1n << 63n), 253402300800n]);
    case 'DateTimeExtended': return rng.pick([0n, -1n, (1n << 63n) - 1n, -(1n << 63n)]);
    case 'Boolean': return rng.chance(0.5);
    case 'TextString': return rng.pick(['', 'x'.repeat(rng.int(70_000)), '\u0000', 'é\u{1F511}'.repeat(rng.int(100)), '../../etc/passwd', `${rng.int(1e6)}`]);
    case 'ByteString': return rng.pick([Buffer.alloc(0), rng.bytes(rng.int(64)), Buffer.alloc(rng.int(200_000)), rng.bytes(rng.pick([16, 24, 32, 33, 512]))]);
    case 'Structure': return [];
  }
}

// ------------------------------------------------------------------ tree mutations

type TreeMutation = (root: TtlvItem, rng: Rng, other: TtlvItem) => void;

const TREE_MUTATIONS: Record<string, TreeMutation> = {
  splice(root, rng, other) {
    const target = rng.pick(nodes(root).filter((n) => n.parent !== undefined));
    if (!target) return;
    const donor = cloneItem(rng.pick(nodes(other)).item);
    if (rng.chance(0.5)) target.parent!.splice(target.index, 1, donor);
    else target.parent!.splice(target.index, 0, donor);
  },
  nest(root, rng) {
    const target = rng.pick(nodes(root).filter((n) => n.parent !== undefined));
    if (!target) return;
    // Around the decoder's depth limit, and far past it.
    let wrapped: TtlvItem = target.item;
    const depth = rng.pick([1, 2, 8, MAX_DEPTH - 8, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 200]);
    for (let i = 0; i < depth; i++) wrapped = { tag: rng.chance(0.5) ? target.item.tag : rng.pick(KNOWN_TAGS), type: 'Structure', value: [wrapped] };
    target.parent!.splice(target.index, 1, wrapped);
  },
  duplicate(root, rng) {
    const target = rng.pick(nodes(root).filter((n) => n.parent !== undefined));
    if (!target) return;
    const n = rng.pick([2, 3, 16, 100, 1000]);
    const copies = Array.from({ length: n }, () => cloneItem(target.item));
    target.parent!.splice(target.index, 0, ...copies);
  },
  remove(root, rng) {
    const target = rng.pick(nodes(root).filter((n) => n.parent !== undefined));
    if (target) target.parent!.splice(target.index, 1);
  },
  reorder(root, rng) {
    const structs = nodes(root).filter((n) => n.item.type === 'Structure' && (n.item.value as TtlvItem[]).length > 1);
    if (structs.length === 0) return;
    const v = rng.pick(structs).item.value as TtlvItem[];
    for (let i = v.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [v[i], v[j]] = [v[j]!, v[i]!];
    }
  },
  value(root, rng) {
    const leaves = nodes(root).filter((n) => n.item.type !== 'Structure');
    if (leaves.length === 0) return;
    const it = rng.pick(leaves).item;
    it.value = extremeValue(rng, it.type) as never;
  },
  retype(root, rng) {
    const target = rng.pick(nodes(root).filter((n) => n.parent !== undefined));
    if (!target) return;
    const type = rng.pick(TYPES);
    target.parent![target.index] = { tag: target.item.tag, type, value: extremeValue(rng, type) } as TtlvItem;
  },
  retag(root, rng) {
    const target = rng.pick(nodes(root));
    target.item.tag = rng.chance(0.8) ? rng.pick(KNOWN_TAGS) : 0x540000 + rng.int(0x10000);
  },
};

// ------------------------------------------------------------------ byte mutations

type ByteMutation = (b: Buffer, rng: Rng) => Buffer;

const BYTE_MUTATIONS: Record<string, ByteMutation> = {
  bitflip(b, rng) {
    const out = Buffer.from(b);
    for (let i = 1 + rng.int(8); i > 0 && out.length > 0; i--) out[rng.int(out.length)]! ^= 1 << rng.int(8);
    return out;
  },
  insert(b, rng) {
    const at = rng.int(b.length + 1);
    const ins = rng.chance(0.5) ? rng.bytes(1 + rng.int(16)) : b.subarray(rng.int(b.length), rng.int(b.length) + 64);
    return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
  },
  delete(b, rng) {
    const at = rng.int(b.length);
    return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rng.int(16))]);
  },
  length(b, rng) {
    const offs = itemOffsets(b);
    if (offs.length === 0) return b;
    const out = Buffer.from(b);
    const o = rng.pick(offs);
    const len = out.readUInt32BE(o + 4);
    const v = rng.pick([0, len + 1, Math.max(0, len - 1), len + 8, Math.max(0, len - 8), 0xffffffff, 0x7fffffff, 0x80000000, rng.int(0x10000), 3, 9]);
    out.writeUInt32BE(v >>> 0, o + 4);
    return out;
  },
  tag(b, rng) {
    const offs = itemOffsets(b);
    if (offs.length === 0) return b;
    const out = Buffer.from(b);
    const o = rng.pick(offs);
    const t = rng.chance(0.7) ? rng.pick(KNOWN_TAGS) : rng.int(0x1000000);
    out.writeUIntBE(t, o, 3);
    return out;
  },
  type(b, rng) {
    const offs = itemOffsets(b);
    if (offs.length === 0) return b;
    const out = Buffer.from(b);
    out[rng.pick(offs) + 3] = rng.chance(0.8) ? 1 + rng.int(11) : rng.int(256);
    return out;
  },
  truncate(b, rng) {
    return b.subarray(0, rng.int(b.length));
  },
};

const TREE_NAMES = Object.keys(TREE_MUTATIONS);
const BYTE_NAMES = Object.keys(BYTE_MUTATIONS);

export interface Mutant {
  bytes: Buffer;
  /** The mutations applied, in order (`splice+length`). */
  kind: string;
}

/**
 * One mutant of `seed` (an encodable request tree, left unchanged), with `other` as splice donor.
 * Half of the time tree mutations first, then byte mutations on the encoding.
 */
export function mutate(seed: TtlvItem, other: TtlvItem, rng: Rng): Mutant {
  const kinds: string[] = [];
  let bytes: Buffer | undefined;
  if (rng.chance(0.5)) {
    const tree = cloneItem(seed);
    for (let i = 1 + rng.int(2); i > 0; i--) {
      const name = rng.pick(TREE_NAMES);
      TREE_MUTATIONS[name]!(tree, rng, other);
      kinds.push(name);
    }
    try {
      bytes = encode(tree);
    } catch {
      // A value the encoder refuses (out of range for its type): fall back to bytes only.
      kinds.length = 0;
    }
  }
  bytes ??= encode(seed);
  if (kinds.length === 0 || rng.chance(0.3)) {
    const before = bytes;
    for (let i = 1 + rng.int(2); i > 0; i--) {
      const name = rng.pick(BYTE_NAMES);
      bytes = BYTE_MUTATIONS[name]!(bytes, rng);
      kinds.push(name);
    }
    // Mostly keep the frame consistent so the decoder (not only the framer) is exercised.
    if (bytes.length >= 8 && rng.chance(0.7) && !kinds.includes('length')) {
      bytes = Buffer.from(bytes);
      bytes.writeUInt32BE(bytes.length - 8, 4);
    } else if (bytes.length >= 8 && before.length >= 8 && rng.chance(0.5)) {
      bytes = Buffer.from(bytes);
      bytes.writeUInt32BE(bytes.length - 8, 4);
    }
  }
  return { bytes, kind: kinds.join('+') };
}
