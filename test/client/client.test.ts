// The KMIP client against a real mTLS server (the production runtime, in memory).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus, ObjectType, CryptographicAlgorithm, CryptographicUsageMask, QueryFunction } from '../../src/ttlv/generated/enumerations.ts';
import { structure, integer, enumeration, textString, child } from '../../src/kmip/items.ts';
import { KmipClient, KmipResponseError, type KmipClientOptions } from '../../src/client/index.ts';
import { openRuntime, type Runtime } from '../../src/server/runtime.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { generateDevPki } from '../../src/server/devpki.ts';
import { silentLogger } from '../../src/log/index.ts';

let pki: Awaited<ReturnType<typeof generateDevPki>>;
let rt: Runtime;
let server: RunningServer;

beforeAll(async () => {
  pki = await generateDevPki();
  rt = await openRuntime({ logger: silentLogger() });
  server = await startServer({ listen: { host: '127.0.0.1', port: 0 }, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem } }, rt);
});
afterAll(async () => {
  await server.close();
  await rt.close();
});

const opts = (extra: Partial<KmipClientOptions> = {}): KmipClientOptions => ({
  host: '127.0.0.1', port: server.address().port, servername: 'localhost',
  ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, ...extra,
});

const createAes = [
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
  structure(Tag.Attributes, [
    enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
    integer(Tag.CryptographicLength, 128),
    integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt),
  ]),
];

describe('KmipClient', () => {
  it('request() returns the payload; a failure rejects with KmipResponseError carrying the reason', async () => {
    const c = await KmipClient.connect(opts());
    const out = await c.request(Operation.Create, createAes);
    const uid = child(out, Tag.UniqueIdentifier)!.value as string;
    expect(uid).toMatch(/.+/);
    const err = await c.request(Operation.Activate, [textString(Tag.UniqueIdentifier, 'missing')]).catch((e) => e);
    expect(err).toBeInstanceOf(KmipResponseError);
    // 2.1 names a missing object Object Not Found (1.x: Item Not Found).
    expect([ResultReason.ObjectNotFound, ResultReason.ItemNotFound]).toContain((err as KmipResponseError).reason);
    expect((err as Error).message).toMatch(/^KMIP operation failed: (Object|Item)NotFound/);
    const item = await c.requestItem(Operation.Activate, [textString(Tag.UniqueIdentifier, 'missing')]);
    expect(item.resultStatus).toBe(ResultStatus.OperationFailed);
    await c.close();
  });

  it('builds messages in its configured version (1.x Query answered in 1.1)', async () => {
    const c = await KmipClient.connect(opts({ version: { major: 1, minor: 1 } }));
    const resp = await c.batch([{ operation: Operation.Query, payload: structure(Tag.RequestPayload, [enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)]) }]);
    expect(resp.header.protocolVersion).toEqual({ major: 1, minor: 1 });
    expect(resp.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    await c.close();
  });

  it('pipelines: many requests in flight resolve to their own responses', async () => {
    const c = await KmipClient.connect(opts());
    const creates = await Promise.all(Array.from({ length: 10 }, () => c.request(Operation.Create, createAes)));
    const uids = creates.map((p) => child(p, Tag.UniqueIdentifier)!.value as string);
    expect(new Set(uids).size).toBe(10);
    const activated = await Promise.all(uids.map((u) => c.request(Operation.Activate, [textString(Tag.UniqueIdentifier, u)])));
    expect(activated.map((p) => child(p, Tag.UniqueIdentifier)!.value)).toEqual(uids);
    await c.close();
  });

  it('multi-item batches get Unique Batch Item IDs, echoed back', async () => {
    const c = await KmipClient.connect(opts());
    const r = await c.batch([
      { operation: Operation.DiscoverVersions, payload: structure(Tag.RequestPayload, []) },
      { operation: Operation.DiscoverVersions, payload: structure(Tag.RequestPayload, []) },
    ]);
    const ids = r.batchItems.map((b) => b.uniqueBatchItemId!.toString('hex'));
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
    await c.close();
  });

  it('rejects pending requests when the server goes away, and times out a silent server', async () => {
    // A TLS server that accepts and never answers.
    const mute = createTlsServer({ ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: true });
    const sockets: import('node:tls').TLSSocket[] = [];
    mute.on('secureConnection', (s) => sockets.push(s));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const port = (mute.address() as AddressInfo).port;
    try {
      const c1 = await KmipClient.connect(opts({ port, timeoutMs: 0 }));
      const pending = c1.request(Operation.DiscoverVersions);
      await new Promise((r) => setTimeout(r, 100));
      for (const s of sockets) s.destroy();
      await expect(pending).rejects.toThrow(/closed|ECONNRESET/);
      expect(c1.open).toBe(false);

      const c2 = await KmipClient.connect(opts({ port, timeoutMs: 200 }));
      await expect(c2.request(Operation.DiscoverVersions)).rejects.toThrow(/no response within 200 ms/);
      await c2.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it('refuses a server whose certificate does not chain to the given CA', async () => {
    const other = await generateDevPki();
    await expect(KmipClient.connect(opts({ ca: other.ca.certPem }))).rejects.toThrow(/certificate/i);
  });
});
