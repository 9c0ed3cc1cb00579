// The hierarchy over a Google Cloud KMS key (issue 15), through the REAL @google-cloud/kms SDK
// against test/hsm/gcp-kms-endpoint.ts: what a key rotation at Google means for a tenant.
// The L2 stays wrapped under the version that made it; disabling that OLDER version seals
// the tenant even though the primary is enabled. After `rotateL2` the new L2 is under the
// new primary and the engine tells the provider the old L2's context is gone
// (L1Provider.forgetContext), so the customer can retire the old version without a lockout.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcpKmsL1Provider } from '../../src/hsm/gcp-kms.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { openHierarchy } from '../../src/hierarchy/hierarchy-protector.ts';
import { GcpKmsEndpoint } from '../hsm/gcp-kms-endpoint.ts';
import { TempDirs } from './engine-helpers.ts';

process.env.METADATA_SERVER_DETECTION = 'none';

const kms = new GcpKmsEndpoint();
const dirs = new TempDirs();
let admin: KeyManagementServiceClient;
beforeAll(async () => {
  await kms.start();
  admin = new KeyManagementServiceClient({
    fallback: true, apiEndpoint: '127.0.0.1', port: Number(new URL(kms.url).port), protocol: 'http', credentials: kms.addServiceAccount('customer-admin') as never,
  });
  await admin.createKeyRing({ parent: 'projects/acme-prod/locations/europe-west3', keyRingId: 'openkcm', keyRing: {} });
});
afterAll(async () => {
  await admin.close();
  await kms.stop();
  dirs.cleanup();
});

async function eventually(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
const setState = (name: string, state: 'ENABLED' | 'DISABLED') =>
  admin.updateCryptoKeyVersion({ cryptoKeyVersion: { name, state }, updateMask: { paths: ['state'] } });

describe('hierarchy over Google Cloud KMS (test endpoint, real SDK)', () => {
  it('an older key version holding the L2 locks the tenant out when disabled; after rotateL2 it can be retired', async () => {
    const [key] = await admin.createCryptoKey({
      parent: 'projects/acme-prod/locations/europe-west3/keyRings/openkcm', cryptoKeyId: 'acme-root',
      cryptoKey: { purpose: 'ENCRYPT_DECRYPT', versionTemplate: { algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' } },
    });
    const keyName = key.name!;
    const [v1, v2] = [`${keyName}/cryptoKeyVersions/1`, `${keyName}/cryptoKeyVersions/2`];
    const dir = dirs.make();
    writeFileSync(join(dir, 'sa.json'), JSON.stringify(kms.addServiceAccount('openkcm-l1', 'acme-prod')));
    const l1 = await GcpKmsL1Provider.open({ keyName, endpoint: kms.url, credentialsFile: join(dir, 'sa.json'), timeoutMs: 3000 });
    const store = await openSqliteStore(join(dir, 'openkcm.db'));
    const h = await openHierarchy(store, { statusCheckIntervalMs: 100, retryIntervalMs: 0, tenants: { acme: l1 } });
    try {
      const place = { tenant: 'acme', service: 'db', uid: 'obj-1' };
      const blob = await h.engine.wrap(place, Buffer.from('acme data key')); // the L2 is born under v1

      // Rotation at Google: v2 becomes the primary. Nothing changes for the tenant.
      await admin.createCryptoKeyVersion({ parent: keyName, cryptoKeyVersion: {} });
      await admin.updateCryptoKeyPrimaryVersion({ name: keyName, cryptoKeyVersionId: '2' });
      expect(await l1.status()).toEqual({ state: 'active' });

      // Disabling v1, which still holds the L2, seals the tenant although the primary is enabled.
      await setState(v1, 'DISABLED');
      await eventually(() => h.engine.status('acme').sealed);
      expect(h.engine.status('acme')).toMatchObject({ sealKind: 'l1-status', reason: expect.stringMatching(new RegExp(`version ${v1} is DISABLED`)) });
      await expect(h.engine.unwrap(place, blob)).rejects.toThrow(/sealed/);
      await setState(v1, 'ENABLED');
      await eventually(() => !h.engine.status('acme').sealed);

      // The L2 rotation wraps a new L2 under the primary (v2) and forgets the old L2's context.
      expect(await h.engine.rotateL2('acme')).toBe(2);
      const checks = () => kms.requests.filter((r) => r.method === 'GET' && r.path === `/v1/${keyName}`).length;
      const before = checks();
      await setState(v1, 'DISABLED');
      expect(await l1.status()).toEqual({ state: 'active' });
      await eventually(() => checks() >= before + 3); // several periodic checks saw v1 disabled
      expect(h.engine.status('acme').sealed).toBe(false);
      expect((await h.engine.unwrap(place, blob)).toString()).toBe('acme data key');

      // And the primary is what the tenant depends on now.
      await admin.destroyCryptoKeyVersion({ name: v2 });
      await eventually(() => h.engine.status('acme').sealed);
      expect(h.engine.status('acme').reason).toMatch(new RegExp(`L1 key revoked: gcp-kms: primary version ${v2} is DESTROY_SCHEDULED`));
    } finally {
      await h.close();
      await store.close();
      await l1.close();
    }
  }, 60_000);
});
