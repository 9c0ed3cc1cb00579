// kmipctl service create|list|rotate|rewrap
import { table } from '../output.ts';
import { seg } from './connection.ts';
import { when, type Action } from './common.ts';

type Obj = Record<string, unknown>;

/** What the kmipctl service commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  create: async (ctx, [t, s]) => {
    const r = await ctx.admin().post<{ service: Obj }>(`/v1/tenants/${seg(t!)}/services`, { name: s });
    ctx.out.print(r, (d) => `created service ${String(d.service.id)} in tenant ${t}\n`);
  },
  list: async (ctx, [t]) => {
    const r = await ctx.admin().get<{ services: Obj[] }>(`/v1/tenants/${seg(t!)}/services`);
    ctx.out.print(r, (d) => table(d.services.map((x) => ({ ...x, createdAt: when(x.createdAt) })), [['id', 'SERVICE'], 'name', ['createdAt', 'CREATED']]));
  },
  rotate: async (ctx, [t, s]) => {
    const r = await ctx.admin().post<{ l3Version: number | null; minVersion?: number; regions?: string[] }>(`/v1/tenants/${seg(t!)}/services/${seg(s!)}/rotate`);
    // On a CMK (issue 10) the rotation is published and the cores execute it.
    ctx.out.print(r, (d) => (d.l3Version === null && d.minVersion !== undefined
      ? `service ${t}/${s}: rotation published; the cores of ${(d.regions ?? []).join(', ') || 'no region'} bring its L3 key to version ${d.minVersion}\n`
      : `service ${t}/${s}: L3 key now at version ${d.l3Version}\n`));
  },
  rewrap: async (ctx, [t, s]) => {
    const path = s === undefined ? `/v1/tenants/${seg(t!)}/rewrap` : `/v1/tenants/${seg(t!)}/services/${seg(s)}/rewrap`;
    const r = await ctx.admin().post<{ examined: number; rewrapped: number; skipped: number }>(path);
    ctx.out.print(r, (d) => `${s === undefined ? `tenant ${t}` : `service ${t}/${s}`}: examined ${d.examined}, rewrapped ${d.rewrapped}`
      + `${d.skipped ? `, skipped ${d.skipped} (not in the hierarchy's format)` : ''}\n`);
  },
} satisfies Record<string, Action>;
