// Kill-switch propagation (issue 10 §2): from the CMK's answer to `POST /v1/tenants/T/kill`
// (what `kmipctl tenant kill T` waits for) to the first refused request on each core serving
// T. Real processes: one CMK, tenant T pinned to two regions, region eu with two core nodes
// on one PostgreSQL vault and region us with one core on SQLite. A poller per core sends
// KMIP Query on one open connection back to back; the first answer refused after the kill
// is the core's time. Then `l1 set` brings T back and the next round starts once every core
// serves it again.
//
//   npm run bench:planes [-- --rounds N]
// Prints p50/p99/max per core and over all cores; bench/README.md records one run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmipResponseError, type KmipClient } from '../src/client/index.ts';
import { Operation } from '../src/ttlv/generated/enumerations.ts';
import { kmipClient, probe, until } from '../test/planes/harness.ts';
import { setupPlanes, type Planes } from '../test/planes/setup.ts';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 0) || 30;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Sends Query back to back until one is refused; resolves with the time (performance.now()) of that answer. */
async function firstRefusal(c: KmipClient, stop: { stopped: boolean }): Promise<number> {
  for (;;) {
    if (stop.stopped) return Number.NaN;
    try {
      await c.request(Operation.Query, []);
    } catch (e) {
      if (e instanceof KmipResponseError) return performance.now();
      throw e;
    }
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'openkcm-bench-planes-'));
  let planes: Planes | undefined;
  try {
    planes = await setupPlanes(root, { leaseMs: 30_000, shared: true });
    const p = planes;
    const cores = p.cores.filter((c) => ['a1', 'a2', 'b1'].includes(c.spec.name));
    const per = new Map<string, number[]>(cores.map((c) => [c.spec.name, []]));
    for (let r = 0; r < rounds; r++) {
      // Every core serves the shared tenant before the round starts.
      for (const c of cores) await until(async () => (await probe(c.port, p.caFile, p.apps.shared)) === undefined, 60_000, `${c.spec.name} serving`);
      const clients = await Promise.all(cores.map((c) => kmipClient(c.port, p.caFile, p.apps.shared)));
      const stop = { stopped: false };
      const refusals = clients.map((c) => firstRefusal(c, stop));
      await new Promise((res) => setTimeout(res, 100)); // pollers running
      await p.cmk.admin.post(`/v1/tenants/${p.tenants.shared}/kill`, { reason: `bench round ${r}` });
      const answered = performance.now();
      const times = await Promise.race([
        Promise.all(refusals),
        new Promise<number[]>((_, rej) => setTimeout(() => rej(new Error('a core did not refuse within 30 s')), 30_000)),
      ]);
      stop.stopped = true;
      cores.forEach((c, i) => per.get(c.spec.name)!.push(Math.max(0, times[i]! - answered)));
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await p.restoreShared();
    }
    const all = [...per.values()].flat();
    const row = (name: string, xs: number[]) => `${name.padEnd(18)} ${xs.length.toString().padStart(6)} ${pct(xs, 50).toFixed(1).padStart(8)} ${pct(xs, 99).toFixed(1).padStart(8)} ${Math.max(...xs).toFixed(1).padStart(8)}`;
    console.log(`kill-switch propagation, ${rounds} rounds (ms from the CMK's answer to the first refusal on the core)`);
    console.log(`${'core'.padEnd(18)} ${'rounds'.padStart(6)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`);
    for (const c of cores) console.log(row(`${c.spec.name} (${c.spec.region}${c.spec.databaseUrl ? ', pg' : ', sqlite'})`, per.get(c.spec.name)!));
    console.log(row('all cores', all));
  } finally {
    await planes?.close();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
