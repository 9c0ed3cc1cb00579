// The CMK holds no key material, with the CMK on SQLite (cmk.db): the proof is
// test/planes/cmk-no-key-material-suite.ts (read its header); cmk-no-key-material-pg.test.ts
// runs it with the CMK on PostgreSQL.
import { noKeyMaterialSuite } from './cmk-no-key-material-suite.ts';

noKeyMaterialSuite({ name: 'SQLite' });
