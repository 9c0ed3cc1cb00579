// The link routes on a CMK's admin listener (issue 10 §2; wire contract src/link/protocol.ts,
// logic src/link/): what a core of one region loads, follows and reports. Only a certificate
// of role `core` reaches them (src/server/admin.ts), and only for its own region and node:
// the region is the certificate's, never a parameter a core could change.
import { AdminError, queryInt, type Route } from './http.ts';
import type { AdminContext, LinkPort } from './context.ts';
import type { LinkCaller } from '../../link/ingest.ts';
import { LINK_AUDIT_MAX_BODY_BYTES } from '../../link/ingest.ts';

function link(ctx: AdminContext): LinkPort {
  if (!ctx.link) {
    throw new AdminError('unavailable', 'this server is not a CMK: the link routes run in `openkcm cmk` only',
      'point the core at the CMK (openkcm core --cmk https://<cmk-host>:<admin-port>)');
  }
  return ctx.link;
}

function who(ctx: AdminContext, query: URLSearchParams): LinkCaller {
  const { region, node } = ctx.caller;
  if (region === undefined || node === undefined) throw new AdminError('forbidden', 'not a core certificate');
  // A region named in the query must be the certificate's own: a core of region A asking for
  // region B is refused, not quietly answered with A's data.
  const asked = query.get('region');
  if (asked !== null && asked !== region) {
    throw new AdminError('forbidden', `this certificate is a core of region ${region}; it gets nothing of region ${asked}`,
      `issue a certificate for that region: kmipctl cert issue --role core --region ${asked}`);
  }
  return { region, node };
}

export const linkRoutes: Route[] = [
  {
    name: 'link.snapshot', method: 'GET', path: '/v1/link/snapshot', access: 'link', scope: 'none',
    async handler(ctx, { query }) {
      const w = who(ctx, query);
      const snap = await link(ctx).snapshot(w.region);
      ctx.audited('link.snapshot', { detail: `core ${w.node} of region ${w.region} loaded the snapshot at seq ${snap.seq} (${snap.tenants.length} tenant(s))` });
      return { body: snap };
    },
  },
  {
    name: 'link.changes', method: 'GET', path: '/v1/link/changes', access: 'link', scope: 'none',
    async handler(ctx, { query }) {
      const w = who(ctx, query);
      const l = link(ctx);
      // `after` in the query, else the SSE reconnection header (WHATWG HTML §9.2.4: a
      // client reconnecting sends the last event id it saw as Last-Event-ID).
      let after: number;
      if (query.has('after')) after = queryInt(query, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
      else {
        const h = ctx.headers?.['last-event-id'];
        const v = Array.isArray(h) ? h[0] : h;
        if (v === undefined || !/^\d{1,15}$/.test(v.trim())) {
          throw new AdminError('bad-request', 'give the last seq you hold: ?after=SEQ or the header Last-Event-ID: SEQ',
            'load GET /v1/link/snapshot first and follow the stream after its seq');
        }
        after = Number(v.trim());
      }
      await l.checkResumable(after);
      if (!l.hasRoom()) throw new AdminError('unavailable', 'too many change streams are open on this CMK', 'retry later; see LINK_MAX_STREAMS');
      return { takeover: (res) => l.openStream(res, w, after) };
    },
  },
  {
    name: 'link.audit', method: 'POST', path: '/v1/link/audit', access: 'link', scope: 'none', maxBodyBytes: LINK_AUDIT_MAX_BODY_BYTES,
    async handler(ctx, { query, body }) {
      return { body: await link(ctx).ingestAudit(body, who(ctx, query)) };
    },
  },
  {
    name: 'link.status', method: 'POST', path: '/v1/link/status', access: 'link', scope: 'none',
    async handler(ctx, { query, body }) {
      await link(ctx).recordStatus(body, who(ctx, query));
      return { status: 204, body: null };
    },
  },
];
