// The core's replica of governance (issue 10 §1: "it keeps no governance state of its own").
// A regional core loads a LinkSnapshot from its CMK and then applies the ordered change
// stream; the replica is what the core's access control reads on every message.
//
// It is an in-memory SQLite database with the governance tables of the store (migration
// 5) read through the ordinary GovernanceStore: the runtime's GovernanceAccess works on it
// unchanged, and its generation counter (bumped by the tables' triggers) makes the next
// batch item see an identity, role or grant change as soon as the change is applied.
// Nothing here is ever written to disk: a restarted core starts from a fresh snapshot.
//
// Changes are applied as whole-record upserts and deletes, so applying one twice, or one
// the snapshot already holds, ends in the same state (src/link/protocol.ts). Foreign keys
// are off in the replica: the CMK is the one that checks references, and a delete of a
// tenant must not fail because the CMK sends its services' deletes afterwards.
import { openSqliteStore, type SqliteStore } from '../store/sqlite.ts';
import { BUILT_IN_ROLE_TABLE, GovernanceStore, type Grant, type Identity, type L1Pointer, type Role, type Service } from '../store/governance.ts';
import type { LinkChange, LinkL2Rotation, LinkRotation, LinkSnapshot, LinkTenant } from './protocol.ts';
import { LINK_PROTOCOL_VERSION } from './protocol.ts';

export class LinkProtocolError extends Error {
  override readonly name = 'LinkProtocolError';
}

/** What changed for one tenant, as the hierarchy side needs to know it (src/server/core.ts). */
export interface TenantView {
  tenant: LinkTenant;
  l1: L1Pointer | undefined;
}

export class GovernanceReplica {
  readonly governance: GovernanceStore;
  private seqApplied = 0;
  private readonly rotations = new Map<string, LinkRotation>();
  /** The latest L2 rotation request per tenant. */
  private readonly l2Rotations = new Map<string, LinkL2Rotation>();
  private readonly regionsOf = new Map<string, string[]>();

  private constructor(private readonly store: SqliteStore, readonly region: string) {
    store.database.pragma('foreign_keys = OFF');
    // A core is never in bootstrap mode: an empty snapshot denies everyone (runtime.ts).
    store.database.prepare("UPDATE gov_meta SET value = 1 WHERE key = 'initialised'").run();
    this.governance = new GovernanceStore(store.database);
  }

  static async open(region: string): Promise<GovernanceReplica> {
    return new GovernanceReplica(await openSqliteStore(':memory:'), region);
  }

  /** The sequence number of the last change applied (the snapshot's seq right after a load). */
  get seq(): number {
    return this.seqApplied;
  }

  /** Replaces everything with the snapshot (first load, or after 410 Gone). */
  loadSnapshot(s: LinkSnapshot): void {
    if (s.protocol !== LINK_PROTOCOL_VERSION) {
      throw new LinkProtocolError(`the CMK speaks link protocol ${String(s.protocol)}, this core speaks ${LINK_PROTOCOL_VERSION}: upgrade the older side`);
    }
    if (s.region !== this.region) {
      throw new LinkProtocolError(`the CMK sent the snapshot of region ${s.region}, but this core serves region ${this.region}`);
    }
    const db = this.store.database;
    db.transaction(() => {
      for (const t of ['gov_tenants', 'gov_services', 'gov_roles', 'gov_identities', 'gov_grants', 'gov_l1_pointers']) db.prepare(`DELETE FROM ${t}`).run();
      this.regionsOf.clear();
      this.rotations.clear();
      this.l2Rotations.clear();
      for (const t of s.tenants) this.putTenant(t);
      for (const x of s.services) this.putService(x);
      for (const r of s.roles) this.putRole(r);
      for (const i of s.identities) this.putIdentity(i);
      for (const g of s.grants) this.putGrant(g);
      for (const p of s.l1Pointers) this.putL1(p);
      for (const r of s.rotations) this.rotations.set(rotationKey(r), r);
      for (const r of s.l2Rotations ?? []) this.l2Rotations.set(r.tenant, r);
      this.seqApplied = s.seq;
    })();
  }

  /**
   * Applies one change of the stream. Returns false (and changes nothing) for a change at or
   * below the applied sequence number: a stream resumed with an overlap is harmless.
   */
  apply(c: LinkChange): boolean {
    if (!Number.isInteger(c.seq) || c.seq <= this.seqApplied) return false;
    const db = this.store.database;
    const seq = c.seq;
    db.transaction(() => {
      switch (c.entity) {
        case 'tenant':
          if (c.op === 'put') this.putTenant(c.value);
          else this.deleteTenant(c.key.id);
          break;
        case 'service':
          if (c.op === 'put') this.putService(c.value);
          else db.prepare('DELETE FROM gov_services WHERE tenant = ? AND id = ?').run(c.key.tenant, c.key.id);
          break;
        case 'role':
          if (c.op === 'put') this.putRole(c.value);
          else db.prepare('DELETE FROM gov_roles WHERE name = ?').run(c.key.name);
          break;
        case 'identity':
          if (c.op === 'put') this.putIdentity(c.value);
          else db.prepare('DELETE FROM gov_identities WHERE id = ?').run(c.key.id);
          break;
        case 'grant':
          if (c.op === 'put') this.putGrant(c.value);
          else db.prepare('DELETE FROM gov_grants WHERE tenant = ? AND from_service = ? AND to_service = ?').run(c.key.tenant, c.key.fromService, c.key.toService);
          break;
        case 'l1':
          this.putL1(c.value);
          break;
        case 'rotation':
          this.rotations.set(rotationKey(c.value), c.value);
          break;
        case 'l2rotation':
          this.l2Rotations.set(c.value.tenant, c.value);
          break;
        default:
          throw new LinkProtocolError(`unknown change entity ${JSON.stringify((c as { entity?: unknown }).entity)} (seq ${seq}): upgrade this core`);
      }
      this.seqApplied = c.seq;
    })();
    return true;
  }

  /** Tenants this core serves (pinned to its region), with their L1 pointers. */
  tenants(): TenantView[] {
    return this.governance.listTenants().map((t) => ({
      tenant: { ...t, regions: this.regionsOf.get(t.id) ?? [this.region] },
      l1: this.governance.getL1Pointer(t.id),
    }));
  }

  tenant(id: string): TenantView | undefined {
    const t = this.governance.getTenant(id);
    if (t === undefined) return undefined;
    return { tenant: { ...t, regions: this.regionsOf.get(t.id) ?? [this.region] }, l1: this.governance.getL1Pointer(id) };
  }

  /** The latest L2 rotation requested for the tenant on the CMK, if any. */
  l2RotationOf(tenant: string): LinkL2Rotation | undefined {
    return this.l2Rotations.get(tenant);
  }

  rotationList(): LinkRotation[] {
    return [...this.rotations.values()];
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  // --- upserts (whole records) ---

  private putTenant(t: LinkTenant): void {
    if (t.regions !== undefined && !t.regions.includes(this.region)) {
      // Not ours (the CMK should never send it): treat as gone, so nothing of it serves here.
      this.deleteTenant(t.id);
      return;
    }
    // A CMK older than the Name policy (issue 13 §5) sends no `names`: the default, unique.
    const names = t.names === 'duplicates-allowed' ? 'duplicates-allowed' : 'unique';
    this.store.database.prepare('INSERT INTO gov_tenants (id, name, state, created_at, names) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, created_at = excluded.created_at, names = excluded.names')
      .run(t.id, t.name, t.state, t.createdAt, names);
    this.regionsOf.set(t.id, [...(t.regions ?? [this.region])]);
  }

  private deleteTenant(id: string): void {
    const db = this.store.database;
    db.prepare('DELETE FROM gov_identities WHERE tenant = ?').run(id);
    db.prepare('DELETE FROM gov_grants WHERE tenant = ?').run(id);
    db.prepare('DELETE FROM gov_services WHERE tenant = ?').run(id);
    db.prepare('DELETE FROM gov_l1_pointers WHERE tenant = ?').run(id);
    db.prepare('DELETE FROM gov_tenants WHERE id = ?').run(id);
    this.regionsOf.delete(id);
    for (const [k, r] of this.rotations) if (r.tenant === id) this.rotations.delete(k);
    this.l2Rotations.delete(id);
  }

  private putService(s: Service): void {
    this.store.database.prepare('INSERT INTO gov_services (tenant, id, name, created_at) VALUES (?, ?, ?, ?) ' +
      'ON CONFLICT (tenant, id) DO UPDATE SET name = excluded.name, created_at = excluded.created_at')
      .run(s.tenant, s.id, s.name, s.createdAt);
  }

  private putRole(r: Role): void {
    // Built-in roles are code on both sides (src/store/governance.ts BUILT_IN_ROLE_TABLE).
    if (r.builtIn || BUILT_IN_ROLE_TABLE.some((b) => b.name === r.name)) return;
    this.store.database.prepare('INSERT INTO gov_roles (name, operations, object_types, object_groups, created_at) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (name) DO UPDATE SET operations = excluded.operations, object_types = excluded.object_types, object_groups = excluded.object_groups')
      .run(r.name, JSON.stringify(r.operations), r.objectTypes ? JSON.stringify(r.objectTypes) : null, r.objectGroups ? JSON.stringify(r.objectGroups) : null, new Date().toISOString());
  }

  private putIdentity(i: Identity): void {
    const value = i.match.kind === 'fingerprint' ? i.match.sha256 : i.match.kind === 'subject' ? i.match.pattern : i.match.uri;
    this.store.database.prepare('INSERT INTO gov_identities (id, tenant, service, role, match_kind, match_value, revoked, cert_serial, created_at, also_services) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
      'ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, service = excluded.service, role = excluded.role, match_kind = excluded.match_kind, ' +
      'match_value = excluded.match_value, revoked = excluded.revoked, cert_serial = excluded.cert_serial, created_at = excluded.created_at, also_services = excluded.also_services')
      // A gateway's other services (migration 10) travel inside the identity record.
      .run(i.id, i.tenant, i.service, i.role, i.match.kind, value, i.revoked ? 1 : 0, i.certSerial ?? null, i.createdAt,
        i.alsoServices !== undefined && i.alsoServices.length > 0 ? JSON.stringify(i.alsoServices) : null);
  }

  private putGrant(g: Grant): void {
    this.store.database.prepare('INSERT INTO gov_grants (tenant, from_service, to_service, operations, created_at) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (tenant, from_service, to_service) DO UPDATE SET operations = excluded.operations')
      .run(g.tenant, g.fromService, g.toService, JSON.stringify(g.operations), new Date().toISOString());
  }

  private putL1(p: L1Pointer): void {
    this.store.database.prepare('INSERT INTO gov_l1_pointers (tenant, provider, config, state, updated_at) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (tenant) DO UPDATE SET provider = excluded.provider, config = excluded.config, state = excluded.state, updated_at = excluded.updated_at')
      .run(p.tenant, p.provider, JSON.stringify(p.config), p.state, p.updatedAt);
  }
}

const rotationKey = (r: LinkRotation): string => `${r.tenant}\u0000${r.service}`;
