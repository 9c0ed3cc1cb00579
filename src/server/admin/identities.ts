// Identities: which client certificate acts as which (tenant, service, role) — DESIGN.md §3.
// A certificate is matched by its SHA-256 fingerprint, by a subject pattern, or by a SAN URI.
import { AdminError, badRequest, name, onlyFields, str, type Route } from './http.ts';
import { gov, normalizeFingerprint, requireAllowed, requireRole, requireScope, requireService, scopedTenant } from './common.ts';
import { mayRegisterIdentity } from '../../policy/admin-scope.ts';
import type { IdentityMatch } from './context.ts';

export const identityRoutes: Route[] = [
  {
    name: 'identity.add', method: 'POST', path: '/v1/identities', access: 'tenant', scope: { body: 'tenant' },
    handler(ctx, { body }) {
      onlyFields(body, ['tenant', 'service', 'role', 'fingerprint', 'subject', 'sanUri']);
      const tenant = name(body, 'tenant');
      const service = name(body, 'service');
      const role = name(body, 'role');
      const given = (['fingerprint', 'subject', 'sanUri'] as const).filter((k) => body[k] !== undefined);
      if (given.length !== 1) {
        throw badRequest('give exactly one of the fields "fingerprint", "subject" or "sanUri" (how the certificate is recognised)');
      }
      let match: IdentityMatch;
      if (given[0] === 'fingerprint') match = { kind: 'fingerprint', sha256: normalizeFingerprint(str(body, 'fingerprint')!) };
      else if (given[0] === 'subject') match = { kind: 'subject', pattern: str(body, 'subject', { max: 512 })! };
      else {
        const uri = str(body, 'sanUri', { max: 512 })!;
        if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(uri)) throw badRequest(`field "sanUri": "${uri}" is not a URI`);
        match = { kind: 'san-uri', uri };
      }
      // No privilege escalation (issue 16 §2): decided before anything is looked up.
      requireAllowed(mayRegisterIdentity(ctx.scope, { tenant, role, match }));
      requireService(ctx, tenant, service);
      requireRole(ctx, role);
      const identity = gov(() => ctx.governance.addIdentity({ tenant, service, role, match }));
      ctx.audited('identity.add', { tenant, service, objectId: identity.id, detail: `${match.kind} role ${role}` });
      return { status: 201, body: { identity } };
    },
  },
  {
    name: 'identity.list', method: 'GET', path: '/v1/identities', access: 'tenant', scope: 'filter',
    handler(ctx, { query }) {
      const only = scopedTenant(ctx);
      const asked = query.get('tenant') ?? undefined;
      if (asked !== undefined) requireScope(ctx, asked);
      const tenant = asked ?? only;
      return { body: { identities: ctx.governance.listIdentities(tenant !== undefined ? { tenant } : {}) } };
    },
  },
  {
    name: 'identity.remove', method: 'DELETE', path: '/v1/identities/:id', access: 'tenant', scope: 'filter',
    handler(ctx, { params }) {
      const id = params.id!;
      const existing = ctx.governance.getIdentity(id);
      const only = scopedTenant(ctx);
      if (only !== undefined && existing?.tenant !== only) {
        // Missing or another tenant's: the same 403, so ids of other tenants cannot be probed.
        requireAllowed({ allowed: false, reason: `identity "${id}" is not an identity of tenant "${only}"` }, `list yours with: kmipctl identity list --tenant ${only}`);
      }
      if (!existing) throw new AdminError('not-found', `identity "${id}" does not exist`, 'list identities with: kmipctl identity list');
      if (existing.id === ctx.caller.id) {
        // Removing the identity this request authenticated with could lock every admin out.
        throw new AdminError('conflict', `identity "${id}" is the one making this request`, 'remove it using another admin certificate');
      }
      gov(() => ctx.governance.removeIdentity(id));
      ctx.audited('identity.remove', { tenant: existing.tenant, service: existing.service, objectId: id });
      return { body: { removed: existing } };
    },
  },
];
