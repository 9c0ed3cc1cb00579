// The built-in roles of CMK (DESIGN.md §3, issue 7 "Model"). Roles are named sets of KMIP
// operations, as Vault's KMIP roles; these four exist in every deployment and cannot be
// replaced. Operation names are the generated Operation enumeration names (KMIP 2.1 §11.37),
// checked by test/governance/roles.test.ts, and src/store/governance.ts carries the same
// table (the store may not import policy, DESIGN.md §5) — the same test pins them equal.

/** A role as the policy evaluates it; src/store/governance.ts Role has the same shape. */
export interface PolicyRole {
  name: string;
  /** KMIP Operation names; '*' = every operation. */
  operations: string[];
  /** ObjectType names (e.g. 'SymmetricKey'); absent = any type. */
  objectTypes?: string[];
  /** Object Group values; absent = any group (or none). */
  objectGroups?: string[];
  builtIn: boolean;
}

/** Name of the role that may do everything, the admin API included, on every service of its tenant. */
export const ADMIN_ROLE = 'admin';
/**
 * The tenant-scoped administrator (issue 16 §2): the admin API for its own tenant only
 * (src/policy/admin-scope.ts), and on KMIP what `admin` may do — KMIP never leaves the
 * caller's tenant anyway.
 */
export const TENANT_ADMIN_ROLE = 'tenant-admin';
/** Reads the audit trail through the admin API; no KMIP operation at all. */
export const AUDITOR_ROLE = 'auditor';

/** The Krypton Gateway's identity: one tenant, one service (issue 11). */
export const GATEWAY_ROLE = 'gateway';

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

export const BUILT_IN_ROLES: readonly PolicyRole[] = Object.freeze([
  { name: ADMIN_ROLE, operations: ['*'], builtIn: true },
  { name: TENANT_ADMIN_ROLE, operations: ['*'], builtIn: true },
  {
    name: 'app',
    operations: [...APPLICATION_OPERATIONS],
    builtIn: true,
  },
  {
    name: 'read-only',
    operations: ['Get', 'GetAttributes', 'GetAttributeList', 'Locate', 'Check', 'DiscoverVersions', 'Query'],
    builtIn: true,
  },
  { name: AUDITOR_ROLE, operations: [], builtIn: true },
  // The Krypton Gateway (issue 11): wraps/unwraps L4 data keys under its service's L3 (Encrypt
  // and Decrypt on the service's wrapping object) and forwards its applications' KMIP
  // requests, so it may do what an application may. Only this role reaches the wrapping
  // objects (src/operations/common/service-l3.ts).
  {
    name: GATEWAY_ROLE,
    operations: [...APPLICATION_OPERATIONS],
    builtIn: true,
  },
].map((r) => Object.freeze({ ...r, operations: Object.freeze([...r.operations]) as string[] })));

export function builtInRole(name: string): PolicyRole | undefined {
  return BUILT_IN_ROLES.find((r) => r.name === name);
}
