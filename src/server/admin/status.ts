// `kmipctl status`: who am I, what runs, which tenants are sealed, where the audit chain ends.
import type { Route } from './http.ts';
import { scopedTenant } from './common.ts';

export const statusRoutes: Route[] = [
  {
    name: 'status', method: 'GET', path: '/v1/status', access: 'tenant', scope: 'filter',
    handler(ctx) {
      // A tenant-admin sees its own tenant; the audit chain head and the SIEM exporters are
      // about every tenant, so they are the global admin's (issue 16 §2).
      const only = scopedTenant(ctx);
      const tenants = ctx.governance.listTenants().filter((t) => only === undefined || t.id === only).map((t) => {
        const h = ctx.hierarchy?.status(t.id);
        return { name: t.id, state: t.state, sealed: h ? h.sealed : null, reason: h?.reason ?? null };
      });
      ctx.audit.flush();
      const last = ctx.audit.tail(1)[0] as { seq?: number; hash?: string } | undefined;
      return {
        body: {
          caller: ctx.caller,
          server: ctx.info?.() ?? {},
          kmip: ctx.kmip ?? null,
          hierarchy: ctx.hierarchy ? 'running' : 'absent',
          ca: ctx.ca ? { subject: ctx.ca.cert.subject, fingerprint: ctx.ca.fingerprint } : null,
          tenants,
          audit: only === undefined ? { lastSeq: last?.seq ?? 0, head: last?.hash ?? null } : { lastSeq: null, head: null },
          // SIEM export (issue 7): per exporter, what reached the SIEM and what still waits.
          exporters: only === undefined ? ctx.exporters?.() ?? [] : [],
        },
      };
    },
  },
  {
    name: 'whoami', method: 'GET', path: '/v1/whoami', access: 'audit-read', scope: 'none',
    handler(ctx) {
      return { body: { caller: ctx.caller } };
    },
  },
];
