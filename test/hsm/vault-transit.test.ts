// The vault-transit L1 provider against test/hsm/vault-endpoint.ts, a local endpoint that
// follows Vault's documented Transit and AppRole HTTP API (no Vault binary can run here; see
// its header for what it does not check). The provider speaks plain HTTP/JSON, so every
// request it builds and every answer it maps is the real one. An opt-in live test at the end
// runs against a real Vault when VAULT_ADDR, VAULT_TOKEN and OPENKCM_VAULT_TRANSIT_KEY are set.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { L1Error } from '../../src/hsm/errors.ts';
import { openL1Provider, parseL1Config } from '../../src/hsm/index.ts';
import { VAULT_BLOB_V1, VaultTransitL1Provider, vaultContextFor, type VaultTransitL1Options } from '../../src/hsm/vault-transit.ts';
import { runL1ProviderContract } from './contract.ts';
import { VaultTransitEndpoint } from './vault-endpoint.ts';

const vault = new VaultTransitEndpoint();
let adminToken: string;
const dir = mkdtempSync(join(tmpdir(), 'openkcm-vault-test-'));
let keyCounter = 0;

beforeAll(async () => {
  await vault.start();
  adminToken = vault.addToken();
  process.env.OPENKCM_TEST_VAULT_TOKEN = adminToken;
});
afterAll(async () => {
  await vault.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The customer's side: Vault's API with an admin token (as `vault write transit/…` would). */
async function admin(method: string, path: string, body?: unknown, ns?: string): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { 'x-vault-token': adminToken, 'content-type': 'application/json' };
  if (ns !== undefined) headers['x-vault-namespace'] = ns;
  const r = await fetch(`${vault.url}/v1/${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  if (!r.ok) throw new Error(`admin ${method} ${path}: ${r.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}
async function createKey(opts: { derived?: boolean; mount?: string; ns?: string } = {}): Promise<string> {
  const name = `root-${++keyCounter}`;
  await admin('POST', `${opts.mount ?? 'transit'}/keys/${name}`, { type: 'aes256-gcm96', derived: opts.derived ?? true }, opts.ns);
  return name;
}
const deleteKey = async (name: string) => {
  await admin('POST', `transit/keys/${name}/config`, { deletion_allowed: true });
  await admin('DELETE', `transit/keys/${name}`);
};
const options = (keyName: string, extra: Partial<VaultTransitL1Options> = {}): VaultTransitL1Options => ({
  address: vault.url,
  keyName,
  tokenEnv: 'OPENKCM_TEST_VAULT_TOKEN',
  timeoutMs: 5000,
  ...extra,
});
const contractSubject = (derived: boolean) => async () => {
  const name = await createKey({ derived });
  return {
    provider: await VaultTransitL1Provider.open(options(name)),
    revokeKey: () => deleteKey(name),
    disableKey: async () => {
      // Retire the version our blobs use: rotate, then raise min_decryption_version past it.
      await admin('POST', `transit/keys/${name}/rotate`);
      await admin('POST', `transit/keys/${name}/config`, { min_decryption_version: 2 });
    },
    enableKey: async () => void (await admin('POST', `transit/keys/${name}/config`, { min_decryption_version: 1 })),
  };
};

runL1ProviderContract('vault-transit (derived key: context)', contractSubject(true), { revoke: true, disable: true });
runL1ProviderContract('vault-transit (aes256-gcm96 key: associated_data)', contractSubject(false), { revoke: true, disable: true });

describe('VaultTransitL1Provider', () => {
  const open: VaultTransitL1Provider[] = [];
  const track = (p: VaultTransitL1Provider) => (open.push(p), p);
  afterAll(async () => {
    for (const p of open) await p.close();
  });

  it('speaks the Transit API: reads the key, then encrypt with context and associated_data; the token in X-Vault-Token', async () => {
    const name = await createKey({ derived: true });
    const l1 = track(await VaultTransitL1Provider.open(options(name)));
    const before = vault.requests.length;
    const blob = await l1.wrap(Buffer.alloc(32, 1), 'tenant:acme/l2/v1');
    expect(blob[0]).toBe(VAULT_BLOB_V1);
    expect(blob.subarray(1).toString()).toMatch(/^vault:v1:[A-Za-z0-9+/]+=*$/);
    await l1.unwrap(blob, 'tenant:acme/l2/v1');
    const seen = vault.requests.slice(before);
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /v1/transit/keys/${name}`, `POST /v1/transit/encrypt/${name}`, `GET /v1/transit/keys/${name}`, `POST /v1/transit/decrypt/${name}`,
    ]);
    expect(seen.every((r) => r.token === adminToken)).toBe(true);
    expect(seen[1]!.body).toEqual({ plaintext: Buffer.alloc(32, 1).toString('base64'), context: vaultContextFor('tenant:acme/l2/v1'), associated_data: vaultContextFor('tenant:acme/l2/v1') });
    expect(Buffer.from(vaultContextFor(''), 'base64').toString()).toBe('openkcm-l1-context:');
    expect(l1.describe()).toEqual({ provider: 'vault-transit', keyRef: `${vault.url}/v1/transit/keys/${name}`, developmentOnly: false });
  });

  it('another context fails with Vault\'s error named; the status stays active', async () => {
    const l1 = track(await VaultTransitL1Provider.open(options(await createKey({ derived: false }))));
    const blob = await l1.wrap(Buffer.from('L2 of A'), 'tenant:A');
    const err = await l1.unwrap(blob, 'tenant:B').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(L1Error);
    expect((err as Error).message).toMatch(/^vault-transit: unwrap failed \(decrypt of .* failed \(HTTP 400: cipher: message authentication failed\)\): the blob was altered, made under another key, or bound to another context$/);
    expect((err as L1Error).status).toBeUndefined();
    expect(await l1.status()).toEqual({ state: 'active' });
  });

  it('a deleted key: revoked, and wrap does NOT let Vault re-create it (encrypt upserts)', async () => {
    const name = await createKey();
    const l1 = track(await VaultTransitL1Provider.open(options(name)));
    await deleteKey(name);
    expect(await l1.status()).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/HTTP 404/) });
    await expect(l1.wrap(Buffer.alloc(32), 'c')).rejects.toMatchObject({ status: 'revoked' });
    const r = await fetch(`${vault.url}/v1/transit/keys/${name}`, { headers: { 'x-vault-token': adminToken } });
    expect(r.status).toBe(404);
  });

  it('a key that cannot bind a context (neither derived nor AEAD: rsa-2048) or cannot encrypt (ed25519) is disabled; nothing is encrypted with it', async () => {
    for (const [type, why] of [['rsa-2048', /of type rsa-2048 is neither derived nor AEAD, so it cannot bind the context/], ['ed25519', /of type ed25519 does not encrypt and decrypt/]] as const) {
      const name = `typed-${type}-${++keyCounter}`;
      await admin('POST', `transit/keys/${name}`, { type });
      const l1 = track(await VaultTransitL1Provider.open(options(name)));
      expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(why) });
      const before = vault.requests.length;
      await expect(l1.wrap(Buffer.alloc(32), 'c')).rejects.toMatchObject({ status: 'disabled' });
      expect(vault.requests.slice(before).map((r) => r.method)).toEqual(['GET']);
    }
  });

  it('trimmed below the version of our blobs: revoked', async () => {
    const name = await createKey();
    const l1 = track(await VaultTransitL1Provider.open(options(name)));
    const blob = await l1.wrap(Buffer.alloc(32, 2), 'c');
    await admin('POST', `transit/keys/${name}/rotate`);
    vault.trim('', 'transit', name, 2);
    expect(await l1.status()).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/trimmed below version 2; our blobs use version 1/) });
    await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'revoked' });
  });

  it('after an L2 rotation the hierarchy forgets the old blob\'s context: its version may then be retired without a disabled status', async () => {
    const name = await createKey();
    const l1 = track(await VaultTransitL1Provider.open(options(name)));
    const oldL2 = await l1.wrap(Buffer.alloc(32, 1), 'l2|acme|1');
    await admin('POST', `transit/keys/${name}/rotate`);
    await l1.wrap(Buffer.alloc(32, 2), 'l2|acme|2');
    await admin('POST', `transit/keys/${name}/config`, { min_decryption_version: 2 });
    expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/our blobs use version 1/) });
    l1.forgetContext('l2|acme|1');
    expect(await l1.status()).toEqual({ state: 'active' });
    await expect(l1.unwrap(oldL2, 'l2|acme|1')).rejects.toMatchObject({ status: 'disabled' });
  });

  it('a rotated key: new wraps use the new version, old blobs still unwrap', async () => {
    const name = await createKey();
    const l1 = track(await VaultTransitL1Provider.open(options(name)));
    const v1 = await l1.wrap(Buffer.from('one'), 'c');
    await admin('POST', `transit/keys/${name}/rotate`);
    const v2 = await l1.wrap(Buffer.from('two'), 'c');
    expect(v2.subarray(1).toString()).toMatch(/^vault:v2:/);
    expect((await l1.unwrap(v1, 'c')).toString()).toBe('one');
    expect((await l1.unwrap(v2, 'c')).toString()).toBe('two');
  });

  it('namespace header and a custom mount path', async () => {
    vault.mounts.add('team/transit');
    const name = await createKey({ mount: 'team/transit', ns: 'tenant-a' });
    const l1 = track(await VaultTransitL1Provider.open(options(name, { mount: 'team/transit', namespace: 'tenant-a' })));
    expect(await l1.unwrap(await l1.wrap(Buffer.from('ns'), 'c'), 'c')).toEqual(Buffer.from('ns'));
    expect(vault.requests.at(-1)).toMatchObject({ namespace: 'tenant-a', path: `/v1/team/transit/decrypt/${name}` });
    expect(l1.describe().keyRef).toBe(`${vault.url}/v1/team/transit/keys/${name} (namespace tenant-a)`);
    const otherNs = track(await VaultTransitL1Provider.open(options(name, { mount: 'team/transit', namespace: 'tenant-b' })));
    expect((await otherNs.status()).state).toBe('revoked');
  });

  it('AppRole by reference: logs in, and logs in again when its token is revoked', async () => {
    const { roleId, secretId } = vault.addAppRole();
    writeFileSync(join(dir, 'secret-id'), secretId + '\n');
    const name = await createKey();
    const l1 = track(await VaultTransitL1Provider.open({ address: vault.url, keyName: name, roleIdEnv: 'ROLE', secretIdFile: join(dir, 'secret-id'), env: { ROLE: roleId } } as VaultTransitL1Options));
    const blob = await l1.wrap(Buffer.from('approle'), 'c');
    const logins = () => vault.requests.filter((r) => r.path === '/v1/auth/approle/login').length;
    const n = logins();
    expect(n).toBeGreaterThanOrEqual(1);
    vault.revokeAllTokens();
    adminToken = vault.addToken();
    process.env.OPENKCM_TEST_VAULT_TOKEN = adminToken;
    expect((await l1.unwrap(blob, 'c')).toString()).toBe('approle');
    expect(logins()).toBe(n + 1);
    expect(vault.requests.find((r) => r.path === '/v1/auth/approle/login')!.body).toEqual({ role_id: roleId, secret_id: secretId });
  });

  it('a token refused (revoked, or its policy withdrawn): disabled, with a reference that names what is missing', async () => {
    const name = await createKey();
    const t = vault.addToken();
    writeFileSync(join(dir, 'token'), t);
    const l1 = track(await VaultTransitL1Provider.open(options(name, { tokenEnv: undefined, tokenFile: join(dir, 'token') })));
    expect(await l1.status()).toEqual({ state: 'active' });
    vault.revokeToken(t);
    expect(await l1.status()).toMatchObject({ state: 'disabled', detail: expect.stringMatching(/HTTP 403: permission denied/) });
    const missing = track(await VaultTransitL1Provider.open(options(name, { tokenEnv: 'OPENKCM_TEST_NO_SUCH_TOKEN' })));
    expect(await missing.status()).toEqual({ state: 'unreachable', detail: 'vault-transit: the token environment variable OPENKCM_TEST_NO_SUCH_TOKEN is not set' });
  });

  it('sealed (503), stalled or down: unreachable, within the deadline; back: active', async () => {
    const name = await createKey();
    const l1 = track(await VaultTransitL1Provider.open(options(name, { timeoutMs: 400 })));
    const blob = await l1.wrap(Buffer.from('b'), 'c');
    vault.sealed = true;
    try {
      expect(await l1.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/HTTP 503: Vault is sealed/) });
    } finally {
      vault.sealed = false;
    }
    vault.stall(true);
    try {
      const t0 = Date.now();
      expect(await l1.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/got no answer within 400 ms$/) });
      const took = Date.now() - t0;
      // Slack for a loaded 2-core machine: the deadline, not a socket timeout of minutes.
      expect(took).toBeGreaterThanOrEqual(350);
      expect(took).toBeLessThan(3000);
      await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'unreachable' });
    } finally {
      vault.stall(false);
    }
    await vault.stop();
    try {
      expect(await l1.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/ECONNREFUSED/) });
    } finally {
      await vault.start();
    }
    expect(await l1.status()).toEqual({ state: 'active' });
    expect((await l1.unwrap(blob, 'c')).toString()).toBe('b');
  });

  it('refuses bad options naming the field, and credential values in configuration', async () => {
    const bad = async (o: unknown, re: RegExp) => expect(VaultTransitL1Provider.open(o as VaultTransitL1Options)).rejects.toThrow(re);
    await bad({ ...options('k'), token: 'hvs.x' }, /^vault-transit\.token: credential values are not accepted/);
    await bad({ ...options('k'), address: 'vault:8200' }, /^vault-transit\.address: must be an http or https URL/);
    await bad({ ...options('k'), address: 'https://v:8200/v1/transit' }, /^vault-transit\.address: give the server only/);
    await bad({ ...options('k'), keyName: 'a/b' }, /^vault-transit\.keyName/);
    await bad({ ...options('k'), mount: '../sys' }, /^vault-transit\.mount/);
    await bad({ address: vault.url, keyName: 'k' }, /token reference .* or AppRole references/);
    await bad({ ...options('k'), roleIdEnv: 'R', secretIdEnv: 'S' }, /not both or neither/);
    await bad({ address: vault.url, keyName: 'k', roleIdEnv: 'R' }, /secretIdEnv\/secretIdFile: give exactly one/);
    await bad({ ...options('k'), caFile: '/nonexistent/ca.pem' }, /^vault-transit\.caFile: cannot read/);
    await bad({ ...options('k'), timeoutMs: 0 }, /^vault-transit\.timeoutMs/);
  });

  it('refuses what it cannot wrap and blobs it did not make, before any call', async () => {
    const l1 = track(await VaultTransitL1Provider.open(options(await createKey())));
    const before = vault.requests.length;
    await expect(l1.wrap(Buffer.alloc(0), 'c')).rejects.toThrow(/1 to 4096 bytes, not 0/);
    await expect(l1.unwrap(Buffer.of(0x31, 0x32), 'c')).rejects.toThrow(/unknown format byte 0x31/);
    await expect(l1.unwrap(Buffer.concat([Buffer.of(VAULT_BLOB_V1), Buffer.from('vault:vX:abc')]), 'c')).rejects.toThrow(/does not hold a vault:v<N>: ciphertext/);
    expect(vault.requests.length).toBe(before);
  });

  it('after close: status unreachable and calls refused', async () => {
    const l1 = await VaultTransitL1Provider.open(options(await createKey()));
    await l1.close();
    expect(await l1.status()).toEqual({ state: 'unreachable', detail: 'vault-transit: provider is closed' });
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/closed/);
  });
});

describe('openL1Provider / parseL1Config: vault-transit and kmip', () => {
  it('opens vault-transit from a typed config, the token looked up in the given env', async () => {
    const name = await createKey();
    const l1 = await openL1Provider({ provider: 'vault-transit', address: vault.url, keyName: name, tokenEnv: 'T' }, { env: { T: adminToken } });
    try {
      expect(l1.describe().provider).toBe('vault-transit');
      expect(await l1.unwrap(await l1.wrap(Buffer.from('f'), 'c'), 'c')).toEqual(Buffer.from('f'));
    } finally {
      await l1.close();
    }
  });

  it('names the bad field', () => {
    const bad = (raw: unknown, msg: string | RegExp) => expect(() => parseL1Config(raw), JSON.stringify(raw)).toThrow(msg);
    bad({ provider: 'vault-transit', keyName: 'k', tokenEnv: 'T' }, 'l1.address: required for provider vault-transit');
    bad({ provider: 'vault-transit', address: 'http://v', keyName: 'k', token: 'hvs.x' }, /^l1\.token: a token value is not accepted in configuration/);
    bad({ provider: 'vault-transit', address: 'http://v', keyName: 'k', secretId: 's' }, /^l1\.secretId: AppRole credentials are not accepted/);
    bad({ provider: 'vault-transit', address: 'http://v', keyName: 'k' }, /^l1\.tokenEnv\/tokenFile\/roleId\*: give a token reference/);
    bad({ provider: 'vault-transit', address: 'http://v', keyName: 'k', tokenEnv: 'A', tokenFile: '/f' }, 'l1.tokenEnv/tokenFile: give exactly one of them');
    bad({ provider: 'kmip', host: 'h', caFile: '/c', certFile: '/c', clientKeyFile: '/k' }, 'l1.keyUid/keyName: give exactly one of them (the key on the other KMIP server)');
    bad({ provider: 'kmip', host: 'h', keyUid: '1', caFile: '/c', certFile: '/c', clientKeyFile: '/k', clientKey: 'PEM' }, /^l1\.clientKey: a private key is not accepted/);
    bad({ provider: 'kmip', host: 'h', keyUid: '1', caFile: '/c', certFile: '/c' }, 'l1.clientKeyFile: required for provider kmip');
    bad({ provider: 'kmip', host: 'h', keyUid: '1', caFile: '/c', certFile: '/c', clientKeyFile: '/k', port: '5696' }, 'l1.port: must be an integer');
    expect(parseL1Config({ provider: 'kmip', host: 'h', keyName: 'root', caFile: '/c', certFile: '/c', clientKeyFile: '/k' })).toMatchObject({ provider: 'kmip', keyName: 'root' });
  });
});

// Opt-in: a real Vault. VAULT_ADDR, VAULT_TOKEN, OPENKCM_VAULT_TRANSIT_KEY (a derived or
// aes256-gcm96 key the token may read, encrypt and decrypt with); VAULT_NAMESPACE,
// OPENKCM_VAULT_TRANSIT_MOUNT and VAULT_CACERT when needed. Nothing is created or deleted.
const live = process.env.VAULT_ADDR && process.env.VAULT_TOKEN && process.env.OPENKCM_VAULT_TRANSIT_KEY;
describe.skipIf(!live)('vault-transit against a real Vault (opt-in)', () => {
  it('wraps, unwraps, binds the context and reports active', async () => {
    const o: VaultTransitL1Options = { address: process.env.VAULT_ADDR!, keyName: process.env.OPENKCM_VAULT_TRANSIT_KEY!, tokenEnv: 'VAULT_TOKEN', timeoutMs: 15_000 };
    if (process.env.VAULT_NAMESPACE) o.namespace = process.env.VAULT_NAMESPACE;
    if (process.env.OPENKCM_VAULT_TRANSIT_MOUNT) o.mount = process.env.OPENKCM_VAULT_TRANSIT_MOUNT;
    if (process.env.VAULT_CACERT) o.caFile = process.env.VAULT_CACERT;
    const l1 = await VaultTransitL1Provider.open(o);
    try {
      expect(await l1.status()).toEqual({ state: 'active' });
      const blob = await l1.wrap(Buffer.alloc(32, 7), 'openkcm-live-test');
      expect(await l1.unwrap(blob, 'openkcm-live-test')).toEqual(Buffer.alloc(32, 7));
      await expect(l1.unwrap(blob, 'another')).rejects.toThrow(/unwrap failed/);
    } finally {
      await l1.close();
    }
  }, 60_000);
});
