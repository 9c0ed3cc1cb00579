// The governance contract (test/governance/contract.ts) on PostgreSQL: a real throw-away
// cluster (test/helpers/postgres.ts), one fresh database per test.
import { describe, expect, it } from 'vitest';
import { openPgGovernance, GOVERNANCE_MIGRATIONS_TABLE } from '../../src/store/pg-governance.ts';
import { PG_GOVERNANCE_MIGRATIONS } from '../../src/store/pg-governance-migrations.ts';
import { StoreConnectionError } from '../../src/store/postgres.ts';
import { StoreSchemaError } from '../../src/store/types.ts';
import { usePostgres } from '../helpers/postgres.ts';
import { governanceContract } from './contract.ts';

const pgc = usePostgres();
let n = 0;

governanceContract('PostgreSQL', {
  async open(opts = {}) {
    const url = await pgc().createDatabase(`gov_contract_${++n}`);
    const gov = await openPgGovernance(url, opts);
    return { gov, close: async () => { await gov.close(); await gov.pool.end(); } };
  },
});

describe('PostgreSQL governance: opening', () => {
  it('migrates once, reopens, and refuses a database at a newer governance schema with one line', async () => {
    const url = await pgc().createDatabase('gov_open');
    const a = await openPgGovernance(url);
    await a.createTenant({ id: 'kept' });
    await a.close(); await a.pool.end();
    const b = await openPgGovernance(url);
    expect((await b.getTenant('kept'))?.id).toBe('kept');
    await b.pool.query(`INSERT INTO ${GOVERNANCE_MIGRATIONS_TABLE} (version, name, applied_at) VALUES ($1, 'from the future', 'x')`, [PG_GOVERNANCE_MIGRATIONS.length + 1]);
    await b.close(); await b.pool.end();
    const e = await openPgGovernance(url).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(StoreSchemaError);
    expect((e as Error).message).toMatch(new RegExp(`schema version ${PG_GOVERNANCE_MIGRATIONS.length + 1} is newer than this OpenKCM understands \\(${PG_GOVERNANCE_MIGRATIONS.length}\\)`));
    expect((e as Error).message).not.toContain('\n');
  });

  it('a bad URL, a missing database and a port nobody listens on are one-line connection errors', async () => {
    for (const [url, msg] of [
      ['mysql://x@127.0.0.1/db', /not a PostgreSQL URL/],
      [pgc().urlFor('no_such_db'), /does not exist/],
      ['postgres://u:secret@127.0.0.1:1/db', /connection refused/],
    ] as const) {
      const e = await openPgGovernance(url, { connectTimeoutMs: 5_000 }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(StoreConnectionError);
      expect((e as Error).message).toMatch(msg);
      expect((e as Error).message).not.toContain('secret');
    }
  });
});
