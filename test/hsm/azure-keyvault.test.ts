// The azure-keyvault L1 provider, driving the REAL @azure/keyvault-keys and @azure/identity
// against test/hsm/azure-keyvault-endpoint.ts: a local HTTPS endpoint that follows Key Vault's
// documented REST protocol (see its header for what it does not check: token validation).
// Tokens come from App Service's managed-identity protocol, served by the same endpoint, so
// the SDK's challenge flow (401 first, then the bearer token) runs for real. An opt-in live
// test at the end runs against a real vault when its environment variables are set.
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedIdentityCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURE_BLOB_V1, AZURE_MAX_WRAP_PLAINTEXT, AzureKeyVaultL1Provider, type AzureKeyVaultL1Options } from '../../src/hsm/azure-keyvault.ts';
import { L1Error } from '../../src/hsm/errors.ts';
import { openL1Provider, parseL1Config } from '../../src/hsm/index.ts';
import { runL1ProviderContract } from './contract.ts';
import { AzureKeyVaultEndpoint } from './azure-keyvault-endpoint.ts';

const endpoint = new AzureKeyVaultEndpoint();
/** The customer's side: the SDK's KeyClient on the same endpoint (as the Azure portal would act). */
let vaultAdmin: KeyClient;
let hsmAdmin: KeyClient;
let keyCounter = 0;
const dir = mkdtempSync(join(tmpdir(), 'openkcm-azure-test-'));

beforeAll(async () => {
  await endpoint.start();
  // MSAL reads App Service's managed-identity variables from the process environment.
  Object.assign(process.env, endpoint.managedIdentityEnv());
  const agent = new Agent({ ca: readFileSync(endpoint.caFile) });
  vaultAdmin = new KeyClient(endpoint.vaultUrl(), new ManagedIdentityCredential(), { agent });
  hsmAdmin = new KeyClient(endpoint.hsmUrl(), new ManagedIdentityCredential(), { agent });
}, 60_000);
afterAll(async () => {
  await endpoint.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const options = (vaultUrl: string, keyName: string, extra: Partial<AzureKeyVaultL1Options> = {}): AzureKeyVaultL1Options => ({
  vaultUrl,
  keyName,
  credentialType: 'managed-identity',
  caFile: endpoint.caFile,
  timeoutMs: 10_000,
  ...extra,
});
async function rsaKey(): Promise<{ name: string; version: string }> {
  const name = `root-${++keyCounter}`;
  const k = await vaultAdmin.createRsaKey(name, { keySize: 2048 });
  return { name, version: k.properties.version! };
}
async function octKey(): Promise<{ name: string; version: string }> {
  const name = `hsm-root-${++keyCounter}`;
  const k = await hsmAdmin.createOctKey(name, { hsm: true, keySize: 256 });
  return { name, version: k.properties.version! };
}
const setEnabled = async (admin: KeyClient, name: string, version: string, enabled: boolean) => void (await admin.updateKeyProperties(name, version, { enabled }));
const deleteKey = async (admin: KeyClient, name: string) => void (await (await admin.beginDeleteKey(name)).pollUntilDone());

const contractSubject = (kind: 'rsa' | 'oct') => async () => {
  const admin = kind === 'rsa' ? vaultAdmin : hsmAdmin;
  const { name, version } = kind === 'rsa' ? await rsaKey() : await octKey();
  return {
    provider: await AzureKeyVaultL1Provider.open(options(kind === 'rsa' ? endpoint.vaultUrl() : endpoint.hsmUrl(), name)),
    revokeKey: () => deleteKey(admin, name),
    disableKey: () => setEnabled(admin, name, version, false),
    enableKey: () => setEnabled(admin, name, version, true),
  };
};

runL1ProviderContract('azure-keyvault (Key Vault RSA key: RSA-OAEP-256)', contractSubject('rsa'), { revoke: true, disable: true });
runL1ProviderContract('azure-keyvault (Managed HSM oct-HSM key: A256KW)', contractSubject('oct'), { revoke: true, disable: true });

describe('AzureKeyVaultL1Provider', () => {
  const open: AzureKeyVaultL1Provider[] = [];
  const track = (p: AzureKeyVaultL1Provider) => (open.push(p), p);
  afterAll(async () => {
    for (const p of open) await p.close();
  });

  it('speaks the REST protocol: 401 challenge first, then the bearer token; get key, then wrapkey with RSA-OAEP-256 on the version', async () => {
    const { name, version } = await rsaKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    const before = endpoint.requests.length;
    const blob = await l1.wrap(Buffer.alloc(32, 1), 'tenant:acme/l2/v1');
    expect(await l1.unwrap(blob, 'tenant:acme/l2/v1')).toEqual(Buffer.alloc(32, 1));
    const seen = endpoint.requests.slice(before);
    expect(seen.map((r) => `${r.method} ${r.path} ${r.authorized ? 'token' : 'none'}`)).toEqual([
      `GET /keys/${name}/ none`, // a new client's first request goes without token and gets the 401 challenge
      `GET /keys/${name}/ token`,
      `GET /keys/${name}/${version} token`, // the SDK's CryptographyClient reads the version once
      `POST /keys/${name}/${version}/wrapkey token`,
      `POST /keys/${name}/${version}/unwrapkey token`,
    ]);
    expect(endpoint.tokenRequests).toBeGreaterThan(0); // from App Service's managed-identity endpoint
    expect(seen.every((r) => r.host === 'openkcm-test.vault.azure.net' && /^\d{4}-\d{2}-\d{2}$/.test(r.apiVersion ?? ''))).toBe(true);
    const wrapBody = seen[3]!.body as { alg: string; value: string };
    expect(wrapBody.alg).toBe('RSA-OAEP-256');
    // The record Key Vault saw is not the plaintext: the nonce, context digest and length come first.
    expect(Buffer.from(wrapBody.value, 'base64url').length).toBe(1 + 16 + 32 + 4 + 32);
    expect(blob[0]).toBe(AZURE_BLOB_V1);
    expect(blob[1]).toBe(0x01);
    expect(blob.subarray(3, 3 + blob[2]!).toString()).toBe(version);
    expect(blob.length).toBe(3 + version.length + 256); // an RSA-2048 ciphertext
    expect(l1.describe()).toEqual({ provider: 'azure-keyvault', keyRef: `${endpoint.vaultUrl()}/keys/${name}`, developmentOnly: false });
  });

  it('Managed HSM oct-HSM key: A256KW on a record padded to 64-bit blocks', async () => {
    const { name, version } = await octKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.hsmUrl(), name)));
    const before = endpoint.requests.length;
    const blob = await l1.wrap(Buffer.alloc(32, 5), 'c');
    const wrap = endpoint.requests.slice(before).find((r) => r.path.endsWith('/wrapkey'))!;
    expect(wrap.host).toBe('openkcm-test.managedhsm.azure.net');
    const body = wrap.body as { alg: string; value: string };
    expect(body.alg).toBe('A256KW');
    expect(Buffer.from(body.value, 'base64url').length).toBe(88); // 53 + 32 rounded up to 8
    expect(blob[1]).toBe(0x02);
    expect(blob.length).toBe(3 + version.length + 96); // RFC 3394: input + 8
    expect(await l1.unwrap(blob, 'c')).toEqual(Buffer.alloc(32, 5));
  });

  it('a disabled RSA key: wrap is refused before any wrapkey (Key Vault itself would still wrap with it), status says disabled', async () => {
    const { name, version } = await rsaKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    await setEnabled(vaultAdmin, name, version, false);
    const before = endpoint.requests.length;
    const err = await l1.wrap(Buffer.alloc(32), 'c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(L1Error);
    expect((err as L1Error).status).toBe('disabled');
    expect((err as Error).message).toBe(`azure-keyvault: key ${endpoint.vaultUrl()}/keys/${name}/${version} is disabled; wrap refused`);
    expect(endpoint.requests.slice(before).some((r) => r.path.endsWith('/wrapkey'))).toBe(false);
    expect(await l1.status()).toEqual({ state: 'disabled', detail: `azure-keyvault: key ${endpoint.vaultUrl()}/keys/${name}/${version} is disabled` });
  });

  it('unwrap of a disabled key: refused by the vault (403 Forbidden/KeyDisabled) and reported as disabled', async () => {
    const { name, version } = await rsaKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    const blob = await l1.wrap(Buffer.alloc(32, 2), 'c');
    await setEnabled(vaultAdmin, name, version, false);
    const err = await l1.unwrap(blob, 'c').catch((e: unknown) => e);
    expect((err as L1Error).status).toBe('disabled');
    expect((err as Error).message).toMatch(/unwrapKey of .* failed \(HTTP 403 Forbidden\/KeyDisabled: Operation unwrapKey is not allowed on a disabled key\.\)$/);
  });

  it('deleted (soft delete): revoked with the deletion and purge dates; purged: revoked (KeyNotFound); nothing wraps', async () => {
    const { name } = await rsaKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    const blob = await l1.wrap(Buffer.alloc(32, 3), 'c');
    await deleteKey(vaultAdmin, name);
    const st = await l1.status();
    expect(st).toMatchObject({ state: 'revoked', detail: expect.stringMatching(new RegExp(`key .*/keys/${name} was deleted on \\d{4}-.*; purge scheduled for \\d{4}-`)) });
    await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'revoked' });
    await expect(l1.wrap(Buffer.alloc(32), 'c')).rejects.toMatchObject({ status: 'revoked' });
    await vaultAdmin.purgeDeletedKey(name);
    expect(await l1.status()).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/HTTP 404 KeyNotFound: A key with \(name\/id\) .* was not found/) });
  });

  it('a deleted key that the customer recovers: active again, and old blobs unwrap', async () => {
    const { name } = await rsaKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    const blob = await l1.wrap(Buffer.from('kept'), 'c');
    await deleteKey(vaultAdmin, name);
    expect((await l1.status()).state).toBe('revoked');
    await (await vaultAdmin.beginRecoverDeletedKey(name)).pollUntilDone();
    expect(await l1.status()).toEqual({ state: 'active' });
    expect((await l1.unwrap(blob, 'c')).toString()).toBe('kept');
  });

  it('a rotated key: new wraps use the new version, old blobs unwrap with theirs; an old version disabled alone disables the provider that used it', async () => {
    const { name, version: v1 } = await rsaKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    const old = await l1.wrap(Buffer.from('one'), 'c');
    const v2 = (await vaultAdmin.createRsaKey(name)).properties.version!; // a new version of the same key
    const newer = await l1.wrap(Buffer.from('two'), 'c');
    expect(newer.subarray(3, 3 + newer[2]!).toString()).toBe(v2);
    expect((await l1.unwrap(old, 'c')).toString()).toBe('one');
    expect((await l1.unwrap(newer, 'c')).toString()).toBe('two');
    await setEnabled(vaultAdmin, name, v1, false);
    expect(await l1.status()).toEqual({ state: 'disabled', detail: `azure-keyvault: key ${endpoint.vaultUrl()}/keys/${name}/${v1} is disabled; our blobs use this version` });
    // A fresh probe has seen no blob: it judges the latest version only.
    const fresh = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    expect(await fresh.status()).toEqual({ state: 'active' });
  });

  it('a pinned keyVersion: wraps with it even after a rotation', async () => {
    const { name, version } = await rsaKey();
    await vaultAdmin.createRsaKey(name);
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name, { keyVersion: version })));
    const blob = await l1.wrap(Buffer.from('pinned'), 'c');
    expect(blob.subarray(3, 3 + blob[2]!).toString()).toBe(version);
    expect(l1.describe().keyRef).toBe(`${endpoint.vaultUrl()}/keys/${name}/${version}`);
  });

  it('keys that cannot serve: EC (cannot wrap), key_ops without unwrapKey, expired, not yet valid → disabled, nothing wrapped', async () => {
    const ec = `ec-${++keyCounter}`;
    await vaultAdmin.createEcKey(ec, { curve: 'P-256' });
    const noUnwrap = `ops-${++keyCounter}`;
    await vaultAdmin.createRsaKey(noUnwrap, { keyOps: ['encrypt', 'wrapKey'] });
    const expired = `exp-${++keyCounter}`;
    await vaultAdmin.createRsaKey(expired, { expiresOn: new Date(Date.now() - 60_000) });
    const future = `nbf-${++keyCounter}`;
    await vaultAdmin.createRsaKey(future, { notBefore: new Date(Date.now() + 3600_000) });
    for (const [name, why] of [
      [ec, /key type EC cannot wrap keys; an RSA, RSA-HSM or \(Managed HSM\) oct-HSM key is needed/],
      [noUnwrap, /does not permit unwrapKey \(key_ops: encrypt, wrapKey\)/],
      [expired, /expired on \d{4}-/],
      [future, /is not valid before \d{4}-/],
    ] as const) {
      const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
      expect(await l1.status(), name).toMatchObject({ state: 'disabled', detail: expect.stringMatching(why) });
      const before = endpoint.requests.length;
      await expect(l1.wrap(Buffer.alloc(32), 'c')).rejects.toMatchObject({ status: 'disabled' });
      expect(endpoint.requests.slice(before).some((r) => r.path.endsWith('/wrapkey'))).toBe(false);
    }
  });

  it("a blob of another key is refused without blaming this key's status", async () => {
    const a = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), (await rsaKey()).name)));
    const bKey = await rsaKey();
    const b = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), bKey.name)));
    const blob = await a.wrap(Buffer.from('x'), 'c');
    const err = await b.unwrap(blob, 'c').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(new RegExp(`the blob names version [0-9a-f]{32}, which key .*/keys/${bKey.name} does not have \\(made under another key\\?\\)`));
    expect((err as L1Error).status).toBeUndefined();
    expect(await b.status()).toEqual({ state: 'active' });
  });

  it('a stalled vault: unreachable within the deadline; the vault down: unreachable; back up: active', async () => {
    const { name } = await rsaKey();
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name, { timeoutMs: 600 })));
    const blob = await l1.wrap(Buffer.from('b'), 'c');
    endpoint.stall(true);
    try {
      const t0 = Date.now();
      expect(await l1.status()).toMatchObject({ state: 'unreachable', detail: expect.stringMatching(/get key of .* got no answer within 600 ms$/) });
      const took = Date.now() - t0;
      // Slack for a loaded 2-core machine: the deadline, not a socket timeout of minutes.
      expect(took).toBeGreaterThanOrEqual(550);
      expect(took).toBeLessThan(4000);
      await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'unreachable' });
    } finally {
      endpoint.stall(false);
    }
    await endpoint.stop();
    try {
      const st = await l1.status();
      expect(st).toMatchObject({ state: 'unreachable' });
      await expect(l1.unwrap(blob, 'c')).rejects.toMatchObject({ status: 'unreachable' });
    } finally {
      await endpoint.start();
    }
    const l1b = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name)));
    expect(await l1b.status()).toEqual({ state: 'active' });
    expect((await l1b.unwrap(blob, 'c')).toString()).toBe('b');
  });

  it('client-secret: the secret from the named environment variable, exchanged at Entra ID for the vault token; a wrong secret is unreachable (AADSTS7000215)', async () => {
    const { name } = await rsaKey();
    const clientId = 'c0ffee00-0000-4000-8000-000000000010';
    endpoint.addApplication({ clientId, secret: 'the-app-secret' });
    const env: NodeJS.ProcessEnv = { OPENKCM_TEST_AZ_SECRET: 'the-app-secret' };
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name, {
      credentialType: 'client-secret', authorityHost: endpoint.authorityHost(), tenantId: endpoint.tenantId, clientId, clientSecretEnv: 'OPENKCM_TEST_AZ_SECRET', env,
    })));
    const before = endpoint.entraRequests.length;
    expect(await l1.unwrap(await l1.wrap(Buffer.from('sp'), 'c'), 'c')).toEqual(Buffer.from('sp'));
    expect(endpoint.entraRequests.slice(before)).toContain(`POST /${endpoint.tenantId}/oauth2/v2.0/token`);
    const wrong = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name, {
      credentialType: 'client-secret', authorityHost: endpoint.authorityHost(), tenantId: endpoint.tenantId, clientId, clientSecretEnv: 'OPENKCM_TEST_AZ_SECRET', env: { OPENKCM_TEST_AZ_SECRET: 'not-the-secret' },
    })));
    const st = await wrong.status();
    expect(st.state).toBe('unreachable');
    expect(st.state !== 'active' && st.detail).toMatch(/no token from the client-secret credential \(Authentication\w*Error: .*AADSTS7000215: Invalid client secret/);
  });

  it('workload-identity: the federated token file (AKS) is the client assertion; tenant and client from AZURE_TENANT_ID/AZURE_CLIENT_ID', async () => {
    const { name } = await rsaKey();
    const clientId = 'c0ffee00-0000-4000-8000-000000000020';
    const federated = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:openkcm:core' })).toString('base64url')}.c2ln`;
    endpoint.addApplication({ clientId, federatedToken: federated });
    const tokenFile = join(dir, 'azure-identity-token');
    writeFileSync(tokenFile, federated);
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name, {
      credentialType: 'workload-identity', authorityHost: endpoint.authorityHost(), env: { AZURE_TENANT_ID: endpoint.tenantId, AZURE_CLIENT_ID: clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile },
    })));
    expect(await l1.status()).toEqual({ state: 'active' });
    expect(await l1.unwrap(await l1.wrap(Buffer.from('wi'), 'c'), 'c')).toEqual(Buffer.from('wi'));
  });

  it('credentials by reference: a missing client-secret variable or tenant is named, and reported unreachable', async () => {
    const { name } = await rsaKey();
    const noSecret = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name, {
      credentialType: 'client-secret', tenantId: endpoint.tenantId, clientId: 'c0ffee00-0000-4000-8000-000000000001', clientSecretEnv: 'OPENKCM_TEST_NO_SUCH_SECRET', env: {},
    })));
    const st = await noSecret.status();
    expect(st.state).toBe('unreachable');
    expect(st.state !== 'active' && st.detail).toMatch(/the client secret environment variable OPENKCM_TEST_NO_SUCH_SECRET is not set/);
    const noTenant = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), name, { credentialType: 'workload-identity', env: {} })));
    const st2 = await noTenant.status();
    expect(st2.state !== 'active' && st2.detail).toMatch(/the workload-identity credential needs tenantId in configuration or the environment variable AZURE_TENANT_ID/);
  });

  it('refuses bad options naming the field, and credential values in configuration', async () => {
    const bad = async (o: unknown, re: RegExp) => expect(AzureKeyVaultL1Provider.open(o as AzureKeyVaultL1Options)).rejects.toThrow(re);
    const ok = options(endpoint.vaultUrl(), 'k');
    await bad({ ...ok, clientSecret: 's3cr3t' }, /^azure-keyvault\.clientSecret: credential values are not accepted in configuration/);
    await bad({ ...ok, vaultUrl: 'http://v.vault.azure.net' }, /^azure-keyvault\.vaultUrl: must be an https URL/);
    await bad({ ...ok, vaultUrl: 'https://v.vault.azure.net/keys/k' }, /^azure-keyvault\.vaultUrl: give the host only/);
    await bad({ ...ok, vaultUrl: 'vault' }, /^azure-keyvault\.vaultUrl: "vault" is not a URL/);
    await bad({ ...ok, keyName: 'a/b' }, /^azure-keyvault\.keyName/);
    await bad({ ...ok, keyVersion: '../x' }, /^azure-keyvault\.keyVersion: "\.\.\/x" is not a key version/);
    await bad({ ...ok, credentialType: 'password' }, /^azure-keyvault\.credentialType: must be client-secret, client-certificate, managed-identity or workload-identity, not "password"/);
    await bad({ ...ok, clientSecretEnv: 'X' }, /^azure-keyvault\.clientSecretEnv: only used with credentialType client-secret, not managed-identity/);
    await bad({ ...ok, credentialType: 'client-certificate' }, /^azure-keyvault\.clientCertificateFile: required with credentialType client-certificate/);
    await bad({ ...ok, credentialType: 'client-secret', clientSecretEnv: 'not a name' }, /^azure-keyvault\.clientSecretEnv: must be an environment variable name/);
    await bad({ ...ok, caFile: '/nonexistent/ca.pem' }, /^azure-keyvault\.caFile: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/);
    await bad({ ...ok, credentialType: 'client-secret', authorityHost: 'http://login' }, /^azure-keyvault\.authorityHost: must be an https URL/);
    await bad({ ...ok, timeoutMs: 0 }, /^azure-keyvault\.timeoutMs/);
  });

  it('refuses what it cannot wrap and blobs it did not make, before any call', async () => {
    const l1 = track(await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), (await rsaKey()).name)));
    const before = endpoint.requests.length;
    await expect(l1.wrap(Buffer.alloc(0), 'c')).rejects.toThrow(`wraps 1 to ${AZURE_MAX_WRAP_PLAINTEXT} bytes, not 0`);
    await expect(l1.wrap(Buffer.alloc(AZURE_MAX_WRAP_PLAINTEXT + 1), 'c')).rejects.toThrow(/not 131/);
    await expect(l1.unwrap(Buffer.of(0x31, 0x32, 0x33, 0x34), 'c')).rejects.toThrow(/unknown format byte 0x31/);
    await expect(l1.unwrap(Buffer.of(AZURE_BLOB_V1, 0x09, 1, 0x61, 0), 'c')).rejects.toThrow(/unknown algorithm 0x09/);
    await expect(l1.unwrap(Buffer.concat([Buffer.of(AZURE_BLOB_V1, 0x02, 2), Buffer.from('ab'), Buffer.alloc(20)]), 'c')).rejects.toThrow(/A256KW value has an impossible length \(20 bytes\)/);
    await expect(l1.unwrap(Buffer.concat([Buffer.of(AZURE_BLOB_V1, 0x01, 3), Buffer.from('a/b'), Buffer.alloc(256)]), 'c')).rejects.toThrow(/does not hold a key version/);
    expect(endpoint.requests.length).toBe(before);
  });

  it('after close: status unreachable and calls refused', async () => {
    const l1 = await AzureKeyVaultL1Provider.open(options(endpoint.vaultUrl(), (await rsaKey()).name));
    await l1.close();
    expect(await l1.status()).toEqual({ state: 'unreachable', detail: 'azure-keyvault: provider is closed' });
    await expect(l1.wrap(Buffer.from('x'), 'c')).rejects.toThrow(/closed/);
  });
});

describe('openL1Provider / parseL1Config: azure-keyvault', () => {
  it('opens azure-keyvault from a typed config', async () => {
    const { name } = await rsaKey();
    const l1 = await openL1Provider({ provider: 'azure-keyvault', vaultUrl: endpoint.vaultUrl(), keyName: name, credentialType: 'managed-identity', caFile: endpoint.caFile });
    try {
      expect(l1.describe().provider).toBe('azure-keyvault');
      expect(await l1.unwrap(await l1.wrap(Buffer.from('f'), 'c'), 'c')).toEqual(Buffer.from('f'));
    } finally {
      await l1.close();
    }
  });

  it('names the bad field', () => {
    const bad = (raw: unknown, msg: string | RegExp) => expect(() => parseL1Config(raw), JSON.stringify(raw)).toThrow(msg);
    const base = { provider: 'azure-keyvault', vaultUrl: 'https://v.vault.azure.net', keyName: 'k', credentialType: 'managed-identity' };
    bad({ ...base, vaultUrl: undefined }, 'l1.vaultUrl: required for provider azure-keyvault');
    bad({ ...base, credentialType: undefined }, 'l1.credentialType: required for provider azure-keyvault');
    bad({ ...base, credentialType: 'cli' }, 'l1.credentialType: must be client-secret, client-certificate, managed-identity or workload-identity, not "cli"');
    bad({ ...base, clientSecret: 'x' }, /^l1\.clientSecret: a client secret is not accepted in configuration/);
    bad({ ...base, clientCertificate: '-----BEGIN' }, /^l1\.clientCertificate: a certificate with its private key is not accepted/);
    bad({ ...base, keyname: 'k' }, /^l1\.keyname: unknown field for provider azure-keyvault \(known: vaultUrl, keyName, keyVersion, credentialType,/);
    bad({ ...base, timeoutMs: '5s' }, 'l1.timeoutMs: must be an integer');
    expect(parseL1Config(base)).toEqual(base);
  });

  it('loads @azure/keyvault-keys and @azure/identity only when the provider is opened (DESIGN.md §6.9)', () => {
    // A child process whose module loader refuses both packages: the software provider must
    // still open, and azure-keyvault must fail saying which packages could not be loaded.
    writeFileSync(join(dir, 'hooks.mjs'), "export async function resolve(s, c, next) { if (/^@azure\\//.test(s)) throw new Error('refused ' + s); return next(s, c); }\n");
    writeFileSync(join(dir, 'register.mjs'), "import { register } from 'node:module'; register('./hooks.mjs', import.meta.url);\n");
    const script = `
      const m = await import(${JSON.stringify(new URL('../../src/hsm/index.ts', import.meta.url).href)});
      const out = [];
      const p = await m.openL1Provider({ provider: 'software', keyFile: ${JSON.stringify(join(dir, 'k', 'l1.key'))} });
      out.push(p.describe().provider);
      try { await m.openL1Provider({ provider: 'azure-keyvault', vaultUrl: 'https://v.vault.azure.net', keyName: 'k', credentialType: 'managed-identity' }); out.push('opened?!'); } catch (e) { out.push(e.message); }
      process.stdout.write(JSON.stringify(out));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--import', join(dir, 'register.mjs'), '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      encoding: 'utf8',
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    expect(JSON.parse(out)).toEqual([
      'software',
      expect.stringMatching(/^azure-keyvault: @azure\/keyvault-keys or @azure\/identity cannot be loaded \(refused @azure\/(keyvault-keys|identity)\); run npm install$/),
    ]);
  });
});

// Opt-in: a real vault. OPENKCM_AZURE_VAULT_URL (https://<vault>.vault.azure.net or a Managed
// HSM URL), OPENKCM_AZURE_KEY_NAME (an RSA or oct-HSM key the identity may get, wrapKey and
// unwrapKey with), OPENKCM_AZURE_CREDENTIAL (client-secret — with AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET —, client-certificate with
// OPENKCM_AZURE_CLIENT_CERTIFICATE_FILE, managed-identity or workload-identity). Nothing is
// created, changed or deleted.
const live = process.env.OPENKCM_AZURE_VAULT_URL && process.env.OPENKCM_AZURE_KEY_NAME && process.env.OPENKCM_AZURE_CREDENTIAL;
describe.skipIf(!live)('azure-keyvault against a real vault (opt-in)', () => {
  it('wraps, unwraps, binds the context and reports active', async () => {
    const o: AzureKeyVaultL1Options = {
      vaultUrl: process.env.OPENKCM_AZURE_VAULT_URL!,
      keyName: process.env.OPENKCM_AZURE_KEY_NAME!,
      credentialType: process.env.OPENKCM_AZURE_CREDENTIAL as AzureKeyVaultL1Options['credentialType'],
      timeoutMs: 30_000,
    };
    if (process.env.OPENKCM_AZURE_CLIENT_CERTIFICATE_FILE) o.clientCertificateFile = process.env.OPENKCM_AZURE_CLIENT_CERTIFICATE_FILE;
    const l1 = await AzureKeyVaultL1Provider.open(o);
    try {
      expect(await l1.status()).toEqual({ state: 'active' });
      const blob = await l1.wrap(Buffer.alloc(32, 7), 'openkcm-live-test');
      expect(await l1.unwrap(blob, 'openkcm-live-test')).toEqual(Buffer.alloc(32, 7));
      await expect(l1.unwrap(blob, 'another')).rejects.toThrow(/bound to another context/);
    } finally {
      await l1.close();
    }
  }, 120_000);
});
