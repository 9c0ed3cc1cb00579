// Issue 11 §1: one gateway identity for several services of its tenant, end to end with real
// processes (`openkcm serve`, `openkcm gateway`, kmipctl). The identity of role gateway is
// issued with `--also-services`; the data-key API, the KMIP front and the Core's own checks
// follow the list, and a service not on it is refused in one line by the Core itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { post, postBinary, startGatewayProc, tokenFile, type GatewayProc } from './helpers.ts';
import { buildBinaryRequest, parseBinaryResponse } from '../../src/gateway/binary.ts';
import { KmipClient } from '../../src/client/index.ts';
import { actingForAuthentication } from '../../src/kmip/acting-for.ts';
import { enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import { CredentialType, CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';

type Obj = Record<string, any>;
let s: ServedEnv;
let gw: GatewayProc;
let gwLocal: GatewayProc;
const TOKEN = randomBytes(32).toString('hex');
const clients: KmipClient[] = [];

async function json(args: string[]): Promise<Obj> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}

async function client(port: number, dir: string, base: string): Promise<KmipClient> {
  const c = await KmipClient.connect({
    host: '127.0.0.1', port, ca: readFileSync(join(dir, 'openkcm-ca.crt')),
    cert: readFileSync(join(dir, `${base}.crt`)), key: readFileSync(join(dir, `${base}.key`)), timeoutMs: 60_000,
  });
  clients.push(c);
  return c;
}

const createPayload = () => structure(Tag.RequestPayload, [
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
  structure(Tag.Attributes, [
    enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
    integer(Tag.CryptographicLength, 256),
    integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
  ]),
]);
const uidOf = (p: Obj | undefined) => (p?.value as Obj[]).find((c) => c.tag === Tag.UniqueIdentifier)!.value as string;
const uidPayload = (uid: string) => structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]);
/** What KMIP 2.1 answers for an object that does not exist (Object Not Found, §11.34): a foreign one looks the same. */
const MISSING = ResultReason.ObjectNotFound;

beforeAll(async () => {
  s = await startServed();
  await json(['tenant', 'create', 'acme']);
  for (const svc of ['billing', 'orders', 'search']) await json(['service', 'create', 'acme', svc]);
  await json(['tenant', 'create', 'beta']);
  await json(['service', 'create', 'beta', 'orders']);
  const issued = await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--also-services', 'orders', '--out', join(s.cwd, 'gw')]);
  expect(issued.identity).toMatchObject({ tenant: 'acme', service: 'billing', role: 'gateway', alsoServices: ['orders'] });
  // Application certificates for the KMIP front.
  await json(['cert', 'issue', '--tenant', 'acme', '--service', 'orders', '--role', 'app', '--out', join(s.cwd, 'app-orders')]);
  await json(['cert', 'issue', '--tenant', 'acme', '--service', 'search', '--role', 'app', '--out', join(s.cwd, 'app-search')]);
  await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'app', '--out', join(s.cwd, 'app-billing')]);
  const tokens = tokenFile(s.cwd, TOKEN);
  const certs = join(s.cwd, 'certs');
  gw = await startGatewayProc(s.cwd, [
    '--core', `127.0.0.1:${s.kmipPort}`, '--listen', '127.0.0.1:0', '--certs', join(s.cwd, 'gw'), '--token-file', tokens,
    '--kmip-listen', '127.0.0.1:0', '--kmip-cert', join(certs, 'server.crt'), '--kmip-key', join(certs, 'server.key'),
  ]);
  // The same identity with a local list narrower than the Core's.
  gwLocal = await startGatewayProc(s.cwd, [
    '--core', `127.0.0.1:${s.kmipPort}`, '--listen', '127.0.0.1:0', '--certs', join(s.cwd, 'gw'), '--token-file', tokens, '--services', 'billing',
    // A small envelope budget: a bulk encrypt renews its L4 midway (binary test below).
    '--l4-max-messages', '7',
  ]);
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw?.stop();
  await gwLocal?.stop();
  await s?.stop();
});

describe('one gateway identity, several services', () => {
  it('kmipctl refuses a service list for another role, and unknown services, in one line', async () => {
    const app = await s.kmipctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'app', '--also-services', 'orders', '--out', join(s.cwd, 'x1')]);
    expect(app.code).not.toBe(0);
    expect(app.stderr).toMatch(/only an identity of role gateway acts for several services/);
    const unknown = await s.kmipctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--also-services', 'nope', '--out', join(s.cwd, 'x2')]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/service "nope" does not exist in tenant "acme"/);
    const other = await s.kmipctl(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--also-services', 'orders,', '--out', join(s.cwd, 'x3')]);
    expect(other.code).toBe(0);
    const list = await json(['identity', 'list', '--tenant', 'acme']);
    expect(list.identities.filter((i: Obj) => i.role === 'gateway').every((i: Obj) => JSON.stringify(i.alsoServices) === '["orders"]')).toBe(true);
  });

  it('makes and opens data keys for every service on the list, bound to their service', async () => {
    const ctx = { table: 't' };
    const bill = await post(gw.port, '/v1/datakey', { service: 'billing', context: ctx }, TOKEN);
    const ord = await post(gw.port, '/v1/datakey', { service: 'orders', context: ctx }, TOKEN);
    expect(bill.status).toBe(200);
    expect(ord.status).toBe(200);
    // A fresh gateway process has no cache: the Core unwraps.
    const un = await post(gwLocal.port, '/v1/datakey/unwrap', { service: 'billing', wrapped: bill.body.wrapped, context: ctx }, TOKEN);
    expect(un.body.plaintext).toBe(bill.body.plaintext);
    // An orders blob presented as billing's does not open (the service is in the AAD).
    const swapped = await post(gwLocal.port, '/v1/datakey/unwrap', { service: 'billing', wrapped: ord.body.wrapped, context: ctx }, TOKEN);
    expect(swapped.status).toBe(422);
    expect(swapped.body.plaintext).toBeUndefined();
    const env = await post(gw.port, '/v1/encrypt', { service: 'orders', plaintext: Buffer.from('order 1').toString('base64') }, TOKEN);
    const dec = await post(gw.port, '/v1/decrypt', { service: 'orders', ciphertext: env.body.ciphertext }, TOKEN);
    expect(Buffer.from(dec.body.plaintext, 'base64').toString()).toBe('order 1');
  });

  it('a service not on the list is refused in one line: by the Core, or by the local --services list', async () => {
    const core = await post(gw.port, '/v1/datakey', { service: 'search' }, TOKEN);
    expect(core).toEqual({ status: 403, body: { error: 'service search is not allowed for this gateway' } });
    const local = await post(gwLocal.port, '/v1/datakey', { service: 'orders' }, TOKEN);
    expect(local).toEqual({ status: 403, body: { error: 'service orders is not allowed for this gateway' } });
    // The refusal of one service leaves the gateway serving the others.
    expect((await post(gw.port, '/v1/datakey', { service: 'billing' }, TOKEN)).status).toBe(200);
    const bad = await post(gw.port, '/v1/datakey', { service: 'Bad Name' }, TOKEN);
    expect(bad.status).toBe(400);
  });

  it('bulk requests: many data keys, unwraps and envelopes per HTTP call (issue 11 §4)', async () => {
    const ctx = { table: 'bulk' };
    const many = await post(gw.port, '/v1/datakeys', { service: 'orders', count: 500, context: ctx }, TOKEN);
    expect(many.status).toBe(200);
    const keys = many.body.keys as Obj[];
    expect(keys).toHaveLength(500);
    expect(new Set(keys.map((k) => k.plaintext)).size).toBe(500);
    // Another gateway process (no cache) unwraps them through the Core; a forged one fails in its own slot.
    const forged = Buffer.from(keys[1]!.wrapped, 'base64');
    forged[forged.length - 1]! ^= 1;
    const un = await post(gwLocal.port, '/v1/datakeys/unwrap', { service: 'billing', wrapped: [keys[0]!.wrapped], context: ctx }, TOKEN);
    expect(un.status).toBe(200);
    expect(un.body.results[0].error).toMatch(/does not open/); // an orders key presented as billing's
    const un2 = await post(gw.port, '/v1/datakeys/unwrap', { service: 'orders', wrapped: [keys[0]!.wrapped, forged.toString('base64'), keys[2]!.wrapped, 'AAA'], context: ctx }, TOKEN);
    expect(un2.body.results[0]).toEqual({ plaintext: keys[0]!.plaintext });
    expect(un2.body.results[1].error).toMatch(/does not open/);
    expect(un2.body.results[1].plaintext).toBeUndefined();
    expect(un2.body.results[2]).toEqual({ plaintext: keys[2]!.plaintext });
    expect(un2.body.results[3]).toEqual({ error: 'wrapped[3] is not base64' });
    const plain = Array.from({ length: 50 }, (_, i) => Buffer.from(`message ${i}`).toString('base64'));
    const enc = await post(gw.port, '/v1/encrypt/bulk', { service: 'orders', plaintexts: plain, context: 'c' }, TOKEN);
    expect(enc.body.ciphertexts).toHaveLength(50);
    const dec = await post(gw.port, '/v1/decrypt', { service: 'orders', ciphertext: enc.body.ciphertexts[49], context: 'c' }, TOKEN);
    expect(Buffer.from(dec.body.plaintext, 'base64').toString()).toBe('message 49');
    // Limits and refusals in one line.
    expect(await post(gw.port, '/v1/datakeys', { service: 'orders', count: 1001 }, TOKEN)).toEqual({ status: 400, body: { error: 'count must be an integer from 1 to 1000' } });
    expect(await post(gw.port, '/v1/datakeys', { service: 'search', count: 3 }, TOKEN)).toEqual({ status: 403, body: { error: 'service search is not allowed for this gateway' } });
    expect((await post(gw.port, '/v1/encrypt/bulk', { service: 'orders', plaintexts: [] }, TOKEN)).status).toBe(400);
  });

  it('binary bodies on the bulk endpoints: the same keys and envelopes as JSON, forged bodies refused in one line', async () => {
    const ctx = Buffer.from('bin'); // the bytes of the JSON context string "bin"
    const bin = (path: string, body: Buffer, port = gw.port) => postBinary(port, path, body, TOKEN);
    const refusal = (a: { status: number; body: Buffer }) => ({ status: a.status, error: (JSON.parse(a.body.toString()) as Obj).error as string });
    const made = await bin('/v1/datakeys', buildBinaryRequest({ service: 'billing', context: ctx, count: 300, keyLength: 16 }));
    expect(made.status).toBe(200);
    expect(made.type).toBe('application/octet-stream');
    const keys = parseBinaryResponse(made.body, 2);
    expect(keys.l3Version).toBeGreaterThanOrEqual(1);
    expect(keys.results).toHaveLength(300);
    const pairs = keys.results.map((r) => { if (!r.ok) throw new Error(r.reason); return { key: r.fields[0]!, wrapped: r.fields[1]! }; });
    expect(pairs.every((p) => p.key.length === 16 && p.wrapped.readUInt32BE(1) === keys.l3Version)).toBe(true);
    expect(new Set(pairs.map((p) => p.key.toString('hex'))).size).toBe(300);
    // JSON and binary are one API: a key made in binary opens in JSON with the same context.
    const viaJson = await post(gw.port, '/v1/datakey/unwrap', { service: 'billing', wrapped: pairs[7]!.wrapped.toString('base64'), context: 'bin' }, TOKEN);
    expect(viaJson.body).toEqual({ plaintext: pairs[7]!.key.toString('base64') });
    // Bulk unwrap: cached, forged (flipped bit), cached, malformed, each in its own slot; a
    // gateway without these keys in its cache opens them through the Core.
    const forged = Buffer.from(pairs[1]!.wrapped);
    forged[forged.length - 1]! ^= 1;
    const entries = [pairs[0]!.wrapped, forged, pairs[2]!.wrapped, Buffer.of(2, 0, 0)];
    for (const port of [gw.port, gwLocal.port]) {
      const un = await bin('/v1/datakeys/unwrap', buildBinaryRequest({ service: 'billing', context: ctx, count: entries.length, entries }), port);
      expect(un.status).toBe(200);
      const r = parseBinaryResponse(un.body, 1).results;
      expect(r[0]).toEqual({ ok: true, fields: [pairs[0]!.key] });
      expect(r[1]).toMatchObject({ ok: false, reason: expect.stringMatching(/^wrapped\[1\]: .*does not open/) });
      expect(r[2]).toEqual({ ok: true, fields: [pairs[2]!.key] });
      expect(r[3]).toEqual({ ok: false, reason: 'wrapped[3]: wrapped key is malformed at byte 3: truncated inside the L3 version' });
    }
    // Envelopes in binary open with the JSON decrypt.
    const plain = Array.from({ length: 20 }, (_, i) => Buffer.from(`binary message ${i}`));
    const enc = await bin('/v1/encrypt/bulk', buildBinaryRequest({ service: 'orders', context: ctx, count: plain.length, entries: plain }));
    const cts = parseBinaryResponse(enc.body, 1);
    expect(cts.results).toHaveLength(20);
    const ct19 = cts.results[19]!;
    if (!ct19.ok) throw new Error(ct19.reason);
    const dec = await post(gw.port, '/v1/decrypt', { service: 'orders', ciphertext: ct19.fields[0]!.toString('base64'), context: 'bin' }, TOKEN);
    expect(Buffer.from(dec.body.plaintext as string, 'base64').toString()).toBe('binary message 19');
    // The answer is written into one buffer sized up front (src/gateway/index.ts sealAllBinary);
    // with a budget of 7 envelopes per L4 the 20 envelopes span 3 L4s, each wrapped under the
    // same L3 version and of the same header length, every nonce fresh, every one opening.
    const renew = await bin('/v1/encrypt/bulk', buildBinaryRequest({ service: 'billing', context: ctx, count: plain.length, entries: plain }), gwLocal.port);
    expect(renew.status).toBe(200);
    const rs = parseBinaryResponse(renew.body, 1);
    const envs = rs.results.map((r) => { if (!r.ok) throw new Error(r.reason); return r.fields[0]!; });
    expect(envs.map((e, i) => e.length - plain[i]!.length)).toEqual(envs.map(() => envs[0]!.length - plain[0]!.length));
    const l4s = envs.map((e) => e.subarray(3, 3 + e.readUInt16BE(1)).toString('hex'));
    expect(new Set(l4s).size).toBe(3);
    expect(l4s[6]).toBe(l4s[0]);
    expect(l4s[7]).not.toBe(l4s[6]);
    expect(rs.l3Version).toBe(Buffer.from(l4s[19]!, 'hex').readUInt32BE(1));
    expect(new Set(envs.map((e) => e.subarray(3 + e.readUInt16BE(1), 15 + e.readUInt16BE(1)).toString('hex'))).size).toBe(20);
    for (const i of [0, 7, 19]) {
      const d = await post(gw.port, '/v1/decrypt', { service: 'billing', ciphertext: envs[i]!.toString('base64'), context: 'bin' }, TOKEN);
      expect(Buffer.from(d.body.plaintext as string, 'base64').toString()).toBe(`binary message ${i}`);
    }
    // Forged bodies: each refused before any work, saying where.
    const good = buildBinaryRequest({ service: 'billing', context: ctx, count: 2, entries: [pairs[0]!.wrapped, pairs[2]!.wrapped] });
    const lenAt = 1 + 1 + 7 + 2 + 3 + 4; // format, service length, "billing", context length, "bin", count
    const truncated = Buffer.from(good);
    truncated.writeUInt32BE(500, lenAt); // entry 0 claims more bytes than follow
    expect(refusal(await bin('/v1/datakeys/unwrap', truncated))).toEqual({ status: 400, error: `binary body is malformed at byte ${lenAt}: entry 0 claims 500 bytes, ${good.length - lenAt - 4} left` });
    const badCount = Buffer.from(good);
    badCount.writeUInt32BE(3, lenAt - 4);
    expect(refusal(await bin('/v1/datakeys/unwrap', badCount))).toEqual({ status: 400, error: `binary body is malformed at byte ${good.length}: count 3 but the body ends after 2 entries` });
    const tooMany = Buffer.from(good);
    tooMany.writeUInt32BE(1001, lenAt - 4);
    expect(refusal(await bin('/v1/datakeys/unwrap', tooMany))).toEqual({ status: 400, error: `binary body is malformed at byte ${lenAt - 4}: count 1001; from 1 to 1000` });
    const flipped = Buffer.from(good);
    flipped[0]! ^= 2;
    expect(refusal(await bin('/v1/datakeys/unwrap', flipped))).toEqual({ status: 400, error: 'binary body is malformed at byte 0: format 3, expected 1' });
    expect(refusal(await bin('/v1/datakeys/unwrap', Buffer.concat([good, Buffer.of(0)])))).toEqual({ status: 400, error: `binary body is malformed at byte ${good.length}: 1 bytes after entry 1 (count 2)` });
    expect(refusal(await bin('/v1/datakeys', buildBinaryRequest({ service: 'billing', context: ctx, count: 2, keyLength: 24 })))).toEqual({ status: 400, error: `binary body is malformed at byte ${lenAt}: key length 24; 16 (AES_128) or 32 (AES_256)` });
    expect(refusal(await bin('/v1/datakeys', buildBinaryRequest({ service: 'search', context: ctx, count: 2, keyLength: 32 })))).toEqual({ status: 403, error: 'service search is not allowed for this gateway' });
    expect(refusal(await bin('/v1/datakey', good))).toEqual({ status: 415, error: 'application/octet-stream bodies are taken by POST /v1/datakeys, /v1/datakeys/unwrap, /v1/encrypt/bulk; send this one as application/json' });
  });

  it('the KMIP front acts for the service of the application certificate', async () => {
    const front = await client(gw.kmipPort!, join(s.cwd, 'app-orders'), 'acme.orders');
    const uid = uidOf(await front.request(Operation.Create, createPayload()) as Obj);
    // The object is the orders service's: an orders application reaches it straight at the
    // Core, a billing application does not (answered as a missing one).
    const orders = await client(s.kmipPort, join(s.cwd, 'app-orders'), 'acme.orders');
    expect((await orders.requestItem(Operation.GetAttributes, uidPayload(uid))).resultStatus).toBe(ResultStatus.Success);
    const billing = await client(s.kmipPort, join(s.cwd, 'app-billing'), 'acme.billing');
    const foreign = await billing.requestItem(Operation.GetAttributes, uidPayload(uid));
    expect(foreign.resultReason).toBe(MISSING);
    // The audit trail names the service acted for and the gateway's identity.
    const audit = await json(['audit', 'tail', '-n', '5000']);
    const rec = (audit.records as Obj[]).find((r) => r.operation === 'Create' && r.service === 'orders');
    expect(rec).toBeDefined();
    expect(String(rec!.identity)).toMatch(/^id-/);
  });

  it('an application of a service not on the list is refused by the Core through the front', async () => {
    const front = await client(gw.kmipPort!, join(s.cwd, 'app-search'), 'acme.search');
    const item = await front.requestItem(Operation.Create, createPayload());
    expect(item.resultReason).toBe(ResultReason.PermissionDenied);
    expect(item.resultMessage).toBe('service search is not allowed for this gateway');
  });

  it('an application cannot choose the service: credentials it sends are replaced by the gateway', async () => {
    // An orders application names billing in its own Authentication; the gateway drops it.
    const front = await client(gw.kmipPort!, join(s.cwd, 'app-orders'), 'acme.orders');
    const r = await front.batch([{ operation: Operation.Create, payload: createPayload() }], { authentication: actingForAuthentication('billing') });
    const uid = uidOf(r.batchItems[0]!.payload as Obj);
    const billing = await client(s.kmipPort, join(s.cwd, 'app-billing'), 'acme.billing');
    expect((await billing.requestItem(Operation.GetAttributes, uidPayload(uid))).resultReason).toBe(MISSING);
  });

  it('at the Core: the gateway names one service of its list per message; others are refused', async () => {
    const gwc = await client(s.kmipPort, join(s.cwd, 'gw'), 'acme.billing');
    const ok = await gwc.batch([{ operation: Operation.Create, payload: createPayload() }], { authentication: actingForAuthentication('orders') });
    expect(ok.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    const no = await gwc.batch([{ operation: Operation.Create, payload: createPayload() }], { authentication: actingForAuthentication('search') });
    expect(no.batchItems[0]).toMatchObject({ resultReason: ResultReason.PermissionDenied, resultMessage: 'service search is not allowed for this gateway' });
    // Another tenant's service of the same name is never reachable: the tenant is the identity's.
    const uid = uidOf(ok.batchItems[0]!.payload as Obj);
    const orders = await client(s.kmipPort, join(s.cwd, 'app-orders'), 'acme.orders');
    expect((await orders.requestItem(Operation.GetAttributes, uidPayload(uid))).resultStatus).toBe(ResultStatus.Success);
    // Two services in one message: which one would the Core believe? Refused.
    const two = structure(Tag.Authentication, [
      ...actingForAuthentication('orders').value,
      structure(Tag.Credential, [enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword), structure(Tag.CredentialValue, [textString(Tag.Username, 'billing')])]),
    ]);
    const amb = await gwc.batch([{ operation: Operation.Create, payload: createPayload() }], { authentication: two });
    expect(amb.batchItems[0]).toMatchObject({ resultReason: ResultReason.InvalidField });
    expect(amb.batchItems[0]!.resultMessage).toMatch(/names two services/);
    // An application identity's credentials mean nothing: it acts for its own service.
    const app = await client(s.kmipPort, join(s.cwd, 'app-search'), 'acme.search');
    const own = await app.batch([{ operation: Operation.Create, payload: createPayload() }], { authentication: actingForAuthentication('orders') });
    const appUid = uidOf(own.batchItems[0]!.payload as Obj);
    expect((await orders.requestItem(Operation.GetAttributes, uidPayload(appUid))).resultReason).toBe(MISSING);
  });
});
