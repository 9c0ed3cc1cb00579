// `openkcm core`'s KMIP transports (issue 13 §3): --https-listen and --tls-profile read like
// `openkcm serve`'s https.listen and tls.profile, bad values refused in one line naming the
// flag. (The listeners themselves are the ones test/server/https.test.ts and
// test/server/suiteb.test.ts run; core hands them its runtime as serve does.)
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coreConfig, CoreUsageError } from '../../src/cli/core.ts';
import { ensureDevPki } from '../../src/server/devpki.ts';

let cwd: string;
beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'core-transports-'));
  const { files } = await ensureDevPki(join(cwd, 'certs'));
  // A link certificate without a region binding: enough for the configuration to read.
  copyFileSync(files.clientCert, join(cwd, 'certs', 'core.crt'));
  copyFileSync(files.clientKey, join(cwd, 'certs', 'core.key'));
});

const base = { region: 'eu-central', cmk: 'https://127.0.0.1:5697', listen: '127.0.0.1:5696' };
const refused = (f: () => unknown) => {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(CoreUsageError); return (e as Error).message; }
  throw new Error('expected a CoreUsageError');
};

describe('openkcm core: --https-listen and --tls-profile', () => {
  it('defaults: no HTTPS port, no TLS profile', () => {
    const c = coreConfig(base, {}, cwd);
    expect(c.httpsListen).toBeUndefined();
    expect(c.kmip.profile).toBe('none');
  });

  it('reads flags and the environment', () => {
    const f = coreConfig({ ...base, httpsListen: '127.0.0.1:5443', tlsProfile: 'suiteb-192' }, {}, cwd);
    expect(f.httpsListen).toEqual({ host: '127.0.0.1', port: 5443 });
    expect(f.kmip.profile).toBe('suiteb-192');
    const e = coreConfig(base, { OPENKCM_HTTPS_LISTEN: '[::1]:0', OPENKCM_TLS_PROFILE: 'suiteb-128' }, cwd);
    expect(e.httpsListen).toEqual({ host: '::1', port: 0 });
    expect(e.kmip.profile).toBe('suiteb-128');
  });

  it('refuses bad values in one line naming the flag', () => {
    expect(refused(() => coreConfig({ ...base, tlsProfile: 'suite-b' }, {}, cwd))).toBe('--tls-profile "suite-b": expected one of none, suiteb-128, suiteb-192');
    expect(refused(() => coreConfig({ ...base, httpsListen: 'localhost' }, {}, cwd))).toBe('--https-listen "localhost" is not HOST:PORT with a port from 0 to 65535');
    expect(refused(() => coreConfig({ ...base, httpsListen: '0.0.0.0:5696' }, {}, cwd))).toBe('--https-listen: port 5696 is already the KMIP (TTLV) port; KMIP over HTTPS needs its own');
  });
});
