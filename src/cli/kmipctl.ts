// kmipctl: the admin and tooling CLI (DESIGN.md §5: the only code that reads argv/env or
// exits). This file is the program root; each command family lives in its own file and
// adds itself through a register function, e.g. registerTtlvCommands(program).
//
// Exit codes: 0 success, 1 bad input or failed operation, 2 usage error (unknown command
// or option, bad option value), 3 cannot connect to the server (admin and key commands,
// src/cli/output.ts).
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerTtlvCommands, UsageError } from './ttlv-commands.ts';
import { registerAdminCommands } from './admin/index.ts';
import { withConnectionOptions } from './admin/connection.ts';

export const EXIT_USAGE = 2;

/** Builds the program with every command registered; no side effects until parsed. */
export function buildProgram(): Command {
  const program = new Command('kmipctl')
    .description('OpenKCM administration and KMIP tooling')
    .showHelpAfterError('(run with --help for usage)')
    // Set before registering: subcommands inherit it, so commander throws instead of exiting.
    .exitOverride();
  // The connection options (--server, --cert, --json, …) on the program as well: commander
  // takes a program option anywhere on the line, so `kmipctl --server URL status` and
  // `kmipctl status --server URL` mean the same (issue 14 §1b); leaves read optsWithGlobals().
  withConnectionOptions(program);
  registerTtlvCommands(program);
  registerAdminCommands(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
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

/** True when this module is the program being run (bin/kmipctl.js imports it), not a library import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  let name = basename(script);
  try {
    name = basename(realpathSync(script));
  } catch {
    // keep the name as given
  }
  return name === 'kmipctl' || name === 'kmipctl.js' || script === fileURLToPath(import.meta.url);
}

if (isEntryPoint()) await main();
