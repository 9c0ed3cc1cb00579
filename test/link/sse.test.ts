// The change stream's Server-Sent Events parser (src/link/sse.ts; WHATWG HTML §9.2.6).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_SSE_LINE_BYTES, SseError, SseParser, type SseEvent } from '../../src/link/sse.ts';

function parse(chunks: (string | Buffer)[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  return out;
}

const STREAM = 'event: change\nid: 7\ndata: {"seq":7}\n\n: keep-alive comment\n\nevent: heartbeat\ndata: {"seq":7,\ndata: "at":"x"}\n\ndata: plain\n\n';

describe('SseParser', () => {
  it('reads events, ids, multi-line data and skips comments', () => {
    expect(parse([STREAM])).toEqual([
      { event: 'change', id: '7', data: '{"seq":7}' },
      { event: 'heartbeat', data: '{"seq":7,\n"at":"x"}' },
      { event: 'message', data: 'plain' },
    ]);
  });

  it('CRLF and CR line ends, also when a CRLF is split between chunks', () => {
    const crlf = STREAM.replace(/\n/g, '\r\n');
    expect(parse([crlf])).toEqual(parse([STREAM]));
    expect(parse([STREAM.replace(/\n/g, '\r')])).toEqual(parse([STREAM]));
    const i = crlf.indexOf('\r\n');
    expect(parse([crlf.slice(0, i + 1), crlf.slice(i + 1)])).toEqual(parse([STREAM]));
  });

  it('an event is dispatched only at its blank line (an unfinished one waits)', () => {
    expect(parse(['event: change\ndata: {"seq":1}\n'])).toEqual([]);
  });

  it('every split point of the byte stream, multi-byte UTF-8 included, gives the same events', () => {
    const bytes = Buffer.from(STREAM.replace('plain', 'région ✓ 🔑'));
    const whole = parse([bytes]);
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 6 }), (cuts) => {
      const sorted = [...new Set(cuts)].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let at = 0;
      for (const c of sorted) { chunks.push(bytes.subarray(at, c)); at = c; }
      chunks.push(bytes.subarray(at));
      expect(parse(chunks)).toEqual(whole);
    }));
  });

  it('a line longer than MAX_SSE_LINE_BYTES is refused (a peer cannot grow the buffer without end)', () => {
    const p = new SseParser(() => undefined);
    expect(() => p.push('data: ' + 'x'.repeat(MAX_SSE_LINE_BYTES + 1))).toThrow(SseError);
  });
});
