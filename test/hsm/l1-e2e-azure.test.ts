// Issue 15 end to end for azure-keyvault, with real processes: `openkcm serve` (KMIP and
// admin API) and kmipctl as child processes; the customer's root key is an RSA key in the
// Key Vault test endpoint (azure-keyvault-endpoint.ts), which the server reaches with the real
// Azure SDKs, getting its tokens from App Service's managed-identity protocol (the endpoint's
// IDENTITY_ENDPOINT). The server process resolves *.vault.azure.net to the endpoint through
// azure-hosts.mjs (node --import), as a hosts-file entry would.
// `kmipctl l1 set` points the tenant at the key (accepted because it answers active), an
// application of the tenant serves KMIP traffic (Create, Get: L3 → L2 → L1), then the
// customer disables the key in the vault: the periodic status check seals the tenant and its
// requests are refused; enabled again, the tenant unseals by itself; deleted: `kmipctl l1
// check` reports it revoked, the tenant stays sealed, and no pointer can be set to it.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { fileURLToPath } from 'node:url';
import { ManagedIdentityCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { AzureKeyVaultEndpoint } from './azure-keyvault-endpoint.ts';
import { appClient, createAndGet, expectSealedRefusal, kmipctlJson, sealedWithin, type Obj } from './l1-e2e-helpers.ts';

const endpoint = new AzureKeyVaultEndpoint();
let s: ServedEnv;
let customer: KeyClient;
/** The periodic L1 status check of the server (default 30 s), short so the test sees it act. */
const CHECK_INTERVAL_MS = 1000;

beforeAll(async () => {
  await endpoint.start();
  Object.assign(process.env, endpoint.managedIdentityEnv());
  customer = new KeyClient(endpoint.vaultUrl(), new ManagedIdentityCredential(), { agent: new Agent({ ca: readFileSync(endpoint.caFile) }) });
  s = await startServed({
    args: ['--l1-status-check-interval', String(CHECK_INTERVAL_MS)],
    nodeArgs: ['--import', fileURLToPath(new URL('./azure-hosts.mjs', import.meta.url))],
    env: endpoint.managedIdentityEnv(),
  });
}, 90_000);
afterAll(async () => {
  await s?.stop();
  await endpoint.dispose();
});

async function unsealedWithin(tenant: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const h = (await kmipctlJson(s, ['l1', 'show', tenant])).hierarchy as Obj;
    if (h && !h.sealed) return;
    if (Date.now() > until) throw new Error(`tenant ${tenant} not unsealed within ${ms} ms: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('a tenant whose L1 is an Azure Key Vault key (azure-keyvault provider)', () => {
  it('unseals under it, serves KMIP traffic, seals when the key is disabled in the vault and unseals when it is enabled; deleted: revoked', async () => {
    const key = await customer.createRsaKey('byok-azure-root', { keySize: 2048 });
    const version = key.properties.version!;
    await kmipctlJson(s, ['tenant', 'create', 'azure']);
    await kmipctlJson(s, ['service', 'create', 'azure', 'billing']);
    const cfg = ['--set', `vaultUrl=${endpoint.vaultUrl()}`, '--set', 'keyName=byok-azure-root', '--set', 'credentialType=managed-identity', '--set', `caFile=${endpoint.caFile}`];
    const set = await s.kmipctl(['l1', 'set', 'azure', '--provider', 'azure-keyvault', ...cfg]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe(`tenant azure: L1 set to azure-keyvault ${endpoint.vaultUrl()}/keys/byok-azure-root (active)\n`);
    const app = await appClient(s, 'azure');
    try {
      const obj = await createAndGet(app);
      expect((await kmipctlJson(s, ['l1', 'check', 'azure'])).status).toEqual({ state: 'active' });
      // The server really went to the vault: the L2 was wrapped there, with a bearer token.
      expect(endpoint.requests.some((r) => r.path === `/keys/byok-azure-root/${version}/wrapkey` && r.authorized)).toBe(true);

      // The customer disables the key in the vault: the periodic check seals the tenant.
      await customer.updateKeyProperties('byok-azure-root', version, { enabled: false });
      // Generous bound for a loaded machine: several check intervals plus kmipctl start-ups.
      const h = await sealedWithin(s, 'azure', 30_000);
      expect(String(h.reason)).toMatch(/byok-azure-root\/[0-9a-f]{32} is disabled/);
      await expectSealedRefusal(app, obj);
      const check = await s.kmipctl(['l1', 'check', 'azure', '--json']);
      expect(check.code, check.stderr).toBe(1);
      expect(JSON.parse(check.stdout).status).toEqual({ state: 'disabled', detail: `azure-keyvault: key ${endpoint.vaultUrl()}/keys/byok-azure-root/${version} is disabled` });

      // Enabled again: the tenant unseals by itself and its keys read back.
      await customer.updateKeyProperties('byok-azure-root', version, { enabled: true });
      await unsealedWithin('azure', 30_000);
      await createAndGet(app);

      // Deleted: revoked, sealed, and no pointer can be set to it.
      await (await customer.beginDeleteKey('byok-azure-root')).pollUntilDone();
      const gone = await s.kmipctl(['l1', 'check', 'azure', '--json']);
      expect(gone.code, gone.stderr).toBe(1);
      const answer = JSON.parse(gone.stdout) as Obj;
      expect(answer.status).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/keys\/byok-azure-root was deleted on .*; purge scheduled for/) });
      expect(answer.hierarchy).toMatchObject({ sealed: true });
      await expectSealedRefusal(app, obj);
      const again = await s.kmipctl(['l1', 'set', 'azure', '--provider', 'azure-keyvault', ...cfg]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/the azure-keyvault L1 is revoked/);
    } finally {
      await app.close();
    }
  }, 180_000);

  it('kmipctl l1 set refuses a credential value and names the field; a candidate is checked with l1 check --provider', async () => {
    const bad = await s.kmipctl(['l1', 'set', 'azure', '--provider', 'azure-keyvault', '--set', `vaultUrl=${endpoint.vaultUrl()}`, '--set', 'keyName=k',
      '--set', 'credentialType=client-secret', '--set', 'clientSecret=s3cr3t']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/config\.clientSecret: a client secret is not accepted in configuration; name an environment variable \(clientSecretEnv\)/);
    expect(bad.stderr).not.toMatch(/s3cr3t/);
    await customer.createRsaKey('candidate-root');
    const probe = await s.kmipctl(['l1', 'check', 'azure', '--provider', 'azure-keyvault', '--set', `vaultUrl=${endpoint.vaultUrl()}`, '--set', 'keyName=candidate-root',
      '--set', 'credentialType=managed-identity', '--set', `caFile=${endpoint.caFile}`]);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toMatch(new RegExp(`^azure-keyvault ${endpoint.vaultUrl().replace(/\./g, '\\.')}/keys/candidate-root: active\\n`));
  }, 60_000);
});
