// The PostgreSQL schema (pg-migrations.ts) mirrors SQLite's on purpose, index for index:
// shipped migrations are frozen text, so the two keep their own copies instead of sharing a
// constant a later edit would rewrite history through. This test keeps the copies equal.
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { PG_MIGRATIONS } from '../../src/store/pg-migrations.ts';

/** The Locate indexes of objects, object_names and object_groups, as the last migration that (re)creates each leaves them. */
function locateIndexes(sqls: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const sql of sqls) {
    for (const line of sql.split('\n')) {
      const m = /^CREATE (?:UNIQUE )?INDEX (object(?:s|_names|_groups)_by_\w+) ON .*;$/.exec(line.trim());
      if (m) out.set(m[1]!, line.trim());
      const dropped = /^DROP INDEX (?:IF EXISTS )?(object(?:s|_names|_groups)_by_\w+);$/.exec(line.trim());
      if (dropped) out.delete(dropped[1]!);
    }
  }
  return out;
}

describe('SQLite and PostgreSQL schemas', () => {
  it('define the same Locate indexes (names, columns, order, uniqueness)', () => {
    const sqlite = locateIndexes(MIGRATIONS.map((m) => m.sql));
    const pg = locateIndexes(PG_MIGRATIONS.map((m) => m.sql));
    expect(sqlite.size).toBeGreaterThanOrEqual(7);
    expect(Object.fromEntries(pg)).toEqual(Object.fromEntries(sqlite));
  });
});
