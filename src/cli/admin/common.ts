// Shared by every kmipctl admin/key command when it runs: the context an action gets, one
// error path, output, and the option checks. Loaded by the action, not by the declarations
// (commands.ts): with it come the admin API client and node:https.
import type { Command } from 'commander';
import { CliError, EXIT_USAGE, Output, reportError } from '../output.ts';
import { AdminClient, resolveSettings, type ConnectionSettings } from './connection.ts';
import type { ConnectionFlags } from './options.ts';

export interface CommandContext {
  out: Output;
  flags: ConnectionFlags & Record<string, unknown>;
  settings(): ConnectionSettings;
  admin(): AdminClient;
}

/** What a leaf command does, given its context, its positional arguments and its options. */
export type Action = (ctx: CommandContext, args: string[], opts: Record<string, unknown>) => Promise<void>;

/**
 * Runs a leaf's action with what commander passed to the action handler (the positional
 * arguments, the options, the command). Errors become a message on stderr (with a hint)
 * and the exit code of the error (output.ts).
 */
export async function runAction(action: Action, a: readonly unknown[]): Promise<void> {
  const command = a[a.length - 1] as Command;
  // The connection options may come before the subcommand too (kmipctl.ts adds them to the program).
  const opts = command.optsWithGlobals() as ConnectionFlags & Record<string, unknown>;
  const args = a.slice(0, -2).flatMap((x) => (Array.isArray(x) ? x : [x])).filter((x): x is string => typeof x === 'string');
  let settings: ConnectionSettings | undefined;
  let client: AdminClient | undefined;
  const ctx: CommandContext = {
    out: new Output({ json: opts.json === true }),
    flags: opts,
    settings: () => (settings ??= resolveSettings(opts)),
    admin: () => (client ??= new AdminClient(ctx.settings())),
  };
  try {
    await action(ctx, args, opts);
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

/** A comma-separated option value → list (empty entries refused). */
export function list(v: unknown, option: string): string[] | undefined {
  if (v === undefined) return undefined;
  const items = String(v).split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new CliError(EXIT_USAGE, `${option}: empty entry in "${String(v)}"`, 'separate entries with commas, e.g. Get,Locate');
  return items;
}

export function exactlyOne(opts: Record<string, unknown>, names: string[]): string {
  const given = names.filter((n) => opts[n] !== undefined);
  if (given.length !== 1) {
    const flags = names.map((n) => '--' + n.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));
    throw new CliError(EXIT_USAGE, `give exactly one of ${flags.join(', ')}`);
  }
  return given[0]!;
}

export function positiveInt(v: unknown, option: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max) throw new CliError(EXIT_USAGE, `${option} must be a whole number from 1 to ${max}, not "${s}"`);
  return Number(s);
}

/** Local time is what a human reads; --json keeps the server's ISO strings. */
export const when = (iso: unknown) => (typeof iso === 'string' ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : iso);
