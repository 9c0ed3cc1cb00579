// One mutual-TLS connection: socket bytes → frames (TtlvFramer) → engine → response
// bytes, strictly in request order (pipelined requests are queued, not run in parallel, so
// a client that pipelines Create then Get sees the Create first).
//
// What closes a connection: the peer, the idle timeout, a message not complete within the
// message deadline (a slowloris trickle resets the idle timer but not this one), a frame
// over the maximum size (refused from its 8-byte header, never buffered — DESIGN.md §4),
// a socket error, or server shutdown. A malformed message does NOT close it: the engine answers it with
// Invalid Message and the next request is served.
import { createHash } from 'node:crypto';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { TtlvFramer, FrameTooLargeError } from '../ttlv/framing.ts';
import type { ClientIdentity } from '../operations/types.ts';
import type { KmipEngine } from './executor.ts';

export interface ConnectionLimits {
  maxMessageSize: number;
  idleTimeoutMs: number;
  maxPipelineDepth: number;
  /** A message whose first byte arrived must be whole within this (DEFAULT_MESSAGE_TIMEOUT_MS). */
  messageTimeoutMs: number;
}

/**
 * Placeholders of an identity read from a certificate before governance resolved it; the
 * connection replaces them with the governance identity's tenant and service
 * (KmipEngine.identify), and the executor authorises every message afresh regardless.
 */
export const DEFAULT_TENANT = 'default';
export const DEFAULT_SERVICE = 'default';

function formatSubject(subject: PeerCertificate['subject'] | undefined): string {
  if (!subject) return '';
  // RFC 4514 puts the most specific RDN first; node lists them in certificate order.
  return Object.entries(subject)
    .reverse()
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(', ');
}

/** The peer certificate → ClientIdentity (subject, SANs, SHA-256 fingerprint of the DER). */
export function identityFromCertificate(cert: PeerCertificate): ClientIdentity {
  const sans = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .map((s) => s.trim())
    .filter(Boolean);
  // Without the certificate there is no identity; serving anyway would make every such
  // connection the same anonymous caller, so the listener drops it instead.
  if (!cert.raw || cert.raw.length === 0) throw new Error('the TLS session carries no client certificate');
  const fingerprint = createHash('sha256').update(cert.raw).digest('hex');
  const id: ClientIdentity = { subject: formatSubject(cert.subject), sans, fingerprint, tenant: DEFAULT_TENANT, service: DEFAULT_SERVICE };
  // Identities bound to one certificate (kmipctl cert issue / cert revoke) match on the serial.
  if (typeof cert.serialNumber === 'string' && cert.serialNumber !== '') id.serial = cert.serialNumber;
  return id;
}

export type CloseReason = 'peer' | 'idle' | 'message-timeout' | 'frame-too-large' | 'error' | 'shutdown';

export class KmipConnection {
  private readonly framer: TtlvFramer;
  private readonly queue: Buffer[] = [];
  private busy = false;
  private closing = false;
  private paused = false;
  /** Pending uncork of gathered answers (see pump()). */
  private uncork: NodeJS.Immediate | undefined;
  /** Deadline of the message being received, armed while a partial message is buffered. */
  private messageTimer: NodeJS.Timeout | undefined;
  private closeReason: CloseReason = 'peer';
  private readonly opened = Date.now();
  private readonly remote: string;
  private messages = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  readonly identity: ClientIdentity;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: TLSSocket,
    private readonly engine: KmipEngine,
    private readonly log: Logger,
    private readonly limits: ConnectionLimits,
  ) {
    this.framer = new TtlvFramer(limits.maxMessageSize);
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    // Tenant and service from the governance identity (for the log and the operations);
    // an unknown certificate gets empty ones and is refused at its first message.
    this.identity = engine.identify(identityFromCertificate(socket.getPeerCertificate(false)));
    this.log = log.child({ identity: this.identity });
    this.closed = new Promise((resolve) => socket.once('close', () => { this.clearMessageDeadline(); this.engine.connectionEnded(this.identity, this.closeReason); this.logClose(); resolve(); }));
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('timeout', () => {
      // A slow operation is not idleness. The timer stays armed while a request runs (re-arming
      // it around each request cost two timer objects per request, issue 12); when it fires
      // meanwhile it is ignored, and the answer's write arms it again.
      if (this.busy) return;
      this.closeReason = 'idle';
      this.log.info({ event: 'idle_timeout', idleTimeoutMs: limits.idleTimeoutMs }, 'closing idle connection');
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.closeReason = 'error';
      this.log.debug({ err }, 'socket error');
    });
    socket.on('end', () => {
      // The peer finished sending; answer what is queued, then close our side.
      this.closing = true;
      // A held gateway status watch is answered now rather than at the end of its hold.
      this.engine.connectionEnded(this.identity, 'peer');
      if (!this.busy && this.queue.length === 0) socket.end();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.bytesIn += chunk.length;
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      if (e instanceof FrameTooLargeError) {
        this.closeReason = 'frame-too-large';
        this.log.warn({ event: 'frame_too_large', claimed: e.claimed, max: e.max }, 'refusing oversized message; closing connection');
      } else {
        this.closeReason = 'error';
        this.log.error({ err: e }, 'framing failed; closing connection');
      }
      this.closing = true;
      this.socket.pause();
      // Answers to requests already received still go out, then the connection ends.
      if (!this.busy && this.queue.length === 0) this.endAndClose();
      return;
    }
    // The deadline runs from the first byte of a message to its last: restarted when a
    // message completes with the next one already begun, cleared when nothing is pending.
    if (this.framer.pending === 0) this.clearMessageDeadline();
    else if (frames.length > 0 || this.messageTimer === undefined) this.armMessageDeadline();
    if (frames.length === 0) return;
    // The framer's fast path returns views into the chunk; queued frames keep only their own bytes alive.
    for (const f of frames) this.queue.push(f);
    if (this.queue.length >= this.limits.maxPipelineDepth && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        const frame = this.queue.shift()!;
        if (this.paused && this.queue.length < this.limits.maxPipelineDepth / 2 && !this.closing) {
          this.paused = false;
          this.socket.resume();
        }
        let out: Buffer;
        try {
          out = await this.engine.handleBytes(frame, this.identity, this.log);
        } catch (e) {
          // handleBytes answers every failure itself; reaching here is a bug. Close this
          // connection (its state is unknown) but keep the process serving the others.
          this.log.error({ err: e }, 'engine failed to answer; closing connection');
          this.closeReason = 'error';
          this.socket.destroy();
          return;
        }
        this.messages++;
        if (this.socket.destroyed) return;
        this.bytesOut += out.length;
        // Pipelined requests (issue 12 §2): while more requests are queued, answers are
        // gathered (cork) and written together at the end of this turn of the event loop —
        // one TLS record and one system call for the lot instead of one per answer. An answer
        // is never held past that turn, so a later request that waits for the disk does not
        // delay it.
        if (this.queue.length > 0 && this.uncork === undefined) {
          this.socket.cork();
          this.uncork = setImmediate(() => { this.uncork = undefined; this.socket.uncork(); });
        }
        if (!this.socket.write(out)) await new Promise<void>((resolve) => {
          const done = () => { this.socket.off('drain', done); this.socket.off('close', done); resolve(); };
          this.socket.on('drain', done);
          this.socket.on('close', done);
        });
      }
    } finally {
      this.busy = false;
      if (!this.socket.destroyed && this.closing) this.endAndClose();
    }
  }

  private armMessageDeadline(): void {
    this.clearMessageDeadline();
    this.messageTimer = setTimeout(() => {
      this.messageTimer = undefined;
      // While we paused reading (pipeline full) the client cannot finish: not its delay.
      if (this.paused) { this.armMessageDeadline(); return; }
      this.closeReason = 'message-timeout';
      this.log.warn({ event: 'message_timeout', limit: 'messageTimeoutMs', messageTimeoutMs: this.limits.messageTimeoutMs, buffered: this.framer.pending },
        'message not complete within the message deadline; closing connection');
      this.socket.destroy();
    }, this.limits.messageTimeoutMs);
  }

  private clearMessageDeadline(): void {
    if (this.messageTimer !== undefined) { clearTimeout(this.messageTimer); this.messageTimer = undefined; }
  }

  /** Graceful shutdown: stop reading, answer what was received, then end. */
  shutdown(): void {
    if (this.socket.destroyed) return;
    this.closeReason = 'shutdown';
    this.closing = true;
    // A held gateway status watch would keep this connection busy for its whole hold.
    this.engine.connectionEnded(this.identity, 'shutdown');
    this.socket.pause();
    if (!this.busy && this.queue.length === 0) this.endAndClose();
  }

  /**
   * Ends our side once pending writes are flushed, then destroys the socket: a peer that
   * never closes its own side (it was refused, it is being shut down) cannot keep the
   * half-open connection alive.
   */
  private endAndClose(): void {
    this.socket.end(() => this.socket.destroy());
  }

  destroy(): void {
    this.socket.destroy();
  }

  private logClose(): void {
    // One line per connection (issue 3 §5).
    this.log.info({
      event: 'connection',
      remote: this.remote,
      reason: this.closeReason,
      messages: this.messages,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      durationMs: Date.now() - this.opened,
    }, 'connection closed');
  }
}
