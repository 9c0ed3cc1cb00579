// The gateway's link to its Core (issue 11 §1, §3): a pool of persistent mutual-TLS
// connections with the project's KMIP client, wraps and unwraps queued and sent as KMIP batch
// messages (many batch items per message, Batch Error Continuation Option Continue so one bad
// blob fails only its own item), flushed when `maxBatchItems` are waiting or `flushDelayMs`
// after the first one; and a status watch (watchLoop: a Poll the Core holds open, answered
// when a seal, a kill switch, a revocation or a new service list happens,
// src/server/gateway-watch.ts), so the gateway purges its cached keys within a second without
// an audited request every 200 ms. Against a Core without the watch, a status probe every
// `probeIntervalMs` (the Core refuses every message of a sealed tenant before any item runs).
//
// Wraps with the same service and context that wait together go as one bulk-wrap item (many
// Data in one Encrypt, at most `maxKeysPerItem`; src/operations/common/service-l3.ts): one
// policy check, one audit record and one response item at the Core for all of them. A bulk
// data-key request is one job (`wrapMany`: one promise, its keys spread over as many items as
// it needs), not a job per key. Unwraps stay one item each, so that a forged blob fails alone.
// The Core's answer is checked before anyone gets it: one wrapped key per key sent, each of
// the Core's format and length.
//
// The gateway never asks for anything above L4: only Encrypt/Decrypt on the service's
// wrapping object `openkcm:service-l3:<service>` (the Core's src/operations/common/service-l3.ts).
import { KmipClient, type KmipClientOptions } from '../client/index.ts';
import { byteString, structure, textString } from '../kmip/items.ts';
import type { RequestBatchItemOptions, ResponseBatchItem } from '../kmip/message.ts';
import { BatchErrorContinuationOption, Operation, ResultReason, ResultStatus } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { GatewayError } from './envelope.ts';
import { WATCH_HOLD_MS, WATCH_PREFIX, type WatchState } from '../kmip/gateway-watch.ts';

export const SERVICE_L3_PREFIX = 'openkcm:service-l3:';

export interface CoreLinkOptions {
  client: Omit<KmipClientOptions, 'timeoutMs'>;
  tenant: string;
  /** Persistent connections to the Core. */
  poolSize: number;
  /** Batch items per message at most (the Core's own limit is higher; see README). */
  maxBatchItems: number;
  /** Keys one bulk-wrap item carries at most (1: every wrap its own item). Default 1024, the Core's limit. */
  maxKeysPerItem?: number;
  /** How long the first queued item waits for company before its batch is sent. */
  flushDelayMs: number;
  /** Status probe period; ≤ 250 ms keeps a kill switch's reach within 1 s (issue 11 §3). */
  probeIntervalMs: number;
  /** Timeout of one Core round trip. */
  requestTimeoutMs: number;
  /** Called when the Core says the tenant is sealed/killed or this gateway is refused (purge the cache). */
  onRefused(reason: string): void;
  /** Called on every probe or watch answer (tests and logs). */
  onState?(state: LinkState): void;
  /** Called when the Core's list of services this gateway may act for changes (the first answer included). */
  onServices?(services: readonly string[]): void;
  /** Status by the Core's held watch (default), or by the audited Discover Versions probe of older Cores. */
  statusBy?: 'watch' | 'probe';
}

export type LinkState =
  | { kind: 'starting' }
  | { kind: 'ok'; since: number }
  | { kind: 'refused'; reason: string; since: number }
  | { kind: 'unreachable'; reason: string; since: number };

/**
 * One caller's request to the Core: a wrap of one or many keys of one (service, context) (one
 * job and one promise however many keys: a bulk data-key request is one job), or the unwrap
 * of one blob. A wrap larger than maxKeysPerItem spans several batch items (parts).
 */
interface Job {
  operation: number;
  service: string;
  context: Buffer;
  /** The keys to wrap, or the one blob to unwrap. */
  data: readonly Buffer[];
  /** The Core's answers, by position in `data`. */
  out: Buffer[];
  /** Parts not yet answered. */
  pending: number;
  /** Answered or refused: later parts change nothing. */
  settled: boolean;
  resolve(out: Buffer[]): void;
  reject(e: Error): void;
}

/** Keys [from, to) of a job, carried by one batch item. */
interface Part {
  job: Job;
  from: number;
  to: number;
}

/** One batch item of a message and the parts of jobs it answers (several for a bulk wrap). */
interface Slot {
  item: RequestBatchItemOptions;
  parts: Part[];
  /** Data the item carries (keys of a bulk wrap, 1 otherwise): the Data its answer must carry. */
  count: number;
  /** Request bytes, about (header, identifier, context, Data): what bounds a message. */
  bytes: number;
}

/**
 * Request bytes of one message at most: half the Core's own limit on a request
 * (DEFAULT_MAX_MESSAGE_SIZE, 1 MiB, src/ttlv/limits.ts), so that many bulk wraps or unwraps
 * with long contexts waiting together never make a message the Core refuses as too large.
 */
export const MAX_MESSAGE_BYTES = 512 * 1024;

/** A wrapped key as the Core makes it (service-l3.ts): [0x02][L3 version][nonce 12][tag 16][key]. */
const WRAPPED_FORMAT = 0x02;
const WRAPPED_HEADER_BYTES = 1 + 4 + 12 + 16;

/** TTLV bytes of a Byte String item of `n` bytes: header and padding to 8 (KMIP 2.1 §9.1.1). */
const itemBytes = (n: number) => 8 + n + ((8 - (n % 8)) % 8);

/** The Core's MAX_KEYS_PER_WRAP_ITEM (src/operations/common/service-l3.ts; the gateway may not import operations). */
export const DEFAULT_MAX_KEYS_PER_ITEM = 1024;

/** A refusal line for the application from the Core's message (a whole-message refusal or a watch answer). */
function refusalLine(tenant: string, msg: string): GatewayError | undefined {
  const sealed = /tenant \S+ is (sealed|killed)/.exec(msg);
  if (sealed) return new GatewayError(503, `tenant ${tenant} is ${sealed[1]} at the core`);
  if (/not authori[sz]ed|revoked|no longer of role/.test(msg)) return new GatewayError(503, `the core refuses this gateway: ${msg}`);
  return undefined;
}

/** One line for the application from a failed batch item. */
export function itemError(tenant: string, item: ResponseBatchItem): GatewayError {
  const msg = item.resultMessage ?? 'no reason given';
  const refused = refusalLine(tenant, msg);
  if (refused !== undefined) return refused;
  if (item.resultReason === ResultReason.PermissionDenied) return new GatewayError(403, msg);
  if (item.resultReason === ResultReason.CryptographicFailure) return new GatewayError(422, msg);
  return new GatewayError(502, `the core refused: ${msg}`);
}

const first = (out: Buffer[]): Buffer => out[0]!;

/** Answers a job once: with its keys (no error), or refused; a job already settled stays as it was. */
function settle(j: Job, err?: Error): void {
  if (j.settled) return;
  j.settled = true;
  if (err !== undefined) j.reject(err); else j.resolve(j.out);
}

export class CoreLink {
  private readonly pool: Array<Promise<KmipClient> | undefined>;
  private next = 0;
  private queue: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  /** Keys (wraps) and blobs (unwraps) waiting: a message's worth is sent at once. */
  private queuedKeys = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  state: LinkState = { kind: 'starting' };
  /** The services the Core lets this gateway act for, from its watch (undefined until the first answer, or with a probe). */
  coreServices: readonly string[] | undefined;
  /** How status is learnt now: the watch, or the probe when the Core has no watch. */
  statusBy: 'watch' | 'probe';
  /** Watch answers received, and the Core process that holds the watch (diagnostics, tests). */
  watchAnswers = 0;
  watchNode: number | undefined;
  private watchClient: Promise<KmipClient> | undefined;
  /** Batch messages sent (Core round trips for wrap/unwrap). */
  roundTrips = 0;
  /** Keys wrapped and blobs unwrapped, sent to the Core (a bulk-wrap item counts its keys). */
  itemsSent = 0;

  constructor(private readonly opts: CoreLinkOptions) {
    this.pool = new Array(opts.poolSize).fill(undefined);
    this.statusBy = opts.statusBy ?? 'watch';
  }

  start(): void {
    if (this.statusBy === 'watch') void this.watchLoop();
    else this.startProbe();
  }

  private startProbe(): void {
    const tick = () => {
      if (this.closed) return;
      void this.probe().finally(() => {
        if (!this.closed) this.probeTimer = setTimeout(tick, this.opts.probeIntervalMs);
      });
    };
    tick();
  }

  /** A pooled connection, (re)connected when it was lost. */
  private connection(i: number): Promise<KmipClient> {
    let c = this.pool[i];
    if (c === undefined) {
      c = KmipClient.connect({ ...this.opts.client, timeoutMs: this.opts.requestTimeoutMs });
      this.pool[i] = c;
      c.then((cl) => { if (this.closed) void cl.close(); }, () => { if (this.pool[i] === c) this.pool[i] = undefined; });
    }
    return c.then((cl) => {
      if (cl.open) return cl;
      if (this.pool[i] === c) this.pool[i] = undefined;
      return this.connection(i);
    });
  }

  private async client(): Promise<KmipClient> {
    const i = this.next++ % this.opts.poolSize;
    return this.connection(i);
  }

  /** The service's current L3 wraps `key` with `context` as associated data; the Core's blob. */
  wrap(service: string, context: Buffer, key: Buffer): Promise<Buffer> {
    return this.enqueue(Operation.Encrypt, service, context, [key]).then(first);
  }

  /**
   * The service's current L3 wraps every key with `context` as associated data: the Core's
   * blobs in the order of `keys`. One job and one promise for all of them, sent as bulk-wrap
   * items of at most maxKeysPerItem keys (with other waiting wraps of the same service and
   * context); any item refused refuses the whole call, with the Core's reason.
   */
  wrapMany(service: string, context: Buffer, keys: readonly Buffer[]): Promise<Buffer[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.enqueue(Operation.Encrypt, service, context, keys);
  }

  unwrap(service: string, context: Buffer, wrapped: Buffer): Promise<Buffer> {
    return this.enqueue(Operation.Decrypt, service, context, [wrapped]).then(first);
  }

  /** Sends one application KMIP request message as is; the Core's response bytes (KMIP front). */
  async forward(request: Buffer): Promise<Buffer> {
    const c = await this.client();
    return c.sendBytes(request);
  }

  private enqueue(operation: number, service: string, context: Buffer, data: readonly Buffer[]): Promise<Buffer[]> {
    if (this.closed) return Promise.reject(new GatewayError(503, 'the gateway is shutting down'));
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      this.queue.push({ operation, service, context, data, out: new Array(data.length), pending: 0, settled: false, resolve, reject });
      this.queuedKeys += data.length;
      if (this.queuedKeys >= this.opts.maxBatchItems) {
        // After the current synchronous code: requests that queue together in one turn leave
        // in one message, not in slices of maxBatchItems.
        if (!this.flushQueued) {
          this.flushQueued = true;
          queueMicrotask(() => this.flush());
        }
      } else this.timer ??= setTimeout(() => this.flush(), this.opts.flushDelayMs);
    });
  }

  /** The refusal every request gets while the Core refuses this tenant or this gateway. */
  refusal(): GatewayError | undefined {
    return this.state.kind === 'refused' ? new GatewayError(503, this.state.reason) : undefined;
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.queue.length === 0) return;
    this.queuedKeys = 0;
    const slots = this.slots(this.queue.splice(0));
    // Messages of at most maxBatchItems items and about MAX_MESSAGE_BYTES.
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < slots.length; i++) {
      const b = slots[i]!.bytes;
      if (i > from && (i - from >= this.opts.maxBatchItems || bytes + b > MAX_MESSAGE_BYTES)) {
        void this.send(slots.slice(from, i));
        from = i;
        bytes = 0;
      }
      bytes += b;
    }
    void this.send(slots.slice(from));
  }

  /**
   * Batch items for the queued jobs, in queue order: wraps of one (service, context) share
   * items of up to maxKeysPerItem keys (a job's keys spread over as many as it needs, in
   * order), unwraps one item each.
   */
  private slots(jobs: Job[]): Slot[] {
    const perItem = Math.max(1, this.opts.maxKeysPerItem ?? DEFAULT_MAX_KEYS_PER_ITEM);
    const slots: Slot[] = [];
    const open = new Map<string, Slot>();
    const newSlot = (j: Job): Slot => {
      const s: Slot = { item: { operation: j.operation, payload: structure(Tag.RequestPayload, []) }, parts: [], count: 0, bytes: 0 };
      slots.push(s);
      return s;
    };
    for (const j of jobs) {
      if (j.operation !== Operation.Encrypt) {
        const s = newSlot(j);
        s.parts.push({ job: j, from: 0, to: 1 });
        s.count = 1;
        j.pending = 1;
        continue;
      }
      const key = `${j.service}\u0000${j.context.toString('latin1')}`;
      for (let from = 0; from < j.data.length;) {
        let s = open.get(key);
        if (s === undefined || s.count >= perItem) {
          s = newSlot(j);
          open.set(key, s);
        }
        const to = Math.min(j.data.length, from + perItem - s.count);
        s.parts.push({ job: j, from, to });
        s.count += to - from;
        j.pending++;
        from = to;
      }
    }
    for (const s of slots) {
      const j0 = s.parts[0]!.job;
      const uid = SERVICE_L3_PREFIX + j0.service;
      const payload = s.item.payload!.value;
      payload.push(textString(Tag.UniqueIdentifier, uid));
      let bytes = 64 + itemBytes(uid.length) + itemBytes(j0.context.length);
      for (const p of s.parts) {
        for (let k = p.from; k < p.to; k++) {
          const d = p.job.data[k]!;
          payload.push(byteString(Tag.Data, d));
          bytes += itemBytes(d.length);
        }
      }
      if (j0.context.length > 0) payload.push(byteString(Tag.AuthenticatedEncryptionAdditionalData, j0.context));
      s.bytes = bytes;
    }
    return slots;
  }

  private async send(slots: Slot[]): Promise<void> {
    let items: ResponseBatchItem[];
    const rejectAll = (err: Error) => { for (const s of slots) for (const p of s.parts) settle(p.job, err); };
    try {
      const c = await this.client();
      this.roundTrips++;
      for (const s of slots) this.itemsSent += s.count;
      const resp = await c.batch(slots.map((s) => s.item), { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
      items = resp.batchItems;
    } catch (e) {
      rejectAll(new GatewayError(503, `the core is unreachable: ${(e as Error).message}`));
      return;
    }
    // A message refused as a whole (sealed tenant, refused certificate) answers its first item only.
    if (items.length < slots.length && items[0] !== undefined && items[0].resultStatus !== ResultStatus.Success) {
      const err = itemError(this.opts.tenant, items[0]);
      this.noteRefusal(err.message);
      rejectAll(err);
      return;
    }
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      const answer = this.answerOf(s, items[i]);
      if (answer instanceof Error) {
        for (const p of s.parts) settle(p.job, answer);
        continue;
      }
      let k = 0;
      for (const p of s.parts) {
        const j = p.job;
        for (let x = p.from; x < p.to; x++) j.out[x] = answer[k++]!;
        if (--j.pending === 0) settle(j);
      }
    }
  }

  /**
   * The Data of an item's answer, one per Data sent, or the one-line reason it is refused: a
   * failed item (the Core's reason), or an answer that is not what the Core makes (too few
   * or too many Data, a wrapped key of the wrong shape) — never handed to an application.
   */
  private answerOf(s: Slot, it: ResponseBatchItem | undefined): Buffer[] | GatewayError {
    if (it === undefined) return new GatewayError(502, 'the core answered fewer items than it was sent');
    if (it.resultStatus !== ResultStatus.Success) {
      const err = itemError(this.opts.tenant, it);
      if (err.status === 503) this.noteRefusal(err.message);
      return err;
    }
    const data: Buffer[] = [];
    for (const c of it.payload?.value ?? []) {
      if (c.tag !== Tag.Data) continue;
      if (c.type !== 'ByteString') return new GatewayError(502, `the core answered Data of type ${c.type}, not a byte string`);
      data.push(c.value);
    }
    if (data.length !== s.count) {
      return new GatewayError(502, `the core answered ${data.length} keys for ${s.count}${data.length === 1 ? ' (a core without bulk wrap? run --max-keys-per-item 1)' : ''}`);
    }
    if (s.item.operation === Operation.Encrypt) {
      // A wrapped key is the Core's header and the key's own length: a shorter or longer one,
      // or another format, is not what was asked for (a forged or broken answer).
      let k = 0;
      for (const p of s.parts) {
        for (let x = p.from; x < p.to; x++, k++) {
          const w = data[k]!;
          const want = WRAPPED_HEADER_BYTES + p.job.data[x]!.length;
          if (w.length !== want || w[0] !== WRAPPED_FORMAT || w.readUInt32BE(1) === 0) {
            return new GatewayError(502, `the core answered a malformed wrapped key (#${k + 1} of the item: ${w.length} bytes, format ${w[0] ?? 'none'}; expected ${want} bytes, format ${WRAPPED_FORMAT})`);
          }
        }
      }
    }
    return data;
  }

  private noteRefusal(reason: string): void {
    const was = this.state;
    this.state = { kind: 'refused', reason, since: Date.now() };
    if (was.kind !== 'refused') this.opts.onRefused(reason);
    this.opts.onState?.(this.state);
  }

  /**
   * Discover Versions: the cheapest message the Core answers; it passes the same identity and
   * tenant gate as a wrap, so its refusal is the seal, the kill switch or the revocation.
   */
  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const c = await this.connection(0);
      const item = await c.requestItem(Operation.DiscoverVersions, []);
      if (item.resultStatus === ResultStatus.Success) {
        if (this.state.kind !== 'ok') this.state = { kind: 'ok', since: Date.now() };
      } else {
        this.noteRefusal(itemError(this.opts.tenant, item).message);
      }
    } catch (e) {
      // Partitioned: cached keys keep serving until their TTL, nothing new is wrapped.
      if (this.state.kind !== 'unreachable') this.state = { kind: 'unreachable', reason: (e as Error).message, since: Date.now() };
    } finally {
      this.probing = false;
    }
    this.opts.onState?.(this.state);
  }

  /**
   * The status watch (issue 11 §3; the Core's side and the reasoning are in
   * src/server/gateway-watch.ts): one Poll at a time on a connection of its own (the Core
   * answers a connection's messages in order, and this one is held), re-sent as soon as it is
   * answered with the token of the state it carried. A seal, kill switch, revocation or new
   * service list is answered within the Core's event loop turn; otherwise the answer comes
   * after WATCH_HOLD_MS, and no answer within that plus requestTimeoutMs means the link is
   * dead (reconnect every probeIntervalMs). Audited by the Core once per connection, not per
   * Poll. A Core without the watch answers the Poll with a failure: the link falls back to
   * the probe.
   */
  private async watchLoop(): Promise<void> {
    let token = '';
    const pause = (ms: number) => new Promise<void>((r) => { this.probeTimer = setTimeout(r, ms); });
    while (!this.closed) {
      let client: KmipClient;
      try {
        this.watchClient ??= KmipClient.connect({ connectTimeoutMs: this.opts.requestTimeoutMs, ...this.opts.client, timeoutMs: WATCH_HOLD_MS + this.opts.requestTimeoutMs });
        client = await this.watchClient;
        if (!client.open) throw new Error('the watch connection closed');
      } catch (e) {
        this.watchClient = undefined;
        this.unreachable(e as Error);
        await pause(this.opts.probeIntervalMs);
        continue;
      }
      let item: ResponseBatchItem;
      try {
        item = await client.requestItem(Operation.Poll, [byteString(Tag.AsynchronousCorrelationValue, Buffer.from(WATCH_PREFIX + token, 'latin1'))]);
      } catch (e) {
        if (this.closed) return;
        this.watchClient = undefined;
        void client.close().catch(() => undefined);
        this.unreachable(e as Error);
        await pause(this.opts.probeIntervalMs);
        continue;
      }
      if (this.closed) return;
      if (item.resultStatus !== ResultStatus.Success) {
        const err = itemError(this.opts.tenant, item);
        if (err.status === 503) {
          // Refused as a whole (revoked certificate): purge, and ask again now and then.
          this.noteRefusal(err.message);
          this.opts.onState?.(this.state);
          await pause(Math.max(1000, this.opts.probeIntervalMs));
          continue;
        }
        // A Core without the watch: Poll knows no such correlation value.
        this.statusBy = 'probe';
        this.watchClient = undefined;
        void client.close().catch(() => undefined);
        this.startProbe();
        return;
      }
      let st: WatchState;
      try {
        const acv = item.payload?.value.find((c) => c.tag === Tag.AsynchronousCorrelationValue)?.value as Buffer | undefined;
        const data = item.payload?.value.find((c) => c.tag === Tag.Data)?.value as Buffer | undefined;
        if (acv === undefined || data === undefined) throw new Error('no correlation value or data');
        st = JSON.parse(data.toString('utf8')) as WatchState;
        if (!Array.isArray(st.services)) throw new Error('no service list');
        token = acv.toString('latin1').slice(WATCH_PREFIX.length);
      } catch (e) {
        this.unreachable(new Error(`the core's watch answer is unreadable: ${(e as Error).message}`));
        await pause(this.opts.probeIntervalMs);
        continue;
      }
      this.watchAnswers++;
      this.watchNode = st.node;
      const before = this.coreServices;
      // A refused gateway has no list (the refusal says more than "service not allowed").
      if (st.state !== 'refused' && (before === undefined || before.join(',') !== st.services.join(','))) {
        this.coreServices = st.services;
        this.opts.onServices?.(st.services);
      }
      if (st.state === 'ok') {
        if (this.state.kind !== 'ok') this.state = { kind: 'ok', since: Date.now() };
      } else {
        const line = refusalLine(this.opts.tenant, st.reason ?? '') ?? new GatewayError(503, `the core refuses this gateway: ${st.reason ?? st.state}`);
        this.noteRefusal(line.message);
      }
      this.opts.onState?.(this.state);
    }
  }

  private unreachable(e: Error): void {
    // Partitioned: cached keys keep serving until their TTL, nothing new is wrapped.
    if (this.state.kind !== 'unreachable') this.state = { kind: 'unreachable', reason: e.message, since: Date.now() };
    this.opts.onState?.(this.state);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    const w = this.watchClient;
    this.watchClient = undefined;
    if (w !== undefined) { try { await (await w).close(); } catch { /* never connected */ } }
    for (const j of this.queue.splice(0)) settle(j, new GatewayError(503, 'the gateway is shutting down'));
    await Promise.all(this.pool.map(async (p) => {
      if (p === undefined) return;
      try { await (await p).close(); } catch { /* never connected */ }
    }));
  }
}
