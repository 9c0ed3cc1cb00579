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
// policy check, one audit record and one response item at the Core for all of them. Unwraps
// stay one item each, so that a forged blob fails alone.
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

interface Job {
  operation: number;
  service: string;
  context: Buffer;
  data: Buffer;
  resolve(b: Buffer): void;
  reject(e: Error): void;
}

/** One batch item of a message and the jobs it answers (several for a bulk wrap). */
interface Slot {
  item: RequestBatchItemOptions;
  jobs: Job[];
}

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

export class CoreLink {
  private readonly pool: Array<Promise<KmipClient> | undefined>;
  private next = 0;
  private queue: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushQueued = false;
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
    return this.enqueue(Operation.Encrypt, service, context, key);
  }

  unwrap(service: string, context: Buffer, wrapped: Buffer): Promise<Buffer> {
    return this.enqueue(Operation.Decrypt, service, context, wrapped);
  }

  /** Sends one application KMIP request message as is; the Core's response bytes (KMIP front). */
  async forward(request: Buffer): Promise<Buffer> {
    const c = await this.client();
    return c.sendBytes(request);
  }

  private enqueue(operation: number, service: string, context: Buffer, data: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new GatewayError(503, 'the gateway is shutting down'));
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      this.queue.push({ operation, service, context, data, resolve, reject });
      if (this.queue.length >= this.opts.maxBatchItems) {
        // After the current synchronous code: a bulk request that queues many keys in one
        // loop leaves in one message, not in slices of maxBatchItems.
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
    const slots = this.slots(this.queue.splice(0));
    for (let i = 0; i < slots.length; i += this.opts.maxBatchItems) void this.send(slots.slice(i, i + this.opts.maxBatchItems));
  }

  /** Batch items for the queued jobs, in queue order: wraps grouped by (service, context), unwraps one each. */
  private slots(jobs: Job[]): Slot[] {
    const perItem = this.opts.maxKeysPerItem ?? DEFAULT_MAX_KEYS_PER_ITEM;
    const groups: Job[][] = [];
    const open = new Map<string, Job[]>();
    for (const j of jobs) {
      if (j.operation !== Operation.Encrypt || perItem <= 1) { groups.push([j]); continue; }
      const key = `${j.service}\u0000${j.context.toString('latin1')}`;
      let group = open.get(key);
      if (group === undefined || group.length >= perItem) {
        group = [];
        open.set(key, group);
        groups.push(group);
      }
      group.push(j);
    }
    return groups.map((group) => {
      const j0 = group[0]!;
      const payload = [textString(Tag.UniqueIdentifier, SERVICE_L3_PREFIX + j0.service)];
      for (const j of group) payload.push(byteString(Tag.Data, j.data));
      if (j0.context.length > 0) payload.push(byteString(Tag.AuthenticatedEncryptionAdditionalData, j0.context));
      return { item: { operation: j0.operation, payload: structure(Tag.RequestPayload, payload) }, jobs: group };
    });
  }

  private async send(slots: Slot[]): Promise<void> {
    let items: ResponseBatchItem[];
    const rejectAll = (err: Error) => { for (const s of slots) for (const j of s.jobs) j.reject(err); };
    try {
      const c = await this.client();
      this.roundTrips++;
      for (const s of slots) this.itemsSent += s.jobs.length;
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
    slots.forEach((s, i) => {
      const it = items[i];
      const fail = (err: Error) => { for (const j of s.jobs) j.reject(err); };
      if (it === undefined) return fail(new GatewayError(502, 'the core answered fewer items than it was sent'));
      if (it.resultStatus !== ResultStatus.Success) {
        const err = itemError(this.opts.tenant, it);
        if (err.status === 503) this.noteRefusal(err.message);
        return fail(err);
      }
      const data = (it.payload?.value ?? []).filter((c) => c.tag === Tag.Data);
      if (data.length !== s.jobs.length || data.some((d) => d.type !== 'ByteString')) {
        return fail(new GatewayError(502, `the core answered ${data.length} keys for ${s.jobs.length} (a core without bulk wrap? run --max-keys-per-item 1)`));
      }
      s.jobs.forEach((j, k) => j.resolve(data[k]!.value as Buffer));
    });
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
    for (const j of this.queue.splice(0)) j.reject(new GatewayError(503, 'the gateway is shutting down'));
    await Promise.all(this.pool.map(async (p) => {
      if (p === undefined) return;
      try { await (await p).close(); } catch { /* never connected */ }
    }));
  }
}
