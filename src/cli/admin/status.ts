// kmipctl status
import type { Command } from 'commander';
import { keyValues, table } from '../output.ts';
import { leaf } from './common.ts';

type Obj = Record<string, unknown>;

export function registerStatusCommand(program: Command): void {
  leaf(program, 'status', 'server status: who you are, tenants and their seal state, audit head', async (ctx) => {
    const r = await ctx.admin().get<{ caller: Obj; server: Obj; kmip: Obj | null; hierarchy: string; ca: Obj | null; tenants: Obj[]; audit: Obj; exporters?: Obj[] }>('/v1/status');
    ctx.out.print(r, (d) => [
      keyValues({ you: `${String(d.caller.id)} (${String(d.caller.tenant)}/${String(d.caller.service)}, role ${String(d.caller.role)})`,
        ...d.server, kmip: d.kmip ? `${String(d.kmip.host)}:${String(d.kmip.port)}` : '-', hierarchy: d.hierarchy,
        ca: d.ca ? String(d.ca.subject) : 'none', 'audit records': d.audit.lastSeq, 'audit head': d.audit.head }),
      '\n', table(d.tenants, [['name', 'TENANT'], 'state', 'sealed', 'reason']),
      d.exporters && d.exporters.length > 0
        ? '\nSIEM exporters:\n' + table(d.exporters.map((x) => ({ ...x, lastError: x.lastError ?? '' })),
          [['name', 'EXPORTER'], 'connected', 'delivered', 'undelivered', ['droppedFromBuffer', 'DROPPED FROM BUFFER'], 'failures', ['lastError', 'LAST ERROR']])
        : '',
    ].join(''));
  });
}
