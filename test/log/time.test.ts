// The log line's time (src/log/index.ts isoTimeOfMillisecond): made once per millisecond,
// byte for byte what pino's isoTime writes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { isoTimeOfMillisecond, createLogger } from '../../src/log/index.ts';

describe('isoTimeOfMillisecond', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('writes what pino.stdTimeFunctions.isoTime writes, and moves with the clock', () => {
    vi.useFakeTimers();
    for (const t of ['2026-12-02T15:04:05.006Z', '2026-12-02T15:04:05.007Z', '1999-12-31T23:59:59.999Z', '2000-01-01T00:00:00.000Z']) {
      vi.setSystemTime(new Date(t));
      expect(isoTimeOfMillisecond()).toBe(pino.stdTimeFunctions.isoTime());
      expect(isoTimeOfMillisecond()).toBe(`,"time":"${t}"`);
    }
  });

  it('is the time of the logger lines', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-02T15:04:05.006Z'));
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (s: string) => { lines.push(s); } } });
    log.info('a');
    vi.setSystemTime(new Date('2026-12-02T15:04:05.123Z'));
    log.info('b');
    expect(lines.map((l) => (JSON.parse(l) as { time: string }).time)).toEqual(['2026-12-02T15:04:05.006Z', '2026-12-02T15:04:05.123Z']);
  });
});
