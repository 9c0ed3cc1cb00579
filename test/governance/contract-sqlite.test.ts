// The governance contract (test/governance/contract.ts) on SQLite: the synchronous store of
// `openkcm serve` behind the async contract (sqliteGovernance).
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { GovernanceStore } from '../../src/store/governance.ts';
import { sqliteGovernance } from '../../src/store/governance-async.ts';
import { governanceContract } from './contract.ts';

governanceContract('SQLite', {
  async open(opts = {}) {
    const store = await openSqliteStore(':memory:');
    return { gov: sqliteGovernance(new GovernanceStore(store.database, opts)), close: () => store.close() };
  },
});
