// kmipctl grant add|list|remove: one service of a tenant lets another use its objects.
import type { Command } from 'commander';
import { table } from '../output.ts';
import { seg } from './connection.ts';
import { leaf, list } from './common.ts';

type Obj = Record<string, unknown>;

export function registerGrantCommands(program: Command): void {
  const g = program.command('grant').description("grants between services of a tenant (the owner's objects, the other's operations)");
  leaf(g, 'add <tenant>', 'let service --to run --operations on the objects of service --from', async (ctx, [t], o) => {
    const r = await ctx.admin().post<{ grant: Obj }>(`/v1/tenants/${seg(t!)}/grants`, {
      fromService: o.from, toService: o.to, operations: list(o.operations, '--operations'),
    });
    ctx.out.print(r, (d) => `granted ${String(d.grant.toService)} ${(d.grant.operations as string[]).join(',')} on the objects of ${String(d.grant.fromService)}\n`);
  }, (c) => c.requiredOption('--from <service>', 'the service owning the objects').requiredOption('--to <service>', 'the service given access')
    .requiredOption('--operations <ops>', 'comma-separated KMIP operation names or *'));
  leaf(g, 'list <tenant>', 'list the grants of a tenant', async (ctx, [t]) => {
    const r = await ctx.admin().get<{ grants: Obj[] }>(`/v1/tenants/${seg(t!)}/grants`);
    ctx.out.print(r, (d) => table(d.grants, [['fromService', 'FROM (OWNER)'], ['toService', 'TO'], 'operations']));
  });
  leaf(g, 'remove <tenant>', 'remove the grant from --from to --to', async (ctx, [t], o) => {
    const r = await ctx.admin().delete(`/v1/tenants/${seg(t!)}/grants/${seg(String(o.from))}/${seg(String(o.to))}`);
    ctx.out.print(r, () => `removed the grant from ${String(o.from)} to ${String(o.to)}\n`);
  }, (c) => c.requiredOption('--from <service>', 'owner service').requiredOption('--to <service>', 'service given access'));
}
