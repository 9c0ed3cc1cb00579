// Issue 15 end to end, one tenant per provider, with real processes: `openkcm serve` (KMIP
// and admin API), kmipctl as a child process, and the customer's root key held
//   - kmip: by PyKMIP 0.10's server (a real third-party KMIP server, started here);
//   - vault-transit: by the Vault-Transit-compatible test endpoint (vault-endpoint.ts).
// `kmipctl l1 set` points the tenant at its root key (only accepted when it answers active),
// an application certificate of the tenant serves KMIP traffic (Create, Get: the object
// value goes through L3 → L2 → L1), then the customer revokes/deletes the key on its side:
// `kmipctl l1 check` reports it, the tenant is sealed at once and its KMIP requests refused.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KmipClient } from '../../src/client/index.ts';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { KmipConsole } from './kmip-console.ts';
import { appClient as appClientOf, createAndGet, expectSealedRefusal, kmipctlJson, sealedWithin as sealedWithinOf, type Obj } from './l1-e2e-helpers.ts';
import { pykmipAvailable, startPyKmipServer, type PyKmipServer } from './pykmip-server.ts';
import { VaultTransitEndpoint } from './vault-endpoint.ts';

let s: ServedEnv;
const json = (args: string[]) => kmipctlJson(s, args);
const appClient = (tenant: string): Promise<KmipClient> => appClientOf(s, tenant);
const sealedWithin = (tenant: string, ms: number) => sealedWithinOf(s, tenant, ms);

/** The periodic L1 status check of the server (default 30 s), short so the test sees it act. */
const CHECK_INTERVAL_MS = 1000;
beforeAll(async () => {
  s = await startServed({ args: ['--l1-status-check-interval', String(CHECK_INTERVAL_MS)] });
}, 90_000);

afterAll(async () => {
  await s?.stop();
});

describe.skipIf(!pykmipAvailable())('a tenant whose L1 is a key on PyKMIP (kmip provider)', () => {
  let pykmip: PyKmipServer;
  let customer: KmipConsole;
  beforeAll(async () => {
    pykmip = await startPyKmipServer();
    customer = await KmipConsole.connect({ host: pykmip.host, port: pykmip.port, caFile: pykmip.pki.caCert, certFile: pykmip.pki.clientCert, clientKeyFile: pykmip.pki.clientKey });
  }, 60_000);
  afterAll(async () => {
    await customer?.close();
    await pykmip?.stop();
  });

  it('unseals under it, serves KMIP traffic, and locks out when the key is revoked, then destroyed, on PyKMIP', async () => {
    const uid = await customer.createRootKey({ name: 'acme-root' });
    await json(['tenant', 'create', 'hyok']);
    await json(['service', 'create', 'hyok', 'billing']);
    const set = await s.kmipctl(['l1', 'set', 'hyok', '--provider', 'kmip', '--set', `host=${pykmip.host}`, '--set', `port=${pykmip.port}`,
      '--set', 'keyName=acme-root', '--set', `caFile=${pykmip.pki.caCert}`, '--set', `certFile=${pykmip.pki.clientCert}`, '--set', `clientKeyFile=${pykmip.pki.clientKey}`]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(new RegExp(`L1 set to kmip kmip://${pykmip.host}:${pykmip.port}/name:acme-root \\(active\\)`));
    const app = await appClient('hyok');
    try {
      const obj = await createAndGet(app);
      expect((await json(['l1', 'check', 'hyok'])).status).toEqual({ state: 'active' });

      // The customer revokes the root key on its KMIP server.
      await customer.revoke(uid);
      const check = await s.kmipctl(['l1', 'check', 'hyok', '--json']);
      expect(check.code, check.stderr).toBe(1);
      const answer = JSON.parse(check.stdout) as Obj;
      expect(answer.status).toEqual({ state: 'disabled', detail: `kmip: key ${uid} at ${pykmip.host}:${pykmip.port} is Deactivated` });
      // Sealed by this check, or by the periodic one that came first (1 s interval here).
      expect(answer.hierarchy).toMatchObject({ sealed: true, sealKind: 'l1-status' });
      await expectSealedRefusal(app, obj);

      // And destroys it: revoked, for good.
      await customer.destroy(uid);
      const gone = JSON.parse((await s.kmipctl(['l1', 'check', 'hyok', '--json'])).stdout) as Obj;
      expect(gone.status.state).toBe('revoked');
      expect(gone.status.detail).toMatch(/no key named "acme-root"|does not exist/);
      await expectSealedRefusal(app, obj);
      // No pointer can be set to the destroyed key.
      const again = await s.kmipctl(['l1', 'set', 'hyok', '--provider', 'kmip', '--set', `host=${pykmip.host}`, '--set', `port=${pykmip.port}`,
        '--set', `keyUid=${uid}`, '--set', `caFile=${pykmip.pki.caCert}`, '--set', `certFile=${pykmip.pki.clientCert}`, '--set', `clientKeyFile=${pykmip.pki.clientKey}`]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/the kmip L1 is revoked/);
    } finally {
      await app.close();
    }
  }, 180_000);
});

describe('a tenant whose L1 is a Vault Transit key (vault-transit provider)', () => {
  const vault = new VaultTransitEndpoint();
  let tokenFile: string;
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${vault.url}/v1/${path}`, { method, headers: { 'x-vault-token': adminToken, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  };
  let adminToken = '';
  beforeAll(async () => {
    await vault.start();
    adminToken = vault.addToken();
    tokenFile = join(s.cwd, 'vault-token');
    writeFileSync(tokenFile, vault.addToken() + '\n', { mode: 0o600 });
  });
  afterAll(async () => {
    await vault.stop();
  });

  it('unseals under it, serves KMIP traffic; a retired key version seals it at the periodic check; deleting the key: l1 check reports revoked', async () => {
    await admin('POST', 'transit/keys/byok-root', { type: 'aes256-gcm96', derived: true });
    await json(['tenant', 'create', 'byok']);
    await json(['service', 'create', 'byok', 'billing']);
    const cfg = ['--set', `address=${vault.url}`, '--set', 'keyName=byok-root', '--set', `tokenFile=${tokenFile}`];
    const set = await s.kmipctl(['l1', 'set', 'byok', '--provider', 'vault-transit', ...cfg]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/L1 set to vault-transit http:\/\/127\.0\.0\.1:\d+\/v1\/transit\/keys\/byok-root \(active\)/);
    const app = await appClient('byok');
    try {
      const obj = await createAndGet(app);

      // The customer retires the key version our L2 is wrapped under. Only the provider that
      // unwrapped the L2 knows that version (a fresh l1 check probe does not): the server's
      // periodic status check seals the tenant.
      await admin('POST', 'transit/keys/byok-root/rotate');
      await admin('POST', 'transit/keys/byok-root/config', { min_decryption_version: 2 });
      // Generous bound for a loaded machine: several check intervals plus kmipctl start-ups.
      const h = await sealedWithin('byok', 30_000);
      expect(String(h.reason)).toMatch(/min_decryption_version 2; our blobs use version 1/);
      await expectSealedRefusal(app, obj);

      // And deletes the key: revoked.
      await admin('POST', 'transit/keys/byok-root/config', { deletion_allowed: true });
      await admin('DELETE', 'transit/keys/byok-root');
      const check = await s.kmipctl(['l1', 'check', 'byok', '--json']);
      expect(check.code, check.stderr).toBe(1);
      const gone = JSON.parse(check.stdout) as Obj;
      expect(gone.status).toMatchObject({ state: 'revoked', detail: expect.stringMatching(/HTTP 404/) });
      await expectSealedRefusal(app, obj);
    } finally {
      await app.close();
    }
  }, 180_000);
});
