// Checks on a running `openkcm cmk` process shared by test/link/cmk-process.test.ts and
// test/planes/cmk-no-key-material.test.ts (issue 10 §1: the CMK never holds key material).
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Launcher that runs the `openkcm` CLI and writes every module it loads to $CMK_TEST_MODULE_LOG. */
export const MODULE_RECORDER = fileURLToPath(new URL('./module-recorder.mjs', import.meta.url));

/** Modules a CMK must never load (DESIGN.md §1: the CMK never holds key material; issue 10: no L1 call). */
export const FORBIDDEN = [
  /\/src\/hsm\/(software|pkcs11|aws-kms)\.ts$/, /\/node_modules\/(pkcs11js|@aws-sdk)\//, /\/src\/hierarchy\//,
  /\/src\/server\/(runtime|listener|connection|executor)\.ts$/, /\/src\/operations\//,
];

/** Modules every CMK loads: the recorder saw the TypeScript modules (else an empty FORBIDDEN match proves nothing). */
export const CMK_MUST_LOAD = ['/src/cli/cmk.ts', '/src/server/cmk.ts', '/src/link/changes.ts', '/src/hsm/index.ts', '/src/server/admin/l1.ts'];

/**
 * Sends SIGUSR2 to a process started with `--heapsnapshot-signal=SIGUSR2` and returns the
 * snapshot V8 writes into `cwd` once it is complete (stable size, closing bracket).
 */
export async function takeHeapSnapshot(proc: ChildProcess, cwd: string, timeoutMs = 120_000): Promise<Buffer> {
  const before = new Set(readdirSync(cwd));
  proc.kill('SIGUSR2');
  let snapFile: string | undefined;
  const deadline = Date.now() + timeoutMs;
  let lastSize = -1;
  while (Date.now() < deadline) {
    snapFile = readdirSync(cwd).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (snapFile) {
      const size = statSync(join(cwd, snapFile)).size;
      // Written in one go by V8; stable size and a closing bracket mean it is complete.
      if (size > 0 && size === lastSize && readFileSync(join(cwd, snapFile)).subarray(-4).includes(']'.charCodeAt(0))) {
        return readFileSync(join(cwd, snapFile));
      }
      lastSize = size;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no complete heap snapshot in ${cwd} within ${timeoutMs} ms`);
}
