// The mutual-TLS listener (issue 3 §1; KMIP profiles: TLS on port 5696). TLS 1.2 and 1.3
// only; a client certificate is required and verified against the configured CA before
// any KMIP byte is read.
//
// Admission (issue 16 §4, src/server/admission.ts): a connection is pre-authentication
// until its handshake completes. Pre-auth connections have their own, smaller budget and a
// per-source one, an absolute handshake deadline from accept, and are evicted (oldest of
// the busiest source first) when the server is full; authenticated connections keep
// maxConnections and are never evicted. Refused handshakes are `auth-failure` audit
// records, rate-limited per source address (src/server/auth-failures.ts).
//
// The same listener serves KMIP over HTTPS (`protocol: 'https'`, issue 13 §3,
// src/server/http-kmip.ts): the TLS settings, admission, handshake deadline, auth-failure
// audit and identity are these, only what runs on an authenticated connection differs.
// `tls.profile` (src/server/tls-profile.ts) restricts both to a Suite B profile.
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket, type Server, type TlsOptions } from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_PIPELINE_DEPTH, DEFAULT_MAX_PRE_AUTH_CONNECTIONS, DEFAULT_MAX_PRE_AUTH_PER_SOURCE, DEFAULT_MESSAGE_TIMEOUT_MS,
} from '../config/defaults.ts';
import type { OpenKcmMetrics } from './metrics.ts';
import type { AuditSink, KmipEngine } from './executor.ts';
import { KmipConnection, identityFromCertificate } from './connection.ts';
import { httpKmipHandler } from './http-kmip.ts';
import { checkCertificateForProfile, tlsProfileOptions, type TlsProfile } from './tls-profile.ts';
import type { ClientIdentity } from '../operations/types.ts';
import { Admission, sourceKey, type AdmissionRefusal } from './admission.ts';
import { AuthFailureAuditor, type AuthFailureAuditOptions, type AuthFailureAuditStats } from './auth-failures.ts';

export type PemSource = { caFile: string; certFile: string; keyFile: string } | { ca: string | Buffer; cert: string | Buffer; key: string | Buffer };

export interface ListenerConfig {
  listen: { host: string; port: number };
  /** PEM material, and the TLS profile (default none: node's TLS 1.2/1.3 defaults). */
  tls: PemSource & { profile?: TlsProfile };
  /** What the port speaks: binary TTLV frames (default) or KMIP over HTTPS (`POST /kmip`). */
  protocol?: 'ttlv' | 'https';
  limits?: Partial<{
    maxMessageSize: number;
    idleTimeoutMs: number;
    handshakeTimeoutMs: number;
    maxConnections: number;
    maxPipelineDepth: number;
    /** Connections whose TLS handshake has not completed (default min(256, maxConnections)). */
    maxPreAuthConnections: number;
    /** Of those, from one source address or IPv6 /64 (default min(32, maxPreAuthConnections)). */
    maxPreAuthPerSource: number;
    /** A message begun must be complete within this (default 30 s). */
    messageTimeoutMs: number;
  }>;
  /** Rate limits of the auth-failure audit records (defaults: src/server/auth-failures.ts). */
  authFailureAudit?: Partial<Pick<AuthFailureAuditOptions, 'perSource' | 'windowMs' | 'maxSources' | 'maxRecordsPerWindow'>>;
}

/** What the listener holds and has refused since it started (tests, status, metrics). */
export interface ConnectionStats {
  /** Open connections: pre-auth + authenticated. */
  open: number;
  preAuth: number;
  authenticated: number;
  /** Pre-auth connections of the busiest source now. */
  busiestSourcePreAuth: number;
  /** Connections refused at accept, by the limit they hit. */
  refused: Record<AdmissionRefusal, number>;
  /** Pre-auth connections closed to make room for a new one. */
  evicted: number;
  /** Handshakes not finished by their deadline. */
  handshakeTimeouts: number;
  /** Handshakes refused (certificate, protocol), timeouts included. */
  handshakeFailures: number;
  authFailureAudit: AuthFailureAuditStats;
}

export interface RunningServer {
  address(): { host: string; port: number };
  /** Authenticated KMIP connections open now. */
  connectionCount(): number;
  connectionStats(): ConnectionStats;
  /** Stops accepting, lets open connections answer what they received, then closes them (forcibly after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** Once the grace period of close() is over, connections still open are destroyed. */
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

export type ListenerLimits = Required<NonNullable<ListenerConfig['limits']>>;

/**
 * The limits with their defaults; throws a RangeError naming the key when they do not
 * fit together (the config loader reports the same with the source of each value).
 */
export function effectiveLimits(given: ListenerConfig['limits'] = {}): ListenerLimits {
  const maxConnections = given.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const maxPreAuthConnections = given.maxPreAuthConnections ?? Math.min(DEFAULT_MAX_PRE_AUTH_CONNECTIONS, maxConnections);
  const maxPreAuthPerSource = given.maxPreAuthPerSource ?? Math.min(DEFAULT_MAX_PRE_AUTH_PER_SOURCE, maxPreAuthConnections);
  const l: ListenerLimits = {
    maxMessageSize: given.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES,
    idleTimeoutMs: given.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    handshakeTimeoutMs: given.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    maxConnections,
    maxPipelineDepth: given.maxPipelineDepth ?? DEFAULT_MAX_PIPELINE_DEPTH,
    maxPreAuthConnections,
    maxPreAuthPerSource,
    messageTimeoutMs: given.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS,
  };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`listener limit ${k}: expected a positive whole number, got ${v}`);
  }
  if (l.maxPreAuthConnections > l.maxConnections) {
    throw new RangeError(`listener limit maxPreAuthConnections (${l.maxPreAuthConnections}) must not exceed maxConnections (${l.maxConnections}); lower it or raise maxConnections`);
  }
  if (l.maxPreAuthPerSource > l.maxPreAuthConnections) {
    throw new RangeError(`listener limit maxPreAuthPerSource (${l.maxPreAuthPerSource}) must not exceed maxPreAuthConnections (${l.maxPreAuthConnections}); lower it or raise maxPreAuthConnections`);
  }
  return l;
}

function readPem(tls: PemSource) {
  if ('ca' in tls) return { ca: tls.ca, cert: tls.cert, key: tls.key };
  const read = (what: string, p: string) => {
    try {
      return readFileSync(p);
    } catch (e) {
      throw new Error(`cannot read the TLS ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return { ca: read('CA file', tls.caFile), cert: read('certificate', tls.certFile), key: read('private key', tls.keyFile) };
}

/** Refusals and evictions are logged one by one at debug; at warn, a summary at most this often (a flood must not flood the log). */
const PRESSURE_LOG_INTERVAL_MS = 10_000;

type Fate = 'evicted' | 'handshake-timeout' | 'shutdown';
interface Tracked {
  raw: Socket;
  source: string;
  remote: string;
  deadline: NodeJS.Timeout | undefined;
  /** Why the listener itself closed it, when it did. */
  fate: Fate | undefined;
  /** An auth-failure was already reported for it (the deadline reports before tlsClientError fires). */
  reported: boolean;
}

/** What a refused handshake was, for the audit record; undefined = not an authentication failure. */
function classifyHandshakeFailure(err: Error & { code?: string }, tls: TLSSocket, t: Tracked | undefined): { category: string; detail: string } | undefined {
  if (t?.fate === 'evicted' || t?.fate === 'shutdown') return undefined; // our own decision, logged as such
  if (t?.fate === 'handshake-timeout' || err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return { category: 'handshake-timeout', detail: 'TLS handshake not completed in time' };
  const authErr = (tls as TLSSocket & { authorizationError?: Error | string | null }).authorizationError;
  if (authErr) {
    // With rejectUnauthorized the verification result is set and the socket destroyed (a
    // certificate of another CA: UNABLE_TO_VERIFY_LEAF_SIGNATURE; expired: CERT_HAS_EXPIRED…).
    const code = typeof authErr === 'string' ? authErr : (authErr as { code?: string }).code ?? authErr.message;
    return { category: `certificate-rejected ${code}`, detail: `client certificate rejected (${code})` };
  }
  if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return { category: 'no-certificate', detail: 'no client certificate presented' };
  // The peer went away before finishing (port scans, TCP health checks): not an attempt to authenticate.
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return undefined;
  const code = err.code ?? 'TLS_ERROR';
  return { category: `protocol-error ${code}`, detail: `TLS handshake failed (${code})` };
}

export async function startServer(
  config: ListenerConfig,
  runtime: { engine: KmipEngine; logger: Logger; audit?: AuditSink; metrics?: OpenKcmMetrics },
): Promise<RunningServer> {
  const metrics = runtime.metrics;
  const protocol = config.protocol ?? 'ttlv';
  const log = runtime.logger.child({ component: protocol === 'https' ? 'https-listener' : 'listener' });
  const limits = effectiveLimits(config.limits);
  const pem = readPem(config.tls);
  // A certificate the profile cannot use is refused here, in one line, not at every handshake.
  checkCertificateForProfile(config.tls.profile, pem.cert, pem.key);
  const connections = new Set<KmipConnection>();
  const admission = new Admission<Socket>(limits);
  const tracked = new Map<Socket, Tracked>();
  /**
   * Every connection's entry, also after its TCP socket closed: node emits tlsClientError
   * for a rejected certificate only after the socket's close, when `tracked` has let go.
   */
  const entryOf = new WeakMap<Socket, Tracked>();
  /** The same entries by remote address:port, should a TLS socket not expose its TCP socket. */
  const byRemote = new Map<string, Tracked>();
  const auditor = new AuthFailureAuditor(runtime.audit, {
    ...config.authFailureAudit, summaryOperation: 'tls.handshake.summary', what: 'refused TLS handshakes', log,
  });
  const counters = { refused: { maxConnections: 0, maxPreAuthPerSource: 0 } as Record<AdmissionRefusal, number>, evicted: 0, handshakeTimeouts: 0, handshakeFailures: 0 };
  let pressure = { at: 0, refused: 0, evicted: 0 };
  let nextId = 1;
  let stopping = false;

  const notePressure = () => {
    const now = Date.now();
    if (now - pressure.at < PRESSURE_LOG_INTERVAL_MS) return;
    const refused = counters.refused.maxConnections + counters.refused.maxPreAuthPerSource;
    log.warn({
      event: 'connection_pressure', refused: refused - pressure.refused, evicted: counters.evicted - pressure.evicted,
      preAuth: admission.preAuthCount, authenticated: admission.authenticatedCount, limits: { maxConnections: limits.maxConnections, maxPreAuthConnections: limits.maxPreAuthConnections, maxPreAuthPerSource: limits.maxPreAuthPerSource },
    }, 'connection budgets full: refusing or evicting pre-authentication connections');
    pressure = { at: now, refused, evicted: counters.evicted };
  };

  const reportAuthFailure = (t: Tracked | undefined, remote: string, source: string, category: string, detail: string, err?: Error) => {
    counters.handshakeFailures++;
    metrics?.handshakeFailure(category);
    if (t) t.reported = true;
    const outcome = auditor.report(source, category, {
      kind: 'auth-failure', identity: `ip:${source}`, operation: 'tls.handshake', result: 'failure', reason: 'AuthenticationNotSuccessful',
      detail: `${detail}; from ${remote}`,
    });
    const fields = { event: 'handshake_failed', remote, source, category, audited: outcome, ...(err ? { err } : {}) };
    if (outcome === 'recorded') log.info(fields, 'TLS handshake refused');
    else log.debug(fields, 'TLS handshake refused');
  };

  const tlsOptions: TlsOptions = {
    ...pem,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    // The deadline set at accept (below) is the one that acts: it frees the pre-auth slot
    // and writes the audit record. Node's own timer stays as a backstop only.
    handshakeTimeout: limits.handshakeTimeoutMs + 1_000,
    ...tlsProfileOptions(config.tls.profile),
  };
  // HTTPS: per authenticated socket, its identity and its log; the open ones for close().
  const httpSockets = new Map<TLSSocket, { identity: ClientIdentity; log: Logger; inFlight: number; messages: number; bytesIn: number; bytesOut: number; opened: number }>();
  const httpEntry = (req: IncomingMessage) => {
    const socket = req.socket as TLSSocket;
    let e = httpSockets.get(socket);
    if (e === undefined) {
      // Not seen at secureConnection (should not happen): derive it the same way.
      const identity = runtime.engine.identify(identityFromCertificate(socket.getPeerCertificate(false)));
      e = { identity, log: log.child({ conn: nextId++, identity }), inFlight: 0, messages: 0, bytesIn: 0, bytesOut: 0, opened: Date.now() };
      httpSockets.set(socket, e);
      socket.once('close', () => { httpSockets.delete(socket); runtime.engine.connectionEnded(identity, stopping ? 'shutdown' : 'peer'); });
    }
    return e;
  };
  const server: Server = protocol === 'https'
    ? createHttpsServer({
      ...tlsOptions,
      // Between two requests of a kept-alive connection: the idle timeout of the TTLV port.
      keepAliveTimeout: limits.idleTimeoutMs,
      // A request begun must be whole within the message deadline (slowloris), headers included.
      requestTimeout: limits.messageTimeoutMs,
      headersTimeout: limits.messageTimeoutMs,
    }, (req, res) => {
      const e = httpEntry(req);
      e.inFlight++;
      res.once('close', () => {
        e.inFlight--;
        // Shutting down: this connection ends with its answer.
        if (stopping && e.inFlight === 0) (req.socket as TLSSocket).end();
      });
      if (stopping) res.setHeader('Connection', 'close');
      handleHttp(req, res);
    })
    : createServer(tlsOptions);
  // An operation may run longer than a TCP idle period: node's per-socket inactivity timer
  // would cut it; keepAliveTimeout and requestTimeout above are the limits that apply.
  if (protocol === 'https') (server as ReturnType<typeof createHttpsServer>).setTimeout(0);
  const handleHttp = httpKmipHandler({
    engine: runtime.engine,
    maxBodyBytes: limits.maxMessageSize,
    identityOf: (req) => httpEntry(req).identity,
    logOf: (req) => httpEntry(req).log,
    answered: (req, bytesIn, bytesOut) => {
      const e = httpEntry(req);
      e.messages++;
      e.bytesIn += bytesIn;
      e.bytesOut += bytesOut;
    },
  });
  server.on('connection', (raw: Socket) => {
    const remote = `${raw.remoteAddress}:${raw.remotePort}`;
    const source = sourceKey(raw.remoteAddress);
    if (stopping) { raw.destroy(); return; }
    const d = admission.admit(raw, source);
    if (!d.admitted) {
      counters.refused[d.limit]++;
      metrics?.connectionRefused(d.limit);
      log.debug({ event: 'connection_refused', remote, source, limit: d.limit }, 'connection refused at accept');
      notePressure();
      raw.destroy();
      return;
    }
    if (d.evict !== undefined) {
      const v = tracked.get(d.evict);
      counters.evicted++;
      metrics?.connectionRefused(`evicted:${d.evictedBecause ?? 'preAuth'}`);
      log.debug({ event: 'connection_evicted', remote: v?.remote, source: v?.source, limit: d.evictedBecause, for: remote }, 'pre-authentication connection evicted to make room');
      notePressure();
      if (v) { v.fate = 'evicted'; clearTimeout(v.deadline); }
      d.evict.destroy();
    }
    const t: Tracked = { raw, source, remote, deadline: undefined, fate: undefined, reported: false };
    t.deadline = setTimeout(() => {
      // An absolute deadline from accept (DEFAULT_HANDSHAKE_TIMEOUT_MS says why).
      t.fate = 'handshake-timeout';
      counters.handshakeTimeouts++;
      reportAuthFailure(t, remote, source, 'handshake-timeout', `TLS handshake not completed within ${limits.handshakeTimeoutMs} ms (limit handshakeTimeoutMs)`);
      raw.destroy();
    }, limits.handshakeTimeoutMs);
    tracked.set(raw, t);
    entryOf.set(raw, t);
    byRemote.set(remote, t);
    raw.once('close', () => {
      clearTimeout(t.deadline);
      tracked.delete(raw);
      if (byRemote.get(remote) === t) byRemote.delete(remote);
      admission.release(raw);
    });
  });
  const trackedOf = (socket: TLSSocket): Tracked | undefined => {
    // A server-side TLSSocket keeps the TCP socket it wraps as _parent (node's _tls_wrap.js).
    const parent = (socket as TLSSocket & { _parent?: unknown })._parent;
    return (parent ? entryOf.get(parent as Socket) : undefined) ?? byRemote.get(`${socket.remoteAddress}:${socket.remotePort}`);
  };
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const t = trackedOf(socket);
    if (t?.reported) { socket.destroy(); return; }
    const remote = t?.remote ?? `${socket.remoteAddress}:${socket.remotePort}`;
    const c = classifyHandshakeFailure(err, socket, t);
    if (c === undefined) log.debug({ event: 'handshake_abandoned', remote, fate: t?.fate, err }, 'connection closed before the TLS handshake completed');
    else reportAuthFailure(t, remote, t?.source ?? sourceKey(socket.remoteAddress), c.category, c.detail, err);
    // With a listener on this event node leaves the socket open (a handshake timeout would
    // otherwise hold it forever): close it here.
    socket.destroy();
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const t = trackedOf(socket);
    if (socket.destroyed || t === undefined || t.fate !== undefined || !admission.authenticated(t.raw)) {
      // Evicted or timed out while the handshake was finishing.
      socket.destroy();
      return;
    }
    clearTimeout(t.deadline);
    if (protocol === 'https') {
      // The HTTP server (registered first) already reads this socket; we only attach who it is.
      try {
        const identity = runtime.engine.identify(identityFromCertificate(socket.getPeerCertificate(false)));
        const e = { identity, log: log.child({ conn: nextId++, identity }), inFlight: 0, messages: 0, bytesIn: 0, bytesOut: 0, opened: Date.now() };
        httpSockets.set(socket, e);
        const remote = `${socket.remoteAddress}:${socket.remotePort}`;
        socket.once('close', () => {
          httpSockets.delete(socket);
          // The connection's identity ends here, as on the TTLV port (connection.ts): a
          // gateway's status watch held on it is answered and its close audited.
          runtime.engine.connectionEnded(identity, stopping ? 'shutdown' : 'peer');
          // One line per connection, as on the TTLV port (issue 3 §5).
          e.log.info({ event: 'connection', remote, transport: 'https', messages: e.messages, bytesIn: e.bytesIn, bytesOut: e.bytesOut, durationMs: Date.now() - e.opened }, 'connection closed');
        });
      } catch (err) {
        log.error({ err }, 'could not set up a connection');
        socket.destroy();
      }
      return;
    }
    try {
      const conn = new KmipConnection(socket, runtime.engine, log.child({ conn: nextId++ }), limits);
      connections.add(conn);
      void conn.closed.then(() => connections.delete(conn));
    } catch (e) {
      log.error({ err: e }, 'could not set up a connection');
      socket.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(new Error(`cannot listen on ${config.listen.host}:${config.listen.port}: ${e.message}`));
    server.once('error', onError);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', onError);
      server.on('error', (err) => log.error({ err }, 'listener error'));
      resolve();
    });
  }).catch((e) => { auditor.close(); throw e; });
  const addr = server.address() as AddressInfo;
  log.info({ event: 'listening', host: addr.address, port: addr.port, protocol, tlsProfile: config.tls.profile ?? 'none', limits },
    protocol === 'https' ? `KMIP over HTTPS listener ready (POST /kmip)` : 'KMIP listener ready');
  // The connection gauges are the KMIP (TTLV) port's; the HTTPS port's handshake failures and
  // refusals are counted above, its requests by the engine.
  if (protocol === 'ttlv') metrics?.watchConnections(() => ({ preAuth: admission.preAuthCount, authenticated: admission.authenticatedCount }));

  let closing: Promise<void> | undefined;
  return {
    address: () => ({ host: addr.address, port: addr.port }),
    connectionCount: () => connections.size + httpSockets.size,
    connectionStats: () => ({
      open: admission.open,
      preAuth: admission.preAuthCount,
      authenticated: admission.authenticatedCount,
      busiestSourcePreAuth: admission.busiestSource,
      refused: { ...counters.refused },
      evicted: counters.evicted,
      handshakeTimeouts: counters.handshakeTimeouts,
      handshakeFailures: counters.handshakeFailures,
      authFailureAudit: auditor.stats(),
    }),
    close(graceMs = DEFAULT_CLOSE_GRACE_MS) {
      closing ??= (async () => {
        stopping = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Nothing was served on a connection still in its handshake: close it now.
        for (const t of [...tracked.values()]) {
          if (!admission.isPreAuth(t.raw)) continue;
          t.fate = 'shutdown';
          clearTimeout(t.deadline);
          t.raw.destroy();
        }
        for (const c of connections) c.shutdown();
        // HTTPS: an idle kept-alive connection closes now; a busy one after its answer.
        const httpClosed = [...httpSockets.keys()].map((s) => new Promise<void>((resolve) => { if (s.closed) resolve(); else s.once('close', () => resolve()); }));
        for (const [s, e] of httpSockets) {
          // A gateway's held watch Poll is answered now (as connections' shutdown() does on
          // TTLV), so its connection closes with that answer instead of at the grace period.
          runtime.engine.connectionEnded(e.identity, 'shutdown');
          if (e.inFlight === 0) s.end();
        }
        const all = Promise.all([...[...connections].map((c) => c.closed), ...httpClosed]);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([all, new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); })]);
        clearTimeout(timer);
        for (const c of connections) c.destroy();
        for (const s of httpSockets.keys()) s.destroy();
        // A destroyed socket's 'close' event comes a tick later: it is no connection of ours now.
        httpSockets.clear();
        await stopped;
        auditor.close();
        log.info({ event: 'stopped' }, 'KMIP listener stopped');
      })();
      return closing;
    },
  };
}
