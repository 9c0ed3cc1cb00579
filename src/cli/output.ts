// Output of kmipctl's admin and key commands: a human table or key/value list by default,
// the raw JSON answer with --json (stable, for scripts), errors on stderr with a hint, and
// the exit codes scripts can trust.

/** 0 ok, 1 the operation failed, 2 usage error, 3 cannot connect. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT = 3;

/** A failure with its exit code and what to do about it. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(readonly exitCode: number, message: string, readonly hint?: string) {
    super(message);
  }
}

export interface Writer {
  write(s: string): unknown;
}

export interface OutputOptions {
  json?: boolean;
  stdout?: Writer;
}

const cell = (v: unknown): string => {
  if (v === undefined || v === null) return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(cell).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v).replace(/[\u0000-\u001f\u007f]/g, '?');
};

/** A plain text table: a header row, then one line per row, columns padded to fit. */
export function table(rows: readonly Record<string, unknown>[], columns: readonly (string | [key: string, title: string])[]): string {
  const cols = columns.map((c) => (typeof c === 'string' ? [c, c.toUpperCase()] as const : c));
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((r) => cols.map(([k]) => cell(k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], r))));
  const widths = cols.map(([, t], i) => Math.max(t.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: readonly string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cols.map(([, t]) => t)), ...cells.map(line)].join('\n') + '\n';
}

/** `key: value` lines, nested objects flattened with dots. */
export function keyValues(obj: Record<string, unknown>, prefix = ''): string {
  const out: string[] = [];
  const walk = (o: Record<string, unknown>, p: string) => {
    for (const [k, v] of Object.entries(o)) {
      const key = p ? `${p}.${k}` : k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, key);
      else out.push([key, cell(v)].join(': '));
    }
  };
  walk(obj, prefix);
  const width = Math.max(0, ...out.map((l) => l.indexOf(': ')));
  return out.map((l) => {
    const i = l.indexOf(': ');
    return `${l.slice(0, i).padEnd(width)}  ${l.slice(i + 2)}`;
  }).join('\n') + (out.length ? '\n' : '');
}

export class Output {
  readonly json: boolean;
  private readonly out: Writer;
  constructor(opts: OutputOptions = {}) {
    this.json = opts.json ?? false;
    this.out = opts.stdout ?? process.stdout;
  }

  /** Prints `data` as JSON with --json, else what `human` renders from it. */
  print<T>(data: T, human: (d: T) => string): void {
    if (this.json) this.out.write(JSON.stringify(data, null, 2) + '\n');
    else this.out.write(human(data));
  }
}

/** Writes an error the way every kmipctl command does, and returns its exit code. */
export function reportError(e: unknown, stderr: Writer = process.stderr): number {
  if (e instanceof CliError) {
    stderr.write(`kmipctl: ${e.message}\n`);
    if (e.hint) stderr.write(`  hint: ${e.hint}\n`);
    return e.exitCode;
  }
  stderr.write(`kmipctl: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT_FAILED;
}
