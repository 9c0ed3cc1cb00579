// Audit reads: tail, chain verification, export (DESIGN.md §3). Readable by the admin and
// the auditor role; nothing here changes the log.
import { AdminError, queryInt, type Route } from './http.ts';

export const auditRoutes: Route[] = [
  {
    name: 'audit.tail', method: 'GET', path: '/v1/audit/tail', access: 'audit-read',
    handler(ctx, { query }) {
      const n = queryInt(query, 'n', 20, 1, 10_000);
      ctx.audit.flush();
      return { body: { records: ctx.audit.tail(n) } };
    },
  },
  {
    name: 'audit.verify', method: 'GET', path: '/v1/audit/verify', access: 'audit-read',
    handler(ctx) {
      const result = ctx.audit.verify();
      return { body: { result } };
    },
  },
  {
    name: 'audit.export', method: 'GET', path: '/v1/audit/export', access: 'audit-read',
    handler(ctx, { query }) {
      const after = queryInt(query, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = queryInt(query, 'limit', 1000, 1, 10_000);
      ctx.audit.flush();
      const records = ctx.audit.readAfter(after, limit) as { seq: number }[];
      if (records.length === 0 && after > 0 && ctx.audit.tail(1).length === 0) {
        throw new AdminError('not-found', 'the audit log is empty');
      }
      return { body: { records, next: records.length === limit ? records[records.length - 1]!.seq : null } };
    },
  },
];
