// kmipctl role create|list|show
import { keyValues, table } from '../output.ts';
import { seg } from './connection.ts';
import { list, type Action } from './common.ts';

type Obj = Record<string, unknown>;

/** What the kmipctl role commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  create: async (ctx, [name], o) => {
    const body: Obj = { name, operations: list(o.operations, '--operations') };
    const types = list(o.objectTypes, '--object-types');
    const groups = list(o.objectGroups, '--object-groups');
    if (types) body.objectTypes = types;
    if (groups) body.objectGroups = groups;
    const r = await ctx.admin().post<{ role: Obj }>('/v1/roles', body);
    ctx.out.print(r, (d) => `created role ${String(d.role.name)}\n`);
  },
  list: async (ctx) => {
    const r = await ctx.admin().get<{ roles: Obj[] }>('/v1/roles');
    ctx.out.print(r, (d) => table(d.roles.map((x) => ({ ...x, builtIn: x.builtIn ? 'yes' : '' })), ['name', ['builtIn', 'BUILT-IN'], 'operations', ['objectTypes', 'TYPES'], ['objectGroups', 'GROUPS']]));
  },
  show: async (ctx, [name]) => {
    const r = await ctx.admin().get<{ role: Obj; identities: number }>(`/v1/roles/${seg(name!)}`);
    ctx.out.print(r, (d) => keyValues({ ...d.role, identities: d.identities }));
  },
} satisfies Record<string, Action>;
