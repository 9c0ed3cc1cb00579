// The mutual-TLS listener (issue 3 §1; KMIP profiles: TLS on port 5696). TLS 1.2 and 1.3
// only; a client certificate is required and verified against the configured CA before
// any KMIP byte is read. Connections over the maximum are dropped at accept, before the
// handshake costs anything.
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import {
  DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_PIPELINE_DEPTH,
} from '../config/defaults.ts';
import type { KmipEngine } from './executor.ts';
import { KmipConnection } from './connection.ts';

export type PemSource = { caFile: string; certFile: string; keyFile: string } | { ca: string | Buffer; cert: string | Buffer; key: string | Buffer };

export interface ListenerConfig {
  listen: { host: string; port: number };
  tls: PemSource;
  limits?: Partial<{
    maxMessageSize: number;
    idleTimeoutMs: number;
    handshakeTimeoutMs: number;
    maxConnections: number;
    maxPipelineDepth: number;
  }>;
}

export interface RunningServer {
  address(): { host: string; port: number };
  /** Connections open now. */
  connectionCount(): number;
  /** Stops accepting, lets open connections answer what they received, then closes them (forcibly after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** Once the grace period of close() is over, connections still open are destroyed. */
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

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

export async function startServer(
  config: ListenerConfig,
  runtime: { engine: KmipEngine; logger: Logger },
): Promise<RunningServer> {
  const log = runtime.logger.child({ component: 'listener' });
  const limits = {
    maxMessageSize: config.limits?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES,
    idleTimeoutMs: config.limits?.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    handshakeTimeoutMs: config.limits?.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    maxConnections: config.limits?.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxPipelineDepth: config.limits?.maxPipelineDepth ?? DEFAULT_MAX_PIPELINE_DEPTH,
  };
  const pem = readPem(config.tls);
  const connections = new Set<KmipConnection>();
  let nextId = 1;

  const server: Server = createServer({
    ...pem,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    handshakeTimeout: limits.handshakeTimeoutMs,
  });
  // net.Server drops sockets over this count at accept and emits 'drop'.
  server.maxConnections = limits.maxConnections;
  server.on('drop', (d?: { remoteAddress?: string; remotePort?: number }) => {
    log.warn({ event: 'connection_refused', remote: d ? `${d.remoteAddress}:${d.remotePort}` : undefined, maxConnections: limits.maxConnections }, 'too many connections; dropped at accept');
  });
  server.on('tlsClientError', (err, socket) => {
    // No certificate, a certificate of another CA, TLS < 1.2, handshake timeout…
    log.info({ event: 'handshake_failed', remote: `${socket.remoteAddress}:${socket.remotePort}`, err }, 'TLS handshake refused');
    // With a listener on this event node leaves the socket open (a handshake timeout would
    // otherwise hold it forever): close it here.
    socket.destroy();
  });
  server.on('secureConnection', (socket: TLSSocket) => {
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
  });
  const addr = server.address() as AddressInfo;
  log.info({ event: 'listening', host: addr.address, port: addr.port, limits }, 'KMIP listener ready');

  let closing: Promise<void> | undefined;
  return {
    address: () => ({ host: addr.address, port: addr.port }),
    connectionCount: () => connections.size,
    close(graceMs = DEFAULT_CLOSE_GRACE_MS) {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of connections) c.shutdown();
        const all = Promise.all([...connections].map((c) => c.closed));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([all, new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); })]);
        clearTimeout(timer);
        for (const c of connections) c.destroy();
        await stopped;
        log.info({ event: 'stopped' }, 'KMIP listener stopped');
      })();
      return closing;
    },
  };
}
