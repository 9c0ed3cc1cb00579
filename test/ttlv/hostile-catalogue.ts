// The numbered catalogue of hostile TTLV inputs (DESIGN.md §6.5, third layer). Data only:
// test/ttlv/hostile.test.ts feeds each entry to the decoder or the framer and checks that it
// fails for exactly the stated reason. Numbers are stable: add new entries at the end.
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { ItemType } from '../../src/ttlv/generated/itemTypes.ts';
import type { TtlvErrorCode } from '../../src/ttlv/errors.ts';
import { DEFAULT_MAX_MESSAGE_SIZE, MAX_BIG_INTEGER_BYTES, MAX_DEPTH, MAX_ITEMS } from '../../src/ttlv/limits.ts';

export type Expectation =
  /** `offset` is exact, or an inclusive [first, last] range when any byte of a field may be named. */
  | { kind: 'TtlvError'; code: TtlvErrorCode; offset?: number | [number, number]; path?: string }
  | { kind: 'FrameTooLarge'; claimed: number };

export interface HostileCase {
  id: string;
  title: string;
  /** Which layer receives the bytes: `decode()` or a fresh `TtlvFramer` (one push). */
  target: 'decode' | 'framer';
  input: () => Buffer;
  expect: Expectation;
}

/** An 8-byte item header: 3-byte tag, type byte, 4-byte length (KMIP 2.1 s.10.1). */
export function header(tag: number, type: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUIntBE(tag, 0, 3);
  b[3] = type;
  b.writeUInt32BE(length >>> 0, 4);
  return b;
}

const cat = (...parts: (Buffer | number[])[]) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const zeros = (n: number) => Buffer.alloc(n);
const int32 = (tag: number, v: number) => cat(header(tag, ItemType.Integer, 4), [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255], zeros(4));
const err = (code: TtlvErrorCode, offset?: number | [number, number], path?: string): Expectation => ({ kind: 'TtlvError', code, ...(offset === undefined ? {} : { offset }), ...(path === undefined ? {} : { path }) });

/** `n` Structures nested inside each other, each length consistent with its contents. */
function nested(n: number): Buffer {
  const out = Buffer.alloc(8 * n);
  for (let i = 0; i < n; i++) out.set(header(Tag.Attributes, ItemType.Structure, 8 * (n - 1 - i)), 8 * i);
  return out;
}

/** One Structure holding `n` empty Structures: n + 1 items in 8(n + 1) bytes. */
function flat(n: number): Buffer {
  const out = Buffer.alloc(8 * (n + 1));
  out.set(header(Tag.RequestMessage, ItemType.Structure, 8 * n), 0);
  const empty = header(Tag.Attributes, ItemType.Structure, 0);
  for (let i = 1; i <= n; i++) out.set(empty, 8 * i);
  return out;
}

export const HOSTILE: HostileCase[] = [
  {
    id: 'E01', title: 'truncated header: 5 of 8 bytes', target: 'decode',
    input: () => Buffer.from([0x42, 0x00, 0x01, 0x09, 0x00]),
    expect: err('TRUNCATED', 0),
  },
  {
    id: 'E02', title: 'empty input', target: 'decode',
    input: () => Buffer.alloc(0),
    expect: err('TRUNCATED', 0),
  },
  {
    id: 'E03', title: 'type 0x0C (Identifier, KMIP 3.0 draft only) is unknown to a 2.1 codec', target: 'decode',
    input: () => cat(header(Tag.UniqueIdentifier, 0x0c, 4), zeros(8)),
    expect: err('BAD_TYPE', 3, 'UniqueIdentifier'),
  },
  {
    id: 'E04', title: 'type 0xFF', target: 'decode',
    input: () => cat(header(Tag.CryptographicLength, 0xff, 4), zeros(8)),
    expect: err('BAD_TYPE', 3),
  },
  {
    id: 'E05', title: 'type 0x00', target: 'decode',
    input: () => cat(header(Tag.CryptographicLength, 0x00, 0)),
    expect: err('BAD_TYPE', 3),
  },
  {
    id: 'E06', title: 'child Text String runs past its parent Structure (but not past the input)', target: 'decode',
    // Outer(len 32){ Inner(len 16){ TextString len 16 → needs 24 bytes, 8 left }, 8 more bytes }
    input: () => cat(
      header(Tag.RequestMessage, ItemType.Structure, 32),
      header(Tag.BatchItem, ItemType.Structure, 16),
      header(Tag.NameValue, ItemType.TextString, 16), zeros(8),
      zeros(8),
    ),
    expect: err('PAST_PARENT', 16, 'RequestMessage/BatchItem/NameValue'),
  },
  {
    id: 'E07', title: 'Byte String length runs past the end of the input', target: 'decode',
    input: () => cat(header(Tag.KeyMaterial, ItemType.ByteString, 16), zeros(8)),
    expect: err('TRUNCATED', 0),
  },
  {
    id: 'E08', title: '2 GiB length claim offered to the framer', target: 'framer',
    input: () => header(Tag.RequestMessage, ItemType.Structure, 0x80000000),
    expect: { kind: 'FrameTooLarge', claimed: 0x80000000 + 8 },
  },
  {
    id: 'E09', title: '2 GiB Byte String length claim offered to the decoder (no allocation, no overflow)', target: 'decode',
    input: () => cat(header(Tag.KeyMaterial, ItemType.ByteString, 0x80000000), zeros(8)),
    expect: err('TRUNCATED', 0),
  },
  {
    id: 'E10', title: 'Text String length 0xFFFFFFFF (padding arithmetic must not wrap)', target: 'decode',
    input: () => cat(header(Tag.NameValue, ItemType.TextString, 0xffffffff), zeros(8)),
    expect: err('TRUNCATED', 0),
  },
  {
    id: 'E11', title: `10 000 nested Structures (limit MAX_DEPTH = ${MAX_DEPTH})`, target: 'decode',
    input: () => nested(10_000),
    expect: err('TOO_DEEP', 8 * MAX_DEPTH),
  },
  {
    id: 'E12', title: 'non-zero padding after an Integer', target: 'decode',
    input: () => { const b = int32(Tag.CryptographicLength, 256); b[13] = 0x01; return b; },
    // The decoder may name the padding field (12) or the offending byte (13).
    expect: err('BAD_PADDING', [12, 13]),
  },
  {
    id: 'E13', title: 'non-zero padding after a Text String', target: 'decode',
    input: () => cat(header(Tag.NameValue, ItemType.TextString, 5), Buffer.from('Key-1'), [0, 0, 0x20]),
    expect: err('BAD_PADDING', 15),
  },
  {
    id: 'E14', title: 'non-zero padding after a Byte String', target: 'decode',
    input: () => cat(header(Tag.IVCounterNonce, ItemType.ByteString, 1), [0xaa, 0xff, 0, 0, 0, 0, 0, 0]),
    expect: err('BAD_PADDING', 9),
  },
  {
    id: 'E15', title: 'invalid UTF-8: truncated two-byte sequence', target: 'decode',
    input: () => cat(header(Tag.NameValue, ItemType.TextString, 1), [0xc3], zeros(7)),
    expect: err('BAD_UTF8', 0),
  },
  {
    id: 'E16', title: 'invalid UTF-8: overlong encoding of NUL (C0 80)', target: 'decode',
    input: () => cat(header(Tag.NameValue, ItemType.TextString, 2), [0xc0, 0x80], zeros(6)),
    expect: err('BAD_UTF8', 0),
  },
  {
    id: 'E17', title: 'invalid UTF-8: encoded UTF-16 surrogate (ED A0 80)', target: 'decode',
    input: () => cat(header(Tag.NameValue, ItemType.TextString, 3), [0xed, 0xa0, 0x80], zeros(5)),
    expect: err('BAD_UTF8', 0),
  },
  {
    id: 'E18', title: 'Big Integer length 5 (not a multiple of 8)', target: 'decode',
    input: () => cat(header(Tag.PublicExponent, ItemType.BigInteger, 5), [1, 0, 1, 0, 0, 0, 0, 0]),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E19', title: 'Big Integer length 0', target: 'decode',
    input: () => header(Tag.PublicExponent, ItemType.BigInteger, 0),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E20', title: 'Boolean value 2', target: 'decode',
    input: () => cat(header(Tag.RandomIV, ItemType.Boolean, 8), [0, 0, 0, 0, 0, 0, 0, 2]),
    expect: err('BAD_BOOLEAN', 0),
  },
  {
    id: 'E21', title: 'Boolean with a bit set in its high word', target: 'decode',
    input: () => cat(header(Tag.RandomIV, ItemType.Boolean, 8), [0x80, 0, 0, 0, 0, 0, 0, 1]),
    expect: err('BAD_BOOLEAN', 0),
  },
  {
    id: 'E22', title: 'Integer with length 8', target: 'decode',
    input: () => cat(header(Tag.CryptographicLength, ItemType.Integer, 8), zeros(8)),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E23', title: 'Long Integer with length 4', target: 'decode',
    input: () => cat(header(Tag.UsageLimitsTotal, ItemType.LongInteger, 4), zeros(8)),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E24', title: 'Enumeration with length 0', target: 'decode',
    input: () => cat(header(Tag.CryptographicAlgorithm, ItemType.Enumeration, 0), zeros(8)),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E25', title: 'Structure length 12 (not a multiple of 8)', target: 'decode',
    input: () => cat(header(Tag.RequestMessage, ItemType.Structure, 12), zeros(16)),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E26', title: '8 trailing bytes after a complete item', target: 'decode',
    input: () => cat(int32(Tag.CryptographicLength, 1), zeros(8)),
    expect: err('TRAILING_BYTES', 16),
  },
  {
    id: 'E27', title: 'tag 0x430001, outside the 0x42XXXX and 0x54XXXX ranges (s.11.56)', target: 'decode',
    input: () => int32(0x430001, 1),
    expect: err('BAD_TAG', 0),
  },
  {
    id: 'E28', title: 'tag 0x000000 nested in a Request Message', target: 'decode',
    input: () => cat(header(Tag.RequestMessage, ItemType.Structure, 16), int32(0x000000, 1)),
    expect: err('BAD_TAG', 8, 'RequestMessage'),
  },
  {
    id: 'E29', title: `too many items: ${MAX_ITEMS} empty Structures inside one (limit MAX_ITEMS)`, target: 'decode',
    input: () => flat(MAX_ITEMS),
    // The root is item 1, so child number MAX_ITEMS is item MAX_ITEMS + 1.
    expect: err('TOO_MANY_ITEMS', 8 * MAX_ITEMS),
  },
  {
    id: 'E30', title: `huge Big Integer: ${2 * MAX_BIG_INTEGER_BYTES} bytes (limit MAX_BIG_INTEGER_BYTES)`, target: 'decode',
    input: () => cat(header(Tag.Modulus, ItemType.BigInteger, 2 * MAX_BIG_INTEGER_BYTES), zeros(2 * MAX_BIG_INTEGER_BYTES)),
    expect: err('TOO_LARGE', 0),
  },
  {
    id: 'E31', title: 'Date Time with length 4', target: 'decode',
    input: () => cat(header(Tag.ActivationDate, ItemType.DateTime, 4), zeros(8)),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E32', title: 'Date Time Extended with length 16', target: 'decode',
    input: () => cat(header(Tag.TimeStamp, ItemType.DateTimeExtended, 16), zeros(16)),
    expect: err('BAD_LENGTH', 0),
  },
  {
    id: 'E33', title: 'non-zero padding after an Interval', target: 'decode',
    input: () => cat(header(Tag.Offset, ItemType.Interval, 4), [0, 1, 0x51, 0x80, 0, 0, 0, 0xff]),
    expect: err('BAD_PADDING', [12, 15]),
  },
  {
    id: 'E34', title: 'Integer value present but its 4 padding bytes missing', target: 'decode',
    input: () => cat(header(Tag.CryptographicLength, ItemType.Integer, 4), [0, 0, 1, 0]),
    expect: err('TRUNCATED', 0),
  },
  {
    id: 'E35', title: 'Boolean whose value lies outside its parent Structure', target: 'decode',
    // Outer(len 24){ Inner(len 8){ Boolean header, value outside Inner }, 8 bytes }
    input: () => cat(
      header(Tag.RequestMessage, ItemType.Structure, 24),
      header(Tag.CryptographicParameters, ItemType.Structure, 8),
      header(Tag.RandomIV, ItemType.Boolean, 8),
      zeros(8),
    ),
    expect: err('PAST_PARENT', 16, 'RequestMessage/CryptographicParameters/RandomIV'),
  },
  {
    id: 'E36', title: 'frame one byte over the default maximum (1 MiB) offered to the framer', target: 'framer',
    input: () => header(Tag.RequestMessage, ItemType.Structure, DEFAULT_MAX_MESSAGE_SIZE - 8 + 1),
    expect: { kind: 'FrameTooLarge', claimed: DEFAULT_MAX_MESSAGE_SIZE + 1 },
  },
  {
    id: 'E37', title: 'Structure length past the end of the input', target: 'decode',
    input: () => cat(header(Tag.RequestMessage, ItemType.Structure, 64), int32(Tag.BatchCount, 1)),
    expect: err('TRUNCATED', 0),
  },
  {
    id: 'E38', title: 'Big Integer length 16 with only 8 bytes inside its parent', target: 'decode',
    // Grandparent(len 32){ Parent(len 16){ Big Integer claiming 16 value bytes, 8 inside }, 8 bytes }:
    // the claim stays within the input, so only the parent boundary is crossed.
    input: () => cat(
      header(Tag.RequestMessage, ItemType.Structure, 32),
      header(Tag.PublicKey, ItemType.Structure, 16),
      header(Tag.PublicExponent, ItemType.BigInteger, 16), zeros(8),
      zeros(8),
    ),
    expect: err('PAST_PARENT', 16, 'RequestMessage/PublicKey/PublicExponent'),
  },
];
