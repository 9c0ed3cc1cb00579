// Who a person signed in through the corporate IdP is on the admin API (issue 14 §4): a pure
// decision from the verified claims of their token and the operator's mapping (config
// sso.roleClaim, sso.roles). The signature, issuer, audience and lifetime are checked before
// this runs (src/server/sso.ts); this only reads claims that are already trusted.
//
// The mapping turns values of one claim (a string or a list of strings — groups, app roles)
// into `admin`, `auditor`, or `tenant-admin:<tenant>`. A person in several mapped groups:
// `admin` wins (it includes what the others may do); otherwise every value must map to the
// same role and tenant, because a caller has one scope (src/policy/admin-scope.ts) and
// picking one of two tenants would be a guess.
import { ADMIN_ROLE, AUDITOR_ROLE, TENANT_ADMIN_ROLE } from './roles.ts';

export type SsoRole =
  | { role: typeof ADMIN_ROLE; tenant: '' }
  | { role: typeof AUDITOR_ROLE; tenant: '' }
  | { role: typeof TENANT_ADMIN_ROLE; tenant: string };

export type SsoRoleDecision = { allowed: true; role: SsoRole; matched: string[] } | { allowed: false; reason: string };

/** Parses one mapping target as written in config ('admin', 'auditor', 'tenant-admin:<tenant>'). */
export function parseSsoRole(target: string): SsoRole | undefined {
  if (target === ADMIN_ROLE) return { role: ADMIN_ROLE, tenant: '' };
  if (target === AUDITOR_ROLE) return { role: AUDITOR_ROLE, tenant: '' };
  const m = /^tenant-admin:([^\s:]+)$/.exec(target);
  return m ? { role: TENANT_ADMIN_ROLE, tenant: m[1]! } : undefined;
}

/**
 * The claim's values. A dotted name reaches into objects (Keycloak puts realm roles in
 * `realm_access.roles`) unless the claim exists under the whole name (Entra and Okta use
 * URLs as claim names, which hold dots).
 */
export function claimValues(claims: Readonly<Record<string, unknown>>, claim: string): string[] | undefined {
  let v: unknown = claims[claim];
  if (v === undefined && claim.includes('.')) {
    v = claims;
    for (const part of claim.split('.')) {
      v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[part] : undefined;
    }
  }
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return undefined;
}

export function roleFromClaims(
  claims: Readonly<Record<string, unknown>>, claim: string, mapping: Readonly<Record<string, string>>,
): SsoRoleDecision {
  const values = claimValues(claims, claim);
  if (values === undefined) return { allowed: false, reason: `the token has no "${claim}" claim (a string or a list of strings) to map to a role` };
  const matched = values.filter((v) => Object.hasOwn(mapping, v));
  if (matched.length === 0) {
    return { allowed: false, reason: `no value of the "${claim}" claim is mapped to a role (sso.roles)` };
  }
  const roles = matched.map((v) => parseSsoRole(mapping[v]!)).filter((r): r is SsoRole => r !== undefined);
  if (roles.length !== matched.length) return { allowed: false, reason: `sso.roles maps a value of "${claim}" to an unknown role` };
  const admin = roles.find((r) => r.role === ADMIN_ROLE);
  if (admin) return { allowed: true, role: admin, matched };
  const distinct = new Set(roles.map((r) => `${r.role}:${r.tenant}`));
  if (distinct.size > 1) {
    return { allowed: false, reason: `the "${claim}" claim maps to several roles (${[...distinct].map((d) => d.replace(/:$/, '')).join(', ')}); a person must map to one` };
  }
  return { allowed: true, role: roles[0]!, matched };
}
