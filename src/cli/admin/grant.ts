// kmipctl grant add|list|remove: one service of a tenant lets another use its objects.
import { table } from '../output.ts';
import { seg } from './connection.ts';
import { list, type Action } from './common.ts';

type Obj = Record<string, unknown>;

/** What the kmipctl grant commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  add: async (ctx, [t], o) => {
    const r = await ctx.admin().post<{ grant: Obj }>(`/v1/tenants/${seg(t!)}/grants`, {
      fromService: o.from, toService: o.to, operations: list(o.operations, '--operations'),
    });
    ctx.out.print(r, (d) => `granted ${String(d.grant.toService)} ${(d.grant.operations as string[]).join(',')} on the objects of ${String(d.grant.fromService)}\n`);
  },
  list: async (ctx, [t]) => {
    const r = await ctx.admin().get<{ grants: Obj[] }>(`/v1/tenants/${seg(t!)}/grants`);
    ctx.out.print(r, (d) => table(d.grants, [['fromService', 'FROM (OWNER)'], ['toService', 'TO'], 'operations']));
  },
  remove: async (ctx, [t], o) => {
    const r = await ctx.admin().delete(`/v1/tenants/${seg(t!)}/grants/${seg(String(o.from))}/${seg(String(o.to))}`);
    ctx.out.print(r, () => `removed the grant from ${String(o.from)} to ${String(o.to)}\n`);
  },
} satisfies Record<string, Action>;
