// Services within a tenant, and rotation of a service's L3 key (DESIGN.md §2).
import { name, onlyFields, pathName, type Route } from './http.ts';
import { gov, requireHierarchy, requireService, requireTenant } from './common.ts';

export const serviceRoutes: Route[] = [
  {
    name: 'service.create', method: 'POST', path: '/v1/tenants/:tenant/services', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, ['name']);
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      const service = await gov(() => ctx.governance.createService({ tenant: t, id: name(body, 'name') }));
      ctx.audited('service.create', { tenant: t, service: service.id });
      return { status: 201, body: { service } };
    },
  },
  {
    name: 'service.list', method: 'GET', path: '/v1/tenants/:tenant/services', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      return { body: { services: await ctx.governance.listServices(t) } };
    },
  },
  {
    name: 'service.rotate', method: 'POST', path: '/v1/tenants/:tenant/services/:service/rotate', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, []);
      const t = pathName(params, 'tenant');
      const s = pathName(params, 'service');
      await requireService(ctx, t, s);
      if (ctx.link) {
        // A CMK holds no L3 (issue 10): it publishes the rotation, each core of the tenant's
        // regions creates the new L3 version when the change reaches it.
        const r = await gov(() => ctx.governance.requestRotation(t, s));
        ctx.audited('service.rotate', { tenant: t, service: s, detail: `rotation published: cores bring the L3 to version ${r.minVersion} at least` });
        return { status: 202, body: { tenant: t, service: s, l3Version: null, minVersion: r.minVersion, executedBy: 'cores', regions: await ctx.governance.tenantRegions(t) } };
      }
      const version = await requireHierarchy(ctx).rotateL3(t, s);
      ctx.audited('service.rotate', { tenant: t, service: s, detail: `L3 version ${version}` });
      return { body: { tenant: t, service: s, l3Version: version } };
    },
  },
  // Explicit re-wrap (issue 6: objects move to the current L3 lazily on access "and by an
  // explicit re-wrap command"): the whole tenant, or one service of it.
  {
    name: 'tenant.rewrap', method: 'POST', path: '/v1/tenants/:tenant/rewrap', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, []);
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      const report = await requireHierarchy(ctx, 'rewrap').rewrapAll(t);
      ctx.audited('tenant.rewrap', { tenant: t, detail: rewrapDetail(report) });
      return { body: { tenant: t, service: null, ...report } };
    },
  },
  {
    name: 'service.rewrap', method: 'POST', path: '/v1/tenants/:tenant/services/:service/rewrap', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, []);
      const t = pathName(params, 'tenant');
      const s = pathName(params, 'service');
      await requireService(ctx, t, s);
      const report = await requireHierarchy(ctx, 'rewrap').rewrapAll(t, s);
      ctx.audited('service.rewrap', { tenant: t, service: s, detail: rewrapDetail(report) });
      return { body: { tenant: t, service: s, ...report } };
    },
  },
];

function rewrapDetail(r: { examined: number; rewrapped: number; skipped: number }): string {
  return `examined ${r.examined}, rewrapped ${r.rewrapped}, skipped ${r.skipped}`;
}
