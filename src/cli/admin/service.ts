// kmipctl service create|list|rotate|rewrap
import type { Command } from 'commander';
import { table } from '../output.ts';
import { seg } from './connection.ts';
import { leaf, when } from './common.ts';

type Obj = Record<string, unknown>;

export function registerServiceCommands(program: Command): void {
  const g = program.command('service').description('services of a tenant; L3 key rotation and re-wrap');
  leaf(g, 'create <tenant> <service>', 'create a service in a tenant', async (ctx, [t, s]) => {
    const r = await ctx.admin().post<{ service: Obj }>(`/v1/tenants/${seg(t!)}/services`, { name: s });
    ctx.out.print(r, (d) => `created service ${String(d.service.id)} in tenant ${t}\n`);
  });
  leaf(g, 'list <tenant>', 'list the services of a tenant', async (ctx, [t]) => {
    const r = await ctx.admin().get<{ services: Obj[] }>(`/v1/tenants/${seg(t!)}/services`);
    ctx.out.print(r, (d) => table(d.services.map((x) => ({ ...x, createdAt: when(x.createdAt) })), [['id', 'SERVICE'], 'name', ['createdAt', 'CREATED']]));
  });
  leaf(g, 'rotate <tenant> <service>', "rotate the service's L3 key (new objects use the new version; old ones stay readable)", async (ctx, [t, s]) => {
    const r = await ctx.admin().post<{ l3Version: number | null; minVersion?: number; regions?: string[] }>(`/v1/tenants/${seg(t!)}/services/${seg(s!)}/rotate`);
    // On a CMK (issue 10) the rotation is published and the cores execute it.
    ctx.out.print(r, (d) => (d.l3Version === null && d.minVersion !== undefined
      ? `service ${t}/${s}: rotation published; the cores of ${(d.regions ?? []).join(', ') || 'no region'} bring its L3 key to version ${d.minVersion}\n`
      : `service ${t}/${s}: L3 key now at version ${d.l3Version}\n`));
  });
  leaf(g, 'rewrap <tenant> [service]', "re-wrap stored objects under their service's current L3 key (the whole tenant when no service is given)", async (ctx, [t, s]) => {
    const path = s === undefined ? `/v1/tenants/${seg(t!)}/rewrap` : `/v1/tenants/${seg(t!)}/services/${seg(s)}/rewrap`;
    const r = await ctx.admin().post<{ examined: number; rewrapped: number; skipped: number }>(path);
    ctx.out.print(r, (d) => `${s === undefined ? `tenant ${t}` : `service ${t}/${s}`}: examined ${d.examined}, rewrapped ${d.rewrapped}`
      + `${d.skipped ? `, skipped ${d.skipped} (not in the hierarchy's format)` : ''}\n`);
  });
}
