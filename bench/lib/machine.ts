// What the figures were measured on, printed with every run: on a small shared machine the
// absolute numbers move from run to run; the notes say how much to trust them.
import { cpus, loadavg, release, totalmem } from 'node:os';

/** The 1/5/15-minute load averages now; take it when the measurement starts and pass it to machineNotes. */
export const loadTriple = (): number[] => loadavg();

const fmtLoad = (l: readonly number[]) => `${l.map((x) => x.toFixed(2)).join(' / ')} (1/5/15 min)`;

/**
 * The notes under a table. `loadAtStart` is the triple taken when the measurement began: the
 * notes are printed at the end, and the load then (the load generator and the servers on the
 * same cores) is not the load the run started on, so both are printed, each under its name.
 */
export function machineNotes(loadAtStart: readonly number[], extra: Record<string, string | undefined> = {}): string[] {
  const c = cpus();
  const lines = [
    `CPU: ${c.length} × ${c[0]?.model.trim() ?? 'unknown'}; RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Linux ${release()}`,
    `load average at start: ${fmtLoad(loadAtStart)}; at end: ${fmtLoad(loadavg())} — the load generator runs on the same cores as the servers`,
    `Node ${process.version}, OpenSSL ${process.versions.openssl}`,
  ];
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) lines.push(`${k}: ${v}`);
  return lines;
}
