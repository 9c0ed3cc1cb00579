// The CMK's link routes with the CMK on SQLite (cmk.db): the suite is test/link/cmk-link-suite.ts,
// run on PostgreSQL by cmk-link-pg.test.ts.
import { cmkLinkSuite } from './cmk-link-suite.ts';

cmkLinkSuite('SQLite', async () => undefined);
