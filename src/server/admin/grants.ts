// Grants: within one tenant, the operations one service may perform on another service's
// objects (issue 7: "other services of the tenant reach them only through an explicit grant").
import { AdminError, name, onlyFields, pathName, strList, type Route } from './http.ts';
import { gov, requireService, requireTenant } from './common.ts';
import { checkOperations } from './roles.ts';

export const grantRoutes: Route[] = [
  {
    name: 'grant.add', method: 'POST', path: '/v1/tenants/:tenant/grants', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, ['fromService', 'toService', 'operations']);
      const tenant = pathName(params, 'tenant');
      const fromService = name(body, 'fromService');
      const toService = name(body, 'toService');
      const operations = strList(body, 'operations')!;
      checkOperations(operations, 'operations');
      if (fromService === toService) throw new AdminError('bad-request', 'fields "fromService" and "toService" are the same service', 'a service always reaches its own objects; a grant is between two services');
      await requireService(ctx, tenant, fromService);
      await requireService(ctx, tenant, toService);
      const grant = await gov(() => ctx.governance.addGrant({ tenant, fromService, toService, operations }));
      ctx.audited('grant.add', { tenant, service: fromService, detail: `to ${toService}: ${operations.join(' ')}`.slice(0, 1000) });
      return { status: 201, body: { grant } };
    },
  },
  {
    name: 'grant.list', method: 'GET', path: '/v1/tenants/:tenant/grants', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params }) {
      const tenant = pathName(params, 'tenant');
      await requireTenant(ctx, tenant);
      return { body: { grants: await ctx.governance.listGrants(tenant) } };
    },
  },
  {
    name: 'grant.remove', method: 'DELETE', path: '/v1/tenants/:tenant/grants/:fromService/:toService', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params }) {
      const tenant = pathName(params, 'tenant');
      const fromService = pathName(params, 'fromService');
      const toService = pathName(params, 'toService');
      await requireTenant(ctx, tenant);
      if (!(await ctx.governance.listGrants(tenant)).some((g) => g.fromService === fromService && g.toService === toService)) {
        throw new AdminError('not-found', `no grant from "${fromService}" to "${toService}" in tenant "${tenant}"`, `list grants with: kmipctl grant list ${tenant}`);
      }
      await gov(() => ctx.governance.removeGrant({ tenant, fromService, toService }));
      ctx.audited('grant.remove', { tenant, service: fromService, detail: `to ${toService}` });
      return { body: { removed: { tenant, fromService, toService } } };
    },
  },
];
