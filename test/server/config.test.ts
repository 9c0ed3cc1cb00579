import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadConfig, ConfigError, parseHostPort, DEFAULT_PORT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PRE_AUTH_CONNECTIONS, DEFAULT_MAX_PRE_AUTH_PER_SOURCE,
  DEFAULT_MESSAGE_TIMEOUT_MS,
} from '../../src/config/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'openkcm-config-'));
const file = (name: string, content: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
};
const refused = (f: () => unknown) => {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(ConfigError); return (e as Error).message; }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('has named defaults', () => {
    const c = loadConfig({ cwd: '/srv', env: {} });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: DEFAULT_PORT });
    expect(c.dataDir).toBe('/srv/data');
    expect(c.tls.caFile).toBe('/srv/certs/ca.crt');
    expect(c.limits.maxConnections).toBe(DEFAULT_MAX_CONNECTIONS);
  });

  it('layers file ← env ← flags, later wins', () => {
    const cfg = file('a.json', { listen: '0.0.0.0:6000', dataDir: 'd1', limits: { maxConnections: 5, idleTimeoutMs: 1000 } });
    const c = loadConfig({ cwd: '/w', flags: { config: cfg, maxConnections: '7' }, env: { OPENKCM_LISTEN: '127.0.0.1:7000' } });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 7000 });
    expect(c.dataDir).toBe(join(dir, 'd1')); // relative to the file
    expect(c.limits.maxConnections).toBe(7);
    expect(c.limits.idleTimeoutMs).toBe(1000);
    expect(c.l1.keyFile).toBe(join(dir, 'd1', 'l1-software.key'));
  });

  it('certs dir moves the TLS file defaults', () => {
    const c = loadConfig({ cwd: '/w', flags: { certs: '/etc/kcm' }, env: {} });
    expect(c.tls.certFile).toBe('/etc/kcm/server.crt');
  });

  it('refuses an unknown file key, naming it and suggesting the right one', () => {
    const msg = refused(() => loadConfig({ flags: { config: file('b.json', { maxconnections: 3 }) }, env: {} }));
    expect(msg).toMatch(/"maxconnections": unknown key \(did you mean "limits.maxConnections"\?\)/);
  });

  it('refuses an unknown OPENKCM_ variable', () => {
    expect(refused(() => loadConfig({ env: { OPENKCM_LISTN: 'x' } }))).toMatch(/OPENKCM_LISTN.*unknown variable/);
  });

  it('refuses bad values, naming the key and the expected form', () => {
    expect(refused(() => loadConfig({ env: { OPENKCM_LISTEN: 'localhost' } }))).toMatch(/env OPENKCM_LISTEN "listen".*HOST:PORT/);
    expect(refused(() => loadConfig({ env: {}, flags: { maxConnections: '0' } }))).toMatch(/flag --max-connections "limits.maxConnections": 0 is out of range/);
    expect(refused(() => loadConfig({ env: { OPENKCM_LOG_LEVEL: 'loud' } }))).toMatch(/not a log level/);
    expect(refused(() => loadConfig({ flags: { config: file('c.json', { limits: { maxMessageSize: 'big' } }) }, env: {} }))).toMatch(/limits.maxMessageSize.*not a whole number/);
    expect(refused(() => loadConfig({ flags: { config: file('d.json', '{nope') }, env: {} }))).toMatch(/not valid JSON/);
    expect(refused(() => loadConfig({ flags: { config: join(dir, 'missing.json') }, env: {} }))).toMatch(/cannot read .*ENOENT/);
  });

  it('pre-authentication budgets (issue 16 §4): defaults, derived when only maxConnections is lowered, refused when they do not fit', () => {
    const d = loadConfig({ env: {} });
    expect(d.limits).toMatchObject({ maxPreAuthConnections: DEFAULT_MAX_PRE_AUTH_CONNECTIONS, maxPreAuthPerSource: DEFAULT_MAX_PRE_AUTH_PER_SOURCE, messageTimeoutMs: DEFAULT_MESSAGE_TIMEOUT_MS });
    expect(loadConfig({ env: {}, flags: { maxConnections: '10' } }).limits).toMatchObject({ maxConnections: 10, maxPreAuthConnections: 10, maxPreAuthPerSource: 10 });
    const set = loadConfig({ env: { OPENKCM_MAX_PRE_AUTH_CONNECTIONS: '100', OPENKCM_MAX_PRE_AUTH_PER_SOURCE: '5', OPENKCM_MESSAGE_TIMEOUT_MS: '2000' } });
    expect(set.limits).toMatchObject({ maxPreAuthConnections: 100, maxPreAuthPerSource: 5, messageTimeoutMs: 2000 });
    expect(refused(() => loadConfig({ env: { OPENKCM_MAX_PRE_AUTH_CONNECTIONS: '2000' } })))
      .toMatch(/env OPENKCM_MAX_PRE_AUTH_CONNECTIONS "limits.maxPreAuthConnections": 2000 is more than limits.maxConnections \(1024\).*raise limits.maxConnections/);
    expect(refused(() => loadConfig({ flags: { config: file('pa.json', { limits: { maxPreAuthConnections: 8, maxPreAuthPerSource: 9 } }) }, env: {} })))
      .toMatch(/"limits.maxPreAuthPerSource": 9 is more than limits.maxPreAuthConnections \(8\)/);
    expect(refused(() => loadConfig({ env: { OPENKCM_MESSAGE_TIMEOUT_MS: '5' } }))).toMatch(/"limits.messageTimeoutMs": 5 is out of range; expected milliseconds/);
  });

  it('tls.profile and https.listen (issue 13 §3): defaults, every source, bad values and port clashes refused', () => {
    const d = loadConfig({ cwd: dir });
    expect(d.tls.profile).toBe('none');
    expect(d.https.listen).toBeUndefined();
    const f = loadConfig({ cwd: dir, flags: { config: file('p.json', { tls: { profile: 'suiteb-128' }, https: { listen: '127.0.0.1:5443' } }) } });
    expect(f.tls.profile).toBe('suiteb-128');
    expect(f.https.listen).toEqual({ host: '127.0.0.1', port: 5443 });
    const e = loadConfig({ cwd: dir, env: { OPENKCM_TLS_PROFILE: 'suiteb-192', OPENKCM_HTTPS_LISTEN: '[::1]:8443' } });
    expect(e.tls.profile).toBe('suiteb-192');
    expect(e.https.listen).toEqual({ host: '::1', port: 8443 });
    expect(loadConfig({ cwd: dir, flags: { tlsProfile: 'none', httpsListen: '127.0.0.1:0' } }).https.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(refused(() => loadConfig({ cwd: dir, env: { OPENKCM_TLS_PROFILE: 'suiteb' } })))
      .toMatch(/^configuration env OPENKCM_TLS_PROFILE "tls.profile": "suiteb" is not one of none, suiteb-128, suiteb-192; expected/);
    expect(refused(() => loadConfig({ cwd: dir, flags: { httpsListen: '127.0.0.1:5696' } })))
      .toMatch(/"https.listen": port 5696 is already the KMIP \(TTLV\) port; KMIP over HTTPS needs its own/);
    expect(refused(() => loadConfig({ cwd: dir, flags: { httpsListen: '127.0.0.1:5697' } })))
      .toMatch(/"https.listen": port 5697 is already the admin API port/);
  });

  it('parses HOST:PORT forms', () => {
    expect(parseHostPort('[::1]:5696')).toEqual({ host: '::1', port: 5696 });
    expect(parseHostPort('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseHostPort('host:70000')).toBeUndefined();
    expect(parseHostPort('::1:5696')).toBeUndefined();
  });
});
