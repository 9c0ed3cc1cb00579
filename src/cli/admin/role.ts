// kmipctl role create|list|show
import type { Command } from 'commander';
import { keyValues, table } from '../output.ts';
import { seg } from './connection.ts';
import { leaf, list } from './common.ts';

type Obj = Record<string, unknown>;

export function registerRoleCommands(program: Command): void {
  const g = program.command('role').description('roles: named sets of allowed KMIP operations');
  leaf(g, 'create <role>', 'create a role', async (ctx, [name], o) => {
    const body: Obj = { name, operations: list(o.operations, '--operations') };
    const types = list(o.objectTypes, '--object-types');
    const groups = list(o.objectGroups, '--object-groups');
    if (types) body.objectTypes = types;
    if (groups) body.objectGroups = groups;
    const r = await ctx.admin().post<{ role: Obj }>('/v1/roles', body);
    ctx.out.print(r, (d) => `created role ${String(d.role.name)}\n`);
  }, (c) => c
    .requiredOption('--operations <ops>', 'comma-separated KMIP operation names (Create,Get,Encrypt…) or *')
    .option('--object-types <types>', 'limit to these object types (SymmetricKey,PrivateKey…)')
    .option('--object-groups <groups>', 'limit to objects in these object groups'));
  leaf(g, 'list', 'list roles', async (ctx) => {
    const r = await ctx.admin().get<{ roles: Obj[] }>('/v1/roles');
    ctx.out.print(r, (d) => table(d.roles.map((x) => ({ ...x, builtIn: x.builtIn ? 'yes' : '' })), ['name', ['builtIn', 'BUILT-IN'], 'operations', ['objectTypes', 'TYPES'], ['objectGroups', 'GROUPS']]));
  });
  leaf(g, 'show <role>', 'show a role', async (ctx, [name]) => {
    const r = await ctx.admin().get<{ role: Obj; identities: number }>(`/v1/roles/${seg(name!)}`);
    ctx.out.print(r, (d) => keyValues({ ...d.role, identities: d.identities }));
  });
}
