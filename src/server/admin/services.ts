// Services within a tenant, and rotation of a service's L3 key (DESIGN.md §2).
import { name, onlyFields, pathName, type Route } from './http.ts';
import { gov, requireHierarchy, requireService, requireTenant } from './common.ts';

export const serviceRoutes: Route[] = [
  {
    name: 'service.create', method: 'POST', path: '/v1/tenants/:tenant/services', access: 'admin',
    handler(ctx, { params, body }) {
      onlyFields(body, ['name']);
      const t = pathName(params, 'tenant');
      requireTenant(ctx, t);
      const service = gov(() => ctx.governance.createService({ tenant: t, id: name(body, 'name') }));
      ctx.audited('service.create', { tenant: t, service: service.id });
      return { status: 201, body: { service } };
    },
  },
  {
    name: 'service.list', method: 'GET', path: '/v1/tenants/:tenant/services', access: 'admin',
    handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      requireTenant(ctx, t);
      return { body: { services: ctx.governance.listServices(t) } };
    },
  },
  {
    name: 'service.rotate', method: 'POST', path: '/v1/tenants/:tenant/services/:service/rotate', access: 'admin',
    async handler(ctx, { params, body }) {
      onlyFields(body, []);
      const t = pathName(params, 'tenant');
      const s = pathName(params, 'service');
      requireService(ctx, t, s);
      const version = await requireHierarchy(ctx).rotateL3(t, s);
      ctx.audited('service.rotate', { tenant: t, service: s, detail: `L3 version ${version}` });
      return { body: { tenant: t, service: s, l3Version: version } };
    },
  },
];
