// Who may administer what through the admin API (issue 16 §2, DESIGN.md §3): pure decisions,
// no I/O. The admin API (src/server/admin.ts) asks them on every request and turns a refusal
// into HTTP 403 with an audit record.
//
//   admin         — every tenant, and what belongs to no tenant (roles, new tenants, L1 pointers).
//   tenant-admin  — its own tenant only: services, identities, certificates, grants, seal,
//                   unseal, its own kill switch, its own audit records. Never another tenant,
//                   never anything shared by all tenants.
//   auditor       — reads the audit trail, changes nothing.
import { ADMIN_ROLE, AUDITOR_ROLE, TENANT_ADMIN_ROLE } from './roles.ts';
import type { Decision, IdentityMatch } from './access.ts';

/** What one caller of the admin API administers: everything, or one tenant. */
export type AdminScope = { kind: 'global' } | { kind: 'tenant'; tenant: string };

/** The scope of a role on the admin API; undefined for roles that administer nothing (auditor, app…). */
export function adminScopeOf(caller: { role: string; tenant: string }): AdminScope | undefined {
  if (caller.role === ADMIN_ROLE) return { kind: 'global' };
  if (caller.role === TENANT_ADMIN_ROLE) return { kind: 'tenant', tenant: caller.tenant };
  return undefined;
}

/** May this scope act on `tenant`? A tenant-admin only on its own. */
export function mayAdministerTenant(scope: AdminScope, tenant: string): Decision {
  if (scope.kind === 'global' || scope.tenant === tenant) return { allowed: true };
  return { allowed: false, reason: `a tenant-admin of "${scope.tenant}" may not administer tenant "${tenant}"` };
}

/**
 * Roles only the global admin hands out, whatever the tenant of the new identity: `admin`
 * administers every tenant (a tenant-admin making one would escalate to all of them), and
 * `auditor` reads the audit records of every tenant, and `core` is the CMK ⇄ core link
 * identity of a region (issue 10, src/link/protocol.ts): it receives the governance of every
 * tenant. (A `gateway` identity works for one service of one tenant: a tenant-admin may make
 * one in its own tenant, like any other.)
 */
export const GLOBAL_ONLY_ROLES: ReadonlySet<string> = new Set([ADMIN_ROLE, AUDITOR_ROLE, 'core']);

/**
 * May this scope register an identity (or issue a certificate) with `role` in `tenant`,
 * recognised by `match`? No privilege escalation: a tenant-admin works in its tenant, never
 * hands out a role of GLOBAL_ONLY_ROLES, and recognises a certificate only by its exact
 * fingerprint (or the openkcm: SAN URI of its own tenant, which the store checks names this
 * identity). A subject pattern or a foreign URI could match — and so capture into its tenant
 * — certificates that another tenant's identities stand for (a more specific subject
 * pattern wins over a broader one, DESIGN.md §3), so those stay with the global admin.
 */
export function mayRegisterIdentity(scope: AdminScope, input: { tenant: string; role: string; match?: IdentityMatch }): Decision {
  if (scope.kind === 'global') return { allowed: true };
  const t = mayAdministerTenant(scope, input.tenant);
  if (!t.allowed) return t;
  if (GLOBAL_ONLY_ROLES.has(input.role)) {
    return { allowed: false, reason: `a tenant-admin may not give the role "${input.role}" (only the global admin may)` };
  }
  if (input.match !== undefined && input.match.kind === 'subject') {
    return { allowed: false, reason: 'a tenant-admin may not register a subject pattern: it could match certificates of other tenants; register the certificate by fingerprint' };
  }
  if (input.match !== undefined && input.match.kind === 'san-uri' && !input.match.uri.startsWith('openkcm:')) {
    return { allowed: false, reason: 'a tenant-admin may register only the openkcm: SAN URI of its own tenant; register other certificates by fingerprint' };
  }
  return { allowed: true };
}
