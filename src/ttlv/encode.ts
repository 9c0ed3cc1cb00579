// Tree → canonical binary TTLV (KMIP 2.1 s.10.1): zero padding, minimal Big Integer
// sign extension, Structure lengths computed from the children. One pass straight into a
// shared output slab; Structure lengths are patched once their children are written, and
// the message is returned as a view of the slab (no copy-out).
import { TtlvError } from './errors.ts';
import { DEFAULT_MAX_MESSAGE_SIZE } from './limits.ts';
import { isValidTag, tagLabel } from './decode.ts';
import type { TtlvItem } from './types.ts';

const TYPE_CODE = {
  Structure: 0x01, Integer: 0x02, LongInteger: 0x03, BigInteger: 0x04, Enumeration: 0x05, Boolean: 0x06,
  TextString: 0x07, ByteString: 0x08, DateTime: 0x09, Interval: 0x0a, DateTimeExtended: 0x0b,
} as const;

const INT64_MIN = -(1n << 63n), INT64_MAX = (1n << 63n) - 1n;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER), MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Size of the output slab. Messages are written one after another into it and handed out
 * as views, the way Buffer.allocUnsafe hands out views of Node's 8 KiB pool: a small
 * encoding keeps its slab alive while it lives, and the slab is never written again under
 * it. 64 KiB makes a fresh slab (an ArrayBuffer allocation, several times the cost of a
 * whole small message) rare: once per ~200 Encrypt requests.
 */
const SLAB_SIZE = 64 * 1024;
/** A message starts on a fresh slab when less than this is left of the current one. */
const SLAB_MIN_LEFT = 1024;
/**
 * Largest slab kept for the next message after a big one made it grow. Twice the default
 * maximum message size, so a stream of near-maximal messages does not regrow from 64 KiB
 * each time; larger ones (tooling on big files) are let go so one call cannot pin memory.
 */
const MAX_KEPT_SLAB = 2 * DEFAULT_MAX_MESSAGE_SIZE + 4096;

class Encoder {
  buf: Buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
  /** Where the message being written starts in `buf`. */
  base = 0;
  off = 0;
  /** Tags of the open Structures, for error paths: written by depth (no push/pop per Structure), reset per message. */
  private readonly path: number[] = [];
  depth = 0;

  private fail(detail: string, tag: number, code: 'BAD_VALUE' | 'PLACEHOLDER' | 'BAD_TAG' | 'BAD_TYPE' = 'BAD_VALUE'): never {
    throw new TtlvError(code, detail, this.off - this.base, [...this.path.slice(0, this.depth), tag].map(tagLabel).join('/'));
  }

  private ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    // Move the message written so far to a new slab large enough for it. The old copy is
    // zeroed: it may hold key material (hierarchy/repository.ts encodes plaintext keys and
    // zeroes the returned view only).
    const used = this.off - this.base;
    // Doubling what the message needs: a message that grows item by item moves a few times only.
    const size = Math.max(SLAB_SIZE, 2 * (used + n));
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, this.base, this.off);
    this.buf.fill(0, this.base, this.off);
    this.buf = next;
    this.base = 0;
    this.off = used;
  }

  /** Starts a message at the next 8-byte boundary of the slab (or on a fresh slab). */
  begin(): void {
    let at = (this.off + 7) & ~7;
    if (this.buf.length - at < SLAB_MIN_LEFT || this.buf.length > MAX_KEPT_SLAB) {
      this.buf = Buffer.allocUnsafeSlow(SLAB_SIZE);
      at = 0;
    }
    this.base = this.off = at;
    this.depth = 0;
  }

  /** The finished message, a view the caller owns: no later message is written over it. */
  finish(): Buffer {
    return this.buf.subarray(this.base, this.off);
  }

  /** A failed message's partial bytes are zeroed (they may hold key material) and its space reused. */
  abandon(): void {
    this.buf.fill(0, this.base, this.off);
    this.off = this.base;
  }

  private header(tag: number, type: number, len: number): void {
    // Plain byte stores: writeUInt32BE's argument and bounds checks cost more than the
    // store itself here, and ensure() has already made room.
    const b = this.buf, o = this.off;
    b[o] = tag >>> 16; b[o + 1] = (tag >>> 8) & 0xff; b[o + 2] = tag & 0xff; b[o + 3] = type;
    b[o + 4] = len >>> 24; b[o + 5] = (len >>> 16) & 0xff; b[o + 6] = (len >>> 8) & 0xff; b[o + 7] = len & 0xff;
    this.off = o + 8;
  }

  /** A 32-bit value already range-checked (two's complement for negatives: pass `v >>> 0`). */
  private u32(v: number, o: number): void {
    const b = this.buf;
    b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
  }

  /**
   * A signed 64-bit value already range-checked. Date Times (every response header has one)
   * are far inside ±2^53: split as a Number, which is several times cheaper than the BigInt
   * shifts of writeBigInt64BE; anything larger takes that path.
   */
  private i64(v: bigint): void {
    if (v >= MIN_SAFE && v <= MAX_SAFE) {
      const n = Number(v);
      const hi = Math.floor(n / 0x100000000);
      this.u32(hi >>> 0, this.off);
      this.u32((n - hi * 0x100000000) >>> 0, this.off + 4);
    } else {
      this.buf.writeBigInt64BE(v, this.off);
    }
    this.off += 8;
  }

  /** A 32-bit value and its 4 padding bytes (Integer, Enumeration, Interval), unrolled. */
  private u32pad(v: number): void {
    const b = this.buf, o = this.off;
    b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
    b[o + 4] = 0; b[o + 5] = 0; b[o + 6] = 0; b[o + 7] = 0;
    this.off = o + 8;
  }

  private zeros(n: number): void {
    // n is 0..7 (padding); a loop beats Buffer.fill's native call at this size.
    const b = this.buf;
    for (let i = 0; i < n; i++) b[this.off + i] = 0;
    this.off += n;
  }

  item(it: TtlvItem): void {
    const tag = it.tag;
    // (tag >>> 16) is 0x42 or 0x54 only for integers in the two tag ranges (s.11.56).
    const hi = tag >>> 16;
    if ((hi !== 0x42 && hi !== 0x54) || tag !== (tag | 0)) this.fail(`invalid tag ${tag}`, tag, 'BAD_TAG');
    if (it.placeholder !== undefined) this.fail(`unsubstituted placeholder ${it.placeholder}`, tag, 'PLACEHOLDER');
    switch (it.type) {
      case 'Structure': {
        this.ensure(8);
        // Relative to the message's start: ensure() may move the message to a new slab.
        const start = this.off - this.base;
        this.header(tag, 0x01, 0);
        this.path[this.depth++] = tag;
        const kids = it.value;
        for (let i = 0; i < kids.length; i++) this.item(kids[i]!);
        this.depth--;
        this.u32(this.off - this.base - start - 8, this.base + start + 4);
        return;
      }
      case 'Integer':
        if (!Number.isInteger(it.value) || it.value < -0x80000000 || it.value > 0x7fffffff) this.fail(`Integer ${it.value} is not a signed 32-bit value`, tag);
        this.ensure(16);
        this.header(tag, 0x02, 4);
        this.u32pad(it.value >>> 0);
        return;
      case 'Enumeration':
      case 'Interval':
        if (!Number.isInteger(it.value) || it.value < 0 || it.value > 0xffffffff) this.fail(`${it.type} ${it.value} is not an unsigned 32-bit value`, tag);
        this.ensure(16);
        this.header(tag, it.type === 'Enumeration' ? 0x05 : 0x0a, 4);
        this.u32pad(it.value);
        return;
      case 'LongInteger':
      case 'DateTime':
      case 'DateTimeExtended':
        if (typeof it.value !== 'bigint' || it.value < INT64_MIN || it.value > INT64_MAX) this.fail(`${it.type} ${String(it.value)} is not a signed 64-bit value`, tag);
        this.ensure(16);
        this.header(tag, TYPE_CODE[it.type], 8);
        this.i64(it.value);
        return;
      case 'Boolean':
        this.ensure(16);
        this.header(tag, 0x06, 8);
        this.zeros(7);
        this.buf[this.off++] = it.value ? 1 : 0;
        return;
      case 'TextString': {
        if (typeof it.value !== 'string') this.fail('Text String value is not a string', tag);
        const str = it.value;
        // Short ASCII strings (identifiers, names) are the common case: copy them byte by
        // byte and skip the UTF-8 length pass.
        if (str.length <= 64) {
          this.ensure(8 + 64);
          const b = this.buf, start = this.off + 8;
          let i = 0;
          for (; i < str.length; i++) {
            const c = str.charCodeAt(i);
            if (c >= 0x80) break;
            b[start + i] = c;
          }
          if (i === str.length) {
            this.header(tag, 0x07, i);
            this.off += i;
            this.zeros((8 - (i % 8)) % 8);
            return;
          }
        }
        const len = Buffer.byteLength(str, 'utf8');
        const pad = (8 - (len % 8)) % 8;
        this.ensure(8 + len + pad);
        this.header(tag, 0x07, len);
        this.off += this.buf.write(str, this.off, 'utf8');
        this.zeros(pad);
        return;
      }
      case 'ByteString': {
        const v = it.value;
        if (!(v instanceof Uint8Array)) this.fail('Byte String value is not a Buffer', tag);
        const pad = (8 - (v.length % 8)) % 8;
        this.ensure(8 + v.length + pad);
        this.header(tag, 0x08, v.length);
        this.buf.set(v, this.off); this.off += v.length;
        this.zeros(pad);
        return;
      }
      case 'BigInteger': {
        if (typeof it.value !== 'bigint') this.fail('Big Integer value is not a bigint', tag);
        const bytes = bigIntToTwosComplement(it.value);
        this.ensure(8 + bytes.length);
        this.header(tag, 0x04, bytes.length);
        this.buf.set(bytes, this.off); this.off += bytes.length;
        return;
      }
      default:
        this.fail(`unknown item type ${(it as { type: unknown }).type as string}`, tag, 'BAD_TYPE');
    }
  }
}

/**
 * Two's complement, big-endian, left-padded with the minimal number of sign bytes to a
 * multiple of 8 (s.10.1.2 Big Integer).
 */
export function bigIntToTwosComplement(n: bigint): Buffer {
  const negative = n < 0n;
  // Bits needed including the sign bit.
  const magnitude = negative ? -n - 1n : n;
  const bits = magnitude.toString(2).length + 1;
  const bytes = Math.max(8, Math.ceil(bits / 64) * 8);
  const out = Buffer.alloc(bytes, negative ? 0xff : 0x00);
  let v = negative ? (1n << BigInt(bytes * 8)) + n : n;
  for (let i = bytes - 8; i >= 0; i -= 8) {
    out.writeBigUInt64BE(v & 0xffffffffffffffffn, i);
    v >>= 64n;
  }
  return out;
}

let slab: Encoder | undefined;

/**
 * Encodes one item (normally a whole KMIP message) to canonical bytes. Throws TtlvError on
 * a value the type cannot hold.
 *
 * Ownership: the result is the caller's alone (nothing else is ever written there) but,
 * like a small Buffer.allocUnsafe, it is a view of a larger shared ArrayBuffer (`.buffer`
 * is the slab; use `.byteOffset`/`.length`). Copy it (Buffer.from) before keeping many
 * small encodings for a long time, or each one keeps its 64 KiB slab alive.
 */
export function encode(item: TtlvItem): Buffer {
  // Taken out while in use: a re-entrant call (none today: the encoder calls nothing
  // outside this file) would get an encoder of its own rather than write into this message.
  const enc = slab ?? new Encoder();
  slab = undefined;
  enc.begin();
  try {
    enc.item(item);
    return enc.finish();
  } catch (e) {
    enc.abandon();
    throw e;
  } finally {
    slab = enc;
  }
}
