// Runs the hostile catalogue (hostile-catalogue.ts): each numbered input must be refused
// with exactly its stated error — code, and offset/path where the entry names them — so a
// case that starts failing for some other reason is noticed.
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/ttlv/decode.ts';
import { TtlvError } from '../../src/ttlv/errors.ts';
import { FrameTooLargeError, TtlvFramer } from '../../src/ttlv/framing.ts';
import { HOSTILE, type HostileCase } from './hostile-catalogue.ts';

function outcome(c: HostileCase): unknown {
  const input = c.input();
  try {
    if (c.target === 'decode') {
      return { returned: decode(input) };
    }
    const framer = new TtlvFramer();
    const frames = framer.push(input);
    return { returned: frames, pending: framer.pending };
  } catch (e) {
    return e;
  }
}

describe('hostile catalogue', () => {
  it('has at least 25 entries numbered E01, E02, … without gaps', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(25);
    HOSTILE.forEach((c, i) => expect(c.id).toBe(`E${String(i + 1).padStart(2, '0')}`));
  });

  it.each(HOSTILE.map((c) => [`${c.id} ${c.title}`, c] as const))('%s', (_name, c) => {
    const got = outcome(c);
    if (c.expect.kind === 'FrameTooLarge') {
      expect(got).toBeInstanceOf(FrameTooLargeError);
      expect((got as FrameTooLargeError).claimed).toBe(c.expect.claimed);
      return;
    }
    expect(got, 'decode returned instead of throwing').toBeInstanceOf(TtlvError);
    const e = got as TtlvError;
    expect(e.code, e.message).toBe(c.expect.code);
    const off = c.expect.offset;
    if (typeof off === 'number') expect(e.offset, e.message).toBe(off);
    else if (off) {
      expect(e.offset, e.message).toBeGreaterThanOrEqual(off[0]);
      expect(e.offset, e.message).toBeLessThanOrEqual(off[1]);
    }
    if (c.expect.path !== undefined) expect(e.path, e.message).toBe(c.expect.path);
    // The message is what an operator reads: it must name the offset.
    expect(e.message).toContain(`offset ${e.offset}`);
  });

  it('a framer refusing a frame has buffered nothing of it', () => {
    for (const c of HOSTILE.filter((h) => h.target === 'framer')) {
      const framer = new TtlvFramer();
      expect(() => framer.push(c.input()), c.id).toThrow(FrameTooLargeError);
      expect(framer.pending, c.id).toBe(0);
    }
  });
});
