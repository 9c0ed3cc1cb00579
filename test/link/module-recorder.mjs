// Launcher for test/link/cmk-process.test.ts: runs the `openkcm` CLI like scripts/dev-bin/openkcm.js,
// with one more module hook registered after the TypeScript loader, so that it sees every
// module the process loads (its own resolution first, then tsx's) and writes each URL to
// the file named by CMK_TEST_MODULE_LOG.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./module-recorder-hooks.mjs', import.meta.url, { data: { out: process.env.CMK_TEST_MODULE_LOG } });
await import('../../src/cli/openkcm.ts');
