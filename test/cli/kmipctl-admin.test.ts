// kmipctl as a child process (from its sources, test/helpers/cli.ts) against `openkcm serve` as a child process:
// every command group, --json output, and the exit codes scripts rely on (0 ok, 1 failed,
// 2 usage, 3 cannot connect), with errors on stderr that say what to do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServed, type ServedEnv } from '../admin/serve.ts';

let s: ServedEnv;
beforeAll(async () => { s = await startServed(); }, 90_000);
afterAll(async () => { await s?.stop(); });

type Obj = Record<string, any>;
async function ok(args: string[]): Promise<string> {
  const r = await s.kmipctl(args);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}
const okJson = async (args: string[]): Promise<Obj> => JSON.parse(await ok([...args, '--json'])) as Obj;

describe('kmipctl admin commands', () => {
  it('status, tenant and service groups', async () => {
    const st = await okJson(['status']);
    expect(st.caller).toMatchObject({ tenant: 'default', service: 'default', role: 'admin' });
    expect(st.hierarchy).toBe('running');
    expect(await ok(['status'])).toMatch(/role admin/);

    expect(await ok(['tenant', 'create', 'acme'])).toBe('created tenant acme\n');
    const dup = await s.kmipctl(['tenant', 'create', 'acme']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/tenant acme exists already \(exists\)\n {2}hint: /);
    const bad = await s.kmipctl(['tenant', 'create', 'Not Valid']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/field "name": "Not Valid" is not a valid name/);
    expect((await okJson(['tenant', 'list'])).tenants.map((t: Obj) => t.id)).toEqual(['acme', 'default']);
    expect(await ok(['tenant', 'list'])).toMatch(/^TENANT +STATE +SEALED +L1 +CREATED\nacme +active/);

    await ok(['service', 'create', 'acme', 'billing']);
    await ok(['service', 'create', 'acme', 'reports']);
    expect((await okJson(['service', 'list', 'acme'])).services.map((x: Obj) => x.id)).toEqual(['billing', 'reports']);
    expect((await okJson(['service', 'rotate', 'acme', 'billing'])).l3Version).toBeGreaterThanOrEqual(1);
    const show = await ok(['tenant', 'show', 'acme']);
    expect(show).toMatch(/services:\nSERVICE +CREATED\nbilling/);
  }, 120_000);

  it('role, identity and grant groups', async () => {
    expect((await okJson(['role', 'create', 'readers', '--operations', 'Get,Locate', '--object-types', 'SymmetricKey'])).role)
      .toMatchObject({ name: 'readers', operations: ['Get', 'Locate'], objectTypes: ['SymmetricKey'] });
    expect(await ok(['role', 'list'])).toMatch(/readers/);
    expect((await okJson(['role', 'show', 'app'])).role.builtIn).toBe(true);
    const badOp = await s.kmipctl(['role', 'create', 'r2', '--operations', 'Get,Frob']);
    expect(badOp.code).toBe(1);
    expect(badOp.stderr).toMatch(/"Frob" is not a KMIP operation name/);

    const id = (await okJson(['identity', 'add', '--tenant', 'acme', '--service', 'reports', '--role', 'readers', '--subject', 'CN=reports-*, O=Acme'])).identity;
    expect(id.match).toEqual({ kind: 'subject', pattern: 'CN=reports-*, O=Acme' });
    expect((await okJson(['identity', 'list', '--tenant', 'acme'])).identities.map((i: Obj) => i.id)).toEqual([id.id]);
    await ok(['identity', 'remove', id.id]);
    const two = await s.kmipctl(['identity', 'add', '--tenant', 'acme', '--service', 'reports', '--role', 'app', '--subject', 'CN=x', '--fingerprint', 'ab'.repeat(32)]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/give exactly one of --fingerprint, --cert-file, --subject, --san-uri/);

    expect((await okJson(['grant', 'add', 'acme', '--from', 'billing', '--to', 'reports', '--operations', 'Get'])).grant)
      .toEqual({ tenant: 'acme', fromService: 'billing', toService: 'reports', operations: ['Get'] });
    expect(await ok(['grant', 'list', 'acme'])).toMatch(/billing +reports +Get/);
    await ok(['grant', 'remove', 'acme', '--from', 'billing', '--to', 'reports']);
    expect((await okJson(['grant', 'list', 'acme'])).grants).toEqual([]);
  }, 120_000);

  it('cert issue writes key (0600), certificate and CA, prints a PyKMIP snippet; cert revoke', async () => {
    const out = join(s.cwd, 'issued');
    const r = await okJson(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'app', '--out', out, '--days', '30']);
    expect(r.privateKeyPem).toBeUndefined();
    expect(r.certificate.uri).toBe('openkcm://tenant/acme/service/billing/role/app');
    expect(statSync(r.files.key).mode & 0o777).toBe(0o600);
    expect(readFileSync(r.files.cert, 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    expect(existsSync(r.files.ca)).toBe(true);
    expect(r.pykmip).toContain(`port=${s.kmipPort}`);
    expect(r.pykmip).toContain(`certfile=${r.files.cert}`);
    // Not over existing files unless --force.
    const again = await s.kmipctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'app', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists already\n {2}hint: .*--force/);
    const human = await ok(['cert', 'issue', '--tenant', 'acme', '--service', 'reports', '--role', 'read-only', '--out', out]);
    expect(human).toMatch(/PyKMIP \(pykmip.conf\):\n {2}\[client\]\n {2}host=127\.0\.0\.1\n {2}port=\d+/);
    const rv = await okJson(['cert', 'revoke', '--cert-file', r.files.cert]);
    expect(rv.revoked[0]).toMatchObject({ id: r.identity.id, revoked: true });
  }, 120_000);

  it('l1 group, seal/unseal and the kill switch', async () => {
    expect((await okJson(['l1', 'show', 'acme'])).pointer).toBeNull();
    const none = await s.kmipctl(['l1', 'check', 'acme']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no L1 pointer of its own/);
    const keyFile = join(s.cwd, 'data', 'l1-software.key');
    expect(await ok(['l1', 'set', 'acme', '--provider', 'software', '--set', `keyFile=${keyFile}`])).toMatch(/L1 set to software .* \(active\)/);
    expect(await ok(['l1', 'check', 'acme'])).toMatch(/software .*: active/);
    const secret = await s.kmipctl(['l1', 'set', 'acme', '--provider', 'aws-kms', '--config', '{"keyId":"k","secretAccessKey":"x"}']);
    expect(secret.code).toBe(1);
    expect(secret.stderr).toMatch(/config\.secretAccessKey: credential values are not accepted/);

    expect((await okJson(['tenant', 'seal', 'acme', '--reason', 'maintenance'])).status).toMatchObject({ sealed: true, reason: 'maintenance' });
    expect((await okJson(['tenant', 'unseal', 'acme'])).status.sealed).toBe(false);
    expect(await ok(['tenant', 'kill', 'acme'])).toMatch(/tenant acme killed: SEALED \(kill-switch\)/);
    const un = await s.kmipctl(['tenant', 'unseal', 'acme']);
    expect(un.code).toBe(1);
    expect(un.stderr).toMatch(/was killed[^\n]*\n {2}hint: set a pointer to a still-valid L1 with: kmipctl l1 set acme/);
    await ok(['l1', 'set', 'acme', '--provider', 'software', '--set', `keyFile=${keyFile}`]);
    expect((await okJson(['tenant', 'show', 'acme'])).tenant.state).toBe('active');
    await ok(['l1', 'remove', 'acme']);
    expect((await okJson(['tenant', 'show', 'acme'])).tenant.state).toBe('killed');
  }, 120_000);

  it('audit tail, verify and export', async () => {
    const tail = await okJson(['audit', 'tail', '-n', '3']);
    expect(tail.records).toHaveLength(3);
    expect(tail.records[2].operation).toBe('l1.remove');
    expect(await ok(['audit', 'verify'])).toMatch(/^audit chain OK: \d+ records/);
    const file = join(s.cwd, 'audit.jsonl');
    const r = await s.kmipctl(['audit', 'export', '--out', file]);
    expect(r.code).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Obj);
    expect(lines[0]!.seq).toBe(1);
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_l, i) => i + 1));
    expect(r.stderr).toMatch(new RegExp(`exported ${lines.length} records`));
  }, 120_000);
});

describe('kmipctl key commands (KMIP over mutual TLS)', () => {
  it('create, get, locate, encrypt, decrypt, revoke, destroy', async () => {
    const uid = (await okJson(['key', 'create', '--name', 'ops-key', '--activate'])).uniqueIdentifier as string;
    expect(uid).toMatch(/\S/);
    expect(await okJson(['key', 'get', uid])).toMatchObject({ uniqueIdentifier: uid, objectType: 'SymmetricKey', algorithm: 'AES', length: 256 });
    expect((await okJson(['key', 'get', uid, '--material'])).keyMaterial).toMatch(/^[0-9a-f]{64}$/);
    expect((await okJson(['key', 'locate', '--name', 'ops-key'])).uniqueIdentifiers).toEqual([uid]);
    const enc = await okJson(['key', 'encrypt', uid, '--data', '48656c6c6f2c206b6d6970']);
    expect(enc.data).toMatch(/^[0-9a-f]{22}$/);
    const dec = await okJson(['key', 'decrypt', uid, '--data', enc.data, '--iv', enc.iv, '--tag', enc.tag]);
    expect(dec.data).toBe('48656c6c6f2c206b6d6970');
    const tampered = await s.kmipctl(['key', 'decrypt', uid, '--data', enc.data, '--iv', enc.iv, '--tag', '00'.repeat(16)]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/KMIP operation failed: \w+/);
    expect((await okJson(['key', 'revoke', uid, '--reason', 'Superseded'])).revoked).toBe(true);
    expect(await ok(['key', 'destroy', uid])).toBe(`destroyed ${uid}\n`);
    const gone = await s.kmipctl(['key', 'get', uid]);
    expect(gone.code).toBe(1);
  }, 120_000);
});

describe('exit codes and error messages', () => {
  it('2 for usage errors, 3 when the server cannot be reached, 1 when the operation fails', async () => {
    const [unknownOpt, missing, badCert, noServer, noKmip, badUrl, notFound] = await Promise.all([
      s.kmipctl(['tenant', 'list', '--frobnicate']),
      s.kmipctl(['cert', 'issue', '--tenant', 'acme']),
      s.kmipctl(['status', '--cert', '/nonexistent/client.crt']),
      s.kmipctl(['status', '--server', 'https://127.0.0.1:1']),
      s.kmipctl(['key', 'locate', '--kmip', '127.0.0.1:1']),
      s.kmipctl(['status', '--server', 'http://127.0.0.1:5697']),
      s.kmipctl(['role', 'show', 'nope']),
    ]);
    expect(unknownOpt.code).toBe(2);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/required option '--service <service>' not specified/);
    expect(badCert.code).toBe(2);
    expect(badCert.stderr).toMatch(/cannot read the client certificate \/nonexistent\/client.crt: ENOENT\n {2}hint: pass --cert or set OPENKCM_ADMIN_CERT/);
    expect(noServer.code).toBe(3);
    expect(noServer.stderr).toMatch(/connection refused\n {2}hint: is the server running/);
    expect(noKmip.code).toBe(3);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/must use https:/);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(/role "nope" does not exist \(not-found\)\n {2}hint: list roles with: kmipctl role list/);
  }, 120_000);

  it('connection options before the subcommand, between group and command, or after it (issue 14 §1b)', async () => {
    // The environment points at a closed port: only the --server on the line can reach the server.
    const env = { OPENKCM_ADMIN_SERVER: 'https://127.0.0.1:1' };
    const url = `https://127.0.0.1:${s.adminPort}`;
    const [before, between, after, cert] = await Promise.all([
      s.kmipctl(['--server', url, '--json', 'status'], env),
      s.kmipctl(['tenant', '--server', url, 'list', '--json'], env),
      s.kmipctl(['tenant', 'list', '--server', url], env),
      s.kmipctl(['--cert', '/nonexistent/before.crt', 'status']),
    ]);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout).caller.role).toBe('admin');
    expect(between.code, between.stderr).toBe(0);
    expect(JSON.parse(between.stdout).tenants.map((t: Obj) => t.id)).toContain('default');
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/^TENANT +STATE/);
    expect(cert.code).toBe(2);
    expect(cert.stderr).toMatch(/cannot read the client certificate \/nonexistent\/before.crt: ENOENT/);
  }, 120_000);

  it('settings from an --admin-config file (relative paths from the file) when flags and env are silent', async () => {
    const missing = await s.kmipctl(['status', '--json', '--admin-config', join(s.cwd, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the admin configuration .*nope.json: ENOENT/);
    const file = join(s.cwd, 'certs', 'kmipctl.json');
    writeFileSync(file, JSON.stringify({ server: `https://127.0.0.1:${s.adminPort}`, cert: 'client.crt', key: 'client.key', ca: 'ca.crt' }));
    const r = await s.kmipctl(['status', '--json', '--admin-config', file], { OPENKCM_ADMIN_SERVER: '' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).caller.role).toBe('admin');
  }, 60_000);
});

describe("the tenant's Name policy (issue 13 §5): tenant create --names, tenant set-names", () => {
  it('creates a tenant with duplicates allowed, refuses a bad policy, and switches the caller\'s tenant both ways', async () => {
    expect(await ok(['tenant', 'create', 'pykmip-style', '--names', 'duplicates-allowed'])).toBe('created tenant pykmip-style (Names: duplicates allowed)\n');
    expect((await okJson(['tenant', 'show', 'pykmip-style'])).tenant.names).toBe('duplicates-allowed');
    expect(await ok(['tenant', 'show', 'pykmip-style'])).toMatch(/\nnames +duplicates-allowed\n/);
    const bad = await s.kmipctl(['tenant', 'create', 'odd', '--names', 'sometimes']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/field "names": expected "unique" or "duplicates-allowed", not "sometimes"/);
    const badSet = await s.kmipctl(['tenant', 'set-names', 'default', 'maybe']);
    expect(badSet.code).toBe(1);
    expect(badSet.stderr.split('\n')[0]).toMatch(/field "names": expected "unique" or "duplicates-allowed", not "maybe"/);

    // The caller's own tenant (default) is unique: a second key named "twin" is refused over KMIP.
    expect((await okJson(['tenant', 'show', 'default'])).tenant.names).toBe('unique');
    const first = (await okJson(['key', 'create', '--name', 'twin'])).uniqueIdentifier as string;
    const refused = await s.kmipctl(['key', 'create', '--name', 'twin']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already used by another object/);

    expect(await ok(['tenant', 'set-names', 'default', 'duplicates-allowed'])).toBe('tenant default: Names may be shared by several objects (duplicates-allowed)\n');
    const second = (await okJson(['key', 'create', '--name', 'twin'])).uniqueIdentifier as string;
    expect(new Set((await okJson(['key', 'locate', '--name', 'twin'])).uniqueIdentifiers)).toEqual(new Set([first, second]));
    const tail = await okJson(['audit', 'tail', '-n', '5']);
    expect(tail.records.find((r: Obj) => r.operation === 'tenant.set-names')).toMatchObject({ tenant: 'default', detail: 'names unique -> duplicates-allowed', result: 'success' });

    // Back to unique is refused while two objects share a Name, and names it.
    const back = await s.kmipctl(['tenant', 'set-names', 'default', 'unique']);
    expect(back.code).toBe(1);
    expect(back.stderr.split('\n')[0]).toMatch(/^kmipctl: tenant default has two or more objects named "twin": rename or destroy all but one before switching to unique/);
    expect((await okJson(['tenant', 'show', 'default'])).tenant.names).toBe('duplicates-allowed');
    expect(await ok(['key', 'destroy', second])).toBe(`destroyed ${second}\n`);
    expect(await ok(['tenant', 'set-names', 'default', 'unique'])).toBe('tenant default: Names unique\n');
    expect((await s.kmipctl(['key', 'create', '--name', 'twin'])).code).toBe(1);
  }, 180_000);
});
