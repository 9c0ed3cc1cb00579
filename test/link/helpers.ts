// A real CMK for the link suites: the CMK's own SQLite file in a temporary directory, the
// governance store with its change log, the audit log, the link (snapshot, streams, ingest)
// and the admin listener over HTTPS with mutual TLS on 127.0.0.1 port 0. Certificates come
// from a development PKI and from the CMK's own `cert issue` (core certificates included),
// and every request goes over a real TLS socket.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ensureDevPki, describeCertificate, type DevPkiFiles } from '../../src/server/devpki.ts';
import { loadCa } from '../../src/server/ca.ts';
import { openCmk, startCmkAdmin, type Cmk } from '../../src/server/cmk.ts';
import type { RunningAdminServer } from '../../src/server/admin.ts';
import { silentLogger } from '../../src/log/index.ts';

export interface CertFiles { cert: string; key: string }

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: IncomingMessage['headers'];
}

export interface CmkEnv {
  dir: string;
  pki: DevPkiFiles;
  cmk: Cmk;
  server: RunningAdminServer;
  port: number;
  admin: CertFiles;
  call(who: CertFiles, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  /** Issues a core certificate (role core) through the admin API; returns its files. */
  issueCore(region: string, node: string): Promise<CertFiles & { serial: string; fingerprint: string }>;
  stream(who: CertFiles, path: string, headers?: Record<string, string>): Promise<SseClient>;
  close(): Promise<void>;
}

export interface SseEvent { event: string; data: string; id?: string; receivedAt: number }

/** A test's SSE reader over a real HTTPS response (WHATWG HTML §9.2.6, the parts the CMK writes). */
export class SseClient {
  readonly events: SseEvent[] = [];
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(readonly res: IncomingMessage) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.buf += chunk;
      let i: number;
      while ((i = this.buf.indexOf('\n\n')) !== -1) {
        const block = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        const e: SseEvent = { event: 'message', data: '', receivedAt: performance.now() };
        let any = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const f = line.slice(0, c);
          const v = line.slice(c + 1).replace(/^ /, '');
          if (f === 'event') e.event = v;
          else if (f === 'data') e.data += v;
          else if (f === 'id') e.id = v;
          any = true;
        }
        if (any) this.events.push(e);
      }
      this.notify();
    });
    const end = () => { this.closed = true; this.notify(); };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  changes(): Array<{ seq: number; entity: string; op: string; tenant?: string; value?: any; key?: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.events.filter((e) => e.event === 'change').map((e) => JSON.parse(e.data));
  }

  /** Waits until `pred` holds over the events received so far (generous timeout: a loaded 2-core box). */
  async until(pred: (c: SseClient) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (this.closed) throw new Error(`stream closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.event + ':' + (e.id ?? '')))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  close(): void {
    this.res.destroy();
  }
}

export async function startCmkEnv(opts: { changeRetention?: number; heartbeatMs?: number; databaseUrl?: string } = {}): Promise<CmkEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-cmk-'));
  const { files: pki } = await ensureDevPki(join(dir, 'certs'));
  const cmk = await openCmk({
    dataDir: dir, logger: silentLogger(), bootstrapClientCertFile: pki.clientCert, auditGroupCommit: { maxRecords: 1 },
    ...(opts.changeRetention !== undefined ? { changeRetention: opts.changeRetention } : {}),
    ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
    // The CMK on PostgreSQL (issue 10 §4) when a database is given, else cmk.db in `dir`.
    ...(opts.databaseUrl !== undefined ? { databaseUrl: opts.databaseUrl } : {}),
  });
  const ca = await loadCa(pki.caCert, pki.caKey);
  const server = await startCmkAdmin(cmk, {
    listen: { host: '127.0.0.1', port: 0 },
    tls: { caFile: pki.caCert, certFile: pki.serverCert, keyFile: pki.serverKey },
    ca, logger: silentLogger(),
  });
  const port = server.address().port;
  const caPem = readFileSync(pki.caCert);
  const admin = { cert: pki.clientCert, key: pki.clientKey };

  const open = (who: CertFiles, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<IncomingMessage> => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const o: RequestOptions = {
      host: '127.0.0.1', port, method, path, ca: caPem, cert: readFileSync(who.cert), key: readFileSync(who.key), agent: false,
      headers: { ...(text !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) } : {}), ...headers },
    };
    return new Promise((resolve, reject) => {
      const req = httpsRequest(o, resolve);
      req.on('error', reject);
      req.end(text);
    });
  };

  const env: CmkEnv = {
    dir, pki, cmk, server, port, admin,
    async call(who, method, path, body, headers = {}) {
      const res = await open(who, method, path, body, headers);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      return { status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined };
    },
    async issueCore(region, node) {
      const r = await env.call(admin, 'POST', '/v1/certificates', { role: 'core', region, node });
      if (r.status !== 201) throw new Error(`cert issue failed: ${JSON.stringify(r.body)}`);
      const cert = join(dir, `core.${region}.${node}.crt`);
      const key = join(dir, `core.${region}.${node}.key`);
      writeFileSync(cert, r.body.certificate.pem);
      writeFileSync(key, r.body.privateKeyPem, { mode: 0o600 });
      return { cert, key, serial: r.body.certificate.serial, fingerprint: r.body.certificate.fingerprint };
    },
    async stream(who, path, headers = {}) {
      const res = await open(who, 'GET', path, undefined, headers);
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        const err = new Error(`stream refused: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8')}`) as Error & { status?: number };
        err.status = res.statusCode;
        throw err;
      }
      return new SseClient(res);
    },
    async close() {
      await server.close();
      await cmk.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

export { describeCertificate };
