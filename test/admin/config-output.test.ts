// The admin settings of the server configuration (src/config: admin.*) and kmipctl's output
// and connection settings (src/cli/output.ts, src/cli/admin/connection.ts).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { CliError, EXIT_CONNECT, EXIT_USAGE, Output, keyValues, reportError, table } from '../../src/cli/output.ts';
import { connectError, resolveSettings } from '../../src/cli/admin/connection.ts';

describe('admin configuration', () => {
  it('defaults to 127.0.0.1:5697 and the CA key next to the certificates', () => {
    const c = loadConfig({ cwd: '/srv/kcm' });
    expect(c.admin).toEqual({ enabled: true, listen: { host: '127.0.0.1', port: 5697 }, caKeyFile: '/srv/kcm/certs/ca.key' });
  });

  it('takes the flag, the environment and the file, and validates them', () => {
    expect(loadConfig({ flags: { adminListen: '[::1]:7000' } }).admin.listen).toEqual({ host: '::1', port: 7000 });
    expect(loadConfig({ env: { OPENKCM_ADMIN_LISTEN: '0.0.0.0:6000', OPENKCM_ADMIN_ENABLED: 'false' } }).admin).toMatchObject({ enabled: false, listen: { host: '0.0.0.0', port: 6000 } });
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ admin: { listen: '127.0.0.1:8443', caKeyFile: 'keys/ca.key' } }));
    expect(loadConfig({ flags: { config: file } }).admin).toMatchObject({ listen: { port: 8443 }, caKeyFile: join(dir, 'keys/ca.key') });
    expect(() => loadConfig({ env: { OPENKCM_ADMIN_LISTEN: 'nowhere' } })).toThrow(/admin.listen.*not HOST:PORT/);
    expect(() => loadConfig({ env: { OPENKCM_ADMIN_ENABLED: 'maybe' } })).toThrow(ConfigError);
    // The KMIP port is not the admin port.
    expect(() => loadConfig({ flags: { listen: '127.0.0.1:5697' } })).toThrow(/admin.listen.*is the KMIP port/);
    expect(loadConfig({ flags: { listen: '127.0.0.1:5697' }, env: { OPENKCM_ADMIN_ENABLED: 'false' } }).listen.port).toBe(5697);
  });

  it('gives an ephemeral KMIP port an ephemeral admin port unless one is set', () => {
    expect(loadConfig({ flags: { listen: '127.0.0.1:0' } }).admin.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(loadConfig({ flags: { listen: '127.0.0.1:0', adminListen: '127.0.0.1:9000' } }).admin.listen.port).toBe(9000);
  });

  it("accepts kmipctl's own variables in the server's environment", () => {
    expect(() => loadConfig({ env: { OPENKCM_ADMIN_SERVER: 'https://x:1', OPENKCM_ADMIN_CERT: 'a', OPENKCM_ADMIN_KEY: 'b', OPENKCM_ADMIN_CA: 'c', OPENKCM_ADMIN_KMIP: 'x:1', OPENKCM_ADMIN_CONFIG: 'f' } })).not.toThrow();
    expect(() => loadConfig({ env: { OPENKCM_ADMIN_LISTN: 'x' } })).toThrow(/unknown variable/);
  });
});

describe('kmipctl output', () => {
  it('tables pad columns, show - for empty values and never print control characters', () => {
    const t = table([{ id: 'acme', n: 3, tags: ['a', 'b'], x: null }, { id: 'b\nc', n: 10, tags: [], x: { y: 1 } }], ['id', 'n', 'tags', ['x', 'X!']]);
    expect(t).toBe('ID    N   TAGS  X!\nacme  3   a,b   -\nb?c   10  -     {"y":1}\n');
    expect(table([], ['id'])).toBe('(none)\n');
  });

  it('key/value lists flatten nested objects; --json prints the data itself', () => {
    expect(keyValues({ a: 1, nested: { b: 'x' } })).toBe('a         1\nnested.b  x\n');
    const chunks: string[] = [];
    new Output({ json: true, stdout: { write: (s: string) => chunks.push(s) } }).print({ a: [1] }, () => 'human');
    expect(JSON.parse(chunks.join(''))).toEqual({ a: [1] });
    new Output({ json: false, stdout: { write: (s: string) => chunks.push(s) } }).print({ a: [1] }, () => 'human');
    expect(chunks.at(-1)).toBe('human');
  });

  it('errors print the message and the hint and return their exit code', () => {
    const err: string[] = [];
    expect(reportError(new CliError(EXIT_USAGE, 'bad', 'do this'), { write: (s: string) => err.push(s) })).toBe(2);
    expect(err.join('')).toBe('kmipctl: bad\n  hint: do this\n');
    expect(connectError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'h:1').exitCode).toBe(EXIT_CONNECT);
    expect(connectError(new Error('unable to verify the first certificate'), 'h:1').message).toMatch(/TLS with h:1 failed/);
  });

  it('connection settings: flag over environment over file over defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-ctl-'));
    const file = join(dir, 'ctl.json');
    writeFileSync(file, JSON.stringify({ server: 'https://file:1', cert: 'c.pem', kmip: 'file:2' }));
    const s = resolveSettings({ adminConfig: file }, { OPENKCM_ADMIN_SERVER: 'https://env:1' }, '/work');
    expect(s.server.host).toBe('env:1');
    expect(s.certFile).toBe(join(dir, 'c.pem'));
    expect(s.kmip).toEqual({ host: 'file', port: 2 });
    expect(s.caFile).toBe('/work/certs/ca.crt');
    expect(resolveSettings({ server: 'https://flag:9' }, { OPENKCM_ADMIN_SERVER: 'https://env:1' }).server.host).toBe('flag:9');
    writeFileSync(file, JSON.stringify({ sever: 'x' }));
    expect(() => resolveSettings({ adminConfig: file }, {})).toThrow(/unknown key "sever"/);
    expect(() => resolveSettings({ kmip: 'nope' }, {})).toThrow(/not HOST:PORT/);
  });
});
