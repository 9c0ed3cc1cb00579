// Runs a grid of benchmark cells (workload × connection count × pipeline depth) against
// several servers side by side, and renders the results as a Markdown table with the ratio
// of each OpenKCM variant to the baseline (PyKMIP). Servers take turns within each cell,
// and the order alternates from cell to cell (A B, B A, …), so a slow drift in the load of
// a shared machine does not always favour the same server.
import type { KmipClient } from '../../src/client/index.ts';
import type { DevPkiFiles } from '../../src/server/devpki.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import { runClosedLoop, type LoadResult } from './load.ts';
import { connectMany, closeAll } from './kmip.ts';
import { cpuSecondsTree } from './proc.ts';
import type { ServerHandle } from './openkcm-server.ts';

export interface Workload<Ctx> {
  name: string;
  /** Once per server before any cell (creates the key to Get, checks the answers are right…). */
  prepare(server: ServerHandle, client: KmipClient): Promise<Ctx>;
  /** One request; must reject on a failed or wrong answer. */
  request(client: KmipClient, ctx: Ctx, seq: number): Promise<unknown>;
  /** Optional per-server note printed under the table (e.g. a cipher substitution). */
  note?(server: ServerHandle, ctx: Ctx): string | undefined;
}

export interface CellSpec { connections: number; depth: number }

export interface CellResult {
  workload: string;
  server: string;
  connections: number;
  depth: number;
  load: LoadResult;
  /** Server CPU (user+system, all its processes) per successful request, µs; undefined without /proc. */
  cpuUsPerRequest?: number;
}

export interface MatrixOptions {
  pki: DevPkiFiles;
  version: ProtocolVersion;
  durationMs: number;
  warmupMs: number;
  log?: (line: string) => void;
}

export async function runMatrix(
  servers: readonly ServerHandle[],
  // Workloads differ in their context type; the matrix only passes contexts back to their own workload.
  workloads: readonly Workload<any>[],
  cells: readonly CellSpec[],
  opts: MatrixOptions,
): Promise<{ results: CellResult[]; notes: string[] }> {
  const log = opts.log ?? (() => undefined);
  const results: CellResult[] = [];
  const notes: string[] = [];
  const contexts = new Map<string, unknown>();
  for (const s of servers) {
    const [client] = await connectMany(s, opts.pki, 1, opts.version);
    try {
      for (const w of workloads) {
        const ctx = await w.prepare(s, client!);
        contexts.set(`${w.name}\0${s.name}`, ctx);
        const n = w.note?.(s, ctx);
        if (n) notes.push(n);
      }
    } finally {
      await closeAll([client!]);
    }
  }
  let turn = 0;
  for (const w of workloads) {
    for (const cell of cells) {
      const order = turn++ % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const ctx = contexts.get(`${w.name}\0${s.name}`);
        // Fresh connections per cell: PyKMIP drops a session idle for its 10 s socket timeout.
        const clients = await connectMany(s, opts.pki, cell.connections, opts.version);
        try {
          const cpu0 = cpuSecondsTree(s.pid);
          const load = await runClosedLoop({
            connections: clients,
            request: (c, seq) => w.request(c, ctx, seq),
            durationMs: opts.durationMs,
            warmupMs: opts.warmupMs,
            depth: cell.depth,
          });
          const cpu1 = cpuSecondsTree(s.pid);
          const r: CellResult = { workload: w.name, server: s.name, connections: cell.connections, depth: cell.depth, load };
          if (cpu0 !== undefined && cpu1 !== undefined && load.total > 0) r.cpuUsPerRequest = ((cpu1 - cpu0) * 1e6) / load.total;
          results.push(r);
          log(`${w.name} ${label(cell)} ${s.name}: ${fmtRate(load.perSecond)} req/s, p50 ${fmtUs(load.latency.percentile(50))}, p99 ${fmtUs(load.latency.percentile(99))}${load.errors ? `, ${load.errors} errors (${load.errorSamples.join(' | ')})` : ''}`);
        } finally {
          await closeAll(clients);
        }
      }
    }
  }
  return { results, notes };
}

export const label = (c: CellSpec) => `${c.connections} conn${c.connections === 1 ? '' : 's'}${c.depth > 1 ? ` × ${c.depth} pipelined` : ''}`;

export function fmtRate(v: number): string {
  if (!Number.isFinite(v)) return '—';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '—';
  if (us >= 10_000) return `${(us / 1000).toFixed(0)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(1)} ms`;
  return us >= 10 ? `${us.toFixed(0)} µs` : `${us.toFixed(1)} µs`;
}

export function fmtRatio(v: number): string {
  if (!Number.isFinite(v)) return '—';
  return v >= 10 ? `${v.toFixed(0)}×` : `${v.toFixed(2)}×`;
}

/**
 * A Markdown table: one row per (workload, cell); per server req/s, p50, p99 and CPU per
 * request; then, for every server other than `baseline`, the ratios server/baseline of
 * req/s (higher is better) and of p50 and p99 (lower is better).
 */
export function renderTable(results: readonly CellResult[], serverNames: readonly string[], baseline: string | undefined): string {
  const head = ['workload', 'connections'];
  for (const s of serverNames) head.push(`${s} req/s`, `${s} p50`, `${s} p99`, `${s} CPU/req`);
  const compared = baseline ? serverNames.filter((s) => s !== baseline) : [];
  for (const s of compared) head.push(`${s}/${baseline} req/s`, `p50 ratio`, `p99 ratio`);
  const rows: string[][] = [];
  const keys = [...new Set(results.map((r) => `${r.workload}\0${r.connections}\0${r.depth}`))];
  for (const k of keys) {
    const [workload, conns, depth] = k.split('\0') as [string, string, string];
    const byServer = new Map(results.filter((r) => r.workload === workload && r.connections === Number(conns) && r.depth === Number(depth)).map((r) => [r.server, r]));
    const row = [workload, label({ connections: Number(conns), depth: Number(depth) })];
    for (const s of serverNames) {
      const r = byServer.get(s);
      if (!r) { row.push('—', '—', '—', '—'); continue; }
      const failed = r.load.errors > 0 ? ` (${r.load.errors} err)` : '';
      row.push(fmtRate(r.load.perSecond) + failed, fmtUs(r.load.latency.percentile(50)), fmtUs(r.load.latency.percentile(99)),
        r.cpuUsPerRequest !== undefined ? fmtUs(r.cpuUsPerRequest) : '—');
    }
    const b = baseline ? byServer.get(baseline) : undefined;
    for (const s of compared) {
      const r = byServer.get(s);
      if (!r || !b) { row.push('—', '—', '—'); continue; }
      row.push(
        fmtRatio(r.load.perSecond / b.load.perSecond),
        fmtRatio(r.load.latency.percentile(50) / b.load.latency.percentile(50)),
        fmtRatio(r.load.latency.percentile(99) / b.load.latency.percentile(99)),
      );
    }
    rows.push(row);
  }
  return markdownTable(head, rows);
}

export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 1)}-` : `-${'-'.repeat(w)}:`)).join('|')}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

/** JSON-friendly form of the results (histograms reduced to the figures we report). */
export function resultsJson(results: readonly CellResult[]) {
  return results.map((r) => ({
    workload: r.workload, server: r.server, connections: r.connections, depth: r.depth,
    perSecond: r.load.perSecond, completed: r.load.completed, errors: r.load.errors, errorSamples: r.load.errorSamples,
    p50Us: r.load.latency.percentile(50), p99Us: r.load.latency.percentile(99), meanUs: r.load.latency.meanUs,
    maxUs: r.load.latency.maximumUs, cpuUsPerRequest: r.cpuUsPerRequest,
  }));
}
