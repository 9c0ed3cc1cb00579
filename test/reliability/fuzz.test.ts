// Issue 16 §4 "Fuzzing at depth", the short CI run: mutants of every OASIS vector request
// (scripts/fuzz/) against a live `openkcm serve` process over mutual TLS. The nightly-style
// run is `npm run fuzz -- --count 1000000` (figures in README "Reliability").
// Zero crashes, zero hangs, every response a decodable Response Message, no well-framed
// message answered by a close, RSS not running away, and a sane Create works afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloneItem, loadCorpus, resolvePlaceholders, type CorpusEntry } from '../../scripts/fuzz/corpus.ts';
import { runFuzz } from '../../scripts/fuzz/driver.ts';
import { mutate, Rng } from '../../scripts/fuzz/mutate.ts';
import { startServerProcess, type ServerProcess } from '../../scripts/fuzz/server-process.ts';
import { formatSummary } from '../../scripts/fuzz.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { VECTORS } from '../helpers/vectors.ts';

/** Messages of the CI run: enough for every mutation family hundreds of times, ~1 min loaded. */
const CI_MESSAGES = 6_000;

let server: ServerProcess | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('fuzzer', () => {
  it('loads every request of the shared vectors and mutates them reproducibly', async () => {
    const corpus = await loadCorpus(VECTORS);
    expect(corpus.length).toBeGreaterThan(900);
    const seedOf = (e: CorpusEntry) => { const t = cloneItem(e.request); resolvePlaceholders(t, ['uid-1'], () => 0, 1_800_000_000); return t; };
    const run = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 200 }, () => mutate(seedOf(rng.pick(corpus)), seedOf(rng.pick(corpus)), rng).bytes.toString('hex'));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    // Mutants really differ from their seeds and many no longer decode (the decoder is reached).
    const rng = new Rng(3);
    let undecodable = 0;
    for (let i = 0; i < 500; i++) {
      try { decode(mutate(seedOf(rng.pick(corpus)), seedOf(rng.pick(corpus)), rng).bytes); } catch { undecodable++; }
    }
    expect(undecodable).toBeGreaterThan(50);
    expect(undecodable).toBeLessThan(480);
  });

  it(`${CI_MESSAGES} mutants against a live server: no crash, no hang, every answer a Response Message`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-fuzz-test-'));
    dirs.push(dir);
    server = await startServerProcess({ cwd: dir, args: ['--log-level', 'warn'] });
    const summary = await runFuzz({
      host: '127.0.0.1', port: server.port, tls: server.tls(), corpus: await loadCorpus(VECTORS),
      count: CI_MESSAGES, seed: 16_4, connections: 8, deadlineMs: 30_000, pid: server.pid, exited: server.exited,
    });
    const report = formatSummary(summary);
    expect(summary.crashed, report).toBe(false);
    expect(summary.hangs, report).toBe(0);
    expect(summary.badResponses, report).toBe(0);
    expect(summary.unexpectedCloses, report).toBe(0);
    expect(summary.saneAfter, report).toBe(true);
    expect(summary.messages).toBe(CI_MESSAGES);
    // Most mutants are refused (Invalid Message), but some must reach the operations.
    expect(summary.results.InvalidMessage ?? 0, report).toBeGreaterThan(CI_MESSAGES / 4);
    expect(summary.results.Success ?? 0, report).toBeGreaterThan(20);
    // A leak of even 10 KiB per message would show as 60 MiB here; the bound is generous
    // for SQLite's page cache and V8 heap growth in a short run.
    expect(summary.rss, report).toBeDefined();
    expect(summary.rss!.end - summary.rss!.start, report).toBeLessThan(96 * 1024 * 1024);
  }, 600_000);
});
