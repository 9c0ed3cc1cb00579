// The key hierarchy engine (DESIGN.md §2, issue 6 "The hierarchy"): per tenant an L2 wrapped
// by the tenant's L1, per (tenant, service) versioned L3s wrapped by the L2, and object
// values (L4) wrapped by an L3. Plaintext L2/L3 keys exist only in this engine's memory,
// only while the tenant is unsealed; sealing overwrites them with zeros.
//
// Concurrency model: every await is a point where the tenant may be sealed. Each tenant
// carries an epoch, bumped by every seal; work that awaited re-checks the seal and the
// epoch synchronously right before it touches a key, and key material obtained by an
// operation that straddled a seal is zeroized instead of installed.
import type { Logger } from 'pino';
import { KmipError } from '../kmip/errors.ts';
import { ResultReason } from '../ttlv/generated/enumerations.ts';
import type { L1Description, L1Provider, L1Status } from '../hsm/types.ts';
import {
  HIERARCHY_KEY_BYTES,
  HierarchyBlobError,
  L4_BLOB_V1,
  freshKey,
  l2Context,
  l3Aad,
  l4Aad,
  l4Version,
  unwrapL3,
  unwrapL4,
  wrapL3,
  wrapL4,
  wrapL4Many,
  type HierarchyStore,
  type L3KeyRow,
} from './keyring.ts';
import type { ObjectPlace } from './types.ts';

/**
 * Why a tenant is sealed. The first three heal by themselves: the next access (rate-limited)
 * or the periodic L1 check tries to unseal again. The others need an explicit act.
 */
export type SealKind = 'not-unsealed' | 'unseal-failed' | 'l1-status' | 'explicit' | 'kill-switch' | 'closed';
/** Source label of the periodic status check (its seal reasons carry no source suffix). */
const PERIODIC = 'periodic L1 check';
const SELF_HEALING: ReadonlySet<SealKind> = new Set(['not-unsealed', 'unseal-failed', 'l1-status']);
/** A weaker reason never replaces a stronger one (an L1 check must not turn a kill switch into a retry). */
const SEAL_RANK: Readonly<Record<SealKind, number>> = {
  'not-unsealed': 0, 'unseal-failed': 1, 'l1-status': 2, explicit: 3, closed: 4, 'kill-switch': 5,
};

export interface HierarchyEngineOptions {
  store: HierarchyStore;
  /** L1 of tenants without one of their own (registerTenant); none → such tenants stay sealed. */
  defaultL1?: L1Provider;
  /** Limit of each L1 call (wrap, unwrap, status); a tenant whose L1 does not answer in time stays sealed. Default 5 s. */
  l1TimeoutMs?: number;
  /** Least time between two automatic unseal attempts of one sealed tenant. Default 5 s. */
  retryIntervalMs?: number;
  /** Interval of the periodic L1 status check; 0 disables it. Default 30 s. */
  statusCheckIntervalMs?: number;
  /** How long an unreachable L1 is tolerated before its tenant is sealed. Default 5 min. */
  unreachableGraceMs?: number;
  /** Re-wrap, in the background, an object read under an old L3 version. Default true. */
  rewrapOnRead?: boolean;
  /** Parallel tenant unseals in unsealAll. Default 32. */
  unsealConcurrency?: number;
  now?: () => number;
  log?: Logger;
}

export interface TenantStatus {
  tenant: string;
  sealed: boolean;
  sealKind?: SealKind;
  reason?: string;
  /** ms since the epoch when sealed. */
  sealedAt?: number;
  l1?: L1Description;
  /** The L1 pointer was disabled (kill switch). */
  killed: boolean;
  l2Version?: number;
  services: { service: string; currentVersion: number; versions: number[] }[];
  lastL1Status?: L1Status;
}

export interface UnsealReport {
  unsealed: string[];
  sealed: { tenant: string; reason: string }[];
  ms: number;
}

export interface RewrapReport {
  examined: number;
  rewrapped: number;
  /** Values not in the hierarchy's format (for instance still interim-wrapped): left alone. */
  skipped: number;
}

interface L3Ring {
  current: number;
  keys: Map<number, Buffer>;
}

interface TenantEntry {
  readonly tenant: string;
  l1: L1Provider | undefined;
  /** The L1 pointer was disabled: nothing unseals this tenant until enableTenant. */
  killed: boolean;
  /** Why the tenant's own L1 could not be opened (registerTenantUnavailable). */
  l1Problem: string | undefined;
  sealed: { kind: SealKind; reason: string; since: number } | undefined;
  l2: Map<number, Buffer>;
  l2Current: number;
  l3: Map<string, L3Ring>;
  epoch: number;
  unsealing: Promise<void> | undefined;
  lastAttempt: number;
  unreachableSince: number | undefined;
  lastStatus: L1Status | undefined;
  l3Loading: Map<string, Promise<void>>;
  /** Serialises rotations of this tenant. */
  adminChain: Promise<unknown>;
}

export class L1TimeoutError extends Error {
  override readonly name = 'L1TimeoutError';
}

const describeRef = (l1: L1Provider): string => JSON.stringify(l1.describe());
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function zeroize(m: Map<unknown, Buffer>): void {
  for (const k of m.values()) k.fill(0);
  m.clear();
}

export class HierarchyEngine {
  private readonly store: HierarchyStore;
  private readonly defaultL1: L1Provider | undefined;
  private readonly l1TimeoutMs: number;
  private readonly retryIntervalMs: number;
  private readonly graceMs: number;
  private readonly rewrapOnRead: boolean;
  private readonly concurrency: number;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private readonly tenants = new Map<string, TenantEntry>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private closed = false;
  /** Background re-wraps in flight (close() waits for them). */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly stateListeners = new Set<(tenant: string) => void>();

  constructor(opts: HierarchyEngineOptions) {
    this.store = opts.store;
    this.defaultL1 = opts.defaultL1;
    this.l1TimeoutMs = opts.l1TimeoutMs ?? 5_000;
    this.retryIntervalMs = opts.retryIntervalMs ?? 5_000;
    this.graceMs = opts.unreachableGraceMs ?? 300_000;
    this.rewrapOnRead = opts.rewrapOnRead ?? true;
    this.concurrency = Math.max(1, opts.unsealConcurrency ?? 32);
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    const interval = opts.statusCheckIntervalMs ?? 30_000;
    if (interval > 0) {
      this.timer = setInterval(() => {
        this.checking ??= this.checkL1Status().finally(() => (this.checking = undefined));
      }, interval);
      this.timer.unref();
    }
  }

  /**
   * Calls `listener(tenant)` after a tenant is sealed (any cause: seal, kill switch, L1
   * status, a peer worker's change) or unsealed in this process. Gateways' status watches
   * use it to answer within the event loop turn (src/server/gateway-watch.ts). Returns the
   * unsubscribe function.
   */
  onStateChange(listener: (tenant: string) => void): () => void {
    this.stateListeners.add(listener);
    return () => { this.stateListeners.delete(listener); };
  }

  private tellState(tenant: string): void {
    for (const l of [...this.stateListeners]) {
      try { l(tenant); } catch (err) { this.log?.error({ err, tenant }, 'tenant state listener failed'); }
    }
  }

  // ---------------------------------------------------------------- tenants

  private entry(tenant: string): TenantEntry {
    let e = this.tenants.get(tenant);
    if (e === undefined) {
      e = {
        tenant,
        l1: this.defaultL1,
        killed: false,
        l1Problem: undefined,
        sealed: { kind: 'not-unsealed', reason: 'not unsealed yet', since: this.now() },
        l2: new Map(),
        l2Current: 0,
        l3: new Map(),
        epoch: 0,
        unsealing: undefined,
        lastAttempt: 0,
        unreachableSince: undefined,
        lastStatus: undefined,
        l3Loading: new Map(),
        adminChain: Promise.resolve(),
      };
      this.tenants.set(tenant, e);
    }
    return e;
  }

  /**
   * Gives a tenant its own L1 (otherwise the default L1 serves it). The L2 is created under
   * it at the first unseal. A tenant whose pointer was disabled by the kill switch stays
   * disabled: only enableTenant lifts that.
   */
  async registerTenant(tenant: string, l1: L1Provider): Promise<void> {
    this.assertOpen();
    const e = this.entry(tenant);
    const row = await this.store.getTenantL1(tenant);
    if (row?.state === 'disabled' || e.killed) {
      e.killed = true;
      e.l1 = undefined;
      this.sealEntry(e, 'kill-switch', 'the L1 pointer is disabled (kill switch)');
      return;
    }
    e.l1 = l1;
    e.l1Problem = undefined;
    await this.store.putTenantL1(tenant, describeRef(l1), 'active');
  }

  /**
   * The tenant has an L1 of its own, but it could not be opened (an HSM key deleted, a KMS
   * key scheduled for deletion, a token missing): the tenant stays sealed with that reason,
   * and the default L1 is never tried in its place.
   */
  registerTenantUnavailable(tenant: string, reason: string): void {
    this.assertOpen();
    const e = this.entry(tenant);
    e.l1 = undefined;
    e.l1Problem = reason;
    this.sealEntry(e, 'unseal-failed', `unseal failed: L1 unavailable: ${reason}`);
  }

  /** Governance: re-enables a tenant's L1 pointer after a kill switch, and unseals. */
  async enableTenant(tenant: string, l1: L1Provider): Promise<TenantStatus> {
    this.assertOpen();
    const e = this.entry(tenant);
    await this.store.putTenantL1(tenant, describeRef(l1), 'active');
    e.killed = false;
    e.l1 = l1;
    e.l1Problem = undefined;
    e.sealed = { kind: 'not-unsealed', reason: 'L1 pointer re-enabled, not unsealed yet', since: this.now() };
    await this.attemptUnseal(e, this.l1TimeoutMs);
    return this.status(tenant);
  }

  // ---------------------------------------------------------------- unsealing

  /**
   * Unseals every known tenant (those with an L1 pointer or an L2 in the store, and those
   * registered), in parallel, each L1 call limited to `timeoutMs`. A tenant whose L1 fails
   * stays sealed; the others serve.
   */
  async unsealAll(opts: { timeoutMs?: number } = {}): Promise<UnsealReport> {
    this.assertOpen();
    const start = performance.now();
    const names = new Set([...(await this.store.listHierarchyTenants()), ...this.tenants.keys()]);
    const queue = [...names];
    const timeout = opts.timeoutMs ?? this.l1TimeoutMs;
    const worker = async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
        const e = this.entry(t);
        if (e.sealed !== undefined && SELF_HEALING.has(e.sealed.kind)) await this.attemptUnseal(e, timeout);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
    const report: UnsealReport = { unsealed: [], sealed: [], ms: performance.now() - start };
    for (const t of names) {
      const e = this.entry(t);
      if (e.sealed === undefined) report.unsealed.push(t);
      else report.sealed.push({ tenant: t, reason: e.sealed.reason });
    }
    return report;
  }

  /** Explicit unseal: also lifts an explicit seal (not a kill switch). */
  async unsealTenant(tenant: string): Promise<TenantStatus> {
    this.assertOpen();
    const e = this.entry(tenant);
    if (e.sealed?.kind === 'explicit') e.sealed = { kind: 'not-unsealed', reason: 'explicit seal lifted, not unsealed yet', since: this.now() };
    if (e.sealed !== undefined && SELF_HEALING.has(e.sealed.kind)) await this.attemptUnseal(e, this.l1TimeoutMs);
    return this.status(tenant);
  }

  private attemptUnseal(e: TenantEntry, timeoutMs: number): Promise<void> {
    e.unsealing ??= this.doUnseal(e, timeoutMs).finally(() => (e.unsealing = undefined));
    return e.unsealing;
  }

  /** Recursive unsealing (DESIGN.md §2): L1 opens the L2, the L2 opens the L3s. */
  private async doUnseal(e: TenantEntry, timeoutMs: number): Promise<void> {
    e.lastAttempt = this.now();
    const epoch = e.epoch;
    const t = e.tenant;
    const l2 = new Map<number, Buffer>();
    const l3 = new Map<string, L3Ring>();
    try {
      const pointer = await this.store.getTenantL1(t);
      if (pointer?.state === 'disabled') {
        e.killed = true;
        e.l1 = undefined;
      }
      if (e.killed) {
        this.sealEntry(e, 'kill-switch', 'the L1 pointer is disabled (kill switch)');
        return;
      }
      const l1 = e.l1;
      if (l1 === undefined) throw new Error(e.l1Problem !== undefined ? `L1 unavailable: ${e.l1Problem}` : 'no L1 key is configured for this tenant');
      let rows = await this.store.listL2Keys(t);
      if (rows.length === 0) {
        // First use: the tenant's L2 is born wrapped under its L1, and nowhere else.
        const key = freshKey();
        try {
          await this.store.insertFirstL2Key(t, await this.l1Call(l1.wrap(key, l2Context(t, 1)), timeoutMs, `wrap L2 of ${t}`));
        } finally {
          key.fill(0);
        }
        rows = await this.store.listL2Keys(t);
        this.log?.info({ tenant: t, l1: l1.describe() }, 'created the tenant L2 under its L1');
      }
      const current = rows.find((r) => r.current) ?? rows[rows.length - 1]!;
      for (const r of rows) {
        const k = await this.l1Call(l1.unwrap(r.wrapped, l2Context(t, r.version)), timeoutMs, `unwrap L2 v${r.version} of ${t}`);
        l2.set(r.version, k);
        if (k.length !== HIERARCHY_KEY_BYTES) throw new Error(`L2 v${r.version} unwrapped to ${k.length} bytes, not ${HIERARCHY_KEY_BYTES}`);
      }
      for (const r of await this.store.listL3Keys(t)) this.addL3(l3, l2, r);
      if (e.epoch !== epoch || this.closed) {
        // Sealed while we were asking the L1: what we opened must not survive the seal.
        zeroize(l2);
        for (const ring of l3.values()) zeroize(ring.keys);
        return;
      }
      e.l2 = l2;
      e.l2Current = current.version;
      e.l3 = l3;
      e.sealed = undefined;
      e.unreachableSince = undefined;
      this.tellState(t);
      if (pointer === undefined) await this.store.putTenantL1(t, describeRef(l1), 'active');
      this.log?.info({ tenant: t, l2Version: current.version, services: l3.size }, 'tenant unsealed');
    } catch (err) {
      zeroize(l2);
      for (const ring of l3.values()) zeroize(ring.keys);
      if (e.epoch === epoch) this.sealEntry(e, 'unseal-failed', `unseal failed: ${message(err)}`);
      this.log?.warn({ tenant: t, err: message(err) }, 'tenant stays sealed');
    }
  }

  /** Opens one L3 row with the L2 it names, into `rings`. */
  private addL3(rings: Map<string, L3Ring>, l2: Map<number, Buffer>, r: L3KeyRow): void {
    const parent = l2.get(r.l2Version);
    if (parent === undefined) throw new HierarchyBlobError(`L3 ${r.service} v${r.version} of ${r.tenant} is wrapped by L2 v${r.l2Version}, which is not available`);
    const key = unwrapL3(parent, l3Aad(r.tenant, r.service, r.version, r.l2Version), r.wrapped);
    let ring = rings.get(r.service);
    if (ring === undefined) rings.set(r.service, (ring = { current: 0, keys: new Map() }));
    ring.keys.get(r.version)?.fill(0);
    ring.keys.set(r.version, key);
    if (r.current) ring.current = r.version;
  }

  private async l1Call<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new L1TimeoutError(`L1 did not answer within ${timeoutMs} ms (${what})`));
      }, timeoutMs);
    });
    // A key that arrives after we gave up must not linger in memory.
    p.then((v) => { if (timedOut && Buffer.isBuffer(v)) v.fill(0); }, () => undefined);
    try {
      return await Promise.race([p, limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- sealing

  private sealEntry(e: TenantEntry, kind: SealKind, reason: string): void {
    // Zeroize first, whatever the previous state: buffers handed out by an unseal that
    // straddled this call are caught by the epoch check.
    e.epoch++;
    zeroize(e.l2);
    for (const ring of e.l3.values()) zeroize(ring.keys);
    e.l3.clear();
    e.l2Current = 0;
    if (e.sealed === undefined || SEAL_RANK[kind] >= SEAL_RANK[e.sealed.kind]) {
      const wasOpen = e.sealed === undefined;
      e.sealed = { kind, reason, since: this.now() };
      if (wasOpen || kind === 'kill-switch') this.log?.warn({ tenant: e.tenant, kind, reason }, 'tenant sealed');
    }
    this.tellState(e.tenant);
  }

  /** Seals the tenant: its L2 and L3 keys are overwritten with zeros, its requests refused until unsealTenant. */
  seal(tenant: string, reason: string): void {
    this.sealEntry(this.entry(tenant), 'explicit', reason);
  }

  /**
   * The kill switch (DESIGN.md §1): the tenant's L1 pointer is disabled and the tenant sealed
   * at once. The seal is synchronous (done before this returns its promise); the promise
   * settles when the disabled pointer is persisted, so a restart keeps the tenant locked.
   */
  killSwitch(tenant: string, reason = 'kill switch: the L1 pointer was disabled'): Promise<void> {
    const e = this.entry(tenant);
    const l1 = e.l1;
    e.killed = true;
    e.l1 = undefined;
    this.sealEntry(e, 'kill-switch', reason);
    return (async () => {
      // Persisting waits one turn: the SQLite write blocks the event loop for its fsync, and
      // requests already queued should meet the seal (and be refused) before that, not after.
      await new Promise((r) => setImmediate(r));
      const row = await this.store.getTenantL1(tenant);
      await this.store.putTenantL1(tenant, l1 !== undefined ? describeRef(l1) : (row?.providerRef ?? '{}'), 'disabled');
    })();
  }

  isSealed(tenant: string): boolean {
    return this.tenants.get(tenant)?.sealed !== undefined;
  }

  private sealedError(e: TenantEntry): KmipError {
    // KMIP 2.1 §11.46: Permission Denied; the message says why, without key material.
    return new KmipError(ResultReason.PermissionDenied, `tenant ${e.tenant} is sealed: ${e.sealed?.reason ?? 'unknown reason'}`);
  }

  /**
   * The tenant's entry when unsealed; a sealed tenant whose seal heals by itself gets one
   * unseal attempt (at most one per retryIntervalMs, shared by concurrent requests).
   */
  private async ready(tenant: string): Promise<TenantEntry> {
    const e = this.entry(tenant);
    if (e.sealed === undefined) return e;
    if (!this.closed && SELF_HEALING.has(e.sealed.kind)) {
      if (e.unsealing !== undefined) await e.unsealing;
      else if (e.lastAttempt === 0 || this.now() - e.lastAttempt >= this.retryIntervalMs) await this.attemptUnseal(e, this.l1TimeoutMs);
      if (e.sealed === undefined) return e;
    }
    throw this.sealedError(e);
  }

  /** Throws KmipError(PermissionDenied, 'tenant <t> is sealed: <reason>') unless the tenant is unsealed (after a lazy unseal attempt). */
  async assertUnsealed(tenant: string): Promise<void> {
    await this.ready(tenant);
  }

  // ---------------------------------------------------------------- L3 on demand

  /** Loads (or, for a new service, creates) the service's L3 versions into memory. */
  private loadL3(e: TenantEntry, service: string, create: boolean): Promise<void> {
    let p = e.l3Loading.get(service);
    if (p === undefined) {
      p = this.doLoadL3(e, service, create).finally(() => e.l3Loading.delete(service));
      e.l3Loading.set(service, p);
    }
    return p;
  }

  private async doLoadL3(e: TenantEntry, service: string, create: boolean): Promise<void> {
    const t = e.tenant;
    const epoch = e.epoch;
    let rows = await this.store.listL3Keys(t, service);
    if (rows.length === 0 && create) {
      if (e.epoch !== epoch || e.sealed !== undefined) throw this.sealedError(e);
      const key = freshKey();
      try {
        const l2v = e.l2Current;
        const blob = wrapL3(e.l2.get(l2v)!, l3Aad(t, service, 1, l2v), key);
        // false: another process created it first; we use theirs.
        await this.store.insertL3Key({ tenant: t, service, version: 1, l2Version: l2v, wrapped: blob }, undefined);
      } finally {
        key.fill(0);
      }
      rows = await this.store.listL3Keys(t, service);
    }
    if (e.epoch !== epoch || e.sealed !== undefined) throw this.sealedError(e);
    const fresh = new Map<string, L3Ring>();
    for (const r of rows) this.addL3(fresh, e.l2, r);
    const ring = fresh.get(service);
    if (ring === undefined) return;
    const old = e.l3.get(service);
    if (old !== undefined) zeroize(old.keys);
    e.l3.set(service, ring);
  }

  // ---------------------------------------------------------------- L4: object values

  /** Wraps an object value under the current L3 of its service (created on first use). */
  async wrap(place: ObjectPlace, plaintext: Buffer): Promise<Buffer> {
    return (await this.wrapMany(place, [plaintext]))[0]!;
  }

  /**
   * Wraps several values at one place under the current L3 of its service, each its own
   * blob (keyring.ts wrapL4Many): a gateway's bulk wrap waits for the tenant once, not once
   * per key, and every blob names the same L3 version.
   */
  async wrapMany(place: ObjectPlace, plaintexts: readonly Buffer[]): Promise<Buffer[]> {
    let e = await this.ready(place.tenant);
    // Twice at most: a load already in flight for a read does not create a missing L3.
    for (let i = 0; i < 2 && e.l3.get(place.service) === undefined; i++) {
      await this.loadL3(e, place.service, true);
      e = await this.ready(place.tenant);
    }
    // Synchronous from here to the cipher: no seal can slip in between check and use.
    if (e.sealed !== undefined) throw this.sealedError(e);
    const ring = e.l3.get(place.service);
    const key = ring?.keys.get(ring.current);
    if (ring === undefined || key === undefined) throw new Error(`no current L3 for ${place.tenant}/${place.service}`);
    return wrapL4Many(key, ring.current, l4Aad(place.tenant, place.service, place.uid, ring.current), plaintexts);
  }

  /** Unwraps an object value with the L3 version its header names (old versions stay readable). */
  async unwrap(place: ObjectPlace, blob: Buffer, opts: { rewrap?: boolean } = {}): Promise<Buffer> {
    const version = l4Version(blob, place.uid);
    let e = await this.ready(place.tenant);
    if (e.l3.get(place.service)?.keys.get(version) === undefined) {
      // Perhaps created or rotated by another process since our unseal.
      await this.loadL3(e, place.service, false);
      e = await this.ready(place.tenant);
    }
    if (e.sealed !== undefined) throw this.sealedError(e);
    const ring = e.l3.get(place.service);
    const key = ring?.keys.get(version);
    if (ring === undefined || key === undefined) {
      throw new HierarchyBlobError(`value of object ${place.uid} names L3 version ${version} of service ${place.service}, which tenant ${place.tenant} does not have`);
    }
    const plain = unwrapL4(key, l4Aad(place.tenant, place.service, place.uid, version), blob);
    if (version !== ring.current && (opts.rewrap ?? this.rewrapOnRead)) {
      // Lazy re-wrap on access: the stored value moves to the current L3 without waiting for a save.
      const currentKey = ring.keys.get(ring.current);
      if (currentKey !== undefined) {
        const next = wrapL4(currentKey, ring.current, l4Aad(place.tenant, place.service, place.uid, ring.current), plain);
        const p = this.store
          .replaceWrappedValues([{ tenant: place.tenant, uid: place.uid, expected: blob, next }])
          .catch((err) => this.log?.warn({ tenant: place.tenant, uid: place.uid, err: message(err) }, 'background re-wrap failed'))
          .finally(() => this.pending.delete(p));
        this.pending.add(p);
      }
    }
    return plain;
  }

  /** The L3 version an L4 blob was wrapped under (undefined when it is not a hierarchy blob). */
  static blobL3Version(blob: Buffer): number | undefined {
    return blob.length > 5 && blob[0] === L4_BLOB_V1 ? blob.readUInt32BE(1) : undefined;
  }

  // ---------------------------------------------------------------- rotation

  private exclusive<T>(e: TenantEntry, fn: () => Promise<T>): Promise<T> {
    const run = e.adminChain.then(fn, fn);
    e.adminChain = run.catch(() => undefined);
    return run;
  }

  /**
   * L3 rotation: a new version becomes current for wrapping; the old versions stay for
   * unwrapping. Objects move to it lazily (on read and on save) and by rewrapAll.
   * Returns the new version.
   *
   * `below`: rotate only while the vault's current version is below it, else answer that
   * version and insert nothing. Several nodes of a region asked for the same rotation
   * (issue 10: "version ≥ minVersion") then make exactly one new version between them: the
   * decision is taken on the rows just read from the vault, not on a ring in memory that may
   * predate another node's insert, and the insert itself is conditional on that current
   * version, so of two nodes that read the same rows only one succeeds.
   */
  rotateL3(tenant: string, service: string, opts: { below?: number } = {}): Promise<number> {
    return this.exclusive(this.entry(tenant), async () => {
      const e = await this.ready(tenant);
      const epoch = e.epoch;
      const rows = await this.store.listL3Keys(tenant, service);
      const cur = rows.find((r) => r.current)?.version;
      if (opts.below !== undefined && (cur ?? 0) >= opts.below) {
        await this.loadL3(e, service, false).catch(() => undefined);
        return cur!;
      }
      const next = rows.reduce((m, r) => Math.max(m, r.version), 0) + 1;
      if (e.epoch !== epoch || e.sealed !== undefined) throw this.sealedError(e);
      const key = freshKey();
      let installed = false;
      try {
        const l2v = e.l2Current;
        const blob = wrapL3(e.l2.get(l2v)!, l3Aad(tenant, service, next, l2v), key);
        if (!(await this.store.insertL3Key({ tenant, service, version: next, l2Version: l2v, wrapped: blob }, cur))) {
          throw new Error(`L3 of ${tenant}/${service} was rotated concurrently; retry`);
        }
        if (e.epoch !== epoch || e.sealed !== undefined) throw this.sealedError(e);
        let ring = e.l3.get(service);
        if (ring === undefined) e.l3.set(service, (ring = { current: next, keys: new Map() }));
        ring.keys.set(next, key);
        ring.current = next;
        installed = true;
      } finally {
        if (!installed) key.fill(0);
      }
      // Versions written by other processes meanwhile, if any.
      await this.loadL3(e, service, false).catch(() => undefined);
      this.log?.info({ tenant, service, version: next }, 'L3 rotated');
      return next;
    });
  }

  /**
   * The service's current L3 version in the store, after re-reading its L3 rows into memory:
   * a rotation written by another process (a second core node on the same vault) becomes the
   * version this engine wraps with. Undefined when the service has no L3 yet. The tenant must
   * be unsealed (else KmipError PermissionDenied).
   */
  async reloadL3(tenant: string, service: string): Promise<number | undefined> {
    const e = await this.ready(tenant);
    // A load already in flight may have read the rows before the rotation: wait, then read again.
    await e.l3Loading.get(service)?.catch(() => undefined);
    await this.loadL3(e, service, false);
    if (e.sealed !== undefined) throw this.sealedError(e);
    return e.l3.get(service)?.current;
  }

  /**
   * Another process on the same vault rotated the tenant's L2 to `version` (PostgreSQL
   * notification, src/store/postgres.ts): this engine opens the new L2 with the tenant's L1,
   * drops the old one (zeroized) and re-reads the L3 rings, which the rotation re-wrapped.
   * Without it, this node would wrap a new service's L3 under an L2 the vault no longer
   * keeps (the store refuses that insert). Nothing to do when sealed (the next unseal reads
   * the new rows) or already at that version (our own rotation).
   */
  reloadL2(tenant: string, version: number): Promise<void> {
    const e = this.tenants.get(tenant);
    if (e === undefined || e.sealed !== undefined || e.l2Current >= version) return Promise.resolve();
    return this.exclusive(e, async () => {
      if (e.sealed !== undefined || e.l2Current >= version) return;
      const l1 = e.l1;
      if (l1 === undefined) return;
      const epoch = e.epoch;
      const cur = (await this.store.listL2Keys(tenant)).find((r) => r.current);
      if (cur === undefined || cur.version <= e.l2Current) return;
      const key = await this.l1Call(l1.unwrap(cur.wrapped, l2Context(tenant, cur.version)), this.l1TimeoutMs, `unwrap L2 v${cur.version} of ${tenant}`);
      if (e.epoch !== epoch || e.sealed !== undefined || this.closed) {
        key.fill(0);
        return;
      }
      const old = e.l2;
      e.l2 = new Map([[cur.version, key]]);
      e.l2Current = cur.version;
      for (const v of old.keys()) if (v !== cur.version) l1.forgetContext?.(l2Context(tenant, v));
      zeroize(old);
      for (const service of [...e.l3.keys()]) await this.loadL3(e, service, false);
      this.log?.info({ tenant, version: cur.version }, 'L2 rotated by another node: reloaded');
    });
  }

  /**
   * Another process on the same vault disabled the tenant's L1 pointer (kill switch): seal
   * at once, as killSwitch does, without writing the pointer again (it is already disabled,
   * and writing would notify every node once more).
   */
  killedElsewhere(tenant: string, reason = 'kill switch: the L1 pointer was disabled on another node'): void {
    const e = this.entry(tenant);
    e.killed = true;
    e.l1 = undefined;
    this.sealEntry(e, 'kill-switch', reason);
  }

  /**
   * L2 rotation: a new L2 is wrapped under the tenant's L1, every L3 version is re-wrapped
   * under it, and the old L2 is deleted, all in one store transaction. Returns the new version.
   */
  rotateL2(tenant: string): Promise<number> {
    return this.exclusive(this.entry(tenant), async () => this.rotateL2Now(tenant, await this.ready(tenant)));
  }

  /**
   * L2 rotation decided on the vault's rows (issue 10: one rotation per region however many
   * nodes share the vault): rotates only while the vault's current L2 version is `current`,
   * else rotates nothing and answers the vault's version (the caller reloads it). Two nodes
   * that both read `current` both try; the store's replace is conditional on that version
   * (row-locked on PostgreSQL), so one succeeds and the other gets an error and re-reads.
   */
  rotateL2If(tenant: string, current: number): Promise<{ version: number; rotated: boolean }> {
    return this.exclusive(this.entry(tenant), async () => {
      const e = await this.ready(tenant);
      const vaultCurrent = (await this.store.listL2Keys(tenant)).find((r) => r.current)?.version;
      if (vaultCurrent === undefined || vaultCurrent !== current) return { version: vaultCurrent ?? 0, rotated: false };
      if (e.l2Current !== current) throw new Error(`L2 of ${tenant} in memory is v${e.l2Current}, the vault's is v${current}: reload it first`);
      return { version: await this.rotateL2Now(tenant, e), rotated: true };
    });
  }

  private async rotateL2Now(tenant: string, e: TenantEntry): Promise<number> {
    const epoch = e.epoch;
    const l1 = e.l1;
    if (l1 === undefined) throw this.sealedError(e);
    const rows = await this.store.listL2Keys(tenant);
    const cur = e.l2Current;
    const next = rows.reduce((m, r) => Math.max(m, r.version), 0) + 1;
    const newL2 = freshKey();
    let installed = false;
    const opened: Buffer[] = [];
    try {
      const wrapped = await this.l1Call(l1.wrap(newL2, l2Context(tenant, next)), this.l1TimeoutMs, `wrap L2 v${next} of ${tenant}`);
      const l3rows = await this.store.listL3Keys(tenant);
      if (e.epoch !== epoch || e.sealed !== undefined) throw this.sealedError(e);
      const l3s = l3rows.map((r) => {
        let key = e.l3.get(r.service)?.keys.get(r.version);
        if (key === undefined) {
          const parent = e.l2.get(r.l2Version);
          if (parent === undefined) throw new HierarchyBlobError(`L3 ${r.service} v${r.version} is wrapped by L2 v${r.l2Version}, which is not open`);
          key = unwrapL3(parent, l3Aad(tenant, r.service, r.version, r.l2Version), r.wrapped);
          opened.push(key);
        }
        return { service: r.service, version: r.version, wrapped: wrapL3(newL2, l3Aad(tenant, r.service, r.version, next), key) };
      });
      if (!(await this.store.replaceL2Key(tenant, cur, { version: next, wrapped }, l3s))) {
        throw new Error(`L2 of ${tenant} changed concurrently (rotation or new service); retry`);
      }
      if (e.epoch !== epoch || e.sealed !== undefined) throw this.sealedError(e);
      zeroize(e.l2);
      e.l2.set(next, newL2);
      e.l2Current = next;
      installed = true;
      // The old L2 blob is deleted: its L1 key version need not stay usable for this tenant.
      l1.forgetContext?.(l2Context(tenant, cur));
    } finally {
      if (!installed) newL2.fill(0);
      for (const k of opened) k.fill(0);
    }
    // Reload the L3 rings from the re-wrapped rows, which also proves they open under the new L2.
    const services = new Set((await this.store.listL3Keys(tenant)).map((r) => r.service));
    for (const s of services) await this.loadL3(e, s, false);
    this.log?.info({ tenant, version: next }, 'L2 rotated');
    return next;
  }

  /**
   * Re-wraps every object value of the tenant (optionally one service) that is not under its
   * service's current L3. Safe to interrupt and to run beside traffic: each page is one
   * compare-and-set transaction, and a value saved meanwhile is left as its writer saved it.
   */
  async rewrapAll(tenant: string, service?: string, opts: { pageSize?: number } = {}): Promise<RewrapReport> {
    const report: RewrapReport = { examined: 0, rewrapped: 0, skipped: 0 };
    let after: string | undefined;
    for (;;) {
      const q: { tenant: string; service?: string; afterUid?: string; limit: number } = { tenant, limit: opts.pageSize ?? 256 };
      if (service !== undefined) q.service = service;
      if (after !== undefined) q.afterUid = after;
      const rows = await this.store.scanWrappedValues(q);
      if (rows.length === 0) return report;
      const changes: { tenant: string; uid: string; expected: Buffer; next: Buffer }[] = [];
      for (const r of rows) {
        report.examined++;
        const v = HierarchyEngine.blobL3Version(r.wrappedValue);
        if (v === undefined) {
          report.skipped++;
          continue;
        }
        const e = await this.ready(tenant);
        if (e.l3.get(r.service) === undefined) await this.loadL3(e, r.service, false);
        if (e.l3.get(r.service)?.current === v) continue;
        const place = { tenant, service: r.service, uid: r.uid };
        const plain = await this.unwrap(place, r.wrappedValue, { rewrap: false });
        try {
          changes.push({ tenant, uid: r.uid, expected: r.wrappedValue, next: await this.wrap(place, plain) });
        } finally {
          plain.fill(0);
        }
      }
      report.rewrapped += await this.store.replaceWrappedValues(changes);
      after = rows[rows.length - 1]!.uid;
    }
  }

  // ---------------------------------------------------------------- L1 status check

  /**
   * One pass of the periodic L1 status check: disabled or revoked → seal; unreachable past
   * the grace period → seal; active again → unseal a tenant whose seal heals by itself.
   * Each provider is asked once per pass, however many tenants share it.
   */
  async checkL1Status(): Promise<void> {
    if (this.closed) return;
    const asked = new Map<L1Provider, Promise<L1Status>>();
    const ask = (l1: L1Provider): Promise<L1Status> => {
      let p = asked.get(l1);
      if (p === undefined) {
        p = this.l1Call(l1.status(), this.l1TimeoutMs, 'status').catch((err): L1Status => ({ state: 'unreachable', detail: message(err) }));
        asked.set(l1, p);
      }
      return p;
    };
    await Promise.all(
      [...this.tenants.values()].map(async (e) => {
        const l1 = e.l1;
        if (l1 === undefined || e.killed) return;
        if (e.sealed !== undefined && !SELF_HEALING.has(e.sealed.kind)) return;
        const epoch = e.epoch;
        const st = await ask(l1);
        if (e.l1 !== l1 || e.epoch !== epoch) return;
        this.applyStatus(e, st, PERIODIC);
        if (st.state === 'active' && e.sealed !== undefined && e.sealed.kind !== 'not-unsealed' && this.now() - e.lastAttempt >= this.retryIntervalMs) {
          await this.attemptUnseal(e, this.l1TimeoutMs);
        }
      }),
    );
  }

  /**
   * What an L1 status answer means for one tenant, wherever it was asked (the periodic check,
   * or `kmipctl l1 check`): disabled or revoked → sealed at once; unreachable → sealed once
   * the grace period has run out since it was first seen unreachable; active → the grace
   * period is reset (unsealing is left to the next access or the periodic check).
   */
  private applyStatus(e: TenantEntry, st: L1Status, source: string): void {
    e.lastStatus = st;
    if (st.state === 'active') {
      e.unreachableSince = undefined;
      return;
    }
    if (st.state === 'unreachable') {
      e.unreachableSince ??= this.now();
      if (this.now() - e.unreachableSince < this.graceMs) return;
      this.sealEntry(e, 'l1-status', `L1 unreachable for more than ${Math.round(this.graceMs / 1000)} s: ${st.detail}`);
      return;
    }
    this.sealEntry(e, 'l1-status', `L1 key ${st.state}: ${st.detail}${source === PERIODIC ? '' : ` (found by ${source})`}`);
  }

  /**
   * A status of the tenant's own L1 found outside the periodic check (issue 16 §3: `kmipctl
   * l1 check T` that finds the key revoked or disabled seals T at once, not 20-30 s later).
   * The seal is of kind 'l1-status': it heals only when the L1 opens the L2 again. A tenant
   * killed or sealed by a stronger act is left as it is (SEAL_RANK).
   */
  reportL1Status(tenant: string, status: L1Status, source = 'l1 check'): TenantStatus {
    this.assertOpen();
    const e = this.entry(tenant);
    if (!e.killed) this.applyStatus(e, status, source);
    return this.status(tenant);
  }

  /**
   * Proves that `l1` opens every stored L2 version of the tenant (issue 16 §3: a pointer is
   * saved only when it works). Nothing is written and nothing is installed: the unwrapped
   * keys are zeroized at once. A tenant without an L2 yet passes (its first unseal creates
   * the L2 under this L1). Throws an Error naming the version that did not open.
   */
  async verifyL1(tenant: string, l1: L1Provider): Promise<{ l2Versions: number[] }> {
    this.assertOpen();
    const rows = await this.store.listL2Keys(tenant);
    for (const r of rows) {
      let k: Buffer | undefined;
      try {
        k = await this.l1Call(l1.unwrap(r.wrapped, l2Context(tenant, r.version)), this.l1TimeoutMs, `unwrap L2 v${r.version} of ${tenant}`);
        if (k.length !== HIERARCHY_KEY_BYTES) throw new Error(`it unwrapped to ${k.length} bytes, not ${HIERARCHY_KEY_BYTES}`);
      } catch (err) {
        throw new Error(`this L1 cannot unwrap L2 v${r.version} of tenant ${tenant}: ${message(err)}`);
      } finally {
        k?.fill(0);
      }
    }
    return { l2Versions: rows.map((r) => r.version) };
  }

  // ---------------------------------------------------------------- inspection

  status(tenant: string): TenantStatus {
    const e = this.entry(tenant);
    const s: TenantStatus = {
      tenant,
      sealed: e.sealed !== undefined,
      killed: e.killed,
      services: [...e.l3.entries()].map(([service, ring]) => ({ service, currentVersion: ring.current, versions: [...ring.keys.keys()].sort((a, b) => a - b) })),
    };
    if (e.sealed !== undefined) {
      s.sealKind = e.sealed.kind;
      s.reason = e.sealed.reason;
      s.sealedAt = e.sealed.since;
    } else {
      s.l2Version = e.l2Current;
    }
    if (e.l1 !== undefined) s.l1 = e.l1.describe();
    if (e.lastStatus !== undefined) s.lastL1Status = e.lastStatus;
    return s;
  }

  /** Tenants this engine has seen. */
  tenantNames(): string[] {
    return [...this.tenants.keys()];
  }

  /**
   * References to the tenant's live L2 and L3 key buffers. For tests only: they prove that
   * sealing zeroizes the very buffers the engine used. Never exposed to clients.
   */
  liveKeyBuffersForTests(tenant: string): Buffer[] {
    const e = this.tenants.get(tenant);
    if (e === undefined) return [];
    return [...e.l2.values(), ...[...e.l3.values()].flatMap((r) => [...r.keys.values()])];
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the hierarchy engine is closed');
  }

  /** Stops the status check, waits for background re-wraps, and seals (zeroizes) every tenant. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.allSettled([...this.pending]);
    if (this.checking !== undefined) await this.checking.catch(() => undefined);
    for (const e of this.tenants.values()) this.sealEntry(e, 'closed', 'the server is shutting down');
  }
}
