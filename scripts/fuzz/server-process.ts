// `openkcm serve` as a real child process in a working directory of its own (development
// PKI and SQLite data under it), for the fuzzer and the reliability tests: they need a
// process they can watch (exit, RSS), kill with SIGKILL and start again on the same data.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
// The sources (through tsx), like the tests: a stale dist/ must not decide a fuzz run (issue 14 §1).
export const OPENKCM_BIN = join(root, 'scripts', 'dev-bin', 'openkcm.js');

export interface ServerProcessOptions {
  /** Working directory: `certs/` and `data/` are created under it on first start. */
  cwd: string;
  /** Extra `openkcm serve` flags (after `--listen 127.0.0.1:0`). */
  args?: string[];
  /** Extra environment (the caller's OPENKCM_* variables are never passed on). */
  env?: Record<string, string>;
  /** How long start-up may take (a loaded 2-core machine: generous). */
  startTimeoutMs?: number;
  /**
   * `openkcm serve --workers N` (default 1: the fuzzer and the RSS checks watch one process;
   * the server's own default is one worker per CPU). With more than one, the server runs in
   * a process group of its own, so that crashAll() kills the primary and every worker at once.
   */
  workers?: number;
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** Everything the server wrote to stdout (pino JSON lines) and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Client TLS material of the development PKI. */
  tls(): { ca: Buffer; cert: Buffer; key: Buffer };
  /** SIGKILL to the server and, with several workers, to every worker at the same instant (its process group). */
  crashAll(): void;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENKCM_')) env[k] = v;
  return { ...env, ...extra };
}

/** The process's resident set in bytes (Linux /proc), undefined once it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function startServerProcess(opts: ServerProcessOptions): Promise<ServerProcess> {
  const workers = opts.workers ?? 1;
  const group = workers > 1;
  const child = spawn(process.execPath, [OPENKCM_BIN, 'serve', '--listen', '127.0.0.1:0', '--data', 'data', '--certs', 'certs', '--workers', String(workers), ...(opts.args ?? [])], {
    cwd: opts.cwd, env: cleanEnv(opts.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'], detached: group,
  });
  let out = '';
  let err = '';
  // Keep the tail only: a long fuzz run must not grow the fuzzer's own memory.
  const keep = (s: string) => (s.length > 4_000_000 ? s.slice(-2_000_000) : s);
  child.stdout!.on('data', (d: Buffer) => (out = keep(out + d.toString())));
  child.stderr!.on('data', (d: Buffer) => (err = keep(err + d.toString())));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`openkcm serve did not start within ${opts.startTimeoutMs ?? 90_000} ms:\n${err}\n${out.slice(-4000)}`)), opts.startTimeoutMs ?? 90_000);
    const onData = () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolvePort(Number(m[1]));
      }
    };
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`openkcm serve exited (${code ?? signal}) before listening:\n${err}\n${out.slice(-4000)}`)); });
  });
  return {
    child,
    pid: child.pid!,
    port,
    stdout: () => out,
    stderr: () => err,
    exited,
    tls: () => ({
      ca: readFileSync(join(opts.cwd, 'certs', 'ca.crt')),
      cert: readFileSync(join(opts.cwd, 'certs', 'client.crt')),
      key: readFileSync(join(opts.cwd, 'certs', 'client.key')),
    }),
    crashAll() {
      if (group) {
        try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      } else {
        child.kill('SIGKILL');
      }
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}
