// Tenants: create, list, show, and the three acts that change whether a tenant may use its
// keys — seal, unseal and the kill switch (DESIGN.md §1-2; issue 7 "The kill switch").
import { AdminError, badRequest, name, NAME_RE, onlyFields, pathName, str, strList, type Route } from './http.ts';
import { gov, requireHierarchy, requireTenant, scopedTenant } from './common.ts';
import type { AdminContext } from './context.ts';
import type { NamePolicy } from '../../store/governance.ts';

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

/** The optional "names" field: the tenant's Name policy (issue 13 §5). */
function namePolicy(body: Record<string, unknown>): NamePolicy | undefined {
  const v = str(body, 'names', { optional: true, max: 40 });
  if (v === undefined) return undefined;
  if (v !== 'unique' && v !== 'duplicates-allowed') throw badRequest(`field "names": expected "unique" or "duplicates-allowed", not "${v}"`);
  return v;
}

export const tenantRoutes: Route[] = [
  {
    name: 'tenant.create', method: 'POST', path: '/v1/tenants', access: 'admin',
    async handler(ctx, { body }) {
      onlyFields(body, ['name', 'regions', 'names']);
      const id = name(body, 'name');
      const names = namePolicy(body);
      // Regions (issue 10 §3): the tenant's data lives only in the cores of these regions.
      const regions = strList(body, 'regions', { optional: true }) ?? [];
      for (const r of regions) {
        if (!NAME_RE.test(r)) throw badRequest(`field "regions": "${r}" is not a valid region name (lower-case letters, digits, '.', '_', '-', at most 63)`);
      }
      const tenant = await gov(() => ctx.governance.createTenant({ id, regions, ...(names !== undefined ? { names } : {}) }));
      const pinned = await ctx.governance.tenantRegions(tenant.id);
      const detail = [...(pinned.length ? [`regions ${pinned.join(' ')}`] : []), ...(tenant.names !== 'unique' ? [`names ${tenant.names}`] : [])];
      ctx.audited('tenant.create', { tenant: tenant.id, ...(detail.length ? { detail: detail.join('; ') } : {}) });
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
    // Issue 13 §5: whether a Name identifies one object of the tenant. Switching to unique is
    // refused while two objects share a Name (it would make Locate by Name and the BL-M-8
    // promise false for them); the operator renames or destroys one first.
    name: 'tenant.set-names', method: 'PUT', path: '/v1/tenants/:tenant/names', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, ['names']);
      const t = pathName(params, 'tenant');
      const before = await requireTenant(ctx, t);
      const names = namePolicy(body);
      if (names === undefined) throw badRequest('field "names" is required: "unique" or "duplicates-allowed"');
      if (names === 'unique' && before.names !== 'unique') {
        if (ctx.link) {
          // The objects live in the cores' vaults, which a CMK cannot read (DESIGN.md §1).
          throw new AdminError('conflict', `tenant ${t}: a CMK cannot check its cores' objects for duplicated Names, so it does not switch to unique`,
            'the tenant keeps duplicates-allowed');
        }
        if (!ctx.keys) throw new AdminError('unavailable', 'this server has no key store attached to its admin API to check for duplicated Names', 'run the admin API inside openkcm serve');
        const dup = await ctx.keys.duplicatedName(t);
        if (dup !== undefined) {
          throw new AdminError('conflict', `tenant ${t} has two or more objects named ${JSON.stringify(dup)}: rename or destroy all but one before switching to unique`);
        }
      }
      const tenant = await gov(() => ctx.governance.setTenantNames(t, names));
      ctx.audited('tenant.set-names', { tenant: t, detail: `names ${before.names} -> ${tenant.names}` });
      return { body: { tenant } };
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
