// Asynchronous operations over real mutual TLS (issue 13 §1; src/server/async-operations.ts):
// Create Key Pair with the Asynchronous Indicator answers Operation Pending with a
// correlation value, Poll returns Pending and then the real response (1.4 and 2.1), Cancel
// before the first write leaves nothing behind, another identity or tenant learns nothing,
// the outstanding limit, the result TTL, and a seal while pending.
//
// The registry is the real one. Where a test needs an operation to be still running when it
// Polls or Cancels (instead of racing the key generation), Create Key Pair is wrapped so
// that it waits for the test before it starts, or after its first write; the wrapped
// operation itself is the real one, over the real gated repository.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CancellationResult, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, LinkType, Operation, RecommendedCurve, ResultReason, ResultStatus,
  ValidityIndicator,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { byteString, child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import type { ResponseBatchItem } from '../../src/kmip/message.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import { KmipClient } from '../../src/client/index.ts';
import { createCa, issueLeaf, type IssuedCertificate } from '../../src/server/devpki.ts';
import { startServer, type RunningServer } from '../../src/server/listener.ts';
import { certificateFingerprint, openRuntime, type Runtime } from '../../src/server/runtime.ts';
import { OPERATIONS } from '../../src/operations/registry.ts';
import type { ObjectRepository, OperationHandler } from '../../src/operations/types.ts';
import { ASYNC_RESULT_TTL_MS } from '../../src/server/async-operations.ts';
import type { AuditRecord } from '../../src/audit/index.ts';

const V21: ProtocolVersion = { major: 2, minor: 1 };
const V14: ProtocolVersion = { major: 1, minor: 4 };
const PER_TENANT = 3;

interface Deferred { promise: Promise<void>; resolve(): void }
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** What the wrapped Create Key Pair waits for: before it starts, and after its first write. */
let hold: { before?: Promise<void>; afterFirstWrite?: Promise<void> } = {};
const realCreateKeyPair = OPERATIONS.get(Operation.CreateKeyPair)!;
const heldCreateKeyPair: OperationHandler = {
  ...realCreateKeyPair,
  async run(ctx, payload) {
    const h = hold;
    if (h.before) await h.before;
    let objects: ObjectRepository = ctx.objects;
    if (h.afterFirstWrite) {
      const inner = ctx.objects;
      let first = true;
      objects = {
        create: async (o) => {
          const r = await inner.create(o);
          if (first) { first = false; await h.afterFirstWrite; }
          return r;
        },
        save: (o) => inner.save(o), load: (u) => inner.load(u), scan: (f) => inner.scan(f),
      };
    }
    return realCreateKeyPair.run({ ...ctx, objects }, payload);
  },
};

let clockSkewMs = 0;
let rt: Runtime;
let server: RunningServer;
let caPem: string;
const certs: Record<string, IssuedCertificate> = {};
const clients: KmipClient[] = [];

beforeAll(async () => {
  const ca = await createCa('Async CA');
  caPem = ca.certPem;
  const serverCert = await issueLeaf(ca, 'server', 'localhost', { names: ['localhost', '127.0.0.1'] });
  for (const name of ['alpha', 'alpha2', 'beta', 'limited']) certs[name] = await issueLeaf(ca, 'client', `async-${name}`);
  rt = await openRuntime({
    operations: new Map([...OPERATIONS, [Operation.CreateKeyPair, heldCreateKeyPair]]),
    asyncOperations: { settings: { maxPerTenant: PER_TENANT }, now: () => Date.now() + clockSkewMs },
  });
  const g = rt.governance;
  for (const t of ['alpha', 'beta', 'gamma']) {
    g.createTenant({ id: t });
    g.createService({ tenant: t, id: 'app' });
  }
  const fp = (n: string) => ({ kind: 'fingerprint' as const, sha256: certificateFingerprint(certs[n]!.certPem) });
  g.addIdentity({ tenant: 'alpha', service: 'app', role: 'admin', match: fp('alpha') });
  g.addIdentity({ tenant: 'alpha', service: 'app', role: 'admin', match: fp('alpha2') });
  g.addIdentity({ tenant: 'beta', service: 'app', role: 'admin', match: fp('beta') });
  // May create key pairs but not Poll: served synchronously.
  g.createRole({ name: 'keys-no-poll', operations: ['CreateKeyPair', 'Cancel'] });
  g.addIdentity({ tenant: 'gamma', service: 'app', role: 'keys-no-poll', match: fp('limited') });
  server = await startServer({ listen: { host: '127.0.0.1', port: 0 }, tls: { ca: caPem, cert: serverCert.certPem, key: serverCert.keyPem } }, rt);
}, 120_000);

afterAll(async () => {
  hold = {};
  for (const c of clients) await c.close().catch(() => undefined);
  await server?.close(500);
  await rt?.close();
});

async function connect(who: string, version: ProtocolVersion = V21): Promise<KmipClient> {
  const c = await KmipClient.connect({
    host: '127.0.0.1', port: server.address().port, ca: caPem, cert: certs[who]!.certPem, key: certs[who]!.keyPem,
    servername: 'localhost', version, timeoutMs: 120_000,
  });
  clients.push(c);
  return c;
}

const A1 = (name: string, v: TtlvItem) => structure(Tag.Attribute, [textString(Tag.AttributeName, name), { ...v, tag: Tag.AttributeValue } as TtlvItem]);
const uidField = (u: string) => textString(Tag.UniqueIdentifier, u);
const holdsText = (i: TtlvItem, t: string): boolean => (i.type === 'Structure' ? i.value.some((c) => holdsText(c, t)) : i.value === t);
const text = (s: Struct, tag: number) => (child(s, tag) as { value: string }).value;

/** Create Key Pair request payload in the client's version: RSA of `bits`, EC P-256 when bits is 0, AES (refused) when -1. */
function keyPairPayload(v: ProtocolVersion, bits: number): TtlvItem[] {
  const alg = bits === 0 ? Alg.EC : bits < 0 ? Alg.AES : Alg.RSA;
  if (bits < 0) bits = 256;
  if (v.major === 1) {
    const common = [A1('Cryptographic Algorithm', enumeration(0, alg)), A1('Cryptographic Length', integer(0, bits || 256))];
    return [
      structure(Tag.CommonTemplateAttribute, common),
      structure(Tag.PrivateKeyTemplateAttribute, [A1('Cryptographic Usage Mask', integer(0, CUM.Sign))]),
      structure(Tag.PublicKeyTemplateAttribute, [A1('Cryptographic Usage Mask', integer(0, CUM.Verify))]),
    ];
  }
  const common: TtlvItem[] = [enumeration(Tag.CryptographicAlgorithm, alg), integer(Tag.CryptographicLength, bits || 256)];
  if (bits === 0) common.push(structure(Tag.CryptographicDomainParameters, [enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)]));
  return [
    structure(Tag.CommonAttributes, common),
    structure(Tag.PrivateKeyAttributes, [integer(Tag.CryptographicUsageMask, CUM.Sign)]),
    structure(Tag.PublicKeyAttributes, [integer(Tag.CryptographicUsageMask, CUM.Verify)]),
  ];
}

/** Sends Create Key Pair with the Asynchronous Indicator (2.x Optional, 1.x true). */
const createAsync = (c: KmipClient, bits: number, mode: 'optional' | 'mandatory' = 'optional') =>
  c.requestItem(Operation.CreateKeyPair, keyPairPayload(c.version, bits), { asynchronousIndicator: mode });

const pollItem = (c: KmipClient, v: Buffer) => c.requestItem(Operation.Poll, [byteString(Tag.AsynchronousCorrelationValue, v)]);
async function cancelResult(c: KmipClient, v: Buffer): Promise<number> {
  const r = await c.request(Operation.Cancel, [byteString(Tag.AsynchronousCorrelationValue, v)]);
  expect((child(r, Tag.AsynchronousCorrelationValue) as { value: Buffer }).value).toEqual(v);
  return (child(r, Tag.CancellationResult) as { value: number }).value;
}

/** Polls until the operation is no longer pending (every answer before is Pending with the same value). */
async function pollUntilDone(c: KmipClient, v: Buffer): Promise<ResponseBatchItem> {
  for (;;) {
    const r = await pollItem(c, v);
    if (r.resultStatus !== ResultStatus.OperationPending) return r;
    expect(r.asynchronousCorrelationValue).toEqual(v);
    expect(r.payload).toBeUndefined();
    await new Promise((res) => setTimeout(res, 25));
  }
}

function pending(r: ResponseBatchItem): Buffer {
  expect(r.resultStatus, r.resultMessage).toBe(ResultStatus.OperationPending);
  expect(r.operation).toBe(Operation.CreateKeyPair);
  expect(r.payload).toBeUndefined();
  expect(r.asynchronousCorrelationValue?.length).toBe(32);
  return r.asynchronousCorrelationValue!;
}

/** The first audit record after `after` that `pred` accepts, once it is written. */
async function waitForRecord(after: number, pred: (r: AuditRecord) => boolean): Promise<AuditRecord> {
  for (;;) {
    rt.audit.flush();
    const r = rt.audit.readAfter(after, 10_000).find(pred);
    if (r !== undefined) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
}

const lastSeq = () => { rt.audit.flush(); return rt.audit.lastSeq(); };

/**
 * Waits until the operation of `v` has ended: its completion record is written (the result
 * is stored right after it, so Cancel is asked until it no longer says Unable to Cancel).
 */
async function completion(after: number, v: Buffer, c: KmipClient): Promise<void> {
  await waitForRecord(after, (r) => r.operation === 'CreateKeyPair' && /asynchronous operation (completed|failed)/.test(r.detail ?? ''));
  while (await cancelResultQuiet(c, v) === CancellationResult.UnableToCancel) await new Promise((res) => setTimeout(res, 20));
}
/** An EC pair created asynchronously, ended and not yet polled. */
async function completedOperation(c: KmipClient): Promise<Buffer> {
  const start = lastSeq();
  const v = pending(await createAsync(c, 0));
  await completion(start, v, c);
  return v;
}
async function cancelResultQuiet(c: KmipClient, v: Buffer): Promise<number> {
  const r = await c.request(Operation.Cancel, [byteString(Tag.AsynchronousCorrelationValue, v)]);
  return (child(r, Tag.CancellationResult) as { value: number }).value;
}

async function objectCount(tenant: string): Promise<number> {
  let n = 0;
  for await (const _ of rt.store.scan(tenant, {})) n++;
  return n;
}

async function signAndVerify(c: KmipClient, priv: string, pub: string): Promise<void> {
  await c.request(Operation.Activate, [uidField(priv)]);
  await c.request(Operation.Activate, [uidField(pub)]);
  const msg = byteString(Tag.Data, Buffer.from('signed after an asynchronous Create Key Pair'));
  const sig = (child(await c.request(Operation.Sign, [uidField(priv), msg]), Tag.SignatureData) as { value: Buffer }).value;
  const v = await c.request(Operation.SignatureVerify, [uidField(pub), msg, byteString(Tag.SignatureData, sig)]);
  expect((child(v, Tag.ValidityIndicator) as { value: number }).value).toBe(ValidityIndicator.Valid);
}

describe('asynchronous Create Key Pair over mutual TLS', () => {
  it('2.1: RSA-4096 with Asynchronous Indicator Optional → Pending; Poll → Pending while it runs, then the real response; the pair works; a second Poll → Invalid Asynchronous Correlation Value', async () => {
    const c = await connect('alpha');
    const start = lastSeq();
    const go = deferred();
    hold = { before: go.promise };
    const v = pending(await createAsync(c, 4096));
    // The connection is free while the operation runs: other requests are answered.
    expect((await c.requestItem(Operation.Query, [])).resultStatus).toBe(ResultStatus.Success);
    const still = await pollItem(c, v);
    expect(still.resultStatus).toBe(ResultStatus.OperationPending);
    expect(still.operation).toBe(Operation.Poll);
    expect(still.asynchronousCorrelationValue).toEqual(v);
    hold = {};
    go.resolve();
    const done = await pollUntilDone(c, v);
    expect(done.resultStatus, done.resultMessage).toBe(ResultStatus.Success);
    const priv = text(done.payload!, Tag.PrivateKeyUniqueIdentifier);
    const pub = text(done.payload!, Tag.PublicKeyUniqueIdentifier);
    const got = await c.request(Operation.Get, [uidField(pub)]);
    expect(text(got, Tag.UniqueIdentifier)).toBe(pub);
    const attrs = await c.request(Operation.GetAttributes, [uidField(priv)]);
    expect(holdsText(attrs, pub)).toBe(true);
    await signAndVerify(c, priv, pub);
    // Delivered once.
    const again = await pollItem(c, v);
    expect(again.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(again.resultReason).toBe(ResultReason.InvalidAsynchronousCorrelationValue);
    // Accepted and completed: two records with one reference.
    const accepted = await waitForRecord(start, (r) => r.operation === 'CreateKeyPair' && /accepted for asynchronous processing/.test(r.detail ?? ''));
    const ref = /asynchronous reference ([0-9a-f]+)/.exec(accepted.detail!)![1]!;
    const completed = await waitForRecord(start, (r) => r.operation === 'CreateKeyPair' && (r.detail ?? '').includes(`completed (asynchronous reference ${ref})`));
    expect(completed).toMatchObject({ result: 'success', objectId: priv, tenant: 'alpha' });
    expect(completed.seq).toBeGreaterThan(accepted.seq);
  }, 300_000);

  it('1.4: Asynchronous Indicator true → Pending; Poll gives the 1.x response; a second Poll → Invalid Field (1.x has no Invalid Asynchronous Correlation Value)', async () => {
    const c = await connect('alpha', V14);
    const v = pending(await createAsync(c, 2048));
    const done = await pollUntilDone(c, v);
    expect(done.resultStatus, done.resultMessage).toBe(ResultStatus.Success);
    const priv = text(done.payload!, Tag.PrivateKeyUniqueIdentifier);
    const pub = text(done.payload!, Tag.PublicKeyUniqueIdentifier);
    // 1.x shaping: Get Attributes answers Attribute structures, and the Link names the public key.
    const attrs = await c.request(Operation.GetAttributes, [uidField(priv), textString(Tag.AttributeName, 'Link')]);
    const link = children(attrs, Tag.Attribute)[0] as Struct;
    expect(holdsText(link, pub)).toBe(true);
    expect((child(child(link, Tag.AttributeValue) as Struct, Tag.LinkType) as { value: number }).value).toBe(LinkType.PublicKeyLink);
    await signAndVerify(c, priv, pub);
    const again = await pollItem(c, v);
    expect(again.resultReason).toBe(ResultReason.InvalidField);
  }, 300_000);

  it('Cancel before the first write → Canceled, nothing stored, Poll → Operation Canceled By Requester; Cancel of a completed one → Completed; of a failed one → Failed; unknown → Unavailable', async () => {
    const c = await connect('alpha');
    const before = await objectCount('alpha');
    const start = lastSeq();
    const go = deferred();
    hold = { before: go.promise };
    const v = pending(await createAsync(c, 0));
    expect(await cancelResult(c, v)).toBe(CancellationResult.Canceled);
    expect(await cancelResult(c, v)).toBe(CancellationResult.Canceled);
    hold = {};
    go.resolve();
    await waitForRecord(start, (r) => r.operation === 'CreateKeyPair' && /stopped before it stored anything/.test(r.detail ?? ''));
    expect(await objectCount('alpha')).toBe(before);
    const polled = await pollItem(c, v);
    expect(polled.resultReason).toBe(ResultReason.OperationCanceledByRequester);

    // Completed but not yet polled → Completed (and the result is still there).
    const done = await completedOperation(c);
    expect(await cancelResult(c, done)).toBe(CancellationResult.Completed);
    expect((await pollUntilDone(c, done)).resultStatus).toBe(ResultStatus.Success);

    // AES asked of Create Key Pair is refused by the operation itself, in the background.
    const bad = pending(await createAsync(c, -1));
    await waitForRecord(start, (r) => r.operation === 'CreateKeyPair' && r.result === 'failure' && /asynchronous operation failed/.test(r.detail ?? ''));
    expect(await cancelResult(c, bad)).toBe(CancellationResult.Failed);
    const failed = await pollItem(c, bad);
    expect(failed.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(failed.resultReason).toBe(ResultReason.InvalidField);
    expect(await cancelResult(c, Buffer.alloc(32, 7))).toBe(CancellationResult.Unavailable);
  }, 300_000);

  it('Cancel after the first write → Unable to Cancel, and the operation completes', async () => {
    const c = await connect('alpha');
    const before = await objectCount('alpha');
    const wrote = deferred();
    hold = { afterFirstWrite: wrote.promise };
    const v = pending(await createAsync(c, 0));
    // Past its commit point once the first half of the pair is stored (it then waits for the test).
    while ((await objectCount('alpha')) === before) {
      expect((await pollItem(c, v)).resultStatus).toBe(ResultStatus.OperationPending);
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(await cancelResult(c, v)).toBe(CancellationResult.UnableToCancel);
    expect((await pollItem(c, v)).resultStatus).toBe(ResultStatus.OperationPending);
    hold = {};
    wrote.resolve();
    const done = await pollUntilDone(c, v);
    expect(done.resultStatus).toBe(ResultStatus.Success);
  }, 120_000);

  it('another identity of the tenant, and another tenant, learn nothing: Poll → Invalid Asynchronous Correlation Value, Cancel → Unavailable; the owner still gets its result', async () => {
    const owner = await connect('alpha');
    const sibling = await connect('alpha2');
    const stranger = await connect('beta');
    const go = deferred();
    hold = { before: go.promise };
    const v = pending(await createAsync(owner, 0));
    for (const other of [sibling, stranger]) {
      const p = await pollItem(other, v);
      expect(p.resultReason).toBe(ResultReason.InvalidAsynchronousCorrelationValue);
      const unknown = await pollItem(other, Buffer.alloc(32, 9));
      expect(p.resultMessage).toBe(unknown.resultMessage);
      expect(await cancelResult(other, v)).toBe(CancellationResult.Unavailable);
    }
    hold = {};
    go.resolve();
    expect((await pollUntilDone(owner, v)).resultStatus).toBe(ResultStatus.Success);
  }, 120_000);

  it(`over ${PER_TENANT} outstanding operations of a tenant → Server Limit Exceeded; a result delivered frees its place`, async () => {
    const c = await connect('alpha');
    const go = deferred();
    hold = { before: go.promise };
    const values: Buffer[] = [];
    for (let i = 0; i < PER_TENANT; i++) values.push(pending(await createAsync(c, 0)));
    const over = await createAsync(c, 0);
    expect(over.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(over.resultReason).toBe(ResultReason.ServerLimitExceeded);
    expect(over.resultMessage).toMatch(/MAX_ASYNC_PER_TENANT = 3/);
    // Another tenant has its own places.
    const other = await connect('beta');
    const b = pending(await createAsync(other, 0));
    hold = {};
    go.resolve();
    for (const v of values) expect((await pollUntilDone(c, v)).resultStatus).toBe(ResultStatus.Success);
    expect((await pollUntilDone(other, b)).resultStatus).toBe(ResultStatus.Success);
    const freed = pending(await createAsync(c, 0));
    expect((await pollUntilDone(c, freed)).resultStatus).toBe(ResultStatus.Success);
  }, 120_000);

  it('a result not polled within the TTL is dropped', async () => {
    const c = await connect('beta');
    // Completed (Cancel says so), then the clock passes the TTL.
    const v = await completedOperation(c);
    expect(await cancelResult(c, v)).toBe(CancellationResult.Completed);
    clockSkewMs = ASYNC_RESULT_TTL_MS + 1_000;
    try {
      const p = await pollItem(c, v);
      expect(p.resultReason).toBe(ResultReason.InvalidAsynchronousCorrelationValue);
    } finally {
      clockSkewMs = 0;
    }
  }, 120_000);

  it('the tenant sealed while pending: Poll refused while sealed; after the unseal the operation has failed, nothing was stored, and a result completed before the seal is not served', async () => {
    const c = await connect('beta');
    const finished = await completedOperation(c);
    const start = lastSeq();
    const go = deferred();
    hold = { before: go.promise };
    const running = pending(await createAsync(c, 0));
    const before = await objectCount('beta');
    rt.hierarchy.engine.seal('beta', 'test: sealed while an asynchronous operation is outstanding');
    const refused = await pollItem(c, running);
    expect(refused.resultReason).toBe(ResultReason.PermissionDenied);
    expect(refused.resultMessage).toMatch(/sealed/);
    hold = {};
    go.resolve();
    await waitForRecord(start, (r) => r.tenant === 'beta' && /stopped before it stored anything/.test(r.detail ?? ''));
    await rt.hierarchy.engine.unsealTenant('beta');
    expect(await objectCount('beta')).toBe(before);
    for (const v of [running, finished]) {
      const p = await pollItem(c, v);
      expect(p.resultStatus).toBe(ResultStatus.OperationFailed);
      expect(p.resultReason).toBe(ResultReason.PermissionDenied);
      expect(p.resultMessage).toMatch(/sealed while the operation was outstanding/);
      expect(p.payload).toBeUndefined();
    }
  }, 120_000);

  it('Re-key Key Pair runs asynchronously too: the new pair replaces the old one when it completes', async () => {
    const c = await connect('alpha');
    const old = await c.request(Operation.CreateKeyPair, keyPairPayload(V21, 0));
    const oldPriv = text(old, Tag.PrivateKeyUniqueIdentifier);
    const r = await c.requestItem(Operation.ReKeyKeyPair, [textString(Tag.PrivateKeyUniqueIdentifier, oldPriv)], { asynchronousIndicator: 'optional' });
    expect(r.resultStatus, r.resultMessage).toBe(ResultStatus.OperationPending);
    const done = await pollUntilDone(c, r.asynchronousCorrelationValue!);
    expect(done.resultStatus, done.resultMessage).toBe(ResultStatus.Success);
    const newPriv = text(done.payload!, Tag.PrivateKeyUniqueIdentifier);
    expect(newPriv).not.toBe(oldPriv);
    expect(holdsText(await c.request(Operation.GetAttributes, [uidField(oldPriv)]), newPriv)).toBe(true);
  }, 120_000);

  it('operations not run asynchronously: Optional → processed synchronously; Mandatory → Feature Not Supported; a role that may not Poll is served synchronously', async () => {
    const c = await connect('alpha');
    const created = await c.requestItem(Operation.Create, [
      enumeration(Tag.ObjectType, 2),
      structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256), integer(Tag.CryptographicUsageMask, CUM.Encrypt)]),
    ], { asynchronousIndicator: 'optional' });
    expect(created.resultStatus).toBe(ResultStatus.Success);
    const mandatory = await c.requestItem(Operation.Query, [], { asynchronousIndicator: 'mandatory' });
    expect(mandatory.resultReason).toBe(ResultReason.FeatureNotSupported);
    expect(mandatory.resultMessage).toMatch(/CreateKeyPair/);
    // Mandatory for Create Key Pair is honoured.
    const m = pending(await createAsync(c, 0, 'mandatory'));
    expect((await pollUntilDone(c, m)).resultStatus).toBe(ResultStatus.Success);
    const limited = await connect('limited');
    const sync = await createAsync(limited, 0);
    expect(sync.resultStatus, sync.resultMessage).toBe(ResultStatus.Success);
    expect(text(sync.payload!, Tag.PrivateKeyUniqueIdentifier)).toBeTruthy();
  }, 120_000);
});
