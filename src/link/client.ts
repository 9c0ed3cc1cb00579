// The core's side of the CMK ⇄ core link (issue 10 §2; wire contract in src/link/protocol.ts):
// HTTPS with mutual TLS to the CMK's admin listener. Four calls: the snapshot, the change
// stream (Server-Sent Events, resumable with `after`), audit shipping and node status.
// Every failure is a LinkError that says what to fix; nothing here retries — the follower
// (src/link/follower.ts) and the audit shipper decide when to try again.
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { SseParser, type SseEvent } from './sse.ts';
import type { LinkAuditAck, LinkAuditBatch, LinkNodeStatus, LinkSnapshot } from './protocol.ts';

/** A request (connect, TLS, answer) that takes longer fails: a CMK that hangs is a CMK that is down. */
export const LINK_REQUEST_TIMEOUT_MS = 10_000;
/** Largest JSON answer read (a snapshot of a big region is some MB; more is a broken peer). */
export const MAX_LINK_RESPONSE_BYTES = 64 << 20;

export interface LinkTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

export interface LinkClientOptions {
  /** https://host:port of the CMK's admin listener. */
  url: string;
  tls: LinkTls;
  requestTimeoutMs?: number;
}

/** Why a link call failed. `kind` tells the caller what to say and whether to retry. */
export type LinkErrorKind = 'unreachable' | 'tls' | 'refused' | 'gone' | 'http' | 'protocol';

export class LinkError extends Error {
  override readonly name = 'LinkError';
  constructor(readonly kind: LinkErrorKind, message: string, readonly status?: number, readonly hint?: string) {
    super(message);
  }
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_OSSL)/;

function transportError(url: string, e: unknown): LinkError {
  if (e instanceof LinkError) return e;
  const err = e as NodeJS.ErrnoException;
  const code = err.code ?? '';
  if (TLS_CODES.test(code) || /certificate|handshake|alert/i.test(err.message ?? '')) {
    return new LinkError('tls', `TLS with the CMK at ${url} failed: ${err.message}`, undefined,
      'check that --ca is the CA that signed the CMK certificate and that the core certificate was issued by the CMK (kmipctl cert issue --role core --region …)');
  }
  return new LinkError('unreachable', `the CMK at ${url} does not answer: ${code || err.message}`, undefined, 'check --cmk (host and port of the CMK admin listener) and that the CMK runs');
}

/** The admin API's error shape `{ error: { code, message, hint } }` → LinkError. */
function httpError(status: number, body: string, what: string): LinkError {
  let message = `HTTP ${status}`;
  let hint: string | undefined;
  try {
    const j = JSON.parse(body) as { error?: { code?: string; message?: string; hint?: string } };
    if (j.error?.message) message = j.error.message;
    if (j.error?.hint) hint = j.error.hint;
  } catch { /* not JSON: keep the status */ }
  if (status === 401 || status === 403) {
    return new LinkError('refused', `the CMK refused this core (${what}, HTTP ${status}): ${message}`, status,
      hint ?? 'issue a certificate of role core for this region: kmipctl cert issue --role core --region <region>');
  }
  if (status === 410) return new LinkError('gone', `the CMK no longer holds the changes asked for (${what}): ${message}`, status);
  return new LinkError('http', `the CMK answered HTTP ${status} to ${what}: ${message}`, status, hint);
}

export class LinkClient {
  private readonly base: URL;
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(private readonly opts: LinkClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new LinkError('protocol', `--cmk ${JSON.stringify(opts.url)} is not a URL; expected https://host:port`);
    }
    if (u.protocol !== 'https:') throw new LinkError('protocol', `--cmk ${opts.url}: the link is mutual TLS, expected an https:// URL`);
    this.base = u;
    this.timeoutMs = opts.requestTimeoutMs ?? LINK_REQUEST_TIMEOUT_MS;
    this.agent = new Agent({ keepAlive: true, maxSockets: 4, ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' });
  }

  get url(): string {
    return this.base.origin;
  }

  private send(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string): Promise<IncomingMessage> {
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent, headers: body !== undefined ? { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : headers });
      const timer = setTimeout(() => req.destroy(new LinkError('unreachable', `the CMK at ${this.base.origin} did not answer ${method} ${url.pathname} within ${this.timeoutMs} ms`)), this.timeoutMs);
      req.once('response', (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      req.once('error', (e) => {
        clearTimeout(timer);
        reject(transportError(this.base.origin, e));
      });
      req.end(body);
    });
  }

  private async readBody(res: IncomingMessage): Promise<string> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of res) {
      n += (c as Buffer).length;
      if (n > MAX_LINK_RESPONSE_BYTES) {
        res.destroy();
        throw new LinkError('protocol', `the CMK answer is larger than ${MAX_LINK_RESPONSE_BYTES} bytes`);
      }
      parts.push(c as Buffer);
    }
    return Buffer.concat(parts).toString('utf8');
  }

  private async json<T>(method: 'GET' | 'POST', path: string, what: string, body?: unknown): Promise<T | undefined> {
    const res = await this.send(method, path, { accept: 'application/json' }, body === undefined ? undefined : JSON.stringify(body));
    let text: string;
    try {
      text = await this.readBody(res);
    } catch (e) {
      throw transportError(this.base.origin, e);
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw httpError(status, text, what);
    if (status === 204 || text === '') return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LinkError('protocol', `the CMK answered ${what} with something that is not JSON`);
    }
  }

  async snapshot(): Promise<LinkSnapshot> {
    const s = await this.json<LinkSnapshot>('GET', '/v1/link/snapshot', 'the snapshot request');
    if (s === undefined || typeof s.seq !== 'number' || !Array.isArray(s.tenants)) throw new LinkError('protocol', 'the CMK answered the snapshot request without a snapshot');
    return s;
  }

  async shipAudit(batch: LinkAuditBatch): Promise<LinkAuditAck> {
    const ack = await this.json<LinkAuditAck>('POST', '/v1/link/audit', 'audit shipping', batch);
    if (ack === undefined || typeof ack.acceptedThrough !== 'number') throw new LinkError('protocol', 'the CMK answered audit shipping without an acknowledgement');
    return ack;
  }

  async postStatus(status: LinkNodeStatus): Promise<void> {
    await this.json<unknown>('POST', '/v1/link/status', 'the node status', status);
  }

  /**
   * Follows the change stream after `after`. Resolves when the stream ends, rejects on an
   * error; `onOpen` runs once the CMK accepted the request, `onEvent` for each event (the
   * caller serialises its own work). An `idleMs` without a byte (heartbeats come every
   * LINK_HEARTBEAT_MS) counts as a dead link: half-open TCP connections never end by themselves.
   */
  async follow(after: number, handlers: { onOpen(): void; onEvent(e: SseEvent): void }, opts: { idleMs: number; signal?: AbortSignal }): Promise<void> {
    const res = await this.send('GET', `/v1/link/changes?after=${after}`, { accept: 'text/event-stream', 'last-event-id': String(after) });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const text = await this.readBody(res).catch(() => '');
      throw httpError(status, text, 'the change stream');
    }
    if (!String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      res.destroy();
      throw new LinkError('protocol', `the CMK answered the change stream with ${String(res.headers['content-type'])}, not text/event-stream`);
    }
    handlers.onOpen();
    const parser = new SseParser((e) => handlers.onEvent(e));
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => res.destroy(new LinkError('unreachable', `the change stream of ${this.base.origin} was silent for ${opts.idleMs} ms`)), opts.idleMs);
      };
      const onAbort = () => res.destroy(new LinkError('unreachable', 'stopped'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (e?: unknown) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (e === undefined) resolve();
        else reject(transportError(this.base.origin, e));
      };
      arm();
      res.on('data', (chunk: Buffer) => {
        arm();
        try {
          parser.push(chunk);
        } catch (e) {
          res.destroy(e instanceof Error ? new LinkError('protocol', e.message) : new Error(String(e)));
        }
      });
      res.once('end', () => done());
      res.once('error', (e) => done(e));
      res.once('close', () => done(res.complete ? undefined : new LinkError('unreachable', `the change stream of ${this.base.origin} was closed`)));
      if (opts.signal?.aborted) onAbort();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
