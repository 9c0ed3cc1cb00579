// Golden byte fixtures (DESIGN.md §6.5, first layer). Each fixture is written out by hand,
// field by field, and checked in both directions: decode(bytes) deep-equals the tree and
// encode(tree) reproduces the bytes exactly. The bytes are never produced by the encoder
// under test, so a mistake on either side shows up here.
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/ttlv/decode.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, NameType, ObjectType, Operation, ResultStatus,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

/** Hex with comments: everything after `//` on a line is dropped, as are spaces and `|`. */
function hex(text: string): Buffer {
  const digits = text
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('')
    .replace(/[\s|]/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad fixture hex: ${digits}`);
  return Buffer.from(digits, 'hex');
}

const S = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const I = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const E = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const T = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const B = (tag: number, value: Buffer): TtlvItem => ({ tag, type: 'ByteString', value });
const DT = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'DateTime', value });

interface Fixture { name: string; bytes: Buffer; item: TtlvItem }

function checkBothWays(f: Fixture): void {
  expect(decode(f.bytes)).toEqual(f.item);
  expect(encode(f.item).toString('hex')).toBe(f.bytes.toString('hex'));
}

// ---------------------------------------------------------------------------
// NOTES.md §1 "Worked examples" (KMIP 2.1 s.10.1)
// ---------------------------------------------------------------------------
const NOTES_EXAMPLES: Fixture[] = [
  {
    name: 'Integer 0x12345678, Cryptographic Length',
    bytes: hex('42 00 2A | 02 | 00 00 00 04 | 12 34 56 78 | 00 00 00 00 // value + 4 padding bytes'),
    item: I(Tag.CryptographicLength, 0x12345678),
  },
  {
    name: 'Integer -1',
    bytes: hex('42 00 2A | 02 | 00 00 00 04 | FF FF FF FF | 00 00 00 00'),
    item: I(Tag.CryptographicLength, -1),
  },
  {
    name: 'Enumeration Cryptographic Algorithm = AES',
    bytes: hex('42 00 28 | 05 | 00 00 00 04 | 00 00 00 03 | 00 00 00 00'),
    item: E(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
  },
  {
    name: 'Long Integer 1, Usage Limits Total',
    bytes: hex('42 00 97 | 03 | 00 00 00 08 | 00 00 00 00 00 00 00 01 // no padding'),
    item: { tag: Tag.UsageLimitsTotal, type: 'LongInteger', value: 1n },
  },
  {
    name: 'Big Integer 65537, Public Exponent',
    bytes: hex('42 00 6C | 04 | 00 00 00 08 | 00 00 00 00 00 01 00 01 // left-padded with 0x00 to 8'),
    item: { tag: Tag.PublicExponent, type: 'BigInteger', value: 65537n },
  },
  {
    name: 'Big Integer -1',
    bytes: hex('42 00 6C | 04 | 00 00 00 08 | FF FF FF FF FF FF FF FF // sign-extended with 0xFF'),
    item: { tag: Tag.PublicExponent, type: 'BigInteger', value: -1n },
  },
  {
    name: 'Big Integer 2^63 (needs a sign byte: 16 bytes)',
    bytes: hex(`42 00 6C | 04 | 00 00 00 10
                00 00 00 00 00 00 00 00 // sign extension: 0x80… alone would read as negative
                80 00 00 00 00 00 00 00`),
    item: { tag: Tag.PublicExponent, type: 'BigInteger', value: 1n << 63n },
  },
  {
    name: 'Boolean false, Random IV',
    bytes: hex('42 00 C5 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 00'),
    item: { tag: Tag.RandomIV, type: 'Boolean', value: false },
  },
  {
    name: 'Text String "Key-1", Name Value',
    bytes: hex('42 00 55 | 07 | 00 00 00 05 | 4B 65 79 2D 31 | 00 00 00 // 5 bytes + 3 padding'),
    item: T(Tag.NameValue, 'Key-1'),
  },
  {
    name: 'Text String "" (no padding at all)',
    bytes: hex('42 00 55 | 07 | 00 00 00 00'),
    item: T(Tag.NameValue, ''),
  },
  {
    name: 'Text String "Schlüssel" (9 characters, 10 UTF-8 bytes)',
    bytes: hex(`42 00 55 | 07 | 00 00 00 0A // Length counts UTF-8 bytes, not characters
                53 63 68 6C C3 BC 73 73 65 6C // "Schl" ü=C3 BC "ssel"
                00 00 00 00 00 00`),
    item: T(Tag.NameValue, 'Schlüssel'),
  },
  {
    name: 'Byte String 01..08, IV/Counter/Nonce',
    bytes: hex('42 00 3D | 08 | 00 00 00 08 | 01 02 03 04 05 06 07 08'),
    item: B(Tag.IVCounterNonce, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])),
  },
  {
    name: 'Date Time 1607904000 (2020-12-14T00:00:00Z), Activation Date',
    bytes: hex('42 00 01 | 09 | 00 00 00 08 | 00 00 00 00 5F D6 AB 00'),
    item: DT(Tag.ActivationDate, 1607904000n),
  },
  {
    name: 'Interval 86400 s, Offset',
    bytes: hex('42 00 58 | 0A | 00 00 00 04 | 00 01 51 80 | 00 00 00 00'),
    item: { tag: Tag.Offset, type: 'Interval', value: 86400 },
  },
  {
    name: 'Date Time Extended 1607904000123456 µs, Time Stamp',
    bytes: hex('42 00 92 | 0B | 00 00 00 08 | 00 05 B6 61 52 C2 A2 40'),
    item: { tag: Tag.TimeStamp, type: 'DateTimeExtended', value: 1607904000123456n },
  },
];

// ---------------------------------------------------------------------------
// KMIP 1.0 s.9.1.2 examples (all under the placeholder tag 0x420020, as the spec writes them)
// ---------------------------------------------------------------------------
const KMIP10_EXAMPLES: Fixture[] = [
  { name: 'Integer 8', bytes: hex('42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00'), item: I(0x420020, 8) },
  {
    name: 'Long Integer 123456789000000000',
    bytes: hex('42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00'),
    item: { tag: 0x420020, type: 'LongInteger', value: 123456789000000000n },
  },
  {
    name: 'Big Integer 1234567890000000000000000000',
    bytes: hex('42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00'),
    item: { tag: 0x420020, type: 'BigInteger', value: 1234567890000000000000000000n },
  },
  { name: 'Enumeration 255', bytes: hex('42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00'), item: E(0x420020, 255) },
  {
    name: 'Boolean true',
    bytes: hex('42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01'),
    item: { tag: 0x420020, type: 'Boolean', value: true },
  },
  {
    name: 'Text String "Hello World"',
    bytes: hex('42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00'),
    item: T(0x420020, 'Hello World'),
  },
  {
    name: 'Byte String 01 02 03',
    bytes: hex('42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00'),
    item: B(0x420020, Buffer.from([1, 2, 3])),
  },
  {
    name: 'Date Time 2008-03-14T11:56:40Z',
    bytes: hex('42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8'),
    item: DT(0x420020, BigInt(Date.UTC(2008, 2, 14, 11, 56, 40) / 1000)),
  },
  {
    name: 'Interval 10 days',
    bytes: hex('42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00'),
    item: { tag: 0x420020, type: 'Interval', value: 864000 },
  },
  {
    name: 'Structure {Enumeration 254 (0x420004), Integer 255 (0x420005)}',
    bytes: hex(`42 00 20 | 01 | 00 00 00 20
                42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00
                42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00`),
    item: S(0x420020, [E(0x420004, 254), I(0x420005, 255)]),
  },
];

// ---------------------------------------------------------------------------
// Whole messages (KMIP 2.1 s.8, s.9). Lengths annotated: "len" is the Length field,
// "= N" the bytes the item occupies on the wire (8 + len + padding).
// ---------------------------------------------------------------------------

/** Protocol Version 2.1 + the lines shared by every header below. */
const PROTOCOL_VERSION_2_1 = `
      42 00 69 | 01 | 00 00 00 20                             // Protocol Version, len 32 (= 40)
        42 00 6A | 02 | 00 00 00 04 | 00 00 00 02 00 00 00 00 //   Major 2
        42 00 6B | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 //   Minor 1`;
const pv21 = S(Tag.ProtocolVersion, [I(Tag.ProtocolVersionMajor, 2), I(Tag.ProtocolVersionMinor, 1)]);

const DISCOVER_VERSIONS_REQUEST: Fixture = {
  name: 'Discover Versions request (NOTES.md §1)',
  bytes: hex(`
    42 00 78 | 01 | 00 00 00 60                               // Request Message, len 96
    42 00 77 | 01 | 00 00 00 38                               // Request Header, len 56 (= 64)
    ${PROTOCOL_VERSION_2_1}
      42 00 0D | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00   // Batch Count 1
    42 00 0F | 01 | 00 00 00 18                               // Batch Item, len 24 (= 32)
      42 00 5C | 05 | 00 00 00 04 | 00 00 00 1E 00 00 00 00   // Operation Discover Versions (0x1E)
      42 00 79 | 01 | 00 00 00 00                             // Request Payload, empty`),
  item: S(Tag.RequestMessage, [
    S(Tag.RequestHeader, [pv21, I(Tag.BatchCount, 1)]),
    S(Tag.BatchItem, [E(Tag.Operation, Operation.DiscoverVersions), S(Tag.RequestPayload, [])]),
  ]),
};

const CREATE_REQUEST: Fixture = {
  name: 'Create request: AES-256, Encrypt|Decrypt, Name "Key-1" (s.6.1.8)',
  bytes: hex(`
    42 00 78 | 01 | 00 00 00 D0                               // Request Message, len 208 = 64 + 144
    42 00 77 | 01 | 00 00 00 38                               // Request Header, len 56 (= 64)
    ${PROTOCOL_VERSION_2_1}
      42 00 0D | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00   // Batch Count 1
    42 00 0F | 01 | 00 00 00 88                               // Batch Item, len 136 (= 144)
      42 00 5C | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00   // Operation Create (0x01)
      42 00 79 | 01 | 00 00 00 70                             // Request Payload, len 112 (= 120)
        42 00 57 | 05 | 00 00 00 04 | 00 00 00 02 00 00 00 00 // Object Type Symmetric Key (0x02)
        42 01 25 | 01 | 00 00 00 58                           // Attributes, len 88 (= 96)
          42 00 28 | 05 | 00 00 00 04 | 00 00 00 03 00 00 00 00 // Cryptographic Algorithm AES (0x03)
          42 00 2A | 02 | 00 00 00 04 | 00 00 01 00 00 00 00 00 // Cryptographic Length 256
          42 00 2C | 02 | 00 00 00 04 | 00 00 00 0C 00 00 00 00 // Cryptographic Usage Mask Encrypt|Decrypt, an Integer (s.12)
          42 00 53 | 01 | 00 00 00 20                           // Name, len 32 (= 40)
            42 00 55 | 07 | 00 00 00 05 | 4B 65 79 2D 31 00 00 00 // Name Value "Key-1" + 3 padding
            42 00 54 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00 // Name Type Uninterpreted Text String`),
  item: S(Tag.RequestMessage, [
    S(Tag.RequestHeader, [pv21, I(Tag.BatchCount, 1)]),
    S(Tag.BatchItem, [
      E(Tag.Operation, Operation.Create),
      S(Tag.RequestPayload, [
        E(Tag.ObjectType, ObjectType.SymmetricKey),
        S(Tag.Attributes, [
          E(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          I(Tag.CryptographicLength, 256),
          I(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
          S(Tag.Name, [T(Tag.NameValue, 'Key-1'), E(Tag.NameType, NameType.UninterpretedTextString)]),
        ]),
      ]),
    ]),
  ]),
};

const KEY_32 = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');

const GET_RESPONSE: Fixture = {
  name: 'Get response carrying a raw 32-byte AES key (s.6.1.19, s.2.2)',
  bytes: hex(`
    42 00 7B | 01 | 00 00 01 18                               // Response Message, len 280 = 80 + 200
    42 00 7A | 01 | 00 00 00 48                               // Response Header, len 72 (= 80)
    ${PROTOCOL_VERSION_2_1}
      42 00 92 | 09 | 00 00 00 08 | 00 00 00 00 5F D6 AB 00   // Time Stamp 2020-12-14T00:00:00Z (Date Time)
      42 00 0D | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00   // Batch Count 1
    42 00 0F | 01 | 00 00 00 C0                               // Batch Item, len 192 (= 200)
      42 00 5C | 05 | 00 00 00 04 | 00 00 00 0A 00 00 00 00   // Operation Get (0x0A)
      42 00 7F | 05 | 00 00 00 04 | 00 00 00 00 00 00 00 00   // Result Status Success
      42 00 7C | 01 | 00 00 00 98                             // Response Payload, len 152 (= 160)
        42 00 57 | 05 | 00 00 00 04 | 00 00 00 02 00 00 00 00 // Object Type Symmetric Key
        42 00 94 | 07 | 00 00 00 0D                           // Unique Identifier, 13 bytes (= 24)
                   62 31 63 32 64 33 65 34 2D 30 30 30 31 00 00 00 // "b1c2d3e4-0001" + 3 padding
        42 00 8F | 01 | 00 00 00 68                           // Symmetric Key, len 104 (= 112)
          42 00 40 | 01 | 00 00 00 60                         // Key Block, len 96 (= 104)
            42 00 42 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00 // Key Format Type Raw
            42 00 45 | 01 | 00 00 00 28                       // Key Value, len 40 (= 48)
              42 00 43 | 08 | 00 00 00 20                     // Key Material, Byte String of 32 (no padding)
                00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F
                10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F
            42 00 28 | 05 | 00 00 00 04 | 00 00 00 03 00 00 00 00 // Cryptographic Algorithm AES
            42 00 2A | 02 | 00 00 00 04 | 00 00 01 00 00 00 00 00 // Cryptographic Length 256`),
  item: S(Tag.ResponseMessage, [
    S(Tag.ResponseHeader, [pv21, DT(Tag.TimeStamp, 1607904000n), I(Tag.BatchCount, 1)]),
    S(Tag.BatchItem, [
      E(Tag.Operation, Operation.Get),
      E(Tag.ResultStatus, ResultStatus.Success),
      S(Tag.ResponsePayload, [
        E(Tag.ObjectType, ObjectType.SymmetricKey),
        T(Tag.UniqueIdentifier, 'b1c2d3e4-0001'),
        S(Tag.SymmetricKey, [
          S(Tag.KeyBlock, [
            E(Tag.KeyFormatType, KeyFormatType.Raw),
            S(Tag.KeyValue, [B(Tag.KeyMaterial, KEY_32)]),
            E(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
            I(Tag.CryptographicLength, 256),
          ]),
        ]),
      ]),
    ]),
  ]),
};

const LOCATE_RESPONSE: Fixture = {
  name: 'Locate response with three identifiers (s.6.1.28)',
  bytes: hex(`
    42 00 7B | 01 | 00 00 00 C0                               // Response Message, len 192 = 80 + 112
    42 00 7A | 01 | 00 00 00 48                               // Response Header, len 72 (= 80)
    ${PROTOCOL_VERSION_2_1}
      42 00 92 | 09 | 00 00 00 08 | 00 00 00 00 5F D6 AB 00   // Time Stamp
      42 00 0D | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00   // Batch Count 1
    42 00 0F | 01 | 00 00 00 68                               // Batch Item, len 104 (= 112)
      42 00 5C | 05 | 00 00 00 04 | 00 00 00 08 00 00 00 00   // Operation Locate (0x08)
      42 00 7F | 05 | 00 00 00 04 | 00 00 00 00 00 00 00 00   // Result Status Success
      42 00 7C | 01 | 00 00 00 40                             // Response Payload, len 64 (= 72)
        42 00 D5 | 02 | 00 00 00 04 | 00 00 00 03 00 00 00 00 // Located Items 3 (Integer)
        42 00 94 | 07 | 00 00 00 01 | 31 00 00 00 00 00 00 00 // Unique Identifier "1" + 7 padding
        42 00 94 | 07 | 00 00 00 01 | 32 00 00 00 00 00 00 00 // Unique Identifier "2"
        42 00 94 | 07 | 00 00 00 01 | 33 00 00 00 00 00 00 00 // Unique Identifier "3"`),
  item: S(Tag.ResponseMessage, [
    S(Tag.ResponseHeader, [pv21, DT(Tag.TimeStamp, 1607904000n), I(Tag.BatchCount, 1)]),
    S(Tag.BatchItem, [
      E(Tag.Operation, Operation.Locate),
      E(Tag.ResultStatus, ResultStatus.Success),
      S(Tag.ResponsePayload, [
        I(Tag.LocatedItems, 3),
        T(Tag.UniqueIdentifier, '1'),
        T(Tag.UniqueIdentifier, '2'),
        T(Tag.UniqueIdentifier, '3'),
      ]),
    ]),
  ]),
};

const MESSAGES = [DISCOVER_VERSIONS_REQUEST, CREATE_REQUEST, GET_RESPONSE, LOCATE_RESPONSE];

describe('golden fixtures: NOTES.md §1 worked examples', () => {
  it.each(NOTES_EXAMPLES.map((f) => [f.name, f] as const))('%s', (_n, f) => checkBothWays(f));
});

describe('golden fixtures: KMIP 1.0 s.9.1.2 examples', () => {
  it.each(KMIP10_EXAMPLES.map((f) => [f.name, f] as const))('%s', (_n, f) => checkBothWays(f));
});

describe('golden fixtures: whole messages', () => {
  it.each(MESSAGES.map((f) => [f.name, f] as const))('%s', (_n, f) => checkBothWays(f));

  it('every fixture occupies a multiple of 8 bytes and its Length field matches (s.10.1.3)', () => {
    for (const f of [...NOTES_EXAMPLES, ...KMIP10_EXAMPLES, ...MESSAGES]) {
      expect(f.bytes.length % 8, f.name).toBe(0);
      if (f.item.type === 'Structure') expect(f.bytes.readUInt32BE(4), f.name).toBe(f.bytes.length - 8);
    }
  });

  it('decoded Byte Strings are views into the input unless a copy is asked for', () => {
    // Node's small-buffer pool makes ArrayBuffer identity meaningless; writing into the
    // input and watching who sees the change is the observable difference.
    const input = Buffer.from(GET_RESPONSE.bytes);
    const view = findTag(decode(input), Tag.KeyMaterial)!.value as Buffer;
    const copied = findTag(decode(input, { copyByteStrings: true }), Tag.KeyMaterial)!.value as Buffer;
    const at = input.indexOf(KEY_32);
    expect(at).toBeGreaterThan(0);
    input[at] = 0xee;
    expect(view[0]).toBe(0xee);
    expect(copied.equals(KEY_32)).toBe(true);
  });
});

function findTag(item: TtlvItem, tag: number): TtlvItem | undefined {
  if (item.tag === tag) return item;
  if (item.type !== 'Structure') return undefined;
  for (const c of item.value) {
    const hit = findTag(c, tag);
    if (hit) return hit;
  }
  return undefined;
}
