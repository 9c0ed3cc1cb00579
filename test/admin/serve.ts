// Runs the real programs for the kmipctl suites: `openkcm serve` as a child process in a
// temporary working directory (development PKI and data under it, KMIP and admin API on
// ports chosen by the system), and `kmipctl` as a child process pointed at it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The sources, not bin/ (test/helpers/cli.ts says why).
import { KMIPCTL, OPENKCM } from '../helpers/cli.ts';

export { KMIPCTL, OPENKCM };

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ServedEnv {
  cwd: string;
  adminPort: number;
  kmipPort: number;
  /** Process id of the server (bench/gateway.ts reads the Core's CPU time from /proc). */
  pid: number;
  /** Runs kmipctl in the server's directory (default certificates: its dev PKI). */
  kmipctl(args: string[], extraEnv?: Record<string, string>): Promise<RunResult>;
  stop(): Promise<void>;
}

export function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cmd, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/**
 * The environment without any OPENKCM_* variable of the caller's shell, and with one worker
 * process: these suites test what a server does, not how many processes it does it in, and
 * on the shared 2-core test machine a primary plus one worker per CPU for every suite is load
 * without coverage. The multi-worker server has its own tests (test/server/workers.test.ts,
 * test/reliability/crash.test.ts, and the default start in test/server/cli.test.ts); a
 * `--workers` flag (startServed args) overrides this.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENKCM_')) env[k] = v;
  return { ...env, OPENKCM_WORKERS: '1', ...extra };
}

/**
 * `args`: extra `openkcm serve` flags (e.g. --l1-status-check-interval); `nodeArgs`: node
 * flags before the program (e.g. --import of a test-only module); `env`: extra variables of
 * the server process (e.g. a managed-identity endpoint of a test L1).
 */
export async function startServed(opts: { args?: string[]; nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<ServedEnv> {
  const cwd = mkdtempSync(join(tmpdir(), 'openkcm-kmipctl-'));
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), OPENKCM, 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn', ...(opts.args ?? [])], {
    cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const ports = await new Promise<{ admin: number; kmip: number }>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`openkcm serve did not start within 60 s:\n${stderr}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const admin = /Admin API: https:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      const kmip = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (admin && kmip) {
        clearTimeout(timer);
        resolvePromise({ admin: Number(admin[1]), kmip: Number(kmip[1]) });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`openkcm serve exited with ${code}:\n${stderr}`)); });
  });
  const env = cleanEnv({ OPENKCM_ADMIN_SERVER: `https://127.0.0.1:${ports.admin}`, OPENKCM_ADMIN_KMIP: `127.0.0.1:${ports.kmip}` });
  return {
    cwd,
    adminPort: ports.admin,
    kmipPort: ports.kmip,
    pid: child.pid!,
    kmipctl: (args, extraEnv = {}) => run(KMIPCTL, args, { cwd, env: { ...env, ...extraEnv } }),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}
