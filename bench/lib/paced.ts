// Paced (open-schedule) load: requests are due at a fixed rate, spread over N connections,
// each connection still carrying one request at a time. Used for "p99 at half the
// saturating load" (issue 12 §1): the rate is set below what the server can do, so the
// latency measured is the server's answer time, not the queue a closed loop builds.
//
// Request i is due at start + i / rate. A connection takes the next due request, waits
// until it is due, sends it and waits for the answer. When every connection is busy the
// request is sent late: latency is then still measured from the send (the client's view),
// and the number of late sends is reported so a table can say whether the rate held.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyHistogram } from './histogram.ts';
import type { LoadResult } from './load.ts';

export interface PacedOptions<C> {
  connections: readonly C[];
  request: (conn: C, seq: number) => Promise<unknown>;
  /** Requests per second over all connections. */
  rate: number;
  durationMs: number;
  warmupMs?: number;
}

export interface PacedResult extends LoadResult {
  /** Target rate, requests per second. */
  rate: number;
  /** Measured requests sent more than 1 ms after they were due. */
  late: number;
}

export async function runPaced<C>(opts: PacedOptions<C>): Promise<PacedResult> {
  if (!(opts.rate > 0)) throw new Error(`runPaced: rate must be positive, got ${opts.rate}`);
  const warmupMs = opts.warmupMs ?? 0;
  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + opts.durationMs;
  const intervalMs = 1000 / opts.rate;
  let next = 0;
  let completed = 0;
  let total = 0;
  let errors = 0;
  let late = 0;
  let lastAnswer = windowStart;
  const errorSamples: string[] = [];
  const latency = new LatencyHistogram();

  const worker = async (conn: C) => {
    for (;;) {
      const i = next++;
      const due = start + i * intervalMs;
      if (due >= windowEnd || errors >= 100) return;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const t0 = performance.now();
      const measured = due >= windowStart;
      try {
        await opts.request(conn, i);
        const t1 = performance.now();
        total++;
        if (measured) {
          completed++;
          latency.record((t1 - t0) * 1000);
          if (t0 - due > 1) late++;
          if (t1 > lastAnswer) lastAnswer = t1;
        }
      } catch (e) {
        errors++;
        const msg = (e as Error).message ?? String(e);
        if (errorSamples.length < 3 && !errorSamples.includes(msg)) errorSamples.push(msg);
        if (/closed|ECONNRESET|EPIPE|no response within/.test(msg)) return;
      }
    }
  };
  await Promise.all(opts.connections.map((c) => worker(c)));
  const elapsedMs = Math.max(lastAnswer, windowEnd) - windowStart;
  return {
    connections: opts.connections.length, depth: 1, completed, total, errors, errorSamples, elapsedMs,
    perSecond: completed / (elapsedMs / 1000), latency, rate: opts.rate, late,
  };
}
