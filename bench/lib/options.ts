// Command-line flags and environment variables of the server and crypto benchmarks.
// A flag wins over its environment variable; a bad value is refused with the name of the
// flag, never silently replaced by the default.
export interface FlagSpec {
  flag: string;
  env?: string;
  /** Whether the flag takes a value (otherwise it is a switch). */
  value: boolean;
  help: string;
}

export class OptionError extends Error {
  override readonly name = 'OptionError';
}

/** Parses argv against `specs`: returns the raw string (or 'true' for a switch) per flag name. */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of specs) {
    const e = s.env ? env[s.env] : undefined;
    if (e !== undefined && e !== '') out.set(s.flag, e);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const spec = specs.find((s) => s.flag === name);
    if (!spec) throw new OptionError(`unknown option ${a} (try --help)`);
    if (!spec.value) {
      if (inline !== undefined) throw new OptionError(`${name} takes no value`);
      out.set(name, 'true');
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new OptionError(`${name} needs a value`);
    out.set(name, v);
  }
  return out;
}

export function positiveNumber(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new OptionError(`${name}: expected a positive number, got "${raw}"`);
  return n;
}

export function nonNegativeNumber(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new OptionError(`${name}: expected a number ≥ 0, got "${raw}"`);
  return n;
}

/** "1,16" → [1, 16]. */
export function positiveIntegers(raw: string | undefined, name: string, fallback: number[]): number[] {
  if (raw === undefined) return fallback;
  const parts = raw.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const ns = parts.map(Number);
  if (ns.length === 0 || ns.some((n) => !Number.isInteger(n) || n < 1)) throw new OptionError(`${name}: expected positive integers separated by commas, got "${raw}"`);
  return ns;
}

export function oneOf<T extends string>(raw: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new OptionError(`${name}: expected one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

export function usage(title: string, specs: readonly FlagSpec[]): string {
  const w = Math.max(...specs.map((s) => s.flag.length + (s.value ? 4 : 0)));
  return [title, '', ...specs.map((s) => `  ${(s.flag + (s.value ? ' <v>' : '')).padEnd(w)}  ${s.help}${s.env ? ` [env ${s.env}]` : ''}`)].join('\n');
}
