// Backpressure on the change stream (issue 10 §2; src/link/changes.ts): a client that stops
// reading is disconnected once its socket has not drained for the stall limit (or too much is
// queued for it), and is removed from the hub, while a client that reads gets every change.
// Real sockets: an HTTP server on loopback, one raw TCP client that never reads.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { GovernanceStore } from '../../src/store/governance.ts';
import { sqliteGovernance } from '../../src/store/governance-async.ts';
import { LinkChangeHub, type LinkStreamInfo } from '../../src/link/changes.ts';

let store: SqliteStore | undefined;
let server: Server | undefined;
let hub: LinkChangeHub | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets) s.destroy();
  hub?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await store?.close();
});

describe('change stream backpressure', () => {
  it('a client that reads nothing is cut off and forgotten; a reading client misses nothing', async () => {
    store = await openSqliteStore(':memory:');
    const gov = new GovernanceStore(store.database);
    const closed: Array<{ info: LinkStreamInfo; err: string }> = [];
    hub = new LinkChangeHub(sqliteGovernance(gov), { heartbeatMs: 200, stallMs: 1_500, maxBufferedBytes: 256 * 1024, onStreamError: (info, err) => closed.push({ info, err: err.message }) });
    const h = hub;
    server = createServer((req, res) => h.open(res, { region: 'eu', node: req.url === '/slow' ? 'slow' : 'fast' }, 0));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;

    // The slow client: sends its request, then never reads a byte.
    const slow = connect(port, '127.0.0.1');
    sockets.push(slow);
    slow.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    slow.pause();
    // The fast client reads and counts the change events.
    const fast = connect(port, '127.0.0.1');
    sockets.push(fast);
    let text = '';
    let seen = 0;
    fast.setEncoding('utf8');
    fast.on('data', (d: string) => {
      text += d;
      let i: number;
      while ((i = text.indexOf('\n\n')) !== -1) {
        if (text.slice(0, i).includes('event: change')) seen++;
        text = text.slice(i + 2);
      }
    });
    fast.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    const deadline = Date.now() + 20_000;
    while (hub.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(hub.size).toBe(2);

    // Changes of ~300 bytes each until the slow one is cut off (loopback buffers hold a few MB).
    let made = 0;
    const long = 'x'.repeat(100);
    const end = Date.now() + 90_000;
    while (hub.list().some((s) => s.node === 'slow') && Date.now() < end && made < 200_000) {
      for (let i = 0; i < 500; i++) gov.createTenant({ id: `t${made++}`, name: `${long} ${made}`, regions: ['eu'] });
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(hub.list().map((s) => s.node)).toEqual(['fast']);
    expect(closed).toEqual([expect.objectContaining({ info: expect.objectContaining({ node: 'slow' }) })]);
    expect(closed[0]!.err).toMatch(/read nothing for 1500 ms|bytes queued/);
    // The reader got every change, in order, while the other one was stuck.
    const until = Date.now() + 60_000;
    while (seen < made && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(seen).toBe(made);
  }, 180_000);
});
