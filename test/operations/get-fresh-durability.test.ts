// Get's Fresh = false (KMIP 2.1 §4.19) on an on-disk store: the reply waits for the commit
// (another connection reads Fresh false at once) but not for the WAL flush; the flush still
// follows and puts it on disk (src/operations/get.ts markServed, UpdateOptions.waitForDisk).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { makeContextFor } from '../helpers/context.ts';
import { create } from '../../src/operations/create.ts';
import { get } from '../../src/operations/get.ts';
import { child, enumeration, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { ObjectType } from '../../src/ttlv/generated/enumerations.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { rowToObject, type ObjectRow } from '../../src/store/rows.ts';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import { createInterimProtector } from '../../src/hierarchy/interim.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'openkcm-fresh-')); dirs.push(d); return d; };

/** Fresh as stored in the database file at `path` (and its WAL when `withWal`), read by another connection. */
function storedFresh(path: string, uid: string): unknown {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT uid, tenant, service, object_type, state, revision, created_seq, attributes, wrapped_value FROM objects WHERE uid = ?').get(uid) as ObjectRow;
    return rowToObject(row).attributes.find((a) => a.tag === Tag.Fresh)?.value;
  } finally {
    db.close();
  }
}

/** The files as a crash right now would leave them, copied and opened elsewhere. */
function crashImage(path: string): string {
  const copy = join(tempDir(), 'image.db');
  copyFileSync(path, copy);
  if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
  return copy;
}

describe('Get: Fresh = false is answered after its commit, made durable by the next WAL flush', () => {
  it('the reply does not wait for the flush; the flush follows and the crash image holds Fresh false', async () => {
    const dir = tempDir();
    const path = join(dir, 's.db');
    const store = await openSqliteStore(path);
    const l1 = await SoftwareL1Provider.open(join(dir, 'l1.key'));
    const protector = await createInterimProtector(l1, store);
    try {
      const { ctx } = await makeContextFor(store, protector, 'tenant-a', 'svc', { l1: l1.describe() });
      const made = await create.run(ctx, structure(Tag.RequestPayload, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [])]));
      const uid = (child(made, Tag.UniqueIdentifier) as { value: string }).value;
      expect(storedFresh(path, uid)).toBe(true);
      const d = store.durability!;
      const flushesBefore = d.flushes;
      const served = await get.run(ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
      expect(child(served, Tag.SymmetricKey)).toBeDefined();
      // Answered before the fdatasync that covers it returned…
      expect(d.flushes).toBe(flushesBefore);
      // …but committed: any other reader sees it already.
      expect(storedFresh(path, uid)).toBe(false);
      // The flush follows without another write asking for it.
      for (let i = 0; i < 200 && d.flushes === flushesBefore; i++) await new Promise((r) => setTimeout(r, 10));
      expect(d.flushes).toBeGreaterThan(flushesBefore);
      expect(storedFresh(crashImage(path), uid)).toBe(false);
      // A second Get writes nothing (already served).
      const again = d.flushes;
      await get.run(ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]) as Struct);
      await new Promise((r) => setTimeout(r, 50));
      expect(d.flushes).toBe(again);
    } finally {
      await protector.close();
      await l1.close();
      await store.close();
    }
  });
});
