// Durable group commits with the WAL flushed off the event loop (src/store/wal-durability.ts,
// issue 12): the hot commits run without SQLite's own flush, everything else keeps FULL, and
// nothing is acknowledged before an fdatasync of the WAL that covers it has returned.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { WalDurability } from '../../src/store/wal-durability.ts';
import { openAuditLog, verifyAuditLog, type AuditRecord } from '../../src/audit/index.ts';
import { makeStored } from './contract.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'openkcm-wal-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** What a crash right now would leave: the database and WAL files as they are on disk, opened elsewhere. */
function crashImage(path: string): Database.Database {
  const dir = tempDir();
  const copy = join(dir, 'image.db');
  copyFileSync(path, copy);
  if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
  return new Database(copy, { readonly: false });
}

describe('WalDurability', () => {
  it('exists only for on-disk WAL databases', async () => {
    const mem = await openSqliteStore(':memory:');
    expect(mem.durability).toBeUndefined();
    await mem.close();
    const disk = await openSqliteStore(join(tempDir(), 's.db'));
    expect(disk.durability).toBeInstanceOf(WalDurability);
    await disk.close();
  });

  it('only the hot commit runs with synchronous = NORMAL; the connection is back to FULL right after, also when the commit throws', async () => {
    const store = await openSqliteStore(join(tempDir(), 's.db'));
    const db = store.database;
    const d = store.durability!;
    let during: unknown;
    d.commitLazily(() => { during = db.pragma('synchronous', { simple: true }); });
    expect(during).toBe(1); // NORMAL
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(() => d.commitLazily(() => { throw new Error('boom'); })).toThrow('boom');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    await store.close();
  });

  it('callers arriving while a flush runs share the next one: 50 syncs, far fewer fdatasyncs, all resolved', async () => {
    const store = await openSqliteStore(join(tempDir(), 's.db'));
    const d = store.durability!;
    const before = d.flushes;
    await Promise.all(Array.from({ length: 50 }, () => d.sync()));
    const used = d.flushes - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThanOrEqual(2); // the first, then one for everyone who came during it
    await store.close();
  });

  it('a burst of inserts is one commit and one flush; each resolved insert is in the files on disk', async () => {
    const path = join(tempDir(), 's.db');
    const store = await openSqliteStore(path);
    const d = store.durability!;
    const before = d.flushes;
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.insert(makeStored({ uid: `k-${i}` }))));
    expect(d.flushes - before).toBeGreaterThanOrEqual(1);
    expect(d.flushes - before).toBeLessThanOrEqual(2);
    const image = crashImage(path);
    try {
      expect((image.prepare("SELECT COUNT(*) AS n FROM objects WHERE uid LIKE 'k-%'").get() as { n: number }).n).toBe(200);
    } finally {
      image.close();
    }
    await store.close();
  });

  it('an insert is not acknowledged before its flush: it resolves only after the fdatasync that follows its commit', async () => {
    const store = await openSqliteStore(join(tempDir(), 's.db'));
    const d = store.durability!;
    // Hold the flush: acknowledge nothing until we let it go.
    const real = d.sync.bind(d);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    d.sync = () => gate.then(real);
    let acknowledged = false;
    const p = store.insert(makeStored({ uid: 'held' })).then(() => { acknowledged = true; });
    await new Promise((r) => setTimeout(r, 50));
    // Committed (visible to this connection) but not acknowledged.
    expect(await store.get('tenant-a', 'held')).toBeDefined();
    expect(acknowledged).toBe(false);
    release();
    await p;
    expect(acknowledged).toBe(true);
    d.sync = real;
    await store.close();
  });

  it('a failed flush rejects the writes it covered with a clear store error', async () => {
    const store = await openSqliteStore(join(tempDir(), 's.db'));
    const d = store.durability!;
    const real = d.sync.bind(d);
    d.sync = () => Promise.reject(new Error('EIO: i/o error, fdatasync'));
    await expect(store.insert(makeStored({ uid: 'lost' }))).rejects.toThrow(/cannot flush its log to disk.*EIO/);
    d.sync = real;
    await store.close();
  });
});

describe('audit log on a flushed WAL', () => {
  it('records are hashed in the group commit; subscribers and whenDurable() hear of a group only after its flush; the chain verifies', async () => {
    const path = join(tempDir(), 'a.db');
    const store = await openSqliteStore(path);
    const d = store.durability!;
    const log = openAuditLog(store.database, { durability: d, groupCommit: { maxDelayMs: 1000 } });
    const seen: AuditRecord[] = [];
    log.subscribe((rs) => seen.push(...rs));
    const real = d.sync.bind(d);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    d.sync = () => gate.then(real);
    for (let i = 0; i < 10; i++) log.append({ kind: 'kmip', operation: 'Get', objectId: `u${i}`, result: 'success' });
    let durable = false;
    const w = log.whenDurable().then(() => { durable = true; });
    await new Promise((r) => setTimeout(r, 30));
    // Committed by the group (well before maxDelayMs: someone waits), not yet flushed.
    expect(log.pendingCount()).toBe(0);
    expect((store.database.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n).toBe(10);
    expect(durable).toBe(false);
    expect(seen).toHaveLength(0);
    release();
    await w;
    expect(durable).toBe(true);
    expect(seen.map((r) => r.objectId)).toEqual(Array.from({ length: 10 }, (_, i) => `u${i}`));
    expect(seen[0]!.prevHash).toMatch(/^[0-9a-f]{64}$/);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.prevHash).toBe(seen[i - 1]!.hash);
    d.sync = real;
    expect(verifyAuditLog(store.database).ok).toBe(true);
    const image = crashImage(path);
    try {
      expect(verifyAuditLog(image).ok).toBe(true);
      expect((image.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n).toBe(10);
    } finally {
      image.close();
    }
    log.close();
    await store.close();
  });

  it("queued records ride on the object store's flush: a burst of inserts and its audit records take one fdatasync, and both are on disk", async () => {
    const path = join(tempDir(), 'joined.db');
    const store = await openSqliteStore(path);
    const d = store.durability!;
    // maxDelayMs far away: only the store's flush can make these records commit now.
    const log = openAuditLog(store.database, { durability: d, groupCommit: { maxDelayMs: 60_000 } });
    const seen: AuditRecord[] = [];
    log.subscribe((rs) => seen.push(...rs));
    for (let i = 0; i < 16; i++) log.append({ kind: 'kmip', operation: 'Create', objectId: `j${i}`, result: 'success' });
    expect(log.pendingCount()).toBe(16);
    const before = d.flushes;
    await Promise.all(Array.from({ length: 16 }, (_, i) => store.insert(makeStored({ uid: `j${i}` }))));
    expect(d.flushes - before).toBe(1);
    expect(log.pendingCount()).toBe(0);
    await log.whenDurable(); // committed and flushed already: no flush of its own
    expect(d.flushes - before).toBe(1);
    expect(seen.map((r) => r.objectId)).toEqual(Array.from({ length: 16 }, (_, i) => `j${i}`));
    const image = crashImage(path);
    try {
      expect((image.prepare("SELECT COUNT(*) AS n FROM objects WHERE uid LIKE 'j%'").get() as { n: number }).n).toBe(16);
      expect((image.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n).toBe(16);
      expect(verifyAuditLog(image).ok).toBe(true);
    } finally {
      image.close();
    }
    // A closed log no longer joins: its later flushes are the store's alone.
    log.close();
    await store.insert(makeStored({ uid: 'after-close' }));
    await store.close();
  });

  it('whenDurable() rejects when the flush fails, and resolves at once on an in-memory log', async () => {
    const store = await openSqliteStore(join(tempDir(), 'a.db'));
    const d = store.durability!;
    const errors: Error[] = [];
    const log = openAuditLog(store.database, { durability: d, onError: (e) => errors.push(e) });
    const real = d.sync.bind(d);
    d.sync = () => Promise.reject(new Error('EIO: fdatasync'));
    log.append({ kind: 'kmip', operation: 'Get', result: 'success' });
    await expect(log.whenDurable()).rejects.toThrow(/EIO/);
    expect(errors.map((e) => e.message)).toContain('EIO: fdatasync');
    d.sync = real;
    log.close();
    await store.close();

    const mem = new Database(':memory:');
    const memLog = openAuditLog(mem);
    memLog.append({ kind: 'kmip', operation: 'Get', result: 'success' });
    await memLog.whenDurable();
    expect((mem.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n).toBe(1);
    memLog.close();
    mem.close();
  });
});
