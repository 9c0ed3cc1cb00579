// Process helpers shared by the benchmark's server launchers: CPU time of a process (from
// /proc, so a server's cost per request can be reported next to its throughput — a figure
// far less disturbed by other load on a shared machine than requests per second), waiting
// for a TCP port, and stopping a child with SIGTERM then SIGKILL.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100; // the Linux USER_HZ on every common architecture
    }
  }
  return ticksPerSecond;
}

/**
 * User + system CPU seconds consumed so far by `pid` and the children it has waited for
 * (proc(5): fields 14–17 of /proc/PID/stat). Undefined where /proc is absent.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14 → index 11.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return Number.isFinite(ticks) ? ticks / clockTicks() : undefined;
  } catch {
    return undefined;
  }
}

/** Child process ids of `pid` (all its threads' children; proc(5) /proc/PID/task/TID/children). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (list) out.push(...list.split(/\s+/).map(Number));
    }
  } catch {
    // The process is gone, or the kernel lacks CONFIG_PROC_CHILDREN: count the leader alone.
  }
  return out;
}

/**
 * CPU seconds of `pid` and all its live descendants. PyKMIP's server keeps its operation
 * policies in a multiprocessing manager process and asks it on every request, so its
 * cost is split over two processes.
 */
export function cpuSecondsTree(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const own = cpuSeconds(pid);
  if (own === undefined) return undefined;
  let total = own;
  const seen = new Set<number>([pid]);
  const queue = childrenOf(pid);
  while (queue.length > 0) {
    const c = queue.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    total += cpuSeconds(c) ?? 0;
    queue.push(...childrenOf(c));
  }
  return total;
}

/** Resolves once something accepts TCP connections on host:port; rejects after `timeoutMs` or when `alive()` turns false. */
export async function waitForPort(host: string, port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`the server process exited before listening on ${host}:${port}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * SIGTERM to the child, SIGKILL to its whole process group after `graceMs` if it is
 * still there (the child must have been spawned `detached` to lead its own group, so the
 * helpers it started — PyKMIP's multiprocessing manager — go with it). Resolves with how
 * it ended.
 */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<'exited' | 'killed'> {
  if (child.exitCode !== null || child.signalCode !== null) return 'exited';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), graceMs); }),
  ]);
  clearTimeout(timer);
  if (!timedOut) {
    killGroup(child, 'SIGKILL'); // leftover helpers of an exited leader, if any
    return 'exited';
  }
  killGroup(child, 'SIGKILL');
  await exited;
  return 'killed';
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}
