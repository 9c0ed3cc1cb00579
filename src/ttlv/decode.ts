// Binary TTLV → tree (KMIP 2.1 s.10.1; 1.4 s.9.1). Strict: every rule of the encoding
// is checked and every violation is a TtlvError carrying the byte offset and tag path.
// Nothing else escapes decode().
import { isUtf8 } from 'node:buffer';
import { TtlvError, type TtlvErrorCode } from './errors.ts';
import { MAX_BIG_INTEGER_BYTES, MAX_DEPTH, MAX_ITEMS } from './limits.ts';
import { TAG_INFO } from './generated/tags.ts';
import type { TtlvItem } from './types.ts';

export interface DecodeOptions {
  /** Copy Byte String values out of the input instead of returning views (default false). */
  copyByteStrings?: boolean;
  maxDepth?: number;
  maxItems?: number;
}

// Type byte codes (s.10.1.2). Kept as literals in the switch below for speed; the
// generated ItemType table is the source and test/ttlv/generated.test.ts checks they agree.
const STRUCTURE = 0x01, INTEGER = 0x02, LONG_INTEGER = 0x03, BIG_INTEGER = 0x04, ENUMERATION = 0x05,
  BOOLEAN = 0x06, TEXT_STRING = 0x07, BYTE_STRING = 0x08, DATE_TIME = 0x09, INTERVAL = 0x0a,
  DATE_TIME_EXTENDED = 0x0b;

export function tagLabel(tag: number): string {
  return TAG_INFO.get(tag)?.name ?? '0x' + tag.toString(16).toUpperCase().padStart(6, '0');
}

/** s.11.56: standard tags are 0x42XXXX, extension tags 0x54XXXX; every other value is unused. */
export function isValidTag(tag: number): boolean {
  const hi = tag >>> 16;
  return hi === 0x42 || hi === 0x54;
}

class Decoder {
  private items = 0;
  private readonly stack: number[] = [];
  constructor(
    private readonly buf: Buffer,
    private readonly copy: boolean,
    private readonly maxDepth: number,
    private readonly maxItems: number,
  ) {}

  fail(code: TtlvErrorCode, detail: string, offset: number, extraTag?: number): never {
    const tags = extraTag === undefined ? this.stack : [...this.stack, extraTag];
    throw new TtlvError(code, detail, offset, tags.map(tagLabel).join('/'));
  }

  private checkZeroPadding(from: number, to: number, tag: number): void {
    // Padding content is not fixed by the 2.1 text; the 1.0 examples, every OASIS vector
    // and PyKMIP use zeros. We refuse anything else (a policy choice, NOTES.md §1).
    const b = this.buf;
    for (let i = from; i < to; i++) if (b[i] !== 0) this.fail('BAD_PADDING', 'non-zero padding byte', i, tag);
  }

  /**
   * Decodes one item at `off`, which must end at or before `end`, and leaves the offset
   * after it in `this.pos`. (A field instead of a returned tuple: this is the hot path.)
   */
  pos = 0;

  private fixedLength(off: number, end: number, tag: number, len: number, want: number, name: string): void {
    if (len !== want) this.fail('BAD_LENGTH', `${name} length must be ${want}, got ${len}`, off, tag);
    // Fixed-size values always occupy 8 bytes on the wire (4-byte ones carry 4 padding bytes).
    if (end - off - 8 < 8) this.fail(this.pastOrTruncated(off + 16), `${name} needs 8 value bytes, ${end - off - 8} left`, off, tag);
  }

  item(off: number, end: number, depth: number): TtlvItem {
    const b = this.buf;
    if (end - off < 8) this.fail('TRUNCATED', `item header needs 8 bytes, ${end - off} left`, off);
    if (++this.items > this.maxItems) this.fail('TOO_MANY_ITEMS', `more than ${this.maxItems} items`, off);
    const tag = (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!;
    const hi = tag >>> 16; // s.11.56: 0x42XXXX standard, 0x54XXXX extension
    if (hi !== 0x42 && hi !== 0x54) this.fail('BAD_TAG', `tag 0x${tag.toString(16).padStart(6, '0')} is outside the standard (0x42XXXX) and extension (0x54XXXX) ranges`, off);
    const type = b[off + 3]!;
    const len = ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
    const v = off + 8;
    const avail = end - v;
    switch (type) {
      case STRUCTURE: {
        if (len % 8 !== 0) this.fail('BAD_LENGTH', `Structure length ${len} is not a multiple of 8`, off, tag);
        if (len > avail) this.fail(this.pastOrTruncated(v + len), `Structure length ${len} runs past the ${avail} bytes available`, off, tag);
        if (depth >= this.maxDepth) this.fail('TOO_DEEP', `nesting deeper than ${this.maxDepth}`, off, tag);
        const children: TtlvItem[] = [];
        const childEnd = v + len;
        this.stack.push(tag);
        let p = v;
        while (p < childEnd) {
          children.push(this.item(p, childEnd, depth + 1));
          p = this.pos;
        }
        this.stack.pop();
        this.pos = childEnd;
        return { tag, type: 'Structure', value: children };
      }
      case INTEGER:
        if (len !== 4 || avail < 8) this.fixedLength(off, end, tag, len, 4, 'Integer');
        if ((b[v + 4]! | b[v + 5]! | b[v + 6]! | b[v + 7]!) !== 0) this.fail('BAD_PADDING', 'non-zero padding after Integer', v + 4, tag);
        this.pos = v + 8;
        return { tag, type: 'Integer', value: (b[v]! << 24) | (b[v + 1]! << 16) | (b[v + 2]! << 8) | b[v + 3]! };
      case ENUMERATION:
        if (len !== 4 || avail < 8) this.fixedLength(off, end, tag, len, 4, 'Enumeration');
        if ((b[v + 4]! | b[v + 5]! | b[v + 6]! | b[v + 7]!) !== 0) this.fail('BAD_PADDING', 'non-zero padding after Enumeration', v + 4, tag);
        this.pos = v + 8;
        return { tag, type: 'Enumeration', value: ((b[v]! << 24) | (b[v + 1]! << 16) | (b[v + 2]! << 8) | b[v + 3]!) >>> 0 };
      case INTERVAL:
        if (len !== 4 || avail < 8) this.fixedLength(off, end, tag, len, 4, 'Interval');
        if ((b[v + 4]! | b[v + 5]! | b[v + 6]! | b[v + 7]!) !== 0) this.fail('BAD_PADDING', 'non-zero padding after Interval', v + 4, tag);
        this.pos = v + 8;
        return { tag, type: 'Interval', value: ((b[v]! << 24) | (b[v + 1]! << 16) | (b[v + 2]! << 8) | b[v + 3]!) >>> 0 };
      case LONG_INTEGER:
        this.fixedLength(off, end, tag, len, 8, 'Long Integer');
        this.pos = v + 8;
        return { tag, type: 'LongInteger', value: b.readBigInt64BE(v) };
      case DATE_TIME:
        this.fixedLength(off, end, tag, len, 8, 'Date Time');
        this.pos = v + 8;
        return { tag, type: 'DateTime', value: b.readBigInt64BE(v) };
      case DATE_TIME_EXTENDED:
        this.fixedLength(off, end, tag, len, 8, 'Date Time Extended');
        this.pos = v + 8;
        return { tag, type: 'DateTimeExtended', value: b.readBigInt64BE(v) };
      case BOOLEAN: {
        this.fixedLength(off, end, tag, len, 8, 'Boolean');
        const hi = b.readUInt32BE(v), lo = b.readUInt32BE(v + 4);
        // s.10.1.2: only 0 and 1 are defined values.
        if (hi !== 0 || lo > 1) this.fail('BAD_BOOLEAN', 'Boolean value must be 0 or 1', off, tag);
        this.pos = v + 8;
        return { tag, type: 'Boolean', value: lo === 1 };
      }
      case BIG_INTEGER: {
        if (len === 0 || len % 8 !== 0) this.fail('BAD_LENGTH', `Big Integer length ${len} is not a positive multiple of 8`, off, tag);
        if (len > MAX_BIG_INTEGER_BYTES) this.fail('TOO_LARGE', `Big Integer of ${len} bytes exceeds ${MAX_BIG_INTEGER_BYTES}`, off, tag);
        if (len > avail) this.fail(this.pastOrTruncated(v + len), `Big Integer length ${len} runs past the ${avail} bytes available`, off, tag);
        this.pos = v + len;
        return { tag, type: 'BigInteger', value: bigIntFromTwosComplement(b, v, v + len) };
      }
      case TEXT_STRING:
      case BYTE_STRING: {
        const padded = len + ((8 - (len % 8)) % 8); // arithmetic, not bit ops: len may exceed 2^31
        if (padded > avail) this.fail(this.pastOrTruncated(v + padded), `${type === TEXT_STRING ? 'Text' : 'Byte'} String length ${len} runs past the ${avail} bytes available`, off, tag);
        this.checkZeroPadding(v + len, v + padded, tag);
        this.pos = v + padded;
        if (type === TEXT_STRING) return { tag, type: 'TextString', value: this.text(v, len, off, tag) };
        const view = b.subarray(v, v + len);
        return { tag, type: 'ByteString', value: this.copy ? Buffer.from(view) : view };
      }
      default:
        return this.fail('BAD_TYPE', `unknown item type 0x${type.toString(16).padStart(2, '0')}`, off + 3, tag);
    }
  }

  /** UTF-8 text, validated (s.10.1.2). Short ASCII strings, the common case, skip the validator. */
  private text(v: number, len: number, off: number, tag: number): string {
    const b = this.buf;
    if (len <= 64) {
      let ascii = true;
      for (let i = v; i < v + len; i++) if (b[i]! >= 0x80) { ascii = false; break; }
      if (ascii) return b.toString('latin1', v, v + len);
    }
    const raw = b.subarray(v, v + len);
    if (!isUtf8(raw)) this.fail('BAD_UTF8', 'Text String is not valid UTF-8', off, tag);
    return raw.toString('utf8');
  }

  /** A length that runs past the whole input is truncation; one that only runs past the parent is PAST_PARENT. */
  private pastOrTruncated(wantedEnd: number): TtlvErrorCode {
    return wantedEnd > this.buf.length ? 'TRUNCATED' : 'PAST_PARENT';
  }
}

function bigIntFromTwosComplement(b: Buffer, from: number, to: number): bigint {
  let n = 0n;
  // Eight bytes at a time keeps BigInt work linear for the key sizes we see.
  for (let i = from; i < to; i += 8) n = (n << 64n) | b.readBigUInt64BE(i);
  const negative = (b[from]! & 0x80) !== 0;
  return negative ? n - (1n << BigInt((to - from) * 8)) : n;
}

/**
 * Decodes exactly one TTLV item that fills the whole buffer (a KMIP message, or any
 * item for tooling). Throws TtlvError and nothing else.
 *
 * Ownership: Byte String values are views of `buf` unless `copyByteStrings` is set. A
 * caller that decodes a buffer it will reuse or overwrite (a connection's read buffer, a
 * pooled chunk) must copy the values it keeps past that point, or decode with
 * `copyByteStrings`; a caller that zeroes `buf` (key material) zeroes those views too.
 * Nothing else refers to `buf` after decode() returns.
 */
export function decode(buf: Buffer, options: DecodeOptions = {}): TtlvItem {
  const d = new Decoder(buf, options.copyByteStrings ?? false, options.maxDepth ?? MAX_DEPTH, options.maxItems ?? MAX_ITEMS);
  try {
    const item = d.item(0, buf.length, 0);
    const end = d.pos;
    if (end !== buf.length) d.fail('TRAILING_BYTES', `${buf.length - end} bytes after the item`, end);
    return item;
  } catch (e) {
    if (e instanceof TtlvError) throw e;
    // Defensive: a bug above must still surface as the codec's error type.
    throw new TtlvError('SYNTAX', `decoder fault: ${(e as Error).message}`, 0, '');
  }
}
