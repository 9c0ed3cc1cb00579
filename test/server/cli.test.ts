// `openkcm serve` as a real process: dev PKI generated, database created, a client served
// over mTLS with the generated certificates, SIGTERM → graceful exit 0; bad settings → exit 2.
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, existsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { KmipClient } from '../../src/client/index.ts';
import { OPENKCM } from '../helpers/cli.ts';

const BIN = OPENKCM;

function run(args: string[], cwd: string) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function until(cond: () => boolean, ms: number) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('openkcm serve', () => {
  it('starts on a fresh directory, serves mTLS with the generated PKI, stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-cli-'));
    const p = run(['serve', '--listen', '127.0.0.1:0', '--data', 'data', '--certs', 'certs'], dir);
    try {
      // The listener logs `listening` before the admin API starts and the banner is written.
      // No --workers: what `npm start` runs, one worker per CPU (a primary and N workers to
      // start on a loaded machine: generous).
      await until(() => p.out().includes('"event":"listening"') && p.err().includes('Admin API:'), 120_000);
      const cpus = availableParallelism();
      if (cpus > 1) expect(p.err()).toContain(`${cpus} worker processes serve KMIP`);
      const port = JSON.parse(p.out().split('\n').find((l) => l.includes('"event":"listening"'))!).port as number;
      expect(p.out()).toContain('DEVELOPMENT L1 PROVIDER IN USE');
      expect(p.err()).toContain('[client]');
      expect(p.err()).toContain(`port=${port}`);
      expect(p.err()).toContain('ssl_version=PROTOCOL_TLSv1_2');
      expect(statSync(join(dir, 'certs', 'client.key')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dir, 'data', 'openkcm.db'))).toBe(true);
      const c = await KmipClient.connect({
        host: '127.0.0.1', port, ca: readFileSync(join(dir, 'certs', 'ca.crt')),
        cert: readFileSync(join(dir, 'certs', 'client.crt')), key: readFileSync(join(dir, 'certs', 'client.key')),
        servername: 'localhost', version: { major: 1, minor: 2 },
      });
      const item = await c.requestItem(Operation.DiscoverVersions);
      expect(item.resultStatus).toBe(ResultStatus.Success);
      await c.close();
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.out()).toContain('"msg":"KMIP listener stopped"');
    } finally {
      p.child.kill('SIGKILL');
    }
  }, 180_000);

  it('refuses a bad setting with exit code 2 and a message naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-cli-'));
    const p = run(['serve', '--max-connections', 'lots'], dir);
    expect(await p.exited).toBe(2);
    expect(p.err()).toMatch(/flag --max-connections "limits.maxConnections": "lots" is not a whole number/);
  });
});
