// kmipctl: the admin and tooling CLI (DESIGN.md §5: the only code that reads argv/env or
// exits). This file is the program root; each command family lives in its own file and
// adds itself through a register function, e.g. registerTtlvCommands(program).
//
// Exit codes: 0 success, 1 bad input or failed operation, 2 usage error (unknown command
// or option, bad option value), 3 cannot connect to the server (admin and key commands,
// src/cli/output.ts).
//
// Start-up (issue 14 §1: `kmipctl --help` under 150 ms): this file, ttlv-commands.ts,
// admin/commands.ts and admin/options.ts are all that a help request loads besides commander;
// every action imports its implementation when it runs (test/cli/lazy-help.test.ts).
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { registerTtlvCommands, UsageError } from './ttlv-commands.ts';
import { registerAdminCommands } from './admin/commands.ts';
import { withConnectionOptions } from './admin/options.ts';

// commander through require(), not `import`: its ESM entry (esm.mjs) is a wrapper around the
// CommonJS index.js whose export names Node finds by parsing index.js first: about a fifth
// of what `kmipctl --help` adds to a bare node (bench/README.md "Start-up"). Same classes
// either way: the wrapper re-exports this very module. The other CLI files import commander's
// types only.
const commander = createRequire(import.meta.url)('commander') as typeof import('commander');

export const EXIT_USAGE = 2;

/**
 * Builds the program; no side effects until parsed. Given the command line's arguments, it
 * declares the commands of only those admin groups the line names (the others keep their
 * name and description, all the program's help shows of them): commander constructs every
 * declared command and option up front, most of them never used by one run. Without
 * arguments (tests, tools), every command is declared.
 */
export function buildProgram(args?: readonly string[]): Command {
  const program = new commander.Command('kmipctl')
    .description('OpenKCM administration and KMIP tooling')
    .showHelpAfterError('(run with --help for usage)')
    // Set before registering: subcommands inherit it, so commander throws instead of exiting.
    .exitOverride();
  // The connection options (--server, --cert, --json, …) on the program as well: commander
  // takes a program option anywhere on the line, so `kmipctl --server URL status` and
  // `kmipctl status --server URL` mean the same (issue 14 §1b); leaves read optsWithGlobals().
  withConnectionOptions(program);
  registerTtlvCommands(program);
  registerAdminCommands(program, args === undefined ? undefined : (group) => args.includes(group));
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const program = buildProgram(argv.slice(2));
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof commander.CommanderError) {
      // commander has already printed its message; help and version are successes.
      const ok = e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' || e.exitCode === 0;
      process.exitCode = ok ? 0 : EXIT_USAGE;
      return;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`kmipctl: ${e.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    // A bug, not bad input: say so plainly, with the stack for the report.
    process.stderr.write(`kmipctl: internal error: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
}

/** True when this module is the program being run (bin/kmipctl.cjs imports it), not a library import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  let name = basename(script);
  try {
    name = basename(realpathSync(script));
  } catch {
    // keep the name as given
  }
  return name === 'kmipctl' || name === 'kmipctl.js' || name === 'kmipctl.cjs' || script === fileURLToPath(import.meta.url);
}

if (isEntryPoint()) await main();
