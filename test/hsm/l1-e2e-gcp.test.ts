// Issue 15 end to end for the gcp-kms provider, with real processes: `openkcm serve` (KMIP and
// admin API), kmipctl as a child process, and the customer's root key in the Cloud KMS REST
// endpoint of the tests (gcp-kms-endpoint.ts), which the server reaches through the real
// @google-cloud/kms SDK with a service-account key file (credentials by reference).
// `kmipctl l1 set` points the tenant at its CryptoKey (accepted only when it answers
// active), an application certificate of the tenant serves KMIP traffic (Create, Get: the
// object value goes through L3 → L2 → L1), then the customer disables the key version on
// Google's side: `kmipctl l1 check` reports it and the tenant is sealed at once; enabled
// again, the tenant unseals by itself; destroyed, it is revoked for good.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { GcpKmsEndpoint } from './gcp-kms-endpoint.ts';
import { appClient, createAndGet, expectSealedRefusal, kmipctlJson, sealedWithin, type Obj } from './l1-e2e-helpers.ts';

// Application Default Credentials must never probe a metadata server (the server inherits this).
process.env.METADATA_SERVER_DETECTION = 'none';

const kms = new GcpKmsEndpoint();
let admin: KeyManagementServiceClient;
let s: ServedEnv;

beforeAll(async () => {
  await kms.start();
  admin = new KeyManagementServiceClient({
    fallback: true, apiEndpoint: '127.0.0.1', port: Number(new URL(kms.url).port), protocol: 'http', credentials: kms.addServiceAccount('customer-admin') as never,
  });
  // The server's periodic L1 status check (default 30 s), short so the test sees it act.
  s = await startServed({ args: ['--l1-status-check-interval', '1000'] });
}, 90_000);
afterAll(async () => {
  await s?.stop();
  await admin?.close();
  await kms.stop();
});

/** Polls `kmipctl l1 show` until the tenant is no longer sealed. */
async function unsealedWithin(tenant: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const h = (await kmipctlJson(s, ['l1', 'show', tenant])).hierarchy as Obj;
    if (h && !h.sealed) return;
    if (Date.now() > until) throw new Error(`tenant ${tenant} still sealed after ${ms} ms: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('a tenant whose L1 is a Google Cloud KMS key (gcp-kms provider)', () => {
  it('unseals under it, serves KMIP traffic; a disabled version seals it, enabled again it unseals; destroyed: revoked', async () => {
    await admin.createKeyRing({ parent: 'projects/acme-prod/locations/europe-west3', keyRingId: 'openkcm', keyRing: {} });
    const [key] = await admin.createCryptoKey({
      parent: 'projects/acme-prod/locations/europe-west3/keyRings/openkcm', cryptoKeyId: 'byok-root',
      cryptoKey: { purpose: 'ENCRYPT_DECRYPT', versionTemplate: { algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' } },
    });
    const keyName = key.name!;
    const v1 = `${keyName}/cryptoKeyVersions/1`;
    const saFile = join(s.cwd, 'gcp-sa.json');
    writeFileSync(saFile, JSON.stringify(kms.addServiceAccount('openkcm-l1', 'acme-prod')), { mode: 0o600 });

    await kmipctlJson(s, ['tenant', 'create', 'gcpbyok']);
    await kmipctlJson(s, ['service', 'create', 'gcpbyok', 'billing']);
    const cfg = ['--set', `keyName=${keyName}`, '--set', `endpoint=${kms.url}`, '--set', `credentialsFile=${saFile}`];
    // A key value in clear is refused before anything is stored.
    const clear = await s.kmipctl(['l1', 'set', 'gcpbyok', '--provider', 'gcp-kms', ...cfg, '--set', 'credentials={"private_key":"x"}']);
    expect(clear.code).not.toBe(0);
    expect(clear.stderr).toMatch(/config\.credentials: credential values are not accepted in configuration; name a credentials file \(credentialsFile\)/);
    const set = await s.kmipctl(['l1', 'set', 'gcpbyok', '--provider', 'gcp-kms', ...cfg]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe(`tenant gcpbyok: L1 set to gcp-kms ${keyName} (active)\n`);
    const app = await appClient(s, 'gcpbyok');
    try {
      const obj = await createAndGet(app);
      expect((await kmipctlJson(s, ['l1', 'check', 'gcpbyok'])).status).toEqual({ state: 'active' });
      // The server's calls went through the SDK as the tenant's service account.
      expect(kms.requests.some((r) => r.path === `/v1/${keyName}:decrypt` && r.principal === 'openkcm-l1@acme-prod.iam.gserviceaccount.com')).toBe(true);

      // The customer disables the key version in the Cloud console.
      await admin.updateCryptoKeyVersion({ cryptoKeyVersion: { name: v1, state: 'DISABLED' }, updateMask: { paths: ['state'] } });
      const check = await s.kmipctl(['l1', 'check', 'gcpbyok', '--json']);
      expect(check.code, check.stderr).toBe(1);
      const answer = JSON.parse(check.stdout) as Obj;
      expect(answer.status).toEqual({ state: 'disabled', detail: `gcp-kms: primary version ${v1} is DISABLED` });
      // Sealed by this check, or by the periodic one that came first (1 s interval here).
      expect(answer.hierarchy).toMatchObject({ sealed: true, sealKind: 'l1-status' });
      await expectSealedRefusal(app, obj);

      // Enabled again: the periodic check finds it active and the tenant unseals by itself.
      await admin.updateCryptoKeyVersion({ cryptoKeyVersion: { name: v1, state: 'ENABLED' }, updateMask: { paths: ['state'] } });
      await unsealedWithin('gcpbyok', 30_000);
      await createAndGet(app);

      // Destroyed (scheduled for destruction): revoked, and the periodic check seals the tenant.
      await admin.destroyCryptoKeyVersion({ name: v1 });
      const h = await sealedWithin(s, 'gcpbyok', 30_000);
      expect(String(h.reason)).toMatch(/L1 key revoked: gcp-kms: primary version .* is DESTROY_SCHEDULED/);
      await expectSealedRefusal(app, obj);
      const gone = JSON.parse((await s.kmipctl(['l1', 'check', 'gcpbyok', '--json'])).stdout) as Obj;
      expect(gone.status).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/DESTROY_SCHEDULED \(destruction scheduled for /) });
      // No pointer can be set to the destroyed key.
      const again = await s.kmipctl(['l1', 'set', 'gcpbyok', '--provider', 'gcp-kms', ...cfg]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/the gcp-kms L1 is revoked/);
    } finally {
      await app.close();
    }
  }, 180_000);
});
