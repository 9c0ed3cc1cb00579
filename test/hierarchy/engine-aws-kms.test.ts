// End to end with the KMS-compatible endpoint (issue 6 "Tests and figures"): a tenant whose
// L1 is an AWS KMS key, driven through the REAL @aws-sdk/client-kms against
// test/hsm/kms-endpoint.ts (no AWS emulator can run here; the endpoint speaks AWS JSON 1.1
// and keeps key states, it does not check SigV4 signatures).
// DisableKey → the tenant seals within the status-check interval; EnableKey → it unseals;
// ScheduleKeyDeletion → sealed, and after a restart nothing of it opens. Another tenant on
// its own L1 keeps serving throughout.
import { join } from 'node:path';
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsL1Provider } from '../../src/hsm/aws-kms.ts';
import type { L1Provider } from '../../src/hsm/types.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { openHierarchy } from '../../src/hierarchy/hierarchy-protector.ts';
import { KmsEndpoint } from '../hsm/kms-endpoint.ts';
import { softwareL1, TempDirs } from './engine-helpers.ts';

process.env.AWS_CONFIG_FILE = '/nonexistent/openkcm-test-aws-config';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/openkcm-test-aws-credentials';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.OPENKCM_TEST_HIER_KMS_ID = 'AKIAOPENKCMHIERTEST';
process.env.OPENKCM_TEST_HIER_KMS_SECRET = 'hierarchy-test-secret';

const REGION = 'eu-west-1';
const endpoint = new KmsEndpoint(REGION);
const dirs = new TempDirs();
let admin: KMSClient;
beforeAll(async () => {
  await endpoint.start();
  admin = new KMSClient({ region: REGION, endpoint: endpoint.url, maxAttempts: 1, credentials: { accessKeyId: 'admin', secretAccessKey: 'admin' } });
});
afterAll(async () => {
  admin.destroy();
  await endpoint.stop();
  dirs.cleanup();
});

const kms = (keyId: string) => AwsKmsL1Provider.open({
  keyId, region: REGION, endpoint: endpoint.url, timeoutMs: 2000,
  accessKeyIdEnv: 'OPENKCM_TEST_HIER_KMS_ID', secretAccessKeyEnv: 'OPENKCM_TEST_HIER_KMS_SECRET',
});

/** Waits (bounded) for a condition the periodic status check brings about. */
async function eventually(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('hierarchy over AWS KMS (KMS-compatible endpoint, real SDK)', () => {
  it('DisableKey seals within the check interval, EnableKey unseals, ScheduleKeyDeletion locks out', async () => {
    const keyId = (await admin.send(new CreateKeyCommand({ Description: 'acme L1' }))).KeyMetadata!.KeyId!;
    const dbPath = join(dirs.make(), 'openkcm.db');
    const providers: L1Provider[] = [];
    const { l1: otherL1 } = await softwareL1(dirs, 'other.key');
    const place = { tenant: 'acme', service: 'db', uid: 'obj-1' };
    const other = { tenant: 'other', service: 'db', uid: 'obj-2' };

    let store = await openSqliteStore(dbPath);
    const acmeL1 = await kms(keyId);
    providers.push(acmeL1);
    const CHECK_MS = 100;
    let h = await openHierarchy(store, { statusCheckIntervalMs: CHECK_MS, retryIntervalMs: 0, tenants: { acme: acmeL1, other: otherL1 } });
    const blob = await h.engine.wrap(place, Buffer.from('acme data key'));
    const otherBlob = await h.engine.wrap(other, Buffer.from('other data key'));
    expect((await h.engine.unwrap(place, blob)).toString()).toBe('acme data key');

    // The customer disables the key in its own console: sealed by the next status check.
    await admin.send(new DisableKeyCommand({ KeyId: keyId }));
    await eventually(() => h.engine.status('acme').sealed);
    expect(h.engine.status('acme').sealKind).toBe('l1-status');
    await expect(h.engine.unwrap(place, blob)).rejects.toThrow(/tenant acme is sealed/);
    expect((await h.engine.unwrap(other, otherBlob)).toString()).toBe('other data key');

    // Enabled again: the next check unseals it.
    await admin.send(new EnableKeyCommand({ KeyId: keyId }));
    await eventually(() => !h.engine.status('acme').sealed);
    expect((await h.engine.unwrap(place, blob)).toString()).toBe('acme data key');

    // Scheduled for deletion: sealed, and a restart cannot open it (KMS refuses Decrypt).
    await admin.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    await eventually(() => h.engine.status('acme').sealed);
    await h.close();
    await store.close();

    store = await openSqliteStore(dbPath);
    const again = await kms(keyId);
    providers.push(again);
    h = await openHierarchy(store, { statusCheckIntervalMs: 0, retryIntervalMs: 0, tenants: { acme: again, other: otherL1 } });
    expect(h.unseal.unsealed).toEqual(['other']);
    await expect(h.engine.unwrap(place, blob)).rejects.toThrow(/sealed/);
    expect((await h.engine.unwrap(other, otherBlob)).toString()).toBe('other data key');
    await h.close();
    await store.close();
    for (const p of providers) await p.close();
    await otherL1.close();
  });
});
