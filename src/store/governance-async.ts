// The governance contract as the CMK, the admin API and the link see it (issue 10 §4: "the
// CMK can run on SQLite or PostgreSQL"): every call returns a promise, so one caller works
// over either backend.
//
// - SQLite: `sqliteGovernance(store)` wraps today's synchronous GovernanceStore
//   (src/store/governance.ts). The wrapper adds nothing but the promise; `openkcm serve`
//   keeps reading the same store synchronously on its KMIP hot path (the executor's
//   GovernanceAccess and its generation counter, src/server/runtime.ts), so wrapping costs
//   the request path nothing.
// - PostgreSQL: src/store/pg-governance.ts, on its own numbered migrations.
//
// Both pass one contract suite (test/governance/contract.ts). Validation rules and error
// messages are shared (the check* functions of governance.ts), so a bad request reads the
// same whatever the backend.
import type {
  CoreIdentity, GovernanceChange, GovernanceStore, Grant, Identity, IdentityInput, L1Pointer, L1ProviderKind,
  L2RotationRequest, NodeStatusRow, RegionGovernance, RevokeSelector, Role, RotationRequest, Service, Tenant, TenantState, NamePolicy,
} from './governance.ts';

export interface Governance {
  readonly backend: 'sqlite' | 'postgres';

  // --- change log (issue 10 §2) ---
  /** Called (coalesced) after changes committed through this object. Returns the unsubscribe. */
  onChange(fn: () => void): () => void;
  changeBounds(): Promise<{ latest: number; oldest: number | undefined }>;
  changesAfter(after: number, through: number, limit: number, region?: string): Promise<GovernanceChange[]>;
  /** One region's governance, consistent with the change log at its seq. */
  regionSnapshot(region: string): Promise<RegionGovernance>;
  /** Changes with every write: a cache of this data is stale when it differs. */
  generation(): Promise<number>;
  isInitialised(): Promise<boolean>;

  // --- regions, rotations, core identities ---
  tenantRegions(tenant: string): Promise<string[]>;
  allTenantRegions(): Promise<Map<string, string[]>>;
  tenantsInRegion(region: string): Promise<string[]>;
  requestRotation(tenant: string, service: string): Promise<RotationRequest>;
  listRotations(tenant?: string): Promise<RotationRequest[]>;
  requestL2Rotation(tenant: string): Promise<L2RotationRequest>;
  listL2Rotations(tenant?: string): Promise<L2RotationRequest[]>;
  addCoreIdentity(input: { region: string; node: string; fingerprint: string; certSerial?: string }): Promise<CoreIdentity>;
  listCoreIdentities(): Promise<CoreIdentity[]>;
  findCoreIdentity(fingerprint: string): Promise<CoreIdentity | undefined>;
  revokeCoreIdentity(sel: RevokeSelector): Promise<CoreIdentity[]>;

  // --- tenants, services, roles ---
  createTenant(input: { id: string; name?: string; regions?: readonly string[]; names?: NamePolicy }): Promise<Tenant>;
  setTenantNames(id: string, names: NamePolicy): Promise<Tenant>;
  listTenants(): Promise<Tenant[]>;
  getTenant(id: string): Promise<Tenant | undefined>;
  setTenantState(id: string, state: TenantState): Promise<Tenant>;
  createService(input: { tenant: string; id: string; name?: string }): Promise<Service>;
  listServices(tenant: string): Promise<Service[]>;
  getService(tenant: string, id: string): Promise<Service | undefined>;
  createRole(input: { name: string; operations: string[]; objectTypes?: string[]; objectGroups?: string[] }): Promise<Role>;
  listRoles(): Promise<Role[]>;
  getRole(name: string): Promise<Role | undefined>;

  // --- identities, grants ---
  addIdentity(input: IdentityInput): Promise<Identity>;
  listIdentities(filter?: { tenant?: string; service?: string }): Promise<Identity[]>;
  getIdentity(id: string): Promise<Identity | undefined>;
  removeIdentity(id: string): Promise<Identity>;
  /** A gateway identity's other services, replaced in place (an empty list: its own service only). */
  setIdentityServices(id: string, alsoServices: string[]): Promise<Identity>;
  revokeIdentity(sel: RevokeSelector): Promise<Identity[]>;
  addGrant(input: Grant): Promise<Grant>;
  listGrants(tenant?: string): Promise<Grant[]>;
  removeGrant(input: { tenant: string; fromService: string; toService: string }): Promise<Grant>;

  // --- L1 pointers ---
  setL1Pointer(input: { tenant: string; provider: L1ProviderKind; config: Record<string, unknown> }): Promise<L1Pointer>;
  getL1Pointer(tenant: string): Promise<L1Pointer | undefined>;
  restoreL1Pointer(tenant: string, previous: L1Pointer | undefined): Promise<void>;
  removeL1Pointer(tenant: string): Promise<L1Pointer>;

  // --- link bookkeeping ---
  recordNodeStatus(r: NodeStatusRow): Promise<void>;
  listNodeStatuses(): Promise<NodeStatusRow[]>;
}

/** The synchronous SQLite store behind the async contract; `.store` is the same object for synchronous readers. */
export class SqliteGovernance implements Governance {
  readonly backend = 'sqlite' as const;
  constructor(readonly store: GovernanceStore) {}

  onChange(fn: () => void): () => void { return this.store.onChange(fn); }
  async changeBounds() { return this.store.changeBounds(); }
  async changesAfter(after: number, through: number, limit: number, region?: string) { return this.store.changesAfter(after, through, limit, region); }
  async regionSnapshot(region: string) { return this.store.regionSnapshot(region); }
  async generation() { return this.store.generation(); }
  async isInitialised() { return this.store.isInitialised(); }

  async tenantRegions(tenant: string) { return this.store.tenantRegions(tenant); }
  async allTenantRegions() { return this.store.allTenantRegions(); }
  async tenantsInRegion(region: string) { return this.store.tenantsInRegion(region); }
  async requestRotation(tenant: string, service: string) { return this.store.requestRotation(tenant, service); }
  async listRotations(tenant?: string) { return this.store.listRotations(tenant); }
  async requestL2Rotation(tenant: string) { return this.store.requestL2Rotation(tenant); }
  async listL2Rotations(tenant?: string) { return this.store.listL2Rotations(tenant); }
  async addCoreIdentity(input: { region: string; node: string; fingerprint: string; certSerial?: string }) { return this.store.addCoreIdentity(input); }
  async listCoreIdentities() { return this.store.listCoreIdentities(); }
  async findCoreIdentity(fingerprint: string) { return this.store.findCoreIdentity(fingerprint); }
  async revokeCoreIdentity(sel: RevokeSelector) { return this.store.revokeCoreIdentity(sel); }

  async createTenant(input: { id: string; name?: string; regions?: readonly string[]; names?: NamePolicy }) { return this.store.createTenant(input); }
  async setTenantNames(id: string, names: NamePolicy) { return this.store.setTenantNames(id, names); }
  async listTenants() { return this.store.listTenants(); }
  async getTenant(id: string) { return this.store.getTenant(id); }
  async setTenantState(id: string, state: TenantState) { return this.store.setTenantState(id, state); }
  async createService(input: { tenant: string; id: string; name?: string }) { return this.store.createService(input); }
  async listServices(tenant: string) { return this.store.listServices(tenant); }
  async getService(tenant: string, id: string) { return this.store.getService(tenant, id); }
  async createRole(input: { name: string; operations: string[]; objectTypes?: string[]; objectGroups?: string[] }) { return this.store.createRole(input); }
  async listRoles() { return this.store.listRoles(); }
  async getRole(name: string) { return this.store.getRole(name); }

  async addIdentity(input: IdentityInput) { return this.store.addIdentity(input); }
  async listIdentities(filter?: { tenant?: string; service?: string }) { return this.store.listIdentities(filter); }
  async getIdentity(id: string) { return this.store.getIdentity(id); }
  async removeIdentity(id: string) { return this.store.removeIdentity(id); }
  async setIdentityServices(id: string, alsoServices: string[]) { return this.store.setIdentityServices(id, alsoServices); }
  async revokeIdentity(sel: RevokeSelector) { return this.store.revokeIdentity(sel); }
  async addGrant(input: Grant) { return this.store.addGrant(input); }
  async listGrants(tenant?: string) { return this.store.listGrants(tenant); }
  async removeGrant(input: { tenant: string; fromService: string; toService: string }) { return this.store.removeGrant(input); }

  async setL1Pointer(input: { tenant: string; provider: L1ProviderKind; config: Record<string, unknown> }) { return this.store.setL1Pointer(input); }
  async getL1Pointer(tenant: string) { return this.store.getL1Pointer(tenant); }
  async restoreL1Pointer(tenant: string, previous: L1Pointer | undefined) { this.store.restoreL1Pointer(tenant, previous); }
  async removeL1Pointer(tenant: string) { return this.store.removeL1Pointer(tenant); }

  async recordNodeStatus(r: NodeStatusRow) { this.store.recordNodeStatus(r); }
  async listNodeStatuses() { return this.store.listNodeStatuses(); }
}

/** The async contract over a synchronous SQLite governance store (one wrapper per store is enough; it holds no state). */
export function sqliteGovernance(store: GovernanceStore): SqliteGovernance {
  return new SqliteGovernance(store);
}
