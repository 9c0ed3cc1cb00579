// Slowloris and floods (issue 16 §4) over real sockets: thousands of idle and half-open
// connections with the server's memory measured in its own process, a client trickling
// one byte per second, a 2 GiB length header, deep nesting, 10 000 batch items — each
// refused with the limit it hit while other clients are served — and the auth-failure
// audit records of refused handshakes, summarised under a flood (issue 16 §1).
import { describe, it, expect, beforeAll } from 'vitest';
import { fork, type ChildProcess } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { structure, type Struct } from '../../src/kmip/items.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { KmipClient } from '../../src/client/index.ts';
import { DEFAULT_MAX_BATCH_ITEMS } from '../../src/config/defaults.ts';
import { MAX_DEPTH } from '../../src/ttlv/limits.ts';
import { generateDevPki, createCa, issueLeaf } from '../../certs/devpki.ts';
import { request } from './helpers.ts';
import { serveWith, clientOpts, exchange, discover, rawFlood, sleep, waitFor, V21, type Pki } from './flood-helpers.ts';

let pki: Pki;
let foreign: { certPem: string; keyPem: string };
beforeAll(async () => {
  pki = await generateDevPki();
  foreign = await issueLeaf(await createCa('Someone Else CA'), 'client', 'intruder');
});

const closedAfter = (s: Socket) => new Promise<number>((resolve) => { const t0 = Date.now(); s.once('close', () => resolve(Date.now() - t0)); });

function tlsFrom(server: { address(): { port: number } }, localAddress: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: server.address().port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost', localAddress } as unknown as Parameters<typeof tlsConnect>[0]);
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('slowloris', () => {
  it('a message trickled at 1 byte/s is closed at the message deadline; a slow but complete message is answered; others are served meanwhile', async () => {
    const s = await serveWith(pki, { messageTimeoutMs: 2500, idleTimeoutMs: 60_000 });
    try {
      // Slow but within the deadline: two halves 500 ms apart.
      const ok = await tlsFrom(s.server, '127.0.0.40');
      const msg = discover();
      const answered = new Promise<Buffer>((r) => ok.once('data', r));
      ok.write(msg.subarray(0, 20));
      await sleep(500);
      ok.write(msg.subarray(20));
      expect(parseResponseMessage(decode(await answered)).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
      ok.destroy();

      const slow = await tlsFrom(s.server, '127.0.0.41');
      slow.on('error', () => undefined);
      const closed = closedAfter(slow);
      let i = 0;
      const drip = setInterval(() => { if (i < msg.length && !slow.destroyed) slow.write(msg.subarray(i, ++i)); }, 1000);
      // The idle timeout (60 s) never fires on a trickle; the message deadline does.
      expect(await exchange(clientOpts(pki, s.server, '127.0.0.42'))).toBe('answered');
      const ms = await closed;
      clearInterval(drip);
      expect(ms).toBeGreaterThanOrEqual(2400);
      expect(ms).toBeLessThan(15_000);
      expect(i).toBeLessThan(msg.length);
      const line = JSON.parse(s.lines.find((l) => l.includes('"event":"message_timeout"'))!);
      expect(line).toMatchObject({ limit: 'messageTimeoutMs', messageTimeoutMs: 2500 });
      await waitFor(() => s.lines.some((l) => l.includes('"event":"connection"') && l.includes('"reason":"message-timeout"')), 5000, 'the close line');
    } finally {
      await s.close();
    }
  });

  it('a ClientHello trickled byte by byte is dropped at the handshake deadline counted from accept, and audited', async () => {
    const s = await serveWith(pki, { handshakeTimeoutMs: 1500 }, { audit: true });
    try {
      const raw = netConnect({ port: s.server.address().port, host: '127.0.0.1', localAddress: '127.0.0.43' });
      raw.on('error', () => undefined);
      const closed = closedAfter(raw);
      // A TLS handshake record header announcing 512 bytes, then one byte every 200 ms: the
      // bytes keep coming, the deadline counts from accept all the same.
      raw.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      const drip = setInterval(() => { if (!raw.destroyed) raw.write(Buffer.from([0x01])); }, 200);
      const ms = await closed;
      clearInterval(drip);
      expect(ms).toBeGreaterThanOrEqual(1400);
      expect(ms).toBeLessThan(10_000);
      expect(s.server.connectionStats().handshakeTimeouts).toBe(1);
      s.audit!.flush();
      const rec = s.audit!.tail(10).find((r) => r.kind === 'auth-failure');
      expect(rec).toMatchObject({ identity: 'ip:127.0.0.43', operation: 'tls.handshake', result: 'failure', reason: 'AuthenticationNotSuccessful' });
      expect(rec!.detail).toMatch(/^TLS handshake not completed within 1500 ms \(limit handshakeTimeoutMs\); from 127\.0\.0\.43:\d+$/);
    } finally {
      await s.close();
    }
  });
});

describe('hostile messages: each refused with the limit it hit, other clients served', () => {
  it('a 2 GiB length header is refused from its 8 bytes and the connection closed', async () => {
    const s = await serveWith(pki, {});
    try {
      const c = await KmipClient.connect(clientOpts(pki, s.server, '127.0.0.50'));
      const header = Buffer.from([0x42, 0x00, 0x78, 0x01, 0x7f, 0xff, 0xff, 0xf8]); // Length 2^31 − 8
      const before = process.memoryUsage().arrayBuffers;
      await expect(c.sendBytes(header)).rejects.toThrow(/closed|ECONNRESET/);
      await waitFor(() => s.lines.some((l) => l.includes('"event":"frame_too_large"')));
      const line = JSON.parse(s.lines.find((l) => l.includes('"event":"frame_too_large"'))!);
      expect(line).toMatchObject({ claimed: 2 ** 31, max: 1024 * 1024 });
      // Nothing near the claimed size was allocated (the framer never buffers a refused body).
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
      expect(await exchange(clientOpts(pki, s.server, '127.0.0.51'))).toBe('answered');
    } finally {
      await s.close();
    }
  });

  it(`nesting deeper than ${MAX_DEPTH} is answered Invalid Message naming the limit; the connection lives`, async () => {
    const s = await serveWith(pki, {});
    try {
      let nested: Struct = structure(Tag.Attribute, []);
      for (let i = 0; i < 200; i++) nested = structure(Tag.Attribute, [nested]);
      const bytes = encode(request(V21, [{ operation: Operation.DiscoverVersions, payload: structure(Tag.RequestPayload, [nested]) }]));
      const c = await KmipClient.connect(clientOpts(pki, s.server, '127.0.0.52'));
      const item = parseResponseMessage(decode(await c.sendBytes(bytes))).batchItems[0]!;
      expect(item.resultReason).toBe(ResultReason.InvalidMessage);
      expect(item.resultMessage).toContain(`nesting deeper than ${MAX_DEPTH}`);
      expect(parseResponseMessage(decode(await c.sendBytes(discover()))).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
      await c.close();
    } finally {
      await s.close();
    }
  });

  it(`10 000 batch items are answered Invalid Message naming maxBatchItems (${DEFAULT_MAX_BATCH_ITEMS}); none runs; the connection lives`, async () => {
    const s = await serveWith(pki, {});
    try {
      const bytes = encode(request(V21, Array.from({ length: 10_000 }, () => ({ operation: Operation.Create }))));
      const c = await KmipClient.connect(clientOpts(pki, s.server, '127.0.0.53'));
      const resp = parseResponseMessage(decode(await c.sendBytes(bytes)));
      expect(resp.batchItems).toHaveLength(1);
      expect(resp.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
      expect(resp.batchItems[0]!.resultMessage).toBe(`the message holds 10000 batch items; this server accepts at most ${DEFAULT_MAX_BATCH_ITEMS} per message (limit maxBatchItems)`);
      expect(s.repo.objects.size).toBe(0);
      // At the limit it runs.
      const atLimit = parseResponseMessage(decode(await c.sendBytes(encode(request(V21, Array.from({ length: DEFAULT_MAX_BATCH_ITEMS }, () => ({ operation: Operation.DiscoverVersions })))))));
      expect(atLimit.batchItems).toHaveLength(DEFAULT_MAX_BATCH_ITEMS);
      expect(atLimit.batchItems.every((b) => b.resultStatus === ResultStatus.Success)).toBe(true);
      await c.close();
    } finally {
      await s.close();
    }
  });
});

describe('auth-failure audit of refused handshakes', () => {
  it('no certificate and a foreign CA are audited with the source; a flood from one source is summarised; clients are served', async () => {
    const s = await serveWith(pki, {}, { audit: true });
    try {
      expect(await exchange(clientOpts(pki, s.server, '127.0.0.60', { cert: undefined as unknown as string, key: undefined as unknown as string }))).toMatch(/^refused/);
      expect(await exchange(clientOpts(pki, s.server, '127.0.0.61', { cert: foreign.certPem, key: foreign.keyPem }))).toMatch(/^refused/);
      await waitFor(() => s.server.connectionStats().handshakeFailures >= 2);
      s.audit!.flush();
      const recs = s.audit!.tail(10).filter((r) => r.kind === 'auth-failure');
      expect(recs.find((r) => r.identity === 'ip:127.0.0.60')?.detail).toMatch(/^no client certificate presented; from 127\.0\.0\.60:\d+$/);
      expect(recs.find((r) => r.identity === 'ip:127.0.0.61')?.detail).toMatch(/^client certificate rejected \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); from 127\.0\.0\.61:\d+$/);
    } finally {
      await s.close();
    }
  });

  it('40 refused handshakes from one source: the first 5 are records, the rest one summary with the count and reasons', async () => {
    // A per-source allowance of 5 (the default is 10 per minute).
    const t = await serveWith(pki, {}, { audit: true, authFailureAudit: { perSource: 5 } });
    try {
      const noCert = clientOpts(pki, t.server, '127.0.0.62', { cert: undefined as unknown as string, key: undefined as unknown as string });
      const bad = clientOpts(pki, t.server, '127.0.0.62', { cert: foreign.certPem, key: foreign.keyPem });
      for (let i = 0; i < 40; i += 4) await Promise.all([noCert, noCert, noCert, bad].map((o) => exchange(o)));
      expect(await exchange(clientOpts(pki, t.server, '127.0.0.63'))).toBe('answered');
      await waitFor(() => t.server.connectionStats().handshakeFailures >= 40);
      const audit = t.audit!;
      await t.stop(); // the window's summary is written at close at the latest
      const recs = audit.tail(100).filter((r) => r.kind === 'auth-failure');
      expect(recs.filter((r) => r.operation === 'tls.handshake')).toHaveLength(5);
      const sum = recs.filter((r) => r.operation === 'tls.handshake.summary');
      expect(sum).toHaveLength(1);
      expect(sum[0]).toMatchObject({ identity: '127.0.0.62', result: 'failure', reason: 'AuthenticationNotSuccessful' });
      expect(sum[0]!.detail).toMatch(/^35 more refused TLS handshakes from 127\.0\.0\.62 not recorded one by one \(limit 5 per 60 s\) between \S+Z and \S+Z: /);
      expect(sum[0]!.detail).toMatch(/no-certificate \d+/);
      expect(sum[0]!.detail).toMatch(/certificate-rejected UNABLE_TO_VERIFY_LEAF_SIGNATURE \d+/);
    } finally {
      await t.close();
    }
  });
});

describe('thousands of idle and half-open connections: memory bounded, clients served', () => {
  const FLOOD = Number(process.env.OPENKCM_TEST_FLOOD_CONNECTIONS ?? 1100);
  it(`${3 * FLOOD} raw and half-open TLS connections + 150 idle authenticated ones, server in its own process`, async () => {
    const limits = { maxConnections: 400, maxPreAuthConnections: 200, maxPreAuthPerSource: 50, handshakeTimeoutMs: 60_000, idleTimeoutMs: 120_000 };
    const child: ChildProcess = fork(fileURLToPath(new URL('./fixtures/flood-server.ts', import.meta.url)),
      [JSON.stringify({ pki: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem }, limits })],
      { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const next = <T>(type: string) => new Promise<T>((resolve) => {
      const on = (m: { type: string }) => { if (m.type === type) { child.off('message', on); resolve(m as T); } };
      child.on('message', on);
    });
    type Stats = { rss: number; heapUsed: number; stats: { open: number; preAuth: number; authenticated: number; evicted: number; refused: Record<string, number> } };
    const stats = () => { const p = next<Stats>('stats'); child.send({ type: 'stats' }); return p; };
    const { port } = await next<{ port: number }>('ready');
    const server = { address: () => ({ host: '127.0.0.1', port }) };
    const idle: TLSSocket[] = [];
    let attack: ReturnType<typeof rawFlood> | undefined;
    const halfOpen: Socket[] = [];
    try {
      // Warm up (first handshake, lazy code paths), then the baseline.
      expect(await exchange(clientOpts(pki, server as never, '127.0.0.70'))).toBe('answered');
      const base = await stats();
      for (let i = 0; i < 150; i++) idle.push(await tlsFrom(server, `127.0.2.${1 + (i % 50)}`));
      // Never a byte, from 8 addresses, reconnecting…
      attack = rawFlood(port, Array.from({ length: 8 }, (_, i) => `127.0.3.${i + 1}`), Math.ceil(2 * FLOOD / 8), 2000);
      // …and half-open TLS: a handshake record header, then silence, from 4 more.
      for (let i = 0; i < FLOOD; i++) {
        const h = netConnect({ port, host: '127.0.0.1', localAddress: `127.0.4.${1 + (i % 4)}` });
        h.on('error', () => undefined);
        h.on('connect', () => h.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
        halfOpen.push(h);
      }
      await waitFor(() => attack!.opened >= 2 * FLOOD && halfOpen.every((h) => !h.connecting), 60_000, 'the flood');
      await sleep(500);
      const during = await stats();
      expect(await exchange(clientOpts(pki, server as never, '127.0.0.71'))).toBe('answered');
      const after = await stats();
      const mib = (n: number) => Math.round(n / 1024 / 1024);
      console.log(`[floods] server holds ${during.stats.open} connections (${during.stats.authenticated} authenticated, ${during.stats.preAuth} pre-auth) of ${2 * FLOOD + FLOOD + 150} attempted at once; `
        + `RSS ${mib(base.rss)} → ${mib(during.rss)} MiB, heap ${mib(base.heapUsed)} → ${mib(during.heapUsed)} MiB; evicted ${after.stats.evicted}, refused ${JSON.stringify(after.stats.refused)}`);
      expect(during.stats.open).toBeLessThanOrEqual(limits.maxConnections);
      expect(during.stats.preAuth).toBeLessThanOrEqual(limits.maxPreAuthConnections);
      expect(during.stats.authenticated).toBeGreaterThanOrEqual(150);
      // Generous bound (measured growth is in README): the budgets, not the attacker, size memory.
      expect(during.rss - base.rss).toBeLessThan(160 * 1024 * 1024);
      expect(during.heapUsed - base.heapUsed).toBeLessThan(64 * 1024 * 1024);
      // The idle authenticated clients still work.
      const c = idle[0]!;
      const answered = new Promise<Buffer>((r) => c.once('data', r));
      c.write(discover());
      expect(parseResponseMessage(decode(await answered)).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    } finally {
      attack?.stop();
      for (const h of halfOpen) h.destroy();
      for (const s of idle) s.destroy();
      child.send({ type: 'stop' });
      await new Promise((r) => child.once('exit', r));
    }
  });
});
