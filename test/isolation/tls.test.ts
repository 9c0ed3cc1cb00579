// Isolation over real mutual TLS: certificates of one CA mapped to identities of two
// tenants by fingerprint; the connection resolves the identity from the peer certificate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { structure, textString } from '../../src/kmip/items.ts';
import { KmipClient } from '../../src/client/index.ts';
import { createCa, issueLeaf, type IssuedCertificate } from '../../src/server/devpki.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { certificateFingerprint, openRuntime, type Runtime } from '../../src/server/runtime.ts';
import { createPayload } from './world.ts';

let rt: Runtime;
let server: RunningServer;
let caPem: string;
const certs: Record<string, IssuedCertificate> = {};

beforeAll(async () => {
  const ca = await createCa('Isolation CA');
  caPem = ca.certPem;
  const serverCert = await issueLeaf(ca, 'server', 'localhost', { names: ['localhost', '127.0.0.1'] });
  for (const name of ['alpha', 'beta', 'revoked', 'stranger']) certs[name] = await issueLeaf(ca, 'client', `tls-${name}`);
  rt = await openRuntime();
  const g = rt.governance;
  g.createTenant({ id: 'alpha' });
  g.createService({ tenant: 'alpha', id: 'app' });
  g.createTenant({ id: 'beta' });
  g.createService({ tenant: 'beta', id: 'app' });
  g.addIdentity({ tenant: 'alpha', service: 'app', role: 'app', match: { kind: 'fingerprint', sha256: certificateFingerprint(certs.alpha!.certPem) } });
  g.addIdentity({ tenant: 'beta', service: 'app', role: 'app', match: { kind: 'fingerprint', sha256: certificateFingerprint(certs.beta!.certPem) } });
  const r = g.addIdentity({ tenant: 'alpha', service: 'app', role: 'app', match: { kind: 'fingerprint', sha256: certificateFingerprint(certs.revoked!.certPem) } });
  g.revokeIdentity({ id: r.id });
  server = await startServer({ listen: { host: '127.0.0.1', port: 0 }, tls: { ca: caPem, cert: serverCert.certPem, key: serverCert.keyPem } }, rt);
});
afterAll(async () => {
  await server?.close(500);
  await rt?.close();
});

const connect = (who: string) => KmipClient.connect({
  host: '127.0.0.1', port: server.address().port, ca: caPem, cert: certs[who]!.certPem, key: certs[who]!.keyPem, servername: 'localhost',
});

describe('isolation over mutual TLS', () => {
  it('a key of tenant alpha is invisible to tenant beta, over separate connections', async () => {
    const alpha = await connect('alpha');
    const beta = await connect('beta');
    try {
      const created = await alpha.request(Operation.Create, createPayload('tls-alpha-key', 'tls-alpha-group'));
      const uid = created.value.find((c) => c.tag === Tag.UniqueIdentifier)!.value as string;
      expect((await alpha.requestItem(Operation.Get, [textString(Tag.UniqueIdentifier, uid)])).resultStatus).toBe(ResultStatus.Success);
      const foreign = await beta.requestItem(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
      const missing = await beta.requestItem(Operation.Get, [textString(Tag.UniqueIdentifier, '00000000-0000-4000-8000-000000000000')]);
      expect(foreign.resultReason).toBe(ResultReason.ObjectNotFound);
      expect(foreign.resultMessage?.replace(uid, 'X')).toBe(missing.resultMessage?.replace('00000000-0000-4000-8000-000000000000', 'X'));
      const located = await beta.request(Operation.Locate, [structure(Tag.Attributes, [])]);
      expect(located.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value)).not.toContain(uid);
      const stored = await rt.store.get('alpha', uid);
      expect(stored?.service).toBe('app');
    } finally {
      await alpha.close();
      await beta.close();
    }
  });

  it('revoked and unknown certificates of the trusted CA are refused with Permission Denied at the first item', async () => {
    for (const who of ['revoked', 'stranger']) {
      const c = await connect(who);
      try {
        const r = await c.requestItem(Operation.DiscoverVersions, []);
        expect(r.resultStatus).toBe(ResultStatus.OperationFailed);
        expect(r.resultReason).toBe(ResultReason.PermissionDenied);
      } finally {
        await c.close();
      }
    }
  });

  it('revoking an identity applies to an open connection at its next message', async () => {
    const g = rt.governance;
    const c = await connect('beta');
    try {
      expect((await c.requestItem(Operation.DiscoverVersions, [])).resultStatus).toBe(ResultStatus.Success);
      g.revokeIdentity({ fingerprint: certificateFingerprint(certs.beta!.certPem) });
      expect((await c.requestItem(Operation.DiscoverVersions, [])).resultReason).toBe(ResultReason.PermissionDenied);
    } finally {
      await c.close();
    }
  });
});
