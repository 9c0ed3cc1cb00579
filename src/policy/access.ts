// Pure access decisions (DESIGN.md §3, issue 7 "Model"): which identity a client
// certificate is, and whether that identity may run an operation on an object. No I/O:
// the server hands in the governance data (src/store/governance.ts) it has read.
//
// The record shapes below are declared here because policy may not import store
// (DESIGN.md §5); src/store/governance.ts declares the same shapes and
// test/governance/access.test.ts pins them assignable both ways.
import { ADMIN_ROLE, TENANT_ADMIN_ROLE, type PolicyRole } from './roles.ts';

export type IdentityMatch =
  | { kind: 'fingerprint'; sha256: string }
  | { kind: 'subject'; pattern: string }
  | { kind: 'san-uri'; uri: string };

export interface PolicyIdentity {
  id: string;
  tenant: string;
  service: string;
  role: string;
  match: IdentityMatch;
  revoked: boolean;
  /** Serial of the one certificate this identity stands for (upper-case hex, no leading zeros). */
  certSerial?: string;
  /** Role gateway only: the other services it may act for besides `service` (issue 11 §1). */
  alsoServices?: string[];
}

/** The services an identity may act for: its own, then a gateway's others (issue 11 §1). */
export function servicesOf(identity: Pick<PolicyIdentity, 'service' | 'alsoServices'>): string[] {
  return identity.alsoServices === undefined ? [identity.service] : [identity.service, ...identity.alsoServices];
}

/** `fromService` lets `toService` run `operations` ('*' = all) on fromService's objects. */
export interface PolicyGrant {
  tenant: string;
  fromService: string;
  toService: string;
  operations: string[];
}

/** What the TLS layer knows of the peer certificate. */
export interface CertificateInfo {
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprint: string;
  /** "CN=…, O=…" (most specific first, as src/server/connection.ts formats it). */
  subject: string;
  /** Every SAN as node prints it ("DNS:x", "URI:y", "IP Address:z"). */
  sans: string[];
  /** The URI SANs alone. */
  sanUris: string[];
  /** Certificate serial number (any hex form; normalised before comparison). */
  serial?: string;
}

export interface ObjectFacts {
  /** ObjectType name (KMIP 2.1 §11.28), e.g. 'SymmetricKey'. */
  objectType: string;
  /** Object Group values of the object. */
  groups: string[];
  /** The service owning the object. */
  service: string;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

/** "0a:1B:…" / "0A1B…" → "A1B…": the one form serials are stored and compared in. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[:\s]/g, '').toUpperCase().replace(/^0+/, '');
  return hex === '' ? '0' : hex;
}

/** The SAN URI that OpenKCM's CA embeds: openkcm://tenant/<t>/service/<s>/role/<r>. */
export const OPENKCM_URI = /^openkcm:\/\/tenant\/([^/]+)\/service\/([^/]+)\/role\/([^/]+)$/;

export function parseOpenKcmUri(uri: string): { tenant: string; service: string; role: string } | undefined {
  const m = OPENKCM_URI.exec(uri);
  if (!m) return undefined;
  try {
    return { tenant: decodeURIComponent(m[1]!), service: decodeURIComponent(m[2]!), role: decodeURIComponent(m[3]!) };
  } catch {
    return undefined;
  }
}

export function openKcmUri(tenant: string, service: string, role: string): string {
  return `openkcm://tenant/${encodeURIComponent(tenant)}/service/${encodeURIComponent(service)}/role/${encodeURIComponent(role)}`;
}

/** "CN = a ,O=b" → "CN=a, O=b": RDNs split on unescaped commas, spaces around = and , dropped. */
export function normalizeSubject(subject: string): string {
  const rdns: string[] = [];
  let cur = '';
  for (let i = 0; i < subject.length; i++) {
    const ch = subject[i]!;
    if (ch === '\\' && i + 1 < subject.length) { cur += ch + subject[++i]; continue; }
    if (ch === ',') { rdns.push(cur); cur = ''; continue; }
    cur += ch;
  }
  rdns.push(cur);
  return rdns
    .map((r) => {
      const eq = r.indexOf('=');
      return eq < 0 ? r.trim() : `${r.slice(0, eq).trim().toUpperCase()}=${r.slice(eq + 1).trim()}`;
    })
    .filter((r) => r !== '')
    .join(', ');
}

/**
 * Whole-subject match of a pattern such as "CN=app-*, O=Acme": '*' stands for any run of
 * characters inside one RDN value (never across a comma, so "CN=*" cannot swallow the
 * organisation); attribute types are compared without case, values with case.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = normalizeSubject(pattern);
  const s = normalizeSubject(subject);
  const re = new RegExp(`^${p.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^,]*')}$`);
  return re.test(s);
}

/** How much of a subject pattern is literal: a more specific rule wins over a broader one. */
function specificity(pattern: string): number {
  return pattern.replace(/\*/g, '').length;
}

/**
 * The identity a certificate stands for, or undefined for an unknown certificate.
 * Precedence (issue 7): the exact fingerprint first, then a SAN URI (as OpenKCM's CA embeds
 * it; the TLS layer has already checked the issuer), then subject patterns, most specific
 * first. The first identity that matches is returned even when it is revoked: a revoked
 * certificate must not be let in again by a broader rule that also matches it.
 */
export function resolveIdentity<I extends PolicyIdentity>(cert: CertificateInfo, identities: readonly I[]): I | undefined {
  const fp = cert.fingerprint.replace(/:/g, '').toLowerCase();
  const serial = cert.serial !== undefined ? normalizeSerial(cert.serial) : undefined;
  // An identity bound to one certificate serial matches only that certificate.
  const serialOk = (i: I) => i.certSerial === undefined || (serial !== undefined && normalizeSerial(i.certSerial) === serial);

  const byFingerprint = identities.find((i) => i.match.kind === 'fingerprint' && i.match.sha256 === fp);
  if (byFingerprint) return byFingerprint;

  const uris = new Set(cert.sanUris);
  const byUri = identities.filter((i) => i.match.kind === 'san-uri' && uris.has(i.match.uri) && serialOk(i));
  if (byUri.length > 0) return byUri.find((i) => i.revoked) ?? byUri[0];

  const bySubject = identities
    .filter((i): i is I & { match: { kind: 'subject'; pattern: string } } => i.match.kind === 'subject' && serialOk(i))
    .filter((i) => subjectMatches(i.match.pattern, cert.subject))
    .sort((a, b) => specificity(b.match.pattern) - specificity(a.match.pattern));
  return bySubject[0];
}

const allows = (list: readonly string[], op: string) => list.includes('*') || list.includes(op);

/**
 * May `identity`, holding `role`, run `operation` (a KMIP Operation name) — on `object`
 * when the operation concerns one? Deny by default: anything not explicitly allowed is
 * refused, with a reason meant for the log and the audit trail (the client of a refused
 * object access sees Item Not Found instead, DESIGN.md §3).
 *
 * - The role must list the operation (or '*').
 * - A role limited to object types or object groups reaches only such objects.
 * - Objects belong to a service: another service of the tenant reaches them only through a
 *   grant from the owning service that lists the operation. The admin and tenant-admin roles
 *   reach every service of their own tenant. Tenants are never crossed here: the repository only ever
 *   holds objects of the caller's tenant.
 */
export function authorize(
  identity: PolicyIdentity,
  role: PolicyRole,
  operation: string,
  object: ObjectFacts | undefined,
  grants: readonly PolicyGrant[],
): Decision {
  if (identity.revoked) return { allowed: false, reason: `identity ${identity.id} is revoked` };
  if (role.name !== identity.role) return { allowed: false, reason: `role ${role.name} is not the role of identity ${identity.id}` };
  if (!allows(role.operations, operation)) return { allowed: false, reason: `role ${role.name} does not allow ${operation}` };
  if (object === undefined) return { allowed: true };
  if (role.objectTypes !== undefined && !role.objectTypes.includes(object.objectType)) {
    return { allowed: false, reason: `role ${role.name} does not reach objects of type ${object.objectType}` };
  }
  if (role.objectGroups !== undefined && !object.groups.some((g) => role.objectGroups!.includes(g))) {
    return { allowed: false, reason: `role ${role.name} reaches only the object groups ${role.objectGroups.join(', ')}` };
  }
  if (object.service === identity.service || role.name === ADMIN_ROLE || role.name === TENANT_ADMIN_ROLE) return { allowed: true };
  const granted = grants.some((g) => g.tenant === identity.tenant && g.fromService === object.service
    && g.toService === identity.service && allows(g.operations, operation));
  return granted
    ? { allowed: true }
    : { allowed: false, reason: `service ${identity.service} holds no grant from service ${object.service} for ${operation}` };
}
