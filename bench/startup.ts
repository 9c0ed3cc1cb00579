// Start-up time of the CLI (issue 14 §1: `kmipctl --help` under 150 ms), measured side by
// side in one run: a bare `node -e 0` (the floor), the compiled launchers (bin/ → dist/),
// and the sources through tsx (how bin/ ran before the build). Each command runs --runs
// times, interleaved (round-robin) so that a change in machine load hits every variant
// alike; each run goes through GNU time for its CPU seconds (user + system), which on a
// shared machine says more than the wall clock (mostly the wait for a core).
//
// Each variant's share is its median minus `node -e 0`'s: what the program adds to Node's own
// start, which machine load inflates less than the totals. With --before DIR (another
// checkout, built: `git worktree add ../base main && cd ../base && npm run build`) its
// launchers run in the same rounds, for a side-by-side comparison.
//
//   npm run build && node --import tsx bench/startup.ts [--runs 30] [--json] [--before DIR]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] ?? 30) || 30;
const json = args.includes('--json');
const before = args.includes('--before') ? resolve(args[args.indexOf('--before') + 1] ?? '') : undefined;
const TIME = '/usr/bin/time';

if (!existsSync(join(root, 'dist', 'cli', 'kmipctl.js'))) {
  console.error('bench:startup: dist/ is missing; run `npm run build` first');
  process.exit(2);
}
if (before !== undefined && !existsSync(join(before, 'dist', 'cli', 'kmipctl.js'))) {
  console.error(`bench:startup: --before ${before} has no dist/cli/kmipctl.js; run \`npm run build\` there first`);
  process.exit(2);
}
if (!existsSync(TIME)) {
  console.error('bench:startup: needs GNU time at /usr/bin/time (apt-get install -y time)');
  process.exit(2);
}

const variants: { name: string; argv: string[] }[] = [
  { name: 'node -e 0', argv: ['-e', '0'] },
  { name: 'kmipctl --help (dist)', argv: [join(root, 'bin', 'kmipctl.cjs'), '--help'] },
  { name: 'kmipctl tenant --help (dist)', argv: [join(root, 'bin', 'kmipctl.cjs'), 'tenant', '--help'] },
  { name: 'openkcm --help (dist)', argv: [join(root, 'bin', 'openkcm.js'), '--help'] },
  { name: 'kmipctl --help (tsx on src)', argv: ['--import', 'tsx', join(root, 'src', 'cli', 'kmipctl.ts'), '--help'] },
  ...(before === undefined ? [] : [
    { name: 'kmipctl --help (before)', argv: [join(before, 'bin', existsSync(join(before, 'bin', 'kmipctl.cjs')) ? 'kmipctl.cjs' : 'kmipctl.js'), '--help'] },
    { name: 'openkcm --help (before)', argv: [join(before, 'bin', 'openkcm.js'), '--help'] },
  ]),
];

interface Sample { wall: number; cpu: number }
const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));

const load0 = loadavg()[0]!;
// One warm-up each (file-system cache), not counted.
for (const v of variants) execFileSync(process.execPath, v.argv, { cwd: root, stdio: 'ignore' });
for (let i = 0; i < runs; i++) {
  for (const v of variants) {
    const t0 = performance.now();
    const r = spawnSync(TIME, ['-f', '%U %S', process.execPath, ...v.argv], { cwd: root, encoding: 'utf8' });
    const wall = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${v.name} exited ${r.status}: ${r.stderr}`);
    const [user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    samples.get(v.name)!.push({ wall, cpu: (user! + sys!) * 1000 });
  }
}
const load1 = loadavg()[0]!;

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const rows = variants.map((v) => {
  const s = samples.get(v.name)!;
  return { name: v.name, wallMedianMs: Math.round(median(s.map((x) => x.wall))), wallMinMs: Math.round(Math.min(...s.map((x) => x.wall))), cpuMedianMs: Math.round(median(s.map((x) => x.cpu))) };
});
const floor = rows[0]!;
const withShares = rows.map((r) => ({ ...r, wallShareMs: r.wallMedianMs - floor.wallMedianMs, cpuShareMs: r.cpuMedianMs - floor.cpuMedianMs }));
if (json) {
  console.log(JSON.stringify({ runs, loadAverage: [load0, load1], rows: withShares }, null, 2));
} else {
  console.log(`bench:startup: ${runs} runs each, interleaved; load average ${load0.toFixed(1)} → ${load1.toFixed(1)} on ${process.platform}, node ${process.version}`);
  console.log('variant                         wall median   wall min   wall share   CPU median   CPU share   CPU / node -e 0');
  for (const r of withShares) {
    console.log(`${r.name.padEnd(32)}${String(r.wallMedianMs).padStart(8)} ms${String(r.wallMinMs).padStart(8)} ms${String(r.wallShareMs).padStart(10)} ms${String(r.cpuMedianMs).padStart(10)} ms${String(r.cpuShareMs).padStart(9)} ms${(r.cpuMedianMs / floor.cpuMedianMs).toFixed(2).padStart(14)}×`);
  }
}
