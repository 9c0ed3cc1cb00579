// What the figures were measured on, printed with every run: on a small shared machine the
// absolute numbers move from run to run; the notes say how much to trust them.
import { cpus, loadavg, release, totalmem } from 'node:os';

export function machineNotes(extra: Record<string, string | undefined> = {}): string[] {
  const c = cpus();
  const lines = [
    `CPU: ${c.length} × ${c[0]?.model.trim() ?? 'unknown'}; RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Linux ${release()}`,
    `load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' / ')} (1/5/15 min)`,
    `Node ${process.version}, OpenSSL ${process.versions.openssl}`,
  ];
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) lines.push(`${k}: ${v}`);
  return lines;
}

export const loadNow = () => loadavg()[0]!.toFixed(2);
