// A KMIP client over mutual TLS, for integration tests, kmipctl, the conformance runner's
// --target mode and the benchmarks. It may import ttlv and kmip only (DESIGN.md §5).
// Requests may be pipelined: responses come back in request order on one connection, so
// each send() waits for the response at its position in the queue.
import { connect as tlsConnect, type TLSSocket, type ConnectionOptions } from 'node:tls';
import { decode } from '../ttlv/decode.ts';
import { encode } from '../ttlv/encode.ts';
import { TtlvFramer } from '../ttlv/framing.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { ResultStatus, ResultReason } from '../ttlv/generated/enumerations.ts';
import { structure, type Struct } from '../kmip/items.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import {
  buildRequestMessage, parseResponseMessage, type RequestHeaderOptions, type RequestBatchItemOptions,
  type ResponseBatchItem, type ResponseMessage,
} from '../kmip/message.ts';
import type { ProtocolVersion } from '../kmip/version.ts';

export interface KmipClientOptions {
  host: string;
  port: number;
  /** PEM (string or Buffer) of the CA that issued the server certificate. */
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
  /** Protocol version of messages built by request() (default 2.1). */
  version?: ProtocolVersion;
  /** SNI / name checked against the server certificate (default: host). */
  servername?: string;
  /** Largest response accepted (default 64 MiB). */
  maxResponseSize?: number;
  /** Per-request timeout in ms (default 30 s; 0 = none). */
  timeoutMs?: number;
  /** Extra TLS options (minVersion, maxVersion… for tests). */
  tls?: Partial<ConnectionOptions>;
  /**
   * Deadline of the TCP connection and TLS handshake in ms (default none). A server that
   * accepts and never answers would otherwise hold the socket until TCP gives up.
   */
  connectTimeoutMs?: number;
}

/** A batch item answered with a failure status. */
export class KmipResponseError extends Error {
  override readonly name = 'KmipResponseError';
  constructor(readonly item: ResponseBatchItem) {
    const reason = item.resultReason !== undefined
      ? Object.entries(ResultReason).find(([, v]) => v === item.resultReason)?.[0] ?? `0x${item.resultReason.toString(16)}` : 'no reason';
    super(`KMIP operation failed: ${reason}${item.resultMessage ? `: ${item.resultMessage}` : ''}`);
  }
  get reason(): number | undefined { return this.item.resultReason; }
}

interface Pending {
  resolve(b: Buffer): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

export class KmipClient {
  private readonly pending: Pending[] = [];
  private readonly framer: TtlvFramer;
  private failure: Error | undefined;
  private batchIdCounter = 0;
  readonly version: ProtocolVersion;

  private constructor(private readonly socket: TLSSocket, private readonly opts: KmipClientOptions) {
    this.version = opts.version ?? { major: 2, minor: 1 };
    this.framer = new TtlvFramer(opts.maxResponseSize ?? 64 * 1024 * 1024);
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = this.framer.push(chunk);
      } catch (e) {
        this.fail(e as Error);
        socket.destroy();
        return;
      }
      for (const f of frames) {
        const p = this.pending.shift();
        if (!p) { this.fail(new Error('unsolicited response from server')); socket.destroy(); return; }
        if (p.timer) clearTimeout(p.timer);
        // Copy: the framer may hand out views into a chunk reused later.
        p.resolve(Buffer.from(f));
      }
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(opts: KmipClientOptions): Promise<KmipClient> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: opts.host,
        port: opts.port,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        servername: opts.servername ?? (/^[\d.]+$|:/.test(opts.host) ? undefined : opts.host),
        minVersion: 'TLSv1.2',
        ...opts.tls,
      });
      const onError = (e: Error) => {
        if (timer) clearTimeout(timer);
        reject(e);
      };
      const timer = opts.connectTimeoutMs !== undefined && opts.connectTimeoutMs > 0
        ? setTimeout(() => socket.destroy(new Error(`TLS connection to ${opts.host}:${opts.port} not established within ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs)
        : undefined;
      socket.once('error', onError);
      socket.once('secureConnect', () => {
        if (timer) clearTimeout(timer);
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(new KmipClient(socket, opts));
      });
    });
  }

  /** Whether the connection is still usable. */
  get open(): boolean {
    return this.failure === undefined && !this.socket.destroyed;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.splice(0)) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(e);
    }
  }

  /** Raw bytes out, the next response's bytes back (also for sending malformed input in tests). */
  sendBytes(bytes: Buffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject };
      const ms = this.opts.timeoutMs ?? 30_000;
      if (ms > 0) {
        p.timer = setTimeout(() => {
          const err = new Error(`no response within ${ms} ms`);
          this.fail(err);
          this.socket.destroy();
        }, ms);
      }
      this.pending.push(p);
      this.socket.write(bytes);
    });
  }

  /** A whole Request Message tree out, the Response Message tree back. */
  async send(requestMessage: TtlvItem): Promise<TtlvItem> {
    return decode(await this.sendBytes(encode(requestMessage)));
  }

  /** Several batch items in one message; returns the parsed response. */
  async batch(items: RequestBatchItemOptions[], header: Partial<RequestHeaderOptions> = {}): Promise<ResponseMessage> {
    const withIds = items.length > 1
      ? items.map((i) => ({ ...i, uniqueBatchItemId: i.uniqueBatchItemId ?? this.nextBatchId() }))
      : items;
    const msg = buildRequestMessage({ protocolVersion: this.version, ...header }, withIds);
    return parseResponseMessage(await this.send(msg));
  }

  /**
   * One operation in one message, in the client's version. Resolves to the Response
   * Payload; a failed item rejects with KmipResponseError (pass `allowFailure` to get the
   * batch item instead).
   */
  async request(operation: number, payload: Struct | TtlvItem[] = [], options: Partial<RequestHeaderOptions> & { ephemeral?: boolean } = {}): Promise<Struct> {
    const item = await this.requestItem(operation, payload, options);
    if (item.resultStatus !== ResultStatus.Success) throw new KmipResponseError(item);
    return item.payload ?? structure(Tag.ResponsePayload, []);
  }

  /** Like request() but returns the response batch item whatever its status. */
  async requestItem(operation: number, payload: Struct | TtlvItem[] = [], options: Partial<RequestHeaderOptions> & { ephemeral?: boolean } = {}): Promise<ResponseBatchItem> {
    const { ephemeral, ...header } = options;
    const p = Array.isArray(payload) ? structure(Tag.RequestPayload, payload) : payload;
    const item: RequestBatchItemOptions = { operation, payload: p };
    if (ephemeral !== undefined) item.ephemeral = ephemeral;
    const resp = await this.batch([item], header);
    const first = resp.batchItems[0];
    if (!first) throw new Error('response holds no batch item');
    return first;
  }

  private nextBatchId(): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(++this.batchIdCounter >>> 0);
    return b;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      // A server that does not close its side within a second is not waited for.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }
}
