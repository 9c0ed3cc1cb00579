// The metrics listener (issue 14 §2): GET /metrics (Prometheus text format), /healthz (the
// process answers) and /readyz (it can serve: store open, a tenant unsealed or none
// configured, audit writable), on an address of its own (config metrics.listen).
//
// Why its own listener and not the admin API's: the admin API asks every caller for a
// client certificate of a registered identity, and a Prometheus scraper or a Kubernetes
// probe is not one. Here the operator chooses: plain HTTP (metrics.tls false, for a scraper
// on a private network), HTTPS, or HTTPS with any client certificate of the CA. Nothing it
// answers is secret (src/server/metrics.ts says what the labels hold; readiness says counts
// and conditions, never tenant names or keys), so no identity check is needed beyond that.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Readiness {
  ready: boolean;
  checks: HealthCheck[];
}

export interface MetricsServerOptions {
  listen: { host: string; port: number };
  /** undefined: plain HTTP. */
  tls?: { caFile: string; certFile: string; keyFile: string; clientCertificate: boolean };
  /** The exposition text (this process's registry, or the workers' aggregated). */
  metrics(): Promise<{ contentType: string; body: string }>;
  readiness(): Promise<Readiness>;
  logger: Logger;
}

export interface RunningMetricsServer {
  address(): { host: string; port: number };
  /** `http` or `https`, for URLs in banners and tests. */
  readonly scheme: 'http' | 'https';
  close(): Promise<void>;
}

/** A scrape or probe must arrive whole within this (slow-loris on the metrics port). */
const REQUEST_TIMEOUT_MS = 10_000;
/** Scrapers and probes, not traffic. */
const MAX_CONNECTIONS = 64;
/** A readiness check that does not answer within this counts as failed (a hung database). */
export const READINESS_TIMEOUT_MS = 3_000;

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Runs the checks with a deadline; one that throws or hangs is a failed check, not a crash. */
export async function withDeadline(check: () => Promise<Readiness>, ms = READINESS_TIMEOUT_MS): Promise<Readiness> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check(),
      new Promise<Readiness>((resolve) => {
        timer = setTimeout(() => resolve({ ready: false, checks: [{ name: 'readiness', ok: false, detail: `the checks did not answer within ${ms} ms` }] }), ms);
      }),
    ]);
  } catch (e) {
    return { ready: false, checks: [{ name: 'readiness', ok: false, detail: `the checks failed: ${(e as Error).message}` }] };
  } finally {
    clearTimeout(timer);
  }
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<RunningMetricsServer> {
  const log = opts.logger.child({ component: 'metrics' });
  const started = Date.now();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      json(res, 405, { error: `method ${req.method} not allowed; use GET` });
      return;
    }
    if (path === '/healthz') {
      // Alive: this process answers. Nothing is checked on purpose; a liveness probe that
      // failed on a sealed tenant would have the orchestrator restart a healthy server.
      json(res, 200, { status: 'alive', uptimeSeconds: Math.round((Date.now() - started) / 1000) });
      return;
    }
    if (path === '/readyz') {
      void withDeadline(() => opts.readiness()).then((r) => json(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks }));
      return;
    }
    if (path === '/metrics') {
      opts.metrics().then(
        (m) => {
          res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(m.body) });
          res.end(m.body);
        },
        (e: unknown) => {
          log.warn({ event: 'metrics_failed', err: (e as Error).message }, 'could not gather the metrics');
          json(res, 503, { error: `metrics unavailable: ${(e as Error).message}` });
        },
      );
      return;
    }
    json(res, 404, { error: `no such path ${path}; try /metrics, /healthz or /readyz` });
  };
  let server: Server;
  if (opts.tls !== undefined) {
    const read = (what: string, p: string) => {
      try {
        return readFileSync(p);
      } catch (e) {
        throw new Error(`cannot read the TLS ${what} ${p} for the metrics listener: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    };
    server = createHttpsServer({
      ca: read('CA file', opts.tls.caFile), cert: read('certificate', opts.tls.certFile), key: read('private key', opts.tls.keyFile),
      minVersion: 'TLSv1.2', requestCert: opts.tls.clientCertificate, rejectUnauthorized: opts.tls.clientCertificate,
    }, handler);
  } else {
    server = createHttpServer(handler);
  }
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen on ${opts.listen.host}:${opts.listen.port} for metrics: ${e.message}`)));
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => log.error({ err }, 'metrics listener error'));
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const scheme = opts.tls !== undefined ? 'https' : 'http';
  log.info({ event: 'metrics_listening', host: addr.address, port: addr.port, scheme }, 'metrics and health listener ready');
  return {
    address: () => ({ host: addr.address, port: addr.port }),
    scheme,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
