// The hierarchy persistence contract on SQLite: two stores (two processes' worth of
// connections) on one database file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { runHierarchyStoreContract } from './hierarchy-contract.ts';

runHierarchyStoreContract('sqlite, two connections on one file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-hstore-'));
  const path = join(dir, 'vault.db');
  const a = await openSqliteStore(path);
  const b = await openSqliteStore(path);
  return { a, b, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
});
