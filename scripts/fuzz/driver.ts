// The fuzz driver: mutants of the real vector requests sent to a live server over mutual
// TLS on many connections, one message in flight per connection so each answer (or close)
// is attributed to the message that caused it. What counts as a finding:
// - crash: the server process exited;
// - hang: a message got neither a response nor a close within the deadline;
// - bad response: a response that is not a decodable KMIP Response Message;
// - unexpected close: a well-framed message within the size limit answered by a close
//   instead of a response (DESIGN.md §4: a malformed message gets Invalid Message and the
//   connection lives).
// RSS is sampled once a second when the server's pid is known (a child we started, or --pid).
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TtlvFramer } from '../../src/ttlv/framing.ts';
import { decode } from '../../src/ttlv/decode.ts';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../../src/ttlv/limits.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, ObjectType, Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { enumeration, integer, structure } from '../../src/kmip/items.ts';
import { KmipClient } from '../../src/client/index.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { cloneItem, resolvePlaceholders, type CorpusEntry } from './corpus.ts';
import { mutate, Rng } from './mutate.ts';
import { rssOf } from './server-process.ts';

export interface FuzzOptions {
  host: string;
  port: number;
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  corpus: CorpusEntry[];
  count: number;
  seed: number;
  connections: number;
  /** A message without a response or close within this is a hang. */
  deadlineMs: number;
  /** The server's frame limit (messages above it are expected to be refused with a close). */
  maxMessageSize?: number;
  /** Server pid for RSS sampling (and crash detection when `exited` is not given). */
  pid?: number;
  /** Resolves when the server process exits (child started by the fuzzer). */
  exited?: Promise<unknown>;
  /** Directory where messages behind a hang, a bad response or a crash are written. */
  findingsDir?: string;
  /** Progress line every this many messages (0 = none). */
  progressEvery?: number;
  log?: (line: string) => void;
  /** Ends the run early (SIGINT of the CLI): the summary covers what was sent. */
  signal?: AbortSignal;
}

export interface FuzzSummary {
  messages: number;
  responses: number;
  /** Response batch items by result (Success or the ResultReason name). */
  results: Record<string, number>;
  /** Messages answered by a close (expected: unframed or oversized messages). */
  expectedCloses: number;
  unexpectedCloses: number;
  hangs: number;
  badResponses: number;
  crashed: boolean;
  connections: number;
  connectFailures: number;
  mutations: Record<string, number>;
  rss: { start: number; end: number; max: number; samples: number } | undefined;
  ms: number;
  /** A sane DiscoverVersions + Create after the run answered Success. */
  saneAfter: boolean | undefined;
  findings: string[];
}

const REASON_NAMES = new Map<number, string>(Object.entries(ResultReason).map(([k, v]) => [v, k]));
const STATUS_NAMES = new Map<number, string>(Object.entries(ResultStatus).map(([k, v]) => [v, k]));

type Outcome = { kind: 'response'; frame: Buffer } | { kind: 'close'; frames: Buffer[] } | { kind: 'hang' };

/** One mTLS connection carrying one message at a time. */
class FuzzConnection {
  private readonly framer = new TtlvFramer(64 * 1024 * 1024);
  private waiter: ((o: Outcome) => void) | undefined;
  private frames: Buffer[] = [];
  private wantClose = false;
  closed = false;
  /** Messages sent on this connection (the first one on a fresh connection is told apart in findings). */
  sent = 0;

  private constructor(private readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      let got: Buffer[];
      try {
        got = this.framer.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of got) this.frames.push(Buffer.from(f));
      if (!this.wantClose && this.frames.length > 0 && this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w({ kind: 'response', frame: this.frames.shift()! });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w({ kind: 'close', frames: this.frames.splice(0) });
      }
    });
  }

  static open(host: string, port: number, tls: FuzzOptions['tls'], timeoutMs: number): Promise<FuzzConnection> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host, port, ...tls, servername: 'localhost', minVersion: 'TLSv1.2' });
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`TLS handshake not done within ${timeoutMs} ms`)); }, timeoutMs);
      socket.once('error', (e) => { clearTimeout(timer); reject(e); });
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new FuzzConnection(socket));
      });
    });
  }

  /**
   * Sends one message. `framed`: its header's length matches its size and it is within the
   * server's limit, so exactly one response is due; otherwise our side is ended after it
   * and the server owes a close (after answering whatever whole frames it found).
   */
  exchange(bytes: Buffer, framed: boolean, deadlineMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.socket.destroy();
        resolve({ kind: 'hang' });
      }, deadlineMs);
      this.wantClose = !framed;
      this.waiter = (o) => { clearTimeout(timer); resolve(o); };
      this.sent++;
      this.socket.write(bytes);
      if (!framed) this.socket.end();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function tally(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n;
}

/** UniqueIdentifier text strings anywhere in a response (fed back into later mutants). */
function collectUids(it: TtlvItem, out: string[]): void {
  if (it.tag === Tag.UniqueIdentifier && it.type === 'TextString') out.push(it.value);
  else if (it.type === 'Structure') for (const c of it.value) collectUids(c, out);
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzSummary> {
  const log = opts.log ?? (() => undefined);
  const max = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const rng = new Rng(opts.seed);
  const summary: FuzzSummary = {
    messages: 0, responses: 0, results: {}, expectedCloses: 0, unexpectedCloses: 0, hangs: 0, badResponses: 0,
    crashed: false, connections: 0, connectFailures: 0, mutations: {}, rss: undefined, ms: 0, saneAfter: undefined, findings: [],
  };
  const uids: string[] = [];
  const started = Date.now();
  let stop = false;
  let running = true;
  opts.signal?.addEventListener('abort', () => { stop = true; });
  void opts.exited?.then(() => { if (running) { summary.crashed = true; stop = true; } });

  // RSS: the first sample after 5% of the messages (or 2 000) is the baseline, after start-up
  // allocations and caches have settled; end is the last sample.
  const warmup = Math.min(2_000, Math.ceil(opts.count * 0.05));
  let rssTimer: NodeJS.Timeout | undefined;
  if (opts.pid !== undefined) {
    const pid = opts.pid;
    rssTimer = setInterval(() => {
      const r = rssOf(pid);
      if (r === undefined) {
        if (opts.exited === undefined) { summary.crashed = true; stop = true; }
        return;
      }
      if (summary.messages < warmup) return;
      if (summary.rss === undefined) summary.rss = { start: r, end: r, max: r, samples: 0 };
      summary.rss.end = r;
      summary.rss.max = Math.max(summary.rss.max, r);
      summary.rss.samples++;
    }, 1000);
  }

  const finding = (what: string, bytes: Buffer, info: string) => {
    const name = `${what}-${summary.findings.length + 1}`;
    summary.findings.push(`${name}: ${info}`);
    if (opts.findingsDir) {
      mkdirSync(opts.findingsDir, { recursive: true });
      writeFileSync(join(opts.findingsDir, `${name}.bin`), bytes);
    }
    log(`FINDING ${name}: ${info}`);
  };

  let issued = 0;
  const nextMessage = () => {
    const a = rng.pick(opts.corpus);
    const b = rng.pick(opts.corpus);
    const seed = cloneItem(a.request);
    resolvePlaceholders(seed, uids, (n) => rng.int(n));
    const donor = cloneItem(b.request);
    resolvePlaceholders(donor, uids, (n) => rng.int(n));
    const m = mutate(seed, donor, rng);
    const framed = m.bytes.length >= 8 && m.bytes.readUInt32BE(4) + 8 === m.bytes.length && m.bytes.length <= max;
    return { ...m, framed, source: a.source };
  };

  const worker = async () => {
    let conn: FuzzConnection | undefined;
    while (!stop && issued < opts.count) {
      issued++;
      const m = nextMessage();
      tally(summary.mutations, m.kind.split('+')[0]!);
      if (conn === undefined || conn.closed) {
        try {
          conn = await FuzzConnection.open(opts.host, opts.port, opts.tls, opts.deadlineMs);
          summary.connections++;
        } catch (e) {
          summary.connectFailures++;
          conn = undefined;
          if (summary.connectFailures > 50 && summary.connectFailures > summary.connections) {
            log(`too many connection failures (${(e as Error).message}); stopping`);
            stop = true;
          }
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
      }
      const t0 = Date.now();
      const outcome = await conn.exchange(m.bytes, m.framed, opts.deadlineMs);
      summary.messages++;
      const frames = outcome.kind === 'response' ? [outcome.frame] : outcome.kind === 'close' ? outcome.frames : [];
      for (const f of frames) {
        summary.responses++;
        try {
          const resp = parseResponseMessage(decode(f));
          for (const bi of resp.batchItems) {
            const status = STATUS_NAMES.get(bi.resultStatus) ?? `status-${bi.resultStatus}`;
            tally(summary.results, bi.resultStatus === ResultStatus.Success ? 'Success' : (REASON_NAMES.get(bi.resultReason ?? -1) ?? `${status}/no-reason`));
            if (bi.payload && uids.length < 256) collectUids(bi.payload, uids);
            else if (bi.payload && rng.chance(0.01)) { const fresh: string[] = []; collectUids(bi.payload, fresh); if (fresh[0]) uids[rng.int(uids.length)] = fresh[0]; }
          }
        } catch (e) {
          summary.badResponses++;
          finding('bad-response', m.bytes, `${m.kind} of ${m.source}: ${(e as Error).message}`);
        }
      }
      if (outcome.kind === 'hang') {
        summary.hangs++;
        finding('hang', m.bytes, `${m.kind} of ${m.source}: no response or close within ${opts.deadlineMs} ms (framed=${m.framed}, ${m.bytes.length} bytes)`);
        conn = undefined;
      } else if (outcome.kind === 'close') {
        if (m.framed && frames.length === 0 && !stop) {
          summary.unexpectedCloses++;
          finding('unexpected-close', m.bytes, `${m.kind} of ${m.source}: closed without a response (${m.bytes.length} bytes, message ${conn.sent} of its connection, after ${Date.now() - t0} ms)`);
        } else summary.expectedCloses++;
        conn = undefined;
      }
      if (opts.progressEvery && summary.messages % opts.progressEvery === 0) {
        const r = opts.pid !== undefined ? rssOf(opts.pid) : undefined;
        log(`${summary.messages} messages, ${Math.round((summary.messages * 1000) / (Date.now() - started))}/s, hangs ${summary.hangs}, unexpected closes ${summary.unexpectedCloses}${r ? `, RSS ${(r / 1048576).toFixed(0)} MiB` : ''}`);
      }
    }
    conn?.destroy();
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  if (!summary.crashed) summary.saneAfter = await saneRequest(opts);
  running = false;
  if (rssTimer) clearInterval(rssTimer);
  if (opts.pid !== undefined && summary.rss !== undefined) {
    const r = rssOf(opts.pid);
    if (r !== undefined) { summary.rss.end = r; summary.rss.max = Math.max(summary.rss.max, r); }
  }
  summary.ms = Date.now() - started;
  if (summary.crashed) finding('crash', Buffer.alloc(0), 'the server process exited during the run');
  return summary;
}

/** DiscoverVersions and a Create (AES-256) on a fresh connection: the server still serves. */
async function saneRequest(opts: FuzzOptions): Promise<boolean> {
  let c: KmipClient | undefined;
  try {
    c = await KmipClient.connect({ host: opts.host, port: opts.port, ...opts.tls, servername: 'localhost', timeoutMs: opts.deadlineMs });
    const dv = await c.requestItem(Operation.DiscoverVersions);
    const cr = await c.requestItem(Operation.Create, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        integer(Tag.CryptographicLength, 256),
        integer(Tag.CryptographicUsageMask, 12),
      ]),
    ]);
    return dv.resultStatus === ResultStatus.Success && cr.resultStatus === ResultStatus.Success;
  } catch {
    return false;
  } finally {
    await c?.close();
  }
}
