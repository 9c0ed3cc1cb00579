// kmipctl tenant create|list|show|set-names|seal|unseal|kill|rotate-l2
import { keyValues, table } from '../output.ts';
import { seg } from './connection.ts';
import { when, type Action } from './common.ts';

type Obj = Record<string, unknown>;

const statusLine = (s: Obj | null | undefined): string =>
  s ? `${s.sealed ? `SEALED${s.sealKind ? ` (${String(s.sealKind)})` : ''}${s.reason ? `: ${String(s.reason)}` : ''}` : 'unsealed'}${s.killed ? ' — killed: set a new L1 pointer to recover' : ''}\n` : '';

/** What the kmipctl tenant commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  create: async (ctx, [name], o) => {
    const regions = (o.region as string[] | undefined) ?? [];
    const r = await ctx.admin().post<{ tenant: Obj }>('/v1/tenants', {
      name, ...(regions.length ? { regions } : {}), ...(o.names !== undefined ? { names: o.names } : {}),
    });
    const pinned = (r.tenant.regions as string[] | undefined) ?? [];
    ctx.out.print(r, (d) => `created tenant ${String(d.tenant.id)}${pinned.length ? ` in region${pinned.length > 1 ? 's' : ''} ${pinned.join(', ')}` : ''}` +
      `${d.tenant.names === 'duplicates-allowed' ? ' (Names: duplicates allowed)' : ''}\n`);
  },
  setNames: async (ctx, [t, policy]) => {
    const r = await ctx.admin().put<{ tenant: Obj }>(`/v1/tenants/${seg(t!)}/names`, { names: policy });
    ctx.out.print(r, (d) => `tenant ${t}: Names ${d.tenant.names === 'unique' ? 'unique' : 'may be shared by several objects (duplicates-allowed)'}\n`);
  },
  list: async (ctx) => {
    const r = await ctx.admin().get<{ tenants: Obj[] }>('/v1/tenants');
    // The REGIONS column only where some tenant has one (split planes, issue 10).
    const anyRegion = r.tenants.some((t) => ((t.regions as string[] | undefined) ?? []).length > 0);
    ctx.out.print(r, (d) => table(d.tenants.map((t) => ({ ...t, regions: ((t.regions as string[] | undefined) ?? []).join(',') || '-', createdAt: when(t.createdAt) })),
      [['id', 'TENANT'], 'state', ...(anyRegion ? ['regions' as const] : []), 'sealed', ['l1', 'L1'], ['createdAt', 'CREATED']]));
  },
  show: async (ctx, [t]) => {
    const r = await ctx.admin().get<{ tenant: Obj; services: Obj[]; identities: number; grants: Obj[]; l1: Obj | null; hierarchy: Obj | null; nodes?: Obj[] }>(`/v1/tenants/${seg(t!)}`);
    ctx.out.print(r, (d) => [
      keyValues({ tenant: d.tenant.id, state: d.tenant.state,
        ...(((d.tenant.regions as string[] | undefined) ?? []).length ? { regions: (d.tenant.regions as string[]).join(', ') } : {}),
        created: when(d.tenant.createdAt), names: d.tenant.names, identities: d.identities,
        l1: d.l1 ? `${String(d.l1.provider)} (${String(d.l1.state)})` : 'server default' }),
      d.hierarchy ? `keys:        ${statusLine(d.hierarchy)}` : '',
      d.nodes ? '\ncores (as last reported):\n' + table(d.nodes.map((n) => ({ ...n, at: when(n.at) })), [['node', 'NODE'], 'region', 'state', ['l1Status', 'L1'], 'reason', ['at', 'REPORTED']]) : '',
      '\nservices:\n', table(d.services, [['id', 'SERVICE'], ['createdAt', 'CREATED']]),
      d.grants.length ? '\ngrants:\n' + table(d.grants, [['fromService', 'FROM'], ['toService', 'TO'], 'operations']) : '',
    ].join(''));
  },
  seal: async (ctx, [t], o) => {
    const r = await ctx.admin().post<{ status: Obj }>(`/v1/tenants/${seg(t!)}/seal`, o.reason ? { reason: o.reason } : {});
    ctx.out.print(r, (d) => `tenant ${t}: ${statusLine(d.status)}`);
  },
  unseal: async (ctx, [t]) => {
    const r = await ctx.admin().post<{ status: Obj }>(`/v1/tenants/${seg(t!)}/unseal`);
    ctx.out.print(r, (d) => `tenant ${t}: ${statusLine(d.status)}`);
  },
  kill: async (ctx, [t], o) => {
    const r = await ctx.admin().post<{ status: Obj }>(`/v1/tenants/${seg(t!)}/kill`, o.reason ? { reason: o.reason } : {});
    ctx.out.print(r, (d) => `tenant ${t} killed: ${statusLine(d.status)}`);
  },
  rotateL2: async (ctx, [t]) => {
    const r = await ctx.admin().post<{ l2Version: number | null; generation?: number; regions?: string[] }>(`/v1/tenants/${seg(t!)}/rotate-l2`);
    // On a CMK (issue 10) the rotation is published and the cores of each region execute it.
    ctx.out.print(r, (d) => (d.l2Version === null && d.generation !== undefined
      ? `tenant ${t}: L2 rotation published (request ${d.generation}); the cores of ${(d.regions ?? []).join(', ') || 'no region'} rotate their region's L2 once\n`
      : `tenant ${t}: L2 key now at version ${d.l2Version}\n`));
  },
} satisfies Record<string, Action>;
