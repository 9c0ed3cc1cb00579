// Isolation over real mutual TLS: certificates of one CA mapped to identities of two
// tenants by fingerprint; the connection resolves the identity from the peer certificate.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { byteString, child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
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
  for (const name of ['alpha', 'beta', 'beta-admin', 'revoked', 'stranger']) certs[name] = await issueLeaf(ca, 'client', `tls-${name}`);
  rt = await openRuntime();
  const g = rt.governance;
  g.createTenant({ id: 'alpha' });
  g.createService({ tenant: 'alpha', id: 'app' });
  g.createTenant({ id: 'beta' });
  g.createService({ tenant: 'beta', id: 'app' });
  g.addIdentity({ tenant: 'alpha', service: 'app', role: 'app', match: { kind: 'fingerprint', sha256: certificateFingerprint(certs.alpha!.certPem) } });
  g.addIdentity({ tenant: 'beta', service: 'app', role: 'app', match: { kind: 'fingerprint', sha256: certificateFingerprint(certs.beta!.certPem) } });
  g.addIdentity({ tenant: 'beta', service: 'app', role: 'admin', match: { kind: 'fingerprint', sha256: certificateFingerprint(certs['beta-admin']!.certPem) } });
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

  it('tenant beta imports the Unique Identifier tenant alpha holds: the same answer as for an unused one, and two separate keys', async () => {
    const alpha = await connect('alpha');
    const beta = await connect('beta-admin');
    try {
      const created = await alpha.request(Operation.Create, createPayload('tls-alpha-import-victim', 'tls-alpha-group'));
      const uid = created.value.find((c) => c.tag === Tag.UniqueIdentifier)!.value as string;
      const unused = randomUUID();
      const betaKey = randomBytes(32);
      const importItem = (id: string) => beta.requestItem(Operation.Import, [
        textString(Tag.UniqueIdentifier, id),
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256)]),
        structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
          enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, betaKey)]),
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256),
        ])]),
      ]);
      const held = await importItem(uid);
      const free = await importItem(unused);
      expect(held.resultStatus, held.resultMessage).toBe(ResultStatus.Success);
      expect(JSON.stringify(held).split(uid).join('X')).toBe(JSON.stringify(free).split(unused).join('X'));
      const material = async (c: KmipClient) => {
        const g = await c.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
        const kb = child(child(g, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
        return (child(child(kb, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;
      };
      expect(await material(beta)).toEqual(betaKey);
      expect(await material(alpha)).not.toEqual(betaKey);
      expect((await rt.store.get('alpha', uid))?.service).toBe('app');
      expect((await rt.store.get('beta', uid))?.service).toBe('app');
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
