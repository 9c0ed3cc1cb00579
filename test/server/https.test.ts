// KMIP over HTTPS (issue 13 §3; KMIP Profiles 2.1 §5.3) over REAL mutual-TLS sockets: the
// HTTPS listener and the TTLV listener on one runtime (SQLite in memory, real hierarchy,
// governance with two tenants), clients Node's https and curl. The same identity, policy,
// tenant gate and audit answer on both ports; the three encodings answer in kind; HTTP
// mistakes get their status and a one-line reason; a malformed body gets a KMIP answer.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { fromXml, toXml } from '../../src/ttlv/xml.ts';
import { fromJson, toJson } from '../../src/ttlv/json.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { structure, textString, type Struct } from '../../src/kmip/items.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { KmipClient } from '../../src/client/index.ts';
import { createCa, issueLeaf, type IssuedCertificate } from '../../src/server/devpki.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { certificateFingerprint, openRuntime, type Runtime } from '../../src/server/runtime.ts';
import { encodingOf } from '../../src/server/http-kmip.ts';
import { request } from './helpers.ts';
import { createPayload } from '../isolation/world.ts';

const V21 = { major: 2, minor: 1 }, V14 = { major: 1, minor: 4 };
const MAX = 8192;
let rt: Runtime;
let https: RunningServer;
let ttlv: RunningServer;
let caPem: string;
let dir: string;
const certs: Record<string, IssuedCertificate> = {};

beforeAll(async () => {
  const ca = await createCa('HTTPS test CA');
  caPem = ca.certPem;
  const serverCert = await issueLeaf(ca, 'server', 'localhost', { names: ['localhost', '127.0.0.1'] });
  for (const name of ['alpha', 'beta', 'stranger']) certs[name] = await issueLeaf(ca, 'client', `https-${name}`);
  certs.foreign = await issueLeaf(await createCa('Someone Else CA'), 'client', 'intruder');
  rt = await openRuntime();
  const g = rt.governance;
  for (const t of ['alpha', 'beta']) {
    g.createTenant({ id: t });
    g.createService({ tenant: t, id: 'app' });
    g.addIdentity({ tenant: t, service: 'app', role: 'admin', match: { kind: 'fingerprint', sha256: certificateFingerprint(certs[t]!.certPem) } });
  }
  const tls = { ca: caPem, cert: serverCert.certPem, key: serverCert.keyPem };
  https = await startServer({ listen: { host: '127.0.0.1', port: 0 }, protocol: 'https', tls, limits: { maxMessageSize: MAX } }, rt);
  ttlv = await startServer({ listen: { host: '127.0.0.1', port: 0 }, tls, limits: { maxMessageSize: MAX } }, rt);
  dir = mkdtempSync(join(tmpdir(), 'kmip-https-'));
  writeFileSync(join(dir, 'ca.crt'), caPem);
  for (const n of ['alpha', 'foreign']) {
    writeFileSync(join(dir, `${n}.crt`), certs[n]!.certPem);
    writeFileSync(join(dir, `${n}.key`), certs[n]!.keyPem);
  }
}, 60_000);
afterAll(async () => {
  await https?.close(500);
  await ttlv?.close(500);
  await rt?.close();
});

interface HttpAnswer { status: number; type: string | undefined; body: Buffer; headers: Record<string, string | string[] | undefined> }

const agents = new Map<string, Agent>();
function agentOf(who: string): Agent {
  let a = agents.get(who);
  if (!a) agents.set(who, (a = new Agent({ keepAlive: true, ca: caPem, cert: certs[who]!.certPem, key: certs[who]!.keyPem })));
  return a;
}

function post(who: string, body: Buffer | string, opts: { type?: string; method?: string; path?: string; headers?: Record<string, string | number> } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(opts.type !== undefined ? { 'Content-Type': opts.type } : {}), ...opts.headers };
    const req = httpsRequest({
      host: '127.0.0.1', port: https.address().port, servername: 'localhost', path: opts.path ?? '/kmip', method: opts.method ?? 'POST',
      agent: agentOf(who), headers, timeout: 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const discover = (v = V21) => request(v, [{ operation: Operation.DiscoverVersions }]);
const kmip = async (who: string, msg: Struct) => {
  const r = await post(who, encode(msg), { type: 'application/octet-stream' });
  expect(r.status, r.body.toString()).toBe(200);
  expect(r.type).toBe('application/octet-stream');
  return parseResponseMessage(decode(r.body));
};
const uidOf = (m: Awaited<ReturnType<typeof kmip>>) => (m.batchItems[0]!.payload!.value.find((c) => c.tag === Tag.UniqueIdentifier)!.value as string);

function curl(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '30', ...args], { encoding: 'buffer', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() });
    });
  });
}

describe('Content-Type → encoding', () => {
  it('reads the three media types, parameters ignored, and nothing else', () => {
    expect(encodingOf('application/octet-stream')).toBe('ttlv');
    expect(encodingOf('text/xml; charset=utf-8')).toBe('xml');
    expect(encodingOf('application/xml')).toBe('xml');
    expect(encodingOf('Application/JSON')).toBe('json');
    expect(encodingOf('text/plain')).toBeUndefined();
    expect(encodingOf(undefined)).toBeUndefined();
  });
});

describe('KMIP over HTTPS', () => {
  it('TTLV: a key created over HTTPS is the same object on the TTLV port, and invisible to another tenant on either', async () => {
    const created = await kmip('alpha', request(V21, [{ operation: Operation.Create, payload: structure(Tag.RequestPayload, createPayload('https-alpha', 'g')) }]));
    expect(created.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    const uid = uidOf(created);
    expect((await rt.store.get('alpha', uid))?.service).toBe('app');
    const alpha = await KmipClient.connect({ host: '127.0.0.1', port: ttlv.address().port, ca: caPem, cert: certs.alpha!.certPem, key: certs.alpha!.keyPem, servername: 'localhost' });
    const beta = await KmipClient.connect({ host: '127.0.0.1', port: ttlv.address().port, ca: caPem, cert: certs.beta!.certPem, key: certs.beta!.keyPem, servername: 'localhost' });
    try {
      expect((await alpha.requestItem(Operation.Get, [textString(Tag.UniqueIdentifier, uid)])).resultStatus).toBe(ResultStatus.Success);
      const overTtlv = await beta.requestItem(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
      const overHttps = (await kmip('beta', request(V21, [{ operation: Operation.Get, payload: structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]) }]))).batchItems[0]!;
      expect(overHttps.resultReason).toBe(ResultReason.ObjectNotFound);
      expect(overHttps.resultReason).toBe(overTtlv.resultReason);
      expect(overHttps.resultMessage).toBe(overTtlv.resultMessage);
    } finally {
      await alpha.close();
      await beta.close();
    }
    // Audited under alpha's governance identity, like every TTLV request.
    const rec = rt.audit.tail(20).filter((r) => r.kind === 'kmip' && r.operation === 'Create' && r.objectId === uid).at(-1);
    expect(rec).toMatchObject({ tenant: 'alpha', service: 'app', result: 'success' });
    expect(rec!.identity).toMatch(/^id-/);
  });

  it('an unknown certificate of the trusted CA is refused by policy exactly as on the TTLV port, and audited', async () => {
    const overHttps = (await kmip('stranger', discover())).batchItems[0]!;
    const c = await KmipClient.connect({ host: '127.0.0.1', port: ttlv.address().port, ca: caPem, cert: certs.stranger!.certPem, key: certs.stranger!.keyPem, servername: 'localhost' });
    let overTtlv;
    try {
      overTtlv = parseResponseMessage(decode(await c.sendBytes(encode(discover())))).batchItems[0]!;
    } finally {
      await c.close();
    }
    expect(overHttps.resultReason).toBe(ResultReason.PermissionDenied);
    expect(overHttps.resultMessage).toMatch(/^the client certificate is not authorised: /);
    expect(overHttps.resultMessage).toBe(overTtlv.resultMessage);
    const fp = certificateFingerprint(certs.stranger!.certPem);
    expect(rt.audit.tail(20).some((r) => r.kind === 'auth-failure' && r.identity === `sha256:${fp}`)).toBe(true);
  });

  it('a sealed tenant is refused at the door over HTTPS too', async () => {
    rt.governance.setTenantState('beta', 'sealed');
    try {
      const r = (await kmip('beta', request(V21, [{ operation: Operation.Locate, payload: structure(Tag.RequestPayload, [structure(Tag.Attributes, [])]) }]))).batchItems[0]!;
      expect(r.resultReason).toBe(ResultReason.PermissionDenied);
      expect(r.resultMessage).toMatch(/beta is sealed/);
    } finally {
      rt.governance.setTenantState('beta', 'active');
    }
  });

  it('KMIP XML in, KMIP XML out; KMIP JSON in, KMIP JSON out (the same answer as TTLV)', async () => {
    for (const v of [V21, V14]) {
      const x = await post('alpha', toXml(discover(v)), { type: 'text/xml' });
      expect(x.status).toBe(200);
      expect(x.type).toBe('text/xml');
      const xm = parseResponseMessage(fromXml(x.body.toString('utf8'))[0]!);
      const j = await post('alpha', toJson(discover(v)), { type: 'application/json' });
      expect(j.status).toBe(200);
      expect(j.type).toBe('application/json');
      const jm = parseResponseMessage([fromJson(j.body.toString('utf8'))].flat()[0]!);
      const tm = await kmip('alpha', discover(v));
      for (const m of [xm, jm]) {
        expect(m.header.protocolVersion).toEqual(v);
        expect(m.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
        // Discover Versions lists every version we speak: the payload is the TTLV port's, item for item.
        expect(m.batchItems[0]!.payload?.value.length).toBe(7);
        expect(m.batchItems[0]!.payload).toEqual(tm.batchItems[0]!.payload);
      }
    }
  });

  it('a malformed body is answered with a KMIP Invalid Message in the request\'s encoding; the connection serves on', async () => {
    const bad = await post('alpha', Buffer.from('not a TTLV message at all'), { type: 'application/octet-stream' });
    expect(bad.status).toBe(200);
    expect(parseResponseMessage(decode(bad.body)).batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    const x = await post('alpha', '<RequestMessage><oops', { type: 'text/xml' });
    expect(x.type).toBe('text/xml');
    const xi = parseResponseMessage(fromXml(x.body.toString('utf8'))[0]!).batchItems[0]!;
    expect(xi.resultReason).toBe(ResultReason.InvalidMessage);
    expect(xi.resultMessage).toMatch(/^cannot decode the KMIP XML request: /);
    const j = await post('alpha', '{"tag": "RequestMessage", "value": [', { type: 'application/json' });
    expect(j.type).toBe('application/json');
    const ji = parseResponseMessage([fromJson(j.body.toString('utf8'))].flat()[0]!).batchItems[0]!;
    expect(ji.resultReason).toBe(ResultReason.InvalidMessage);
    expect(ji.resultMessage).toMatch(/^cannot decode the KMIP JSON request: /);
    // Valid JSON, but a response where a request belongs.
    const wrong = await post('alpha', toJson(structure(Tag.ResponseMessage, [])), { type: 'application/json' });
    expect(parseResponseMessage([fromJson(wrong.body.toString('utf8'))].flat()[0]!).batchItems[0]!.resultMessage).toMatch(/not a RequestMessage/);
    // Not UTF-8.
    const bin = await post('alpha', Buffer.from([0xff, 0xfe, 0x00]), { type: 'text/xml' });
    expect(parseResponseMessage(fromXml(bin.body.toString('utf8'))[0]!).batchItems[0]!.resultMessage).toMatch(/not UTF-8/);
    expect((await kmip('alpha', discover())).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
  });

  it('wrong path, method, media type and oversized bodies get their HTTP status and a one-line reason', async () => {
    const path = await post('alpha', encode(discover()), { type: 'application/octet-stream', path: '/' });
    expect(path.status).toBe(404);
    expect(path.body.toString()).toBe('not found: KMIP is served at POST /kmip\n');
    const get = await post('alpha', '', { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.body.toString()).toBe('method GET not allowed: send KMIP requests with POST /kmip\n');
    const type = await post('alpha', encode(discover()), { type: 'text/plain' });
    expect(type.status).toBe(415);
    expect(type.body.toString()).toMatch(/^Content-Type text\/plain is not accepted: send application\/octet-stream \(TTLV\), text\/xml \(KMIP XML\) or application\/json \(KMIP JSON\)\n$/);
    const none = await post('alpha', encode(discover()));
    expect(none.status).toBe(415);
    // Declared too large: refused from the header.
    const big = await post('alpha', Buffer.alloc(MAX + 1), { type: 'application/octet-stream' });
    expect(big.status).toBe(413);
    expect(big.body.toString()).toBe(`request body of ${MAX + 1} bytes exceeds the maximum message size of ${MAX} bytes\n`);
    // Chunked (no Content-Length): refused once the limit is passed.
    const chunked = await post('alpha', Buffer.alloc(MAX + 100), { type: 'application/octet-stream', headers: { 'Transfer-Encoding': 'chunked' } });
    expect(chunked.status).toBe(413);
    expect(chunked.body.toString()).toBe(`request body exceeds the maximum message size of ${MAX} bytes\n`);
    expect((await kmip('alpha', discover())).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
  });

  it('mutual TLS: no client certificate, or one of another CA, never reaches HTTP', async () => {
    const attempt = (opts: { cert?: string; key?: string }) => new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: https.address().port, servername: 'localhost', ca: caPem, ...opts }, () => {
        s.write('POST /kmip HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 0\r\n\r\n');
      });
      let got = '';
      s.on('data', (d) => { got += d.toString(); });
      s.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      s.on('close', () => resolve(got === '' ? 'closed' : got));
    });
    for (const r of [await attempt({}), await attempt({ cert: certs.foreign!.certPem, key: certs.foreign!.keyPem })]) {
      expect(r).not.toMatch(/^HTTP\//);
    }
  });

  it('close() ends a kept-alive idle connection at once, without waiting for the grace period', async () => {
    const ca = await createCa('HTTPS close CA');
    const sc = await issueLeaf(ca, 'server', 'localhost', { names: ['localhost', '127.0.0.1'] });
    const cc = await issueLeaf(ca, 'client', 'closer');
    const rt2 = await openRuntime();
    const s = await startServer({ listen: { host: '127.0.0.1', port: 0 }, protocol: 'https', tls: { ca: ca.certPem, cert: sc.certPem, key: sc.keyPem } }, rt2);
    const agent = new Agent({ keepAlive: true, ca: ca.certPem, cert: cc.certPem, key: cc.keyPem });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: s.address().port, servername: 'localhost', path: '/kmip', method: 'POST', agent, headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end(encode(discover()));
      });
      expect(status).toBe(200);
      expect(s.connectionCount()).toBe(1);
      // A grace period longer than the test's timeout: only closing the idle socket lets close() finish.
      await s.close(120_000);
      expect(s.connectionCount()).toBe(0);
    } finally {
      agent.destroy();
      await rt2.close();
    }
  }, 60_000);

  it('curl speaks to it: TTLV and JSON bodies, and a refused foreign certificate', async () => {
    const url = `https://localhost:${https.address().port}/kmip`;
    const base = ['--cacert', join(dir, 'ca.crt'), '--cert', join(dir, 'alpha.crt'), '--key', join(dir, 'alpha.key'), '--resolve', `localhost:${https.address().port}:127.0.0.1`];
    writeFileSync(join(dir, 'req.ttlv'), encode(discover()));
    const t = await curl([...base, '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${join(dir, 'req.ttlv')}`, url]);
    expect(t.code, t.stderr).toBe(0);
    expect(parseResponseMessage(decode(t.stdout)).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    writeFileSync(join(dir, 'req.json'), toJson(discover(V14)));
    const j = await curl([...base, '-H', 'Content-Type: application/json', '--data-binary', `@${join(dir, 'req.json')}`, url]);
    expect(j.code, j.stderr).toBe(0);
    expect(parseResponseMessage([fromJson(j.stdout.toString())].flat()[0]!).header.protocolVersion).toEqual(V14);
    const wrong = await curl([...base, '-X', 'PUT', '-H', 'Content-Type: application/json', '--data-binary', `@${join(dir, 'req.json')}`, '-w', '%{http_code}', '-o', '/dev/null', url]);
    expect(wrong.stdout.toString()).toBe('405');
    const foreign = await curl(['--cacert', join(dir, 'ca.crt'), '--cert', join(dir, 'foreign.crt'), '--key', join(dir, 'foreign.key'), '--resolve', `localhost:${https.address().port}:127.0.0.1`,
      '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${join(dir, 'req.ttlv')}`, url]);
    expect(foreign.code).not.toBe(0);
    expect(foreign.stdout.length).toBe(0);
  });
});
