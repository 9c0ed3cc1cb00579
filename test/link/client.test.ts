// Parsing of the CMK's answers by the core's link client (src/link/client.ts) and the
// follower's resume/410 handling (src/link/follower.ts). The CMK side here is a small HTTPS
// double that speaks the wire contract of src/link/protocol.ts; the end-to-end test
// (test/planes/e2e.test.ts) runs the real `openkcm cmk`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateDevPki, issueLeaf } from '../../src/server/devpki.ts';
import { LinkClient, LinkError } from '../../src/link/client.ts';
import { LinkFollower } from '../../src/link/follower.ts';
import { GovernanceReplica } from '../../src/link/replica.ts';
import type { LinkChange, LinkSnapshot } from '../../src/link/protocol.ts';

const AT = '2026-01-01T00:00:00.000Z';
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_q, r) => { r.statusCode = 404; r.end(); };
let server: Server;
let url: string;
let tls: { ca: string; cert: string; key: string };
let strangerTls: { ca: string; cert: string; key: string };

const snap = (seq: number, tenants: string[] = ['acme']): LinkSnapshot => ({
  protocol: 1, seq, region: 'eu', at: AT,
  tenants: tenants.map((id) => ({ id, name: id, state: 'active' as const, createdAt: AT, names: 'unique' as const, regions: ['eu'] })),
  services: [], roles: [], identities: [], grants: [], l1Pointers: [], rotations: [],
});
const tenantChange = (seq: number, id: string, state: 'active' | 'killed'): LinkChange =>
  ({ seq, at: AT, tenant: id, entity: 'tenant', op: 'put', value: { id, name: id, state, createdAt: AT, names: 'unique' as const, regions: ['eu'] } });

beforeAll(async () => {
  const pki = await generateDevPki();
  const other = await generateDevPki();
  tls = { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem };
  const stranger = await issueLeaf(other.ca, 'client', 'stranger');
  strangerTls = { ca: pki.ca.certPem, cert: stranger.certPem, key: stranger.keyPem };
  server = createServer({ ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: true }, (q, r) => handler(q, r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('LinkClient', () => {
  it('reads the snapshot; ships audit and status', async () => {
    const seen: unknown[] = [];
    handler = (q, r) => {
      if (q.url === '/v1/link/snapshot') return json(r, 200, snap(5));
      let body = '';
      q.on('data', (c) => (body += c));
      q.on('end', () => {
        seen.push([q.method, q.url, JSON.parse(body)]);
        if (q.url === '/v1/link/audit') json(r, 200, { node: 'n1', acceptedThrough: 2 });
        else { r.statusCode = 204; r.end(); }
      });
    };
    const c = new LinkClient({ url, tls });
    try {
      expect((await c.snapshot()).seq).toBe(5);
      expect(await c.shipAudit({ node: 'n1', region: 'eu', records: [] })).toEqual({ node: 'n1', acceptedThrough: 2 });
      await c.postStatus({ node: 'n1', region: 'eu', at: AT, seq: 5, tenants: [] });
      expect(seen.map((s) => (s as unknown[])[1])).toEqual(['/v1/link/audit', '/v1/link/status']);
    } finally {
      c.close();
    }
  });

  it('403 in the admin error shape → kind refused, with the CMK message', async () => {
    handler = (_q, r) => json(r, 403, { error: { code: 'forbidden', message: 'certificate of region us, not eu', hint: 'issue a core certificate for eu' } });
    const c = new LinkClient({ url, tls });
    const e = await c.snapshot().catch((x: unknown) => x);
    c.close();
    expect(e).toBeInstanceOf(LinkError);
    expect((e as LinkError).kind).toBe('refused');
    expect((e as LinkError).message).toMatch(/certificate of region us, not eu/);
  });

  it('a CMK that does not answer → kind unreachable; a certificate of another CA → kind tls or refused', async () => {
    const dead = new LinkClient({ url: 'https://127.0.0.1:1', tls });
    const e = await dead.snapshot().catch((x: unknown) => x);
    dead.close();
    expect((e as LinkError).kind).toBe('unreachable');
    handler = (_q, r) => json(r, 200, snap(1));
    const s = new LinkClient({ url, tls: strangerTls });
    const e2 = await s.snapshot().catch((x: unknown) => x);
    s.close();
    expect(e2).toBeInstanceOf(LinkError);
    expect(['tls', 'unreachable']).toContain((e2 as LinkError).kind);
  });

  it('not https, not a URL → a LinkError at construction', () => {
    expect(() => new LinkClient({ url: 'http://x:1', tls })).toThrow(/https/);
    expect(() => new LinkClient({ url: 'nope', tls })).toThrow(/not a URL/);
  });
});

describe('LinkFollower', () => {
  it('follows changes after the snapshot seq, resumes after the last applied one, reloads the snapshot on 410', async () => {
    const afters: string[] = [];
    let streams = 0;
    handler = (q, r) => {
      if (q.url === '/v1/link/snapshot') return json(r, 200, streams < 2 ? snap(5) : snap(30, ['acme', 'beta']));
      const after = new URL(q.url!, 'https://x').searchParams.get('after')!;
      afters.push(after);
      streams++;
      if (streams === 1) {
        // Two changes and a heartbeat, split across writes, then the CMK drops the stream.
        r.writeHead(200, { 'content-type': 'text/event-stream' });
        const text = `event: change\nid: 6\ndata: ${JSON.stringify(tenantChange(6, 'acme', 'active'))}\n\n`
          + `event: heartbeat\ndata: {"seq":7,"at":"${AT}"}\n\nevent: change\nid: 7\ndata: ${JSON.stringify(tenantChange(7, 'beta', 'active'))}\n\n`;
        r.write(text.slice(0, 40));
        setTimeout(() => { r.write(text.slice(40)); setTimeout(() => r.destroy(), 50); }, 20);
        return;
      }
      if (streams === 2) return json(r, 410, { error: { code: 'gone', message: 'seq 7 is no longer retained' } });
      r.writeHead(200, { 'content-type': 'text/event-stream' });
      r.write(`event: heartbeat\ndata: {"seq":30,"at":"${AT}"}\n\n`);
    };
    const replica = await GovernanceReplica.open('eu');
    const client = new LinkClient({ url, tls });
    const applied: number[] = [];
    let snapshots = 0;
    let caughtUp = 0;
    const f = new LinkFollower(client, replica, {
      onSnapshot: async () => { snapshots++; },
      onChange: async (c) => { applied.push(c.seq); },
      onContact: () => undefined,
      onCaughtUp: () => { caughtUp++; },
    });
    try {
      await f.loadSnapshot();
      f.start();
      const deadline = Date.now() + 20_000;
      while (streams < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      expect(applied).toEqual([6, 7]);
      expect(afters).toEqual(['5', '7', '30']);
      expect(snapshots).toBe(2);
      expect(replica.seq).toBe(30);
      expect(replica.tenants().map((t) => t.tenant.id)).toEqual(['acme', 'beta']);
      expect(caughtUp).toBeGreaterThanOrEqual(2);
    } finally {
      await f.stop();
      client.close();
      await replica.close();
    }
  }, 30_000);
});
