// WAL checkpoints on a worker thread (src/store/wal-checkpointer.ts, issue 12 §1): the
// server's connection no longer checkpoints inside its commits, the worker copies the WAL
// back into the database file, and the main connection takes over again if the worker fails.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { WalCheckpointer } from '../../src/store/wal-checkpointer.ts';
import { makeStored } from './contract.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'openkcm-ckpt-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Polls until `cond` holds (the worker runs on its own clock); fails with `what` after 20 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

async function insertMany(store: Awaited<ReturnType<typeof openSqliteStore>>, from: number, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => store.insert(makeStored({ uid: `ck-${from + i}`, tenant: 't1' }))));
}

describe('WalCheckpointer', () => {
  it('exists only for on-disk WAL databases; a store never written starts no worker and keeps SQLite\'s autocheckpoint', async () => {
    const mem = await openSqliteStore(':memory:');
    expect(mem.checkpointer).toBeUndefined();
    await mem.close();
    const disk = await openSqliteStore(join(tempDir(), 's.db'));
    expect(disk.checkpointer).toBeInstanceOf(WalCheckpointer);
    expect(disk.database.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await disk.close();
  });

  it('after the first hot commit the main connection stops checkpointing and the worker copies the WAL into the database file', async () => {
    const path = join(tempDir(), 's.db');
    const store = await openSqliteStore(path);
    await insertMany(store, 0, 300);
    expect(store.database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const ck = store.checkpointer!;
    await until(() => ck.lastReport !== undefined && ck.lastReport.log > 0 && ck.lastReport.checkpointed === ck.lastReport.log, 'a full checkpoint by the worker');
    // The database file alone, without its WAL, now holds the rows: the worker copied them.
    const copy = join(tempDir(), 'alone.db');
    copyFileSync(path, copy);
    const alone = new Database(copy, { readonly: true });
    expect(alone.prepare("SELECT COUNT(*) FROM objects WHERE tenant = 't1'").pluck().get()).toBe(300);
    alone.close();
    expect(ck.fallbacks).toBe(0);
    expect(ck.lastError).toBeUndefined();
    // The next writes restart the WAL from its beginning (nothing left to copy), and are kept.
    await insertMany(store, 300, 10);
    await until(() => ck.lastReport!.log < 300, 'the WAL restarted after the full checkpoint');
    await store.close();
    const again = await openSqliteStore(path);
    expect(again.database.prepare("SELECT COUNT(*) FROM objects WHERE tenant = 't1'").pluck().get()).toBe(310);
    await again.close();
  });

  it('when the worker dies, the main connection checkpoints by itself again and the store keeps working', async () => {
    const path = join(tempDir(), 's.db');
    const store = await openSqliteStore(path);
    await insertMany(store, 0, 5);
    const ck = store.checkpointer!;
    // Kill the thread from outside, as a crash of the worker would end it.
    await (ck as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await until(() => ck.lastError !== undefined, 'the worker\'s exit noticed');
    expect(ck.lastError).toMatch(/exited/);
    expect(store.database.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await insertMany(store, 5, 5);
    await store.close();
    const again = await openSqliteStore(path);
    expect(again.database.prepare("SELECT COUNT(*) FROM objects WHERE tenant = 't1'").pluck().get()).toBe(10);
    await again.close();
  });
});
