// The runtime on a PostgreSQL vault (issue 10 §4), with the real engine, registry and
// hierarchy: two runtimes on one database are two nodes of a region. What one node writes,
// the other reads at once; what one node does to the hierarchy (L3 rotation, L2 rotation,
// kill switch) reaches the other through LISTEN/NOTIFY; a node that missed a notification
// still reads values under an L3 version it did not hold.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/ttlv/encode.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultStatus, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { structure, enumeration, textString, child, type Struct } from '../../src/kmip/items.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { HierarchyEngine } from '../../src/hierarchy/engine.ts';
import { openRuntime, type Runtime, type RuntimeOptions } from '../../src/server/runtime.ts';
import { StoreConnectionError } from '../../src/store/postgres.ts';
import { IDENTITY, request } from './helpers.ts';
import { aes256KeyItems } from './audit-payloads.ts';
import { uniqueDatabaseName, usePostgres } from '../helpers/postgres.ts';

const cluster = usePostgres();
const V21 = { major: 2, minor: 1 };
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Two nodes of one region: one PostgreSQL vault, one (shared) development L1 key, each its own local SQLite. */
async function twoNodes(extra: Partial<RuntimeOptions> = {}, extraB: Partial<RuntimeOptions> = {}) {
  const url = await cluster().createDatabase(uniqueDatabaseName('rt'));
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-rtpg-'));
  dirs.push(dir);
  const l1KeyFile = join(dir, 'l1.key');
  const a = await openRuntime({ databaseUrl: url, l1KeyFile, ...extra });
  const b = await openRuntime({ databaseUrl: url, l1KeyFile, ...extra, ...extraB });
  return { url, l1KeyFile, a, b };
}

async function call(rt: Runtime, operation: number, payload: Struct) {
  const out = parseResponseMessage(decode(await rt.engine.handleBytes(encode(request(V21, [{ operation, payload }])), IDENTITY)));
  return out.batchItems[0]!;
}

function registerPayload(key: Buffer, name: string): Struct {
  return structure(Tag.RequestPayload, aes256KeyItems(key, [structure(Tag.Name, [textString(Tag.NameValue, name), enumeration(Tag.NameType, 1)])]));
}

async function register(rt: Runtime, key: Buffer, name: string): Promise<string> {
  const item = await call(rt, Operation.Register, registerPayload(key, name));
  expect(item.resultStatus, item.resultMessage).toBe(ResultStatus.Success);
  return child(item.payload!, Tag.UniqueIdentifier)!.value as string;
}

async function getKey(rt: Runtime, uid: string): Promise<Buffer> {
  const item = await call(rt, Operation.Get, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
  expect(item.resultStatus, item.resultMessage).toBe(ResultStatus.Success);
  const km = (function find(s: Struct): Buffer | undefined {
    for (const c of s.value) {
      if (c.tag === Tag.KeyMaterial && c.type === 'ByteString') return c.value;
      if (c.type === 'Structure') { const f = find(c); if (f) return f; }
    }
    return undefined;
  })(item.payload!);
  return km!;
}

/** Polls until `fn` holds (notifications are asynchronous); generous for a loaded machine. */
async function eventually(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const keyOf = (i: number) => Buffer.alloc(32, i);
const l3VersionOf = async (rt: Runtime, uid: string) => HierarchyEngine.blobL3Version((await rt.store.get('default', uid))!.wrappedValue!);
const currentL3 = (rt: Runtime, service = 'default') => rt.hierarchy.engine.status('default').services.find((s) => s.service === service)?.currentVersion;

describe('runtime on PostgreSQL: two nodes on one database', () => {
  it('an object created through node A is readable, locatable and changeable through node B at once, and survives a restart', async () => {
    const { url, l1KeyFile, a, b } = await twoNodes();
    try {
      expect(a.store.kind).toBe('postgres');
      const uid = await register(a, keyOf(1), 'shared-key');
      expect(await getKey(b, uid)).toEqual(keyOf(1));
      const located = await call(b, Operation.Locate, structure(Tag.RequestPayload, [structure(Tag.Attributes, [
        structure(Tag.Name, [textString(Tag.NameValue, 'shared-key'), enumeration(Tag.NameType, 1)]),
      ])]));
      expect(located.payload!.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value)).toEqual([uid]);
      const act = await call(b, Operation.Activate, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
      expect(act.resultStatus, act.resultMessage).toBe(ResultStatus.Success);
      expect((await a.store.get('default', uid))!.state).toBe(2); // Active
      await a.close();
      const a2 = await openRuntime({ databaseUrl: url, l1KeyFile });
      try {
        expect(await getKey(a2, uid)).toEqual(keyOf(1));
      } finally {
        await a2.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an L3 rotation on node A is seen by node B: B wraps new values under the new version, both read old and new', async () => {
    const { a, b } = await twoNodes();
    try {
      const before = await register(b, keyOf(2), 'before');
      expect(await l3VersionOf(b, before)).toBe(1);
      expect(currentL3(b)).toBe(1);
      const v = await a.hierarchy.engine.rotateL3('default', 'default');
      expect(v).toBe(2);
      await eventually('node B follows the rotation', () => currentL3(b) === 2);
      const after = await register(b, keyOf(3), 'after');
      expect(await l3VersionOf(b, after)).toBe(2);
      expect(await getKey(a, after)).toEqual(keyOf(3));
      expect(await getKey(b, before)).toEqual(keyOf(2));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('without notifications, a node still reads a value wrapped under an L3 version it did not hold (it re-reads the ring)', async () => {
    const { a, b } = await twoNodes({}, { vaultNotifications: false });
    try {
      await register(b, keyOf(4), 'warm-up'); // B holds L3 v1
      await a.hierarchy.engine.rotateL3('default', 'default');
      const uid = await register(a, keyOf(5), 'under-v2');
      expect(await l3VersionOf(a, uid)).toBe(2);
      expect(currentL3(b)).toBe(1);
      expect(await getKey(b, uid)).toEqual(keyOf(5));
      expect(currentL3(b)).toBe(2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an L2 rotation on node A reaches node B: B opens the new L2 and can start a new service, whose L3 node A opens', async () => {
    const { a, b } = await twoNodes();
    try {
      const uid = await register(b, keyOf(6), 'pre-l2');
      const v = await a.hierarchy.engine.rotateL2('default');
      expect(v).toBe(2);
      await eventually('node B opens the new L2', () => b.hierarchy.engine.status('default').l2Version === 2);
      // A new service on B: its first L3 is wrapped under the L2 the vault keeps.
      const place = { tenant: 'default', service: 'brand-new', uid: 'direct-1' };
      const blob = await b.hierarchy.engine.wrap(place, Buffer.from('secret bytes'));
      expect((await a.hierarchy.engine.unwrap(place, blob)).toString()).toBe('secret bytes');
      expect(await getKey(b, uid)).toEqual(keyOf(6));
      expect(await getKey(a, uid)).toEqual(keyOf(6));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a kill switch on node A seals the tenant on node B too: B refuses, and a restarted node stays sealed', async () => {
    const { url, l1KeyFile, a, b } = await twoNodes();
    try {
      const uid = await register(a, keyOf(7), 'doomed');
      expect(await getKey(b, uid)).toEqual(keyOf(7));
      await a.hierarchy.engine.killSwitch('default');
      await eventually('node B seals the tenant', () => b.hierarchy.engine.isSealed('default'));
      const refused = await call(b, Operation.Get, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
      expect(refused.resultStatus).toBe(ResultStatus.OperationFailed);
      expect(refused.resultReason).toBe(ResultReason.PermissionDenied);
      expect(refused.resultMessage).toMatch(/tenant default is sealed/);
      expect(b.hierarchy.engine.liveKeyBuffersForTests('default').every((k) => k.every((x) => x === 0))).toBe(true);
      const c = await openRuntime({ databaseUrl: url, l1KeyFile });
      try {
        expect(c.hierarchy.engine.isSealed('default')).toBe(true);
      } finally {
        await c.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a wrong database URL stops the runtime with one line, and leaves nothing open', async () => {
    const err = await openRuntime({ databaseUrl: cluster().urlFor('openkcm_test', { password: 'nope' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreConnectionError);
    expect((err as Error).message).toMatch(/^cannot connect to PostgreSQL at postgres:\/\/openkcm:\*\*\*@127\.0\.0\.1:\d+\/openkcm_test: password authentication failed/);
  });
});
