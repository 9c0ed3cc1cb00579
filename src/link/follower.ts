// Keeps a core's governance replica in step with its CMK (issue 10 §2): snapshot first, then
// the ordered change stream from the snapshot's seq; on any break, reconnect with backoff
// and resume after the last change applied (the CMK answers 410 Gone when it no longer
// holds that far back: then the snapshot is loaded again). Every answer of the CMK —
// stream opened, change, heartbeat — is contact, which is what the lease measures.
import type { Logger } from 'pino';
import { LINK_HEARTBEAT_MS, type LinkChange, type LinkHeartbeat, type LinkSnapshot } from './protocol.ts';
import { LinkError, type LinkClient } from './client.ts';
import type { GovernanceReplica } from './replica.ts';
import type { SseEvent } from './sse.ts';

/** First reconnect delay; doubles per failure up to MAX_RECONNECT_MS (a CMK restart is seconds). */
export const FIRST_RECONNECT_MS = 100;
export const MAX_RECONNECT_MS = 2_000;
/** A stream silent for this many heartbeat periods is dead (half-open TCP, a frozen CMK). */
export const STREAM_IDLE_HEARTBEATS = 3;

export interface FollowerHooks {
  /** After the replica loaded a snapshot (at start and after 410 Gone): reconcile everything. */
  onSnapshot(s: LinkSnapshot): Promise<void>;
  /** After the replica applied one change, in seq order. */
  onChange(c: LinkChange): Promise<void>;
  /** Any sign of life of the CMK. */
  onContact(at: number): void;
  /**
   * The replica holds every change the CMK had (a heartbeat's seq is not ahead of it, or a
   * snapshot was just loaded): decisions taken while the link was down are all known now.
   */
  onCaughtUp?(): void;
  /** The link broke (it is being re-established). */
  onDisconnect?(err: LinkError): void;
}

export class LinkFollower {
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private work: Promise<void> = Promise.resolve();
  private workError: unknown;
  /** The CMK's latest seq as its last heartbeat said (status reporting). */
  cmkSeq = 0;
  connected = false;

  constructor(
    private readonly client: LinkClient,
    private readonly replica: GovernanceReplica,
    private readonly hooks: FollowerHooks,
    private readonly log?: Logger,
    private readonly idleMs = LINK_HEARTBEAT_MS * STREAM_IDLE_HEARTBEATS,
  ) {}

  /** Loads the snapshot (throws LinkError when the CMK cannot be reached or refuses). */
  async loadSnapshot(): Promise<void> {
    const s = await this.client.snapshot();
    this.hooks.onContact(Date.now());
    this.replica.loadSnapshot(s);
    this.cmkSeq = Math.max(this.cmkSeq, s.seq);
    this.log?.info({ event: 'link_snapshot', seq: s.seq, tenants: s.tenants.map((t) => t.id) }, 'governance snapshot loaded');
    await this.hooks.onSnapshot(s);
    this.hooks.onCaughtUp?.();
  }

  /** Follows the stream in the background until stop(). */
  start(): void {
    this.loop ??= this.run();
  }

  private enqueue(fn: () => Promise<void>): void {
    this.work = this.work.then(fn).catch((e) => {
      this.workError ??= e;
    });
  }

  private onEvent(e: SseEvent): void {
    this.hooks.onContact(Date.now());
    if (e.event === 'heartbeat') {
      let hb: LinkHeartbeat | undefined;
      try {
        hb = JSON.parse(e.data) as LinkHeartbeat;
      } catch { /* a heartbeat is contact whatever it holds */ }
      const seq = hb?.seq;
      if (typeof seq !== 'number') return;
      this.cmkSeq = Math.max(this.cmkSeq, seq);
      // Behind the changes received before it: caught up once they are applied.
      this.enqueue(async () => {
        if (this.replica.seq >= seq) this.hooks.onCaughtUp?.();
      });
      return;
    }
    if (e.event !== 'change') return;
    let c: LinkChange;
    try {
      c = JSON.parse(e.data) as LinkChange;
    } catch {
      this.workError ??= new LinkError('protocol', `change ${e.id ?? '?'} of the stream is not JSON`);
      return;
    }
    this.enqueue(async () => {
      if (this.replica.apply(c)) {
        this.cmkSeq = Math.max(this.cmkSeq, c.seq);
        this.log?.debug({ event: 'link_change', seq: c.seq, entity: c.entity, op: c.op, tenant: c.tenant }, 'change applied');
        await this.hooks.onChange(c);
      }
    });
  }

  private async run(): Promise<void> {
    let delay = FIRST_RECONNECT_MS;
    while (!this.stopped) {
      this.workError = undefined;
      try {
        await this.client.follow(this.replica.seq, {
          onOpen: () => {
            this.connected = true;
            delay = FIRST_RECONNECT_MS;
            this.hooks.onContact(Date.now());
            this.log?.info({ event: 'link_stream_open', after: this.replica.seq }, 'following the CMK change stream');
          },
          onEvent: (e) => {
            if (this.workError === undefined) this.onEvent(e);
          },
        }, { idleMs: this.idleMs, signal: this.abort.signal });
        await this.work;
        if (this.stopped) break;
        throw this.workError ?? new LinkError('unreachable', 'the CMK ended the change stream');
      } catch (e) {
        await this.work;
        this.connected = false;
        if (this.stopped) break;
        const err = e instanceof LinkError ? e : new LinkError('protocol', (e as Error).message ?? String(e));
        if (err.kind === 'gone') {
          this.log?.warn({ event: 'link_gone', after: this.replica.seq }, 'the CMK no longer holds our position in the stream: reloading the snapshot');
          try {
            await this.loadSnapshot();
            continue;
          } catch (e2) {
            this.hooks.onDisconnect?.(e2 instanceof LinkError ? e2 : new LinkError('protocol', String(e2)));
          }
        } else {
          this.hooks.onDisconnect?.(err);
          this.log?.warn({ event: 'link_down', kind: err.kind, err: err.message, retryInMs: delay }, 'link to the CMK broken; reconnecting');
        }
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        this.abort.signal.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
      });
      delay = Math.min(delay * 2, MAX_RECONNECT_MS);
    }
  }

  /** Waits for the changes already received to be applied. */
  settled(): Promise<void> {
    return this.work;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop?.catch(() => undefined);
    await this.work;
  }
}
