// Tenants: create, list, show, and the three acts that change whether a tenant may use its
// keys — seal, unseal and the kill switch (DESIGN.md §1-2; issue 7 "The kill switch").
import { AdminError, badRequest, name, NAME_RE, onlyFields, pathName, str, strList, type Route } from './http.ts';
import { gov, requireHierarchy, requireTenant, scopedTenant } from './common.ts';
import type { AdminContext } from './context.ts';

function hierarchyStatus(ctx: AdminContext, tenant: string) {
  return ctx.hierarchy ? ctx.hierarchy.status(tenant) : undefined;
}

/** On a CMK: what each core node of the tenant's regions last reported about it (issue 10). */
async function nodesView(ctx: AdminContext, tenant: string, regions: string[]) {
  if (!ctx.link) return undefined;
  return (await ctx.link.nodes()).filter((n) => regions.includes(n.region)).map((n) => {
    const t = n.tenants.find((x) => x.tenant === tenant);
    return { node: n.node, region: n.region, at: n.at, seq: n.seq, state: t?.state ?? null, reason: t?.reason ?? null, l1Status: t?.l1Status ?? null };
  });
}

export const tenantRoutes: Route[] = [
  {
    name: 'tenant.create', method: 'POST', path: '/v1/tenants', access: 'admin',
    async handler(ctx, { body }) {
      onlyFields(body, ['name', 'regions']);
      const id = name(body, 'name');
      // Regions (issue 10 §3): the tenant's data lives only in the cores of these regions.
      const regions = strList(body, 'regions', { optional: true }) ?? [];
      for (const r of regions) {
        if (!NAME_RE.test(r)) throw badRequest(`field "regions": "${r}" is not a valid region name (lower-case letters, digits, '.', '_', '-', at most 63)`);
      }
      const tenant = await gov(() => ctx.governance.createTenant({ id, regions }));
      const pinned = await ctx.governance.tenantRegions(tenant.id);
      ctx.audited('tenant.create', { tenant: tenant.id, ...(pinned.length ? { detail: `regions ${pinned.join(' ')}` } : {}) });
      return { status: 201, body: { tenant: { ...tenant, regions: pinned } } };
    },
  },
  {
    name: 'tenant.list', method: 'GET', path: '/v1/tenants', access: 'tenant', scope: 'filter',
    async handler(ctx) {
      // A tenant-admin sees its own tenant only (issue 16 §2).
      const only = scopedTenant(ctx);
      const regions = await ctx.governance.allTenantRegions();
      const tenants = [];
      for (const t of (await ctx.governance.listTenants()).filter((x) => only === undefined || x.id === only)) {
        const h = hierarchyStatus(ctx, t.id);
        const p = await ctx.governance.getL1Pointer(t.id);
        tenants.push({ ...t, regions: regions.get(t.id) ?? [], sealed: h?.sealed ?? null, l1: p?.state === 'active' ? p.provider : null });
      }
      return { body: { tenants } };
    },
  },
  {
    name: 'tenant.show', method: 'GET', path: '/v1/tenants/:tenant', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      const tenant = await requireTenant(ctx, t);
      const regions = await ctx.governance.tenantRegions(t);
      const nodes = await nodesView(ctx, t, regions);
      // Several worker processes: each holds its own keys; show what each holds (issue 12).
      const workers = ctx.workers ? await ctx.workers(t) : undefined;
      return {
        body: {
          tenant: { ...tenant, regions },
          ...(nodes ? { nodes } : {}),
          ...(workers ? { workers } : {}),
          services: await ctx.governance.listServices(t),
          identities: (await ctx.governance.listIdentities({ tenant: t })).length,
          grants: await ctx.governance.listGrants(t),
          l1: await ctx.governance.getL1Pointer(t) ?? null,
          hierarchy: hierarchyStatus(ctx, t) ?? null,
        },
      };
    },
  },
  {
    name: 'tenant.seal', method: 'POST', path: '/v1/tenants/:tenant/seal', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, ['reason']);
      const t = pathName(params, 'tenant');
      const tenant = await requireTenant(ctx, t);
      const reason = str(body, 'reason', { optional: true, max: 200 }) ?? `sealed by ${ctx.caller.id}`;
      // Keys first (zeroized in memory), then the governance state that the KMIP access
      // control refuses requests by; either alone already stops the tenant's traffic.
      ctx.hierarchy?.seal(t, reason);
      // A killed tenant stays killed: sealing it again must not relabel it.
      if (tenant.state === 'active') await gov(() => ctx.governance.setTenantState(t, 'sealed'));
      ctx.audited('tenant.seal', { tenant: t, kind: 'seal', detail: reason });
      return { body: { tenant: t, state: (await ctx.governance.getTenant(t))!.state, status: hierarchyStatus(ctx, t) ?? null } };
    },
  },
  {
    name: 'tenant.unseal', method: 'POST', path: '/v1/tenants/:tenant/unseal', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, []);
      const t = pathName(params, 'tenant');
      const tenant = await requireTenant(ctx, t);
      const h = ctx.hierarchy;
      if (tenant.state === 'killed' || h?.status(t).killed) {
        throw new AdminError('conflict', `tenant "${t}" was killed: its L1 pointer is removed and unseal cannot bring it back`,
          `set a pointer to a still-valid L1 with: kmipctl l1 set ${t} --provider … (this re-enables and unseals the tenant)`);
      }
      let status: ReturnType<NonNullable<typeof h>['status']> | null = null;
      if (h) {
        await h.unsealTenant(t);
        status = h.status(t);
        if (status.sealed) {
          throw new AdminError('l1-failed', `tenant "${t}" is still sealed: ${status.reason ?? 'the L1 did not unwrap its key'}`,
            `check the tenant's L1 with: kmipctl l1 check ${t}`);
        }
      }
      await gov(() => ctx.governance.setTenantState(t, 'active'));
      ctx.audited('tenant.unseal', { tenant: t, kind: 'unseal' });
      return { body: { tenant: t, state: 'active', status } };
    },
  },
  {
    name: 'tenant.kill', method: 'POST', path: '/v1/tenants/:tenant/kill', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, ['reason']);
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      const reason = str(body, 'reason', { optional: true, max: 200 }) ?? `kill switch by ${ctx.caller.id}`;
      // Seal first (synchronous inside killSwitch): from this line on the tenant's keys are
      // zeroized, whatever happens to the bookkeeping below. The promise persists the
      // disabled pointer so that a restart keeps the tenant locked. The governance state
      // 'killed' makes the KMIP access control refuse the tenant's every request.
      const killing = ctx.hierarchy?.killSwitch(t, reason);
      await gov(() => ctx.governance.setTenantState(t, 'killed'));
      if ((await ctx.governance.getL1Pointer(t))?.state === 'active') await gov(() => ctx.governance.removeL1Pointer(t));
      await killing;
      ctx.audited('tenant.kill', { tenant: t, kind: 'kill', detail: reason });
      return { body: { tenant: t, state: 'killed', status: hierarchyStatus(ctx, t) ?? null } };
    },
  },
  // L2 rotation under L1 (issue 6; DESIGN.md §2): a new L2 wrapped by the tenant's L1, every
  // L3 version re-wrapped under it and the old L2 deleted in one store transaction.
  {
    name: 'tenant.rotate-l2', method: 'POST', path: '/v1/tenants/:tenant/rotate-l2', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, []);
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      if (ctx.link) {
        // A CMK holds no L2 (issue 10): it publishes the request and every region serving the
        // tenant rotates its own L2 once, whichever of its nodes gets there first.
        const r = await gov(() => ctx.governance.requestL2Rotation(t));
        ctx.audited('tenant.rotate-l2', { tenant: t, detail: `L2 rotation published (generation ${r.generation}): the cores of each region rotate their L2 once` });
        return { status: 202, body: { tenant: t, l2Version: null, generation: r.generation, executedBy: 'cores', regions: await ctx.governance.tenantRegions(t) } };
      }
      const version = await requireHierarchy(ctx, 'L2 rotation').rotateL2(t);
      ctx.audited('tenant.rotate-l2', { tenant: t, detail: `L2 version ${version}` });
      return { body: { tenant: t, l2Version: version } };
    },
  },
];
