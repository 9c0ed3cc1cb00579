// What the admin routes work with. The admin API depends on the governance store, the audit
// log and the hierarchy engine through these narrow ports (structural types): the real
// GovernanceStore (src/store/governance.ts), AuditLog (src/audit/) and HierarchyEngine
// (src/hierarchy/engine.ts) satisfy them, and a route never reaches past them.
import type { L1Provider, L1Status } from '../../hsm/types.ts';
import type { CertificateAuthority } from '../ca.ts';
import type { WorkerTenantReport } from '../cluster.ts';
import type { AdminScope } from '../../policy/admin-scope.ts';
import type { LinkAuditAck, LinkSnapshot } from '../../link/protocol.ts';
import type { LinkCaller, StoredNodeStatus } from '../../link/ingest.ts';
import type { LinkStreamInfo } from '../../link/changes.ts';

import type { Governance } from '../../store/governance-async.ts';
import type { AuditTrail } from '../../audit/trail.ts';

export type {
  Tenant, TenantState, Service, Role, Identity, IdentityMatch, Grant, L1Pointer, L1ProviderKind,
} from '../../store/governance.ts';
export type L1ProviderName = import('../../store/governance.ts').L1ProviderKind;

/**
 * The methods of the governance contract the admin API calls (issue 7), asynchronous so that
 * the same routes run over SQLite and PostgreSQL (src/store/governance-async.ts).
 */
export type GovernancePort = Pick<Governance,
  | 'createTenant' | 'listTenants' | 'getTenant' | 'setTenantState' | 'setTenantNames'
  | 'createService' | 'listServices' | 'getService'
  | 'addIdentity' | 'listIdentities' | 'getIdentity' | 'removeIdentity' | 'revokeIdentity' | 'setIdentityServices'
  | 'createRole' | 'listRoles' | 'getRole'
  | 'addGrant' | 'listGrants' | 'removeGrant'
  | 'setL1Pointer' | 'getL1Pointer' | 'removeL1Pointer' | 'restoreL1Pointer'
  | 'tenantRegions' | 'allTenantRegions' | 'requestRotation' | 'requestL2Rotation' | 'addCoreIdentity' | 'revokeCoreIdentity' | 'findCoreIdentity' | 'listCoreIdentities'>;

/** The audit trail as the admin API uses it (src/audit/trail.ts; sqliteAuditTrail adapts an AuditLog). */
export type AuditPort = Pick<AuditTrail, 'flush' | 'verify' | 'tail' | 'readAfter'> & {
  append(record: {
    kind: 'admin' | 'seal' | 'unseal' | 'kill' | 'auth-failure';
    identity?: string | null; tenant?: string | null; service?: string | null; operation?: string | null;
    objectId?: string | null; result: 'success' | 'failure'; reason?: 'PermissionDenied' | 'InvalidField' | 'ItemNotFound' | 'GeneralFailure' | null;
    detail?: string | null;
  }): void;
};

/** The hierarchy engine's governance entry points (HierarchyEngine satisfies it). */
export interface HierarchyPort {
  seal(tenant: string, reason: string): void;
  unsealTenant(tenant: string): Promise<unknown>;
  killSwitch(tenant: string, reason?: string): Promise<void>;
  enableTenant(tenant: string, l1: L1Provider): Promise<unknown>;
  status(tenant: string): { sealed: boolean; killed: boolean; reason?: string; sealKind?: string };
  /** A status of the tenant's own L1 found by `l1 check`: revoked/disabled seal at once (issue 16 §3). */
  reportL1Status(tenant: string, status: L1Status, source?: string): { sealed: boolean; killed: boolean; reason?: string; sealKind?: string };
  /** Proves an L1 opens every stored L2 of the tenant, writing nothing (issue 16 §3). */
  verifyL1(tenant: string, l1: L1Provider): Promise<unknown>;
  rotateL3(tenant: string, service: string): Promise<number>;
  /** New L2 under the tenant's L1, every L3 version re-wrapped under it (issue 6). */
  rotateL2(tenant: string): Promise<number>;
  /** Explicit re-wrap of stored values not under their service's current L3 (issue 6). */
  rewrapAll(tenant: string, service?: string): Promise<{ examined: number; rewrapped: number; skipped: number }>;
}

/** One SIEM exporter's delivery counters (src/audit/export/exporter.ts stats()). */
export interface ExporterStatsView {
  name: string;
  connected: boolean;
  delivered: number;
  undelivered: number;
  droppedFromBuffer: number;
  failures: number;
  lastError: string | null;
}

/** A stored object as the admin API describes it (src/server/key-metadata.ts): never a key byte. */
export interface ObjectMetadata {
  uid: string;
  service: string;
  objectType: string;
  state: string;
  names: string[];
  algorithm: string | null;
  length: number | null;
  usage: string[];
  objectGroups: string[];
  initialDate: string | null;
  activationDate: string | null;
  hasValue: boolean;
}

/** One version of a service's L3 key: numbers and dates, not the wrapped key. */
export interface L3VersionInfo {
  service: string;
  version: number;
  l2Version: number;
  createdAt: string;
  current: boolean;
}

/**
 * The keys of a tenant as metadata (issue 14 §3, the console's keys view). A port rather than
 * the vault itself: the admin routes never hold a row that carries key bytes.
 */
export interface KeyMetadataPort {
  objects(tenant: string, opts: { limit: number; service?: string }): Promise<{ objects: ObjectMetadata[]; more: boolean }>;
  l3Versions(tenant: string): Promise<L3VersionInfo[]>;
  /** A Name held by two or more live (not destroyed) objects of the tenant, if any (issue 13 §5). */
  duplicatedName(tenant: string): Promise<string | undefined>;
}

/** The authenticated caller of one admin request. */
export interface AdminCaller {
  /** Identity record id (or a label) for the audit trail. */
  id: string;
  tenant: string;
  service: string;
  role: string;
  fingerprint: string;
  subject: string;
  /** Role `core` only (issue 10): the region and node name its certificate is bound to. */
  region?: string;
  node?: string;
  /**
   * How the caller proved who it is (issue 14 §4): a client certificate (absent means that),
   * or through the IdP — a bearer token or a console session. SSO callers have no
   * fingerprint; `id` is `sso:<sub>` and `subject` the person's name or e-mail.
   */
  via?: 'certificate' | 'bearer' | 'session';
}

/** The IdP side of the admin API (src/server/sso.ts OidcSso satisfies it). */
export type SsoPort = Pick<import('../sso.ts').OidcSso,
  'settings' | 'verifyBearer' | 'beginLogin' | 'completeLogin' | 'session' | 'logout' | 'listeningOn' | 'warmUp'>;

/**
 * The link's server side on a CMK (`openkcm cmk`, issue 10; src/link/cmk.ts implements
 * it). Its presence is what makes this admin API a governance-only CMK: no key material,
 * no L1 call — routes that would need either answer differently (see each route).
 */
export interface LinkPort {
  snapshot(region: string): Promise<LinkSnapshot>;
  /** Throws LinkGoneError when the stream cannot resume after `after` (410). */
  checkResumable(after: number): Promise<void>;
  /** False when LINK_MAX_STREAMS streams are open already. */
  hasRoom(): boolean;
  openStream(res: import('node:http').ServerResponse, who: LinkCaller, after: number): void;
  ingestAudit(body: Record<string, unknown>, caller: LinkCaller): Promise<LinkAuditAck>;
  recordStatus(body: Record<string, unknown>, caller: LinkCaller): Promise<StoredNodeStatus>;
  /** Last status of every core node that ever reported. */
  nodes(): Promise<StoredNodeStatus[]>;
  /** Change streams open now. */
  streams(): LinkStreamInfo[];
}

/** What the peer certificate tells (the same shape the KMIP side resolves identities from). */
export interface PeerCertificateInfo {
  fingerprint: string;
  subject: string;
  sans: string[];
  sanUris: string[];
  /** Serial number, lowercase hex. */
  serial: string;
}

export interface AdminDeps {
  governance: GovernancePort;
  audit: AuditPort;
  /** Absent while the server runs without the hierarchy engine: seal/unseal/kill/rotate answer 503. */
  hierarchy?: HierarchyPort;
  /** OpenKCM's CA for `cert issue`; absent → 503 with a hint to configure it. */
  ca?: CertificateAuthority;
  /** Maps the peer certificate to an identity (G1's resolveIdentity over the governance store). */
  resolveCaller(cert: PeerCertificateInfo): Promise<AdminCaller | undefined>;
  /** Opens an L1 provider from a pointer's configuration (default: src/hsm openL1Provider). */
  openL1?(provider: L1ProviderName, config: Record<string, unknown>): Promise<L1Provider>;
  /** The KMIP endpoint, for the PyKMIP snippet of `cert issue` and for `status`. */
  kmip?: { host: string; port: number; caFile?: string };
  /** The running SIEM exporters, for `status` (absent or empty: none configured). */
  exporters?(): ExporterStatsView[];
  /** `openkcm serve --workers N`: what each worker process holds of a tenant (src/server/cluster.ts). */
  workers?(tenant: string): Promise<WorkerTenantReport[]>;
  /** Extra facts for `status` (version, uptime…). */
  info?(): Record<string, unknown>;
  /** Present on a CMK (`openkcm cmk`): the link routes, and governance-only behaviour. */
  link?: LinkPort;
  /** The tenant's stored objects and L3 versions as metadata (absent on a CMK: it holds no keys). */
  keys?: KeyMetadataPort;
  /**
   * Single sign-on (issue 14 §4; config sso.*). When present, the listener also accepts
   * connections without a client certificate, and such requests must carry a bearer token
   * or a console session to reach anything but /auth/* and the console's files.
   */
  sso?: SsoPort;
}

export interface AdminContext extends AdminDeps {
  caller: AdminCaller;
  /**
   * What this caller administers (src/policy/admin-scope.ts): { kind: 'global' } for the
   * admin and for the auditor's reads, { kind: 'tenant', tenant } for a tenant-admin.
   * Routes of scope 'filter' narrow to it; refusals go through requireScope (common.ts).
   */
  scope: AdminScope;
  /** The request's headers (the link stream reads Last-Event-ID). */
  headers?: import('node:http').IncomingHttpHeaders;
  /** Appends an admin-change record for this caller. */
  audited(operation: string, fields: { tenant?: string; service?: string; objectId?: string; detail?: string; kind?: 'admin' | 'seal' | 'unseal' | 'kill' }): void;
}
