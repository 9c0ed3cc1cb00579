// CMK's governance data (DESIGN.md §3, issue 7 "Model"): tenants, their services, roles,
// client-certificate identities, grants between services and each tenant's L1 pointer.
// Synchronous over the better-sqlite3 handle of the SQLite store (tables of migration 5);
// the admin API (src/server/admin.ts) edits it, the batch executor reads it on every
// message through the generation counter (a cache is re-read only after a change).
//
// Record shapes match src/policy/access.ts and src/policy/roles.ts (declared twice because
// store may not import policy, DESIGN.md §5; test/governance/roles.test.ts pins them).
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { ObjectType, Operation } from '../ttlv/generated/enumerations.ts';

export type TenantState = 'active' | 'sealed' | 'killed';
/**
 * Whether a Name identifies one object of the tenant (issue 13 §5). 'unique' is what KMIP 2.1
 * s.4.35 and the OASIS BL-M-8 test ask; 'duplicates-allowed' is what PyKMIP's tests and
 * Percona's kmipclient expect (they reuse one default Name for many objects).
 */
export type NamePolicy = 'unique' | 'duplicates-allowed';
export const NAME_POLICIES: readonly NamePolicy[] = ['unique', 'duplicates-allowed'];
export function checkNamePolicy(v: unknown): NamePolicy {
  if (v === 'unique' || v === 'duplicates-allowed') return v;
  throw new GovernanceError('invalid', "names: expected 'unique' or 'duplicates-allowed'");
}
export interface Tenant { id: string; name: string; state: TenantState; createdAt: string; names: NamePolicy }
export interface Service { tenant: string; id: string; name: string; createdAt: string }
export interface Role {
  name: string;
  /** KMIP Operation names (KMIP 2.1 §11.37); '*' = all. */
  operations: string[];
  /** ObjectType names (§11.28); absent = any. */
  objectTypes?: string[];
  /** Object Group values; absent = any. */
  objectGroups?: string[];
  builtIn: boolean;
}
export type IdentityMatch =
  | { kind: 'fingerprint'; sha256: string }
  | { kind: 'subject'; pattern: string }
  | { kind: 'san-uri'; uri: string };
export interface Identity {
  id: string;
  tenant: string;
  service: string;
  role: string;
  match: IdentityMatch;
  revoked: boolean;
  certSerial?: string;
  /**
   * Role gateway only (issue 11 §1, migration 10): the other services of the tenant this
   * gateway may act for, besides `service` (its own, named in its certificate).
   */
  alsoServices?: string[];
  createdAt: string;
}
/** `fromService` lets `toService` run `operations` ('*' = all) on fromService's objects. */
export interface Grant { tenant: string; fromService: string; toService: string; operations: string[] }
export type L1ProviderKind = 'software' | 'pkcs11' | 'aws-kms' | 'kmip' | 'vault-transit' | 'azure-keyvault' | 'gcp-kms';
export const L1_PROVIDER_KINDS: readonly L1ProviderKind[] = ['software', 'pkcs11', 'aws-kms', 'kmip', 'vault-transit', 'azure-keyvault', 'gcp-kms'];
export interface L1Pointer {
  tenant: string;
  provider: L1ProviderKind;
  /** Key reference and where credentials are found (env names, files); never a secret. */
  config: Record<string, string | number | boolean>;
  state: 'active' | 'removed';
  updatedAt: string;
}

/**
 * A certificate of built-in role `core` (issue 10 §2): one node of one region. It is not a
 * KMIP identity (no tenant, no service) and reaches the CMK's link routes only.
 */
export interface CoreIdentity {
  id: string;
  region: string;
  node: string;
  fingerprint: string;
  certSerial?: string;
  revoked: boolean;
  createdAt: string;
}
/** `service rotate` on a CMK: every core serving the tenant brings the service's L3 to at least this version. */
export interface RotationRequest { tenant: string; service: string; minVersion: number }
/**
 * `tenant rotate-l2` on a CMK: every region serving the tenant rotates its own L2 once for
 * this generation (the region's vault decides which node does it, src/server/core.ts).
 */
export interface L2RotationRequest { tenant: string; generation: number }

/**
 * One entry of the governance change log (migration 7), shipped to the cores as is: the
 * link's LinkChange (src/link/protocol.ts) is this type (link imports store, never the
 * reverse, DESIGN.md §5). Each carries the whole record after the change, so applying it twice
 * ends in the same state.
 */
export type GovernanceChangeBody =
  | { entity: 'tenant'; op: 'put'; value: Tenant & { regions: string[] } }
  | { entity: 'tenant'; op: 'delete'; key: { id: string } }
  | { entity: 'service'; op: 'put'; value: Service }
  | { entity: 'service'; op: 'delete'; key: { tenant: string; id: string } }
  | { entity: 'role'; op: 'put'; value: Role }
  | { entity: 'role'; op: 'delete'; key: { name: string } }
  | { entity: 'identity'; op: 'put'; value: Identity }
  | { entity: 'identity'; op: 'delete'; key: { id: string } }
  | { entity: 'grant'; op: 'put'; value: Grant }
  | { entity: 'grant'; op: 'delete'; key: { tenant: string; fromService: string; toService: string } }
  | { entity: 'l1'; op: 'put'; value: L1Pointer }
  | { entity: 'rotation'; op: 'put'; value: RotationRequest }
  | { entity: 'l2rotation'; op: 'put'; value: L2RotationRequest };
export type GovernanceChange = { seq: number; at: string; tenant?: string } & GovernanceChangeBody;

/**
 * Changes kept in the log (issue 10 §2: "retention bounded"). Without a bound, years of
 * churn grow the CMK's database for ever; a core that was away for longer than this many
 * changes gets 410 Gone on the stream and reloads the snapshot instead.
 */
export const DEFAULT_CHANGE_RETENTION = 50_000;
/** Regions one tenant may be pinned to: a residency list, not a broadcast (keeps every fan-out bounded). */
export const MAX_TENANT_REGIONS = 16;

export interface GovernanceStoreOptions {
  /** Changes kept in the log (default DEFAULT_CHANGE_RETENTION). */
  changeRetention?: number;
}

export type GovernanceErrorCode = 'not-found' | 'exists' | 'invalid';
export class GovernanceError extends Error {
  override readonly name = 'GovernanceError';
  constructor(readonly code: GovernanceErrorCode, message: string) {
    super(message);
  }
}

/**
 * What an application may do (role app), and so the gateway, which forwards its
 * applications' requests (issue 11).
 */
const APPLICATION_OPERATIONS: readonly string[] = [
  'Create', 'Register', 'Get', 'GetAttributes', 'GetAttributeList', 'Locate', 'Activate',
  'Encrypt', 'Decrypt', 'Sign', 'SignatureVerify', 'MAC', 'MACVerify',
  'AddAttribute', 'ModifyAttribute', 'SetAttribute', 'DeleteAttribute',
  'ReKey', 'DiscoverVersions', 'Query', 'RNGRetrieve', 'Hash',
];

/** The built-in roles: the same table as src/policy/roles.ts BUILT_IN_ROLES, on purpose (store and policy may not import each other, DESIGN.md §5); test/governance/store.test.ts pins them equal. */
export const BUILT_IN_ROLE_TABLE: readonly Role[] = Object.freeze([
  { name: 'admin', operations: ['*'], builtIn: true },
  { name: 'tenant-admin', operations: ['*'], builtIn: true },
  {
    name: 'app',
    operations: [...APPLICATION_OPERATIONS],
    builtIn: true,
  },
  { name: 'read-only', operations: ['Get', 'GetAttributes', 'GetAttributeList', 'Locate', 'Check', 'DiscoverVersions', 'Query'], builtIn: true },
  { name: 'auditor', operations: [], builtIn: true },
  {
    name: 'gateway',
    operations: [...APPLICATION_OPERATIONS],
    builtIn: true,
  },
]);

// --- validation -------------------------------------------------------------------------

/**
 * Tenant, service and role identifiers appear in SAN URIs (openkcm://tenant/<t>/…), in
 * file names written by kmipctl and in audit records: lower-case letters, digits and
 * '.', '_', '-', starting with a letter or digit, at most 63 characters.
 */
const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const OPERATION_NAMES: ReadonlySet<string> = new Set(Object.keys(Operation));
export const OBJECT_TYPE_NAMES: ReadonlySet<string> = new Set(Object.keys(ObjectType));
/** Field names that would carry a secret in clear (cf. src/hsm/index.ts parseL1Config). */
const SECRET_FIELD = /^(pin|userpin|sopin|password|passphrase|secret|secretaccesskey|accesskeyid|sessiontoken|token|credentials?|key|privatekey|keymaterial)$/i;
const MAX_CONFIG_JSON = 4096;

export function checkId(what: string, v: unknown): string {
  if (typeof v !== 'string' || !ID_PATTERN.test(v)) {
    throw new GovernanceError('invalid', `${what}: ${JSON.stringify(v)} is not a valid identifier (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters)`);
  }
  return v;
}

export function checkName(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > 128 || CONTROL.test(v)) {
    throw new GovernanceError('invalid', `${what}: expected 1 to 128 printable characters`);
  }
  return v;
}

export function checkOperations(what: string, v: unknown, allowEmpty: boolean): string[] {
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0)) throw new GovernanceError('invalid', `${what}: expected a${allowEmpty ? '' : ' non-empty'} list of KMIP operation names or '*'`);
  for (const op of v) {
    if (op !== '*' && (typeof op !== 'string' || !OPERATION_NAMES.has(op))) {
      throw new GovernanceError('invalid', `${what}: ${JSON.stringify(op)} is not a KMIP operation name (e.g. Get, Encrypt, Locate) nor '*'`);
    }
  }
  return [...new Set(v as string[])];
}

export function checkList(what: string, v: unknown, known?: ReadonlySet<string>): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) throw new GovernanceError('invalid', `${what}: expected a non-empty list (omit it for no limit)`);
  for (const x of v) {
    if (typeof x !== 'string' || x === '' || x.length > 256 || CONTROL.test(x)) throw new GovernanceError('invalid', `${what}: ${JSON.stringify(x)} is not a valid entry`);
    if (known && !known.has(x)) throw new GovernanceError('invalid', `${what}: ${JSON.stringify(x)} is not an object type name (e.g. SymmetricKey, PrivateKey)`);
  }
  return [...new Set(v as string[])];
}

export function normalizeFingerprint(v: unknown): string {
  const hex = typeof v === 'string' ? v.replace(/:/g, '').toLowerCase() : '';
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new GovernanceError('invalid', 'fingerprint: expected the SHA-256 of the DER certificate, 64 hex digits (colons allowed)');
  return hex;
}

export function normalizeCertSerial(v: unknown): string {
  const hex = typeof v === 'string' ? v.replace(/[:\s]/g, '').toUpperCase() : '';
  if (!/^[0-9A-F]{1,64}$/.test(hex)) throw new GovernanceError('invalid', 'certSerial: expected the certificate serial number in hex');
  return hex.replace(/^0+/, '') || '0';
}

export function checkMatch(v: unknown, tenant: string, service: string, role: string): IdentityMatch {
  const m = v as Partial<Record<string, unknown>> | undefined;
  switch (m?.kind) {
    case 'fingerprint':
      return { kind: 'fingerprint', sha256: normalizeFingerprint(m.sha256) };
    case 'subject': {
      const p = m.pattern;
      if (typeof p !== 'string' || !p.includes('=') || p.length > 512 || CONTROL.test(p)) {
        throw new GovernanceError('invalid', "match.pattern: expected a subject such as 'CN=app-*, O=Acme' ('*' matches within one value)");
      }
      if (/^[\s*,=]*$/.test(p.replace(/[A-Za-z]+\s*=/g, ''))) {
        // "CN=*" would admit every certificate of the CA: a rule that broad must be explicit by fingerprint or URI instead.
        throw new GovernanceError('invalid', 'match.pattern: a pattern made only of wildcards matches every certificate of the CA; name at least one literal value');
      }
      return { kind: 'subject', pattern: p };
    }
    case 'san-uri': {
      const u = m.uri;
      if (typeof u !== 'string' || u.length > 512 || CONTROL.test(u) || !/^[a-z][a-z0-9+.-]*:\S+$/i.test(u)) {
        throw new GovernanceError('invalid', 'match.uri: expected an absolute URI such as openkcm://tenant/<t>/service/<s>/role/<r>');
      }
      if (u.startsWith('openkcm:')) {
        // The URI OpenKCM's CA embeds states tenant, service and role: it must agree with the record.
        const want = `openkcm://tenant/${encodeURIComponent(tenant)}/service/${encodeURIComponent(service)}/role/${encodeURIComponent(role)}`;
        if (u !== want) throw new GovernanceError('invalid', `match.uri: an openkcm: URI must name this identity's tenant, service and role (${want})`);
      }
      return { kind: 'san-uri', uri: u };
    }
    default:
      throw new GovernanceError('invalid', "match.kind: expected 'fingerprint', 'subject' or 'san-uri'");
  }
}

export function checkL1Config(v: unknown): Record<string, string | number | boolean> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new GovernanceError('invalid', 'config: expected an object of references (key id, token label, env/file names)');
  const out: Record<string, string | number | boolean> = {};
  for (const [k, x] of Object.entries(v)) {
    if (SECRET_FIELD.test(k)) {
      throw new GovernanceError('invalid', `config.${k}: secrets are not stored; give a reference instead (e.g. pinEnv/pinFile, accessKeyIdEnv/secretAccessKeyEnv, keyFile)`);
    }
    if (k === 'provider') throw new GovernanceError('invalid', 'config.provider: give the provider beside the config, not inside it');
    if (typeof x !== 'string' && typeof x !== 'boolean' && !(typeof x === 'number' && Number.isFinite(x))) {
      throw new GovernanceError('invalid', `config.${k}: expected a string, number or boolean`);
    }
    if (typeof x === 'string' && (CONTROL.test(x) || x.includes('-----BEGIN'))) throw new GovernanceError('invalid', `config.${k}: not a reference (control characters or PEM data)`);
    out[k] = x;
  }
  if (JSON.stringify(out).length > MAX_CONFIG_JSON) throw new GovernanceError('invalid', `config: larger than ${MAX_CONFIG_JSON} bytes of JSON`);
  return out;
}

/** The built-in role of core node certificates (issue 10 §2); never a KMIP role. */
export const CORE_ROLE = 'core';

export function checkRegions(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new GovernanceError('invalid', 'regions: expected a list of region names');
  if (v.length > MAX_TENANT_REGIONS) throw new GovernanceError('invalid', `regions: at most ${MAX_TENANT_REGIONS} regions per tenant`);
  return [...new Set(v.map((r) => checkId('region', r)))];
}

// --- rows ------------------------------------------------------------------------------

export interface CoreRow { id: string; region: string; node: string; fingerprint: string; cert_serial: string | null; revoked: number; created_at: string }
export function coreFromRow(r: CoreRow): CoreIdentity {
  const c: CoreIdentity = { id: r.id, region: r.region, node: r.node, fingerprint: r.fingerprint, revoked: r.revoked === 1, createdAt: r.created_at };
  if (r.cert_serial !== null) c.certSerial = r.cert_serial;
  return c;
}

export interface IdentityRow {
  id: string; tenant: string; service: string; role: string; match_kind: IdentityMatch['kind']; match_value: string;
  revoked: number; cert_serial: string | null; created_at: string; also_services: string | null;
}
export const IDENTITY_COLUMNS = 'id, tenant, service, role, match_kind, match_value, revoked, cert_serial, created_at, also_services';

export function identityFromRow(r: IdentityRow): Identity {
  const match: IdentityMatch = r.match_kind === 'fingerprint' ? { kind: 'fingerprint', sha256: r.match_value }
    : r.match_kind === 'subject' ? { kind: 'subject', pattern: r.match_value } : { kind: 'san-uri', uri: r.match_value };
  const i: Identity = { id: r.id, tenant: r.tenant, service: r.service, role: r.role, match, revoked: r.revoked === 1, createdAt: r.created_at };
  if (r.cert_serial !== null) i.certSerial = r.cert_serial;
  if (r.also_services !== null) i.alsoServices = JSON.parse(r.also_services) as string[];
  return i;
}
export const matchValue = (m: IdentityMatch) => (m.kind === 'fingerprint' ? m.sha256 : m.kind === 'subject' ? m.pattern : m.uri);

export interface RoleRow { name: string; operations: string; object_types: string | null; object_groups: string | null }
export function roleFromRow(r: RoleRow): Role {
  const role: Role = { name: r.name, operations: JSON.parse(r.operations) as string[], builtIn: false };
  if (r.object_types !== null) role.objectTypes = JSON.parse(r.object_types) as string[];
  if (r.object_groups !== null) role.objectGroups = JSON.parse(r.object_groups) as string[];
  return role;
}

/** A core node's last status report as stored (the link checks and parses `status`, JSON). */
export interface NodeStatusRow { node: string; region: string; status: string; receivedAt: string }

/** Everything of one region's governance, consistent with the change log at `seq`. */
export interface RegionGovernance {
  seq: number;
  tenants: (Tenant & { regions: string[] })[];
  services: Service[];
  roles: Role[];
  identities: Identity[];
  grants: Grant[];
  l1Pointers: L1Pointer[];
  rotations: RotationRequest[];
  l2Rotations: L2RotationRequest[];
}

export type IdentityInput = { tenant: string; service: string; role: string; match: IdentityMatch; certSerial?: string; id?: string; alsoServices?: string[] };

/** The built-in role whose identities may act for several services (issue 11 §1); policy's GATEWAY_ROLE. */
export const GATEWAY_ROLE_NAME = 'gateway';
/** Services one gateway identity may act for besides its own: bounds the list every message check scans. */
export const MAX_GATEWAY_SERVICES = 64;

/** The other services of a gateway identity: valid ids, not its own, no duplicates, at most MAX_GATEWAY_SERVICES. */
export function checkAlsoServices(v: unknown, service: string, role: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (role !== GATEWAY_ROLE_NAME) throw new GovernanceError('invalid', `alsoServices: only an identity of role ${GATEWAY_ROLE_NAME} acts for several services (this one is role ${role})`);
  if (!Array.isArray(v)) throw new GovernanceError('invalid', 'alsoServices: expected a list of service ids');
  const list = [...new Set(v.map((x) => checkId('alsoServices', x)))].filter((x) => x !== service);
  if (list.length > MAX_GATEWAY_SERVICES) throw new GovernanceError('invalid', `alsoServices: at most ${MAX_GATEWAY_SERVICES} services per gateway identity`);
  return list.length === 0 ? undefined : list;
}
export type RevokeSelector = { id: string } | { fingerprint: string } | { certSerial: string };

export class GovernanceStore {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly retention: number;
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;
  constructor(private readonly db: Database.Database, options: GovernanceStoreOptions = {}) {
    const ok = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'gov_changes'").get();
    if (ok === undefined) throw new Error('the database has no governance tables: open it with openSqliteStore (migrations 5 and 7)');
    const r = options.changeRetention ?? DEFAULT_CHANGE_RETENTION;
    if (!Number.isInteger(r) || r < 1) throw new RangeError(`changeRetention: expected a whole number ≥ 1, got ${r}`);
    this.retention = r;
  }

  // --- change log (issue 10 §2) ---

  /**
   * Appends one change. Called inside the transaction of the mutation it describes, so the
   * two commit or vanish together: a crash never leaves one without the other.
   */
  private appendChange(body: GovernanceChangeBody, tenant: string | undefined): void {
    if (!this.db.inTransaction) throw new Error('appendChange outside the transaction of its mutation');
    this.stmt("UPDATE gov_meta SET value = value + 1 WHERE key = 'change_seq'").run();
    const seq = (this.stmt("SELECT value FROM gov_meta WHERE key = 'change_seq'").get() as { value: number }).value;
    this.stmt('INSERT INTO gov_changes (seq, at, tenant, body) VALUES (?, ?, ?, ?)').run(seq, this.now(), tenant ?? null, JSON.stringify(body));
    this.stmt('DELETE FROM gov_changes WHERE seq <= ?').run(seq - this.retention);
    this.scheduleNotify();
  }

  /**
   * Listeners run after the mutation's transaction has committed (on a later tick: every
   * better-sqlite3 transaction is synchronous, so by then it is over), never inside it.
   */
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

  /** Called (coalesced) after changes are committed through this store. Returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  /** The newest change's seq (0 before the first) and the oldest one still kept (undefined when none is). */
  changeBounds(): { latest: number; oldest: number | undefined } {
    const latest = (this.stmt("SELECT value FROM gov_meta WHERE key = 'change_seq'").get() as { value: number }).value;
    const o = this.stmt('SELECT MIN(seq) AS seq FROM gov_changes').get() as { seq: number | null };
    return { latest, oldest: o.seq ?? undefined };
  }

  /**
   * Changes with seq in (after, through], oldest first, at most `limit`, restricted to what
   * `region` may see: changes without a tenant (roles) and changes of tenants pinned to it.
   * Without a region: every change.
   */
  changesAfter(after: number, through: number, limit: number, region?: string): GovernanceChange[] {
    const rows = (region === undefined
      ? this.stmt('SELECT seq, at, tenant, body FROM gov_changes WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?').all(after, through, limit)
      : this.stmt('SELECT seq, at, tenant, body FROM gov_changes WHERE seq > ? AND seq <= ? AND (tenant IS NULL OR tenant IN ' +
        '(SELECT tenant FROM gov_tenant_regions WHERE region = ?)) ORDER BY seq LIMIT ?').all(after, through, region, limit)) as
      { seq: number; at: string; tenant: string | null; body: string }[];
    return rows.map((r) => {
      const c = { seq: r.seq, at: r.at, ...(JSON.parse(r.body) as GovernanceChangeBody) } as GovernanceChange;
      if (r.tenant !== null) c.tenant = r.tenant;
      return c;
    });
  }

  /** Runs `fn` in one read transaction: a snapshot assembled inside it is consistent with changeBounds(). */
  readConsistent<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  // --- regions ---

  tenantRegions(tenant: string): string[] {
    return (this.stmt('SELECT region FROM gov_tenant_regions WHERE tenant = ? ORDER BY region').all(tenant) as { region: string }[]).map((r) => r.region);
  }

  /** Every tenant's regions (tenants without a region are absent). */
  allTenantRegions(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const r of this.stmt('SELECT tenant, region FROM gov_tenant_regions ORDER BY tenant, region').all() as { tenant: string; region: string }[]) {
      const l = out.get(r.tenant) ?? [];
      l.push(r.region);
      out.set(r.tenant, l);
    }
    return out;
  }

  /** Ids of the tenants pinned to `region`. */
  tenantsInRegion(region: string): string[] {
    return (this.stmt('SELECT tenant FROM gov_tenant_regions WHERE region = ? ORDER BY tenant').all(region) as { tenant: string }[]).map((r) => r.tenant);
  }

  private tenantChange(t: Tenant): GovernanceChangeBody {
    return { entity: 'tenant', op: 'put', value: { ...t, regions: this.tenantRegions(t.id) } };
  }

  // --- rotations requested on a CMK ---

  /** Records that every core must rotate (tenant, service)'s L3 once more; publishes it. */
  requestRotation(tenant: string, service: string): RotationRequest {
    return this.db.transaction(() => {
      this.requireService(tenant, service);
      const cur = this.stmt('SELECT min_version FROM gov_rotations WHERE tenant = ? AND service = ?').get(tenant, service) as { min_version: number } | undefined;
      // An L3 starts at version 1 (src/hierarchy); each request asks for one version more.
      const r: RotationRequest = { tenant, service, minVersion: (cur?.min_version ?? 1) + 1 };
      this.stmt('INSERT INTO gov_rotations (tenant, service, min_version, updated_at) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (tenant, service) DO UPDATE SET min_version = excluded.min_version, updated_at = excluded.updated_at').run(tenant, service, r.minVersion, this.now());
      this.appendChange({ entity: 'rotation', op: 'put', value: r }, tenant);
      return r;
    }).immediate();
  }

  /** Records that every region serving the tenant must rotate its L2 once more; publishes it (migration 11). */
  requestL2Rotation(tenant: string): L2RotationRequest {
    return this.db.transaction(() => {
      this.requireTenant(tenant);
      const cur = this.stmt('SELECT generation FROM gov_l2_rotations WHERE tenant = ?').get(tenant) as { generation: number } | undefined;
      const r: L2RotationRequest = { tenant, generation: (cur?.generation ?? 0) + 1 };
      this.stmt('INSERT INTO gov_l2_rotations (tenant, generation, updated_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (tenant) DO UPDATE SET generation = excluded.generation, updated_at = excluded.updated_at').run(tenant, r.generation, this.now());
      this.appendChange({ entity: 'l2rotation', op: 'put', value: r }, tenant);
      return r;
    })();
  }

  listL2Rotations(tenant?: string): L2RotationRequest[] {
    const rows = (tenant === undefined
      ? this.stmt('SELECT tenant, generation FROM gov_l2_rotations ORDER BY tenant').all()
      : this.stmt('SELECT tenant, generation FROM gov_l2_rotations WHERE tenant = ?').all(tenant)) as L2RotationRequest[];
    return rows.map((r) => ({ tenant: r.tenant, generation: r.generation }));
  }

  listRotations(tenant?: string): RotationRequest[] {
    const rows = (tenant === undefined
      ? this.stmt('SELECT tenant, service, min_version FROM gov_rotations ORDER BY tenant, service').all()
      : this.stmt('SELECT tenant, service, min_version FROM gov_rotations WHERE tenant = ? ORDER BY service').all(tenant)) as { tenant: string; service: string; min_version: number }[];
    return rows.map((r) => ({ tenant: r.tenant, service: r.service, minVersion: r.min_version }));
  }

  // --- core identities ---

  addCoreIdentity(input: { region: string; node: string; fingerprint: string; certSerial?: string }): CoreIdentity {
    const region = checkId('region', input.region);
    const node = checkId('node', input.node);
    const fingerprint = normalizeFingerprint(input.fingerprint);
    const certSerial = input.certSerial === undefined ? undefined : normalizeCertSerial(input.certSerial);
    return this.db.transaction(() => {
      if (this.stmt('SELECT 1 FROM gov_core_identities WHERE fingerprint = ?').get(fingerprint)) {
        throw new GovernanceError('exists', 'a core identity with this certificate fingerprint exists already');
      }
      const c: CoreIdentity = { id: `core-${randomUUID()}`, region, node, fingerprint, revoked: false, createdAt: this.now() };
      if (certSerial !== undefined) c.certSerial = certSerial;
      this.stmt('INSERT INTO gov_core_identities (id, region, node, fingerprint, cert_serial, revoked, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)')
        .run(c.id, region, node, fingerprint, certSerial ?? null, c.createdAt);
      // A CMK that issued a core certificate has an administrator: never bootstrap mode again.
      this.markInitialised();
      return c;
    }).immediate();
  }

  listCoreIdentities(): CoreIdentity[] {
    return (this.stmt('SELECT id, region, node, fingerprint, cert_serial, revoked, created_at FROM gov_core_identities ORDER BY created_at, id').all() as CoreRow[]).map(coreFromRow);
  }

  /** The core identity of a certificate fingerprint (revoked ones included: the caller decides). */
  findCoreIdentity(fingerprint: string): CoreIdentity | undefined {
    const r = this.stmt('SELECT id, region, node, fingerprint, cert_serial, revoked, created_at FROM gov_core_identities WHERE fingerprint = ?').get(fingerprint) as CoreRow | undefined;
    return r && coreFromRow(r);
  }

  /** Revokes core identities by id, fingerprint or serial; [] when none matched. */
  revokeCoreIdentity(sel: RevokeSelector): CoreIdentity[] {
    const cols = 'id, region, node, fingerprint, cert_serial, revoked, created_at';
    const rows = ('id' in sel ? this.stmt(`SELECT ${cols} FROM gov_core_identities WHERE id = ?`).all(sel.id)
      : 'fingerprint' in sel ? this.stmt(`SELECT ${cols} FROM gov_core_identities WHERE fingerprint = ?`).all(normalizeFingerprint(sel.fingerprint))
        : this.stmt(`SELECT ${cols} FROM gov_core_identities WHERE cert_serial = ?`).all(normalizeCertSerial(sel.certSerial))) as CoreRow[];
    const upd = this.stmt('UPDATE gov_core_identities SET revoked = 1 WHERE id = ?');
    this.db.transaction(() => { for (const r of rows) upd.run(r.id); }).immediate();
    return rows.map((r) => ({ ...coreFromRow(r), revoked: true }));
  }

  // --- link bookkeeping (migration 7): what each core node last reported ---

  /** Stores a node's last status (the caller checked it; `status` is its JSON). The last one per node wins. */
  recordNodeStatus(r: NodeStatusRow): void {
    this.stmt('INSERT INTO link_node_status (node, region, status, received_at) VALUES (?, ?, ?, ?) ' +
      'ON CONFLICT (node) DO UPDATE SET region = excluded.region, status = excluded.status, received_at = excluded.received_at')
      .run(r.node, r.region, r.status, r.receivedAt);
  }

  /** Every node's last status, by region then node. */
  listNodeStatuses(): NodeStatusRow[] {
    return (this.stmt('SELECT node, region, status, received_at FROM link_node_status ORDER BY region, node').all() as
      { node: string; region: string; status: string; received_at: string }[]).map((r) => ({ node: r.node, region: r.region, status: r.status, receivedAt: r.received_at }));
  }

  /**
   * The governance a region's cores receive, read in one transaction so that it is exactly
   * the state after change `seq` (src/link/changes.ts frames it as the link snapshot).
   */
  regionSnapshot(region: string): RegionGovernance {
    return this.readConsistent(() => {
      const seq = this.changeBounds().latest;
      const ids = new Set(this.tenantsInRegion(region));
      const regions = this.allTenantRegions();
      const tenants = this.listTenants().filter((t) => ids.has(t.id)).map((t) => ({ ...t, regions: regions.get(t.id) ?? [] }));
      const mine = <T extends { tenant: string }>(xs: T[]) => xs.filter((x) => ids.has(x.tenant));
      return {
        seq,
        tenants,
        services: tenants.flatMap((t) => this.listServices(t.id)),
        roles: this.listRoles(),
        identities: mine(this.listIdentities()),
        grants: mine(this.listGrants()),
        l1Pointers: tenants.map((t) => this.getL1Pointer(t.id)).filter((p) => p !== undefined),
        rotations: mine(this.listRotations()),
        l2Rotations: mine(this.listL2Rotations()),
      };
    });
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) { s = this.db.prepare(sql); this.statements.set(sql, s); }
    return s;
  }
  private now(): string { return new Date().toISOString(); }
  private markInitialised(): void {
    this.stmt("UPDATE gov_meta SET value = 1 WHERE key = 'initialised' AND value = 0").run();
  }

  /** Changes with every write (any process): a cache of this data is stale when it differs. */
  generation(): number {
    return (this.stmt("SELECT value FROM gov_meta WHERE key = 'generation'").get() as { value: number }).value;
  }

  /**
   * False until the first tenant or identity is created. While false the server runs in
   * bootstrap mode (src/server/runtime.ts); once true it never goes back.
   */
  isInitialised(): boolean {
    return (this.stmt("SELECT value FROM gov_meta WHERE key = 'initialised'").get() as { value: number }).value === 1;
  }

  // --- tenants ---

  /**
   * A tenant, optionally pinned to regions (issue 10 §3): only the cores of those regions
   * serve it. Without regions it is served by the all-in-one server (`openkcm serve`) only.
   */
  createTenant(input: { id: string; name?: string; regions?: readonly string[]; names?: NamePolicy }): Tenant {
    const id = checkId('tenant', input.id);
    const name = input.name === undefined ? id : checkName('name', input.name);
    const regions = checkRegions(input.regions);
    const names = input.names === undefined ? 'unique' : checkNamePolicy(input.names);
    return this.db.transaction(() => {
      if (this.getTenant(id) !== undefined) throw new GovernanceError('exists', `tenant ${id} exists already`);
      const t: Tenant = { id, name, state: 'active', createdAt: this.now(), names };
      this.stmt('INSERT INTO gov_tenants (id, name, state, created_at, names) VALUES (?, ?, ?, ?, ?)').run(t.id, t.name, t.state, t.createdAt, t.names);
      for (const r of regions) this.stmt('INSERT INTO gov_tenant_regions (tenant, region) VALUES (?, ?)').run(t.id, r);
      this.markInitialised();
      this.appendChange(this.tenantChange(t), t.id);
      return t;
    }).immediate();
  }

  listTenants(): Tenant[] {
    return (this.stmt('SELECT id, name, state, created_at, names FROM gov_tenants ORDER BY id').all() as { id: string; name: string; state: TenantState; created_at: string; names: NamePolicy }[])
      .map((r) => ({ id: r.id, name: r.name, state: r.state, createdAt: r.created_at, names: r.names }));
  }

  getTenant(id: string): Tenant | undefined {
    const r = this.stmt('SELECT id, name, state, created_at, names FROM gov_tenants WHERE id = ?').get(id) as
      { id: string; name: string; state: TenantState; created_at: string; names: NamePolicy } | undefined;
    return r && { id: r.id, name: r.name, state: r.state, createdAt: r.created_at, names: r.names };
  }

  private requireTenant(id: string): Tenant {
    const t = this.getTenant(checkId('tenant', id));
    if (!t) throw new GovernanceError('not-found', `tenant ${id} does not exist`);
    return t;
  }

  /**
   * Changes the tenant's Name policy (issue 13 §5). The caller checks first that switching to
   * 'unique' finds no Name held by two objects (the objects live in the vault, not here).
   */
  setTenantNames(id: string, names: NamePolicy): Tenant {
    const policy = checkNamePolicy(names);
    return this.db.transaction(() => {
      const t = this.requireTenant(id);
      this.stmt('UPDATE gov_tenants SET names = ? WHERE id = ?').run(policy, t.id);
      const out = { ...t, names: policy };
      this.appendChange(this.tenantChange(out), t.id);
      return out;
    }).immediate();
  }

  setTenantState(id: string, state: TenantState): Tenant {
    if (state !== 'active' && state !== 'sealed' && state !== 'killed') throw new GovernanceError('invalid', "state: expected 'active', 'sealed' or 'killed'");
    return this.db.transaction(() => {
      const t = this.requireTenant(id);
      this.stmt('UPDATE gov_tenants SET state = ? WHERE id = ?').run(state, t.id);
      const out = { ...t, state };
      this.appendChange(this.tenantChange(out), t.id);
      return out;
    }).immediate();
  }

  // --- services ---

  createService(input: { tenant: string; id: string; name?: string }): Service {
    const tenant = checkId('tenant', input.tenant);
    const id = checkId('service', input.id);
    const name = input.name === undefined ? id : checkName('name', input.name);
    return this.db.transaction(() => {
      this.requireTenant(tenant);
      if (this.getService(tenant, id) !== undefined) throw new GovernanceError('exists', `service ${id} exists already in tenant ${tenant}`);
      const s: Service = { tenant, id, name, createdAt: this.now() };
      this.stmt('INSERT INTO gov_services (tenant, id, name, created_at) VALUES (?, ?, ?, ?)').run(tenant, id, name, s.createdAt);
      this.appendChange({ entity: 'service', op: 'put', value: s }, tenant);
      return s;
    }).immediate();
  }

  listServices(tenant: string): Service[] {
    this.requireTenant(tenant);
    return (this.stmt('SELECT tenant, id, name, created_at FROM gov_services WHERE tenant = ? ORDER BY id').all(tenant) as
      { tenant: string; id: string; name: string; created_at: string }[]).map((r) => ({ tenant: r.tenant, id: r.id, name: r.name, createdAt: r.created_at }));
  }

  getService(tenant: string, id: string): Service | undefined {
    const r = this.stmt('SELECT tenant, id, name, created_at FROM gov_services WHERE tenant = ? AND id = ?').get(tenant, id) as
      { tenant: string; id: string; name: string; created_at: string } | undefined;
    return r && { tenant: r.tenant, id: r.id, name: r.name, createdAt: r.created_at };
  }

  private requireService(tenant: string, id: string): Service {
    this.requireTenant(tenant);
    const s = this.getService(tenant, checkId('service', id));
    if (!s) throw new GovernanceError('not-found', `service ${id} does not exist in tenant ${tenant}`);
    return s;
  }

  // --- roles ---

  createRole(input: { name: string; operations: string[]; objectTypes?: string[]; objectGroups?: string[] }): Role {
    const name = checkId('role', input.name);
    // `core` is the built-in role of core node certificates (issue 10), which are no KMIP identities.
    if (name === CORE_ROLE) throw new GovernanceError('exists', `role ${CORE_ROLE} is reserved for core node certificates (kmipctl cert issue --role core --region …)`);
    const operations = checkOperations('operations', input.operations, false);
    const objectTypes = checkList('objectTypes', input.objectTypes, OBJECT_TYPE_NAMES);
    const objectGroups = checkList('objectGroups', input.objectGroups);
    return this.db.transaction(() => {
      if (this.getRole(name) !== undefined) throw new GovernanceError('exists', `role ${name} exists already${BUILT_IN_ROLE_TABLE.some((r) => r.name === name) ? ' (built-in)' : ''}`);
      this.stmt('INSERT INTO gov_roles (name, operations, object_types, object_groups, created_at) VALUES (?, ?, ?, ?, ?)').run(
        name, JSON.stringify(operations), objectTypes ? JSON.stringify(objectTypes) : null, objectGroups ? JSON.stringify(objectGroups) : null, this.now());
      const role: Role = { name, operations, builtIn: false };
      if (objectTypes) role.objectTypes = objectTypes;
      if (objectGroups) role.objectGroups = objectGroups;
      this.appendChange({ entity: 'role', op: 'put', value: role }, undefined);
      return role;
    }).immediate();
  }

  listRoles(): Role[] {
    const custom = (this.stmt('SELECT name, operations, object_types, object_groups FROM gov_roles ORDER BY name').all() as RoleRow[]).map(roleFromRow);
    return [...BUILT_IN_ROLE_TABLE.map(cloneRole), ...custom];
  }

  getRole(name: string): Role | undefined {
    const b = BUILT_IN_ROLE_TABLE.find((r) => r.name === name);
    if (b) return cloneRole(b);
    const r = this.stmt('SELECT name, operations, object_types, object_groups FROM gov_roles WHERE name = ?').get(name) as RoleRow | undefined;
    return r && roleFromRow(r);
  }

  // --- identities ---

  addIdentity(input: IdentityInput): Identity {
    const tenant = checkId('tenant', input.tenant);
    const service = checkId('service', input.service);
    const role = checkId('role', input.role);
    const match = checkMatch(input.match, tenant, service, role);
    const alsoServices = checkAlsoServices(input.alsoServices, service, role);
    const certSerial = input.certSerial === undefined ? undefined : normalizeCertSerial(input.certSerial);
    const id = input.id === undefined ? `id-${randomUUID()}` : checkId('id', input.id);
    return this.db.transaction(() => {
      this.requireService(tenant, service);
      for (const s of alsoServices ?? []) this.requireService(tenant, s);
      if (this.getRole(role) === undefined) throw new GovernanceError('not-found', `role ${role} does not exist`);
      if (this.getIdentity(id) !== undefined) throw new GovernanceError('exists', `identity ${id} exists already`);
      const dup = (this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE match_kind = ? AND match_value = ?`).all(match.kind, matchValue(match)) as IdentityRow[])
        .find((r) => (r.cert_serial ?? undefined) === certSerial);
      if (dup) throw new GovernanceError('exists', `identity ${dup.id} already matches this ${match.kind}${certSerial ? ` and serial ${certSerial}` : ''}`);
      const i: Identity = { id, tenant, service, role, match, revoked: false, createdAt: this.now() };
      if (certSerial !== undefined) i.certSerial = certSerial;
      if (alsoServices !== undefined) i.alsoServices = alsoServices;
      this.stmt(`INSERT INTO gov_identities (${IDENTITY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`)
        .run(id, tenant, service, role, match.kind, matchValue(match), certSerial ?? null, i.createdAt, alsoServices ? JSON.stringify(alsoServices) : null);
      this.markInitialised();
      this.appendChange({ entity: 'identity', op: 'put', value: i }, tenant);
      return i;
    }).immediate();
  }

  listIdentities(filter: { tenant?: string; service?: string } = {}): Identity[] {
    const rows = filter.tenant === undefined
      ? this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities ORDER BY created_at, id`).all()
      : filter.service === undefined
        ? this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE tenant = ? ORDER BY created_at, id`).all(filter.tenant)
        : this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE tenant = ? AND service = ? ORDER BY created_at, id`).all(filter.tenant, filter.service);
    return (rows as IdentityRow[]).map(identityFromRow);
  }

  getIdentity(id: string): Identity | undefined {
    const r = this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE id = ?`).get(id) as IdentityRow | undefined;
    return r && identityFromRow(r);
  }

  /**
   * Replaces a gateway identity's other services in place (issue 11: kmipctl identity
   * set-services), without a new certificate. The change log carries the whole record, so
   * regional cores and every worker see the new list with the identity; the Core checks it on
   * every message and a gateway's status watch hears it (src/server/gateway-watch.ts). An
   * empty list leaves only the identity's own service.
   */
  setIdentityServices(id: string, alsoServices: string[]): Identity {
    return this.db.transaction(() => {
      const i = this.getIdentity(id);
      if (!i) throw new GovernanceError('not-found', `identity ${id} does not exist`);
      const list = checkAlsoServices(alsoServices, i.service, i.role);
      for (const s of list ?? []) this.requireService(i.tenant, s);
      this.stmt('UPDATE gov_identities SET also_services = ? WHERE id = ?').run(list ? JSON.stringify(list) : null, id);
      const next: Identity = { ...i };
      if (list) next.alsoServices = list; else delete next.alsoServices;
      this.appendChange({ entity: 'identity', op: 'put', value: next }, i.tenant);
      return next;
    }).immediate();
  }

  removeIdentity(id: string): Identity {
    return this.db.transaction(() => {
      const i = this.getIdentity(id);
      if (!i) throw new GovernanceError('not-found', `identity ${id} does not exist`);
      this.stmt('DELETE FROM gov_identities WHERE id = ?').run(id);
      this.appendChange({ entity: 'identity', op: 'delete', key: { id } }, i.tenant);
      return i;
    }).immediate();
  }

  /**
   * Marks identities revoked (they stay, so the certificate keeps being refused and the
   * audit trail can name them): by id, by certificate fingerprint, or by certificate serial
   * (kmipctl cert revoke). Returns every identity revoked; not-found when none matched.
   */
  revokeIdentity(sel: RevokeSelector): Identity[] {
    let rows: IdentityRow[];
    let what: string;
    if ('id' in sel) {
      rows = this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE id = ?`).all(sel.id) as IdentityRow[];
      what = `id ${sel.id}`;
    } else if ('fingerprint' in sel) {
      const fp = normalizeFingerprint(sel.fingerprint);
      rows = this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE match_kind = 'fingerprint' AND match_value = ?`).all(fp) as IdentityRow[];
      what = `fingerprint ${fp}`;
    } else if ('certSerial' in sel) {
      const s = normalizeCertSerial(sel.certSerial);
      rows = this.stmt(`SELECT ${IDENTITY_COLUMNS} FROM gov_identities WHERE cert_serial = ?`).all(s) as IdentityRow[];
      what = `certificate serial ${s}`;
    } else {
      throw new GovernanceError('invalid', 'revoke: give an id, a fingerprint or a certSerial');
    }
    if (rows.length === 0) throw new GovernanceError('not-found', `no identity with ${what}`);
    const upd = this.stmt('UPDATE gov_identities SET revoked = 1 WHERE id = ?');
    const revoked = rows.map((r) => ({ ...identityFromRow(r), revoked: true }));
    this.db.transaction(() => {
      for (const i of revoked) {
        upd.run(i.id);
        this.appendChange({ entity: 'identity', op: 'put', value: i }, i.tenant);
      }
    }).immediate();
    return revoked;
  }

  // --- grants ---

  addGrant(input: Grant): Grant {
    const tenant = checkId('tenant', input.tenant);
    const fromService = checkId('fromService', input.fromService);
    const toService = checkId('toService', input.toService);
    const operations = checkOperations('operations', input.operations, false);
    if (fromService === toService) throw new GovernanceError('invalid', 'toService: a service always reaches its own objects; a grant names another service');
    return this.db.transaction(() => {
      this.requireService(tenant, fromService);
      this.requireService(tenant, toService);
      const existing = this.stmt('SELECT 1 FROM gov_grants WHERE tenant = ? AND from_service = ? AND to_service = ?').get(tenant, fromService, toService);
      if (existing) throw new GovernanceError('exists', `service ${fromService} already grants ${toService} (remove that grant to change it)`);
      this.stmt('INSERT INTO gov_grants (tenant, from_service, to_service, operations, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(tenant, fromService, toService, JSON.stringify(operations), this.now());
      const g: Grant = { tenant, fromService, toService, operations };
      this.appendChange({ entity: 'grant', op: 'put', value: g }, tenant);
      return g;
    }).immediate();
  }

  listGrants(tenant?: string): Grant[] {
    const rows = (tenant === undefined
      ? this.stmt('SELECT tenant, from_service, to_service, operations FROM gov_grants ORDER BY tenant, from_service, to_service').all()
      : this.stmt('SELECT tenant, from_service, to_service, operations FROM gov_grants WHERE tenant = ? ORDER BY from_service, to_service').all(tenant)) as
      { tenant: string; from_service: string; to_service: string; operations: string }[];
    return rows.map((r) => ({ tenant: r.tenant, fromService: r.from_service, toService: r.to_service, operations: JSON.parse(r.operations) as string[] }));
  }

  removeGrant(input: { tenant: string; fromService: string; toService: string }): Grant {
    return this.db.transaction(() => {
      const g = this.listGrants(input.tenant).find((x) => x.fromService === input.fromService && x.toService === input.toService);
      if (!g) throw new GovernanceError('not-found', `no grant from service ${input.fromService} to ${input.toService} in tenant ${input.tenant}`);
      this.stmt('DELETE FROM gov_grants WHERE tenant = ? AND from_service = ? AND to_service = ?').run(g.tenant, g.fromService, g.toService);
      this.appendChange({ entity: 'grant', op: 'delete', key: { tenant: g.tenant, fromService: g.fromService, toService: g.toService } }, g.tenant);
      return g;
    }).immediate();
  }

  // --- L1 pointers ---

  setL1Pointer(input: { tenant: string; provider: L1ProviderKind; config: Record<string, unknown> }): L1Pointer {
    const t = this.requireTenant(input.tenant);
    if (!L1_PROVIDER_KINDS.includes(input.provider)) {
      throw new GovernanceError('invalid', `provider: expected one of ${L1_PROVIDER_KINDS.map((k) => `'${k}'`).join(', ')}`);
    }
    const config = checkL1Config(input.config);
    const p: L1Pointer = { tenant: t.id, provider: input.provider, config, state: 'active', updatedAt: this.now() };
    return this.db.transaction(() => {
      this.stmt('INSERT INTO gov_l1_pointers (tenant, provider, config, state, updated_at) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (tenant) DO UPDATE SET provider = excluded.provider, config = excluded.config, state = excluded.state, updated_at = excluded.updated_at')
        .run(p.tenant, p.provider, JSON.stringify(config), p.state, p.updatedAt);
      this.appendChange({ entity: 'l1', op: 'put', value: p }, p.tenant);
      return p;
    }).immediate();
  }

  getL1Pointer(tenant: string): L1Pointer | undefined {
    const r = this.stmt('SELECT tenant, provider, config, state, updated_at FROM gov_l1_pointers WHERE tenant = ?').get(tenant) as
      { tenant: string; provider: L1ProviderKind; config: string; state: 'active' | 'removed'; updated_at: string } | undefined;
    return r && { tenant: r.tenant, provider: r.provider, config: JSON.parse(r.config) as L1Pointer['config'], state: r.state, updatedAt: r.updated_at };
  }

  /**
   * Puts back the pointer row exactly as `previous` was (undefined: no row), for a change of
   * pointer that must be undone because the new L1 did not open the tenant after all
   * (issue 16 §3: a pointer is saved only when it works).
   */
  restoreL1Pointer(tenant: string, previous: L1Pointer | undefined): void {
    this.db.transaction(() => {
      if (previous === undefined) {
        this.stmt('DELETE FROM gov_l1_pointers WHERE tenant = ?').run(tenant);
        return;
      }
      this.stmt('INSERT INTO gov_l1_pointers (tenant, provider, config, state, updated_at) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (tenant) DO UPDATE SET provider = excluded.provider, config = excluded.config, state = excluded.state, updated_at = excluded.updated_at')
        .run(tenant, previous.provider, JSON.stringify(previous.config), previous.state, previous.updatedAt);
      this.appendChange({ entity: 'l1', op: 'put', value: previous }, tenant);
      // (No previous row: nothing to publish — the LinkChange contract has no pointer
      // deletion, and this undo runs only where the L1 is probed, i.e. never on a CMK.)
    }).immediate();
  }

  /** The kill switch's half in CMK: the pointer stays, marked removed, so status can say what was there. */
  removeL1Pointer(tenant: string): L1Pointer {
    return this.db.transaction(() => {
      const p = this.getL1Pointer(tenant);
      if (!p || p.state === 'removed') throw new GovernanceError('not-found', `tenant ${tenant} has no active L1 pointer`);
      const updatedAt = this.now();
      this.stmt("UPDATE gov_l1_pointers SET state = 'removed', updated_at = ? WHERE tenant = ?").run(updatedAt, tenant);
      const out: L1Pointer = { ...p, state: 'removed', updatedAt };
      this.appendChange({ entity: 'l1', op: 'put', value: out }, tenant);
      return out;
    }).immediate();
  }
}

export function cloneRole(r: Role): Role {
  const c: Role = { name: r.name, operations: [...r.operations], builtIn: r.builtIn };
  if (r.objectTypes) c.objectTypes = [...r.objectTypes];
  if (r.objectGroups) c.objectGroups = [...r.objectGroups];
  return c;
}
