// TtlvFramer: socket chunks → whole messages (KMIP 2.1 s.10.1; the framer reads the 8-byte
// header and then exactly Length more bytes). Exhaustive split points over a small stream,
// many messages in one chunk, and the size check made on the header alone.
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { FrameTooLargeError, HEADER_SIZE, TtlvFramer } from '../../src/ttlv/framing.ts';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../../src/ttlv/limits.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation } from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

function request(op: number, payload: TtlvItem[]): Buffer {
  return encode({
    tag: Tag.RequestMessage, type: 'Structure', value: [
      { tag: Tag.RequestHeader, type: 'Structure', value: [
        { tag: Tag.ProtocolVersion, type: 'Structure', value: [
          { tag: Tag.ProtocolVersionMajor, type: 'Integer', value: 2 },
          { tag: Tag.ProtocolVersionMinor, type: 'Integer', value: 1 },
        ] },
        { tag: Tag.BatchCount, type: 'Integer', value: 1 },
      ] },
      { tag: Tag.BatchItem, type: 'Structure', value: [
        { tag: Tag.Operation, type: 'Enumeration', value: op },
        { tag: Tag.RequestPayload, type: 'Structure', value: payload },
      ] },
    ],
  });
}

// Three messages of different sizes, plus a bare empty structure (the smallest frame: 8 bytes).
const MESSAGES: Buffer[] = [
  request(Operation.DiscoverVersions, []),
  request(Operation.Get, [{ tag: Tag.UniqueIdentifier, type: 'TextString', value: 'b1c2d3e4-0001' }]),
  encode({ tag: Tag.RequestMessage, type: 'Structure', value: [] }),
  request(Operation.Encrypt, [
    { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'k' },
    { tag: Tag.Data, type: 'ByteString', value: Buffer.alloc(64, 0x5a) },
  ]),
];
const STREAM = Buffer.concat(MESSAGES);

const hexes = (bufs: Buffer[]) => bufs.map((b) => b.toString('hex'));

/** Feeds `chunks` to a fresh framer and returns every message it yields, copied. */
function frameAll(chunks: Buffer[], framer = new TtlvFramer()): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) for (const m of framer.push(c)) out.push(Buffer.from(m));
  expect(framer.pending).toBe(0);
  return out;
}

describe('TtlvFramer', () => {
  it('yields the same messages for every single split point of the stream', () => {
    const want = hexes(MESSAGES);
    for (let i = 0; i <= STREAM.length; i++) {
      expect(hexes(frameAll([STREAM.subarray(0, i), STREAM.subarray(i)])), `split at ${i}`).toEqual(want);
    }
  });

  it('yields the same messages for every pair of split points', () => {
    const want = hexes(MESSAGES);
    // Two cuts put a message boundary, a header and a body in every combination of chunks.
    const n = STREAM.length;
    for (let i = 0; i <= n; i += 1) {
      for (let j = i; j <= n; j += 7) {
        const got = frameAll([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)]);
        expect(hexes(got), `splits at ${i}, ${j}`).toEqual(want);
      }
    }
  });

  it('yields the same messages when fed one byte at a time', () => {
    const bytes = [...STREAM].map((b) => Buffer.from([b]));
    expect(hexes(frameAll(bytes))).toEqual(hexes(MESSAGES));
  });

  it('yields many messages from one chunk, each decodable', () => {
    const many: Buffer[] = [];
    for (let i = 0; i < 250; i++) many.push(MESSAGES[i % MESSAGES.length]!);
    const framer = new TtlvFramer();
    const got = framer.push(Buffer.concat(many));
    expect(got.length).toBe(250);
    expect(hexes(got)).toEqual(hexes(many));
    for (const m of got) expect(() => decode(m)).not.toThrow();
    expect(framer.pending).toBe(0);
  });

  it('keeps a partial message pending and completes it with the next chunk', () => {
    const framer = new TtlvFramer();
    const [a, b] = MESSAGES as [Buffer, Buffer];
    // One whole message and the first 11 bytes of the next (header + 3 body bytes).
    expect(hexes(framer.push(Buffer.concat([a, b.subarray(0, 11)])))).toEqual(hexes([a]));
    expect(framer.pending).toBe(11);
    expect(hexes(framer.push(b.subarray(11)))).toEqual(hexes([b]));
    expect(framer.pending).toBe(0);
  });

  describe('maximum message size', () => {
    it('refuses on the 8-byte header, before any body byte is buffered', () => {
      const framer = new TtlvFramer(1024);
      const head = Buffer.alloc(HEADER_SIZE);
      head.writeUIntBE(Tag.RequestMessage, 0, 3);
      head[3] = 0x01;
      head.writeUInt32BE(4096, 4);
      expect(() => framer.push(head)).toThrow(FrameTooLargeError);
      expect(framer.pending).toBeLessThanOrEqual(HEADER_SIZE);
    });

    it('refuses when the header arrives in pieces, holding at most the header', () => {
      const framer = new TtlvFramer(1024);
      const head = Buffer.alloc(HEADER_SIZE);
      head.writeUIntBE(Tag.RequestMessage, 0, 3);
      head[3] = 0x01;
      head.writeUInt32BE(0x7ffffff8, 4);
      expect(framer.push(head.subarray(0, 3))).toEqual([]);
      expect(framer.pending).toBe(3);
      let error: unknown;
      try {
        framer.push(head.subarray(3));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(FrameTooLargeError);
      expect((error as FrameTooLargeError).claimed).toBe(0x7ffffff8 + HEADER_SIZE);
      expect((error as FrameTooLargeError).max).toBe(1024);
      expect(framer.pending).toBeLessThanOrEqual(HEADER_SIZE);
    });

    it('refuses a too-large header that follows a complete message in the same chunk', () => {
      const framer = new TtlvFramer(256);
      const head = Buffer.alloc(HEADER_SIZE);
      head.writeUIntBE(Tag.RequestMessage, 0, 3);
      head[3] = 0x01;
      head.writeUInt32BE(1 << 20, 4);
      expect(() => framer.push(Buffer.concat([MESSAGES[0]!, head, Buffer.alloc(64)]))).toThrow(FrameTooLargeError);
      expect(framer.pending).toBeLessThanOrEqual(HEADER_SIZE);
    });

    it('accepts a frame of exactly the maximum and refuses one byte more', () => {
      const max = 64;
      const exact = Buffer.alloc(max);
      exact.writeUIntBE(Tag.RequestMessage, 0, 3);
      exact[3] = 0x01;
      exact.writeUInt32BE(max - HEADER_SIZE, 4);
      expect(new TtlvFramer(max).push(exact).length).toBe(1);
      const over = Buffer.from(exact);
      over.writeUInt32BE(max - HEADER_SIZE + 1, 4);
      expect(() => new TtlvFramer(max).push(over)).toThrow(FrameTooLargeError);
    });

    it('defaults to DEFAULT_MAX_MESSAGE_SIZE (1 MiB)', () => {
      expect(new TtlvFramer().maxMessageSize).toBe(DEFAULT_MAX_MESSAGE_SIZE);
      expect(DEFAULT_MAX_MESSAGE_SIZE).toBe(1024 * 1024);
    });
  });
});
