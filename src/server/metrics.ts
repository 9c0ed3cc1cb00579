// Prometheus metrics of an OpenKCM process (issue 14 §2), in the text exposition format
// through prom-client's Registry.
//
// The request hot path (one count and one latency sample per KMIP batch item) does not go
// through prom-client's Counter/Histogram: in prom-client 15 a child from `labels()` still
// builds a label object and a hash string at every inc()/observe(). Here a label set is
// bound once, the first time it is seen, to a cell of plain numbers (HotCounter,
// HotHistogram), found again through Maps keyed by the values the executor already holds
// (operation name, reason name, version number): no allocation per request once warm.
// The cells are exposed to the Registry as metric objects whose get() builds the values at
// scrape time, so the exposition, the JSON form and the cluster aggregation
// (AggregatorRegistry, worker → primary) are prom-client's own.
//
// Everything else is read at scrape time (gauges with collect()) or counted where it is
// rare (handshake failures, L1 calls, commits): prom-client's own classes there.
//
// Nothing secret is ever a label value: operation and reason names come from the spec's
// tables, versions are numbers, providers and outcomes are fixed words, exporters are the
// names the operator gave. Tenant ids are not labels (tenants are counted by seal state):
// a metric endpoint without a client certificate must not list who the customers are.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProtocolVersion } from '../kmip/version.ts';
import { Operation } from '../ttlv/generated/enumerations.ts';

/** What the KMIP executor reports (src/server/executor.ts EngineOptions.metrics). */
export interface KmipRequestMetrics {
  /** One request batch item answered: its operation (null: none readable), the reason it failed (null: success), the message's version. */
  item(version: ProtocolVersion, operation: string | null, reason: string | null): void;
  /** The time an item took, from its checks to its answer (items that reached an operation's checks). */
  itemDuration(operation: number, seconds: number): void;
  /** Batch items of one request message. */
  batch(items: number): void;
  /** A message refused whole (undecodable, bad header, unsupported version). */
  messageRefused(reason: string): void;
}

/** Latency buckets in seconds: a cached Get answers in ~50 µs, an L1 call over the network in 100s of ms. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Batch items per message (a gateway's bulk wrap is one item; maxBatchItems defaults to 1000). */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;

/** One label set of a counter, bound once. */
class CounterCell {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

/** One label set of a histogram, bound once: per-bucket counts (not cumulative), sum, count. */
class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly labels: Readonly<Record<string, string>>, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** The JSON form prom-client's Registry reads from a metric's get() (and the cluster aggregation sums). */
interface MetricValue { value: number; labels: Readonly<Record<string, string | number>>; metricName?: string }
interface MetricJson { name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: MetricValue[] }

/** A counter family of bound cells, registered as a prom-client metric (get() at scrape time). */
class HotCounter {
  private readonly cells: CounterCell[] = [];
  constructor(readonly name: string, readonly help: string, registry: Registry) {
    registry.registerMetric(this as never);
  }

  cell(labels: Record<string, string>): CounterCell {
    const c = new CounterCell(labels);
    this.cells.push(c);
    return c;
  }

  get(): MetricJson {
    return {
      name: this.name, help: this.help, type: 'counter', aggregator: 'sum',
      values: this.cells.map((c) => ({ value: c.value, labels: c.labels })),
    };
  }

  reset(): void {
    for (const c of this.cells) c.value = 0;
  }
}

class HotHistogram {
  private readonly cells: HistogramCell[] = [];
  constructor(readonly name: string, readonly help: string, private readonly bounds: readonly number[], registry: Registry) {
    registry.registerMetric(this as never);
  }

  cell(labels: Record<string, string>): HistogramCell {
    const c = new HistogramCell(labels, this.bounds);
    this.cells.push(c);
    return c;
  }

  get(): MetricJson {
    const values: MetricValue[] = [];
    for (const c of this.cells) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += c.counts[i]!;
        values.push({ value: cumulative, labels: { ...c.labels, le: this.bounds[i]! }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: c.count, labels: { ...c.labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: c.sum, labels: c.labels, metricName: `${this.name}_sum` });
      values.push({ value: c.count, labels: c.labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }
}

const OPERATION_NAME = new Map<number, string>(Object.entries(Operation).map(([n, v]) => [v, n]));
const opName = (op: number): string => OPERATION_NAME.get(op) ?? 'unknown';
/** A version as a small number, for the Map lookup (major < 16 in every KMIP version). */
const versionKey = (v: ProtocolVersion): number => (v.major << 8) | (v.minor & 0xff);

/**
 * Seal states of the tenants gauge; every one is exported, zero included, so a panel never
 * shows "no data". `on_demand`: configured but not opened by this process yet (the engine
 * unseals a tenant at its first request when it was not at start).
 */
export const TENANT_STATES = ['unsealed', 'sealed', 'killed', 'on_demand'] as const;
export type TenantCounts = Record<(typeof TENANT_STATES)[number], number>;

export interface ExporterLag {
  name: string;
  /** Records committed and not yet delivered. */
  undelivered: number;
  connected: boolean;
}

/** Which process this is: the metric families that make sense differ (README "Metrics and health"). */
export type MetricsComponent = 'serve' | 'core' | 'cmk' | 'gateway';

export interface MetricsOptions {
  component: MetricsComponent;
  /** prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
}

/**
 * The metric families of one process. Sources read at scrape time are attached once the
 * thing they read exists (watch*); a later watch of the same kind replaces the former.
 */
export class OpenKcmMetrics implements KmipRequestMetrics {
  readonly registry = new Registry();
  readonly component: MetricsComponent;

  private readonly requests: HotCounter;
  private readonly duration: HotHistogram;
  private readonly batches: HotHistogram;
  private readonly batchCell: HistogramCell;
  private readonly refused: HotCounter;
  /** operation → reason ('' for success) → version key → cell. */
  private readonly requestCells = new Map<string, Map<string, Map<number, CounterCell>>>();
  private readonly durationCells = new Map<number, HistogramCell>();
  private readonly refusedCells = new Map<string, CounterCell>();

  private readonly handshakes: Counter<'reason' | 'code'>;
  private readonly connRefused: Counter<'limit'>;
  private readonly l1Calls: Counter<'provider' | 'operation' | 'outcome'>;
  private readonly l1Duration: Histogram<'provider' | 'operation'>;
  private readonly auditCommit: Histogram<never>;
  private readonly storeCommit: Histogram<'store'>;

  private connections: (() => { preAuth: number; authenticated: number }) | undefined;
  private tenants: (() => TenantCounts) | undefined;
  private auditQueue: (() => number) | undefined;
  private exporters: (() => readonly ExporterLag[]) | undefined;

  constructor(opts: MetricsOptions) {
    this.component = opts.component;
    const r = this.registry;
    const self = this;
    new Gauge({
      name: 'openkcm_info', help: 'Always 1; the labels say which OpenKCM process this is.', labelNames: ['component'] as const, registers: [r],
      // Every worker says 1: the same value, not a sum.
      aggregator: 'max',
      collect() { this.set({ component: self.component }, 1); },
    });
    this.requests = new HotCounter('openkcm_kmip_requests_total', 'KMIP request batch items answered, by operation, result (Success or the ResultReason) and protocol version.', r);
    this.duration = new HotHistogram('openkcm_kmip_request_duration_seconds', 'Time from a batch item\'s checks to its answer, by operation.', LATENCY_BUCKETS, r);
    this.batches = new HotHistogram('openkcm_kmip_batch_items', 'Batch items per KMIP request message.', BATCH_BUCKETS, r);
    this.batchCell = this.batches.cell({});
    this.refused = new HotCounter('openkcm_kmip_messages_refused_total', 'KMIP request messages refused whole (undecodable, bad header, unsupported version), by ResultReason.', r);
    new Gauge({
      name: 'openkcm_kmip_connections_open', help: 'KMIP connections open now, by state (pre_auth: TLS handshake not finished).', labelNames: ['state'] as const, registers: [r],
      collect() {
        const s = self.connections?.();
        this.set({ state: 'pre_auth' }, s?.preAuth ?? 0);
        this.set({ state: 'authenticated' }, s?.authenticated ?? 0);
      },
    });
    this.handshakes = new Counter({
      name: 'openkcm_tls_handshake_failures_total', help: 'TLS handshakes refused on the KMIP port, by reason (certificate-rejected, no-certificate, handshake-timeout, protocol-error) and the TLS code.',
      labelNames: ['reason', 'code'] as const, registers: [r],
    });
    this.connRefused = new Counter({
      name: 'openkcm_kmip_connections_refused_total', help: 'KMIP connections refused at accept or evicted before their handshake, by the limit that acted.',
      labelNames: ['limit'] as const, registers: [r],
    });
    new Gauge({
      name: 'openkcm_tenants', help: 'Configured tenants by seal state in this process\'s key hierarchy (killed: the L1 pointer was disabled; on_demand: opened at its first request).', labelNames: ['state'] as const, registers: [r],
      // Every worker holds every tenant: the same count, not a sum.
      aggregator: 'max',
      collect() {
        const t = self.tenants?.();
        for (const s of TENANT_STATES) this.set({ state: s }, t?.[s] ?? 0);
      },
    });
    this.l1Calls = new Counter({
      name: 'openkcm_l1_calls_total', help: 'Calls to the L1 providers (the customers\' root keys), by provider, operation (wrap, unwrap, status) and outcome.',
      labelNames: ['provider', 'operation', 'outcome'] as const, registers: [r],
    });
    this.l1Duration = new Histogram({
      name: 'openkcm_l1_call_duration_seconds', help: 'Duration of L1 provider calls, by provider and operation.',
      labelNames: ['provider', 'operation'] as const, buckets: [...LATENCY_BUCKETS], registers: [r],
    });
    new Gauge({
      name: 'openkcm_audit_queue_depth', help: 'Audit records queued and not yet committed.', registers: [r],
      collect() { this.set(self.auditQueue?.() ?? 0); },
    });
    this.auditCommit = new Histogram({
      name: 'openkcm_audit_commit_duration_seconds', help: 'Duration of the audit log\'s group commits (the transaction; the WAL flush is in the store commit).',
      buckets: [...LATENCY_BUCKETS], registers: [r],
    });
    new Gauge({
      name: 'openkcm_audit_exporter_lag_records', help: 'Audit records committed and not yet delivered, by SIEM exporter.', labelNames: ['exporter'] as const, registers: [r],
      collect() {
        this.reset();
        for (const e of self.exporters?.() ?? []) this.set({ exporter: e.name }, e.undelivered);
      },
    });
    new Gauge({
      name: 'openkcm_audit_exporter_connected', help: '1 when the SIEM exporter\'s last attempt reached its destination.', labelNames: ['exporter'] as const, registers: [r],
      collect() {
        this.reset();
        for (const e of self.exporters?.() ?? []) this.set({ exporter: e.name }, e.connected ? 1 : 0);
      },
    });
    this.storeCommit = new Histogram({
      name: 'openkcm_store_commit_duration_seconds', help: 'Duration of the object store\'s group commits, the WAL flush that makes them durable included.',
      labelNames: ['store'] as const, buckets: [...LATENCY_BUCKETS], registers: [r],
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: r });
  }

  // ------------------------------------------------------------------ hot path

  item(version: ProtocolVersion, operation: string | null, reason: string | null): void {
    const op = operation ?? 'none';
    let byReason = this.requestCells.get(op);
    if (byReason === undefined) this.requestCells.set(op, (byReason = new Map()));
    const rk = reason ?? '';
    let byVersion = byReason.get(rk);
    if (byVersion === undefined) byReason.set(rk, (byVersion = new Map()));
    const vk = versionKey(version);
    let cell = byVersion.get(vk);
    if (cell === undefined) {
      cell = this.requests.cell({ operation: op, result: reason ?? 'Success', version: `${version.major}.${version.minor}` });
      byVersion.set(vk, cell);
    }
    cell.value++;
  }

  itemDuration(operation: number, seconds: number): void {
    let cell = this.durationCells.get(operation);
    if (cell === undefined) this.durationCells.set(operation, (cell = this.duration.cell({ operation: opName(operation) })));
    cell.observe(seconds);
  }

  batch(items: number): void {
    this.batchCell.observe(items);
  }

  messageRefused(reason: string): void {
    let cell = this.refusedCells.get(reason);
    if (cell === undefined) this.refusedCells.set(reason, (cell = this.refused.cell({ reason })));
    cell.value++;
  }

  // ------------------------------------------------------------------ rarer events

  /** A refused handshake, by the listener's category ("certificate-rejected CERT_HAS_EXPIRED" → reason + code). */
  handshakeFailure(category: string): void {
    const sp = category.indexOf(' ');
    this.handshakes.inc({ reason: sp < 0 ? category : category.slice(0, sp), code: sp < 0 ? '' : category.slice(sp + 1) });
  }

  connectionRefused(limit: string): void {
    this.connRefused.inc({ limit });
  }

  l1Call(provider: string, operation: string, outcome: string, seconds: number): void {
    this.l1Calls.inc({ provider, operation, outcome });
    this.l1Duration.observe({ provider, operation }, seconds);
  }

  auditCommitted(seconds: number): void {
    this.auditCommit.observe(seconds);
  }

  storeCommitted(store: string, seconds: number): void {
    this.storeCommit.observe({ store }, seconds);
  }

  // ------------------------------------------------------------------ sources read at scrape time

  watchConnections(fn: () => { preAuth: number; authenticated: number }): void { this.connections = fn; }
  watchTenants(fn: () => TenantCounts): void { this.tenants = fn; }
  watchAuditQueue(fn: () => number): void { this.auditQueue = fn; }
  watchExporters(fn: () => readonly ExporterLag[]): void { this.exporters = fn; }

  /** The exposition text of this process alone. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
