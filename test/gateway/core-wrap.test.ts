// Issue 11 §1, the Core side: each service's L3 as a non-extractable wrapping object that a
// `gateway` identity uses with standard KMIP Encrypt/Decrypt (src/operations/common/service-l3.ts).
// Real `openkcm serve` process, certificates issued with kmipctl, the project's KMIP client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { KmipClient } from '../../src/client/index.ts';
import { byteString, structure, textString } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';

let s: ServedEnv;
type Obj = Record<string, any>;
async function json(args: string[]): Promise<Obj> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}
const clients: KmipClient[] = [];
async function clientFor(dir: string, tenant: string, service: string): Promise<KmipClient> {
  const c = await KmipClient.connect({
    host: '127.0.0.1', port: s.kmipPort,
    ca: readFileSync(join(dir, 'openkcm-ca.crt')), cert: readFileSync(join(dir, `${tenant}.${service}.crt`)), key: readFileSync(join(dir, `${tenant}.${service}.key`)),
    timeoutMs: 60_000,
  });
  clients.push(c);
  return c;
}

const L3 = (service: string) => textString(Tag.UniqueIdentifier, `openkcm:service-l3:${service}`);
const wrapItem = (service: string, key: Buffer, context: string) => ({
  operation: Operation.Encrypt,
  payload: structure(Tag.RequestPayload, [L3(service), byteString(Tag.Data, key), byteString(Tag.AuthenticatedEncryptionAdditionalData, Buffer.from(context))]),
});
const unwrapItem = (service: string, blob: Buffer, context: string) => ({
  operation: Operation.Decrypt,
  payload: structure(Tag.RequestPayload, [L3(service), byteString(Tag.Data, blob), byteString(Tag.AuthenticatedEncryptionAdditionalData, Buffer.from(context))]),
});
function dataOf(item: { payload?: { value: Array<{ tag: number; value: unknown }> } }): Buffer {
  return item.payload!.value.find((c) => c.tag === Tag.Data)!.value as Buffer;
}

let gw: KmipClient;
let gwOther: KmipClient;
let app: KmipClient;
beforeAll(async () => {
  s = await startServed();
  await json(['tenant', 'create', 'acme']);
  await json(['service', 'create', 'acme', 'billing']);
  await json(['service', 'create', 'acme', 'orders']);
  await json(['tenant', 'create', 'globex']);
  await json(['service', 'create', 'globex', 'billing']);
  await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw')]);
  await json(['cert', 'issue', '--tenant', 'globex', '--service', 'billing', '--role', 'gateway', '--out', join(s.cwd, 'gw-globex')]);
  await json(['cert', 'issue', '--tenant', 'acme', '--service', 'billing', '--role', 'app', '--out', join(s.cwd, 'app')]);
  gw = await clientFor(join(s.cwd, 'gw'), 'acme', 'billing');
  gwOther = await clientFor(join(s.cwd, 'gw-globex'), 'globex', 'billing');
  app = await clientFor(join(s.cwd, 'app'), 'acme', 'billing');
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.close();
  await s?.stop();
});

describe('service L3 as a gateway wrapping object', () => {
  it('wraps many keys in one batch message and unwraps them; the blob names its L3 version', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => Buffer.alloc(32, i + 1));
    const wrapped = await gw.batch(keys.map((k, i) => wrapItem('billing', k, `ctx-${i}`)));
    expect(wrapped.batchItems).toHaveLength(40);
    const blobs = wrapped.batchItems.map((it) => {
      expect(it.resultStatus).toBe(ResultStatus.Success);
      return dataOf(it);
    });
    for (const b of blobs) {
      expect(b[0]).toBe(0x02);
      expect(b.readUInt32BE(1)).toBe(1);
      expect(b.length).toBe(33 + 32);
    }
    const un = await gw.batch(blobs.map((b, i) => unwrapItem('billing', b, `ctx-${i}`)));
    un.batchItems.forEach((it, i) => expect(dataOf(it).equals(keys[i]!)).toBe(true));
  });

  it('refuses forged blobs: flipped bit, other context, other service, other tenant, malformed', async () => {
    const key = Buffer.alloc(32, 7);
    const blob = dataOf((await gw.batch([wrapItem('billing', key, 'order-1')])).batchItems[0]!);
    const expectFail = async (c: KmipClient, item: ReturnType<typeof unwrapItem>, reason: number, msg: RegExp) => {
      const r = (await c.batch([item])).batchItems[0]!;
      expect(r.resultStatus).toBe(ResultStatus.OperationFailed);
      expect(r.resultReason).toBe(reason);
      expect(r.resultMessage).toMatch(msg);
      expect(r.payload).toBeUndefined();
    };
    for (const at of [5, 20, 40, blob.length - 1]) {
      const flipped = Buffer.from(blob);
      flipped[at]! ^= 0x01;
      await expectFail(gw, unwrapItem('billing', flipped, 'order-1'), ResultReason.CryptographicFailure, /does not open/);
    }
    await expectFail(gw, unwrapItem('billing', blob, 'order-2'), ResultReason.CryptographicFailure, /does not open/);
    // The same service name in another tenant: its own gateway cannot open acme's blob.
    await expectFail(gwOther, unwrapItem('billing', blob, 'order-1'), ResultReason.CryptographicFailure, /does not open/);
    // A service this gateway does not act for.
    await expectFail(gw, unwrapItem('orders', blob, 'order-1'), ResultReason.PermissionDenied, /^service orders is not allowed for this gateway$/);
    const badFormat = Buffer.from(blob);
    badFormat[0] = 9;
    await expectFail(gw, unwrapItem('billing', badFormat, 'order-1'), ResultReason.CryptographicFailure, /wrapped key is malformed at byte 0/);
    await expectFail(gw, unwrapItem('billing', blob.subarray(0, 3), 'order-1'), ResultReason.CryptographicFailure, /wrapped key is malformed at byte 3/);
    const v0 = Buffer.from(blob);
    v0.writeUInt32BE(0, 1);
    await expectFail(gw, unwrapItem('billing', v0, 'order-1'), ResultReason.CryptographicFailure, /malformed at byte 1/);
  });

  it('is not extractable (Get, Export refused; Sensitive and Never Extractable) and not usable by an application identity', async () => {
    const get = await gw.requestItem(Operation.Get, [L3('billing')]);
    expect(get.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(get.resultReason).toBe(ResultReason.PermissionDenied);
    expect(get.resultMessage).toBe('the L3 key of service billing is not extractable: it only wraps and unwraps (Encrypt, Decrypt)');
    expect(get.payload).toBeUndefined();
    const exp = await gw.requestItem(Operation.Export, [L3('billing')]);
    expect(exp.resultStatus).toBe(ResultStatus.OperationFailed);
    // The gateway role does not allow Export at all; Export of the object by any role runs Get, refused above.
    expect(exp.resultMessage).toMatch(/not extractable|does not allow Export/);
    const attrs = await gw.requestItem(Operation.GetAttributes, [L3('billing')]);
    expect(attrs.resultStatus).toBe(ResultStatus.Success);
    const list = (attrs.payload!.value.find((c) => c.tag === Tag.Attributes)!.value as Array<{ tag: number; value: unknown }>);
    const attr = (tag: number) => list.find((c) => c.tag === tag)?.value;
    expect(attr(Tag.Sensitive)).toBe(true);
    expect(attr(Tag.NeverExtractable)).toBe(true);
    expect(attr(Tag.Extractable)).toBe(false);
    // Attribute changes find no object to change.
    const mod = await gw.requestItem(Operation.DeleteAttribute, [L3('billing'), structure(Tag.AttributeReference, [])]);
    expect(mod.resultStatus).toBe(ResultStatus.OperationFailed);
    // Another service's wrapping object, and an application identity: refused.
    const otherAttrs = await gw.requestItem(Operation.GetAttributes, [L3('orders')]);
    expect(otherAttrs.resultMessage).toBe('service orders is not allowed for this gateway');
    const appGet = await app.requestItem(Operation.Get, [L3('billing')]);
    expect(appGet.resultReason).toBe(ResultReason.PermissionDenied);
    expect(appGet.resultMessage).toMatch(/only a gateway identity/);
    const r = (await app.batch([wrapItem('billing', Buffer.alloc(32, 1), 'x')])).batchItems[0]!;
    expect(r.resultReason).toBe(ResultReason.PermissionDenied);
    expect(r.resultMessage).toMatch(/only a gateway identity/);
  });

  it('bulk wrap: one Encrypt item with many Data wraps each key (own nonce), one audit record naming the count', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => Buffer.alloc(i % 2 ? 16 : 32, i + 1));
    const payload = structure(Tag.RequestPayload, [L3('billing'), ...keys.map((k) => byteString(Tag.Data, k)), byteString(Tag.AuthenticatedEncryptionAdditionalData, Buffer.from('bulk'))]);
    const r = (await gw.batch([{ operation: Operation.Encrypt, payload }])).batchItems[0]!;
    expect(r.resultStatus).toBe(ResultStatus.Success);
    const blobs = r.payload!.value.filter((c) => c.tag === Tag.Data).map((c) => c.value as Buffer);
    expect(blobs).toHaveLength(300);
    // Every blob has its own nonce, and each opens alone to its own key.
    expect(new Set(blobs.map((b) => b.subarray(5, 17).toString('hex'))).size).toBe(300);
    const un = await gw.batch(blobs.slice(0, 20).map((b) => unwrapItem('billing', b, 'bulk')));
    un.batchItems.forEach((it, i) => expect(dataOf(it).equals(keys[i]!)).toBe(true));
    const tail = (await json(['audit', 'tail', '-n', '2000'])).records as Obj[];
    const bulk = tail.filter((x) => x.operation === 'Encrypt' && x.detail === '300 keys wrapped under service billing');
    expect(bulk).toHaveLength(1);
    expect(bulk[0]).toMatchObject({ tenant: 'acme', service: 'billing', objectId: 'openkcm:service-l3:billing', result: 'success' });
    // Bounded: 1025 keys in one item, or one oversized key among them, fail the item and wrap nothing.
    const tooMany = structure(Tag.RequestPayload, [L3('billing'), ...Array.from({ length: 1025 }, () => byteString(Tag.Data, Buffer.alloc(32, 1)))]);
    const big = (await gw.batch([{ operation: Operation.Encrypt, payload: tooMany }])).batchItems[0]!;
    expect(big).toMatchObject({ resultReason: ResultReason.InvalidField, resultMessage: 'one Encrypt item wraps at most 1024 keys, not 1025' });
    expect(big.payload).toBeUndefined();
    const mixed = structure(Tag.RequestPayload, [L3('billing'), byteString(Tag.Data, Buffer.alloc(32, 1)), byteString(Tag.Data, Buffer.alloc(65, 1))]);
    const m = (await gw.batch([{ operation: Operation.Encrypt, payload: mixed }])).batchItems[0]!;
    expect(m.resultReason).toBe(ResultReason.InvalidField);
    expect(m.payload).toBeUndefined();
  });

  it('after rotation new keys carry the new L3 version and old blobs still unwrap', async () => {
    const key = Buffer.alloc(16, 3);
    const old = dataOf((await gw.batch([wrapItem('billing', key, 'r')])).batchItems[0]!);
    const before = old.readUInt32BE(1);
    await json(['service', 'rotate', 'acme', 'billing']);
    const fresh = dataOf((await gw.batch([wrapItem('billing', key, 'r')])).batchItems[0]!);
    expect(fresh.readUInt32BE(1)).toBe(before + 1);
    const un = await gw.batch([unwrapItem('billing', old, 'r'), unwrapItem('billing', fresh, 'r')]);
    for (const it of un.batchItems) expect(dataOf(it).equals(key)).toBe(true);
  });

  it('audits every wrap/unwrap batch item and refuses a sealed tenant', async () => {
    const tail = (await json(['audit', 'tail', '-n', '500'])).records as Obj[];
    const wraps = tail.filter((r) => r.kind === 'kmip' && r.operation === 'Encrypt' && r.objectId === 'openkcm:service-l3:billing' && r.tenant === 'acme');
    expect(wraps.length).toBeGreaterThanOrEqual(40);
    await json(['tenant', 'seal', 'acme']);
    const r = (await gw.batch([wrapItem('billing', Buffer.alloc(32, 1), 'x')])).batchItems[0]!;
    expect(r.resultReason).toBe(ResultReason.PermissionDenied);
    expect(r.resultMessage).toMatch(/tenant acme is sealed/);
    await json(['tenant', 'unseal', 'acme']);
  });
});
