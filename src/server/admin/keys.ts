// A tenant's keys as metadata (issue 14 §3): the stored objects (L4) and the L3 versions of
// its services, for the console's keys view and `GET` scripts. Descriptions only — the
// KeyMetadataPort (src/server/key-metadata.ts) copies named fields out of the vault rows and
// never a value, wrapped or clear; test/console/keys-metadata.test.ts holds it to that.
import { AdminError, pathName, queryInt, type Route } from './http.ts';
import { requireService, requireTenant } from './common.ts';
import type { AdminContext, KeyMetadataPort } from './context.ts';

/** Objects one request lists: a page for a person to read, not an export. */
export const MAX_KEYS_LISTED = 1000;

function requireKeys(ctx: AdminContext): KeyMetadataPort {
  if (ctx.link) {
    // A CMK never holds key material of any level (DESIGN.md §1): the cores do.
    throw new AdminError('conflict', 'a CMK holds no keys: the objects and L3 versions of a tenant live on its cores',
      'ask a core of the tenant\'s region, or use kmipctl key locate against it');
  }
  if (!ctx.keys) throw new AdminError('unavailable', 'this server has no key store attached to its admin API', 'run the admin API inside openkcm serve');
  return ctx.keys;
}

export const keyRoutes: Route[] = [
  {
    name: 'key.list', method: 'GET', path: '/v1/tenants/:tenant/keys', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, query }) {
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      const keys = requireKeys(ctx);
      const limit = queryInt(query, 'limit', 200, 1, MAX_KEYS_LISTED);
      const service = query.get('service') ?? undefined;
      if (service !== undefined) await requireService(ctx, t, pathName({ service }, 'service'));
      const { objects, more } = await keys.objects(t, { limit, ...(service !== undefined ? { service } : {}) });
      return { body: { tenant: t, objects, more } };
    },
  },
  {
    name: 'l3.list', method: 'GET', path: '/v1/tenants/:tenant/l3', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      return { body: { tenant: t, versions: await requireKeys(ctx).l3Versions(t) } };
    },
  },
];
