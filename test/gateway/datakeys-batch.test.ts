// Bulk data keys through the Core link as one job (issue 11 §4; src/gateway/core-link.ts
// wrapMany): a request's keys leave as bulk-wrap items of at most maxKeysPerItem keys and
// come back whole and in order; an item the Core refuses refuses the whole call with the
// Core's reason; an answer the Core would not make (too few or too many keys, a wrapped key
// cut short or of another format) is refused and nothing of it is cached or handed out.
// Real processes: `openkcm serve`, `openkcm gateway` behind the recording relay of
// helpers.ts, which here also plays a forging Core (it rewrites the Core's messages).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { post, startGatewayProc, startRelay, tokenFile, type GatewayProc, type Relay } from './helpers.ts';
import { KmipClient, type KmipClientOptions } from '../../src/client/index.ts';
import { CoreLink } from '../../src/gateway/core-link.ts';
import { byteString, structure, textString } from '../../src/kmip/items.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { encode } from '../../src/ttlv/encode.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';

type Obj = Record<string, any>;
const TOKEN = randomBytes(32).toString('hex');
const PER_ITEM = 64;
let s: ServedEnv;
let gw: GatewayProc;
let relay: Relay;
let direct: KmipClient;
let gwFiles: Omit<KmipClientOptions, 'timeoutMs'>;

async function json(args: string[]): Promise<Obj> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}
const files = (dir: string) => ({
  ca: readFileSync(join(dir, 'openkcm-ca.crt')), cert: readFileSync(join(dir, 'acme.billing.crt')), key: readFileSync(join(dir, 'acme.billing.key')),
});
const children = (it: TtlvItem): TtlvItem[] => (it.type === 'Structure' ? it.value : []);

/** The KMIP messages in a byte stream (8-byte TTLV header, then the length). */
function messages(bytes: Buffer): TtlvItem[] {
  const out: TtlvItem[] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    const n = 8 + bytes.readUInt32BE(at + 4);
    out.push(decode(bytes.subarray(at, at + n)));
    at += n;
  }
  return out;
}
/** Response batch items of Encrypt (the bulk wraps) in a message. */
function encryptItems(msg: TtlvItem): TtlvItem[] {
  return children(msg).filter((c) => c.tag === Tag.BatchItem
    && children(c).some((x) => x.tag === Tag.Operation && x.value === Operation.Encrypt)
    && children(c).some((x) => x.tag === Tag.ResultStatus && x.value === ResultStatus.Success));
}
/**
 * A forging Core: `edit` rewrites the Data of the first successful Encrypt answer of every
 * message it sees (the watch's Poll answers pass untouched).
 */
function forgeFirstWrap(edit: (data: Buffer[]) => Buffer[]): (msg: Buffer) => Buffer {
  return (raw) => {
    const msg = decode(raw);
    const item = encryptItems(msg)[0];
    if (item === undefined) return raw;
    const payload = children(item).find((c) => c.tag === Tag.ResponsePayload)!;
    const kids = children(payload);
    const data = kids.filter((c) => c.tag === Tag.Data).map((c) => Buffer.from(c.value as Buffer));
    const others = kids.filter((c) => c.tag !== Tag.Data);
    (payload.value as TtlvItem[]) = [...others, ...edit(data).map((d) => byteString(Tag.Data, d))];
    return encode(msg);
  };
}

beforeAll(async () => {
  s = await startServed();
  await json(['tenant', 'create', 'acme']);
  await json(['service', 'create', 'acme', 'billing']);
  await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw')]);
  await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw-direct'), '--cn', 'gw-direct']);
  const certs = join(s.cwd, 'certs');
  relay = await startRelay({
    corePort: s.kmipPort, serverCert: join(certs, 'server.crt'), serverKey: join(certs, 'server.key'), ca: join(s.cwd, 'gw', 'openkcm-ca.crt'),
    clientCert: join(s.cwd, 'gw', 'acme.billing.crt'), clientKey: join(s.cwd, 'gw', 'acme.billing.key'),
  });
  gw = await startGatewayProc(s.cwd, [
    '--core', `127.0.0.1:${relay.port}`, '--listen', '127.0.0.1:0', '--certs', join(s.cwd, 'gw'), '--token-file', tokenFile(s.cwd, TOKEN),
    '--max-keys-per-item', String(PER_ITEM), '--pool', '1',
  ]);
  gwFiles = { host: '127.0.0.1', port: s.kmipPort, ...files(join(s.cwd, 'gw-direct')) };
  direct = await KmipClient.connect({ ...gwFiles, timeoutMs: 60_000 });
}, 180_000);

afterAll(async () => {
  await direct?.close();
  await gw?.stop();
  await relay?.close();
  await s?.stop();
});

/** The gateway's GET /v1/status (cached keys, round trips). */
const status = () => new Promise<Obj>((resolve, reject) => {
  get({ host: '127.0.0.1', port: gw.port, path: '/v1/status' }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj));
  }).on('error', reject);
});

describe('bulk data keys as one job of the Core link', () => {
  it('a request larger than maxKeysPerItem is split into items and answered whole, every key in its place', async () => {
    relay.tamper(undefined);
    const from = relay.received().length;
    const r = await post(gw.port, '/v1/datakeys', { service: 'billing', count: 200, context: 'order' }, TOKEN);
    expect(r.status).toBe(200);
    const keys = r.body.keys as Array<{ plaintext: string; wrapped: string }>;
    expect(keys).toHaveLength(200);
    expect(new Set(keys.map((k) => k.wrapped)).size).toBe(200);
    // What the Core answered to this request: items of at most PER_ITEM keys, 200 in all.
    const counts = messages(relay.received().subarray(from)).flatMap(encryptItems)
      .map((it) => children(children(it).find((c) => c.tag === Tag.ResponsePayload)!).filter((c) => c.tag === Tag.Data).length);
    expect(counts).toEqual([64, 64, 64, 8]);
    // Each wrapped key opens at the Core, under the context, to the plaintext given beside it.
    for (let i = 0; i < 200; i += 50) {
      const resp = await direct.batch(keys.slice(i, i + 50).map((k) => ({
        operation: Operation.Decrypt,
        payload: structure(Tag.RequestPayload, [
          textString(Tag.UniqueIdentifier, 'openkcm:service-l3:billing'), byteString(Tag.Data, Buffer.from(k.wrapped, 'base64')),
          byteString(Tag.AuthenticatedEncryptionAdditionalData, Buffer.from('order')),
        ]),
      })));
      resp.batchItems.forEach((it, j) => {
        expect(it.resultStatus).toBe(ResultStatus.Success);
        const plain = it.payload!.value.find((c) => c.tag === Tag.Data)!.value as Buffer;
        expect(plain.toString('base64'), `key ${i + j}`).toBe(keys[i + j]!.plaintext);
      });
    }
  });

  it('an item the Core refuses refuses the whole call with the Core\'s one-line reason; the link serves on', async () => {
    const link = new CoreLink({
      client: gwFiles, tenant: 'acme', poolSize: 1, maxBatchItems: 256, maxKeysPerItem: PER_ITEM, flushDelayMs: 1,
      probeIntervalMs: 200, requestTimeoutMs: 30_000, onRefused: () => undefined,
    });
    link.start();
    try {
      const keys = Array.from({ length: 200 }, () => randomBytes(32));
      // Key 150 is in the third item; the Core wraps keys of at most 64 bytes.
      keys[150] = randomBytes(65);
      await expect(link.wrapMany('billing', Buffer.from('x'), keys)).rejects.toThrow(/^the core refused: the service wrapping object wraps keys of at most 64 bytes, not 65$/);
      const ok = await link.wrapMany('billing', Buffer.from('x'), keys.slice(0, 10));
      expect(ok).toHaveLength(10);
      // Two calls waiting together share items and each gets its own keys back, in order.
      const a = Array.from({ length: 40 }, () => randomBytes(16));
      const b = Array.from({ length: 50 }, () => randomBytes(32));
      const [wa, wb] = await Promise.all([link.wrapMany('billing', Buffer.from('x'), a), link.wrapMany('billing', Buffer.from('x'), b)]);
      expect(wa.map((w) => w.length)).toEqual(a.map(() => 33 + 16));
      expect(wb.map((w) => w.length)).toEqual(b.map(() => 33 + 32));
      const opened = await Promise.all(wb.map((w) => link.unwrap('billing', Buffer.from('x'), w)));
      expect(opened.map((k) => k.toString('hex'))).toEqual(b.map((k) => k.toString('hex')));
    } finally {
      await link.close();
    }
  });

  it('a forged answer (keys missing or added, a wrapped key cut short or of another format) is refused whole, nothing cached', async () => {
    const forgeries: Array<[string, (d: Buffer[]) => Buffer[], RegExp]> = [
      ['one key missing', (d) => d.slice(1), /^the core answered 63 keys for 64$/],
      ['one key added', (d) => [...d, d[0]!], /^the core answered 65 keys for 64$/],
      ['a wrapped key cut short', (d) => { d[5] = d[5]!.subarray(0, d[5]!.length - 1); return d; }, /^the core answered a malformed wrapped key \(#6 of the item: 64 bytes, format 2; expected 65 bytes, format 2\)$/],
      ['another format', (d) => { d[0]![0] = 0x01; return d; }, /^the core answered a malformed wrapped key \(#1 of the item: 65 bytes, format 1; expected 65 bytes, format 2\)$/],
      ['L3 version 0', (d) => { d[9]!.writeUInt32BE(0, 1); return d; }, /^the core answered a malformed wrapped key \(#10 of the item/],
    ];
    for (const [what, edit, line] of forgeries) {
      const before = (await status()).cachedKeys as number;
      relay.tamper(forgeFirstWrap(edit));
      const r = await post(gw.port, '/v1/datakeys', { service: 'billing', count: 100, context: 'forged' }, TOKEN);
      relay.tamper(undefined);
      expect(r.status, what).toBe(502);
      expect(r.body.error, what).toMatch(line);
      expect(r.body.keys, what).toBeUndefined();
      expect((await status()).cachedKeys, what).toBe(before);
    }
    // The link is not left broken by a forged answer.
    const ok = await post(gw.port, '/v1/datakeys', { service: 'billing', count: 100, context: 'forged' }, TOKEN);
    expect(ok.status).toBe(200);
    expect(ok.body.keys).toHaveLength(100);
  });
});
