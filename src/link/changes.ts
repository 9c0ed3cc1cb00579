// The CMK's half of the link (issue 10 §2): the policy snapshot of one region and the ordered
// change stream that follows it, as Server-Sent Events (WHATWG HTML §9.2 "Server-sent
// events"). The change log itself is written by the governance store in the transaction of
// each mutation (src/store/governance.ts, migration 6); this file reads it, filters it by
// region and frames it. A stream is pushed as soon as a mutation commits: the governance
// store notifies in-process, there is no polling interval on the CMK side.
//
// Region filter: a region sees the tenants pinned to it and everything of theirs (services,
// identities, grants, L1 pointers, rotations), plus the roles (global). A tenant of another
// region is absent from the snapshot and from the stream, as if it did not exist.
import type { ServerResponse } from 'node:http';
import type { GovernanceChange } from '../store/governance.ts';
import type { Governance } from '../store/governance-async.ts';
import {
  LINK_HEARTBEAT_MS, LINK_PROTOCOL_VERSION,
  type LinkChange, type LinkHeartbeat, type LinkSnapshot, type LinkTenant,
} from './protocol.ts';

// The store's change record and the wire's LinkChange are declared apart (store may not
// import link, DESIGN.md §5): these two lines fail to compile the day they drift.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _changeShapesAgree: Same<GovernanceChange, LinkChange> = true;
void _changeShapesAgree;

/** Concurrent change streams: each holds a socket, a timer and a read cursor (descriptor and memory exhaustion). */
export const LINK_MAX_STREAMS = 256;
/**
 * Output queued for one stream beyond which its client counts as dead or hopelessly slow and
 * is disconnected (it resumes from its last seq when it comes back). Without it a core that
 * stops reading makes the CMK buffer every change for it in memory.
 */
export const LINK_STREAM_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** A stream whose socket has not drained for this long is closed (a peer gone without FIN). */
export const LINK_STREAM_STALL_MS = 20_000;
/** Changes read from the log per query: bounds the memory of one catch-up step. */
export const LINK_STREAM_PAGE = 500;

export class LinkGoneError extends Error {
  override readonly name = 'LinkGoneError';
}

/** The region's snapshot, consistent with the change log: follow the stream after `seq`. */
export async function buildSnapshot(gov: Pick<Governance, 'regionSnapshot'>, region: string, now: () => Date = () => new Date()): Promise<LinkSnapshot> {
  // One consistent read of the store (a transaction on either backend), framed for the wire.
  const g = await gov.regionSnapshot(region);
  const tenants: LinkTenant[] = g.tenants;
  return {
    protocol: LINK_PROTOCOL_VERSION,
    seq: g.seq,
    region,
    at: now().toISOString(),
    tenants,
    services: g.services,
    roles: g.roles,
    identities: g.identities,
    grants: g.grants,
    l1Pointers: g.l1Pointers,
    rotations: g.rotations,
    l2Rotations: g.l2Rotations,
  };
}

/**
 * Where a stream may start. `after` is the last seq the client has (a snapshot's seq, or the
 * last change applied). Throws LinkGoneError when changes after it are no longer kept — or
 * when it is ahead of this CMK's log (a log restored from a backup): either way the client
 * must reload the snapshot (410 Gone).
 */
export async function checkResumable(gov: Pick<Governance, 'changeBounds'>, after: number): Promise<void> {
  const { latest, oldest } = await gov.changeBounds();
  if (after > latest) {
    throw new LinkGoneError(`seq ${after} is ahead of this CMK's change log (latest ${latest}): reload the snapshot`);
  }
  if (after < latest && (oldest === undefined || after < oldest - 1)) {
    throw new LinkGoneError(`changes after seq ${after} are no longer kept (oldest kept: ${oldest ?? latest + 1}): reload the snapshot`);
  }
}

/** One SSE event. `data` is one line of JSON (JSON.stringify escapes every line break). */
export function sseFrame(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export interface LinkStreamInfo {
  region: string;
  node: string;
  /** Everything of the region up to this seq has been written. */
  cursor: number;
  openedAt: string;
}

interface LinkHubOptions {
  heartbeatMs?: number;
  maxStreams?: number;
  maxBufferedBytes?: number;
  stallMs?: number;
  now?: () => Date;
  onStreamError?: (info: LinkStreamInfo, err: Error) => void;
}

/** All open change streams of one CMK, woken by the governance store after every commit. */
export class LinkChangeHub {
  private readonly streams = new Set<LinkStream>();
  private readonly unsubscribe: () => void;
  readonly heartbeatMs: number;
  readonly maxStreams: number;
  readonly maxBufferedBytes: number;
  readonly stallMs: number;
  readonly now: () => Date;
  private closed = false;

  constructor(readonly gov: Pick<Governance, 'onChange' | 'changeBounds' | 'changesAfter'>, private readonly options: LinkHubOptions = {}) {
    this.heartbeatMs = options.heartbeatMs ?? LINK_HEARTBEAT_MS;
    this.maxStreams = options.maxStreams ?? LINK_MAX_STREAMS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? LINK_STREAM_MAX_BUFFERED_BYTES;
    this.stallMs = options.stallMs ?? LINK_STREAM_STALL_MS;
    this.now = options.now ?? (() => new Date());
    this.unsubscribe = gov.onChange(() => { for (const s of this.streams) s.wake(); });
  }

  /** Open streams now (a closed or dead client is removed at once). */
  list(): LinkStreamInfo[] {
    return [...this.streams].map((s) => s.info());
  }

  get size(): number {
    return this.streams.size;
  }

  /** Whether another stream may open (LINK_MAX_STREAMS). */
  hasRoom(): boolean {
    return !this.closed && this.streams.size < this.maxStreams;
  }

  /**
   * Takes over `res` and streams the region's changes after `after` until the client goes
   * away or the hub closes. The caller has checked the caller and checkResumable().
   */
  open(res: ServerResponse, who: { region: string; node: string }, after: number): void {
    const s = new LinkStream(this, res, who.region, who.node, after, (e) => this.options.onStreamError?.(s.info(), e));
    this.streams.add(s);
    void s.run().finally(() => this.streams.delete(s));
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const s of this.streams) s.end();
  }
}

class LinkStream {
  private cursor: number;
  private done = false;
  private waking: (() => void) | undefined;
  private pending = false;
  private heartbeatDue = true;
  private timer: NodeJS.Timeout | undefined;
  private readonly openedAt: string;

  constructor(
    private readonly hub: LinkChangeHub, private readonly res: ServerResponse,
    private readonly region: string, private readonly node: string, after: number,
    private readonly onError: (e: Error) => void,
  ) {
    this.cursor = after;
    this.openedAt = hub.now().toISOString();
  }

  info(): LinkStreamInfo {
    return { region: this.region, node: this.node, cursor: this.cursor, openedAt: this.openedAt };
  }

  wake(): void {
    this.pending = true;
    const w = this.waking;
    this.waking = undefined;
    w?.();
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.wake();
    if (!this.res.destroyed) this.res.end();
  }

  private kill(why: string): void {
    this.onError(new Error(why));
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.wake();
    this.res.destroy();
  }

  /** Waits until the socket drained; false when it did not within the stall limit (the stream is then closed). */
  private drained(): Promise<boolean> {
    if (!this.res.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => { cleanup(); this.kill(`client read nothing for ${this.hub.stallMs} ms`); resolve(false); }, this.hub.stallMs);
      const onDrain = () => { cleanup(); resolve(true); };
      const onClose = () => { cleanup(); resolve(false); };
      const cleanup = () => { clearTimeout(t); this.res.off('drain', onDrain); this.res.off('close', onClose); };
      this.res.on('drain', onDrain);
      this.res.on('close', onClose);
    });
  }

  private write(text: string): boolean {
    if (this.done || this.res.destroyed) return false;
    this.res.write(text);
    if (this.res.writableLength > this.hub.maxBufferedBytes) {
      this.kill(`more than ${this.hub.maxBufferedBytes} bytes queued for the client`);
      return false;
    }
    return true;
  }

  async run(): Promise<void> {
    const { res } = this;
    res.on('close', () => this.end());
    res.socket?.setKeepAlive(true, 10_000);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // A reverse proxy must pass events on at once, not buffer them.
      'x-accel-buffering': 'no',
    });
    // A first line puts the headers on the wire now; the client knows the stream is open.
    this.write(`: openkcm link, region ${this.region}, after ${this.cursor}\n\n`);
    this.timer = setInterval(() => { this.heartbeatDue = true; this.wake(); }, this.hub.heartbeatMs);
    this.timer.unref();
    try {
      while (!this.done) {
        this.pending = false;
        const { latest, oldest } = await this.hub.gov.changeBounds();
        if (this.cursor < latest && oldest !== undefined && this.cursor < oldest - 1) {
          // This client fell behind the retention while connected: closing makes it
          // reconnect from its cursor, and that answer is 410 (reload the snapshot).
          this.kill(`fell behind the change log retention at seq ${this.cursor}`);
          break;
        }
        const page = await this.hub.gov.changesAfter(this.cursor, latest, LINK_STREAM_PAGE, this.region);
        for (const c of page) if (!this.write(sseFrame('change', c, c.seq))) break;
        if (this.done) break;
        this.cursor = page.length === LINK_STREAM_PAGE ? page[page.length - 1]!.seq : latest;
        if (!(await this.drained())) break;
        if (page.length === LINK_STREAM_PAGE) continue;
        if (this.heartbeatDue) {
          this.heartbeatDue = false;
          const hb: LinkHeartbeat = { seq: this.cursor, at: this.hub.now().toISOString() };
          if (!this.write(sseFrame('heartbeat', hb))) break;
        }
        if (!this.pending && !this.done) await new Promise<void>((resolve) => { this.waking = resolve; });
      }
    } catch (e) {
      this.kill(`stream failed: ${(e as Error).message}`);
    } finally {
      if (this.timer) clearInterval(this.timer);
      this.done = true;
    }
  }
}
