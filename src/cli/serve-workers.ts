// `openkcm serve --workers N` (issue 12): the primary process of a node:cluster.
//
// Why node:cluster and not SO_REUSEPORT: Node 20 (our engine floor) has no reusePort option
// on net.Server (it came in Node 22.12), and cluster's round-robin hand-off spreads
// connections evenly over the workers, where SO_REUSEPORT hashes the 4-tuple and can load
// one worker with several busy connections while another idles. KMIP connections are
// long-lived, so the cost of the primary's accept-and-pass is paid once per connection.
//
// The primary holds no key and opens no database: it forks the workers, relays the
// in-memory hierarchy changes between them (src/server/cluster.ts), gathers their per-tenant
// reports for `kmipctl tenant show`, restarts a worker that dies, and shuts them down on
// SIGINT/SIGTERM. Worker 1 (the lead) starts alone first — it does the first-start work
// (schema migrations, the bootstrap identity, the tenants' first L2) that several processes
// must not race on — then the others start together. The lead also runs the admin API and
// the SIEM exporters (one exporter per destination, one cursor); every worker serves KMIP.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { OpenKcmConfig } from '../config/index.ts';
import type { HierarchyEngine } from '../hierarchy/engine.ts';
import { openL1Provider, parseL1Config } from '../hsm/index.ts';
import type { L1Provider } from '../hsm/types.ts';
import type { GovernanceStore } from '../store/governance.ts';
import {
  applyPeerChange, isPrimaryMessage, isWorkerMessage, PEER_ACK_TIMEOUT_MS, workerTenantReport,
  type HierarchyChange, type PrimaryMessage, type WorkerMessage, type WorkerTenantReport,
} from '../server/cluster.ts';
import { withDeadline, type Readiness, type RunningMetricsServer } from '../server/metrics-http.ts';
import { startMetricsListener } from './metrics.ts';

/** The environment variable that tells a forked worker its slot (1…N; 1 is the lead). */
export const WORKER_SLOT_ENV = 'OPENKCM_WORKER_SLOT';

/** A worker that has not said `ready` by then is taken as failed (tsx compile + unseal on a loaded machine). */
const WORKER_START_TIMEOUT_MS = 120_000;
/** A worker that dies is started again after this, doubling while it keeps dying within a minute, up to 30 s. */
const RESTART_MIN_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 30_000;
/** Workers still running this long after the shutdown request are killed. */
const SHUTDOWN_GRACE_MS = 20_000;

/** In a worker: its slot, from the environment the primary gave it. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const n = Number(process.env[WORKER_SLOT_ENV]);
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

interface Slot {
  slot: number;
  worker: Worker | undefined;
  ready: boolean;
  /** Consecutive quick deaths, for the restart back-off. */
  crashes: number;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
}

interface Relay {
  from: Worker;
  /** The id the requesting worker gave (ids of two workers may collide: the primary relays under its own). */
  originId: number;
  waiting: Set<number>;
  errors: string[];
  timer: NodeJS.Timeout;
}

interface Collect {
  from: Worker;
  originId: number;
  waiting: Set<number>;
  reports: WorkerTenantReport[];
  timer: NodeJS.Timeout;
}

export interface PrimaryResult {
  kmipPort: number;
  adminPort: number | null;
  /** The metrics listener the primary runs (config metrics.listen), for the banner. */
  metrics: RunningMetricsServer | undefined;
  /** KMIP over HTTPS, when https.listen is set. */
  httpsPort: number | null;
}

/**
 * Starts the workers and runs until SIGINT/SIGTERM. `onReady` runs once every worker is
 * listening (the banner); a worker that fails to start makes the whole start fail with its
 * exit code (its one-line error is already on stderr).
 */
export async function runPrimary(config: OpenKcmConfig, log: Logger, onReady: (r: PrimaryResult) => void | Promise<void>): Promise<void> {
  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({ slot: i + 1, worker: undefined, ready: false, crashes: 0, startedAt: 0, timer: undefined }));
  const bySlot = (w: Worker) => slots.find((s) => s.worker === w);
  const relays = new Map<number, Relay>();
  const readinessWaits = new Map<number, { waiting: Set<number>; got: Map<number, Readiness>; done: () => void }>();
  let metricsServer: RunningMetricsServer | undefined;
  const collects = new Map<number, Collect>();
  let nextId = 1;
  let stopping = false;
  let started = false;
  let startFailure: ((code: number) => void) | undefined;
  const readyWaiters = new Map<number, () => void>();
  let result: PrimaryResult | undefined;
  const lead = slots[0]!;
  /** Workers loaded before the lead was ready: told to go once it is. */
  const waiting = new Set<Worker>();

  const send = (w: Worker | undefined, m: PrimaryMessage) => {
    if (w === undefined || !w.isConnected()) return false;
    try {
      w.send(m);
      return true;
    } catch {
      return false;
    }
  };
  const live = () => slots.filter((s) => s.worker !== undefined && s.ready && s.worker.isConnected());

  const finishRelay = (id: number) => {
    const r = relays.get(id);
    if (r === undefined) return;
    relays.delete(id);
    clearTimeout(r.timer);
    if (r.waiting.size > 0) r.errors.push(`no answer from worker(s) ${[...r.waiting].join(', ')} within ${PEER_ACK_TIMEOUT_MS} ms`);
    send(r.from, { openkcm: 'published', id: r.originId, errors: r.errors });
  };
  const finishCollect = (id: number) => {
    const c = collects.get(id);
    if (c === undefined) return;
    collects.delete(id);
    clearTimeout(c.timer);
    send(c.from, { openkcm: 'collected', id: c.originId, reports: c.reports.sort((a, b) => a.worker - b.worker) });
  };

  const onMessage = (w: Worker, m: unknown) => {
    if (!isWorkerMessage(m)) return;
    const s = bySlot(w);
    const msg = m as WorkerMessage;
    switch (msg.openkcm) {
      case 'waiting':
        if (s === undefined) return;
        if (lead.ready) send(w, { openkcm: 'go' });
        else waiting.add(w);
        return;
      case 'ready': {
        if (s === undefined) return;
        s.ready = true;
        if (s === lead) {
          for (const x of waiting) send(x, { openkcm: 'go' });
          waiting.clear();
        }
        readyWaiters.get(s.slot)?.();
        if (!started) result ??= { kmipPort: msg.kmipPort, adminPort: msg.adminPort, metrics: undefined, httpsPort: msg.httpsPort ?? null };
        log.info({ event: 'worker_ready', worker: s.slot, pid: w.process.pid }, 'worker ready');
        return;
      }
      case 'change': {
        const id = nextId++;
        const peers = live().filter((p) => p.worker !== w);
        const r: Relay = { from: w, originId: msg.id, waiting: new Set(), errors: [], timer: setTimeout(() => finishRelay(id), PEER_ACK_TIMEOUT_MS) };
        relays.set(id, r);
        for (const p of peers) if (send(p.worker, { openkcm: 'apply', id, change: msg.change })) r.waiting.add(p.slot);
        if (r.waiting.size === 0) finishRelay(id);
        return;
      }
      case 'applied': {
        const r = relays.get(msg.id);
        if (r === undefined || s === undefined) return;
        r.waiting.delete(s.slot);
        if (msg.error !== null) r.errors.push(`worker ${s.slot}: ${msg.error}`);
        if (r.waiting.size === 0) finishRelay(msg.id);
        return;
      }
      case 'collect': {
        const id = nextId++;
        const c: Collect = { from: w, originId: msg.id, waiting: new Set(), reports: [], timer: setTimeout(() => finishCollect(id), PEER_ACK_TIMEOUT_MS) };
        collects.set(id, c);
        for (const p of live()) if (send(p.worker, { openkcm: 'report-request', id, tenant: msg.tenant })) c.waiting.add(p.slot);
        if (c.waiting.size === 0) finishCollect(id);
        return;
      }
      case 'readiness': {
        const r = readinessWaits.get(msg.id);
        if (r === undefined || s === undefined) return;
        r.got.set(s.slot, msg.readiness);
        r.waiting.delete(s.slot);
        if (r.waiting.size === 0) r.done();
        return;
      }
      case 'report': {
        const c = collects.get(msg.id);
        if (c === undefined || s === undefined) return;
        c.waiting.delete(s.slot);
        if (msg.report !== null) c.reports.push(msg.report);
        if (c.waiting.size === 0) finishCollect(msg.id);
        return;
      }
    }
  };

  const fork = (s: Slot) => {
    s.ready = false;
    s.startedAt = Date.now();
    const w = cluster.fork({ [WORKER_SLOT_ENV]: String(s.slot) });
    s.worker = w;
    w.on('message', (m: unknown) => onMessage(w, m));
    w.on('exit', (code, signal) => {
      if (s.worker !== w) return;
      s.worker = undefined;
      const wasReady = s.ready;
      s.ready = false;
      // Answers it will never give.
      for (const [id, r] of relays) if (r.waiting.delete(s.slot) && r.waiting.size === 0) finishRelay(id);
      for (const [id, c] of collects) if (c.waiting.delete(s.slot) && c.waiting.size === 0) finishCollect(id);
      if (stopping) return;
      if (!started) {
        startFailure?.(code ?? 1);
        return;
      }
      s.crashes = Date.now() - s.startedAt < 60_000 ? s.crashes + 1 : 0;
      const delay = Math.min(RESTART_MAX_DELAY_MS, RESTART_MIN_DELAY_MS * 2 ** Math.min(s.crashes, 16));
      log.error({ event: 'worker_exited', worker: s.slot, pid: w.process.pid, code, signal, wasReady, restartInMs: delay }, 'worker exited: starting a new one');
      s.timer = setTimeout(() => { s.timer = undefined; if (!stopping) fork(s); }, delay);
    });
  };

  /**
   * The node is ready when every worker is (each answers for its own runtime: a worker that
   * sealed or lost its database must not receive connections the primary hands it).
   */
  const readiness = (): Promise<Readiness> => new Promise<Readiness>((resolve) => {
    const id = nextId++;
    const got = new Map<number, Readiness>();
    const waiting = new Set<number>();
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      readinessWaits.delete(id);
      const checks: Readiness['checks'] = [];
      for (const sl of slots) {
        const r = got.get(sl.slot);
        if (r === undefined) {
          checks.push({ name: `worker ${sl.slot}`, ok: false, detail: sl.worker !== undefined && sl.ready ? 'did not answer in time' : 'not running' });
          continue;
        }
        for (const c of r.checks) checks.push({ ...c, name: `worker ${sl.slot} ${c.name}` });
      }
      resolve({ ready: checks.every((c) => c.ok), checks });
    };
    readinessWaits.set(id, { waiting, got, done });
    for (const p of live()) if (send(p.worker, { openkcm: 'readiness-request', id })) waiting.add(p.slot);
    if (waiting.size === 0) { done(); return; }
    timer = setTimeout(done, PEER_ACK_TIMEOUT_MS);
  });

  const startTimers = new Set<NodeJS.Timeout>();
  const waitReady = (s: Slot) => new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker ${s.slot} did not start within ${WORKER_START_TIMEOUT_MS / 1000} s`)), WORKER_START_TIMEOUT_MS);
    startTimers.add(t);
    readyWaiters.set(s.slot, () => { clearTimeout(t); startTimers.delete(t); readyWaiters.delete(s.slot); resolve(); });
  });

  const stopAll = async (): Promise<void> => {
    stopping = true;
    await metricsServer?.close().catch(() => undefined);
    for (const t of startTimers) clearTimeout(t);
    for (const s of slots) if (s.timer) clearTimeout(s.timer);
    const exits = slots.filter((s) => s.worker !== undefined).map((s) => new Promise<void>((resolve) => {
      const w = s.worker!;
      if (w.isDead()) { resolve(); return; }
      w.once('exit', () => resolve());
      if (!send(w, { openkcm: 'shutdown' })) w.kill('SIGTERM');
    }));
    const grace = setTimeout(() => {
      for (const s of slots) if (s.worker && !s.worker.isDead()) s.worker.process.kill('SIGKILL');
    }, SHUTDOWN_GRACE_MS);
    grace.unref();
    await Promise.all(exits);
    clearTimeout(grace);
  };

  // Failure at start: stop the workers already running and exit with the failed one's code.
  const failed = new Promise<number>((resolve) => { startFailure = resolve; });
  try {
    // All at once: the others load their code while the lead does the first-start work,
    // and open their runtime only once it is done (attachWorker's 'waiting' → 'go').
    const readies = slots.map(waitReady);
    for (const p of readies) p.catch(() => undefined);
    for (const s of slots) fork(s);
    const first = await Promise.race([readies[0]!.then(() => undefined), failed]);
    if (first !== undefined) {
      await stopAll();
      process.exitCode = first === 0 ? 1 : first;
      return;
    }
    const rest = slots.slice(1);
    const others = rest.length === 0 ? undefined : await Promise.race([Promise.all(readies.slice(1)).then(() => undefined), failed]);
    if (others !== undefined) {
      log.error({ event: 'worker_start_failed', code: others }, 'a worker failed to start: stopping');
      await stopAll();
      process.exitCode = others === 0 ? 1 : others;
      return;
    }
  } catch (e) {
    log.error({ event: 'worker_start_failed', err: (e as Error).message }, 'workers did not start');
    await stopAll();
    process.exitCode = 1;
    return;
  }
  if (config.metrics.listen !== undefined) {
    // The primary holds no runtime: its /metrics gathers the workers' registries over the
    // cluster channel (prom-client's AggregatorRegistry; each worker answers from its own),
    // its /readyz asks every worker.
    try {
      const { AggregatorRegistry } = await import('prom-client');
      const aggregator = new AggregatorRegistry();
      metricsServer = await startMetricsListener(config, log, async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }), readiness);
    } catch (e) {
      log.error({ event: 'metrics_start_failed', err: (e as Error).message }, 'cannot start the metrics listener: stopping');
      process.stderr.write(`openkcm: ${(e as Error).message}\n`);
      await stopAll();
      process.exitCode = 1;
      return;
    }
  }
  started = true;
  log.info({ event: 'workers_ready', workers: slots.length, pids: slots.map((s) => s.worker?.process.pid) }, `${slots.length} workers serving`);
  await onReady({ ...result!, metrics: metricsServer });

  let signalled = false;
  const onSignal = (signal: string) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      for (const s of slots) s.worker?.process.kill('SIGKILL');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutting down the workers');
    void stopAll().then(() => {
      log.flush?.();
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

// ------------------------------------------------------------------ worker side

/**
 * A worker other than the lead waits here, before it opens the database, until the lead
 * has done the first-start work (migrations, bootstrap identity, first L2s).
 */
export function waitForLead(): Promise<void> {
  return new Promise<void>((resolve) => {
    const onMessage = (m: unknown) => {
      if (!isPrimaryMessage(m) || m.openkcm !== 'go') return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
    process.send?.({ openkcm: 'waiting' } satisfies WorkerMessage);
  });
}

export interface WorkerLink {
  /** Publishes a change to the other workers; resolves once each has applied it (errors are logged). */
  publish(change: HierarchyChange): Promise<void>;
  /** Every worker's view of a tenant. */
  collect(tenant: string): Promise<WorkerTenantReport[]>;
  ready(ports: { kmipPort: number; adminPort: number | null; httpsPort: number | null }): void;
  /** L1 providers opened for changes of other workers (closed with the runtime). */
  providers(): L1Provider[];
}

/**
 * The worker's end of the IPC channel. `shutdown` is called when the primary asks, or when
 * the channel closes because the primary is gone (killed): a worker never outlives it.
 */
export function attachWorker(opts: {
  slot: number; engine: HierarchyEngine; governance: GovernanceStore; log: Logger; shutdown: (why: string) => void;
  /** This worker's readiness, for the primary's /readyz (absent: ready once attached). */
  readiness?: () => Promise<Readiness>;
}): WorkerLink {
  const { slot, engine, governance, log } = opts;
  let nextId = 1;
  const published = new Map<number, { resolve: () => void; timer: NodeJS.Timeout }>();
  const collecting = new Map<number, { resolve: (r: WorkerTenantReport[]) => void; timer: NodeJS.Timeout }>();
  const opened: L1Provider[] = [];
  const post = (m: WorkerMessage) => {
    if (process.send === undefined || !process.connected) return false;
    try {
      process.send(m);
      return true;
    } catch {
      return false;
    }
  };
  const openTenantL1 = async (tenant: string): Promise<L1Provider | undefined> => {
    const p = governance.getL1Pointer(tenant);
    if (p === undefined || p.state !== 'active') return undefined;
    const l1 = await openL1Provider(parseL1Config({ ...p.config, provider: p.provider }));
    opened.push(l1);
    return l1;
  };
  process.on('message', (m: unknown) => {
    if (!isPrimaryMessage(m)) return;
    switch (m.openkcm) {
      case 'apply':
        applyPeerChange(m.change, { engine, openTenantL1, log }).then(
          () => post({ openkcm: 'applied', id: m.id, error: null }),
          (err: unknown) => {
            log.error({ event: 'worker_change_failed', change: m.change.kind, tenant: m.change.tenant, err: (err as Error).message }, 'could not apply the change of another worker');
            post({ openkcm: 'applied', id: m.id, error: (err as Error).message });
          },
        );
        return;
      case 'published': {
        const p = published.get(m.id);
        if (p === undefined) return;
        published.delete(m.id);
        clearTimeout(p.timer);
        for (const e of m.errors) log.error({ event: 'worker_change_not_applied', detail: e }, 'a change did not reach every worker');
        p.resolve();
        return;
      }
      case 'readiness-request': {
        const id = m.id;
        void withDeadline(opts.readiness ?? (async () => ({ ready: true, checks: [] })))
          .then((readiness) => post({ openkcm: 'readiness', id, readiness }));
        return;
      }
      case 'report-request': {
        let report: WorkerTenantReport | null = null;
        try { report = workerTenantReport(engine, m.tenant, slot); } catch { /* engine closing */ }
        post({ openkcm: 'report', id: m.id, report });
        return;
      }
      case 'collected': {
        const c = collecting.get(m.id);
        if (c === undefined) return;
        collecting.delete(m.id);
        clearTimeout(c.timer);
        c.resolve(m.reports);
        return;
      }
      case 'shutdown':
        opts.shutdown('asked by the primary');
        return;
    }
  });
  // The primary died (kill -9, crash): its workers stop too, or they would hold the port
  // and the keys with nobody to restart or stop them.
  process.on('disconnect', () => opts.shutdown('the primary process is gone'));
  return {
    publish(change) {
      const id = nextId++;
      return new Promise<void>((resolve) => {
        // The primary answers within PEER_ACK_TIMEOUT_MS; this is the backstop should it not.
        const timer = setTimeout(() => { published.delete(id); resolve(); }, PEER_ACK_TIMEOUT_MS * 2);
        published.set(id, { resolve, timer });
        if (!post({ openkcm: 'change', id, change })) { clearTimeout(timer); published.delete(id); resolve(); }
      });
    },
    collect(tenant) {
      const id = nextId++;
      return new Promise<WorkerTenantReport[]>((resolve) => {
        const timer = setTimeout(() => { collecting.delete(id); resolve([workerTenantReport(engine, tenant, slot)]); }, PEER_ACK_TIMEOUT_MS * 2);
        collecting.set(id, { resolve, timer });
        if (!post({ openkcm: 'collect', id, tenant })) { clearTimeout(timer); collecting.delete(id); resolve([workerTenantReport(engine, tenant, slot)]); }
      });
    },
    ready(ports) {
      post({ openkcm: 'ready', ...ports });
    },
    providers: () => opened,
  };
}
