// The CMK's link routes with the CMK on PostgreSQL (issue 10 §4): the same suite as on
// SQLite (test/link/cmk-link-suite.ts) — snapshot, change stream and its retention, audit
// ingest once per record, node status — against a real throw-away cluster, one database per
// CMK.
import { usePostgres } from '../helpers/postgres.ts';
import { cmkLinkSuite } from './cmk-link-suite.ts';

const pgc = usePostgres();
let n = 0;

cmkLinkSuite('PostgreSQL', () => pgc().createDatabase(`cmk_link_${++n}`));
