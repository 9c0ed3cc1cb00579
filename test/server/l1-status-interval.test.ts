// Issue 16 §3: the periodic L1 status check interval is a setting, `l1.statusCheckIntervalMs`
// (file, OPENKCM_L1_STATUS_CHECK_INTERVAL_MS, --l1-status-check-interval), default 30 s,
// at least 1 s; a bad value stops `openkcm serve` with exit 2 naming the key. The runtime
// hands it to the hierarchy engine: with 1 s, a tenant whose root key disappears is sealed
// by the check alone within seconds (the default would take up to 30 s).
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_L1_STATUS_CHECK_INTERVAL_MS, loadConfig } from '../../src/config/index.ts';
import { openRuntime } from '../../src/server/runtime.ts';
import { OPENKCM } from '../helpers/cli.ts';

const BIN = OPENKCM;
const dir = mkdtempSync(join(tmpdir(), 'openkcm-l1int-'));

const refused = (f: () => unknown): string => {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(ConfigError); return (e as Error).message; }
  throw new Error('expected a ConfigError');
};

describe('l1.statusCheckIntervalMs', () => {
  it('defaults to 30 s; file, env and flag set it, later winning', () => {
    expect(DEFAULT_L1_STATUS_CHECK_INTERVAL_MS).toBe(30_000);
    expect(loadConfig({ cwd: dir, env: {} }).l1.statusCheckIntervalMs).toBe(30_000);
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify({ l1: { statusCheckIntervalMs: 5000 } }));
    expect(loadConfig({ cwd: dir, flags: { config: f }, env: {} }).l1.statusCheckIntervalMs).toBe(5000);
    expect(loadConfig({ cwd: dir, flags: { config: f }, env: { OPENKCM_L1_STATUS_CHECK_INTERVAL_MS: '2000' } }).l1.statusCheckIntervalMs).toBe(2000);
    expect(loadConfig({ cwd: dir, flags: { config: f, l1StatusCheckInterval: '1000' }, env: { OPENKCM_L1_STATUS_CHECK_INTERVAL_MS: '2000' } }).l1.statusCheckIntervalMs).toBe(1000);
  });

  it('refuses less than 1 s, more than a day and non-numbers, naming the key and the expected form', () => {
    expect(refused(() => loadConfig({ cwd: dir, env: { OPENKCM_L1_STATUS_CHECK_INTERVAL_MS: '999' } })))
      .toMatch(/env OPENKCM_L1_STATUS_CHECK_INTERVAL_MS "l1.statusCheckIntervalMs": 999 is out of range; expected milliseconds between two L1 status checks, 1000 to 86400000/);
    expect(refused(() => loadConfig({ cwd: dir, flags: { l1StatusCheckInterval: '86400001' }, env: {} }))).toMatch(/out of range/);
    expect(refused(() => loadConfig({ cwd: dir, flags: { l1StatusCheckInterval: '30s' }, env: {} }))).toMatch(/"30s" is not a whole number/);
  });

  it('openkcm serve with a bad value exits 2 with the message, no stack trace', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--l1-status-check-interval', '500'], {
      cwd: dir, env: { PATH: process.env.PATH ?? '', OPENKCM_WORKERS: '1' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/^openkcm: configuration flag --l1-status-check-interval "l1.statusCheckIntervalMs": 500 is out of range; expected milliseconds/);
    expect(err).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('reaches the hierarchy engine: with 1 s, a root key that disappears seals the tenant by the periodic check alone', async () => {
    const data = join(dir, 'data');
    const keyFile = join(dir, 'l1.key');
    const rt = await openRuntime({ dataDir: data, l1KeyFile: keyFile, l1StatusCheckIntervalMs: 1000 });
    try {
      const engine = rt.hierarchy.engine;
      const place = { tenant: 'default', service: 'default', uid: 'probe' };
      await engine.wrap(place, Buffer.from('x'));
      expect(engine.status('default').sealed).toBe(false);
      const start = Date.now();
      // The development L1 reports a missing key file as revoked (README "L1 providers").
      rmSync(keyFile);
      // Bound: one interval plus one status call; the poll allows 20 s on a loaded machine,
      // still less than the 30 s default interval, so only the configured 1 s can pass it.
      await expect.poll(() => engine.status('default').sealed, { timeout: 20_000, interval: 100 }).toBe(true);
      expect(engine.status('default')).toMatchObject({ sealKind: 'l1-status' });
      expect(Date.now() - start).toBeLessThan(20_000);
    } finally {
      await rt.close();
    }
  }, 60_000);
});
