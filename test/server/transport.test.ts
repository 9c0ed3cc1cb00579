// The listener and connection over REAL TLS sockets on 127.0.0.1 (issue 3 §1, §6).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect as tlsConnect } from 'node:tls';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus, BatchErrorContinuationOption } from '../../src/ttlv/generated/enumerations.ts';
import { structure, integer, byteString, child } from '../../src/kmip/items.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { KmipClient, type KmipClientOptions } from '../../src/client/index.ts';
import { generateDevPki, createCa, issueLeaf } from '../../certs/devpki.ts';
import { testEngine, request, captureLogger } from './helpers.ts';
import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { KmipConnection } from '../../src/server/connection.ts';
import { silentLogger } from '../../src/log/index.ts';

const V21 = { major: 2, minor: 1 }, V14 = { major: 1, minor: 4 };
type Pki = Awaited<ReturnType<typeof generateDevPki>>;
let pki: Pki;
let foreign: { certPem: string; keyPem: string };

beforeAll(async () => {
  pki = await generateDevPki();
  const otherCa = await createCa('Someone Else CA');
  foreign = await issueLeaf(otherCa, 'client', 'intruder');
});

async function serve(limits: Parameters<typeof startServer>[0]['limits'] = {}) {
  const { logger, lines } = captureLogger();
  const { engine, repo } = testEngine({ logger });
  const server = await startServer(
    { listen: { host: '127.0.0.1', port: 0 }, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem }, limits },
    { engine, logger },
  );
  return { server, lines, repo };
}

function clientOpts(server: RunningServer, extra: Partial<KmipClientOptions> = {}): KmipClientOptions {
  return { host: '127.0.0.1', port: server.address().port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, timeoutMs: 10_000, ...extra };
}

const discover = (v = V21, id?: number) => encode(request(v, [{ operation: Operation.DiscoverVersions, ...(id !== undefined ? { uniqueBatchItemId: Buffer.from([id]) } : {}) }]));

/** Connects and sends one request; resolves to 'refused' when the handshake or the first exchange fails. */
async function tryExchange(opts: KmipClientOptions): Promise<'answered' | 'refused'> {
  let c: KmipClient | undefined;
  try {
    c = await KmipClient.connect({ ...opts, timeoutMs: 5000 });
    await c.sendBytes(discover());
    return 'answered';
  } catch {
    return 'refused';
  } finally {
    await c?.close().catch(() => undefined);
  }
}

const waitFor = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('TLS transport', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => { s = await serve(); });
  afterAll(async () => { await s.server.close(); });

  it('serves a client with a certificate of the configured CA, mapping its identity', async () => {
    expect(await tryExchange(clientOpts(s.server))).toBe('answered');
    const c = await KmipClient.connect(clientOpts(s.server));
    const out = await c.request(Operation.DiscoverVersions);
    expect(out.value.length).toBeGreaterThan(0);
    await c.close();
    await waitFor(() => s.lines.some((l) => l.includes('"event":"connection"')));
    const line = JSON.parse(s.lines.find((l) => l.includes('"event":"batch_item"'))!);
    expect(line.identity.subject).toMatch(/CN=openkcm-dev-client/);
    expect(line.identity.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(line.identity.tenant).toBe('default');
  });

  it('allows TLS session resumption (Veeam reuses sessions, CLIENTS.md)', async () => {
    const base = { host: '127.0.0.1', port: s.server.address().port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost' };
    const exchange = (session?: Buffer) => new Promise<{ reused: boolean; session: Buffer | undefined }>((resolve, reject) => {
      let saved: Buffer | undefined;
      const sock = tlsConnect({ ...base, ...(session ? { session } : {}) });
      sock.on('session', (sess: Buffer) => { saved = sess; });
      sock.once('error', reject);
      sock.once('secureConnect', () => {
        sock.write(discover());
        sock.once('data', () => {
          const reused = sock.isSessionReused();
          sock.end();
          sock.once('close', () => resolve({ reused, session: saved }));
        });
      });
    });
    const first = await exchange();
    expect(first.reused).toBe(false);
    expect(first.session).toBeDefined();
    const before = s.lines.length;
    const second = await exchange(first.session);
    expect(second.reused).toBe(true);
    // A resumed session still carries the client certificate: the identity is not lost.
    await waitFor(() => s.lines.slice(before).some((l) => l.includes('"event":"batch_item"')));
    const line = JSON.parse(s.lines.slice(before).find((l) => l.includes('"event":"batch_item"'))!);
    expect(line.identity.subject).toMatch(/CN=openkcm-dev-client/);
    expect(line.identity.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a client without a certificate', async () => {
    expect(await tryExchange({ ...clientOpts(s.server), cert: undefined as unknown as string, key: undefined as unknown as string })).toBe('refused');
  });

  it('refuses a client certificate from another CA', async () => {
    expect(await tryExchange(clientOpts(s.server, { cert: foreign.certPem, key: foreign.keyPem }))).toBe('refused');
    await waitFor(() => s.lines.some((l) => l.includes('"event":"handshake_failed"')));
  });

  it('refuses TLS 1.1', async () => {
    const before = s.lines.filter((l) => l.includes('handshake_failed')).length;
    const r = await tryExchange(clientOpts(s.server, { tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } }));
    expect(r).toBe('refused');
    // The server itself refused it (not only the client's OpenSSL policy).
    await waitFor(() => s.lines.filter((l) => l.includes('handshake_failed')).length > before);
    expect(s.lines.at(-1)).toMatch(/version|protocol/i);
  });

  it('answers a malformed message with InvalidMessage and keeps the connection', async () => {
    const c = await KmipClient.connect(clientOpts(s.server));
    const bad = Buffer.from(discover(V14));
    bad[bad.length - 1] = 0x08; // the empty Request Payload claims 8 bytes its parent does not hold
    const resp = parseResponseMessage(decode(await c.sendBytes(bad)));
    expect(resp.header.protocolVersion).toEqual(V14);
    expect(resp.batchItems[0]!.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(resp.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    expect(resp.batchItems[0]!.resultMessage).toMatch(/offset/);
    const ok = parseResponseMessage(decode(await c.sendBytes(discover())));
    expect(ok.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    await c.close();
  });

  it('answers 20 pipelined requests strictly in order, even when earlier ones are slower', async () => {
    const c = await KmipClient.connect(clientOpts(s.server));
    const sends = Array.from({ length: 20 }, (_, i) => c.sendBytes(encode(request(V21, [{
      operation: Operation.Validate,
      uniqueBatchItemId: Buffer.from([i]),
      payload: structure(Tag.RequestPayload, [integer(Tag.DataLength, (20 - i) * 2)]),
    }]))));
    const answers = (await Promise.all(sends)).map((b) => parseResponseMessage(decode(b)).batchItems[0]!);
    expect(answers.map((a) => a.uniqueBatchItemId![0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(answers.map((a) => (child(a.payload!, Tag.DataLength)!.value as number))).toEqual(Array.from({ length: 20 }, (_, i) => (20 - i) * 2));
    await c.close();
  });

  it('survives an operation that throws (GeneralFailure) and batch Stop/Continue over the wire', async () => {
    const c = await KmipClient.connect(clientOpts(s.server));
    const stop = await c.batch([{ operation: Operation.Check, payload: structure(Tag.RequestPayload, []) }, { operation: Operation.DiscoverVersions, payload: structure(Tag.RequestPayload, []) }]);
    expect(stop.batchItems).toHaveLength(1);
    expect(stop.batchItems[0]!.resultReason).toBe(ResultReason.GeneralFailure);
    const cont = await c.batch([{ operation: Operation.Check, payload: structure(Tag.RequestPayload, []) }, { operation: Operation.DiscoverVersions, payload: structure(Tag.RequestPayload, []) }],
      { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    expect(cont.batchItems.map((b) => b.resultStatus)).toEqual([ResultStatus.OperationFailed, ResultStatus.Success]);
    expect(s.lines.some((l) => l.includes('boom: cannot read properties'))).toBe(true);
    await c.close();
  });

  it('no client input crashes the server: random frames are answered, the server keeps serving', async () => {
    const c = await KmipClient.connect(clientOpts(s.server));
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    const good = discover();
    for (let i = 0; i < 150; i++) {
      const b = Buffer.from(good);
      // Flip a few bytes after the outer header (which the framer needs intact).
      for (let k = 0; k < 1 + (rnd() % 4); k++) b[8 + (rnd() % (b.length - 8))] = rnd() & 0xff;
      const resp = parseResponseMessage(decode(await c.sendBytes(b)));
      expect(resp.batchItems.length).toBeGreaterThan(0);
    }
    const ok = parseResponseMessage(decode(await c.sendBytes(discover())));
    expect(ok.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    await c.close();
  });
});

describe('TLS transport limits', () => {
  it('closes the connection on a frame over the maximum, without answering it', async () => {
    const s = await serve({ maxMessageSize: 4096 });
    try {
      const c = await KmipClient.connect(clientOpts(s.server));
      const header = Buffer.from([0x42, 0x00, 0x78, 0x01, 0x00, 0xa0, 0x00, 0x00]); // claims 10 MiB
      await expect(c.sendBytes(header)).rejects.toThrow(/closed|ECONNRESET/);
      await waitFor(() => s.lines.some((l) => l.includes('"event":"frame_too_large"')));
      // The server itself is fine.
      expect(await tryExchange(clientOpts(s.server))).toBe('answered');
    } finally {
      await s.server.close();
    }
  });

  it('read-ahead is bounded: 100 pipelined requests with a depth of 4 are all answered, in order', async () => {
    const s = await serve({ maxPipelineDepth: 4 });
    try {
      const c = await KmipClient.connect(clientOpts(s.server));
      // ~1 KiB each, so the 100 requests span several TLS records and reading must pause and resume.
      const sends = Array.from({ length: 100 }, (_, i) => c.sendBytes(encode(request(V21, [{
        operation: Operation.Validate, uniqueBatchItemId: Buffer.from([i]),
        payload: structure(Tag.RequestPayload, [integer(Tag.DataLength, i % 3), byteString(Tag.Data, Buffer.alloc(1000, i))]),
      }]))));
      const ids = (await Promise.all(sends)).map((b) => parseResponseMessage(decode(b)).batchItems[0]!.uniqueBatchItemId![0]);
      expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i));
      await c.close();
    } finally {
      await s.server.close();
    }
  });

  it('closes an idle connection after the idle timeout', async () => {
    const s = await serve({ idleTimeoutMs: 300 });
    try {
      const c = await KmipClient.connect(clientOpts(s.server));
      await c.sendBytes(discover());
      const t0 = Date.now();
      await waitFor(() => !c.open, 3000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(s.lines.some((l) => l.includes('"event":"idle_timeout"'))).toBe(true);
    } finally {
      await s.server.close();
    }
  });

  it('a request that runs longer than the idle timeout is answered, and the idle timeout runs again from the answer', async () => {
    const { logger, lines } = captureLogger();
    const { engine } = testEngine({ logger });
    // An operation slower than the idle timeout (an HSM taking its time): not idleness.
    const handle = engine.handleBytes.bind(engine);
    engine.handleBytes = async (...a: Parameters<typeof handle>) => { await new Promise((r) => setTimeout(r, 900)); return handle(...a); };
    const server = await startServer(
      { listen: { host: '127.0.0.1', port: 0 }, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem }, limits: { idleTimeoutMs: 300 } },
      { engine, logger },
    );
    try {
      const c = await KmipClient.connect(clientOpts(server));
      const answer = parseResponseMessage(decode(await c.sendBytes(discover())));
      expect(answer.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
      expect(c.open).toBe(true);
      const t0 = Date.now();
      await waitFor(() => !c.open, 5000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
      expect(lines.some((l) => l.includes('"event":"idle_timeout"'))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('drops a TCP connection that never completes the TLS handshake', async () => {
    const s = await serve({ handshakeTimeoutMs: 300 });
    try {
      const { connect } = await import('node:net');
      const sock = connect(s.server.address().port, '127.0.0.1');
      const t0 = Date.now();
      await new Promise((r) => sock.once('close', r));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      await waitFor(() => s.lines.some((l) => l.includes('"event":"handshake_failed"')));
    } finally {
      await s.server.close();
    }
  });

  it('refuses connections over the maximum', async () => {
    const s = await serve({ maxConnections: 2 });
    try {
      const a = await KmipClient.connect(clientOpts(s.server));
      const b = await KmipClient.connect(clientOpts(s.server));
      await a.sendBytes(discover());
      await b.sendBytes(discover());
      expect(await tryExchange(clientOpts(s.server))).toBe('refused');
      expect(s.lines.some((l) => l.includes('"event":"connection_refused"'))).toBe(true);
      await a.close();
      await waitFor(() => s.server.connectionCount() < 2);
      expect(await tryExchange(clientOpts(s.server))).toBe('answered');
      await b.close();
    } finally {
      await s.server.close();
    }
  });

  it('close() is graceful: a request in flight is still answered', async () => {
    const s = await serve();
    const c = await KmipClient.connect(clientOpts(s.server));
    const slow = c.sendBytes(encode(request(V21, [{ operation: Operation.Validate, payload: structure(Tag.RequestPayload, [integer(Tag.DataLength, 200)]) }])));
    await new Promise((r) => setTimeout(r, 50));
    const closed = s.server.close();
    const resp = parseResponseMessage(decode(await slow));
    expect(resp.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    await closed;
    expect(await tryExchange(clientOpts(s.server))).toBe('refused');
  });

  it('a raw socket that sends nothing but garbage is closed, not crashed on', async () => {
    const s = await serve();
    try {
      const sock = tlsConnect({ host: '127.0.0.1', port: s.server.address().port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost' });
      await new Promise((r) => sock.once('secureConnect', r));
      const closed = new Promise((r) => sock.once('close', r));
      sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await closed;
      expect(await tryExchange(clientOpts(s.server))).toBe('answered');
    } finally {
      await s.server.close();
    }
  });
});

describe('pipelined answers are written together (issue 12 §2)', () => {
  /** The socket calls a connection makes, recorded in order (a stand-in for the TLSSocket, whose records we cannot count from outside). */
  function recordingSocket() {
    const calls: string[] = [];
    const sock = Object.assign(new EventEmitter(), {
      remoteAddress: '127.0.0.1', remotePort: 1, destroyed: false,
      getPeerCertificate: () => ({ raw: Buffer.from('cert'), subject: { CN: 'client' }, subjectaltname: '', serialNumber: '01' }),
      setNoDelay: () => sock, setTimeout: () => sock, pause: () => sock, resume: () => sock,
      cork: () => { calls.push('cork'); }, uncork: () => { calls.push('uncork'); },
      write: (_b: Buffer) => { calls.push('write'); return true; },
      end: () => sock, destroy: () => { sock.destroyed = true; return sock; },
    });
    return { sock, calls };
  }

  it('8 requests arriving together: their 8 answers are written under one cork and released at once; a lone request is written as is', async () => {
    const { engine } = testEngine();
    const { sock, calls } = recordingSocket();
    new KmipConnection(sock as unknown as TLSSocket, engine, silentLogger(), { maxMessageSize: 1 << 20, idleTimeoutMs: 60_000, maxPipelineDepth: 32, messageTimeoutMs: 30_000 });
    sock.emit('data', Buffer.concat(Array.from({ length: 8 }, (_, i) => discover(V21, i))));
    await waitFor(() => calls.filter((c) => c === 'write').length === 8 && calls.includes('uncork'));
    expect(calls).toEqual(['cork', ...Array<string>(8).fill('write'), 'uncork']);
    calls.length = 0;
    sock.emit('data', discover(V21, 9));
    await waitFor(() => calls.includes('write'));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['write']);
  });
});
