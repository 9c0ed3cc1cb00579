// A real, throw-away PostgreSQL cluster for tests (issue 10 §5: no mocks of PostgreSQL); the
// cluster itself is test/helpers/pg-cluster.ts (startPostgres: initdb into a temp dir as an
// unprivileged user, a free port, the socket in the temp dir, torn down at stop or exit).
//
// usePostgres() is the per-file form: one cluster shared by the file's tests (start-up takes
// a few seconds on a loaded machine), started in beforeAll and stopped in afterAll, which
// vitest runs whether the tests passed or not.
import { afterAll, beforeAll } from 'vitest';
import { START_TIMEOUT_S, startPostgres, type PostgresCluster, type StartPostgresOptions } from './pg-cluster.ts';

export * from './pg-cluster.ts';

/**
 * One cluster for the whole test file: `const pgc = usePostgres();` at the top level, then
 * `pgc().url` inside tests. Each call of `pgc().createDatabase(name)` gives a test its own
 * empty database when it must not see the others' rows.
 */
export function usePostgres(opts: StartPostgresOptions = {}): () => PostgresCluster {
  let cluster: PostgresCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres(opts);
  }, (START_TIMEOUT_S + 60) * 1000);
  afterAll(async () => {
    await cluster?.stop();
    cluster = undefined;
  }, 60_000);
  return () => {
    if (cluster === undefined) throw new Error('the PostgreSQL cluster is not running (usePostgres() must be called at the top level of the test file)');
    return cluster;
  };
}

