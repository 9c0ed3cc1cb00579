// Checks shared by several admin routes, each failing with an error that says what to do.
import { AdminError, ForbiddenError, fromGovernanceError } from './http.ts';
import type { AdminContext, HierarchyPort, Tenant } from './context.ts';
import { mayAdministerTenant, type AdminScope } from '../../policy/admin-scope.ts';
import type { Decision } from '../../policy/access.ts';

/** Throws 403 (audited by the dispatcher) unless the policy decision allows. */
export function requireAllowed(d: Decision, hint = 'ask an administrator of all tenants (role admin)'): void {
  if (!d.allowed) throw new ForbiddenError(d.reason, hint);
}

/** Throws 403 unless the caller administers `tenant` (a tenant-admin only its own). */
export function requireScope(ctx: { scope: AdminScope }, tenant: string): void {
  requireAllowed(mayAdministerTenant(ctx.scope, tenant), ctx.scope.kind === 'tenant' ? `you administer tenant "${ctx.scope.tenant}" only` : undefined);
}

/** The tenant a 'filter' route is narrowed to: undefined for the global view. */
export function scopedTenant(ctx: { scope: AdminScope }): string | undefined {
  return ctx.scope.kind === 'tenant' ? ctx.scope.tenant : undefined;
}

export async function requireTenant(ctx: AdminContext, tenant: string): Promise<Tenant> {
  const t = await ctx.governance.getTenant(tenant);
  if (!t) throw new AdminError('not-found', `tenant "${tenant}" does not exist`, `create it with: kmipctl tenant create ${tenant}`);
  return t;
}

export async function requireService(ctx: AdminContext, tenant: string, service: string): Promise<void> {
  await requireTenant(ctx, tenant);
  if (!await ctx.governance.getService(tenant, service)) {
    throw new AdminError('not-found', `service "${service}" does not exist in tenant "${tenant}"`, `create it with: kmipctl service create ${tenant} ${service}`);
  }
}

export async function requireRole(ctx: AdminContext, role: string): Promise<void> {
  if (!await ctx.governance.getRole(role)) throw new AdminError('not-found', `role "${role}" does not exist`, 'list roles with: kmipctl role list');
}

export function requireHierarchy(ctx: AdminContext, what = 'this operation'): HierarchyPort {
  if (ctx.link) {
    // A CMK never holds key material (DESIGN.md §1, issue 10): it cannot do what needs keys.
    throw new AdminError('conflict', `${what} needs the tenant's keys, and a CMK holds no key material: it runs on the cores`,
      'on split planes: kmipctl service rotate publishes a rotation the cores execute; stored objects move to the current L3 on the cores as they are used');
  }
  if (!ctx.hierarchy) {
    throw new AdminError('unavailable', 'the key hierarchy engine is not running in this server', 'start the server with the hierarchy enabled (openkcm serve)');
  }
  return ctx.hierarchy;
}

/** Runs a governance call, turning GovernanceError into the matching API error. */
export async function gov<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromGovernanceError(e) ?? e;
  }
}

/** SHA-256 fingerprint as lowercase hex: accepts `AB:CD:…`, `sha256:…` and plain hex. */
export function normalizeFingerprint(raw: string, field = 'fingerprint'): string {
  const hex = raw.replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new AdminError('bad-request', `field "${field}" must be a SHA-256 fingerprint (64 hex digits, colons allowed)`, 'compute it with: openssl x509 -in cert.pem -noout -fingerprint -sha256');
  }
  return hex;
}

/** Certificate serial as lowercase hex without colons or leading zeros. */
export function normalizeSerial(raw: string, field = 'serial'): string {
  const hex = raw.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');
  if (!/^[0-9a-f]{1,40}$/.test(hex)) throw new AdminError('bad-request', `field "${field}" must be a certificate serial number in hex (at most 20 bytes)`);
  return hex;
}
