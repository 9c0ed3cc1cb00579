// `kmipctl status`: who am I, what runs, which tenants are sealed, where the audit chain ends.
import type { Route } from './http.ts';
import { scopedTenant } from './common.ts';

export const statusRoutes: Route[] = [
  {
    name: 'status', method: 'GET', path: '/v1/status', access: 'tenant', scope: 'filter',
    async handler(ctx) {
      // A tenant-admin sees its own tenant; the audit chain head and the SIEM exporters are
      // about every tenant, so they are the global admin's (issue 16 §2).
      const only = scopedTenant(ctx);
      const regions = await ctx.governance.allTenantRegions();
      const tenants = (await ctx.governance.listTenants()).filter((t) => only === undefined || t.id === only).map((t) => {
        const h = ctx.hierarchy?.status(t.id);
        return { name: t.id, state: t.state, regions: regions.get(t.id) ?? [], sealed: h ? h.sealed : null, reason: h?.reason ?? null };
      });
      // On a CMK (issue 10): the last status each core node reported, and the open streams.
      const open = ctx.link?.streams() ?? [];
      const nodes = ctx.link && (await ctx.link.nodes()).map((n) => ({
        node: n.node, region: n.region, seq: n.seq, at: n.at, receivedAt: n.receivedAt,
        connected: open.some((s) => s.node === n.node && s.region === n.region),
        tenants: n.tenants,
      }));
      await ctx.audit.flush();
      const last = (await ctx.audit.tail(1))[0] as { seq?: number; hash?: string } | undefined;
      return {
        body: {
          caller: ctx.caller,
          server: ctx.info?.() ?? {},
          kmip: ctx.kmip ?? null,
          plane: ctx.link ? 'cmk' : 'all-in-one',
          hierarchy: ctx.hierarchy ? 'running' : 'absent',
          ca: ctx.ca ? { subject: ctx.ca.cert.subject, fingerprint: ctx.ca.fingerprint } : null,
          tenants,
          audit: only === undefined ? { lastSeq: last?.seq ?? 0, head: last?.hash ?? null } : { lastSeq: null, head: null },
          // SIEM export (issue 7): per exporter, what reached the SIEM and what still waits.
          exporters: only === undefined ? ctx.exporters?.() ?? [] : [],
          // Cores see every tenant of their region: the global admin's view only.
          ...(nodes && only === undefined ? { nodes, streams: open } : {}),
        },
      };
    },
  },
  {
    name: 'whoami', method: 'GET', path: '/v1/whoami', access: 'audit-read', scope: 'none',
    async handler(ctx) {
      return { body: { caller: ctx.caller } };
    },
  },
];
