import { describe, expect, it } from 'vitest';
import { KmipError } from '../../src/kmip/errors.ts';
import { boolean, byteString, structure } from '../../src/kmip/items.ts';
import { StreamTable, streamStep, type StreamOwner } from '../../src/operations/common/streaming.ts';
import { Operation, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';

const owner = (tenant = 'a', uid = 'k1'): StreamOwner => ({ tenant, service: 's', operation: Operation.Encrypt, uid });
const reason = (f: () => unknown): number | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
  return undefined;
};

function tracked() {
  let disposed = 0;
  return { state: { dispose: () => void disposed++ }, disposed: () => disposed };
}

describe('StreamTable limits', () => {
  it('caps open streams per tenant and in total with Server Limit Exceeded, disposing the refused state', () => {
    const table = new StreamTable({ maxStreamsPerTenant: 2, maxStreams: 3, maxBufferedBytes: 1, idleTimeoutMs: 1e9, maxLifetimeMs: 1e9 });
    table.open(owner('a'), tracked().state);
    table.open(owner('a'), tracked().state);
    const refused = tracked();
    expect(reason(() => table.open(owner('a'), refused.state))).toBe(ResultReason.ServerLimitExceeded);
    expect(refused.disposed()).toBe(1);
    table.open(owner('b'), tracked().state); // another tenant still has room...
    expect(reason(() => table.open(owner('c'), tracked().state))).toBe(ResultReason.ServerLimitExceeded); // ...until the process total
    expect(table.count('a')).toBe(2);
    expect(table.count()).toBe(3);
  });

  it('drops idle and over-age streams and disposes of them', () => {
    let now = 0;
    const table = new StreamTable({ maxStreamsPerTenant: 10, maxStreams: 10, maxBufferedBytes: 1, idleTimeoutMs: 100, maxLifetimeMs: 250 }, () => now);
    const idle = tracked();
    const busy = tracked();
    const idleId = table.open(owner('a', 'k1'), idle.state);
    const busyId = table.open(owner('a', 'k2'), busy.state);
    for (now = 50; now <= 200; now += 50) table.get(owner('a', 'k2'), busyId);
    expect(idle.disposed()).toBe(1);
    expect(reason(() => table.get(owner('a', 'k1'), idleId))).toBe(ResultReason.InvalidCorrelationValue);
    now = 260; // past the lifetime although used recently
    expect(reason(() => table.get(owner('a', 'k2'), busyId))).toBe(ResultReason.InvalidCorrelationValue);
    expect(busy.disposed()).toBe(1);
  });

  it('a stream answers only its owner; close disposes', () => {
    const table = new StreamTable();
    const s = tracked();
    const id = table.open(owner(), s.state);
    expect(reason(() => table.get(owner('b'), id))).toBe(ResultReason.InvalidCorrelationValue);
    expect(reason(() => table.get(owner('a', 'k2'), id))).toBe(ResultReason.InvalidCorrelationValue);
    expect(reason(() => table.get({ ...owner(), operation: Operation.Decrypt }, id))).toBe(ResultReason.InvalidCorrelationValue);
    expect(table.get(owner(), id)).toBe(s.state);
    table.close(id);
    expect(s.disposed()).toBe(1);
    expect(reason(() => table.get(owner(), id))).toBe(ResultReason.InvalidCorrelationValue);
  });
});

describe('streamStep', () => {
  const p = (...f: Parameters<typeof structure>[1]) => structure(Tag.RequestPayload, f);
  it('reads the indicators', () => {
    expect(streamStep(p())).toEqual({ kind: 'single' });
    expect(streamStep(p(boolean(Tag.InitIndicator, true), boolean(Tag.FinalIndicator, true)))).toEqual({ kind: 'single' });
    expect(streamStep(p(boolean(Tag.InitIndicator, true)))).toEqual({ kind: 'first' });
    const c = Buffer.alloc(16, 1);
    expect(streamStep(p(byteString(Tag.CorrelationValue, c)))).toEqual({ kind: 'next', correlation: c, final: false });
    expect(streamStep(p(byteString(Tag.CorrelationValue, c), boolean(Tag.FinalIndicator, true)))).toEqual({ kind: 'next', correlation: c, final: true });
  });
  it('refuses Init Indicator with a Correlation Value, and an empty Correlation Value', () => {
    expect(reason(() => streamStep(p(boolean(Tag.InitIndicator, true), byteString(Tag.CorrelationValue, Buffer.alloc(16)))))).toBe(ResultReason.InvalidField);
    expect(reason(() => streamStep(p(byteString(Tag.CorrelationValue, Buffer.alloc(0)))))).toBe(ResultReason.InvalidCorrelationValue);
  });
});
