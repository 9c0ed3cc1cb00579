// The execution plane (issue 10; DESIGN.md §1 "Krypton Core"): `openkcm core --region R
// --cmk URL`. A core holds the KMIP listener, the hierarchy engine and the regional vault,
// and no governance of its own: identities, roles, grants, tenants and L1 pointers come from
// its CMK (snapshot + change stream, src/link/), into an in-memory replica that the access
// control reads on every message. What the CMK decides, the core carries out on the key
// hierarchy:
//
//   tenant killed / L1 pointer removed → kill switch: L2/L3 zeroized, every request refused
//   tenant sealed / unsealed           → seal / unseal
//   L1 pointer set                     → the core opens that L1 itself and unwraps this
//                                        region's L2 (recursive unsealing; the CMK never calls an L1)
//   rotation (minVersion)              → the service gets an L3 version ≥ minVersion, once per
//                                        region however many nodes share the vault
//   L2 rotation (generation)           → the region's L2 is rotated once per generation; the
//                                        vault decides which node does it, the others reload
//   no contact past the lease          → every tenant sealed (failMode closed), unsealed again
//                                        when the CMK is back and the pointers still say so
//
// The core's audit records go to the regional vault's hash chain — the SQLite vault's own
// log, or on PostgreSQL the one chain every node of the region appends to
// (src/audit/pg-chain.ts) — and are shipped to the CMK in order from a cursor kept in the
// vault (src/link/audit-shipper.ts). Its state per tenant is posted to the CMK periodically.
import { AsyncOperationStore } from '../store/async-operations.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { openSqliteStore, type SqliteStore } from '../store/sqlite.ts';
import type { ObjectStore } from '../store/types.ts';
import type { L1Pointer } from '../store/governance.ts';
import type { L1Provider } from '../hsm/types.ts';
import { openL1Provider, parseL1Config } from '../hsm/index.ts';
import { HierarchyEngine } from '../hierarchy/engine.ts';
import { serviceKeyWrapper } from '../hierarchy/service-wrapping.ts';
import { createHierarchyProtector, type HierarchyBackingStore } from '../hierarchy/hierarchy-protector.ts';
import { createObjectRepository, type ObjectAccess } from '../hierarchy/repository.ts';
import { openAuditLog, type AuditLog } from '../audit/log.ts';
import { PgAuditChain, PgShipLease } from '../audit/pg-chain.ts';
import { PostgresStore } from '../store/postgres.ts';
import { OPERATIONS } from '../operations/registry.ts';
import type { ClientIdentity, ObjectRepository, ServerInfo } from '../operations/types.ts';
import * as adapters from '../kmip/adapters/index.ts';
import { silentLogger } from '../log/index.ts';
import { LinkClient, LinkError, type LinkTls } from '../link/client.ts';
import { LinkFollower } from '../link/follower.ts';
import { GovernanceReplica } from '../link/replica.ts';
import { AuditShipper, regionShipSource, sqliteShipSource, type ShipSource } from '../link/audit-shipper.ts';
import { DEFAULT_LEASE_MS, type LinkChange, type LinkL2Rotation, type LinkNodeStatus, type LinkRotation } from '../link/protocol.ts';
import { KmipEngine, type AccessControl, type Authentication, type VersionAdapters } from './executor.ts';
import { GovernanceAccess, DATABASE_FILE, tenantCounts } from './runtime.ts';
import type { OpenKcmMetrics } from './metrics.ts';
import type { ReadinessSources } from './health.ts';
import { parseIdentityUri } from './ca.ts';

/** How often a core posts its per-tenant state to the CMK (issue 10 §2 "node status"). */
export const NODE_STATUS_INTERVAL_MS = 5_000;
/** Least lease: below a few heartbeats every hiccup of the network would seal the region. */
export const MIN_LEASE_MS = 3_000;
/** Rotation attempts when another node of the region inserts the same version first. */
const ROTATION_ATTEMPTS = 5;
/**
 * System blob (vault) naming the region's L2 version when a node first saw L2 rotation
 * request `generation` of `tenant`: the rotation is done once the vault's current version is
 * above it. Written once (insert-if-absent), so every node of the region reads the same.
 */
export const l2RotationMarker = (tenant: string, generation: number): string => `l2-rotation/${tenant}/${generation}`;

export type FailMode = 'closed' | 'open';

/** Where a core's audit records go (both are the engine's AuditSink). */
export type CoreAudit = AuditLog | PgAuditChain;

/**
 * A vault the core can run on (SQLite, or PostgreSQL shared by the region's nodes). A shared
 * one tells of hierarchy rows another node wrote (PostgreSQL LISTEN/NOTIFY).
 */
export type CoreVault = ObjectStore & HierarchyBackingStore & {
  onHierarchyChange?(fn: (c: { kind: 'l3'; tenant: string; service: string; version: number } | { kind: 'l2'; tenant: string; version: number } | { kind: 'l1'; tenant: string; state: 'active' | 'disabled' }) => void): () => void;
};

export interface CoreOptions {
  region: string;
  /** This node's name (status, audit shipping); default the host name. */
  node: string;
  cmk: { url: string; tls: LinkTls; requestTimeoutMs?: number };
  /** SQLite vault (and its audit chain) in this directory, when `vault` is not given. */
  dataDir?: string;
  /** An opened PostgreSQL vault (the region's audit chain lives in it too); the core closes it at close(). */
  vault?: CoreVault;
  leaseMs?: number;
  failMode?: FailMode;
  logger?: Logger;
  /** Link stream idle limit (tests shorten it together with the lease). */
  streamIdleMs?: number;
  statusIntervalMs?: number;
  /**
   * Prometheus metrics (issue 14 §2, `--metrics-listen`): the engine counts requests into
   * it; the audit chain, the SQLite vault and the hierarchy report into it. Undefined:
   * nothing is measured.
   */
  metrics?: OpenKcmMetrics;
}

export interface CoreRuntime {
  engine: KmipEngine;
  hierarchy: HierarchyEngine;
  replica: GovernanceReplica;
  follower: LinkFollower;
  /** The regional vault's audit chain: the SQLite vault's log, or the region's chain on PostgreSQL. */
  audit: CoreAudit;
  shipper: AuditShipper;
  logger: Logger;
  region: string;
  node: string;
  /** Time since which the CMK is unreachable past the lease, or undefined. */
  leaseExpiredSince(): number | undefined;
  /** What this node posts as its status. */
  status(): LinkNodeStatus;
  /** What /readyz asks (src/server/health.ts): the vault answers, the replica's tenants' seal state, the audit chain. */
  readinessSources(): ReadinessSources;
  close(): Promise<void>;
}

function productVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * The core's access control: the governance replica, read by the same GovernanceAccess as
 * `openkcm serve`. A certificate OpenKCM issued for a tenant this region does not serve is
 * told so, instead of "unknown certificate" (issue 10 §3).
 */
export class CoreAccess implements AccessControl {
  private readonly inner: GovernanceAccess;
  constructor(private readonly replica: GovernanceReplica) {
    this.inner = new GovernanceAccess(replica.governance);
  }

  authenticate(who: ClientIdentity): Authentication {
    const a = this.inner.authenticate(who);
    if (a.ok || a.identityId !== undefined) return a;
    for (const san of who.sans) {
      if (!san.startsWith('URI:')) continue;
      const id = parseIdentityUri(san.slice(4));
      if (id !== undefined && this.replica.governance.getTenant(id.tenant) === undefined) {
        return { ok: false, reason: `tenant ${id.tenant} is not served in region ${this.replica.region}`, tenant: id.tenant, service: id.service };
      }
    }
    return a;
  }
}

const pointerKey = (p: L1Pointer): string => JSON.stringify([p.provider, p.config]);

/** Applies the CMK's decisions to the hierarchy engine; one chain of work per tenant keeps them in order. */
class HierarchyApplier {
  private readonly providers = new Map<string, { key: string; l1: L1Provider }>();
  private readonly chains = new Map<string, Promise<void>>();
  leaseSince: number | undefined;

  constructor(
    private readonly hierarchy: HierarchyEngine,
    private readonly replica: GovernanceReplica,
    private readonly log: Logger,
    private readonly failMode: FailMode,
    private readonly vault: CoreVault,
    private readonly audit: CoreAudit,
  ) {}

  /** A rotation this node carried out for the CMK: one record in the region's chain. */
  private audited(tenant: string, service: string | null, operation: string, detail: string): void {
    try {
      this.audit.append({ kind: 'system', identity: 'cmk', tenant, service, operation, result: 'success', detail });
    } catch (e) {
      this.log.error({ event: 'audit_failed', err: (e as Error).message, operation }, 'could not append an audit record');
    }
  }

  private leaseReason(): string {
    return `governance unreachable since ${new Date(this.leaseSince!).toISOString()}`;
  }

  /** Queues a reconcile of one tenant behind the work already queued for it. */
  reconcile(tenant: string): Promise<void> {
    const prev = this.chains.get(tenant) ?? Promise.resolve();
    const next = prev.then(() => this.doReconcile(tenant)).catch((e) => {
      this.log.error({ event: 'core_apply_failed', tenant, err: (e as Error).message }, 'applying a governance change failed');
    });
    this.chains.set(tenant, next);
    void next.finally(() => { if (this.chains.get(tenant) === next) this.chains.delete(tenant); });
    return next;
  }

  /** Every tenant the replica or the engine knows. */
  reconcileAll(): Promise<void> {
    const names = new Set([...this.replica.tenants().map((t) => t.tenant.id), ...this.hierarchy.tenantNames()]);
    return Promise.all([...names].map((t) => this.reconcile(t))).then(() => undefined);
  }

  /** The kill switch acts at once, ahead of any queued work: the seal is synchronous (engine.killSwitch). */
  killNow(tenant: string, reason: string): void {
    this.hierarchy.killSwitch(tenant, reason).catch((e) => this.log.error({ event: 'kill_persist_failed', tenant, err: (e as Error).message }, 'kill switch: persisting the disabled pointer failed'));
  }

  private async closeProvider(tenant: string): Promise<void> {
    const p = this.providers.get(tenant);
    if (p === undefined) return;
    this.providers.delete(tenant);
    await p.l1.close().catch(() => undefined);
  }

  private async doReconcile(tenant: string): Promise<void> {
    const view = this.replica.tenant(tenant);
    if (view === undefined) {
      // Deleted on the CMK or no longer pinned to this region: nothing of it is served here.
      if (this.hierarchy.tenantNames().includes(tenant)) this.hierarchy.seal(tenant, `not served in region ${this.replica.region}`);
      await this.closeProvider(tenant);
      return;
    }
    const { tenant: t, l1 } = view;
    if (t.state === 'killed' || l1?.state === 'removed') {
      const st = this.hierarchy.status(tenant);
      if (!st.killed) await this.hierarchy.killSwitch(tenant, t.state === 'killed' ? 'kill switch (tenant killed on the CMK)' : 'kill switch (L1 pointer removed on the CMK)');
      await this.closeProvider(tenant);
      return;
    }
    if (this.leaseSince !== undefined && this.failMode === 'closed') {
      this.hierarchy.seal(tenant, this.leaseReason());
      return;
    }
    if (t.state === 'sealed') {
      this.hierarchy.seal(tenant, 'sealed on the CMK');
      return;
    }
    if (l1 === undefined) {
      this.hierarchy.seal(tenant, 'no L1 pointer is set for this tenant on the CMK (kmipctl l1 set)');
      return;
    }
    const key = pointerKey(l1);
    const have = this.providers.get(tenant);
    if (have === undefined || have.key !== key) {
      let opened: L1Provider;
      try {
        opened = await openL1Provider(parseL1Config({ ...l1.config, provider: l1.provider }));
      } catch (e) {
        this.log.error({ event: 'tenant_l1_open_failed', tenant, provider: l1.provider, err: (e as Error).message }, 'tenant L1 provider cannot be opened; the tenant stays sealed');
        await this.closeProvider(tenant);
        this.hierarchy.registerTenantUnavailable(tenant, (e as Error).message);
        return;
      }
      await this.closeProvider(tenant);
      this.providers.set(tenant, { key, l1: opened });
      // Recursive unsealing (DESIGN.md §2): this core asks the tenant's L1 for this region's L2.
      await this.hierarchy.enableTenant(tenant, opened);
    } else if (this.hierarchy.status(tenant).sealed) {
      await this.hierarchy.unsealTenant(tenant);
    }
    const st = this.hierarchy.status(tenant);
    if (st.sealed) this.log.warn({ event: 'tenant_still_sealed', tenant, reason: st.reason }, 'tenant stays sealed');
    else {
      await this.ensureL2Rotation(tenant);
      await this.ensureRotations(tenant);
    }
  }

  /**
   * L2 rotation requested on the CMK: the region's L2 is rotated once for the request's
   * generation, whichever node of the region gets there first. The first node to see the
   * generation records the vault's current L2 version for it (insert-if-absent, so every
   * node reads the same value); the rotation is done once the vault's current version is
   * above that, and a node rotates only while it is still that version (rotateL2If: the
   * store's replace is conditional on it, so two racing nodes make one new version). A node
   * that dies between the marker and the rotation leaves the work to the next node or start.
   */
  async ensureL2Rotation(tenant: string, only?: LinkL2Rotation): Promise<void> {
    const r = only ?? this.replica.l2RotationOf(tenant);
    if (r === undefined || this.hierarchy.status(tenant).sealed) return; // done at the next unseal
    const current = async () => (await this.vault.listL2Keys(tenant)).find((x) => x.current)?.version;
    const seen = await current();
    if (seen === undefined) return; // no L2 in this region yet: the first unseal makes one
    const from = Number((await this.vault.putSystemBlobIfAbsent(l2RotationMarker(tenant, r.generation), Buffer.from(String(seen), 'utf8'))).toString('utf8'));
    let last = 'none';
    for (let attempt = 0; ; attempt++) {
      const cur = (await current()) ?? 0;
      if (cur > from) {
        // Done (by us or another node of the region): wrap under the vault's L2 from now on.
        await this.hierarchy.reloadL2(tenant, cur);
        return;
      }
      if (attempt >= ROTATION_ATTEMPTS) throw new Error(`L2 of ${tenant} not rotated after ${attempt} attempts (vault at v${cur}, request ${r.generation} from v${from}; last error: ${last})`);
      try {
        const done = await this.hierarchy.rotateL2If(tenant, from);
        if (done.rotated) {
          this.log.info({ event: 'l2_rotated', tenant, version: done.version, generation: r.generation }, 'L2 rotated as the CMK asked');
          this.audited(tenant, null, 'l2.rotate', `L2 rotated to version ${done.version} in this region's vault (request ${r.generation} of the CMK)`);
        }
      } catch (e) {
        // Another node of the region rotated first, or our L2 in memory is behind the vault's.
        last = (e as Error).message;
        await this.hierarchy.reloadL2(tenant, cur + 1).catch(() => undefined);
      }
    }
  }

  l2Rotation(r: LinkL2Rotation): Promise<void> {
    return this.queue(r.tenant, () => this.ensureL2Rotation(r.tenant, r), 'L2 rotation asked by the CMK failed');
  }

  /**
   * Runs `work` behind the tenant's queued work. Like reconcile(): a settled chain leaves the
   * map, else idle() (close, start) would spin on it forever in microtasks, starving every
   * timer of the process.
   */
  private queue(tenant: string, work: () => Promise<void>, failure: string): Promise<void> {
    const prev = this.chains.get(tenant) ?? Promise.resolve();
    const next = prev.then(work).catch((e) => {
      this.log.error({ event: 'core_rotation_failed', tenant, err: (e as Error).message }, failure);
    });
    this.chains.set(tenant, next);
    void next.finally(() => { if (this.chains.get(tenant) === next) this.chains.delete(tenant); });
    return next;
  }

  /** Rotation requested on the CMK: make sure each service has an L3 version ≥ minVersion. */
  async ensureRotations(tenant: string, only?: LinkRotation): Promise<void> {
    const list = only ? [only] : this.replica.rotationList().filter((r) => r.tenant === tenant);
    for (const r of list) {
      if (this.hierarchy.status(tenant).sealed) return; // done at the next unseal
      for (let attempt = 0; ; attempt++) {
        const current = (await this.hierarchy.reloadL3(tenant, r.service)) ?? 0;
        if (current >= r.minVersion) break;
        try {
          // `below`: decided on the vault's rows, so a node whose ring predates another
          // node's insert does not add a second version (exactly one per request).
          const before = current;
          const v = await this.hierarchy.rotateL3(tenant, r.service, { below: r.minVersion });
          if (v >= r.minVersion) this.log.info({ event: 'l3_rotated', tenant, service: r.service, version: v, minVersion: r.minVersion }, 'L3 at the version the CMK asked');
          if (v > before) this.audited(tenant, r.service, 'l3.rotate', `L3 rotated to version ${v} in this region's vault (the CMK asked for version ${r.minVersion} at least)`);
        } catch (e) {
          // Another node of this region inserted that version first: re-read and re-check.
          if (attempt + 1 >= ROTATION_ATTEMPTS) throw e;
        }
      }
    }
  }

  rotation(r: LinkRotation): Promise<void> {
    return this.queue(r.tenant, () => this.ensureRotations(r.tenant, r), `rotation of service ${r.service} asked by the CMK failed`);
  }

  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  async close(): Promise<void> {
    await this.idle().catch(() => undefined);
    for (const t of [...this.providers.keys()]) await this.closeProvider(t);
  }
}

/**
 * Opens a core: its vault, its hierarchy engine (no default L1: a tenant is opened only by
 * the L1 its pointer names), the link to the CMK (the snapshot must load, or this throws a
 * LinkError naming what to fix), and the KMIP engine reading governance from the replica.
 */
export async function openCoreRuntime(opts: CoreOptions): Promise<CoreRuntime> {
  const logger = (opts.logger ?? silentLogger()).child({ region: opts.region, node: opts.node });
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const failMode = opts.failMode ?? 'closed';
  const client = new LinkClient({ url: opts.cmk.url, tls: opts.cmk.tls, ...(opts.cmk.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.cmk.requestTimeoutMs } : {}) });
  let replica: GovernanceReplica | undefined;
  let sqlite: SqliteStore | undefined;
  let vault: CoreVault | undefined = opts.vault;
  let audit: CoreAudit | undefined;
  let source: ShipSource | undefined;
  let hierarchy: HierarchyEngine | undefined;
  let applier: HierarchyApplier | undefined;
  let follower: LinkFollower | undefined;
  let shipper: AuditShipper | undefined;
  const timers: NodeJS.Timeout[] = [];
  try {
    replica = await GovernanceReplica.open(opts.region);
    if (vault === undefined) {
      if (opts.dataDir === undefined) throw new Error('a core needs --data DIR (SQLite vault) or --database-url (PostgreSQL vault)');
      sqlite = await openSqliteStore(join(opts.dataDir, DATABASE_FILE));
      vault = sqlite;
    }
    // The regional vault's audit chain (issue 10 §2).
    const onAuditError = (err: Error) => logger.error({ err, event: 'audit_error' }, 'audit log write failed');
    if (sqlite !== undefined) {
      // Same as serve: the audit group commit shares the vault's WAL flush off the event loop
      // (src/store/wal-durability.ts) instead of an fsync on the main thread per group.
      const durability = sqlite.durability;
      const log = openAuditLog(sqlite.database, { onError: onAuditError, ...(durability !== undefined ? { durability } : {}) });
      audit = log;
      source = sqliteShipSource(log);
    } else if (vault instanceof PostgresStore) {
      // One chain for every node of the region, in the vault's database; shipped by one node at a time.
      const chain = await PgAuditChain.open(vault.url, { node: opts.node, onError: onAuditError });
      audit = chain;
      source = regionShipSource(chain, new PgShipLease(vault.url, `openkcm-audit-ship ${opts.node}`.slice(0, 63)));
    } else {
      throw new Error('a core runs on its SQLite vault (--data) or on a PostgreSQL vault (--database-url)');
    }
    const hier = new HierarchyEngine({ store: vault, log: logger });
    hierarchy = hier;
    const app = new HierarchyApplier(hier, replica, logger, failMode, vault, audit);
    applier = app;
    // Another node of the region rotated an L3 or the L2: this node wraps with the new version
    // at once instead of at its next miss (a stale ring would keep wrapping under the old L3).
    const unlisten = vault.onHierarchyChange?.((c) => {
      if (hier.isSealed(c.tenant)) return;
      if (c.kind === 'l3') {
        hier.reloadL3(c.tenant, c.service).catch((e) => logger.debug({ event: 'l3_reload_failed', tenant: c.tenant, err: (e as Error).message }, 'L3 reload after a change of another node failed'));
      } else if (c.kind === 'l2') {
        // Our L2 is stale: open the new one with the tenant's L1 and re-read the L3 rings,
        // without refusing anything meanwhile. Should that fail, open the tenant again.
        hier.reloadL2(c.tenant, c.version).catch((e) => {
          logger.warn({ event: 'l2_reload_failed', tenant: c.tenant, err: (e as Error).message }, 'L2 rotated by another node: reload failed, re-opening the tenant');
          hier.seal(c.tenant, 'L2 rotated by another node of the region: re-opening');
          void app.reconcile(c.tenant);
        });
      }
    });
    const rep = replica;

    let lastContact = Date.now();
    const fol = new LinkFollower(client, replica, {
      onSnapshot: async () => {
        await app.reconcileAll();
      },
      onChange: async (c: LinkChange) => {
        const tenant = c.entity === 'tenant' ? (c.op === 'put' ? c.value.id : c.key.id) : c.tenant;
        if (c.entity === 'rotation') {
          // Queued behind the tenant's other work; the stream does not wait for it.
          void app.rotation(c.value);
          return;
        }
        if (c.entity === 'l2rotation') {
          void app.l2Rotation(c.value);
          return;
        }
        if (tenant === undefined) return; // roles: the access control re-reads the replica
        const v = rep.tenant(tenant);
        if (v !== undefined && (v.tenant.state === 'killed' || v.l1?.state === 'removed')) {
          // The kill switch does not wait behind anything (issue 10 §2: within 1 s).
          const st = hier.status(tenant);
          if (!st.killed) app.killNow(tenant, v.tenant.state === 'killed' ? 'kill switch (tenant killed on the CMK)' : 'kill switch (L1 pointer removed on the CMK)');
        }
        if (c.entity === 'tenant' || c.entity === 'l1') void app.reconcile(tenant);
      },
      onContact: (at) => {
        lastContact = at;
      },
      onCaughtUp: () => {
        if (app.leaseSince === undefined) return;
        logger.warn({ event: 'lease_restored', since: new Date(app.leaseSince).toISOString() }, 'governance reachable again and caught up: unsealing what the pointers allow');
        app.leaseSince = undefined;
        void app.reconcileAll();
      },
      onDisconnect: () => undefined,
    }, logger, opts.streamIdleMs);
    follower = fol;
    await fol.loadSnapshot();

    // The lease (issue 10 §2): no contact for longer than leaseMs → seal every tenant.
    let lastOpenWarn = 0;
    const leaseCheck = setInterval(() => {
      const now = Date.now();
      if (now - lastContact <= leaseMs) return;
      if (app.leaseSince === undefined) {
        app.leaseSince = lastContact;
        if (failMode === 'closed') {
          logger.error({ event: 'lease_expired', since: new Date(lastContact).toISOString(), leaseMs }, 'no contact with the CMK for longer than the lease: sealing every tenant');
          for (const t of new Set([...rep.tenants().map((x) => x.tenant.id), ...hier.tenantNames()])) {
            hier.seal(t, `governance unreachable since ${new Date(lastContact).toISOString()}`);
          }
        }
      }
      if (failMode === 'open' && now - lastOpenWarn >= leaseMs) {
        lastOpenWarn = now;
        logger.warn({ event: 'lease_expired_fail_open', since: new Date(app.leaseSince).toISOString(), leaseMs },
          '*** FAIL-OPEN: no contact with the CMK for longer than the lease, still serving every tenant (a kill switch would not reach this core) ***');
      }
    }, Math.max(50, Math.min(1_000, Math.floor(leaseMs / 10))));
    leaseCheck.unref();
    timers.push(leaseCheck);
    if (failMode === 'open') {
      logger.warn({ event: 'fail_mode_open', leaseMs }, '*** FAIL-OPEN: this core keeps serving when the CMK is unreachable past the lease ***');
    }

    const node = { node: opts.node, region: opts.region };
    const aud = audit;
    shipper = new AuditShipper(source, client, node, logger);
    const version = productVersion();
    const server: ServerInfo = {
      vendor: 'OpenKCM', product: `OpenKCM Krypton Core (region ${opts.region})`, version,
      l1: { provider: 'software', keyRef: 'per tenant: the L1 pointer set on the CMK', developmentOnly: false },
    };
    const status = (): LinkNodeStatus => ({
      node: opts.node, region: opts.region, at: new Date().toISOString(), seq: rep.seq,
      tenants: rep.tenants().map(({ tenant }) => {
        const st = hier.status(tenant.id);
        const state: 'unsealed' | 'sealed' | 'killed' = st.killed ? 'killed' : st.sealed ? 'sealed' : 'unsealed';
        const out: LinkNodeStatus['tenants'][number] = { tenant: tenant.id, state };
        if (st.reason !== undefined) out.reason = st.reason;
        if (st.lastL1Status !== undefined) out.l1Status = st.lastL1Status.state;
        return out;
      }),
    });
    let posting = false;
    const postStatus = () => {
      if (posting) return;
      posting = true;
      client.postStatus(status()).catch((e) => logger.debug({ event: 'status_post_failed', err: (e as Error).message }, 'node status not posted'))
        .finally(() => { posting = false; });
    };
    const statusTimer = setInterval(postStatus, opts.statusIntervalMs ?? NODE_STATUS_INTERVAL_MS);
    statusTimer.unref();
    timers.push(statusTimer);

    const protector = createHierarchyProtector(hier);
    const v = vault;
    const engine = new KmipEngine({
      operations: OPERATIONS,
      adapters: adapters satisfies VersionAdapters,
      access: new CoreAccess(rep),
      audit: aud,
      repositoryFor: (id: { tenant: string; service: string }, objectAccess: ObjectAccess): ObjectRepository =>
        createObjectRepository(v, protector, { tenant: id.tenant, service: id.service, access: objectAccess }),
      removeObject: (id: { tenant: string }, uid: string) => v.delete(id.tenant, uid),
      // Sealed (by the CMK, the kill switch or the lease) → refused before any batch item runs.
      tenantGate: (tenant: string) => hier.assertUnsealed(tenant),
      // Seals (CMK, kill switch, lease) and unseals wake gateways' status watches (gateway-watch.ts).
      tenantChanges: (listener: (tenant: string) => void) => hier.onStateChange(listener),
      tenantSealed: (tenant: string) => hier.isSealed(tenant),
      // Pending / Poll / Cancel keep their state in the node's SQLite vault; a node on the
      // region's PostgreSQL vault processes every request synchronously (README, KMIP operations).
      ...(sqlite !== undefined ? { asyncOperations: { store: new AsyncOperationStore(sqlite.database) } } : {}),
      // Each service's L3 as a gateway's non-extractable wrapping object (issue 11).
      serviceKeys: serviceKeyWrapper(hier),
      server,
      logger,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
    });
    const metrics = opts.metrics;
    // The tenants a core serves are the replica's (those of its region), not a governance of its own.
    const tenantIds = () => rep.tenants().map((x) => x.tenant.id);
    if (metrics !== undefined) {
      // The SQLite vault's log times its group commits; the PostgreSQL chain commits inside
      // its own transactions and has no such hook, so only its queue depth is reported.
      if ('observeCommits' in aud) aud.observeCommits((seconds) => metrics.auditCommitted(seconds));
      if (sqlite !== undefined) sqlite.commitObserver = (seconds) => metrics.storeCommitted('sqlite', seconds);
      metrics.watchAuditQueue(() => aud.pendingCount());
      metrics.watchTenants(() => tenantCounts(hier, tenantIds()));
    }
    const sqliteVault = sqlite;
    const readinessSources = (): ReadinessSources => ({
      async store() {
        if (sqliteVault !== undefined) sqliteVault.database.prepare('SELECT 1').get();
        else if (v instanceof PostgresStore) await v.database.query('SELECT 1');
      },
      tenants: tenantIds,
      // As runtimeReadinessSources: a tenant not opened yet, or opened on demand, is not sealed.
      isSealed: (t) => {
        if (!hier.tenantNames().includes(t)) return false;
        const st = hier.status(t);
        return st.sealed && st.sealKind !== 'not-unsealed';
      },
      audit: () => aud.availability(),
    });
    await app.idle();
    fol.start();
    postStatus();
    const ship = shipper;
    let closed = false;
    return {
      engine, hierarchy: hier, replica: rep, follower: fol, audit: aud, shipper: ship, logger, region: opts.region, node: opts.node,
      leaseExpiredSince: () => app.leaseSince,
      status,
      readinessSources,
      async close() {
        if (closed) return;
        closed = true;
        for (const t of timers) clearInterval(t);
        unlisten?.();
        await fol.stop();
        await app.close();
        await engine.close();
        try { await aud.flush(); } catch { /* the chain is unreachable: its queue is lost with this process, as any crash loses the last group */ }
        // Last records out, briefly: what is not acknowledged ships at the next start (or,
        // on a shared chain, from another node of the region).
        await ship.drained(1_000);
        await ship.stop();
        await aud.close();
        await hier.close();
        await v.close();
        await rep.close();
        client.close();
      },
    };
  } catch (e) {
    for (const t of timers) clearInterval(t);
    await follower?.stop().catch(() => undefined);
    await applier?.close().catch(() => undefined);
    await shipper?.stop().catch(() => undefined);
    try { await audit?.close(); } catch { /* closing after a failed open */ }
    await hierarchy?.close().catch(() => undefined);
    await vault?.close().catch(() => undefined);
    await replica?.close().catch(() => undefined);
    client.close();
    throw e;
  }
}

export { LinkError };
