// A gateway's status watch over the Core's HTTPS KMIP listener (src/server/http-kmip.ts,
// src/server/listener.ts): the watch session is keyed by the connection's identity, so the
// HTTPS listener must keep one identity per TLS connection as the TTLV port does — two Polls
// on one kept-alive connection are one watch (one "opened" record), a new connection is a
// new one, and the end of a connection closes its watch (the "closed" record), as on TTLV.
// Real mutual-TLS sockets, the runtime in process (SQLite in memory).
import { Agent, request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { byteString, structure } from '../../src/kmip/items.ts';
import { buildRequestMessage, parseResponseMessage } from '../../src/kmip/message.ts';
import { WATCH_PREFIX } from '../../src/kmip/gateway-watch.ts';
import { createCa, issueLeaf, type IssuedCertificate } from '../../src/server/devpki.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { certificateFingerprint, openRuntime, type Runtime } from '../../src/server/runtime.ts';

let rt: Runtime;
let https: RunningServer;
let caPem: string;
let gw: IssuedCertificate;

beforeAll(async () => {
  const ca = await createCa('HTTPS watch CA');
  caPem = ca.certPem;
  const serverCert = await issueLeaf(ca, 'server', 'localhost', { names: ['localhost', '127.0.0.1'] });
  gw = await issueLeaf(ca, 'client', 'gw-https');
  rt = await openRuntime();
  rt.governance.createTenant({ id: 'acme' });
  rt.governance.createService({ tenant: 'acme', id: 'billing' });
  rt.governance.addIdentity({ tenant: 'acme', service: 'billing', role: 'gateway', match: { kind: 'fingerprint', sha256: certificateFingerprint(gw.certPem) } });
  https = await startServer({ listen: { host: '127.0.0.1', port: 0 }, protocol: 'https', tls: { ca: caPem, cert: serverCert.certPem, key: serverCert.keyPem } }, rt);
}, 60_000);
afterAll(async () => {
  await https?.close(500);
  await rt?.close();
});

/** One watch Poll over HTTPS; a token that is not the current state's is answered at once. */
function poll(agent: Agent, token: string): Promise<{ state: string }> {
  const msg = buildRequestMessage({ protocolVersion: { major: 2, minor: 1 } }, [{
    operation: Operation.Poll,
    payload: structure(Tag.RequestPayload, [byteString(Tag.AsynchronousCorrelationValue, Buffer.from(WATCH_PREFIX + token, 'latin1'))]),
  }]);
  const body = encode(msg);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: https.address().port, servername: 'localhost', path: '/kmip', method: 'POST', agent,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }, timeout: 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const item = parseResponseMessage(decode(Buffer.concat(chunks))).batchItems[0]!;
          if (item.resultStatus !== ResultStatus.Success) throw new Error(`poll refused: ${item.resultMessage}`);
          const data = item.payload!.value.find((c) => c.tag === Tag.Data)!.value as Buffer;
          resolve(JSON.parse(data.toString('utf8')) as { state: string });
        } catch (e) { reject(e as Error); }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const watchRecords = () => rt.audit.tail(200).filter((r) => r.kind === 'kmip' && r.operation === 'Poll').map((r) => r.detail ?? '');

describe('status watch over HTTPS', () => {
  it('one kept-alive connection is one watch: opened once, closed with the connection; a new connection opens a new one', async () => {
    const a = new Agent({ keepAlive: true, maxSockets: 1, ca: caPem, cert: gw.certPem, key: gw.keyPem });
    expect((await poll(a, '')).state).toBe('ok');
    expect((await poll(a, 'not-the-current-state')).state).toBe('ok');
    expect((await poll(a, 'again')).state).toBe('ok');
    expect(watchRecords()).toEqual(['gateway status watch opened: ok']);
    a.destroy();
    // The server sees the close a moment later.
    for (let i = 0; i < 100 && watchRecords().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const recs = watchRecords();
    expect(recs).toHaveLength(2);
    expect(recs[1]).toMatch(/^gateway status watch closed \(peer\) after [\d.]+ s; 0 change\(s\) answered$/);
    const b = new Agent({ keepAlive: true, maxSockets: 1, ca: caPem, cert: gw.certPem, key: gw.keyPem });
    await poll(b, '');
    await poll(b, 'x');
    expect(watchRecords().slice(2)).toEqual(['gateway status watch opened: ok']);
    b.destroy();
  }, 60_000);
});
