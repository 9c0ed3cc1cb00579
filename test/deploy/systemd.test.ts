// Issue 14 §5: the systemd unit of deploy/systemd is valid and hardened. systemd-analyze
// (Debian's systemd) reads it as systemd would: `verify` reports any unknown directive or
// bad value (it exits 0 on those, so its output must be empty), `security --offline`
// scores its exposure. Both are shown to catch a broken or bare unit (positive controls).
// The example configuration beside it is read by the real config loader.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';

const UNIT = fileURLToPath(new URL('../../deploy/systemd/openkcm.service', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../deploy/systemd/openkcm.json', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'openkcm-systemd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs systemd-analyze; resolves with exit code and both outputs (it never throws). */
function analyze(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', args, { env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** The unit with some lines changed, written under the temporary directory with the same name. */
function variant(name: string, edit: (text: string) => string): string {
  const dir = join(tmp, name);
  const file = join(dir, 'openkcm.service');
  mkdirSync(dir);
  writeFileSync(file, edit(readFileSync(UNIT, 'utf8')));
  return file;
}

describe('deploy/systemd/openkcm.service', () => {
  it('passes systemd-analyze verify without a single warning', async () => {
    const r = await analyze(['verify', UNIT]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('verify catches a misspelt directive and a bad value (positive control)', async () => {
    const r = await analyze(['verify', variant('typo', (t) => t.replace('NoNewPrivileges=yes', 'NoNewPrivilegs=yes').replace('ProtectSystem=strict', 'ProtectSystem=strictt'))]);
    expect(r.out).toMatch(/Unknown key 'NoNewPrivilegs'/);
    expect(r.out).toMatch(/protect system value.*strictt/i);
  });

  it('is hardened: dedicated user, ProtectSystem=strict, NoNewPrivileges, only the data directory writable, no capabilities, no core dumps', () => {
    const directives = new Map<string, string[]>();
    for (const line of readFileSync(UNIT, 'utf8').split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
      if (m) directives.set(m[1]!, [...(directives.get(m[1]!) ?? []), m[2]!]);
    }
    const one = (k: string) => directives.get(k)?.at(-1);
    expect(one('User')).toBe('openkcm');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ReadWritePaths')).toBe('/var/lib/openkcm');
    expect(one('StateDirectory')).toBe('openkcm');
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('LimitCORE')).toBe('0');
    expect(one('ExecStart')).toMatch(/^\/usr\/bin\/node \/opt\/openkcm\/node_modules\/openkcm\/bin\/openkcm\.js serve --config \/etc\/openkcm\/openkcm\.json$/);
  });

  it('scores an exposure of at most 2.0 in systemd-analyze security, where a bare unit does not', async () => {
    const hardened = await analyze(['security', '--offline=true', '--threshold=20', UNIT]);
    expect(hardened.out).toMatch(/Overall exposure level for openkcm\.service: [01]\.\d|Overall exposure level for openkcm\.service: 2\.0/);
    expect(hardened.code, hardened.out).toBe(0);
    const bare = await analyze(['security', '--offline=true', '--threshold=20', variant('bare', (t) => t.replace(/^# No privileges at all[\s\S]*?LimitNOFILE=65536\n/m, '').replace(/^(ProtectSystem|ProtectHome|PrivateTmp|UMask)=.*\n/gm, ''))]);
    expect(bare.code).not.toBe(0);
  });

  it('comes with a configuration the server accepts: data under /var/lib/openkcm, TLS under /etc/openkcm, no development PKI', () => {
    const c = loadConfig({ flags: { config: CONFIG }, env: {}, cwd: '/' });
    expect(c.dataDir).toBe('/var/lib/openkcm');
    expect(c.tls.certFile).toBe('/etc/openkcm/tls/server.crt');
    expect(c.devPki).toBe(false);
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 5696 });
    expect(c.admin.listen).toEqual({ host: '127.0.0.1', port: 5697 });
  });
});
