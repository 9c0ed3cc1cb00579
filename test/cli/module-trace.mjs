// `node --import ./module-trace.mjs PROGRAM …` (test/cli/lazy-help.test.ts): writes what the
// program loaded to $MODULE_TRACE_FILE. The ESM modules come from the loader hooks of
// module-trace-hooks.mjs; at exit this adds the CommonJS files require() loaded (packages
// such as commander, pg or better-sqlite3 load this way, whether imported or required) and
// the node: builtins the process initialised (process.moduleLoadList, both loaders).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

register(new URL('./module-trace-hooks.mjs', import.meta.url));
const require = createRequire(import.meta.url);
process.on('exit', () => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => `node:${m.slice('NativeModule '.length)}`);
  appendFileSync(process.env.MODULE_TRACE_FILE, [...Object.keys(require.cache), ...builtins].map((l) => `${l}\n`).join(''));
});
