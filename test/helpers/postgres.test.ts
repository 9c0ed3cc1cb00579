// The test harness itself: a real server starts, answers over TCP with a password, and is
// gone (process and files) after stop().
import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startPostgres } from './postgres.ts';

describe('test harness: throw-away PostgreSQL', () => {
  it('starts a cluster, serves a database over TCP with password auth, and removes everything at stop', async () => {
    const c = await startPostgres();
    let stopped = false;
    try {
      const client = new pg.Client({ connectionString: c.url });
      await client.connect();
      const r = await client.query<{ db: string; v: string }>('SELECT current_database() AS db, current_setting($1) AS v', ['server_version_num']);
      await client.end();
      expect(r.rows[0]!.db).toBe('openkcm_test');
      expect(Number(r.rows[0]!.v)).toBeGreaterThanOrEqual(100000);
      const other = await c.createDatabase('second_db');
      const c2 = new pg.Client({ connectionString: other });
      await c2.connect();
      expect((await c2.query('SELECT current_database() AS db')).rows[0].db).toBe('second_db');
      await c2.end();
      // The password really is checked.
      const bad = new pg.Client({ connectionString: c.urlFor('openkcm_test', { password: 'wrong' }) });
      await expect(bad.connect()).rejects.toThrow(/password authentication failed/);
      await bad.end().catch(() => undefined);
      expect(existsSync(c.dataDir)).toBe(true);
      await c.stop();
      stopped = true;
      expect(existsSync(c.dataDir)).toBe(false);
      const gone = new pg.Client({ connectionString: c.url, connectionTimeoutMillis: 5_000 });
      await expect(gone.connect()).rejects.toThrow();
      await gone.end().catch(() => undefined);
    } finally {
      if (!stopped) await c.stop();
    }
  }, 180_000);
});
