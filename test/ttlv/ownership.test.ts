// Who owns which bytes after encode() and decode() (the rules in their doc comments).
// encode() writes messages one after another into a shared slab and returns views of it.
// These tests pin what that must never change: a returned encoding is never written again,
// a message moved to a bigger slab mid-way is still correct, bytes of a failed or moved
// message do not linger; and a decoded tree shares nothing with the next decode (a
// shared child stack was tried for the decoder and measured slower, see bench/README.md).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/ttlv/decode.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { TtlvError } from '../../src/ttlv/errors.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

const S = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const I = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const T = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const B = (tag: number, value: Buffer): TtlvItem => ({ tag, type: 'ByteString', value });

/** A fresh key-like value per test: found in a slab only if that test's bytes were left there. */
const secret = (): Buffer => randomBytes(32);

/** A message with `n` Byte Strings of `size` bytes inside two levels of Structure. */
function message(n: number, size: number, seed: number): TtlvItem {
  const items = Array.from({ length: n }, (_, i) =>
    S(Tag.BatchItem, [I(Tag.BatchCount, seed + i), B(Tag.Data, Buffer.alloc(size, (seed + i) & 0xff)), T(Tag.UniqueIdentifier, `id-${seed}-${i}`)]));
  return S(Tag.RequestMessage, [S(Tag.RequestHeader, [I(Tag.BatchCount, n)]), ...items]);
}

function slabOf(b: Buffer): Buffer {
  return Buffer.from(b.buffer, 0, b.buffer.byteLength);
}

describe('encode(): output slab', () => {
  it('every returned encoding stays as it was while later messages are written (several slabs, moves mid-message)', () => {
    // Sizes from 40 bytes to ~70 KiB: some messages fill a slab's tail, some outgrow the
    // 64 KiB slab and are moved to a larger one while being written.
    const trees: TtlvItem[] = [];
    const outs: Buffer[] = [];
    const firstCopies: Buffer[] = [];
    for (let k = 0; k < 400; k++) {
      const size = k % 50 === 49 ? 70_000 : (k * 37) % 900;
      const t = message(1 + (k % 4), size, k);
      const out = encode(t);
      trees.push(t);
      outs.push(out);
      firstCopies.push(Buffer.from(out));
    }
    for (let k = 0; k < outs.length; k++) {
      expect(outs[k]!.equals(firstCopies[k]!), `message ${k} was overwritten`).toBe(true);
      // Byte comparisons (deep-equal over 70 KiB Buffers is slow); small ones deep-equal too.
      expect(encode(decode(outs[k]!)).equals(firstCopies[k]!), `message ${k} does not round-trip`).toBe(true);
      if (outs[k]!.length < 2000) expect(decode(outs[k]!)).toEqual(trees[k]);
    }
    // They really do share slabs (otherwise this test proves nothing about overwriting).
    expect(new Set(outs.map((o) => o.buffer)).size).toBeLessThan(outs.length / 4);
  });

  it('a message moved to a bigger slab has correct Structure lengths and leaves no copy of its bytes behind', () => {
    // Fill the current slab to near its end, so the next message starts there and moves.
    let probe = encode(message(1, 8, 0));
    while (probe.buffer.byteLength - (probe.byteOffset + probe.length) > 3000) probe = encode(message(1, 512, 1));
    const oldSlab = slabOf(probe);
    const key = secret();
    const tree = S(Tag.RequestMessage, [S(Tag.KeyBlock, [B(Tag.KeyMaterial, key), S(Tag.KeyValue, [B(Tag.Data, Buffer.alloc(100_000, 7))])])]);
    const out = encode(tree);
    expect(out.buffer).not.toBe(probe.buffer);
    // Both open Structures were patched after the move (a wrong length fails decode too).
    expect(out.readUInt32BE(4)).toBe(out.length - 8);
    expect(out.readUInt32BE(12)).toBe(out.length - 16);
    const data = ((decode(out).value as TtlvItem[])[0]!.value as TtlvItem[])[1]!;
    expect(data.tag).toBe(Tag.KeyValue);
    expect(((data.value as TtlvItem[])[0]!.value as Buffer).equals(Buffer.alloc(100_000, 7))).toBe(true);
    expect(oldSlab.indexOf(key)).toBe(-1);
    expect(slabOf(out).indexOf(key)).toBe(out.byteOffset + 24);
  });

  it('a failed encode zeroes what it had written (key bytes included) and keeps its error offset within the message', () => {
    const key = secret();
    const before = encode(message(1, 8, 2));
    const bad = S(Tag.RequestMessage, [B(Tag.KeyMaterial, key), I(Tag.BatchCount, 2 ** 40)]);
    let err: unknown;
    try {
      encode(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TtlvError);
    expect((err as TtlvError).code).toBe('BAD_VALUE');
    // Offset of the failing Integer within the message: 8 (message header) + 8 + 32 (the Byte String).
    expect((err as TtlvError).offset).toBe(48);
    // The failed message was written right after `before`, in the same slab (ample room left).
    const slab = slabOf(before);
    expect(slab.length - (before.byteOffset + before.length)).toBeGreaterThan(1024);
    expect(slab.indexOf(key)).toBe(-1);
    const from = (before.byteOffset + before.length + 7) & ~7;
    expect(slab.subarray(from, from + 64).equals(Buffer.alloc(64))).toBe(true);
    // The next message is written where the failed one was, and is whole.
    const after = encode(message(2, 16, 3));
    expect(decode(after)).toEqual(message(2, 16, 3));
  });

  it('zeroing a returned encoding (as the key repository does) leaves the key bytes nowhere in the slab', () => {
    const key = secret();
    const out = encode(S(Tag.KeyBlock, [B(Tag.KeyMaterial, key)]));
    expect(slabOf(out).indexOf(key)).toBe(out.byteOffset + 16);
    out.fill(0);
    expect(slabOf(out).indexOf(key)).toBe(-1);
  });
});

describe('decode(): trees are independent', () => {
  it('trees from successive decodes share no arrays and stay intact', () => {
    const a = encode(message(3, 20, 10));
    const b = encode(message(7, 5, 20));
    const ta = decode(a);
    const tb = decode(b);
    expect(ta).toEqual(message(3, 20, 10));
    expect(tb).toEqual(message(7, 5, 20));
    expect(encode(ta).equals(a)).toBe(true);
    expect(ta.value).not.toBe(tb.value);
  });

  it('Structures of 0 to 40 children come back with exactly their children, after a decode that failed half-way too', () => {
    for (let n = 0; n <= 40; n++) {
      const tree = S(Tag.RequestMessage, [S(Tag.BatchItem, Array.from({ length: n }, (_, i) => I(Tag.BatchCount, i))), S(Tag.RequestHeader, [])]);
      const bytes = encode(tree);
      // A truncated copy fails inside the inner Structure with children already gathered.
      expect(() => decode(bytes.subarray(0, bytes.length - 24))).toThrow(TtlvError);
      const got = decode(bytes);
      expect(got).toEqual(tree);
      const inner = (got.value as TtlvItem[])[0]!.value as TtlvItem[];
      expect(inner.length).toBe(n);
    }
  });

  it('a very wide Structure decodes, and a narrow one after it', () => {
    const wide = S(Tag.RequestMessage, Array.from({ length: 6000 }, (_, i) => I(Tag.BatchCount, i)));
    expect((decode(encode(wide)).value as TtlvItem[]).length).toBe(6000);
    expect(decode(encode(message(1, 3, 30)))).toEqual(message(1, 3, 30));
  });
});
