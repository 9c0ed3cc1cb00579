// Closed-loop load generator: N connections, each with `depth` requests in flight (depth 1
// = one request at a time, like a real client that waits for each answer; depth > 1 =
// pipelining on the connection). Requests issued during the warm-up are not measured;
// the measured window is [warm-up end, warm-up end + duration). A request counts when it
// was sent inside the window; its latency is from write to the whole response decoded.
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './histogram.ts';

export interface LoadOptions<C> {
  /** One entry per connection; opened and closed by the caller. */
  connections: readonly C[];
  /** Sends one request on `conn` and resolves when its answer was checked; rejects on a failed answer. */
  request: (conn: C, seq: number) => Promise<unknown>;
  durationMs: number;
  warmupMs?: number;
  /** Requests in flight per connection (default 1). */
  depth?: number;
  /** Stop early after this many failures (default 100): a broken cell should not spin for its whole duration. */
  maxErrors?: number;
}

export interface LoadResult {
  connections: number;
  depth: number;
  /** Successful requests sent inside the measured window. */
  completed: number;
  /** Successful requests including the warm-up (to divide server CPU time by). */
  total: number;
  errors: number;
  /** The first few distinct failure messages (for the report). */
  errorSamples: string[];
  /** Length of the measured window, ms (until the last measured answer arrived). */
  elapsedMs: number;
  /** completed / elapsed. */
  perSecond: number;
  latency: LatencyHistogram;
}

export async function runClosedLoop<C>(opts: LoadOptions<C>): Promise<LoadResult> {
  const depth = opts.depth ?? 1;
  const warmupMs = opts.warmupMs ?? 0;
  const maxErrors = opts.maxErrors ?? 100;
  if (opts.connections.length === 0) throw new Error('runClosedLoop: no connections');
  if (!(depth >= 1) || !Number.isInteger(depth)) throw new Error(`runClosedLoop: depth must be a positive integer, got ${depth}`);
  if (!(opts.durationMs > 0)) throw new Error(`runClosedLoop: duration must be positive, got ${opts.durationMs}`);

  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + opts.durationMs;
  let seq = 0;
  let completed = 0;
  let total = 0;
  let errors = 0;
  let lastMeasuredAnswer = windowStart;
  const errorSamples: string[] = [];
  const histograms: LatencyHistogram[] = [];

  const worker = async (conn: C, h: LatencyHistogram) => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= windowEnd || errors >= maxErrors) return;
      const measured = t0 >= windowStart;
      try {
        await opts.request(conn, seq++);
        const t1 = performance.now();
        total++;
        if (measured) {
          completed++;
          h.record((t1 - t0) * 1000);
          if (t1 > lastMeasuredAnswer) lastMeasuredAnswer = t1;
        }
      } catch (e) {
        errors++;
        const msg = (e as Error).message ?? String(e);
        if (errorSamples.length < 3 && !errorSamples.includes(msg)) errorSamples.push(msg);
        // A dead connection fails at once: do not spin on it.
        if (/closed|ECONNRESET|EPIPE|no response within/.test(msg)) return;
      }
    }
  };

  const runs: Promise<void>[] = [];
  for (const conn of opts.connections) {
    for (let d = 0; d < depth; d++) {
      const h = new LatencyHistogram();
      histograms.push(h);
      runs.push(worker(conn, h));
    }
  }
  await Promise.all(runs);

  const latency = histograms.reduce((acc, h) => acc.merge(h), new LatencyHistogram());
  // The window closes when sending stops; answers to requests sent just before still
  // belong to it, so the window is stretched to the last of them.
  const elapsedMs = Math.max(lastMeasuredAnswer, windowEnd) - windowStart;
  return {
    connections: opts.connections.length,
    depth,
    completed,
    total,
    errors,
    errorSamples,
    elapsedMs,
    perSecond: completed / (elapsedMs / 1000),
    latency,
  };
}

/**
 * Runs `fn` as often as possible for `ms` (synchronous, in-process baseline). Returns
 * calls per wall-clock second and per CPU-second of this process: on a shared machine the
 * second is what one core can do, the first what the scheduler let us do.
 */
export function rateOf(fn: () => void, ms: number): { perSecond: number; perCpuSecond: number; iterations: number; elapsedMs: number } {
  // Short warm-up so the JIT has compiled the path being measured.
  const warm = performance.now() + Math.min(200, ms / 5);
  while (performance.now() < warm) fn();
  let iterations = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
  let now = t0;
  while (now < end) {
    // Check the clock every 64 calls: performance.now() is cheap but not free next to a 1 µs call.
    for (let i = 0; i < 64; i++) fn();
    iterations += 64;
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpu0);
  const elapsedMs = now - t0;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { perSecond: iterations / (elapsedMs / 1000), perCpuSecond: cpuSeconds > 0 ? iterations / cpuSeconds : NaN, iterations, elapsedMs };
}
