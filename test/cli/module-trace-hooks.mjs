// Module loader hooks for test/cli/lazy-help.test.ts (registered by module-trace.mjs): every
// module the ESM loader loads — the program's files, packages imported as ESM, node:
// builtins imported as ESM — is appended, one URL a line, to $MODULE_TRACE_FILE. They run in
// the loader's own thread, hence a file rather than a variable.
import { appendFileSync } from 'node:fs';

export async function load(url, context, nextLoad) {
  appendFileSync(process.env.MODULE_TRACE_FILE, `${url}\n`);
  return nextLoad(url, context);
}
