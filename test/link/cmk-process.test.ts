// `openkcm cmk` as a real process (issue 10 §1): bad configuration is one line and exit 2;
// a running CMK never loads an L1 provider, the hierarchy engine, the KMIP runtime or
// listener; and a tenant's key bytes — an L4 key made by an all-in-one server and the L1
// key file its pointer names — are in neither the CMK's database file nor its heap snapshot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, OPENKCM, run } from '../admin/serve.ts';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { create } from '../../src/operations/create.ts';
import { get } from '../../src/operations/get.ts';
import { child, enumeration, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { ObjectType } from '../../src/ttlv/generated/enumerations.ts';
import { CMK_MUST_LOAD, FORBIDDEN, MODULE_RECORDER as RECORDER, takeHeapSnapshot } from './cmk-process-checks.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '../..');

interface Proc { child: ChildProcess; stderr: () => string; port: number }

async function startRecorded(cwd: string, args: string[], log: string, ready: RegExp, extraNodeArgs: string[] = []): Promise<Proc> {
  const c = spawn(process.execPath, [...extraNodeArgs, RECORDER, ...args], { cwd, env: cleanEnv({ CMK_TEST_MODULE_LOG: log }), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`did not start within 60 s:\n${err}`)), 60_000);
    c.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = ready.exec(err);
      if (m) { clearTimeout(t); res(Number(m[1])); }
    });
    c.on('exit', (code) => { clearTimeout(t); rej(new Error(`exited with ${code}:\n${err}`)); });
  });
  return { child: c, stderr: () => err, port };
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (c.exitCode === null) c.kill('SIGKILL');
}

function call(port: number, certs: string, method: string, path: string, body?: unknown, files = { cert: 'client.crt', key: 'client.key' }): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((res, rej) => {
    const req = httpsRequest({
      host: '127.0.0.1', port, method, path, agent: false,
      ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, files.cert)), key: readFileSync(join(certs, files.key)),
      headers: text ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) } : {},
    }, async (r) => {
      const chunks: Buffer[] = [];
      for await (const ch of r) chunks.push(ch as Buffer);
      const t = Buffer.concat(chunks).toString('utf8');
      res({ status: r.statusCode ?? 0, body: t ? JSON.parse(t) : undefined });
    });
    req.on('error', rej);
    req.end(text);
  });
}

describe('openkcm cmk as a process', () => {
  it('bad configuration: one line naming what to fix, exit 2, no stack trace', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'openkcm-cmk-bad-'));
    try {
      const cases: Array<[string[], Record<string, string>, RegExp]> = [
        [['cmk', '--admin-listen', 'nowhere'], {}, /admin\.listen.*HOST:PORT/],
        [['cmk', '--change-retention', '0'], {}, /cmk\.changeRetention.*out of range/],
        [['cmk'], { OPENKCM_TLS_CA: join(cwd, 'missing-ca.crt') }, /tls\.caFile: .*missing-ca\.crt does not exist/],
        [['cmk'], { OPENKCM_ADMIN_ENABLED: 'false' }, /admin\.enabled is false/],
        [['cmk'], { OPENKCM_CMK_RETENTION: '5' }, /OPENKCM_CMK_RETENTION.*unknown variable/],
      ];
      for (const [args, env, want] of cases) {
        const r = await run(OPENKCM, args, { cwd, env: cleanEnv(env) });
        expect(r.code, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`).toBe(2);
        const lines = r.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^openkcm cmk: /);
        expect(lines[0]).toMatch(want);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      }
      // Nothing was created by a refused start.
      expect(existsSync(join(cwd, 'data'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 120_000);

  describe('a running CMK', () => {
    let cwd: string;
    let t: TestContext;
    let keyBytes: Buffer;
    let l1KeyText: string;
    let cmk: Proc;
    const modules = () => readFileSync(join(cwd, 'modules.log'), 'utf8').trim().split('\n');
    beforeAll(async () => {
      cwd = mkdtempSync(join(tmpdir(), 'openkcm-cmk-proc-'));
      // An all-in-one server's side: an AES key (L4) and the development L1 key file.
      t = await makeTestContext();
      const created = await create.run(t.ctx, structure(Tag.RequestPayload, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [])]));
      const uid = (child(created, Tag.UniqueIdentifier) as { value: string }).value;
      const g = await get.run(t.ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
      const material = child(child(child(child(g, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer };
      keyBytes = Buffer.from(material.value);
      expect(keyBytes.length).toBe(32);
      const l1File = readdirSync(t.dir).map((f) => join(t.dir, f)).find((f) => statSync(f).isFile() && /^[0-9a-f]{64}\s*$/.test(readFileSync(f, 'latin1')))!;
      l1KeyText = readFileSync(l1File, 'latin1').trim();

      cmk = await startRecorded(cwd, ['cmk', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn'], join(cwd, 'modules.log'),
        /Admin API: https:\/\/127\.0\.0\.1:(\d+)/, ['--heapsnapshot-signal=SIGUSR2']);
      const certs = join(cwd, 'certs');
      const ok = async (m: string, p: string, b?: unknown, status = 300) => {
        const r = await call(cmk.port, certs, m, p, b);
        expect(r.status, `${m} ${p}: ${JSON.stringify(r.body)}`).toBeLessThan(status);
        return r;
      };
      // Everything an operator does on a CMK, including the routes that would need keys.
      await ok('POST', '/v1/tenants', { name: 'acme', regions: ['eu'] });
      await ok('POST', '/v1/tenants/acme/services', { name: 'web' });
      await ok('PUT', '/v1/tenants/acme/l1', { provider: 'software', config: { keyFile: l1File } });
      await ok('POST', '/v1/tenants/acme/services/web/rotate');
      await ok('POST', '/v1/tenants/acme/l1/check');
      await ok('POST', '/v1/tenants/acme/rotate-l2', undefined, 500);
      await ok('POST', '/v1/tenants/acme/seal');
      await ok('POST', '/v1/tenants/acme/unseal');
      const core = await ok('POST', '/v1/certificates', { role: 'core', region: 'eu', node: 'n1' });
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(certs, 'core.crt'), core.body.certificate.pem);
      writeFileSync(join(certs, 'core.key'), core.body.privateKeyPem, { mode: 0o600 });
      const snap = await call(cmk.port, certs, 'GET', '/v1/link/snapshot', undefined, { cert: 'core.crt', key: 'core.key' });
      expect(snap.status).toBe(200);
      expect(snap.body.l1Pointers[0]).toMatchObject({ tenant: 'acme', provider: 'software' });
      const st = await call(cmk.port, certs, 'POST', '/v1/link/status', { node: 'n1', region: 'eu', at: new Date().toISOString(), seq: snap.body.seq, tenants: [{ tenant: 'acme', state: 'unsealed', l1Status: 'active' }] }, { cert: 'core.crt', key: 'core.key' });
      expect(st.status).toBe(204);
      await ok('POST', '/v1/tenants/acme/kill');
    }, 180_000);
    afterAll(async () => {
      if (cmk) await stop(cmk.child);
      await t?.close();
      if (cwd) rmSync(cwd, { recursive: true, force: true });
    });

    it('loads no L1 provider, no hierarchy engine, no KMIP runtime or listener', () => {
      const mods = modules();
      // The recorder sees the TypeScript modules the CMK runs on (else the check below proves nothing).
      for (const must of CMK_MUST_LOAD) {
        expect(mods.some((m) => m.endsWith(must)), must).toBe(true);
      }
      const bad = mods.filter((m) => FORBIDDEN.some((re) => re.test(m)));
      expect(bad).toEqual([]);
    });

    it("holds no key bytes: not in its database file, not in its heap", async () => {
      const hex = keyBytes.toString('hex');
      const b64 = keyBytes.toString('base64');
      const l1Raw = Buffer.from(l1KeyText, 'hex');
      const dataDir = join(cwd, 'data');
      const files = readdirSync(dataDir).filter((f) => f.startsWith('cmk.db'));
      expect(files).toContain('cmk.db');
      for (const f of files) {
        const bytes = readFileSync(join(dataDir, f));
        for (const needle of [keyBytes, Buffer.from(hex), Buffer.from(hex.toUpperCase()), Buffer.from(b64), l1Raw, Buffer.from(l1KeyText)]) {
          expect(bytes.includes(needle), `${f} holds key bytes`).toBe(false);
        }
      }
      // The CMK does hold what it should: the pointer (a file name), not the key.
      expect(Buffer.concat(files.map((f) => readFileSync(join(dataDir, f)))).includes(Buffer.from('"provider":"software"'))).toBe(true);

      const heap = await takeHeapSnapshot(cmk.child, cwd);
      expect(heap.length).toBeGreaterThan(1_000_000);
      // Sanity: the snapshot holds the CMK's live strings (its data directory, kept by its configuration).
      expect(heap.includes(Buffer.from(dataDir))).toBe(true);
      for (const needle of [hex, hex.toUpperCase(), b64, l1KeyText]) {
        expect(heap.includes(Buffer.from(needle)), 'key bytes in the CMK heap').toBe(false);
      }
    }, 180_000);
  });

  it('the recorder does see an L1 provider where one is loaded (openkcm serve)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'openkcm-serve-rec-'));
    try {
      const p = await startRecorded(cwd, ['serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn'], join(cwd, 'modules.log'), /listening on 127\.0\.0\.1:(\d+)/);
      await stop(p.child);
      const mods = readFileSync(join(cwd, 'modules.log'), 'utf8').split('\n');
      expect(mods.some((m) => /\/src\/hsm\/software\.ts$/.test(m))).toBe(true);
      expect(mods.some((m) => /\/src\/hierarchy\//.test(m))).toBe(true);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 120_000);
});

void root;
