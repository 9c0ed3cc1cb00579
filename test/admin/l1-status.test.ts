// Issue 16 §3, "L1 status that acts", against a real SoftHSM2 token, the real admin API over
// mutual TLS and kmipctl as a child process:
//   - `l1 check T` that finds T's HSM key deleted (or its functions off) seals T at once and
//     says so (answer, audit), instead of leaving it served until the periodic check;
//   - a missing key is a status (`revoked`, HTTP 200, printed with --json), a provider that
//     cannot be reached (no such token) stays an error;
//   - a failed `l1 set` (the candidate cannot unwrap T's L2) leaves the old pointer in place
//     and the tenant served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { SoftHsm } from '../hsm/softhsm.ts';
import { adminCall, startAdminEnv, type AdminEnv } from './helpers.ts';
import { KMIPCTL, cleanEnv, run } from './serve.ts';

type Obj = Record<string, any>;
const TOKEN = 'tenant-root';
const PIN = '4711-pin';
const PIN_ENV = 'OPENKCM_TEST_L1_STATUS_PIN';

let hsm: SoftHsm;
let env: AdminEnv;

beforeAll(async () => {
  hsm = new SoftHsm();
  hsm.initToken(TOKEN, PIN);
  for (const label of ['root-a', 'root-b', 'root-c']) hsm.generateAesKey(TOKEN, PIN, { label });
  process.env[PIN_ENV] = PIN;
  env = await startAdminEnv();
}, 60_000);
afterAll(async () => {
  await env?.close();
  hsm?.dispose();
  delete process.env[PIN_ENV];
});

const pkcs11 = (keyLabel: string, tokenLabel = TOKEN) => ({ provider: 'pkcs11', config: { library: hsm.library, tokenLabel, keyLabel, pinEnv: PIN_ENV } });

const call = (method: string, path: string, body?: unknown): Promise<{ status: number; json: Obj }> => adminCall(env, method, path, body);

const kmipctl = (args: string[]) => run(KMIPCTL, [...args, '--server', env.url, '--cert', env.pki.clientCert, '--key', env.pki.clientKey, '--ca', env.pki.caCert], {
  cwd: env.dir, env: cleanEnv({ [PIN_ENV]: PIN }),
});

/** A tenant whose L2 lives under an HSM key, with one wrapped object value to read back. */
async function hsmTenant(name: string, keyLabel: string) {
  expect((await call('POST', '/v1/tenants', { name })).status).toBe(201);
  expect((await call('POST', `/v1/tenants/${name}/services`, { name: 'app' })).status).toBe(201);
  const set = await call('PUT', `/v1/tenants/${name}/l1`, pkcs11(keyLabel));
  expect(set.status, JSON.stringify(set.json)).toBe(200);
  expect(env.hierarchy.status(name)).toMatchObject({ sealed: false });
  const place = { tenant: name, service: 'app', uid: `${name}-secret` };
  const secret = Buffer.from('key material of ' + name);
  const blob = await env.hierarchy.wrap(place, secret);
  expect(await env.hierarchy.unwrap(place, blob)).toEqual(secret);
  return { place, secret, blob };
}

async function refusedAsSealed(p: Promise<unknown>): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(KmipError);
  expect((e as KmipError).reason).toBe(ResultReason.PermissionDenied);
  expect((e as Error).message).toMatch(/is sealed/);
}

describe('l1 set saves a pointer only when it works', () => {
  it('a candidate that cannot unwrap the L2 leaves the old pointer, and the tenant served', async () => {
    const { place, secret, blob } = await hsmTenant('keep', 'root-a');
    const before = env.governance.getL1Pointer('keep')!;
    const auditBefore = env.audit.lastSeq();

    // root-b exists and is active, but the tenant's L2 was wrapped under root-a.
    const bad = await call('PUT', '/v1/tenants/keep/l1', pkcs11('root-b'));
    expect(bad.status).toBe(502);
    expect(bad.json.error.code).toBe('l1-failed');
    expect(bad.json.error.message).toMatch(/L1 pointer of "keep" is unchanged: this L1 cannot unwrap L2 v1 of tenant keep/);

    expect(env.governance.getL1Pointer('keep')).toEqual(before);
    const list = await call('GET', '/v1/tenants');
    expect(list.json.tenants.find((t: Obj) => t.id === 'keep')).toMatchObject({ state: 'active', sealed: false, l1: 'pkcs11' });
    expect((await call('GET', '/v1/tenants/keep/l1')).json.pointer.config.keyLabel).toBe('root-a');
    // Still served, key material included, under the old root key.
    expect(await env.hierarchy.unwrap(place, blob)).toEqual(secret);
    expect(env.hierarchy.status('keep').l1?.keyRef).toMatch(/object=root-a/);
    // The refusal is in the audit trail.
    env.audit.flush();
    const recs = env.audit.readAfter(auditBefore, 100);
    expect(recs.some((r) => r.operation === 'l1.set' && r.result === 'failure' && r.tenant === 'keep' && /unchanged/.test(r.detail ?? ''))).toBe(true);

    // The original root key is accepted again (the pointer is re-saved, nothing breaks).
    expect((await call('PUT', '/v1/tenants/keep/l1', pkcs11('root-a'))).status).toBe(200);
    expect(await env.hierarchy.unwrap(place, blob)).toEqual(secret);
  }, 60_000);
});

describe('l1 check acts on what it finds', () => {
  it('a deleted HSM key: revoked with detail (200, --json printed), the tenant sealed at once and audited', async () => {
    const { place, blob } = await hsmTenant('hyok', 'root-c');
    const ok = await call('POST', '/v1/tenants/hyok/l1/check', {});
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ status: { state: 'active' }, sealedNow: false, hierarchy: { sealed: false } });

    // The customer deletes the root key in the HSM console.
    expect(hsm.destroyKey(TOKEN, PIN, 'root-c')).toBe(1);
    const r = await kmipctl(['l1', 'check', 'hyok', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const answer = JSON.parse(r.stdout) as Obj;
    expect(answer.status.state).toBe('revoked');
    expect(answer.status.detail).toMatch(/no AES key labelled "root-c" on token tenant-root \(deleted, or never created\)/);
    expect(answer.sealedNow).toBe(true);
    expect(answer.hierarchy).toMatchObject({ sealed: true, sealKind: 'l1-status' });
    expect(r.stderr).toMatch(/the L1 of tenant hyok is revoked; tenant hyok sealed/);
    expect(r.stderr).toMatch(/hint: /);

    // Sealed now, not at the next periodic check (which this engine does not even run).
    expect(env.hierarchy.status('hyok')).toMatchObject({ sealed: true, sealKind: 'l1-status' });
    expect(env.hierarchy.status('hyok').reason).toMatch(/L1 key revoked: .*found by l1 check/);
    expect(env.hierarchy.liveKeyBuffersForTests('hyok')).toEqual([]);
    await refusedAsSealed(env.hierarchy.unwrap(place, blob));
    env.audit.flush();
    const rec = env.audit.tail(5).find((x) => x.operation === 'l1.check');
    expect(rec).toMatchObject({ kind: 'seal', tenant: 'hyok', result: 'success' });
    expect(rec!.detail).toMatch(/L1 key revoked, tenant sealed at once/);

    // Asked again: still a status (not an error), and it says the tenant was already sealed.
    const again = await call('POST', '/v1/tenants/hyok/l1/check', {});
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ status: { state: 'revoked' }, sealedNow: false, hierarchy: { sealed: true } });

    // Human output says so too.
    const human = await kmipctl(['l1', 'check', 'hyok']);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^pkcs11 .*: revoked \(pkcs11: no AES key labelled "root-c"/);
    expect(human.stdout).toMatch(/tenant hyok is sealed/);
  }, 60_000);

  it('a key with its functions switched off: disabled, sealed at once', async () => {
    hsm.generateAesKey(TOKEN, PIN, { label: 'root-d' });
    const { place, blob } = await hsmTenant('off', 'root-d');
    expect(hsm.setKeyFlags(TOKEN, PIN, 'root-d', { encrypt: false, decrypt: false, wrap: false, unwrap: false })).toBe(1);
    const r = await call('POST', '/v1/tenants/off/l1/check', {});
    expect(r.status).toBe(200);
    expect(r.json.status.state).toBe('disabled');
    expect(r.json.sealedNow).toBe(true);
    await refusedAsSealed(env.hierarchy.unwrap(place, blob));
  }, 60_000);

  it('a candidate is only checked: revoked answers a status and seals nothing; an absent token is an error (unreachable)', async () => {
    const { place, secret, blob } = await hsmTenant('cand', 'root-a');
    const gone = await call('POST', '/v1/tenants/cand/l1/check', pkcs11('no-such-key'));
    expect(gone.status).toBe(200);
    expect(gone.json).toMatchObject({ status: { state: 'revoked' }, sealedNow: false, hierarchy: { sealed: false } });
    expect(gone.json.l1).toMatchObject({ provider: 'pkcs11', keyRef: `token=${TOKEN};object=no-such-key` });
    expect(await env.hierarchy.unwrap(place, blob)).toEqual(secret);

    const noToken = await call('POST', '/v1/tenants/cand/l1/check', pkcs11('root-a', 'no-such-token'));
    expect(noToken.status).toBe(502);
    expect(noToken.json.error).toMatchObject({ code: 'l1-failed' });
    expect(noToken.json.error.message).toMatch(/cannot open the pkcs11 L1 \(unreachable\): pkcs11: no token labelled "no-such-token"/);
    expect(noToken.json.error.hint).toMatch(/token label/);
    const cli = await kmipctl(['l1', 'check', 'cand', '--provider', 'pkcs11', '--set', `library=${hsm.library}`, '--set', 'tokenLabel=no-such-token', '--set', 'keyLabel=root-a', '--set', `pinEnv=${PIN_ENV}`, '--json']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toMatch(/unreachable.*\(l1-failed\)\n {2}hint: /);
    expect(await env.hierarchy.unwrap(place, blob)).toEqual(secret);
  }, 60_000);
});
