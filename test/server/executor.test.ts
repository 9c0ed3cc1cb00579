import { describe, it, expect } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus, BatchErrorContinuationOption, State } from '../../src/ttlv/generated/enumerations.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { structure, integer, textString, boolean, child, type Struct } from '../../src/kmip/items.ts';
import { parseResponseMessage, protocolVersionItem } from '../../src/kmip/message.ts';
import { SUPPORTED_VERSIONS, type ProtocolVersion } from '../../src/kmip/version.ts';
import { sniffProtocolVersion, replyVersion, reasonForVersion } from '../../src/server/executor.ts';
import { testEngine, request, IDENTITY } from './helpers.ts';

const V21 = { major: 2, minor: 1 }, V14 = { major: 1, minor: 4 }, V12 = { major: 1, minor: 2 };

async function run(req: Struct | Buffer, engine = testEngine().engine) {
  const bytes = Buffer.isBuffer(req) ? req : encode(req);
  const out = await engine.handleBytes(bytes, IDENTITY);
  return parseResponseMessage(decode(out));
}

describe('executor: versions', () => {
  for (const v of SUPPORTED_VERSIONS) {
    it(`answers DiscoverVersions under ${v.major}.${v.minor} in the same version`, async () => {
      const r = await run(request(v, [{ operation: Operation.DiscoverVersions }]));
      expect(r.header.protocolVersion).toEqual(v);
      const item = r.batchItems[0]!;
      // Also under 1.0, although Discover Versions appeared in 1.1: 1.0 clients use it as a ping.
      expect(item.resultStatus).toBe(ResultStatus.Success);
      expect(item.resultReason).toBeUndefined();
      expect(item.payload!.value.filter((c) => c.tag === Tag.ProtocolVersion)).toHaveLength(SUPPORTED_VERSIONS.length);
    });
  }

  it('refuses an unknown 2.x version with UnsupportedProtocolVersion, answered in 2.1', async () => {
    const r = await run(request({ major: 2, minor: 7 }, [{ operation: Operation.DiscoverVersions }]));
    expect(r.header.protocolVersion).toEqual(V21);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.UnsupportedProtocolVersion);
    expect(r.batchItems[0]!.operation).toBeUndefined();
  });

  it('refuses an unknown 1.x version with InvalidMessage, answered in 1.4', async () => {
    const r = await run(request({ major: 1, minor: 9 }, [{ operation: Operation.DiscoverVersions }]));
    expect(r.header.protocolVersion).toEqual(V14);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    expect(r.batchItems[0]!.resultMessage).toMatch(/1\.9 is not supported/);
  });

  it('answers a major it does not know in 2.1', () => {
    expect(replyVersion({ major: 3, minor: 0 })).toEqual(V21);
    expect(replyVersion(undefined)).toEqual({ major: 1, minor: 0 });
  });

  it('maps reasons to what the version defines', () => {
    expect(reasonForVersion(ResultReason.WrongKeyLifecycleState, V12)).toBe(ResultReason.PermissionDenied);
    expect(reasonForVersion(ResultReason.WrongKeyLifecycleState, V21)).toBe(ResultReason.WrongKeyLifecycleState);
    expect(reasonForVersion(ResultReason.IllegalOperation, V21)).toBe(ResultReason.WrongKeyLifecycleState);
    expect(reasonForVersion(ResultReason.IllegalOperation, V14)).toBe(ResultReason.IllegalOperation);
    expect(reasonForVersion(ResultReason.ObjectAlreadyExists, V12)).toBe(ResultReason.InvalidField);
    expect(reasonForVersion(ResultReason.ObjectAlreadyExists, V14)).toBe(ResultReason.ObjectAlreadyExists);
  });
});

describe('executor: malformed messages', () => {
  it('answers undecodable bytes with InvalidMessage, in the sniffed version, saying where', async () => {
    const good = encode(request(V12, [{ operation: Operation.DiscoverVersions }]));
    const bad = Buffer.from(good);
    bad[good.length - 9] = 0x07; // the empty payload's type byte → not a valid type for padding rules
    bad.writeUInt32BE(3, good.length - 4); // an empty Request Payload claiming 3 bytes
    expect(sniffProtocolVersion(bad)).toEqual(V12);
    const r = await run(bad);
    expect(r.header.protocolVersion).toEqual(V12);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    expect(r.batchItems[0]!.resultMessage).toMatch(/cannot decode the request: .* at offset \d+/);
  });

  it('answers garbage in 1.0', async () => {
    const r = await run(Buffer.alloc(24, 0x42));
    expect(r.header.protocolVersion).toEqual({ major: 1, minor: 0 });
    expect(r.batchItems[0]!.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
  });

  it('refuses a header without Protocol Version', async () => {
    const msg = structure(Tag.RequestMessage, [
      structure(Tag.RequestHeader, [integer(Tag.BatchCount, 1)]),
      structure(Tag.BatchItem, [{ tag: Tag.Operation, type: 'Enumeration', value: Operation.DiscoverVersions }, structure(Tag.RequestPayload, [])]),
    ]);
    const r = await run(msg);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    expect(r.batchItems[0]!.resultMessage).toMatch(/ProtocolVersion is missing/);
  });

  it('refuses a 2.x Asynchronous Indicator sent as a Boolean (1.x type) as InvalidMessage', async () => {
    const msg = request(V21, [{ operation: Operation.DiscoverVersions }]);
    (msg.value[0] as Struct).value.splice(1, 0, boolean(Tag.AsynchronousIndicator, true));
    const r = await run(msg);
    expect(r.header.protocolVersion).toEqual(V21);
    expect(r.batchItems[0]!.resultMessage).toMatch(/AsynchronousIndicator must be Enumeration/);
  });

  it('refuses a field the version does not define (Ephemeral in 1.4)', async () => {
    const r = await run(request(V14, [{ operation: Operation.DiscoverVersions, ephemeral: true }]));
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    expect(r.batchItems[0]!.resultMessage).toMatch(/Ephemeral is not defined in KMIP 1\.4/);
  });

  it('checks Batch Count against the items', async () => {
    const msg = request(V21, [{ operation: Operation.DiscoverVersions }, { operation: Operation.DiscoverVersions }]);
    const count = (msg.value[0] as Struct).value.find((c) => c.tag === Tag.BatchCount)!;
    (count as { value: number }).value = 3;
    const r = await run(msg);
    expect(r.batchItems).toHaveLength(1);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    expect(r.batchItems[0]!.resultMessage).toMatch(/BatchCount is 3 but the message holds 2/);
  });
});

describe('executor: batch items', () => {
  it('echoes Unique Batch Item IDs, omits Result Reason on success', async () => {
    const r = await run(request(V21, [
      { operation: Operation.DiscoverVersions, uniqueBatchItemId: Buffer.from('0a0b', 'hex') },
      { operation: Operation.DiscoverVersions, uniqueBatchItemId: Buffer.from('ff', 'hex') },
    ]));
    expect(r.header.batchCount).toBe(2);
    expect(r.batchItems.map((b) => b.uniqueBatchItemId!.toString('hex'))).toEqual(['0a0b', 'ff']);
    for (const b of r.batchItems) expect(b.resultReason).toBeUndefined();
  });

  it('answers an unknown operation with OperationNotSupported', async () => {
    const r = await run(request(V21, [{ operation: Operation.Poll }]));
    expect(r.batchItems[0]!.operation).toBe(Operation.Poll);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.OperationNotSupported);
  });

  it('turns an exception into GeneralFailure without leaking it, and keeps serving', async () => {
    const { engine } = testEngine();
    const r = await run(request(V21, [{ operation: Operation.Check }]), engine);
    expect(r.batchItems[0]!.resultReason).toBe(ResultReason.GeneralFailure);
    expect(r.batchItems[0]!.resultMessage).toMatch(/^internal error \(reference [0-9a-f]+\)$/);
    const again = await run(request(V21, [{ operation: Operation.DiscoverVersions }]), engine);
    expect(again.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
  });

  it('Stop (the default): items after a failure are not processed', async () => {
    const { engine, repo } = testEngine();
    const r = await run(request(V21, [
      { operation: Operation.Create, uniqueBatchItemId: Buffer.from([1]) },
      { operation: Operation.Check, uniqueBatchItemId: Buffer.from([2]) },
      { operation: Operation.Create, uniqueBatchItemId: Buffer.from([3]) },
    ]), engine);
    expect(r.header.batchCount).toBe(2);
    expect(r.batchItems.map((b) => b.resultStatus)).toEqual([ResultStatus.Success, ResultStatus.OperationFailed]);
    expect(repo.objects.size).toBe(1);
  });

  it('Continue: every item is processed', async () => {
    const { engine, repo } = testEngine();
    const r = await run(request(V21, [
      { operation: Operation.Create }, { operation: Operation.Check }, { operation: Operation.Create },
    ], { batchErrorContinuationOption: BatchErrorContinuationOption.Continue }), engine);
    expect(r.batchItems.map((b) => b.resultStatus)).toEqual([ResultStatus.Success, ResultStatus.OperationFailed, ResultStatus.Success]);
    expect(repo.objects.size).toBe(2);
  });

  it('Undo: earlier items are rolled back and reported OperationUndone', async () => {
    const { engine, repo } = testEngine();
    const first = await run(request(V21, [{ operation: Operation.Create }]), engine);
    const uid = (child(first.batchItems[0]!.payload!, Tag.UniqueIdentifier)!.value as string);
    const r = await run(request(V21, [
      { operation: Operation.Activate, payload: structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]) },
      { operation: Operation.Create },
      { operation: Operation.Check },
    ], { batchErrorContinuationOption: BatchErrorContinuationOption.Undo }), engine);
    expect(r.batchItems.map((b) => b.resultStatus)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
    expect(r.batchItems[0]!.payload).toBeDefined();
    expect(repo.objects.size).toBe(1);
    expect(repo.objects.get(uid)!.state).toBe(State.PreActive);
  });

  it('ID Placeholder and 2.x Integer references flow between items', async () => {
    const { engine, repo } = testEngine();
    const r = await run(request(V21, [
      { operation: Operation.Create },
      { operation: Operation.Activate }, // placeholder
      { operation: Operation.Create },
      { operation: Operation.Activate, payload: structure(Tag.RequestPayload, [integer(Tag.UniqueIdentifier, -1)]) },
    ]), engine);
    expect(r.batchItems.every((b) => b.resultStatus === ResultStatus.Success)).toBe(true);
    expect([...repo.objects.values()].every((o) => o.state === State.Active)).toBe(true);
  });

  it('reports a 2.x reason to a 1.x client in its own vocabulary', async () => {
    const { engine } = testEngine();
    const r = await run(request(V12, [{ operation: Operation.Create }, { operation: Operation.Activate }, { operation: Operation.Activate }],
      { batchOrderOption: true }), engine);
    expect(r.batchItems[2]!.resultReason).toBe(ResultReason.PermissionDenied);
  });

  it('Maximum Response Size → ResponseTooLarge', async () => {
    const big = structure(Tag.RequestPayload, [integer(Tag.DataLength, 2000)]);
    const r = await run(request(V21, [{ operation: Operation.RNGRetrieve, payload: big, uniqueBatchItemId: Buffer.from([9]) }], { maximumResponseSize: 512 }));
    const b = r.batchItems[0]!;
    expect(b.resultReason).toBe(ResultReason.ResponseTooLarge);
    expect(b.payload).toBeUndefined();
    expect(b.uniqueBatchItemId).toEqual(Buffer.from([9]));
    const ok = await run(request(V21, [{ operation: Operation.RNGRetrieve, payload: big }], { maximumResponseSize: 4096 }));
    expect(ok.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
  });

  it('Ephemeral (2.x) drops the Data output', async () => {
    const r = await run(request(V21, [{ operation: Operation.RNGRetrieve, ephemeral: true }]));
    expect(r.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    expect(child(r.batchItems[0]!.payload!, Tag.Data)).toBeUndefined();
  });

  it('Asynchronous Indicator Mandatory is refused; Optional (or 1.x true) runs synchronously', async () => {
    const m = await run(request(V21, [{ operation: Operation.DiscoverVersions }], { asynchronousIndicator: 'mandatory' }));
    expect(m.batchItems[0]!.resultReason).toBe(ResultReason.FeatureNotSupported);
    const o = await run(request(V14, [{ operation: Operation.DiscoverVersions }], { asynchronousIndicator: 'optional' }));
    expect(o.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
  });

  it('a critical unknown Message Extension fails the item; a non-critical one is ignored', async () => {
    const ext = (critical: boolean) => structure(Tag.MessageExtension, [
      textString(Tag.VendorIdentification, 'acme'), boolean(Tag.CriticalityIndicator, critical), structure(Tag.VendorExtension, []),
    ]);
    const c21 = await run(request(V21, [{ operation: Operation.DiscoverVersions, messageExtensions: [ext(true)] }]));
    expect(c21.batchItems[0]!.resultReason).toBe(ResultReason.UnknownMessageExtension);
    const c14 = await run(request(V14, [{ operation: Operation.DiscoverVersions, messageExtensions: [ext(true)] }]));
    expect(c14.batchItems[0]!.resultReason).toBe(ResultReason.FeatureNotSupported);
    const n = await run(request(V21, [{ operation: Operation.DiscoverVersions, messageExtensions: [ext(false)] }]));
    expect(n.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
  });

  it('echoes the Client Correlation Value (1.4+) and never sends it to 1.3', async () => {
    const msg = (v: ProtocolVersion) => {
      const m = request(v, [{ operation: Operation.DiscoverVersions }]);
      (m.value[0] as Struct).value.splice(1, 0, textString(Tag.ClientCorrelationValue, 'abc'));
      return m;
    };
    expect((await run(msg(V21))).header.clientCorrelationValue).toBe('abc');
    const r13 = await run(msg({ major: 1, minor: 3 }));
    expect(r13.batchItems[0]!.resultReason).toBe(ResultReason.InvalidMessage);
    expect(r13.header.clientCorrelationValue).toBeUndefined();
  });

  it('volunteers nothing in the response header (PyKMIP 0.10 cannot parse correlation values)', async () => {
    for (const v of [V14, { major: 2, minor: 0 }, V21]) {
      const out = decode(await testEngine().engine.handleBytes(encode(request(v, [{ operation: Operation.DiscoverVersions }])), IDENTITY));
      const header = (out as Struct).value[0] as Struct;
      expect(header.value.map((c) => c.tag)).toEqual([Tag.ProtocolVersion, Tag.TimeStamp, Tag.BatchCount]);
    }
  });

  it('Discover Versions with an offered list returns the intersection', async () => {
    const payload = structure(Tag.RequestPayload, [protocolVersionItem({ major: 3, minor: 0 }), protocolVersionItem(V12)]);
    const r = await run(request(V12, [{ operation: Operation.DiscoverVersions, payload }]));
    expect(r.batchItems[0]!.payload!.value).toHaveLength(1);
  });

  it('a zero-length Unique Batch Item ID is echoed', async () => {
    const r = await run(request(V21, [{ operation: Operation.DiscoverVersions, uniqueBatchItemId: Buffer.alloc(0) }]));
    expect(r.batchItems[0]!.uniqueBatchItemId).toEqual(Buffer.alloc(0));
  });
});

describe('executor: hostile input (fast-check)', () => {
  it('any bytes get a decodable response; the engine never throws', async () => {
    const fc = await import('fast-check');
    const { engine } = testEngine();
    const good = encode(request(V14, [{ operation: Operation.Create }, { operation: Operation.Activate }], { batchOrderOption: true }));
    const mutated = fc.tuple(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }))
      .map(([flips]) => { const b = Buffer.from(good); for (const [i, v] of flips) b[i] = v; return b; });
    const arbitrary = fc.uint8Array({ maxLength: 256 }).map((u) => Buffer.from(u));
    await fc.assert(fc.asyncProperty(fc.oneof(mutated, arbitrary), async (bytes) => {
      const out = await engine.handleBytes(bytes, IDENTITY);
      const r = parseResponseMessage(decode(out));
      expect(r.batchItems.length).toBeGreaterThan(0);
      for (const b of r.batchItems) if (b.resultStatus === ResultStatus.Success) expect(b.resultReason).toBeUndefined();
    }), { numRuns: 400, seed: 20240601 });
  });
});
