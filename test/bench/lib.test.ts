// The benchmark library (bench/lib): histogram accuracy, the closed-loop generator's
// accounting, option parsing, the PyKMIP configuration template and process control.
// Nothing here asserts a speed: benchmarks are not timed tests.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LatencyHistogram, exactPercentile, SUB_BUCKETS } from '../../bench/lib/histogram.ts';
import { runClosedLoop, rateOf } from '../../bench/lib/load.ts';
import { parseFlags, positiveIntegers, positiveNumber, oneOf, OptionError, type FlagSpec } from '../../bench/lib/options.ts';
import { renderConfig } from '../../bench/lib/pykmip.ts';
import { cpuSeconds, cpuSecondsTree, stopChild } from '../../bench/lib/proc.ts';
import { markdownTable, renderTable, type CellResult } from '../../bench/lib/matrix.ts';
import { machineNotes } from '../../bench/lib/machine.ts';
import { encryptPayload, AES_GCM, AES_CBC_PKCS5, createSymmetricKeyPayload, findItem } from '../../bench/lib/kmip.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { encode } from '../../src/ttlv/encode.ts';

describe('LatencyHistogram', () => {
  it('reports every percentile within one slice (1/SUB_BUCKETS) of the exact nearest-rank value', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 0, max: 5e6, noNaN: true }), { minLength: 1, maxLength: 400 }),
      fc.double({ min: 0.01, max: 100, noNaN: true }),
      (samples, p) => {
        const h = new LatencyHistogram();
        for (const s of samples) h.record(s);
        const exact = exactPercentile(samples, p);
        const got = h.percentile(p);
        // Relative error of a bucket middle, plus the 1/128 µs unit near zero.
        expect(Math.abs(got - exact)).toBeLessThanOrEqual(exact / SUB_BUCKETS + 1 / SUB_BUCKETS);
      },
    ), { numRuns: 300 });
  });

  it('keeps count, mean, min and max exactly, and merges', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    [10, 20, 30].forEach((v) => a.record(v));
    [1000, 2000].forEach((v) => b.record(v));
    a.merge(b);
    expect(a.count).toBe(5);
    expect(a.meanUs).toBeCloseTo(612, 6);
    expect(a.minimumUs).toBe(10);
    expect(a.maximumUs).toBe(2000);
    expect(a.percentile(100)).toBe(2000);
    expect(Math.abs(a.percentile(20) - 10)).toBeLessThanOrEqual(10 / SUB_BUCKETS);
    expect(Math.abs(a.percentile(60) - 30)).toBeLessThanOrEqual(30 / SUB_BUCKETS);
  });

  it('is NaN when empty and refuses nonsense', () => {
    const h = new LatencyHistogram();
    expect(h.percentile(50)).toBeNaN();
    expect(() => h.record(-1)).toThrow(RangeError);
    expect(() => h.record(Number.NaN)).toThrow(RangeError);
    expect(() => h.percentile(0)).toThrow(RangeError);
    expect(() => h.percentile(101)).toThrow(RangeError);
  });

  it('saturates enormous values instead of overflowing its buckets', () => {
    const h = new LatencyHistogram();
    h.record(1e12);
    h.record(5);
    expect(h.percentile(100)).toBe(1e12);
    expect(Math.abs(h.percentile(50) - 5)).toBeLessThanOrEqual(5 / SUB_BUCKETS);
    h.record(2e12);
    expect(h.percentile(60)).toBeLessThanOrEqual(2e12); // saturated bucket, clamped by the exact maximum
  });
});

describe('runClosedLoop', () => {
  it('keeps `depth` requests in flight per connection and counts only the measured window', async () => {
    let inFlight = 0;
    let peak = 0;
    const conns = ['a', 'b', 'c'];
    const r = await runClosedLoop({
      connections: conns,
      depth: 2,
      durationMs: 120,
      warmupMs: 40,
      request: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((res) => setTimeout(res, 5));
        inFlight--;
      },
    });
    expect(peak).toBe(6);
    expect(r.connections).toBe(3);
    expect(r.depth).toBe(2);
    expect(r.errors).toBe(0);
    expect(r.completed).toBeGreaterThan(0);
    expect(r.total).toBeGreaterThan(r.completed); // the warm-up's requests are not in `completed`
    expect(r.latency.count).toBe(r.completed);
    expect(r.latency.percentile(50)).toBeGreaterThanOrEqual(4000); // ≥ the 5 ms timer, in µs (timers may fire 1 ms early)
    expect(r.perSecond).toBeCloseTo(r.completed / (r.elapsedMs / 1000), 6);
  });

  it('stops after maxErrors failures and keeps distinct samples of them', async () => {
    let calls = 0;
    const r = await runClosedLoop({
      connections: [1],
      durationMs: 10_000,
      maxErrors: 5,
      request: async () => {
        calls++;
        await Promise.resolve();
        throw new Error(calls % 2 ? 'odd failure' : 'even failure');
      },
    });
    expect(r.errors).toBe(5);
    expect(r.completed).toBe(0);
    expect(r.errorSamples.sort()).toEqual(['even failure', 'odd failure']);
  });

  it('leaves a connection whose socket closed instead of spinning on it', async () => {
    let calls = 0;
    const r = await runClosedLoop({
      connections: [1],
      durationMs: 10_000,
      request: async () => { calls++; throw new Error('connection closed'); },
    });
    expect(calls).toBe(1);
    expect(r.errors).toBe(1);
  });

  it('refuses a bad configuration', async () => {
    await expect(runClosedLoop({ connections: [], durationMs: 10, request: async () => undefined })).rejects.toThrow(/no connections/);
    await expect(runClosedLoop({ connections: [1], depth: 0, durationMs: 10, request: async () => undefined })).rejects.toThrow(/depth/);
    await expect(runClosedLoop({ connections: [1], durationMs: 0, request: async () => undefined })).rejects.toThrow(/duration/);
  });

  it('rateOf calls the function and reports a consistent rate', () => {
    let n = 0;
    const r = rateOf(() => { n++; }, 20);
    expect(n).toBeGreaterThanOrEqual(r.iterations);
    expect(r.iterations % 64).toBe(0);
    expect(r.perSecond).toBeCloseTo(r.iterations / (r.elapsedMs / 1000), 6);
  });
});

describe('options', () => {
  const specs: FlagSpec[] = [
    { flag: '--seconds', env: 'B_SECONDS', value: true, help: '' },
    { flag: '--memory', value: false, help: '' },
  ];
  it('reads flags, inline values and switches; a flag wins over its environment variable', () => {
    expect(parseFlags(['--seconds', '3', '--memory'], specs, {})).toEqual(new Map([['--seconds', '3'], ['--memory', 'true']]));
    expect(parseFlags(['--seconds=2'], specs, { B_SECONDS: '9' }).get('--seconds')).toBe('2');
    expect(parseFlags([], specs, { B_SECONDS: '9' }).get('--seconds')).toBe('9');
  });
  it('refuses unknown flags, missing values and bad numbers with the flag named', () => {
    expect(() => parseFlags(['--secs', '1'], specs, {})).toThrow(OptionError);
    expect(() => parseFlags(['--seconds'], specs, {})).toThrow(/--seconds needs a value/);
    expect(() => parseFlags(['--seconds', '--memory'], specs, {})).toThrow(/needs a value/);
    expect(() => parseFlags(['--memory=1'], specs, {})).toThrow(/takes no value/);
    expect(() => positiveNumber('0', '--seconds', 5)).toThrow(/--seconds/);
    expect(() => positiveNumber('abc', '--seconds', 5)).toThrow(/--seconds/);
    expect(positiveNumber(undefined, '--seconds', 5)).toBe(5);
    expect(positiveIntegers('1, 16', '--connections', [])).toEqual([1, 16]);
    expect(() => positiveIntegers('1,0', '--connections', [])).toThrow(/--connections/);
    expect(() => positiveIntegers('1.5', '--connections', [])).toThrow(/--connections/);
    expect(() => oneOf('loud', '--log-level', ['info', 'silent'], 'info')).toThrow(/info, silent/);
  });
});

describe('PyKMIP configuration template', () => {
  const template = readFileSync(fileURLToPath(new URL('../../bench/pykmip-server.conf', import.meta.url)), 'utf8');
  const values = {
    hostname: '127.0.0.1', port: 5696, certificate_path: '/p/s.crt', key_path: '/p/s.key', ca_path: '/p/ca.crt',
    policy_path: '/p/pol', database_path: '/p/db', logging_level: 'INFO',
  };
  it('fills every placeholder and carries the keys PyKMIP 0.10 requires', () => {
    const out = renderConfig(template, values);
    expect(out).not.toMatch(/\$\{/);
    for (const k of ['hostname', 'port', 'certificate_path', 'key_path', 'ca_path', 'auth_suite', 'database_path', 'policy_path']) {
      expect(out).toMatch(new RegExp(`^${k}=\\S+`, 'm'));
    }
    expect(out).toMatch(/^auth_suite=TLS1\.2$/m);
  });
  it('refuses a missing value and a value that would inject another key', () => {
    const { port: _omit, ...noPort } = values;
    expect(() => renderConfig(template, noPort)).toThrow(/\$\{port\}/);
    expect(() => renderConfig(template, { ...values, database_path: '/x\nauth_suite=Basic' })).toThrow(/line break/);
  });
});

describe('KMIP payloads', () => {
  it('orders Cryptographic Parameters as KMIP 1.4 §2.1.5 lists them (PyKMIP reads them in order)', () => {
    for (const c of [AES_GCM, AES_CBC_PKCS5]) {
      const params = findItem(encryptPayload('id', Buffer.alloc(64), c), Tag.CryptographicParameters);
      expect(params?.type).toBe('Structure');
      const tags = (params as { value: { tag: number }[] }).value.map((i) => i.tag);
      const order: number[] = [Tag.BlockCipherMode, Tag.PaddingMethod, Tag.CryptographicAlgorithm, Tag.TagLength];
      const positions = tags.map((t) => order.indexOf(t));
      expect(positions.every((p) => p >= 0)).toBe(true);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    }
  });
  it('builds a 1.x TemplateAttribute and a 2.x Attributes Create that encode', () => {
    const v1 = createSymmetricKeyPayload({ major: 1, minor: 2 }, 256, 12);
    expect(findItem(v1, Tag.TemplateAttribute)).toBeDefined();
    expect(findItem(v1, Tag.Attributes)).toBeUndefined();
    const v2 = createSymmetricKeyPayload({ major: 2, minor: 0 }, 256, 12);
    expect(findItem(v2, Tag.Attributes)).toBeDefined();
    expect(findItem(v2, Tag.TemplateAttribute)).toBeUndefined();
    expect(() => encode(v1)).not.toThrow();
    expect(() => encode(v2)).not.toThrow();
  });
});

describe('rendering', () => {
  it('puts the ratio server/baseline in each row', () => {
    const cell = (server: string, perSecond: number, us: number): CellResult => {
      const latency = new (LatencyHistogram)();
      latency.record(us);
      return { workload: 'Get', server, connections: 1, depth: 1, load: { connections: 1, depth: 1, completed: 1, total: 1, errors: 0, errorSamples: [], elapsedMs: 1000, perSecond, latency } };
    };
    const t = renderTable([cell('OpenKCM', 400, 500), cell('PyKMIP', 100, 2000)], ['OpenKCM', 'PyKMIP'], 'PyKMIP');
    const row = t.split('\n')[2]!;
    expect(row).toContain('4.00×');
    expect(row).toContain('0.25×');
    expect(markdownTable(['a', 'b', 'c'], [['x', 'y', '1']]).split('\n')).toHaveLength(3);
  });
});

describe('process control', () => {
  it('reads the CPU time of a process from /proc', () => {
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    const own = cpuSeconds(process.pid)!;
    expect(own).toBeGreaterThan(0);
    // Read second: CPU time only grows.
    expect(cpuSecondsTree(process.pid)).toBeGreaterThanOrEqual(own);
    expect(cpuSeconds(2 ** 30)).toBeUndefined();
  });

  it('kills a child that ignores SIGTERM, with its process group, after the grace period', async () => {
    const child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('up')"], {
      detached: true, stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    expect(await stopChild(child, 300)).toBe('killed');
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('lets a child that honours SIGTERM exit by itself', async () => {
    const child = spawn(process.execPath, ['-e', "setInterval(() => {}, 1000); console.log('up')"], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    expect(await stopChild(child, 10_000)).toBe('exited');
  });
});

describe('machine notes', () => {
  it('prints the load average taken at the start as "at start", and the one of the moment as "at end"', () => {
    const notes = machineNotes([97.5, 42.25, 1], { run: 'x' });
    const line = notes.find((n) => n.startsWith('load average'))!;
    // The start triple is what was passed in (a machine never has these exact figures now).
    expect(line).toMatch(/^load average at start: 97\.50 \/ 42\.25 \/ 1\.00 \(1\/5\/15 min\); at end: [\d.]+ \/ [\d.]+ \/ [\d.]+ /);
    expect(notes).toContain('run: x');
  });
});
