// kmipctl status
import { keyValues, table } from '../output.ts';
import { when, type Action } from './common.ts';

type Obj = Record<string, unknown>;

/** What the kmipctl status commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  status: async (ctx) => {
    const r = await ctx.admin().get<{ caller: Obj; server: Obj; kmip: Obj | null; plane?: string; hierarchy: string; ca: Obj | null; tenants: Obj[]; audit: Obj; exporters?: Obj[]; nodes?: Obj[] }>('/v1/status');
    ctx.out.print(r, (d) => [
      keyValues({ you: `${String(d.caller.id)} (${String(d.caller.tenant)}/${String(d.caller.service)}, role ${String(d.caller.role)})`,
        ...d.server, ...(d.plane ? { plane: d.plane } : {}), kmip: d.kmip ? `${String(d.kmip.host)}:${String(d.kmip.port)}` : '-', hierarchy: d.hierarchy,
        ca: d.ca ? String(d.ca.subject) : 'none', 'audit records': d.audit.lastSeq, 'audit head': d.audit.head }),
      '\n', table(d.tenants.map((t) => ({ ...t, regions: ((t.regions as string[] | undefined) ?? []).join(',') || '-' })),
        [['name', 'TENANT'], 'state', ...(d.tenants.some((t) => ((t.regions as string[] | undefined) ?? []).length > 0) ? ['regions' as const] : []), 'sealed', 'reason']),
      // On a CMK (issue 10): the cores, what they last reported, and whether they follow the stream now.
      d.nodes ? '\ncores:\n' + (d.nodes.length === 0 ? '  (no core has reported yet)\n' : table(d.nodes.map((n) => ({
        ...n, at: when(n.at), connected: n.connected ? 'yes' : 'no',
        tenants: (n.tenants as Obj[]).map((t) => `${String(t.tenant)}:${String(t.state)}`).join(' ') || '-',
      })), [['node', 'NODE'], 'region', 'connected', ['seq', 'SEQ'], ['at', 'REPORTED'], 'tenants'])) : '',
      d.exporters && d.exporters.length > 0
        ? '\nSIEM exporters:\n' + table(d.exporters.map((x) => ({ ...x, lastError: x.lastError ?? '' })),
          [['name', 'EXPORTER'], 'connected', 'delivered', 'undelivered', ['droppedFromBuffer', 'DROPPED FROM BUFFER'], 'failures', ['lastError', 'LAST ERROR']])
        : '',
    ].join(''));
  },
} satisfies Record<string, Action>;
