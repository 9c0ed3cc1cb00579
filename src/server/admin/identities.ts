// Identities: which client certificate acts as which (tenant, service, role) — DESIGN.md §3.
// A certificate is matched by its SHA-256 fingerprint, by a subject pattern, or by a SAN URI.
import { createHash, X509Certificate } from 'node:crypto';
import { AdminError, badRequest, name, onlyFields, str, strList, type Route } from './http.ts';
import { gov, normalizeFingerprint, requireAllowed, requireRole, requireScope, requireService, scopedTenant } from './common.ts';
import { mayRegisterIdentity } from '../../policy/admin-scope.ts';
import { resolveIdentity, type CertificateInfo } from '../../policy/access.ts';
import type { AdminContext, IdentityMatch } from './context.ts';

/** A PEM certificate as the TLS layer will see it at the handshake (src/server/connection.ts). */
function certificateInfo(pem: string): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    throw badRequest(`field "certificate" is not a PEM certificate: ${(e as Error).message}`, 'give the client certificate file, e.g. kmipctl identity add --cert-file app.crt');
  }
  // node lists RDNs in certificate order, one per line; the peer certificate object groups a
  // repeated type into one '+'-joined value and is read most specific first.
  const rdns = new Map<string, string[]>();
  for (const line of cert.subject.split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    const k = line.slice(0, eq);
    rdns.set(k, [...(rdns.get(k) ?? []), line.slice(eq + 1)]);
  }
  const subject = [...rdns.entries()].reverse().map(([k, v]) => `${k}=${v.join('+')}`).join(', ');
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).map((x) => x.trim()).filter(Boolean);
  return {
    fingerprint: createHash('sha256').update(cert.raw).digest('hex'), subject, sans,
    sanUris: sans.filter((x) => x.startsWith('URI:')).map((x) => x.slice(4)), serial: cert.serialNumber,
  };
}

/**
 * A tenant-admin registers a certificate, not a bare fingerprint: a fingerprint rule outranks
 * every subject-pattern rule (DESIGN.md §3), so registering another tenant's certificate by
 * fingerprint would capture it. With the certificate in hand the server checks which identity
 * it stands for today, and refuses when that is another tenant's.
 */
async function checkNotCaptured(ctx: AdminContext, info: CertificateInfo | undefined, tenant: string): Promise<void> {
  if (ctx.scope.kind !== 'tenant') return;
  if (info === undefined) {
    requireAllowed({ allowed: false, reason: 'a tenant-admin registers a certificate by the certificate itself, not by a bare fingerprint (it is checked against the identities of other tenants)' },
      'give the certificate: kmipctl identity add --cert-file FILE (or issue one with kmipctl cert issue)');
    return;
  }
  const now = resolveIdentity(info, await ctx.governance.listIdentities());
  if (now !== undefined && now.tenant !== tenant) {
    requireAllowed({ allowed: false, reason: 'this certificate already stands for an identity of another tenant' }, 'use a certificate of your own tenant');
  }
}

export const identityRoutes: Route[] = [
  {
    name: 'identity.add', method: 'POST', path: '/v1/identities', access: 'tenant', scope: { body: 'tenant' },
    async handler(ctx, { body }) {
      onlyFields(body, ['tenant', 'service', 'role', 'fingerprint', 'subject', 'sanUri', 'certificate', 'alsoServices']);
      const tenant = name(body, 'tenant');
      const service = name(body, 'service');
      const role = name(body, 'role');
      // A gateway's other services (issue 11 §1); the store refuses them for any other role.
      const alsoServices = strList(body, 'alsoServices', { optional: true });
      const given = (['fingerprint', 'subject', 'sanUri', 'certificate'] as const).filter((k) => body[k] !== undefined);
      if (given.length !== 1) {
        throw badRequest('give exactly one of the fields "fingerprint", "certificate", "subject" or "sanUri" (how the certificate is recognised)');
      }
      let match: IdentityMatch;
      let info: CertificateInfo | undefined;
      if (given[0] === 'fingerprint') match = { kind: 'fingerprint', sha256: normalizeFingerprint(str(body, 'fingerprint')!) };
      else if (given[0] === 'certificate') {
        // Registered by its fingerprint, like --fingerprint; the certificate lets the server check it.
        info = certificateInfo(str(body, 'certificate', { max: 16_384 })!);
        match = { kind: 'fingerprint', sha256: info.fingerprint };
      } else if (given[0] === 'subject') match = { kind: 'subject', pattern: str(body, 'subject', { max: 512 })! };
      else {
        const uri = str(body, 'sanUri', { max: 512 })!;
        if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(uri)) throw badRequest(`field "sanUri": "${uri}" is not a URI`);
        match = { kind: 'san-uri', uri };
      }
      // No privilege escalation (issue 16 §2): decided before anything is looked up.
      requireAllowed(mayRegisterIdentity(ctx.scope, { tenant, role, match }));
      if (match.kind === 'fingerprint') await checkNotCaptured(ctx, info, tenant);
      await requireService(ctx, tenant, service);
      for (const s of alsoServices ?? []) await requireService(ctx, tenant, s);
      await requireRole(ctx, role);
      const identity = await gov(() => ctx.governance.addIdentity({ tenant, service, role, match, ...(alsoServices !== undefined ? { alsoServices } : {}) }));
      const acting = identity.alsoServices ? `, also acting for ${identity.alsoServices.join(', ')}` : '';
      ctx.audited('identity.add', { tenant, service, objectId: identity.id, detail: `${match.kind} role ${role}${acting}` });
      return { status: 201, body: { identity } };
    },
  },
  {
    name: 'identity.list', method: 'GET', path: '/v1/identities', access: 'tenant', scope: 'filter',
    async handler(ctx, { query }) {
      const only = scopedTenant(ctx);
      const asked = query.get('tenant') ?? undefined;
      if (asked !== undefined) requireScope(ctx, asked);
      const tenant = asked ?? only;
      return { body: { identities: await ctx.governance.listIdentities(tenant !== undefined ? { tenant } : {}) } };
    },
  },
  {
    // A gateway's service list edited in place (issue 11): no new certificate, no restart.
    name: 'identity.set-services', method: 'PUT', path: '/v1/identities/:id/services', access: 'tenant', scope: 'filter',
    async handler(ctx, { params, body }) {
      onlyFields(body, ['alsoServices']);
      const id = params.id!;
      // An empty list is allowed here: the gateway then acts for its own service only.
      const list = Array.isArray(body.alsoServices) && body.alsoServices.length === 0 ? [] : strList(body, 'alsoServices', { optional: true });
      if (list === undefined) throw badRequest('field "alsoServices" (a list of service ids, possibly empty) is required', 'e.g. kmipctl identity set-services ID orders,search');
      const existing = await ctx.governance.getIdentity(id);
      const only = scopedTenant(ctx);
      if (only !== undefined && existing?.tenant !== only) {
        // Missing or another tenant's: the same 403, so ids of other tenants cannot be probed.
        requireAllowed({ allowed: false, reason: `identity "${id}" is not an identity of tenant "${only}"` }, `list yours with: kmipctl identity list --tenant ${only}`);
      }
      if (!existing) throw new AdminError('not-found', `identity "${id}" does not exist`, 'list identities with: kmipctl identity list');
      for (const s of list) await requireService(ctx, existing.tenant, s);
      const identity = await gov(() => ctx.governance.setIdentityServices(id, list));
      const was = existing.alsoServices?.join(', ') || 'none';
      const now = identity.alsoServices?.join(', ') || 'none';
      ctx.audited('identity.set-services', { tenant: identity.tenant, service: identity.service, objectId: id, detail: `also acting for: ${now} (was: ${was})` });
      return { body: { identity } };
    },
  },
  {
    name: 'identity.remove', method: 'DELETE', path: '/v1/identities/:id', access: 'tenant', scope: 'filter',
    async handler(ctx, { params }) {
      const id = params.id!;
      const existing = await ctx.governance.getIdentity(id);
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
      await gov(() => ctx.governance.removeIdentity(id));
      ctx.audited('identity.remove', { tenant: existing.tenant, service: existing.service, objectId: id });
      return { body: { removed: existing } };
    },
  },
];
