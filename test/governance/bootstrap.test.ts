// Bootstrap mode (src/server/runtime.ts): a fresh server serves the dev client certificate
// as admin of default/default; the first governance data ends the open mode for good.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { generateDevPki } from '../../src/server/devpki.ts';
import { certificateFingerprint, openRuntime } from '../../src/server/runtime.ts';
import { call, certIdentity, createPayload, uidOf, type World } from '../isolation/world.ts';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const asWorld = (rt: World['rt']) => ({ rt } as World);

describe('bootstrap mode', () => {
  it('registers the dev client certificate at the first start only; afterwards only registered identities are served', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gov-boot-'));
    dirs.push(dir);
    const pki = await generateDevPki();
    const certFile = join(dir, 'client.crt');
    writeFileSync(certFile, pki.client.certPem);
    const dev = { ...certIdentity('openkcm-dev-client'), fingerprint: certificateFingerprint(pki.client.certPem) };

    let rt = await openRuntime({ dataDir: dir, bootstrapClientCertFile: certFile });
    try {
      expect(rt.access.isBootstrap()).toBe(false);
      const ids = rt.governance.listIdentities();
      expect(ids).toHaveLength(1);
      expect(ids[0]).toMatchObject({ tenant: 'default', service: 'default', role: 'admin', match: { kind: 'fingerprint', sha256: dev.fingerprint } });
      const uid = uidOf(await call(asWorld(rt), dev, Operation.Create, createPayload('boot-key', 'boot')));
      expect((await rt.store.get('default', uid))?.service).toBe('default');
      const other = await call(asWorld(rt), certIdentity('someone-else'), Operation.DiscoverVersions, []);
      expect(other.resultReason).toBe(ResultReason.PermissionDenied);
      expect(rt.audit.tail(10).some((r) => r.kind === 'system' && r.operation === 'governance.bootstrap')).toBe(true);
    } finally {
      await rt.close();
    }
    // Second start: nothing registered again, the dev certificate still works.
    rt = await openRuntime({ dataDir: dir, bootstrapClientCertFile: certFile });
    try {
      expect(rt.governance.listIdentities()).toHaveLength(1);
      expect((await call(asWorld(rt), dev, Operation.DiscoverVersions, [])).resultStatus).toBe(ResultStatus.Success);
    } finally {
      await rt.close();
    }
  });

  it('without governance data every accepted certificate is admin of default/default, until the first tenant exists', async () => {
    const rt = await openRuntime();
    try {
      expect(rt.access.isBootstrap()).toBe(true);
      const anyone = certIdentity('anyone', { tenant: 'attacker-claims-this', service: 'x' });
      const uid = uidOf(await call(asWorld(rt), anyone, Operation.Create, createPayload('open-key', 'g')));
      expect((await rt.store.get('default', uid))?.service).toBe('default');
      rt.governance.createTenant({ id: 'acme' });
      expect(rt.access.isBootstrap()).toBe(false);
      expect((await call(asWorld(rt), anyone, Operation.Get, [])).resultReason).toBe(ResultReason.PermissionDenied);
      // Removing every identity later does not reopen the server.
      expect(rt.governance.listIdentities()).toHaveLength(0);
      expect((await call(asWorld(rt), anyone, Operation.DiscoverVersions, [])).resultReason).toBe(ResultReason.PermissionDenied);
    } finally {
      await rt.close();
    }
  });

  it('an unreadable bootstrap certificate is a clear startup error', async () => {
    await expect(openRuntime({ bootstrapClientCertFile: '/nonexistent/client.crt' })).rejects.toThrow(/cannot read the bootstrap client certificate \/nonexistent\/client.crt/);
  });
});
