// `npm run bench:metrics` (issue 14 §2: "keep the request hot path cheap"): what the metrics
// cost one KMIP request in process, measured side by side in one run — the calls the
// executor makes per single-item message (batch size, item count, item latency) on the
// pre-bound cells of src/server/metrics.ts, against the same three updates through
// prom-client's own labels() children (which build a label object and a hash string per
// call), and the nothing the executor does without metrics. Rounds alternate the variants;
// the median ns per request is printed, with the heap growth per request as a hint of
// allocation (young-generation garbage is collected, so it is a lower bound).
//
//   node --import tsx bench/metrics.ts [--requests 2000000] [--rounds 5]
import { Counter, Histogram, Registry } from 'prom-client';
import { OpenKcmMetrics, LATENCY_BUCKETS } from '../src/server/metrics.ts';
import { Operation } from '../src/ttlv/generated/enumerations.ts';
import { machineNotes, loadTriple } from './lib/machine.ts';
import { markdownTable } from './lib/matrix.ts';

const args = process.argv.slice(2);
const requests = Number(args[args.indexOf('--requests') + 1] ?? 2_000_000) || 2_000_000;
const rounds = Number(args[args.indexOf('--rounds') + 1] ?? 5) || 5;
const V21 = { major: 2, minor: 1 };
const OPS = [Operation.Encrypt, Operation.Get, Operation.Create, Operation.Decrypt];
const NAMES = ['Encrypt', 'Get', 'Create', 'Decrypt'];

const ours = new OpenKcmMetrics({ component: 'serve', processMetrics: false });
const reg = new Registry();
const pcCount = new Counter({ name: 'c_total', help: 'h', labelNames: ['operation', 'result', 'version'] as const, registers: [reg] });
const pcDur = new Histogram({ name: 'd_seconds', help: 'h', labelNames: ['operation'] as const, buckets: [...LATENCY_BUCKETS], registers: [reg] });
const pcBatch = new Histogram({ name: 'b', help: 'h', buckets: [1, 2, 4, 8], registers: [reg] });

let sink = 0;
const variants: Record<string, (i: number) => void> = {
  'no metrics': (i) => { sink += i & 1; },
  'pre-bound cells (src/server/metrics.ts)': (i) => {
    const k = i & 3;
    ours.batch(1);
    ours.itemDuration(OPS[k]!, 0.00005 + k * 0.00001);
    ours.item(V21, NAMES[k]!, null);
  },
  "prom-client labels() children": (i) => {
    const k = i & 3;
    pcBatch.observe(1);
    pcDur.labels(NAMES[k]!).observe(0.00005 + k * 0.00001);
    pcCount.labels(NAMES[k]!, 'Success', '2.1').inc();
  },
};

const load0 = loadTriple();
const ns = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]));
const heap = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]));
for (const f of Object.values(variants)) for (let i = 0; i < 200_000; i++) f(i); // warm-up: JIT, cells bound
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? Object.keys(variants) : Object.keys(variants).reverse();
  for (const name of order) {
    const f = variants[name]!;
    const h0 = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < requests; i++) f(i);
    const t = Number(process.hrtime.bigint() - t0);
    ns.get(name)!.push(t / requests);
    heap.get(name)!.push(Math.max(0, process.memoryUsage().heapUsed - h0) / requests);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(ns.get('no metrics')!);
console.log(`\n## bench:metrics — metrics updates per single-item KMIP request (batch, latency, count)\n`);
console.log(markdownTable(['variant', 'ns per request (median)', 'ns above no metrics', 'heap growth B/request (median)', 'ns per round'],
  Object.keys(variants).map((k) => [k, median(ns.get(k)!).toFixed(1), (median(ns.get(k)!) - base).toFixed(1), median(heap.get(k)!).toFixed(2), ns.get(k)!.map((x) => x.toFixed(0)).join(' / ')])));
console.log('');
for (const n of [`${rounds} rounds of ${requests.toLocaleString('en-US')} requests per variant, alternating; one thread; 4 operations in turn`, ...machineNotes(load0, { run: new Date().toISOString() })]) console.log(`- ${n}`);
if (sink < 0) console.log(sink);
