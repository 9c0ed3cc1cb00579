// Roles: named sets of allowed KMIP operations, optionally limited by object type and object
// group (DESIGN.md §3). Operation and object type names are checked against the generated
// KMIP tables, so a typo is refused instead of silently allowing nothing.
import { Operation, ObjectType } from '../../ttlv/generated/enumerations.ts';
import { AdminError, badRequest, name, onlyFields, pathName, strList, type Route } from './http.ts';
import { gov, scopedTenant } from './common.ts';

const OPERATIONS = new Set(Object.keys(Operation));
const OBJECT_TYPES = new Set(Object.keys(ObjectType));

export function checkOperations(ops: string[], field: string): void {
  for (const op of ops) {
    if (op !== '*' && !OPERATIONS.has(op)) {
      const near = [...OPERATIONS].find((o) => o.toLowerCase() === op.toLowerCase().replace(/[^a-z]/g, ''));
      throw badRequest(`field "${field}": "${op}" is not a KMIP operation name${near ? ` (did you mean "${near}"?)` : ''}`, 'use names as in the KMIP tables, e.g. Create, Get, Encrypt, or * for all');
    }
  }
}

export const roleRoutes: Route[] = [
  {
    name: 'role.create', method: 'POST', path: '/v1/roles', access: 'admin',
    async handler(ctx, { body }) {
      onlyFields(body, ['name', 'operations', 'objectTypes', 'objectGroups']);
      const roleName = name(body, 'name');
      const operations = strList(body, 'operations')!;
      checkOperations(operations, 'operations');
      const objectTypes = strList(body, 'objectTypes', { optional: true });
      for (const t of objectTypes ?? []) {
        if (!OBJECT_TYPES.has(t)) throw badRequest(`field "objectTypes": "${t}" is not a KMIP object type (known: ${[...OBJECT_TYPES].join(', ')})`);
      }
      const objectGroups = strList(body, 'objectGroups', { optional: true });
      const role = await gov(() => ctx.governance.createRole({
        name: roleName, operations, ...(objectTypes ? { objectTypes } : {}), ...(objectGroups ? { objectGroups } : {}),
      }));
      ctx.audited('role.create', { objectId: roleName, detail: `operations ${operations.join(' ')}`.slice(0, 1000) });
      return { status: 201, body: { role } };
    },
  },
  {
    name: 'role.list', method: 'GET', path: '/v1/roles', access: 'tenant', scope: 'filter',
    async handler(ctx) {
      return { body: { roles: await ctx.governance.listRoles() } };
    },
  },
  {
    name: 'role.show', method: 'GET', path: '/v1/roles/:role', access: 'tenant', scope: 'filter',
    async handler(ctx, { params }) {
      const r = pathName(params, 'role');
      const role = await ctx.governance.getRole(r);
      if (!role) throw new AdminError('not-found', `role "${r}" does not exist`, 'list roles with: kmipctl role list');
      // A tenant-admin counts the identities of its own tenant only.
      const only = scopedTenant(ctx);
      return { body: { role, identities: (await ctx.governance.listIdentities(only !== undefined ? { tenant: only } : {})).filter((i) => i.role === r).length } };
    },
  },
];
