// Audit reads: tail, chain verification, export (DESIGN.md §3). Readable by the admin, the
// auditor and — for its own tenant's records — the tenant-admin (issue 16 §2); nothing here
// changes the log.
//
// A tenant-admin's view holds the records whose tenant is its own. The log has no index by
// tenant (src/audit is append-only and tenant-agnostic), so the view is made by reading
// pages and filtering; each request reads at most MAX_SCAN_RECORDS records.
import { AdminError, queryInt, type Route } from './http.ts';
import { scopedTenant } from './common.ts';
import type { AuditPort } from './context.ts';

/** Records read per page while filtering a tenant's view. */
const SCAN_PAGE = 2_000;
/**
 * Most records one filtered tail/export request reads: a tenant whose records are rare in a
 * huge log must not make one request hold the event loop for seconds (every request of every
 * tenant waits meanwhile). An export that stops here answers `next` to go on from.
 */
export const MAX_SCAN_RECORDS = 200_000;

interface Rec { seq: number; tenant: string | null }

/** The newest n records of `tenant`, oldest first, reading backwards from the head. */
async function tenantTail(audit: AuditPort, tenant: string, n: number): Promise<unknown[]> {
  const last = ((await audit.tail(1))[0] as Rec | undefined)?.seq ?? 0;
  const out: Rec[] = [];
  let hi = last;
  let scanned = 0;
  while (hi > 0 && out.length < n && scanned < MAX_SCAN_RECORDS) {
    const lo = Math.max(0, hi - SCAN_PAGE);
    const page = await audit.readAfter(lo, hi - lo) as Rec[];
    scanned += hi - lo;
    out.unshift(...page.filter((r) => r.tenant === tenant));
    hi = lo;
  }
  return out.slice(-n);
}

/** Up to `limit` records of `tenant` after `after`; `next` says where to go on (null: the end). */
async function tenantExport(audit: AuditPort, tenant: string, after: number, limit: number): Promise<{ records: Rec[]; next: number | null }> {
  const records: Rec[] = [];
  let cursor = after;
  let scanned = 0;
  for (;;) {
    const page = await audit.readAfter(cursor, SCAN_PAGE) as Rec[];
    if (page.length === 0) return { records, next: null };
    for (const r of page) {
      cursor = r.seq;
      scanned++;
      if (r.tenant === tenant) {
        records.push(r);
        if (records.length === limit) return { records, next: r.seq };
      }
    }
    if (scanned >= MAX_SCAN_RECORDS) return { records, next: cursor };
  }
}

/** How many records of `tenant` the log holds, and the seq of its newest. */
async function tenantCount(audit: AuditPort, tenant: string): Promise<{ count: number; lastSeq: number }> {
  let count = 0;
  let lastSeq = 0;
  for (let cursor = 0; ;) {
    const page = await audit.readAfter(cursor, SCAN_PAGE) as Rec[];
    if (page.length === 0) return { count, lastSeq };
    for (const r of page) {
      if (r.tenant === tenant) { count++; lastSeq = r.seq; }
    }
    cursor = page[page.length - 1]!.seq;
  }
}

export const auditRoutes: Route[] = [
  {
    name: 'audit.tail', method: 'GET', path: '/v1/audit/tail', access: 'audit-read', scope: 'filter',
    async handler(ctx, { query }) {
      const n = queryInt(query, 'n', 20, 1, 10_000);
      await ctx.audit.flush();
      const only = scopedTenant(ctx);
      return { body: { records: only === undefined ? await ctx.audit.tail(n) : await tenantTail(ctx.audit, only, n) } };
    },
  },
  {
    name: 'audit.verify', method: 'GET', path: '/v1/audit/verify', access: 'audit-read', scope: 'filter',
    async handler(ctx) {
      const result = await ctx.audit.verify();
      const only = scopedTenant(ctx);
      if (only === undefined) return { body: { result } };
      // What verify means for a tenant's view: its records are links of the one chain of all
      // tenants (each record hashes its predecessor, whoever's it is), so only the whole
      // chain proves that none of them was modified, removed or reordered. The whole chain is
      // verified; the answer counts the tenant's own records and names the broken record by
      // seq only (no other tenant's content, no global record count).
      if (!result.ok) return { body: { result: { ok: false, scope: 'tenant', tenant: only, seq: result.seq, problem: result.problem, detail: result.detail } } };
      const mine = await tenantCount(ctx.audit, only);
      return { body: { result: { ok: true, scope: 'tenant', tenant: only, count: mine.count, lastSeq: mine.lastSeq, head: result.head } } };
    },
  },
  {
    name: 'audit.export', method: 'GET', path: '/v1/audit/export', access: 'audit-read', scope: 'filter',
    async handler(ctx, { query }) {
      const after = queryInt(query, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = queryInt(query, 'limit', 1000, 1, 10_000);
      await ctx.audit.flush();
      const only = scopedTenant(ctx);
      if (only !== undefined) return { body: await tenantExport(ctx.audit, only, after, limit) };
      const records = await ctx.audit.readAfter(after, limit) as { seq: number }[];
      if (records.length === 0 && after > 0 && (await ctx.audit.tail(1)).length === 0) {
        throw new AdminError('not-found', 'the audit log is empty');
      }
      return { body: { records, next: records.length === limit ? records[records.length - 1]!.seq : null } };
    },
  },
];
