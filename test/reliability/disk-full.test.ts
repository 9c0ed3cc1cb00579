// Issue 16 §4 "Disk full / read-only store": `openkcm serve` with its data directory on a
// small tmpfs (a real file system that really runs out of space: ENOSPC reaches SQLite as
// SQLITE_FULL). The file system is filled behind the server's back while it serves; then
// Creates and Registers are refused with Server Limit Exceeded and a message saying the
// store is full (or, once the audit trail in the same file cannot commit either, by the
// audit gate with its own clear message), never as an internal error; nothing acknowledged
// is lost, and when the filler is removed writes resume without a restart. A restart afterwards
// finds every acknowledged object with its exact bytes and `PRAGMA integrity_check` ok.
// Mounting needs root (CI runs as root); elsewhere the suite is skipped and says why.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { byteString, child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { startServerProcess, type ServerProcess } from '../../scripts/fuzz/server-process.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { StoreUnavailableError } from '../../src/store/types.ts';
import { makeStored } from '../store/contract.ts';

/** Room for the database, its WAL and the audit trail of a few hundred objects. */
const TMPFS_SIZE = '24m';

function tryMount(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'openkcm-test', dir], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `cannot mount a tmpfs (needs root): ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`;
  }
}

const work = mkdtempSync(join(tmpdir(), 'openkcm-diskfull-'));
const mnt = join(work, 'mnt');
mkdirSync(mnt);
const mountProblem = tryMount(mnt);
let server: ServerProcess | undefined;

afterAll(async () => {
  if (server) { server.child.kill('SIGKILL'); await server.exited; }
  if (mountProblem === undefined) execFileSync('umount', ['-l', mnt]);
  rmSync(work, { recursive: true, force: true });
});

const aes = () => structure(Tag.Attributes, [
  enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
  integer(Tag.CryptographicLength, 256),
  integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
]);
const register = (key: Buffer) => [
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey), aes(),
  structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
    enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
    enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256),
  ])]),
];
const uidOf = (p: Struct) => (child(p, Tag.UniqueIdentifier) as { value: string }).value;
async function getRaw(c: KmipClient, uid: string): Promise<Buffer> {
  const p = await c.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid), enumeration(Tag.KeyFormatType, KeyFormatType.Raw)]);
  const km = child(child(child(child(p, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial);
  if (km?.type !== 'ByteString') throw new Error(`object ${uid}: no Raw key material`);
  return km.value;
}

/** Fills the file system with one file until ENOSPC; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0xa5);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    // The last partial block: fill to the byte.
    for (let n = 4096; n >= 1; n = Math.floor(n / 2)) {
      try { for (;;) writeSync(fd, chunk, 0, n); } catch { /* next smaller size */ }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

describe.skipIf(mountProblem !== undefined)(`disk full (tmpfs ${TMPFS_SIZE})${mountProblem ? ` — skipped: ${mountProblem}` : ''}`, () => {
  const acknowledged = new Map<string, Buffer>();
  let c: KmipClient;

  beforeAll(async () => {
    server = await startServerProcess({ cwd: work, args: ['--data', mnt, '--log-level', 'warn'] });
    c = await KmipClient.connect({ host: '127.0.0.1', port: server.port, ...server.tls(), servername: 'localhost', timeoutMs: 60_000 });
  });

  it('refuses writes with Server Limit Exceeded while full, loses nothing, resumes when space returns', async () => {
    // Service L3 and a first batch of objects, while there is room. Each is read once, so
    // it is no longer Fresh (KMIP 2.1 §4.19): reading it again writes nothing.
    for (let i = 0; i < 20; i++) {
      const key = randomBytes(32);
      const uid = uidOf(await c.request(Operation.Register, register(key)));
      expect((await getRaw(c, uid)).equals(key)).toBe(true);
      acknowledged.set(uid, key);
    }
    const filler = fill(mnt);

    // Writes already allocated in the WAL may still fit; keep going until refused. Every
    // success is acknowledged: Registers with their known bytes, Creates read back once
    // space has returned (the first Get of a Fresh object is itself a write).
    const createdWhileFull: string[] = [];
    const refusals: Array<{ op: string; reason: number | undefined; message: string | undefined }> = [];
    for (let i = 0; i < 2_000 && refusals.length < 20; i++) {
      const key = randomBytes(32);
      const isRegister = i % 2 === 0;
      const item = isRegister
        ? await c.requestItem(Operation.Register, register(key))
        : await c.requestItem(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), aes()]);
      if (item.resultStatus !== ResultStatus.Success) refusals.push({ op: isRegister ? 'Register' : 'Create', reason: item.resultReason, message: item.resultMessage });
      else if (isRegister) acknowledged.set(uidOf(item.payload!), key);
      else createdWhileFull.push(uidOf(item.payload!));
    }
    expect(refusals.length, 'the full file system never refused a write').toBe(20);
    // Two clear refusals, never an internal error: the object store's own (Server Limit
    // Exceeded, "the key store is full") for the write that hit ENOSPC, and, once the audit
    // trail in the same file could not commit either, the audit gate's (no request is served
    // unaudited: General Failure, "the audit log cannot take records … disk is full").
    for (const r of refusals) {
      if (r.reason === ResultReason.ServerLimitExceeded) expect(r.message).toMatch(/^the key store is full .*no space left.*nothing was stored; free disk space and retry$/);
      else {
        expect(r.reason, r.message).toBe(ResultReason.GeneralFailure);
        expect(r.message).toMatch(/^the audit log cannot take records \(the audit database refuses writes \(database or disk is full\).*requests are refused until it can$/);
      }
    }
    expect(server!.child.exitCode).toBeNull();

    // A new connection is still served (answered, not dropped) while full.
    const c2 = await KmipClient.connect({ host: '127.0.0.1', port: server!.port, ...server!.tls(), servername: 'localhost', timeoutMs: 60_000 });
    const dv = await c2.requestItem(Operation.DiscoverVersions);
    expect(dv.resultStatus === ResultStatus.Success || /cannot take records/.test(dv.resultMessage ?? ''), dv.resultMessage).toBe(true);
    await c2.close();

    // Space returns: writes resume without a restart, as soon as the audit log's background
    // retry has committed its queue (bounded wait; it retries within a second or two).
    rmSync(filler);
    const resumeStart = Date.now();
    for (;;) {
      const key = randomBytes(32);
      const item = await c.requestItem(Operation.Register, register(key));
      if (item.resultStatus === ResultStatus.Success) { acknowledged.set(uidOf(item.payload!), key); break; }
      expect(Date.now() - resumeStart, `still refused after space returned: ${item.resultMessage}`).toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 100));
    }
    const resumedAfterMs = Date.now() - resumeStart;
    for (let i = 0; i < 19; i++) {
      const key = randomBytes(32);
      const item = await c.requestItem(Operation.Register, register(key));
      expect(item.resultStatus, item.resultMessage).toBe(ResultStatus.Success);
      acknowledged.set(uidOf(item.payload!), key);
    }
    for (const uid of createdWhileFull) {
      const got = await getRaw(c, uid);
      expect(got.length).toBe(32);
      acknowledged.set(uid, got);
    }
    for (const [uid, key] of acknowledged) expect((await getRaw(c, uid)).equals(key)).toBe(true);
    const byReason = refusals.reduce<Record<string, number>>((m, r) => ({ ...m, [String(r.reason)]: (m[String(r.reason)] ?? 0) + 1 }), {});
    console.log(`disk full: ${acknowledged.size} acknowledged, ${createdWhileFull.length} Creates fitted after the fill, refusals by reason ${JSON.stringify(byReason)}, writes resumed ${resumedAfterMs} ms after space returned`);
  });

  it('after a restart every acknowledged object is there with its bytes; integrity ok', async () => {
    await c.close();
    await server!.stop();
    const db = new Database(join(mnt, 'openkcm.db'));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    server = await startServerProcess({ cwd: work, args: ['--data', mnt, '--log-level', 'warn'] });
    c = await KmipClient.connect({ host: '127.0.0.1', port: server.port, ...server.tls(), servername: 'localhost', timeoutMs: 60_000 });
    const lost: string[] = [];
    for (const [uid, key] of acknowledged) {
      try { if (!(await getRaw(c, uid)).equals(key)) lost.push(`${uid}: different bytes`); } catch (e) { lost.push(`${uid}: ${(e as Error).message}`); }
    }
    await c.close();
    expect(lost).toEqual([]);
    expect(acknowledged.size).toBeGreaterThanOrEqual(40);
  });
});

// Without root: SQLite's own page limit gives the same SQLITE_FULL on any machine (this is a
// simulation of a full disk inside SQLite, not a file system condition; the tmpfs suite
// above is the real one). The store names the condition; nothing half-written remains.
describe('store full (PRAGMA max_page_count)', () => {
  it('refuses an insert with StoreUnavailableError("full"), keeps what was committed, resumes when the limit rises', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-pagecount-'));
    const store = await openSqliteStore(join(dir, 'openkcm.db'));
    try {
      const pages = store.database.pragma('page_count', { simple: true }) as number;
      store.database.pragma(`max_page_count = ${pages + 8}`);
      const kept: string[] = [];
      let refused: unknown;
      for (let i = 0; i < 1000 && refused === undefined; i++) {
        const uid = `obj-${i}`;
        try {
          await store.insert(makeStored({ uid, wrappedValue: randomBytes(2048) }));
          kept.push(uid);
        } catch (e) {
          refused = e;
          expect(await store.get('tenant-a', uid)).toBeUndefined();
        }
      }
      expect(refused).toBeInstanceOf(StoreUnavailableError);
      expect((refused as StoreUnavailableError).condition).toBe('full');
      expect((refused as Error).message).toMatch(/key store is full .*nothing was stored/);
      for (const uid of kept) expect(await store.get('tenant-a', uid)).toBeDefined();
      store.database.pragma('max_page_count = 1073741823');
      await store.insert(makeStored({ uid: 'after', wrappedValue: randomBytes(2048) }));
      expect(await store.get('tenant-a', 'after')).toBeDefined();
      expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
