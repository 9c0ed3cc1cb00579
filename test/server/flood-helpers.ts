// Shared pieces of the exhaustion and flood suites (issue 16 §4): a server on 127.0.0.1
// with lowered budgets, legitimate mutual-TLS clients bound to their own loopback
// address, and an attacker that holds raw TCP connections open and reconnects whatever
// the server closes. Linux routes all of 127.0.0.0/8 to loopback, so each 127.0.0.x is
// a distinct source address for the server's per-source accounting.
import { connect as netConnect, type Socket } from 'node:net';
import Database from 'better-sqlite3';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { startServer, type RunningServer, type ListenerConfig } from '../../src/server/listener.ts';
import { openAuditLog, type AuditLog } from '../../src/audit/log.ts';
import { KmipClient, type KmipClientOptions } from '../../src/client/index.ts';
import { generateDevPki } from '../../certs/devpki.ts';
import { testEngine, request, captureLogger } from './helpers.ts';

export type Pki = Awaited<ReturnType<typeof generateDevPki>>;
export const V21 = { major: 2, minor: 1 };

export async function serveWith(pki: Pki, limits: ListenerConfig['limits'], opts: { audit?: boolean; authFailureAudit?: ListenerConfig['authFailureAudit'] } = {}) {
  const { logger, lines } = captureLogger();
  const { engine, repo } = testEngine({ logger });
  let audit: AuditLog | undefined;
  let db: Database.Database | undefined;
  if (opts.audit) {
    db = new Database(':memory:');
    audit = openAuditLog(db, { groupCommit: { maxRecords: 64, maxDelayMs: 5 } });
  }
  const server = await startServer(
    { listen: { host: '127.0.0.1', port: 0 }, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem }, limits,
      ...(opts.authFailureAudit ? { authFailureAudit: opts.authFailureAudit } : {}) },
    { engine, logger, ...(audit ? { audit } : {}) },
  );
  return {
    server, lines, audit, repo,
    /** Stops the listener (its auth-failure summaries are written), keeps the audit log readable. */
    async stop() {
      await server.close(1000);
    },
    async close() {
      await server.close(1000);
      audit?.close();
      db?.close();
    },
  };
}

export function clientOpts(pki: Pki, server: RunningServer, localAddress: string, extra: Partial<KmipClientOptions> = {}): KmipClientOptions {
  return {
    host: '127.0.0.1', port: server.address().port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, timeoutMs: 20_000,
    ...extra,
    // tls.connect hands localAddress on to net.connect.
    tls: { ...(extra.tls ?? {}), localAddress } as KmipClientOptions['tls'],
  };
}

export const discover = () => encode(request(V21, [{ operation: Operation.DiscoverVersions }]));

/** Connects from `localAddress`, sends Discover Versions, returns the result status or the error. */
export async function exchange(opts: KmipClientOptions): Promise<'answered' | string> {
  let c: KmipClient | undefined;
  try {
    c = await KmipClient.connect(opts);
    const resp = parseResponseMessage(decode(await c.sendBytes(discover())));
    return resp.batchItems[0]!.resultStatus === ResultStatus.Success ? 'answered' : `status ${resp.batchItems[0]!.resultStatus}`;
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  } finally {
    await c?.close().catch(() => undefined);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean, ms = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${ms} ms`);
    await sleep(20);
  }
}

/**
 * Holds `concurrent` raw TCP connections from each of `sources` that never send a byte
 * (no TLS ClientHello), reopening every one the server closes, until stop(). Reopens are
 * paced to `maxOpensPerSecond` overall so the attack cannot starve the test machine itself
 * (2 shared cores): the server still sees a reconnect storm far above any real client's.
 */
export function rawFlood(port: number, sources: readonly string[], concurrent: number, maxOpensPerSecond = 3000) {
  const sockets = new Set<Socket>();
  let opened = 0, closedByServer = 0, stopped = false, tokens = maxOpensPerSecond / 20;
  const errors: Record<string, number> = {};
  const waiting: Array<() => void> = [];
  const refill = setInterval(() => {
    tokens = Math.min(maxOpensPerSecond / 20, tokens + maxOpensPerSecond / 20);
    while (tokens >= 1 && waiting.length > 0) { tokens--; waiting.shift()!(); }
  }, 50);
  const open = (source: string) => {
    if (stopped) return;
    if (tokens < 1) { waiting.push(() => open(source)); return; }
    tokens--;
    const s = netConnect({ port, host: '127.0.0.1', localAddress: source });
    opened++;
    sockets.add(s);
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code && e.code !== 'ECONNRESET') errors[e.code] = (errors[e.code] ?? 0) + 1; });
    s.on('close', () => {
      sockets.delete(s);
      if (stopped) return;
      closedByServer++;
      open(source);
    });
  };
  for (let i = 0; i < concurrent; i++) for (const src of sources) open(src);
  return {
    get opened() { return opened; },
    get closedByServer() { return closedByServer; },
    /** Socket errors other than resets, by code (EMFILE: the test process ran out of descriptors: raise `ulimit -n`). */
    get errors() { return { ...errors }; },
    get held() { let n = 0; for (const s of sockets) if (!s.connecting && !s.destroyed) n++; return n; },
    stop() {
      stopped = true;
      clearInterval(refill);
      waiting.length = 0;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
