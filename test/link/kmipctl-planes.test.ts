// kmipctl and the real programs around the split planes (issue 10): a core certificate
// issued by `openkcm serve` is refused on KMIP and on the admin API, and the all-in-one
// server serves no link routes; kmipctl against `openkcm cmk` shows regions and cores and
// says what the cores do where a CMK cannot act itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, KMIPCTL, OPENKCM, run, startServed, type ServedEnv } from '../admin/serve.ts';
import { KmipClient, KmipResponseError } from '../../src/client/index.ts';
import { Operation, ResultReason } from '../../src/ttlv/generated/enumerations.ts';

function get(port: number, ca: string, cert: string, key: string, path: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((res, rej) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method: 'GET', agent: false, ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) }, async (r) => {
      const chunks: Buffer[] = [];
      for await (const c of r) chunks.push(c as Buffer);
      res({ status: r.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
    });
    req.on('error', rej);
    req.end();
  });
}

describe('a core certificate on the all-in-one server', () => {
  let s: ServedEnv;
  beforeAll(async () => { s = await startServed(); }, 90_000);
  afterAll(async () => { await s?.stop(); });

  it('is issued by kmipctl, and refused on KMIP, on the admin API and on the (absent) link routes', async () => {
    const usage = await s.kmipctl(['cert', 'issue', '--role', 'core']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--region');
    const r = await s.kmipctl(['cert', 'issue', '--role', 'core', '--region', 'eu', '--name', 'n1', '--out', 'links', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.certificate.uri).toBe('openkcm://core/region/eu/node/n1');
    expect(out.identity).toMatchObject({ role: 'core', region: 'eu', node: 'n1', revoked: false });
    expect(out.privateKeyPem).toBeUndefined();
    const cert = join(s.cwd, 'links', 'core.eu.n1.crt');
    const key = join(s.cwd, 'links', 'core.eu.n1.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const ca = join(s.cwd, 'certs', 'ca.crt');

    // KMIP: not an identity at all — refused before any operation runs.
    const c = await KmipClient.connect({ host: '127.0.0.1', port: s.kmipPort, servername: 'localhost', ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key), timeoutMs: 20_000 });
    try {
      const err = await c.request(Operation.Query, []).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KmipResponseError);
      expect((err as KmipResponseError).reason).toBe(ResultReason.PermissionDenied);
    } finally {
      await c.close();
    }
    // The admin API: no route but the link's.
    const st = await s.kmipctl(['status', '--cert', cert, '--key', key]);
    expect(st.code).toBe(1);
    expect(st.stderr).toContain('link routes');
    // The link routes: this server is no CMK.
    const snap = await get(s.adminPort, ca, cert, key, '/v1/link/snapshot');
    expect(snap.status).toBe(503);
    expect(snap.body.error.message).toContain('not a CMK');
    // The admin role cannot use them either.
    const asAdmin = await get(s.adminPort, ca, join(s.cwd, 'certs', 'client.crt'), join(s.cwd, 'certs', 'client.key'), '/v1/link/snapshot');
    expect(asAdmin.status).toBe(403);
  }, 120_000);
});

describe('kmipctl against openkcm cmk', () => {
  let cwd: string;
  let child: ChildProcess;
  let env: NodeJS.ProcessEnv;
  const kmipctl = (args: string[]) => run(KMIPCTL, args, { cwd, env });
  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'openkcm-kmipctl-cmk-'));
    child = spawn(process.execPath, [OPENKCM, 'cmk', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn'], { cwd, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const port = await new Promise<number>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`openkcm cmk did not start:\n${err}`)), 60_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /Admin API: https:\/\/127\.0\.0\.1:(\d+)/.exec(err);
        if (m) { clearTimeout(t); res(Number(m[1])); }
      });
      child.on('exit', (code) => { clearTimeout(t); rej(new Error(`openkcm cmk exited with ${code}:\n${err}`)); });
    });
    env = cleanEnv({ OPENKCM_ADMIN_SERVER: `https://127.0.0.1:${port}` });
  }, 90_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('regions, core certificates, rotation, L1 pointers and status as a CMK answers them', async () => {
    const ok = async (args: string[]) => {
      const r = await kmipctl(args);
      expect(r.code, `kmipctl ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    expect(await ok(['tenant', 'create', 'acme', '--region', 'eu', '--region', 'us'])).toBe('created tenant acme in regions eu, us\n');
    expect(await ok(['tenant', 'list'])).toMatch(/^TENANT +STATE +REGIONS +SEALED +L1 +CREATED\nacme +active +eu,us +- +- /m);
    await ok(['service', 'create', 'acme', 'web']);
    expect(await ok(['service', 'rotate', 'acme', 'web'])).toBe('service acme/web: rotation published; the cores of eu, us bring its L3 key to version 2\n');
    expect(await ok(['l1', 'set', 'acme', '--provider', 'aws-kms', '--set', 'keyId=arn:aws:kms:eu-central-1:111122223333:key/acme']))
      .toContain('stored and published; the cores verify it');
    expect(await ok(['l1', 'check', 'acme'])).toBe('tenant acme: no core of its regions has reported yet\n');
    const bad = await kmipctl(['l1', 'check', 'acme', '--provider', 'software', '--set', 'keyFile=/x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('never calls an L1');
    // A CMK holds no L2: it publishes the rotation, the cores of each region execute it.
    expect(await ok(['tenant', 'rotate-l2', 'acme'])).toBe("tenant acme: L2 rotation published (request 1); the cores of eu, us rotate their region's L2 once\n");
    const issued = await ok(['cert', 'issue', '--role', 'core', '--region', 'eu', '--name', 'eu-1', '--out', 'links']);
    expect(issued).toContain('openkcm://core/region/eu/node/eu-1');
    expect(existsSync(join(cwd, 'links', 'core.eu.eu-1.key'))).toBe(true);
    const status = await ok(['status']);
    expect(status).toMatch(/^plane +cmk$/m);
    expect(status).toContain('cores:\n  (no core has reported yet)');
    expect(await ok(['tenant', 'show', 'acme'])).toMatch(/^regions +eu, us$/m);
    // Issue 13 §5: the Name policy is published like any tenant change; the switch back to
    // unique needs the tenant's objects, which only its cores hold.
    expect(await ok(['tenant', 'set-names', 'acme', 'duplicates-allowed'])).toBe('tenant acme: Names may be shared by several objects (duplicates-allowed)\n');
    const back = await kmipctl(['tenant', 'set-names', 'acme', 'unique']);
    expect(back.code).toBe(1);
    expect(back.stderr.split('\n')[0]).toBe("kmipctl: tenant acme: a CMK cannot check its cores' objects for duplicated Names, so it does not switch to unique (conflict)");
    expect(await ok(['tenant', 'show', 'acme'])).toMatch(/^names +duplicates-allowed$/m);
    expect(await ok(['tenant', 'kill', 'acme'])).toContain('tenant acme killed');
  }, 120_000);
});
