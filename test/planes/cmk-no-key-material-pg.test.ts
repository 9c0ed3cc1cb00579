// The CMK holds no key material, with the CMK on PostgreSQL (issue 10 §4): the same proof as
// on SQLite (test/planes/cmk-no-key-material-suite.ts), and the files searched are every file
// of the CMK database's directory in the cluster (heap, indexes, TOAST) and the WAL, after a CHECKPOINT,
// so that nothing the CMK wrote is only in PostgreSQL's memory. The cluster holds the CMK's
// database only (the core's vault is SQLite, in its own directory).
import { join } from 'node:path';
import pg from 'pg';
import { usePostgres } from '../helpers/postgres.ts';
import { filesUnder, noKeyMaterialSuite } from './cmk-no-key-material-suite.ts';

const pgc = usePostgres();

noKeyMaterialSuite({
  name: 'PostgreSQL',
  databaseUrl: () => pgc().createDatabase('cmk_nokey'),
  async databaseFiles() {
    const c = new pg.Client({ connectionString: pgc().urlFor('postgres') });
    await c.connect();
    let oid: string;
    try {
      await c.query('CHECKPOINT');
      oid = String((await c.query("SELECT oid FROM pg_database WHERE datname = 'cmk_nokey'")).rows[0].oid);
    } finally {
      await c.end();
    }
    // The CMK database's own files (heap, indexes, TOAST) and the write-ahead log (every
    // change of every database passes through it).
    return [...filesUnder(join(pgc().dataDir, 'base', oid)), ...filesUnder(join(pgc().dataDir, 'pg_wal'))];
  },
});
