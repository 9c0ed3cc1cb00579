// The CMK's governance on PostgreSQL (issue 10 §4: "the CMK can run on SQLite (small
// installs) or PostgreSQL"): the Governance contract of governance-async.ts over the schema
// of pg-governance-migrations.ts, passing the same contract suite as SQLite
// (test/governance/contract.ts). Validation and error messages are governance.ts's own
// check* functions, so a bad request reads the same on either backend.
//
// Concurrency. Every mutation is one transaction that first locks the gov_meta row of
// 'change_seq' (SELECT … FOR UPDATE). Mutations are therefore serialised exactly as
// SQLite's single writer serialises them: the checks a mutation makes under the lock (name
// taken? version counter?) see every mutation committed before it (READ COMMITTED takes a
// fresh snapshot per statement), the change log's seq order is the commit order (a stream
// reader never sees seq N+1 before N), and the mutation and its change-log entry commit or
// vanish together. Governance changes are rare (operators, not traffic): one lock costs
// nothing that matters, and primary keys still refuse what a bug might let through.
// Reads take no lock; the region snapshot is one REPEATABLE READ transaction, consistent
// with the change log's seq it reports.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import {
  BUILT_IN_ROLE_TABLE, CORE_ROLE, DEFAULT_CHANGE_RETENTION, GovernanceError, IDENTITY_COLUMNS, L1_PROVIDER_KINDS, OBJECT_TYPE_NAMES,
  checkAlsoServices, checkId, checkL1Config, checkList, checkMatch, checkName, checkOperations, checkRegions, cloneRole,
  coreFromRow, identityFromRow, matchValue, normalizeCertSerial, normalizeFingerprint, roleFromRow,
  type CoreIdentity, type CoreRow, type GovernanceChange, type GovernanceChangeBody, type Grant, type Identity, type IdentityInput,
  type IdentityRow, type L1Pointer, type L1ProviderKind, type NodeStatusRow, type RegionGovernance, type RevokeSelector, type Role,
  type RoleRow, type L2RotationRequest, type RotationRequest, type Service, type Tenant, type TenantState, type NamePolicy, checkNamePolicy,
} from './governance.ts';
import type { Governance } from './governance-async.ts';
import { PG_GOVERNANCE_LATEST_VERSION, PG_GOVERNANCE_MIGRATIONS } from './pg-governance-migrations.ts';
import { applyMigrations, openCheckedPool } from './postgres.ts';
import type { Migration } from './migrations.ts';

/** Version table of the governance schema (the vault's is schema_migrations). */
export const GOVERNANCE_MIGRATIONS_TABLE = 'governance_schema_migrations';
/** Advisory lock of governance migrations (two CMKs starting at once migrate once). */
const GOVERNANCE_MIGRATION_LOCK_KEY = 0x6f6b6767; // "okgg"
/**
 * Connections of the CMK's pool: admin requests, link snapshots, change streams' reads and
 * the audit trail's commits. A CMK is not on any request path of KMIP traffic; a small pool
 * leaves PostgreSQL's connections to the regional vaults that need them.
 */
export const PG_GOVERNANCE_POOL_MAX = 8;

type Q = pg.Pool | pg.PoolClient;

interface TenantRow { id: string; name: string; state: TenantState; created_at: string; names: NamePolicy }
const tenantFromRow = (r: TenantRow): Tenant => ({ id: r.id, name: r.name, state: r.state, createdAt: r.created_at, names: r.names });
interface ServiceRow { tenant: string; id: string; name: string; created_at: string }
const serviceFromRow = (r: ServiceRow): Service => ({ tenant: r.tenant, id: r.id, name: r.name, createdAt: r.created_at });
interface GrantRow { tenant: string; from_service: string; to_service: string; operations: string }
const grantFromRow = (r: GrantRow): Grant => ({ tenant: r.tenant, fromService: r.from_service, toService: r.to_service, operations: JSON.parse(r.operations) as string[] });
interface L1Row { tenant: string; provider: L1ProviderKind; config: string; state: 'active' | 'removed'; updated_at: string }
const l1FromRow = (r: L1Row): L1Pointer => ({ tenant: r.tenant, provider: r.provider, config: JSON.parse(r.config) as L1Pointer['config'], state: r.state, updatedAt: r.updated_at });
const CORE_COLUMNS = 'id, region, node, fingerprint, cert_serial, revoked, created_at';
const L1_UPSERT = 'INSERT INTO gov_l1_pointers (tenant, provider, config, state, updated_at) VALUES ($1, $2, $3, $4, $5) ' +
  'ON CONFLICT (tenant) DO UPDATE SET provider = excluded.provider, config = excluded.config, state = excluded.state, updated_at = excluded.updated_at';

export interface PgGovernanceOptions {
  /** Changes kept in the log (default DEFAULT_CHANGE_RETENTION). */
  changeRetention?: number;
  poolMax?: number;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  logger?: Logger;
  /** Replaces the migrations (tests of the newer-schema refusal only). */
  migrations?: readonly Migration[];
}

export class PgGovernance implements Governance {
  readonly backend = 'postgres' as const;
  private readonly retention: number;
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;
  private closed = false;

  /** Use openPgGovernance(). */
  constructor(readonly pool: pg.Pool, readonly url: string, options: PgGovernanceOptions = {}) {
    const r = options.changeRetention ?? DEFAULT_CHANGE_RETENTION;
    if (!Number.isInteger(r) || r < 1) throw new RangeError(`changeRetention: expected a whole number ≥ 1, got ${r}`);
    this.retention = r;
  }

  private async q<R extends pg.QueryResultRow>(c: Q, text: string, values: unknown[] = []): Promise<R[]> {
    if (this.closed) throw new Error('the governance store is closed');
    return (await c.query<R>(text, values)).rows;
  }

  /**
   * One mutation: its own transaction, the change-log lock first (see the header), the
   * listeners told after COMMIT. A unique violation a check missed becomes 'exists'.
   */
  private async mutate<T>(fn: (c: pg.PoolClient, log: (body: GovernanceChangeBody, tenant: string | undefined) => Promise<void>) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the governance store is closed');
    const c = await this.pool.connect();
    let logged = false;
    try {
      await c.query('BEGIN');
      await c.query("SELECT value FROM gov_meta WHERE key = 'change_seq' FOR UPDATE");
      const out = await fn(c, async (body, tenant) => {
        const seq = Number((await c.query<{ value: string }>("UPDATE gov_meta SET value = value + 1 WHERE key = 'change_seq' RETURNING value")).rows[0]!.value);
        await c.query('INSERT INTO gov_changes (seq, at, tenant, body) VALUES ($1, $2, $3, $4)', [seq, this.now(), tenant ?? null, JSON.stringify(body)]);
        await c.query('DELETE FROM gov_changes WHERE seq <= $1', [seq - this.retention]);
        logged = true;
      });
      await c.query('COMMIT');
      if (logged) this.scheduleNotify();
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      if ((e as { code?: string }).code === '23505') throw new GovernanceError('exists', `already exists (${(e as { detail?: string }).detail ?? 'unique constraint'})`);
      throw e;
    } finally {
      c.release();
    }
  }

  private scheduleNotify(): void {
    if (this.notifyQueued || this.listeners.size === 0) return;
    this.notifyQueued = true;
    setImmediate(() => {
      this.notifyQueued = false;
      for (const fn of this.listeners) {
        try { fn(); } catch { /* a listener's failure is its own; the change is committed */ }
      }
    });
  }

  private now(): string { return new Date().toISOString(); }
  private async markInitialised(c: Q): Promise<void> {
    await c.query("UPDATE gov_meta SET value = 1 WHERE key = 'initialised' AND value = 0");
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  // --- change log ---

  async changeBounds(c: Q = this.pool): Promise<{ latest: number; oldest: number | undefined }> {
    const rows = await this.q<{ latest: string; oldest: string | null }>(c,
      "SELECT (SELECT value FROM gov_meta WHERE key = 'change_seq') AS latest, (SELECT MIN(seq) FROM gov_changes) AS oldest");
    return { latest: Number(rows[0]!.latest), oldest: rows[0]!.oldest === null ? undefined : Number(rows[0]!.oldest) };
  }

  async changesAfter(after: number, through: number, limit: number, region?: string): Promise<GovernanceChange[]> {
    const rows = region === undefined
      ? await this.q<{ seq: string; at: string; tenant: string | null; body: string }>(this.pool,
        'SELECT seq, at, tenant, body FROM gov_changes WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3', [after, through, limit])
      : await this.q<{ seq: string; at: string; tenant: string | null; body: string }>(this.pool,
        'SELECT seq, at, tenant, body FROM gov_changes WHERE seq > $1 AND seq <= $2 AND (tenant IS NULL OR tenant IN ' +
        '(SELECT tenant FROM gov_tenant_regions WHERE region = $3)) ORDER BY seq LIMIT $4', [after, through, region, limit]);
    return rows.map((r) => {
      const ch = { seq: Number(r.seq), at: r.at, ...(JSON.parse(r.body) as GovernanceChangeBody) } as GovernanceChange;
      if (r.tenant !== null) ch.tenant = r.tenant;
      return ch;
    });
  }

  async regionSnapshot(region: string): Promise<RegionGovernance> {
    if (this.closed) throw new Error('the governance store is closed');
    const c = await this.pool.connect();
    try {
      // One snapshot of the database for every read below: the state after change `seq`.
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const seq = (await this.changeBounds(c)).latest;
      const ids = new Set(await this.tenantsInRegion(region, c));
      const regions = await this.allTenantRegions(c);
      const tenants = (await this.listTenants(c)).filter((t) => ids.has(t.id)).map((t) => ({ ...t, regions: regions.get(t.id) ?? [] }));
      const mine = <T extends { tenant: string }>(xs: T[]) => xs.filter((x) => ids.has(x.tenant));
      const services: Service[] = [];
      for (const t of tenants) services.push(...await this.listServicesOf(c, t.id));
      const l1Pointers: L1Pointer[] = [];
      for (const t of tenants) {
        const p = await this.getL1Pointer(t.id, c);
        if (p) l1Pointers.push(p);
      }
      const out: RegionGovernance = {
        seq, tenants, services,
        roles: await this.listRoles(c),
        identities: mine(await this.listIdentities({}, c)),
        grants: mine(await this.listGrants(undefined, c)),
        l1Pointers,
        rotations: mine(await this.listRotations(undefined, c)),
        l2Rotations: mine(await this.listL2Rotations(undefined, c)),
      };
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async generation(): Promise<number> {
    return Number((await this.q<{ value: string }>(this.pool, "SELECT value FROM gov_meta WHERE key = 'generation'"))[0]!.value);
  }

  async isInitialised(): Promise<boolean> {
    return Number((await this.q<{ value: string }>(this.pool, "SELECT value FROM gov_meta WHERE key = 'initialised'"))[0]!.value) === 1;
  }

  // --- regions ---

  async tenantRegions(tenant: string, c: Q = this.pool): Promise<string[]> {
    return (await this.q<{ region: string }>(c, 'SELECT region FROM gov_tenant_regions WHERE tenant = $1 ORDER BY region', [tenant])).map((r) => r.region);
  }

  async allTenantRegions(c: Q = this.pool): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const r of await this.q<{ tenant: string; region: string }>(c, 'SELECT tenant, region FROM gov_tenant_regions ORDER BY tenant, region')) {
      const l = out.get(r.tenant) ?? [];
      l.push(r.region);
      out.set(r.tenant, l);
    }
    return out;
  }

  async tenantsInRegion(region: string, c: Q = this.pool): Promise<string[]> {
    return (await this.q<{ tenant: string }>(c, 'SELECT tenant FROM gov_tenant_regions WHERE region = $1 ORDER BY tenant', [region])).map((r) => r.tenant);
  }

  private async tenantChange(c: Q, t: Tenant): Promise<GovernanceChangeBody> {
    return { entity: 'tenant', op: 'put', value: { ...t, regions: await this.tenantRegions(t.id, c) } };
  }

  // --- rotations ---

  async requestRotation(tenant: string, service: string): Promise<RotationRequest> {
    return this.mutate(async (c, log) => {
      await this.requireService(c, tenant, service);
      const cur = (await this.q<{ min_version: number }>(c, 'SELECT min_version FROM gov_rotations WHERE tenant = $1 AND service = $2', [tenant, service]))[0];
      // An L3 starts at version 1 (src/hierarchy); each request asks for one version more.
      // The counter is read under the mutation lock: two racing requests give 2 then 3.
      const r: RotationRequest = { tenant, service, minVersion: (cur?.min_version ?? 1) + 1 };
      await c.query('INSERT INTO gov_rotations (tenant, service, min_version, updated_at) VALUES ($1, $2, $3, $4) ' +
        'ON CONFLICT (tenant, service) DO UPDATE SET min_version = excluded.min_version, updated_at = excluded.updated_at', [tenant, service, r.minVersion, this.now()]);
      await log({ entity: 'rotation', op: 'put', value: r }, tenant);
      return r;
    });
  }

  async requestL2Rotation(tenant: string): Promise<L2RotationRequest> {
    return this.mutate(async (c, log) => {
      await this.requireTenant(c, tenant);
      // Read under the mutation lock: two racing requests give generations 1 then 2.
      const cur = (await this.q<{ generation: number }>(c, 'SELECT generation FROM gov_l2_rotations WHERE tenant = $1', [tenant]))[0];
      const r: L2RotationRequest = { tenant, generation: (cur?.generation ?? 0) + 1 };
      await c.query('INSERT INTO gov_l2_rotations (tenant, generation, updated_at) VALUES ($1, $2, $3) ' +
        'ON CONFLICT (tenant) DO UPDATE SET generation = excluded.generation, updated_at = excluded.updated_at', [tenant, r.generation, this.now()]);
      await log({ entity: 'l2rotation', op: 'put', value: r }, tenant);
      return r;
    });
  }

  async listL2Rotations(tenant?: string, c: Q = this.pool): Promise<L2RotationRequest[]> {
    const rows = tenant === undefined
      ? await this.q<{ tenant: string; generation: number }>(c, 'SELECT tenant, generation FROM gov_l2_rotations ORDER BY tenant')
      : await this.q<{ tenant: string; generation: number }>(c, 'SELECT tenant, generation FROM gov_l2_rotations WHERE tenant = $1', [tenant]);
    return rows.map((r) => ({ tenant: r.tenant, generation: Number(r.generation) }));
  }

  async listRotations(tenant?: string, c: Q = this.pool): Promise<RotationRequest[]> {
    const rows = tenant === undefined
      ? await this.q<{ tenant: string; service: string; min_version: number }>(c, 'SELECT tenant, service, min_version FROM gov_rotations ORDER BY tenant, service')
      : await this.q<{ tenant: string; service: string; min_version: number }>(c, 'SELECT tenant, service, min_version FROM gov_rotations WHERE tenant = $1 ORDER BY service', [tenant]);
    return rows.map((r) => ({ tenant: r.tenant, service: r.service, minVersion: r.min_version }));
  }

  // --- core identities ---

  async addCoreIdentity(input: { region: string; node: string; fingerprint: string; certSerial?: string }): Promise<CoreIdentity> {
    const region = checkId('region', input.region);
    const node = checkId('node', input.node);
    const fingerprint = normalizeFingerprint(input.fingerprint);
    const certSerial = input.certSerial === undefined ? undefined : normalizeCertSerial(input.certSerial);
    return this.mutate(async (c) => {
      if ((await this.q(c, 'SELECT 1 FROM gov_core_identities WHERE fingerprint = $1', [fingerprint])).length > 0) {
        throw new GovernanceError('exists', 'a core identity with this certificate fingerprint exists already');
      }
      const ci: CoreIdentity = { id: `core-${randomUUID()}`, region, node, fingerprint, revoked: false, createdAt: this.now() };
      if (certSerial !== undefined) ci.certSerial = certSerial;
      await c.query(`INSERT INTO gov_core_identities (${CORE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 0, $6)`, [ci.id, region, node, fingerprint, certSerial ?? null, ci.createdAt]);
      // A CMK that issued a core certificate has an administrator: never bootstrap mode again.
      await this.markInitialised(c);
      return ci;
    });
  }

  async listCoreIdentities(): Promise<CoreIdentity[]> {
    return (await this.q<CoreRow>(this.pool, `SELECT ${CORE_COLUMNS} FROM gov_core_identities ORDER BY created_at, id`)).map(coreFromRow);
  }

  async findCoreIdentity(fingerprint: string): Promise<CoreIdentity | undefined> {
    const r = (await this.q<CoreRow>(this.pool, `SELECT ${CORE_COLUMNS} FROM gov_core_identities WHERE fingerprint = $1`, [fingerprint]))[0];
    return r && coreFromRow(r);
  }

  async revokeCoreIdentity(sel: RevokeSelector): Promise<CoreIdentity[]> {
    const [where, value] = 'id' in sel ? ['id = $1', sel.id] : 'fingerprint' in sel ? ['fingerprint = $1', normalizeFingerprint(sel.fingerprint)] : ['cert_serial = $1', normalizeCertSerial(sel.certSerial)];
    return this.mutate(async (c) => {
      const rows = await this.q<CoreRow>(c, `UPDATE gov_core_identities SET revoked = 1 WHERE ${where} RETURNING ${CORE_COLUMNS}`, [value]);
      return rows.map(coreFromRow);
    });
  }

  // --- tenants ---

  async createTenant(input: { id: string; name?: string; regions?: readonly string[]; names?: NamePolicy }): Promise<Tenant> {
    const id = checkId('tenant', input.id);
    const name = input.name === undefined ? id : checkName('name', input.name);
    const regions = checkRegions(input.regions);
    const names = input.names === undefined ? 'unique' : checkNamePolicy(input.names);
    return this.mutate(async (c, log) => {
      if (await this.getTenant(id, c) !== undefined) throw new GovernanceError('exists', `tenant ${id} exists already`);
      const t: Tenant = { id, name, state: 'active', createdAt: this.now(), names };
      await c.query('INSERT INTO gov_tenants (id, name, state, created_at, names) VALUES ($1, $2, $3, $4, $5)', [t.id, t.name, t.state, t.createdAt, t.names]);
      for (const r of regions) await c.query('INSERT INTO gov_tenant_regions (tenant, region) VALUES ($1, $2)', [t.id, r]);
      await this.markInitialised(c);
      await log(await this.tenantChange(c, t), t.id);
      return t;
    });
  }

  async listTenants(c: Q = this.pool): Promise<Tenant[]> {
    return (await this.q<TenantRow>(c, 'SELECT id, name, state, created_at, names FROM gov_tenants ORDER BY id')).map(tenantFromRow);
  }

  async getTenant(id: string, c: Q = this.pool): Promise<Tenant | undefined> {
    const r = (await this.q<TenantRow>(c, 'SELECT id, name, state, created_at, names FROM gov_tenants WHERE id = $1', [id]))[0];
    return r && tenantFromRow(r);
  }

  private async requireTenant(c: Q, id: string): Promise<Tenant> {
    const t = await this.getTenant(checkId('tenant', id), c);
    if (!t) throw new GovernanceError('not-found', `tenant ${id} does not exist`);
    return t;
  }

  /** As GovernanceStore.setTenantNames (issue 13 §5). */
  async setTenantNames(id: string, names: NamePolicy): Promise<Tenant> {
    const policy = checkNamePolicy(names);
    return this.mutate(async (c, log) => {
      const t = await this.requireTenant(c, id);
      await c.query('UPDATE gov_tenants SET names = $1 WHERE id = $2', [policy, t.id]);
      const out = { ...t, names: policy };
      await log(await this.tenantChange(c, out), t.id);
      return out;
    });
  }

  async setTenantState(id: string, state: TenantState): Promise<Tenant> {
    if (state !== 'active' && state !== 'sealed' && state !== 'killed') throw new GovernanceError('invalid', "state: expected 'active', 'sealed' or 'killed'");
    return this.mutate(async (c, log) => {
      const t = await this.requireTenant(c, id);
      await c.query('UPDATE gov_tenants SET state = $1 WHERE id = $2', [state, t.id]);
      const out = { ...t, state };
      await log(await this.tenantChange(c, out), t.id);
      return out;
    });
  }

  // --- services ---

  async createService(input: { tenant: string; id: string; name?: string }): Promise<Service> {
    const tenant = checkId('tenant', input.tenant);
    const id = checkId('service', input.id);
    const name = input.name === undefined ? id : checkName('name', input.name);
    return this.mutate(async (c, log) => {
      await this.requireTenant(c, tenant);
      if (await this.getService(tenant, id, c) !== undefined) throw new GovernanceError('exists', `service ${id} exists already in tenant ${tenant}`);
      const s: Service = { tenant, id, name, createdAt: this.now() };
      await c.query('INSERT INTO gov_services (tenant, id, name, created_at) VALUES ($1, $2, $3, $4)', [tenant, id, name, s.createdAt]);
      await log({ entity: 'service', op: 'put', value: s }, tenant);
      return s;
    });
  }

  async listServices(tenant: string): Promise<Service[]> {
    await this.requireTenant(this.pool, tenant);
    return this.listServicesOf(this.pool, tenant);
  }

  private async listServicesOf(c: Q, tenant: string): Promise<Service[]> {
    return (await this.q<ServiceRow>(c, 'SELECT tenant, id, name, created_at FROM gov_services WHERE tenant = $1 ORDER BY id', [tenant])).map(serviceFromRow);
  }

  async getService(tenant: string, id: string, c: Q = this.pool): Promise<Service | undefined> {
    const r = (await this.q<ServiceRow>(c, 'SELECT tenant, id, name, created_at FROM gov_services WHERE tenant = $1 AND id = $2', [tenant, id]))[0];
    return r && serviceFromRow(r);
  }

  private async requireService(c: Q, tenant: string, id: string): Promise<Service> {
    await this.requireTenant(c, tenant);
    const s = await this.getService(tenant, checkId('service', id), c);
    if (!s) throw new GovernanceError('not-found', `service ${id} does not exist in tenant ${tenant}`);
    return s;
  }

  // --- roles ---

  async createRole(input: { name: string; operations: string[]; objectTypes?: string[]; objectGroups?: string[] }): Promise<Role> {
    const name = checkId('role', input.name);
    if (name === CORE_ROLE) throw new GovernanceError('exists', `role ${CORE_ROLE} is reserved for core node certificates (kmipctl cert issue --role core --region …)`);
    const operations = checkOperations('operations', input.operations, false);
    const objectTypes = checkList('objectTypes', input.objectTypes, OBJECT_TYPE_NAMES);
    const objectGroups = checkList('objectGroups', input.objectGroups);
    return this.mutate(async (c, log) => {
      if (await this.getRole(name, c) !== undefined) throw new GovernanceError('exists', `role ${name} exists already${BUILT_IN_ROLE_TABLE.some((r) => r.name === name) ? ' (built-in)' : ''}`);
      await c.query('INSERT INTO gov_roles (name, operations, object_types, object_groups, created_at) VALUES ($1, $2, $3, $4, $5)',
        [name, JSON.stringify(operations), objectTypes ? JSON.stringify(objectTypes) : null, objectGroups ? JSON.stringify(objectGroups) : null, this.now()]);
      const role: Role = { name, operations, builtIn: false };
      if (objectTypes) role.objectTypes = objectTypes;
      if (objectGroups) role.objectGroups = objectGroups;
      await log({ entity: 'role', op: 'put', value: role }, undefined);
      return role;
    });
  }

  async listRoles(c: Q = this.pool): Promise<Role[]> {
    const custom = (await this.q<RoleRow>(c, 'SELECT name, operations, object_types, object_groups FROM gov_roles ORDER BY name')).map(roleFromRow);
    return [...BUILT_IN_ROLE_TABLE.map(cloneRole), ...custom];
  }

  async getRole(name: string, c: Q = this.pool): Promise<Role | undefined> {
    const b = BUILT_IN_ROLE_TABLE.find((r) => r.name === name);
    if (b) return cloneRole(b);
    const r = (await this.q<RoleRow>(c, 'SELECT name, operations, object_types, object_groups FROM gov_roles WHERE name = $1', [name]))[0];
    return r && roleFromRow(r);
  }

  // --- identities ---

  async addIdentity(input: IdentityInput): Promise<Identity> {
    const tenant = checkId('tenant', input.tenant);
    const service = checkId('service', input.service);
    const role = checkId('role', input.role);
    const match = checkMatch(input.match, tenant, service, role);
    const alsoServices = checkAlsoServices(input.alsoServices, service, role);
    const certSerial = input.certSerial === undefined ? undefined : normalizeCertSerial(input.certSerial);
    const id = input.id === undefined ? `id-${randomUUID()}` : checkId('id', input.id);
    return this.mutate(async (c, log) => {
      await this.requireService(c, tenant, service);
      for (const s of alsoServices ?? []) await this.requireService(c, tenant, s);
      if (await this.getRole(role, c) === undefined) throw new GovernanceError('not-found', `role ${role} does not exist`);
      if (await this.getIdentity(id, c) !== undefined) throw new GovernanceError('exists', `identity ${id} exists already`);
      const dup = (await this.q<IdentityRow>(c, `SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE match_kind = $1 AND match_value = $2`, [match.kind, matchValue(match)]))
        .find((r) => (r.cert_serial ?? undefined) === certSerial);
      if (dup) throw new GovernanceError('exists', `identity ${dup.id} already matches this ${match.kind}${certSerial ? ` and serial ${certSerial}` : ''}`);
      const i: Identity = { id, tenant, service, role, match, revoked: false, createdAt: this.now() };
      if (certSerial !== undefined) i.certSerial = certSerial;
      if (alsoServices !== undefined) i.alsoServices = alsoServices;
      await c.query(`INSERT INTO gov_identities (${IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)`,
        [id, tenant, service, role, match.kind, matchValue(match), certSerial ?? null, i.createdAt, alsoServices ? JSON.stringify(alsoServices) : null]);
      await this.markInitialised(c);
      await log({ entity: 'identity', op: 'put', value: i }, tenant);
      return i;
    });
  }

  async listIdentities(filter: { tenant?: string; service?: string } = {}, c: Q = this.pool): Promise<Identity[]> {
    const rows = filter.tenant === undefined
      ? await this.q<IdentityRow>(c, `SELECT ${IDENTITY_COLUMNS} FROM gov_identities ORDER BY created_at, id`)
      : filter.service === undefined
        ? await this.q<IdentityRow>(c, `SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE tenant = $1 ORDER BY created_at, id`, [filter.tenant])
        : await this.q<IdentityRow>(c, `SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE tenant = $1 AND service = $2 ORDER BY created_at, id`, [filter.tenant, filter.service]);
    return rows.map(identityFromRow);
  }

  async getIdentity(id: string, c: Q = this.pool): Promise<Identity | undefined> {
    const r = (await this.q<IdentityRow>(c, `SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE id = $1`, [id]))[0];
    return r && identityFromRow(r);
  }

  /** As GovernanceStore.setIdentityServices (src/store/governance.ts). */
  async setIdentityServices(id: string, alsoServices: string[]): Promise<Identity> {
    return this.mutate(async (c, log) => {
      const i = await this.getIdentity(id, c);
      if (!i) throw new GovernanceError('not-found', `identity ${id} does not exist`);
      const list = checkAlsoServices(alsoServices, i.service, i.role);
      for (const s of list ?? []) await this.requireService(c, i.tenant, s);
      await c.query('UPDATE gov_identities SET also_services = $1 WHERE id = $2', [list ? JSON.stringify(list) : null, id]);
      const next: Identity = { ...i };
      if (list) next.alsoServices = list; else delete next.alsoServices;
      await log({ entity: 'identity', op: 'put', value: next }, i.tenant);
      return next;
    });
  }

  async removeIdentity(id: string): Promise<Identity> {
    return this.mutate(async (c, log) => {
      const i = await this.getIdentity(id, c);
      if (!i) throw new GovernanceError('not-found', `identity ${id} does not exist`);
      await c.query('DELETE FROM gov_identities WHERE id = $1', [id]);
      await log({ entity: 'identity', op: 'delete', key: { id } }, i.tenant);
      return i;
    });
  }

  async revokeIdentity(sel: RevokeSelector): Promise<Identity[]> {
    let where: string;
    let value: string;
    let what: string;
    if ('id' in sel) {
      where = 'id = $1'; value = sel.id; what = `id ${sel.id}`;
    } else if ('fingerprint' in sel) {
      value = normalizeFingerprint(sel.fingerprint); where = "match_kind = 'fingerprint' AND match_value = $1"; what = `fingerprint ${value}`;
    } else if ('certSerial' in sel) {
      value = normalizeCertSerial(sel.certSerial); where = 'cert_serial = $1'; what = `certificate serial ${value}`;
    } else {
      throw new GovernanceError('invalid', 'revoke: give an id, a fingerprint or a certSerial');
    }
    return this.mutate(async (c, log) => {
      const rows = await this.q<IdentityRow>(c, `SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE ${where} ORDER BY created_at, id`, [value]);
      if (rows.length === 0) throw new GovernanceError('not-found', `no identity with ${what}`);
      const revoked = rows.map((r) => ({ ...identityFromRow(r), revoked: true }));
      for (const i of revoked) {
        await c.query('UPDATE gov_identities SET revoked = 1 WHERE id = $1', [i.id]);
        await log({ entity: 'identity', op: 'put', value: i }, i.tenant);
      }
      return revoked;
    });
  }

  // --- grants ---

  async addGrant(input: Grant): Promise<Grant> {
    const tenant = checkId('tenant', input.tenant);
    const fromService = checkId('fromService', input.fromService);
    const toService = checkId('toService', input.toService);
    const operations = checkOperations('operations', input.operations, false);
    if (fromService === toService) throw new GovernanceError('invalid', 'toService: a service always reaches its own objects; a grant names another service');
    return this.mutate(async (c, log) => {
      await this.requireService(c, tenant, fromService);
      await this.requireService(c, tenant, toService);
      if ((await this.q(c, 'SELECT 1 FROM gov_grants WHERE tenant = $1 AND from_service = $2 AND to_service = $3', [tenant, fromService, toService])).length > 0) {
        throw new GovernanceError('exists', `service ${fromService} already grants ${toService} (remove that grant to change it)`);
      }
      await c.query('INSERT INTO gov_grants (tenant, from_service, to_service, operations, created_at) VALUES ($1, $2, $3, $4, $5)',
        [tenant, fromService, toService, JSON.stringify(operations), this.now()]);
      const g: Grant = { tenant, fromService, toService, operations };
      await log({ entity: 'grant', op: 'put', value: g }, tenant);
      return g;
    });
  }

  async listGrants(tenant?: string, c: Q = this.pool): Promise<Grant[]> {
    const rows = tenant === undefined
      ? await this.q<GrantRow>(c, 'SELECT tenant, from_service, to_service, operations FROM gov_grants ORDER BY tenant, from_service, to_service')
      : await this.q<GrantRow>(c, 'SELECT tenant, from_service, to_service, operations FROM gov_grants WHERE tenant = $1 ORDER BY from_service, to_service', [tenant]);
    return rows.map(grantFromRow);
  }

  async removeGrant(input: { tenant: string; fromService: string; toService: string }): Promise<Grant> {
    return this.mutate(async (c, log) => {
      const g = (await this.listGrants(input.tenant, c)).find((x) => x.fromService === input.fromService && x.toService === input.toService);
      if (!g) throw new GovernanceError('not-found', `no grant from service ${input.fromService} to ${input.toService} in tenant ${input.tenant}`);
      await c.query('DELETE FROM gov_grants WHERE tenant = $1 AND from_service = $2 AND to_service = $3', [g.tenant, g.fromService, g.toService]);
      await log({ entity: 'grant', op: 'delete', key: { tenant: g.tenant, fromService: g.fromService, toService: g.toService } }, g.tenant);
      return g;
    });
  }

  // --- L1 pointers ---

  async setL1Pointer(input: { tenant: string; provider: L1ProviderKind; config: Record<string, unknown> }): Promise<L1Pointer> {
    if (!L1_PROVIDER_KINDS.includes(input.provider)) {
      throw new GovernanceError('invalid', `provider: expected one of ${L1_PROVIDER_KINDS.map((k) => `'${k}'`).join(', ')}`);
    }
    const config = checkL1Config(input.config);
    return this.mutate(async (c, log) => {
      const t = await this.requireTenant(c, input.tenant);
      const p: L1Pointer = { tenant: t.id, provider: input.provider, config, state: 'active', updatedAt: this.now() };
      await c.query(L1_UPSERT, [p.tenant, p.provider, JSON.stringify(config), p.state, p.updatedAt]);
      await log({ entity: 'l1', op: 'put', value: p }, p.tenant);
      return p;
    });
  }

  async getL1Pointer(tenant: string, c: Q = this.pool): Promise<L1Pointer | undefined> {
    const r = (await this.q<L1Row>(c, 'SELECT tenant, provider, config, state, updated_at FROM gov_l1_pointers WHERE tenant = $1', [tenant]))[0];
    return r && l1FromRow(r);
  }

  async restoreL1Pointer(tenant: string, previous: L1Pointer | undefined): Promise<void> {
    await this.mutate(async (c, log) => {
      if (previous === undefined) {
        await c.query('DELETE FROM gov_l1_pointers WHERE tenant = $1', [tenant]);
        return;
      }
      await c.query(L1_UPSERT, [tenant, previous.provider, JSON.stringify(previous.config), previous.state, previous.updatedAt]);
      await log({ entity: 'l1', op: 'put', value: previous }, tenant);
    });
  }

  async removeL1Pointer(tenant: string): Promise<L1Pointer> {
    return this.mutate(async (c, log) => {
      const p = await this.getL1Pointer(tenant, c);
      if (!p || p.state === 'removed') throw new GovernanceError('not-found', `tenant ${tenant} has no active L1 pointer`);
      const updatedAt = this.now();
      await c.query("UPDATE gov_l1_pointers SET state = 'removed', updated_at = $1 WHERE tenant = $2", [updatedAt, tenant]);
      const out: L1Pointer = { ...p, state: 'removed', updatedAt };
      await log({ entity: 'l1', op: 'put', value: out }, tenant);
      return out;
    });
  }

  // --- link bookkeeping ---

  async recordNodeStatus(r: NodeStatusRow): Promise<void> {
    await this.q(this.pool, 'INSERT INTO link_node_status (node, region, status, received_at) VALUES ($1, $2, $3, $4) ' +
      'ON CONFLICT (node) DO UPDATE SET region = excluded.region, status = excluded.status, received_at = excluded.received_at',
    [r.node, r.region, r.status, r.receivedAt]);
  }

  async listNodeStatuses(): Promise<NodeStatusRow[]> {
    return (await this.q<{ node: string; region: string; status: string; received_at: string }>(this.pool,
      'SELECT node, region, status, received_at FROM link_node_status ORDER BY region, node')).map((r) => ({ node: r.node, region: r.region, status: r.status, receivedAt: r.received_at }));
  }

  /** Stops (the pool is closed by whoever opened it: closePgGovernance / the CMK). */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}

/**
 * Connects to the CMK's PostgreSQL database (postgres://USER:PASSWORD@HOST:PORT/DATABASE),
 * brings the governance schema up to date and returns the store with its pool. Failures are
 * one line: a URL that is not one or names no database, a server that does not answer,
 * refused credentials (StoreConnectionError), a database at a newer governance schema
 * (StoreSchemaError).
 */
export async function openPgGovernance(url: string, options: PgGovernanceOptions = {}): Promise<PgGovernance> {
  const pool = await openCheckedPool(url, {
    max: options.poolMax ?? PG_GOVERNANCE_POOL_MAX,
    connectTimeoutMs: options.connectTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
    applicationName: 'openkcm-cmk',
    logger: options.logger,
  });
  try {
    const migrations = options.migrations ?? PG_GOVERNANCE_MIGRATIONS;
    const latest = options.migrations === undefined ? PG_GOVERNANCE_LATEST_VERSION : (migrations.at(-1)?.version ?? 0);
    await applyMigrations(pool, migrations, latest, GOVERNANCE_MIGRATIONS_TABLE, GOVERNANCE_MIGRATION_LOCK_KEY);
    return new PgGovernance(pool, url, options);
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
}
