// Everything a KMIP engine needs, opened together and closed together: the SQLite store,
// the (development) L1 provider, the key hierarchy (L2 per tenant, L3 per service; an
// interim-protected database is migrated at open), the operations registry, the
// governance data with its access control, and the audit log.
// `openRuntime({})` is in-memory and cheap: the conformance runner opens one per vector
// file, tests one per suite.
//
// Bootstrap mode (issue 7): while the governance data has never been initialised (no
// tenant or identity was ever created), there is nothing to authorise against, and the
// server behaves as the single-tenant server it was before governance: every certificate
// the TLS layer accepted (signed by the configured CA) acts as role admin of tenant
// `default`, service `default`. `bootstrapClientCertFile` (the dev client certificate of
// `openkcm serve`) ends that mode at the first start: it is registered by fingerprint as
// that admin, and from then on only registered identities are served. Once initialised,
// the mode never comes back — deleting every identity denies everyone.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { openSqliteStore, type SqliteStore } from '../store/sqlite.ts';
import type { VaultStore } from '../store/types.ts';
import type { PostgresStore } from '../store/postgres.ts';
import { SoftwareL1Provider } from '../hsm/software.ts';
import type { L1Provider } from '../hsm/types.ts';
import { openL1Provider, parseL1Config } from '../hsm/index.ts';
import { openHierarchy, type OpenedHierarchy } from '../hierarchy/hierarchy-protector.ts';
import { serviceKeyWrapper } from '../hierarchy/service-wrapping.ts';
import { createObjectRepository, type ObjectAccess } from '../hierarchy/repository.ts';
import { GovernanceStore, type Grant, type Identity, type Role, type Tenant } from '../store/governance.ts';
import { resolveIdentity, servicesOf, type CertificateInfo } from '../policy/access.ts';
import { openAuditLog, type AuditLog } from '../audit/log.ts';
import { OPERATIONS } from '../operations/registry.ts';
import type { ObjectRepository, OperationHandler, ServerInfo } from '../operations/types.ts';
import * as adapters from '../kmip/adapters/index.ts';
import { silentLogger } from '../log/index.ts';
import { rateLimitedAuthFailures } from './auth-failures.ts';
import { KmipEngine, type AccessControl, type Authentication, type VersionAdapters } from './executor.ts';
import type { ClientIdentity } from '../operations/types.ts';
import { observedL1 } from '../hsm/observe.ts';
import type { OpenKcmMetrics, TenantCounts } from './metrics.ts';
import type { HierarchyEngine } from '../hierarchy/engine.ts';
import type { ReadinessSources } from './health.ts';
import { AsyncOperationStore } from '../store/async-operations.ts';
import type { AsyncSettings } from './async-operations.ts';

export const DATABASE_FILE = 'openkcm.db';
export const SOFTWARE_L1_KEY_FILE = 'l1-software.key';

export interface RuntimeOptions {
  /** Directory of the database; undefined → in-memory SQLite (tests, the conformance runner). */
  dataDir?: string;
  /**
   * PostgreSQL vault (postgres://USER:PASSWORD@HOST:PORT/DATABASE): managed objects and the
   * wrapped hierarchy keys live there, shared by every server on that database; governance
   * and the audit chain stay in the SQLite database of `dataDir` (in memory without one).
   * See openVault().
   */
  databaseUrl?: string;
  /**
   * Follow the hierarchy changes of other servers on the PostgreSQL vault (LISTEN/NOTIFY,
   * followVaultChanges); default true. Tests turn it off to show what happens without it.
   */
  vaultNotifications?: boolean;
  /** Development L1 key file; default <dataDir>/l1-software.key, or a throw-away temp file when in memory. */
  l1KeyFile?: string;
  /** Interval of the periodic L1 status check (config l1.statusCheckIntervalMs); default the engine's 30 s. */
  l1StatusCheckIntervalMs?: number;
  /** How long an unreachable L1 is tolerated before its tenant seals; default the engine's 5 min (issue 16 §4 tests shorten it). */
  l1UnreachableGraceMs?: number;
  /** Deadline of each L1 call (wrap, unwrap, status); default the engine's 5 s. */
  l1TimeoutMs?: number;
  /** Least time between two unseal attempts of a sealed tenant; default the engine's 5 s. */
  l1RetryIntervalMs?: number;
  logger?: Logger;
  /** Clock for the engine and operations (tests and vector replays pin it). */
  now?: () => Date;
  /** Replaces the registry (tests only; production uses src/operations/registry.ts). */
  operations?: ReadonlyMap<number, OperationHandler>;
  /**
   * PEM certificate registered, at the first start only, as identity of tenant `default`,
   * service `default`, role admin (the development client certificate of `openkcm serve`).
   */
  bootstrapClientCertFile?: string;
  /** Config audit.durable: a KMIP reply waits until its audit records are on disk (EngineOptions.auditDurable). */
  auditDurable?: boolean;
  /**
   * Prometheus metrics (issue 14 §2): the engine counts requests into it, the audit log and
   * the store report their commits, and it reads tenants' seal states and the audit queue
   * at scrape time. Absent: nothing is measured.
   */
  metrics?: OpenKcmMetrics;
  /** Overrides of the asynchronous operations' limits and clock (tests; src/server/async-operations.ts). */
  asyncOperations?: { settings?: Partial<AsyncSettings>; now?: () => number };
}

export interface Runtime {
  engine: KmipEngine;
  /** The vault: objects and hierarchy keys (SQLite, or PostgreSQL with databaseUrl). */
  store: VaultStore;
  /** The SQLite database of governance and audit (the vault too unless databaseUrl). */
  local: SqliteStore;
  governance: GovernanceStore;
  access: GovernanceAccess;
  /** The hash-chained audit log on the store's database (src/audit). */
  audit: AuditLog;
  l1: L1Provider;
  /** The key hierarchy: seal, kill switch, rotation (src/hierarchy/engine.ts). */
  hierarchy: OpenedHierarchy;
  logger: Logger;
  server: ServerInfo;
  close(): Promise<void>;
}

function productVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
const VERSION = productVersion();

export const BOOTSTRAP_TENANT = 'default';
export const BOOTSTRAP_SERVICE = 'default';
export const BOOTSTRAP_IDENTITY_ID = 'bootstrap';

interface GovernanceSnapshot {
  generation: number;
  initialised: boolean;
  identities: Identity[];
  tenants: Map<string, Tenant>;
  roles: Map<string, Role>;
  grants: Map<string, Grant[]>;
}

/** The certificate facts identity resolution needs, from what the connection extracted. */
export function certificateInfo(who: ClientIdentity): CertificateInfo {
  const info: CertificateInfo = {
    fingerprint: who.fingerprint,
    subject: who.subject,
    sans: who.sans,
    sanUris: who.sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
  };
  if (who.serial !== undefined) info.serial = who.serial;
  return info;
}

/**
 * AccessControl over the GovernanceStore. The governance data is small and read on every
 * message, so it is cached whole and re-read only when the generation counter (bumped by
 * triggers on every change, from any process) has moved: one indexed read per message.
 */
export class GovernanceAccess implements AccessControl {
  private snap: GovernanceSnapshot | undefined;
  /**
   * The last decision per caller (a connection hands in the same ClientIdentity object for
   * every message), valid for one snapshot: a decision is a pure function of the snapshot
   * and the certificate, so while the generation has not moved the identity resolution (a
   * scan of the identities, subject and serial normalisation) would only repeat itself. A
   * moved generation makes a new snapshot, and every decision is taken again.
   */
  private readonly decisions = new WeakMap<ClientIdentity, { snap: GovernanceSnapshot; auth: Authentication }>();
  constructor(private readonly gov: GovernanceStore) {}

  private current(): GovernanceSnapshot {
    const generation = this.gov.generation();
    if (this.snap?.generation === generation) return this.snap;
    const grants = new Map<string, Grant[]>();
    for (const g of this.gov.listGrants()) {
      const list = grants.get(g.tenant) ?? [];
      list.push(g);
      grants.set(g.tenant, list);
    }
    this.snap = {
      generation,
      initialised: this.gov.isInitialised(),
      identities: this.gov.listIdentities(),
      tenants: new Map(this.gov.listTenants().map((t) => [t.id, t])),
      roles: new Map(this.gov.listRoles().map((r) => [r.name, r])),
      grants,
    };
    return this.snap;
  }

  isBootstrap(): boolean {
    return !this.current().initialised;
  }

  authenticate(who: ClientIdentity): Authentication {
    // The generation is still read per message: a revocation or a seal by any process applies at the next one.
    const snap = this.current();
    const last = this.decisions.get(who);
    if (last !== undefined && last.snap === snap) return last.auth;
    const auth = this.decide(snap, who);
    this.decisions.set(who, { snap, auth });
    return auth;
  }

  private decide(snap: GovernanceSnapshot, who: ClientIdentity): Authentication {
    if (!snap.initialised) {
      return {
        ok: true,
        principal: {
          identity: {
            id: BOOTSTRAP_IDENTITY_ID, tenant: BOOTSTRAP_TENANT, service: BOOTSTRAP_SERVICE, role: 'admin',
            match: { kind: 'fingerprint', sha256: who.fingerprint }, revoked: false,
          },
          role: snap.roles.get('admin')!,
          grants: [],
          bootstrap: true,
        },
      };
    }
    const identity = resolveIdentity(certificateInfo(who), snap.identities);
    if (identity === undefined) return { ok: false, reason: 'unknown certificate (no identity is registered for it)' };
    const where = { identityId: identity.id, tenant: identity.tenant, service: identity.service };
    if (identity.revoked) return { ok: false, reason: 'the identity of this certificate is revoked', ...where };
    const tenant = snap.tenants.get(identity.tenant);
    if (tenant === undefined) return { ok: false, reason: 'the tenant of this identity does not exist', ...where };
    // A sealed or killed tenant refuses its requests (DESIGN.md §2 "Sealing").
    if (tenant.state !== 'active') {
      return { ok: false, reason: `tenant ${tenant.id} is ${tenant.state}`, ...where, tenantInactive: { role: identity.role, services: servicesOf(identity) } };
    }
    const role = snap.roles.get(identity.role);
    if (role === undefined) return { ok: false, reason: `role ${identity.role} of this identity does not exist`, ...where };
    return { ok: true, principal: { identity, role, grants: snap.grants.get(identity.tenant) ?? [], bootstrap: false, names: tenant.names } };
  }
}

/** SHA-256 of the DER of a PEM certificate, lower-case hex (what the connection computes for a peer). */
export function certificateFingerprint(pem: string | Buffer): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** First start of `openkcm serve`: register the dev client certificate as admin of default/default. */
function registerBootstrapIdentity(gov: GovernanceStore, audit: AuditLog, certFile: string, logger: Logger): void {
  if (gov.isInitialised()) return;
  let fingerprint: string;
  try {
    fingerprint = certificateFingerprint(readFileSync(certFile));
  } catch (e) {
    throw new Error(`cannot read the bootstrap client certificate ${certFile}: ${(e as Error).message}`, { cause: e });
  }
  if (!gov.getTenant(BOOTSTRAP_TENANT)) gov.createTenant({ id: BOOTSTRAP_TENANT, name: 'Default tenant' });
  if (!gov.getService(BOOTSTRAP_TENANT, BOOTSTRAP_SERVICE)) gov.createService({ tenant: BOOTSTRAP_TENANT, id: BOOTSTRAP_SERVICE, name: 'Default service' });
  const id = gov.addIdentity({ tenant: BOOTSTRAP_TENANT, service: BOOTSTRAP_SERVICE, role: 'admin', match: { kind: 'fingerprint', sha256: fingerprint } });
  audit.append({
    kind: 'system', identity: id.id, tenant: BOOTSTRAP_TENANT, service: BOOTSTRAP_SERVICE, operation: 'governance.bootstrap',
    result: 'success', detail: 'first start: development client certificate registered as admin of default/default',
  });
  logger.warn({ event: 'governance_bootstrap', identity: id.id, fingerprint, certFile },
    'first start: registered the development client certificate as admin of tenant default, service default');
}

/**
 * Opens the L1 provider of every tenant with an active L1 pointer. A provider that cannot
 * be opened (token missing, bad config) is passed on as the Error, so that tenant stays
 * sealed with the reason instead of falling back to the default L1: no tenant is ever
 * opened by a root key other than its own.
 */
async function openTenantL1Providers(gov: GovernanceStore, logger: Logger): Promise<Map<string, L1Provider | Error>> {
  const out = new Map<string, L1Provider | Error>();
  for (const t of gov.listTenants()) {
    const pointer = gov.getL1Pointer(t.id);
    if (pointer === undefined || pointer.state !== 'active') continue;
    try {
      out.set(t.id, await openL1Provider(parseL1Config({ ...pointer.config, provider: pointer.provider })));
    } catch (e) {
      logger.error({ event: 'tenant_l1_open_failed', tenant: t.id, provider: pointer.provider, err: (e as Error).message }, 'tenant L1 provider cannot be opened; the tenant stays sealed');
      out.set(t.id, e instanceof Error ? e : new Error(String(e)));
    }
  }
  return out;
}

export async function openRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? silentLogger();
  let tempDir: string | undefined;
  let keyFile = options.l1KeyFile;
  if (keyFile === undefined) {
    if (options.dataDir !== undefined) keyFile = join(options.dataDir, SOFTWARE_L1_KEY_FILE);
    else {
      // In memory: a throw-away L1 key, removed at close (nothing it protects outlives the process).
      tempDir = mkdtempSync(join(tmpdir(), 'openkcm-l1-'));
      keyFile = join(tempDir, SOFTWARE_L1_KEY_FILE);
    }
  }
  const cleanupTemp = () => { if (tempDir) rmSync(tempDir, { recursive: true, force: true }); };

  let local: SqliteStore | undefined;
  let store: VaultStore | undefined;
  let unlisten: (() => void) | undefined;
  let l1: SoftwareL1Provider | undefined;
  let audit: AuditLog | undefined;
  let hierarchy: OpenedHierarchy | undefined;
  let tenantProviders: L1Provider[] = [];
  try {
    local = await openSqliteStore(options.dataDir !== undefined ? join(options.dataDir, DATABASE_FILE) : ':memory:');
    store = options.databaseUrl !== undefined ? await openVault({ databaseUrl: options.databaseUrl, logger }) : local;
    l1 = await SoftwareL1Provider.open(keyFile);
    // Tenants whose L1 pointer (set with `kmipctl l1 set`) names their own provider are
    // unsealed through it; one that fails to open stays sealed, the others serve (issue 6).
    const tenantL1 = await openTenantL1Providers(new GovernanceStore(local.database), logger);
    tenantProviders = [...tenantL1.values()].filter((p): p is L1Provider => !(p instanceof Error));
    hierarchy = await openHierarchy(store, {
      // Observed: its calls count in the L1 metrics like those of the tenants' own providers.
      defaultL1: observedL1(l1), tenants: tenantL1, log: logger,
      ...(options.l1StatusCheckIntervalMs !== undefined ? { statusCheckIntervalMs: options.l1StatusCheckIntervalMs } : {}),
      ...(options.l1UnreachableGraceMs !== undefined ? { unreachableGraceMs: options.l1UnreachableGraceMs } : {}),
      ...(options.l1TimeoutMs !== undefined ? { l1TimeoutMs: options.l1TimeoutMs } : {}),
      ...(options.l1RetryIntervalMs !== undefined ? { retryIntervalMs: options.l1RetryIntervalMs } : {}),
    });
    for (const t of hierarchy.unseal.sealed) logger.error({ event: 'tenant_sealed_at_start', ...t }, 'tenant stays sealed');
    const protector = hierarchy.protector;
    const hier = hierarchy;
    const server: ServerInfo = { vendor: 'OpenKCM', product: 'OpenKCM KMIP server', version: VERSION, l1: l1.describe() };
    const s = store;
    const loc = local;
    if (s.kind === 'postgres' && options.vaultNotifications !== false) unlisten = followVaultChanges(s as PostgresStore, hier.engine, logger);
    const governance = new GovernanceStore(loc.database);
    // The audit log shares the object store's WAL flush (off the event loop, one flush for both).
    audit = openAuditLog(loc.database, {
      onError: (err) => logger.error({ err, event: 'audit_error' }, 'audit log write failed'),
      ...(loc.durability !== undefined ? { durability: loc.durability } : {}),
    });
    if (options.bootstrapClientCertFile !== undefined) registerBootstrapIdentity(governance, audit, options.bootstrapClientCertFile, logger);
    const access = new GovernanceAccess(governance);
    if (access.isBootstrap()) {
      logger.warn({ event: 'governance_bootstrap_mode' },
        'no governance data: bootstrap mode, every certificate of the trusted CA is admin of tenant default (create a tenant or identity to end it)');
    }
    // A certificate refused at every message (unknown, revoked) is an auth-failure record
    // each time: rate-limited per certificate, counted in summaries (issue 16 §1).
    const engineAudit = rateLimitedAuthFailures(audit, { log: logger });
    const engineOptions = {
      operations: options.operations ?? OPERATIONS,
      adapters: adapters satisfies VersionAdapters,
      access,
      audit: engineAudit,
      ...(options.auditDurable === true ? { auditDurable: true } : {}),
      // One per batch: it carries the batch's access decision (cheap: a closure over the store).
      repositoryFor: (id: { tenant: string; service: string }, objectAccess: ObjectAccess): ObjectRepository =>
        createObjectRepository(s, protector, { tenant: id.tenant, service: id.service, access: objectAccess }),
      // Undo (s.9.6) removes objects the undone items created.
      removeObject: (id: { tenant: string }, uid: string) => s.delete(id.tenant, uid),
      // A sealed tenant is refused before any batch item runs (DESIGN.md §2).
      tenantGate: (tenant: string) => hier.engine.assertUnsealed(tenant),
      // Seals and unseals wake gateways' status watches (gateway-watch.ts).
      tenantChanges: (listener: (tenant: string) => void) => hier.engine.onStateChange(listener),
      tenantSealed: (tenant: string) => hier.engine.isSealed(tenant),
      // Pending / Poll / Cancel: their table is in the local database every worker shares.
      asyncOperations: { store: new AsyncOperationStore(loc.database), ...options.asyncOperations },
      // Each service's L3 as a gateway's non-extractable wrapping object (issue 11).
      serviceKeys: serviceKeyWrapper(hier.engine),
      server,
      logger,
      ...(options.now ? { now: options.now } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    };
    const engine = new KmipEngine(engineOptions);
    const metrics = options.metrics;
    if (metrics !== undefined) {
      const auditForMetrics = audit;
      auditForMetrics.observeCommits((seconds) => metrics.auditCommitted(seconds));
      loc.commitObserver = (seconds) => metrics.storeCommitted('sqlite', seconds);
      metrics.watchAuditQueue(() => auditForMetrics.pendingCount());
      metrics.watchTenants(() => tenantCounts(hier.engine, governance.listTenants().map((t) => t.id)));
    }
    const l1p = l1;
    const auditLog = audit;
    let closed = false;
    return {
      engine, store: s, local: loc, governance, access, audit: auditLog, l1: l1p, hierarchy: hier, logger, server,
      async close() {
        if (closed) return;
        closed = true;
        // Background operations finish (or fail) before the stores and the audit log close.
        await engine.close();
        engineAudit.close();
        auditLog.close();
        unlisten?.();
        await hier.close();
        if (s !== loc) await s.close();
        await loc.close();
        await l1p.close();
        for (const p of tenantProviders) await p.close().catch(() => undefined);
        cleanupTemp();
      },
    };
  } catch (e) {
    try { audit?.close(); } catch { /* closing after a failed open */ }
    await hierarchy?.close().catch(() => undefined);
    for (const p of tenantProviders) await p.close().catch(() => undefined);
    unlisten?.();
    if (store !== undefined && store !== local) await store.close().catch(() => undefined);
    await local?.close().catch(() => undefined);
    await l1?.close().catch(() => undefined);
    cleanupTemp();
    throw e;
  }
}

/**
 * What /readyz asks of a runtime (src/server/health.ts): the vault and the local database
 * answer a query, the engine's seal state of each governance tenant, the audit log's.
 */
export function runtimeReadinessSources(rt: Pick<Runtime, 'store' | 'local' | 'governance' | 'hierarchy' | 'audit'>): ReadinessSources {
  return {
    async store() {
      // Governance and audit live in the local SQLite database even when the vault is PostgreSQL.
      rt.local.database.prepare('SELECT 1').get();
      if (rt.store.kind === 'postgres') await (rt.store as PostgresStore).database.query('SELECT 1');
    },
    tenants: () => rt.governance.listTenants().map((t) => t.id),
    // A tenant the engine has not opened yet is opened at its first request: not sealed.
    // Sealed means a reason was recorded: explicit seal, kill switch, L1 refusal.
    isSealed: (t) => {
      const e = rt.hierarchy.engine;
      if (!e.tenantNames().includes(t)) return false;
      const st = e.status(t);
      return st.sealed && st.sealKind !== 'not-unsealed';
    },
    audit: () => rt.audit.availability(),
  };
}

/**
 * The configured tenants by seal state in an engine, for the metrics (killed counts apart
 * from sealed; a tenant the engine has not opened yet is `on_demand`).
 */
export function tenantCounts(engine: Pick<HierarchyEngine, 'tenantNames' | 'status'>, tenants: readonly string[]): TenantCounts {
  const c: TenantCounts = { unsealed: 0, sealed: 0, killed: 0, on_demand: 0 };
  const known = new Set(engine.tenantNames());
  for (const t of tenants) {
    if (!known.has(t)) { c.on_demand++; continue; }
    const s = engine.status(t);
    if (s.killed) c.killed++;
    else if (!s.sealed) c.unsealed++;
    else if (s.sealKind === 'not-unsealed') c.on_demand++;
    else c.sealed++;
  }
  return c;
}

/**
 * Opens the vault a server or core keeps its objects and hierarchy keys in: PostgreSQL when
 * `databaseUrl` is given (shared by every node of a region), else the SQLite database file
 * `sqlitePath`. Errors are one line saying what to fix (StoreConnectionError: wrong URL,
 * server not answering, credentials refused, database missing; StoreSchemaError: database
 * at a newer schema). `openkcm core --database-url` and `openkcm serve --database-url` use it.
 */
export async function openVault(opts: { databaseUrl?: string; sqlitePath?: string; logger?: Logger }): Promise<VaultStore> {
  if (opts.databaseUrl !== undefined) {
    // Loaded on demand: an all-SQLite install never loads the pg driver.
    const { openPostgresStore } = await import('../store/postgres.ts');
    return openPostgresStore(opts.databaseUrl, opts.logger !== undefined ? { logger: opts.logger } : {});
  }
  if (opts.sqlitePath === undefined) throw new Error('openVault: a database URL or a SQLite path is needed');
  return openSqliteStore(opts.sqlitePath);
}

/**
 * Several servers on one PostgreSQL vault: what one of them changes in the hierarchy reaches
 * the others' engines through LISTEN/NOTIFY at once (the store notifies inside the writing
 * transaction, so only committed changes arrive):
 *   l3 (rotation or a new service)   → the service's L3 ring is re-read (new current version for wrapping);
 *   l2 (rotation)                     → the new L2 is opened with the tenant's L1, the L3 rings re-read;
 *   l1 disabled (kill switch)         → the tenant is sealed here too, its keys zeroized;
 *   resync (notifications were lost) → every unsealed tenant re-reads its L2 and L3 rows.
 * Reading a value under an L3 version this node does not hold re-reads the ring as well
 * (HierarchyEngine.unwrap), so a missed notification costs one query, never a failed read.
 */
export function followVaultChanges(store: PostgresStore, engine: OpenedHierarchy['engine'], logger: Logger): () => void {
  const resync = store.onResync(() => {
    for (const t of engine.tenantNames()) {
      const st = engine.status(t);
      if (st.sealed) continue;
      const fail = (err: unknown) => logger.warn({ event: 'vault_resync_failed', tenant: t, err: (err as Error).message }, 'could not re-read the hierarchy after lost notifications');
      engine.reloadL2(t, (st.l2Version ?? 0) + 1).catch(fail);
      for (const svc of st.services) engine.reloadL3(t, svc.service).catch(fail);
    }
  });
  const changes = store.onHierarchyChange((c) => {
    const fail = (err: unknown) => logger.warn({ event: 'vault_change_apply_failed', change: c, err: (err as Error).message }, 'could not apply a hierarchy change of another node');
    switch (c.kind) {
      case 'l3':
        if (!engine.isSealed(c.tenant) && engine.tenantNames().includes(c.tenant)) engine.reloadL3(c.tenant, c.service).catch(fail);
        break;
      case 'l2':
        engine.reloadL2(c.tenant, c.version).catch(fail);
        break;
      case 'l1':
        if (c.state === 'disabled' && engine.tenantNames().includes(c.tenant) && engine.status(c.tenant).killed !== true) {
          engine.killedElsewhere(c.tenant);
          logger.warn({ event: 'kill_switch_from_vault', tenant: c.tenant }, 'tenant sealed: its L1 pointer was disabled on another node');
        }
        break;
    }
  });
  return () => {
    resync();
    changes();
  };
}
