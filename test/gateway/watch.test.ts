// The gateway's status watch (issue 11 §3; src/server/gateway-watch.ts, the Core side, and
// src/gateway/core-link.ts watchLoop): real processes — `openkcm serve` (one worker, then two)
// and `openkcm gateway` children. The gateway learns a seal, a kill switch and a change of
// its service list (kmipctl identity set-services) from a Poll the Core holds open, audited when it opens and closes, not per
// poll (the former probe wrote 5 records per second per gateway). Timing bounds here are
// loose on purpose (2-core machine shared by several suites): the reach is measured in
// bench/gateway.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { KmipClient } from '../../src/client/index.ts';
import { byteString, textString } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { post, sleep, startGatewayProc, tokenFile, waitFor, type GatewayProc } from './helpers.ts';

type Obj = Record<string, any>;
const TOKEN = randomBytes(32).toString('hex');
/** kmipctl and process start-up take seconds each on the loaded test machine. */
const T = 300_000;

function status(port: number): Promise<Obj> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/v1/status', method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj));
    }).on('error', reject).end();
  });
}

async function jsonOf(s: ServedEnv, args: string[]): Promise<Obj> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}

async function startGw(s: ServedEnv, dir: string, extra: string[] = []): Promise<GatewayProc> {
  const g = await startGatewayProc(s.cwd, ['--core', `127.0.0.1:${s.kmipPort}`, '--listen', '127.0.0.1:0', '--certs', join(s.cwd, dir), '--token-file', join(s.cwd, 'tokens'), ...extra]);
  // The first watch answer: the gateway knows its state and the Core's list.
  await waitFor(async () => (await status(g.port)).watchAnswers >= 1, 60_000, 50);
  return g;
}

describe('status watch, one worker', () => {
  let s: ServedEnv;
  let gw: GatewayProc | undefined;
  let gwId = '';
  const api = (path: string, body: unknown) => post(gw!.port, path, body, TOKEN);
  const json = (args: string[]) => jsonOf(s, args);

  beforeAll(async () => {
    s = await startServed();
    tokenFile(s.cwd, TOKEN);
    await json(['tenant', 'create', 'acme']);
    await json(['service', 'create', 'acme', 'billing']);
    await json(['service', 'create', 'acme', 'orders']);
    gwId = (await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--also-services', 'orders', '--out', join(s.cwd, 'gw'), '--cn', 'gw-watch'])).identity.id as string;
    gw = await startGw(s, 'gw');
  }, T);
  afterAll(async () => {
    await gw?.stop();
    await s?.stop();
  });

  it('is a held Poll audited when it opens, not per poll: no probe records while idle', async () => {
    const st = await status(gw!.port);
    expect(st).toMatchObject({ statusBy: 'watch', core: 'ok', coreServices: ['billing', 'orders'] });
    // Idle for 3 s: the former probe (every 200 ms) would have written about 15 records.
    await sleep(3000);
    const tail = (await json(['audit', 'tail', '-n', '2000'])).records as Obj[];
    const mine = tail.filter((r) => r.tenant === 'acme' && r.kind === 'kmip' && (r.operation === 'Poll' || r.operation === 'DiscoverVersions'));
    expect(mine.filter((r) => r.operation === 'DiscoverVersions')).toEqual([]);
    expect(mine.map((r) => r.detail)).toEqual(['gateway status watch opened: ok']);
    // Still the same watch (no reconnection), re-sent after each answer only.
    expect((await status(gw!.port)).watchAnswers).toBeLessThanOrEqual(2);
  }, T);

  it('kmipctl tenant seal → cached keys purged and every request refused; unseal → serving again', async () => {
    const dk = await api('/v1/datakey', { service: 'billing', context: 'w' });
    expect(dk.status).toBe(200);
    expect((await status(gw!.port)).cachedKeys).toBeGreaterThan(0);
    await json(['tenant', 'seal', 'acme']);
    await waitFor(async () => (await status(gw!.port)).cachedKeys === 0, 10_000, 20);
    const r = await api('/v1/datakey/unwrap', { service: 'billing', wrapped: dk.body.wrapped, context: 'w' });
    expect(r).toMatchObject({ status: 503, body: { error: 'tenant acme is sealed at the core' } });
    // The watch stays held while sealed: no record per poll either.
    await sleep(1000);
    await json(['tenant', 'unseal', 'acme']);
    await waitFor(async () => (await status(gw!.port)).core === 'ok', 10_000, 20);
    expect((await api('/v1/datakey/unwrap', { service: 'billing', wrapped: dk.body.wrapped, context: 'w' })).status).toBe(200);
    const tail = (await json(['audit', 'tail', '-n', '2000'])).records as Obj[];
    const polls = tail.filter((x) => x.tenant === 'acme' && x.operation === 'Poll');
    expect(polls.map((x) => `${x.result} ${x.reason} ${x.detail}`)).toEqual(['success null gateway status watch opened: ok']);
  }, T);

  it('kmipctl identity set-services: the Core and the gateway honour the new list without a restart', async () => {
    const dk = await api('/v1/datakey', { service: 'orders', context: 'svc' });
    expect(dk.status).toBe(200);
    const wrapOrders = [textString(Tag.UniqueIdentifier, 'openkcm:service-l3:orders'), byteString(Tag.Data, randomBytes(32))];
    const core = await KmipClient.connect({
      host: '127.0.0.1', port: s.kmipPort, timeoutMs: 60_000,
      ca: readFileSync(join(s.cwd, 'gw', 'openkcm-ca.crt')), cert: readFileSync(join(s.cwd, 'gw', 'acme.billing.crt')), key: readFileSync(join(s.cwd, 'gw', 'acme.billing.key')),
    });
    try {
      expect((await core.requestItem(Operation.Encrypt, wrapOrders)).resultStatus).toBe(ResultStatus.Success);
      const r = await s.kmipctl(['identity', 'set-services', gwId, '--none']);
      expect(r.stdout).toBe(`identity ${gwId} acts for billing only\n`);
      // The gateway: told by its watch; the key of orders leaves its cache, requests are refused here.
      await waitFor(async () => JSON.stringify((await status(gw!.port)).coreServices) === '["billing"]', 10_000, 20);
      const un = await api('/v1/datakey/unwrap', { service: 'orders', wrapped: dk.body.wrapped, context: 'svc' });
      expect(un).toMatchObject({ status: 403, body: { error: 'service orders is not allowed for this gateway' } });
      // The Core: on the next message, whatever the gateway does.
      expect(await core.requestItem(Operation.Encrypt, wrapOrders)).toMatchObject({ resultReason: ResultReason.PermissionDenied, resultMessage: 'service orders is not allowed for this gateway' });
      expect((await api('/v1/datakey', { service: 'billing' })).status).toBe(200);

      const back = await json(['identity', 'set-services', gwId, 'orders']);
      expect(back.identity.alsoServices).toEqual(['orders']);
      await waitFor(async () => JSON.stringify((await status(gw!.port)).coreServices) === '["billing","orders"]', 10_000, 20);
      expect((await api('/v1/datakey/unwrap', { service: 'orders', wrapped: dk.body.wrapped, context: 'svc' })).status).toBe(200);
      expect((await core.requestItem(Operation.Encrypt, wrapOrders)).resultStatus).toBe(ResultStatus.Success);
      // One line for what cannot be: a service that does not exist, a list for another role.
      const bad = await s.kmipctl(['identity', 'set-services', gwId, 'nope']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/nope/);
      expect(bad.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
      const audit = (await json(['audit', 'tail', '-n', '500'])).records as Obj[];
      expect(audit.filter((x) => x.operation === 'identity.set-services' && x.objectId === gwId).map((x) => x.detail))
        .toEqual(['also acting for: none (was: orders)', 'also acting for: orders (was: none)']);
    } finally {
      await core.close();
    }
  }, T);

  it('the close of a watch is audited with its duration and the changes it answered', async () => {
    await gw!.stop();
    gw = undefined;
    let closed: Obj[] = [];
    await waitFor(async () => {
      const tail = (await json(['audit', 'tail', '-n', '2000'])).records as Obj[];
      closed = tail.filter((x) => x.operation === 'Poll' && /^gateway status watch closed/.test(x.detail ?? ''));
      return closed.length > 0;
    }, 30_000, 500);
    expect(closed).toHaveLength(1);
    // Seal and unseal: at least two changes (the engine's seal and governance's may be two answers).
    const m = /^gateway status watch closed \((peer|shutdown)\) after [\d.]+ s; (\d+) change\(s\) answered$/.exec(closed[0]!.detail as string);
    expect(m, closed[0]!.detail as string).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(2);
  }, T);
});

describe('status watch with serve --workers 2', () => {
  let s: ServedEnv;
  const gws: GatewayProc[] = [];
  const json = (args: string[]) => jsonOf(s, args);

  beforeAll(async () => {
    s = await startServed({ args: ['--workers', '2'] });
    tokenFile(s.cwd, TOKEN);
    await json(['tenant', 'create', 'acme']);
    await json(['service', 'create', 'acme', 'billing']);
    const pids = new Set(((await json(['tenant', 'show', 'acme'])).workers as Obj[]).map((w) => w.pid as number));
    expect(pids.size).toBe(2);
    // Gateways until their watches are held by both workers (the cluster deals connections
    // round robin, so two usually suffice).
    const seen = new Set<number>();
    for (let i = 0; i < 5 && seen.size < 2; i++) {
      await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, `gw${i}`), '--cn', `gw-w${i}`]);
      const g = await startGw(s, `gw${i}`);
      gws.push(g);
      const node = (await status(g.port)).watchNode as number;
      expect(pids.has(node)).toBe(true);
      seen.add(node);
    }
    expect(seen.size).toBe(2);
  }, T);
  afterAll(async () => {
    for (const g of gws) await g.stop();
    await s?.stop();
  });

  it('seal and kill switch reach every gateway, whichever worker holds its watch', async () => {
    const keys = [];
    for (const g of gws) {
      const dk = await post(g.port, '/v1/datakey', { service: 'billing', context: 'k' }, TOKEN);
      expect(dk.status).toBe(200);
      keys.push(dk.body.wrapped as string);
    }
    await json(['tenant', 'seal', 'acme']);
    for (const g of gws) await waitFor(async () => (await status(g.port)).cachedKeys === 0, 10_000, 20);
    await json(['tenant', 'unseal', 'acme']);
    for (const g of gws) await waitFor(async () => (await status(g.port)).core === 'ok', 20_000, 50);
    for (const [i, g] of gws.entries()) {
      expect((await post(g.port, '/v1/datakey/unwrap', { service: 'billing', wrapped: keys[i], context: 'k' }, TOKEN)).status).toBe(200);
    }
    await json(['tenant', 'kill', 'acme', '--reason', 'watch test']);
    for (const g of gws) {
      await waitFor(async () => (await status(g.port)).cachedKeys === 0, 10_000, 20);
      const r = await post(g.port, '/v1/encrypt', { service: 'billing', plaintext: 'AAAA' }, TOKEN);
      expect(r).toMatchObject({ status: 503, body: { error: 'tenant acme is killed at the core' } });
    }
  }, T);
});
