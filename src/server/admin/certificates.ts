// `kmipctl cert issue|revoke`: certificates signed by OpenKCM's CA with the identity in a SAN
// URI, registered as an identity by fingerprint (and serial, for revocation) in one step.
import { AdminError, badRequest, int, name, oneOf, onlyFields, str, strList, type Route } from './http.ts';
import { gov, normalizeFingerprint, normalizeSerial, requireAllowed, requireRole, requireService, scopedTenant } from './common.ts';
import { mayRegisterIdentity } from '../../policy/admin-scope.ts';
import { CaError, issueClientCertificate, MAX_CERT_DAYS } from '../ca.ts';
import { randomBytes } from 'node:crypto';
import type { AdminContext } from './context.ts';
import type { RouteRequest, RouteResult } from './http.ts';

/**
 * `cert issue --role core --region R [--name N]` (issue 10 §2): a certificate for one core
 * node of region R, SAN URI openkcm://core/region/R/node/N, registered by fingerprint as a
 * core identity. It reaches the CMK's link routes for region R and nothing else.
 */
async function issueCore(ctx: AdminContext, body: RouteRequest['body']): Promise<RouteResult> {
  // A core receives the governance of every tenant of its region: the global admin's call only.
  if (ctx.scope.kind !== 'global') requireAllowed({ allowed: false, reason: 'a tenant-admin may not give the role "core" (only the global admin may)' }, 'ask an administrator of all tenants (role admin)');
  onlyFields(body, ['role', 'region', 'node', 'commonName', 'days', 'algorithm']);
  const region = name(body, 'region');
  const node = body.node === undefined ? `node-${randomBytes(4).toString('hex')}` : name(body, 'node');
  const commonName = str(body, 'commonName', { optional: true, max: 64 });
  const days = int(body, 'days', 1, MAX_CERT_DAYS);
  const algorithm = oneOf(body, 'algorithm', ['ec-p256', 'rsa-2048'] as const, { optional: true });
  if (!ctx.ca) {
    throw new AdminError('unavailable', 'this server has no CA key to issue certificates with',
      'start the server with the development PKI (certs/ca.key) or configure admin.caKeyFile');
  }
  let issued;
  try {
    issued = await issueClientCertificate(ctx.ca, {
      core: { region, node },
      ...(commonName !== undefined ? { commonName } : {}),
      ...(days !== undefined ? { days } : {}),
      ...(algorithm !== undefined ? { algorithm } : {}),
    });
  } catch (e) {
    if (e instanceof CaError) throw badRequest(e.message);
    throw e;
  }
  const identity = await gov(() => ctx.governance.addCoreIdentity({ region, node, fingerprint: issued.fingerprint, certSerial: issued.serial }));
  ctx.audited('cert.issue', { objectId: identity.id, detail: `serial ${issued.serial} role core region ${region} node ${node} until ${issued.notAfter}` });
  return {
    status: 201,
    body: {
      identity: { ...identity, role: 'core' },
      certificate: { pem: issued.certPem, serial: issued.serial, fingerprint: issued.fingerprint, subject: issued.subject, uri: issued.uri, notBefore: issued.notBefore, notAfter: issued.notAfter },
      privateKeyPem: issued.keyPem,
      caCertificatePem: ctx.ca.certPem,
      kmip: null,
    },
  };
}

export const certificateRoutes: Route[] = [
  {
    name: 'cert.issue', method: 'POST', path: '/v1/certificates', access: 'tenant', scope: { body: 'tenant' },
    async handler(ctx, { body }) {
      if (body.role === 'core') return issueCore(ctx, body);
      onlyFields(body, ['tenant', 'service', 'role', 'commonName', 'days', 'algorithm', 'alsoServices']);
      const tenant = name(body, 'tenant');
      const service = name(body, 'service');
      const role = name(body, 'role');
      // A gateway's other services (issue 11 §1); the store refuses them for any other role.
      const alsoServices = strList(body, 'alsoServices', { optional: true });
      const commonName = str(body, 'commonName', { optional: true, max: 64 });
      const days = int(body, 'days', 1, MAX_CERT_DAYS);
      const algorithm = oneOf(body, 'algorithm', ['ec-p256', 'rsa-2048'] as const, { optional: true });
      // No privilege escalation (issue 16 §2): a tenant-admin issues in its tenant, never role admin.
      requireAllowed(mayRegisterIdentity(ctx.scope, { tenant, role }));
      if (!ctx.ca) {
        throw new AdminError('unavailable', 'this server has no CA key to issue certificates with',
          'start the server with the development PKI (certs/ca.key) or configure admin.caKeyFile');
      }
      await requireService(ctx, tenant, service);
      for (const s of alsoServices ?? []) await requireService(ctx, tenant, s);
      await requireRole(ctx, role);
      let issued;
      try {
        issued = await issueClientCertificate(ctx.ca, {
          tenant, service, role,
          ...(commonName !== undefined ? { commonName } : {}),
          ...(days !== undefined ? { days } : {}),
          ...(algorithm !== undefined ? { algorithm } : {}),
        });
      } catch (e) {
        if (e instanceof CaError) throw badRequest(e.message);
        throw e;
      }
      const identity = await gov(() => ctx.governance.addIdentity({
        tenant, service, role, match: { kind: 'fingerprint', sha256: issued.fingerprint }, certSerial: issued.serial,
        ...(alsoServices !== undefined ? { alsoServices } : {}),
      }));
      const acting = identity.alsoServices ? `, also acting for ${identity.alsoServices.join(', ')}` : '';
      ctx.audited('cert.issue', { tenant, service, objectId: identity.id, detail: `serial ${issued.serial} role ${role}${acting} until ${issued.notAfter}` });
      // The private key exists only in this response: OpenKCM keeps no copy.
      return {
        status: 201,
        body: {
          identity,
          certificate: { pem: issued.certPem, serial: issued.serial, fingerprint: issued.fingerprint, subject: issued.subject, uri: issued.uri, notBefore: issued.notBefore, notAfter: issued.notAfter },
          privateKeyPem: issued.keyPem,
          caCertificatePem: ctx.ca.certPem,
          kmip: ctx.kmip ?? null,
        },
      };
    },
  },
  {
    name: 'cert.revoke', method: 'POST', path: '/v1/certificates/revoke', access: 'tenant', scope: 'filter',
    async handler(ctx, { body }) {
      onlyFields(body, ['serial', 'fingerprint', 'id']);
      const given = (['serial', 'fingerprint', 'id'] as const).filter((k) => body[k] !== undefined);
      if (given.length !== 1) throw badRequest('give exactly one of the fields "serial", "fingerprint" or "id"');
      const by = given[0] === 'serial' ? { certSerial: normalizeSerial(str(body, 'serial')!) }
        : given[0] === 'fingerprint' ? { fingerprint: normalizeFingerprint(str(body, 'fingerprint')!) }
          : { id: str(body, 'id')! };
      const only = scopedTenant(ctx);
      if (only !== undefined) {
        // A tenant-admin revokes only certificates of its own tenant: every identity the
        // selector reaches must be one (none at all is refused the same way, no probing).
        const reached = (await ctx.governance.listIdentities()).filter((i) => ('id' in by ? i.id === by.id
          : 'fingerprint' in by ? i.match.kind === 'fingerprint' && i.match.sha256 === by.fingerprint
            : i.certSerial !== undefined && i.certSerial.toLowerCase().replace(/^0+(?=.)/, '') === by.certSerial));
        if (reached.length === 0 || reached.some((i) => i.tenant !== only)) {
          requireAllowed({ allowed: false, reason: `no certificate of tenant "${only}" matches this ${given[0]}` }, `list yours with: kmipctl identity list --tenant ${only}`);
        }
      }
      // Core node certificates (issue 10) are revoked the same way, by serial, fingerprint or id.
      const cores = ctx.scope.kind === 'global' ? await ctx.governance.revokeCoreIdentity(by) : [];
      for (const c of cores) ctx.audited('cert.revoke', { objectId: c.id, detail: `core ${c.node} of region ${c.region}${c.certSerial ? `, serial ${c.certSerial}` : ''}` });
      if (cores.length > 0 && !(await ctx.governance.listIdentities()).some((i) => matchesSelector(i, by))) {
        return { body: { revoked: cores.map((c) => ({ ...c, role: 'core' })) } };
      }
      const revoked = await gov(() => ctx.governance.revokeIdentity(by));
      if (revoked.some((i) => i.id === ctx.caller.id)) {
        // Already done (the store has it), but say so: this certificate will not work again.
        ctx.audited('cert.revoke', { detail: 'the revoking admin revoked its own certificate' });
      }
      for (const i of revoked) ctx.audited('cert.revoke', { tenant: i.tenant, service: i.service, objectId: i.id, detail: i.certSerial ? `serial ${i.certSerial}` : undefined });
      return { body: { revoked } };
    },
  },
];

function matchesSelector(i: { id: string; match: { kind: string; sha256?: string }; certSerial?: string }, by: { id: string } | { fingerprint: string } | { certSerial: string }): boolean {
  if ('id' in by) return i.id === by.id;
  if ('fingerprint' in by) return i.match.kind === 'fingerprint' && i.match.sha256 === by.fingerprint;
  return (i.certSerial ?? '').toLowerCase().replace(/^0+/, '') === by.certSerial.toLowerCase().replace(/^0+/, '');
}
