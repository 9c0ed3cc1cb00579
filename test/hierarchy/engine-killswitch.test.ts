// The kill switch under load (issue 6): while concurrent tasks read objects through the
// operations, killSwitch() seals the tenant; the next request after the call fails with
// PermissionDenied, the tenant's L2/L3 buffers are zeros, and another tenant is untouched.
// The latency figure (≤ 100 ms) is measured in bench/hierarchy.ts; this test asserts the behaviour.
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { openHierarchy, type OpenedHierarchy } from '../../src/hierarchy/hierarchy-protector.ts';
import { create } from '../../src/operations/create.ts';
import { get } from '../../src/operations/get.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm as Alg, ObjectType, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import type { OperationContext } from '../../src/operations/types.ts';
import { makeContextFor } from '../helpers/context.ts';
import { allZero, softwareL1, TempDirs } from './engine-helpers.ts';

const dirs = new TempDirs();
let store: SqliteStore | undefined;
let h: OpenedHierarchy | undefined;
afterEach(async () => {
  await h?.close();
  await store?.close();
  dirs.cleanup();
});

const getReq = (uid: string) => structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]);

async function makeKeys(ctx: OperationContext, n: number): Promise<string[]> {
  const uids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await create.run(ctx, structure(Tag.RequestPayload, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256)]),
    ]));
    uids.push((child(r, Tag.UniqueIdentifier) as { value: string }).value);
  }
  return uids;
}

describe('kill switch under load', () => {
  it('the first request after the call is refused, the buffers are zero, the other tenant keeps serving', async () => {
    store = await openSqliteStore(':memory:');
    const { l1: l1A } = await softwareL1(dirs);
    const { l1: l1B } = await softwareL1(dirs);
    h = await openHierarchy(store, { statusCheckIntervalMs: 0, tenants: { victim: l1A, bystander: l1B } });
    const victim = await makeContextFor(store, h.protector, 'victim', 'app');
    const bystander = await makeContextFor(store, h.protector, 'bystander', 'app');
    // Two services, so the tenant holds an L2 and two L3s.
    const other = await makeContextFor(store, h.protector, 'victim', 'reports');
    const uids = await makeKeys(victim.ctx, 5);
    await makeKeys(other.ctx, 1);
    const byUids = await makeKeys(bystander.ctx, 2);
    const buffers = h.engine.liveKeyBuffersForTests('victim');
    expect(buffers).toHaveLength(3);
    expect(buffers.some(allZero)).toBe(false);

    // Readers: each records, per request, when it started and how it ended.
    let killedAt = Infinity;
    let stop = false;
    const results: { start: number; ok: boolean; reason?: number; message?: string }[] = [];
    const reader = async (ctx: OperationContext, list: string[], sink: typeof results | undefined) => {
      for (let i = 0; !stop; i++) {
        // Requests arrive from sockets in a server: yield to the event loop between them,
        // or the loop would run on microtasks alone and starve every timer.
        await new Promise((r) => setImmediate(r));
        const start = performance.now();
        try {
          await get.run(ctx, getReq(list[i % list.length]!));
          sink?.push({ start, ok: true });
        } catch (e) {
          if (!(e instanceof KmipError)) throw e;
          sink?.push({ start, ok: false, reason: e.reason, message: e.message });
        }
      }
    };
    const bystanderResults: typeof results = [];
    const loops = [reader(victim.ctx, uids, results), reader(victim.ctx, uids, results), reader(bystander.ctx, byUids, bystanderResults)];
    await new Promise((r) => setTimeout(r, 100));
    expect(results.filter((r) => r.ok).length).toBeGreaterThan(0);

    killedAt = performance.now();
    const done = h.engine.killSwitch('victim');
    // Synchronous: sealed and zeroized before any other task runs.
    expect(buffers.every(allZero)).toBe(true);
    expect(h.engine.liveKeyBuffersForTests('victim')).toEqual([]);
    await done;
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(loops);

    const after = results.filter((r) => r.start > killedAt);
    expect(after.length).toBeGreaterThan(0);
    for (const r of after) {
      expect(r).toEqual({ start: r.start, ok: false, reason: ResultReason.PermissionDenied, message: 'tenant victim is sealed: kill switch: the L1 pointer was disabled' });
    }
    expect(buffers.every(allZero)).toBe(true);
    expect(bystanderResults.length).toBeGreaterThan(0);
    expect(bystanderResults.every((r) => r.ok)).toBe(true);
    await expect(get.run(bystander.ctx, getReq(byUids[0]!))).resolves.toBeDefined();
    expect(h.engine.status('victim')).toMatchObject({ sealed: true, sealKind: 'kill-switch', killed: true });
    expect((await store.getTenantL1('victim'))?.state).toBe('disabled');
  });
});
