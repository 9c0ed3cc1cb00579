// SIEM exporters: a bounded buffer per exporter, fed by the audit log's commits, drained by
// an asynchronous sender; a persistent cursor (last delivered seq) per exporter.
//
// The audit log's append path only ever copies committed records into buffers (O(1) per
// record and exporter) — a slow or dead SIEM cannot slow KMIP traffic. When a buffer is
// full, records are not copied: they are already in the store, the exporter counts them
// (droppedFromBuffer) and reads them back from the store, in order, once its buffer has
// drained. Delivery is in seq order and at least once: after a crash or a broken connection
// a few records may be sent twice (the seq in every line identifies them).
import type { AuditLog } from '../log.ts';
import { asAuditTrail, type AuditTrail } from '../trail.ts';
import type { AuditRecord } from '../record.ts';
import { validateExportConfig, type ExporterConfig, type ExporterConfigInput } from './config.ts';
import { formatCef, formatJson, formatRfc5424, productVersion } from './format.ts';
import { RotatingFileTransport, StreamSyslogTransport, UdpSyslogTransport, type Transport } from './transports.ts';

export interface ExporterStats {
  name: string;
  type: ExporterConfig['type'];
  target: string;
  /** Transport state after the last attempt. */
  connected: boolean;
  /** Last seq delivered (persisted). */
  cursor: number;
  /** Records committed to the log and not yet delivered (kept in the store until they are). */
  undelivered: number;
  /** Records currently held in memory. */
  buffered: number;
  /** Records not copied into the full buffer (left in the store and read back later). */
  droppedFromBuffer: number;
  delivered: number;
  failures: number;
  lastError: string | null;
}

export interface Exporters {
  stats(): ExporterStats[];
  /** Resolves true once every exporter has delivered everything committed so far, false on timeout. */
  drain(timeoutMs?: number): Promise<boolean>;
  /** Tries to drain for up to `drainTimeoutMs` (default 1000), then stops; cursors are saved. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/** Records read from the store per query while catching up. */
const CATCH_UP_PAGE = 1_000;

function formatter(cfg: ExporterConfig): (r: AuditRecord) => string {
  const version = productVersion();
  if (cfg.type === 'file') {
    if (cfg.format === 'cef') return (r) => formatCef(r, { version });
    if (cfg.format === 'rfc5424') return (r) => formatRfc5424(r, { version });
    return formatJson;
  }
  const o = { facility: cfg.facility, payload: cfg.payload, version, ...(cfg.hostname ? { hostname: cfg.hostname } : {}), ...(cfg.sdId ? { sdId: cfg.sdId } : {}) };
  return (r) => formatRfc5424(r, o);
}

function transportFor(cfg: ExporterConfig): Transport {
  if (cfg.type === 'file') return new RotatingFileTransport(cfg);
  return cfg.transport === 'udp' ? new UdpSyslogTransport(cfg) : new StreamSyslogTransport(cfg);
}

const targetOf = (cfg: ExporterConfig) => (cfg.type === 'file' ? cfg.path : `${cfg.transport}://${cfg.host}:${cfg.port}`);

class Exporter {
  private buffer: AuditRecord[] = [];
  /** Highest seq that is delivered or in the buffer. */
  private queuedUpTo: number;
  /** Records with seq > queuedUpTo are committed but only in the store. */
  private catchingUp = true;
  private cursor: number;
  private delivered = 0;
  private droppedFromBuffer = 0;
  private failures = 0;
  private lastError: string | null = null;
  private delay: number;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** True while waiting for records (not while backing off after a failure). */
  private idle = false;
  private sleepTimer: NodeJS.Timeout | undefined;
  private readonly format: (r: AuditRecord) => string;
  private readonly transport: Transport;
  /** False until the persisted cursor is read: commits before it are read back from the store, not counted as dropped. */
  private ready = false;
  /** Commits left to the store by onCommitted (a catch-up read must not end while one came in during it). */
  private missed = 0;
  readonly done: Promise<void>;

  constructor(private readonly log: AuditTrail, readonly cfg: ExporterConfig) {
    this.format = formatter(cfg);
    this.transport = transportFor(cfg);
    this.delay = cfg.retry.minDelayMs;
    this.cursor = 0;
    this.queuedUpTo = 0;
    // 'now' is the moment of the call, not of the first read: a record appended right after
    // startExporters() returns is exported.
    const nowSeq = log.lastSeq();
    if (log.placeExportCursorNow) {
      // A synchronous store (SQLite) places the cursor before this returns, as it always has:
      // stats() and the first commits see it at once.
      this.cursor = this.queuedUpTo = log.placeExportCursorNow(cfg.name, cfg.from === 'now' ? nowSeq : 0);
      this.ready = true;
      this.done = this.run();
    } else {
      this.done = this.start(nowSeq).then(() => this.run());
    }
  }

  /** Reads (or, at the first start, places) the persisted cursor; retried while the store cannot answer. */
  private async start(nowSeq: number): Promise<void> {
    while (!this.stopped) {
      try {
        const saved = await this.log.readExportCursor(this.cfg.name);
        if (saved !== undefined) {
          this.cursor = saved;
        } else {
          this.cursor = this.cfg.from === 'now' ? nowSeq : 0;
          await this.persist();
        }
        this.queuedUpTo = this.cursor;
        this.ready = true;
        return;
      } catch (err) {
        if (await this.failed(err)) return;
      }
    }
  }

  /**
   * Records committed by another writer of the database (another worker process) reach no
   * subscriber here: when idle and up to date, look for one past what is queued and catch up.
   */
  pollForeign(): void {
    if (this.stopped || !this.ready || this.catchingUp || !this.idle || this.polling) return;
    this.polling = true;
    this.log.readAfter(this.queuedUpTo, 1).then((page) => {
      this.polling = false;
      if (page.length === 0 || this.stopped || this.catchingUp) return;
      this.catchingUp = true;
      if (this.idle) this.wake?.();
    }, () => {
      this.polling = false; // unreadable now; the next poll tries again
    });
  }
  private polling = false;

  /** Called by the audit log after each commit, synchronously: must stay cheap. */
  onCommitted(records: readonly AuditRecord[]): void {
    if (!this.ready) return;
    for (const r of records) {
      if (r.seq <= this.queuedUpTo) continue;
      if (this.catchingUp || this.buffer.length >= this.cfg.bufferSize || r.seq !== this.queuedUpTo + 1) {
        this.droppedFromBuffer++;
        this.missed++;
        this.catchingUp = true;
        continue;
      }
      this.buffer.push(r);
      this.queuedUpTo = r.seq;
    }
    if (this.idle) this.wake?.();
  }

  private async persist(): Promise<void> {
    await this.log.saveExportCursor(this.cfg.name, this.cursor);
  }

  private async refill(): Promise<void> {
    while (this.catchingUp && this.buffer.length < this.cfg.bufferSize) {
      const missedBefore = this.missed;
      const page = await this.log.readAfter(this.queuedUpTo, Math.min(CATCH_UP_PAGE, this.cfg.bufferSize - this.buffer.length));
      for (const r of page) this.buffer.push(r);
      if (page.length > 0) this.queuedUpTo = page[page.length - 1]!.seq;
      // Everything committed is now buffered; later commits arrive through onCommitted —
      // unless a commit came in while the read was on its way (the read is asynchronous):
      // that one was left to the store, so read again.
      if (page.length === 0 && this.missed === missedBefore) this.catchingUp = false;
    }
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => { this.wake = undefined; if (this.sleepTimer) clearTimeout(this.sleepTimer); this.sleepTimer = undefined; resolve(); };
      if (ms !== undefined) this.sleepTimer = setTimeout(() => this.wake?.(), ms);
    });
  }

  /** Counts a failure and backs off; true when the exporter was stopped meanwhile. */
  private async failed(err: unknown): Promise<boolean> {
    this.failures++;
    this.lastError = err instanceof Error ? err.message : String(err);
    if (this.stopped) return true;
    await this.sleep(this.delay); // new commits do not cut the back-off short (idle is false)
    this.delay = Math.min(this.delay * 2, this.cfg.retry.maxDelayMs);
    return this.stopped;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.refill();
      } catch (err) {
        // The store cannot be read (I/O error, closed handle): nothing is lost, try later.
        if (await this.failed(err)) break;
        continue;
      }
      if (this.buffer.length === 0) {
        this.idle = true;
        await this.sleep(undefined);
        this.idle = false;
        continue;
      }
      const batch = this.buffer.slice(0, this.cfg.batchSize);
      try {
        await this.transport.send(batch.map(this.format));
      } catch (err) {
        if (await this.failed(err)) break;
        continue;
      }
      this.buffer.splice(0, batch.length);
      this.cursor = batch[batch.length - 1]!.seq;
      this.delivered += batch.length;
      this.delay = this.cfg.retry.minDelayMs;
      this.lastError = null;
      try {
        await this.persist();
      } catch (err) {
        // Delivered all the same; an unsaved cursor only means resending after a restart.
        this.lastError = `delivered, but the cursor could not be saved: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  }

  stats(): ExporterStats {
    return {
      name: this.cfg.name,
      type: this.cfg.type,
      target: targetOf(this.cfg),
      connected: this.transport.connected,
      cursor: this.cursor,
      undelivered: Math.max(0, this.log.lastSeq() - this.cursor),
      buffered: this.buffer.length,
      droppedFromBuffer: this.droppedFromBuffer,
      delivered: this.delivered,
      failures: this.failures,
      lastError: this.lastError,
    };
  }

  isDrained(): boolean {
    return this.ready && this.log.pendingCount() === 0 && this.cursor >= this.log.lastSeq();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.done;
    if (this.ready) {
      try { await this.persist(); } catch { /* database already closed: the last saved cursor stands */ }
    }
    await this.transport.close();
  }
}

export interface StartExportersOptions {
  /**
   * Other processes append to the same audit log (`openkcm serve --workers N`): every this
   * many ms, an idle exporter checks the database for records it was not told about.
   */
  foreignCommitPollMs?: number;
}

/**
 * Starts one exporter per config entry (validated again here; throws AuditConfigError).
 * Configuration read from a file (unknown) goes through validateExportConfig() first,
 * whose result this accepts. Each exporter keeps its cursor in audit_export_cursor under
 * its name, so a restart resumes where it stopped.
 */
export function startExporters(
  source: AuditLog | AuditTrail, config: readonly ExporterConfigInput[] | { exporters: readonly ExporterConfigInput[] }, options: StartExportersOptions = {},
): Exporters {
  const configs = validateExportConfig(config);
  const log = asAuditTrail(source);
  const exporters = configs.map((c) => new Exporter(log, c));
  const unsubscribe = log.subscribe((records) => { for (const e of exporters) e.onCommitted(records); });
  const poll = options.foreignCommitPollMs !== undefined
    ? setInterval(() => { for (const e of exporters) e.pollForeign(); }, options.foreignCommitPollMs).unref()
    : undefined;
  let closed = false;

  const drain = async (timeoutMs = 5_000): Promise<boolean> => {
    const until = Date.now() + timeoutMs;
    await log.flush().catch(() => undefined);
    while (!exporters.every((e) => e.isDrained())) {
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  };

  return {
    stats: () => exporters.map((e) => e.stats()),
    drain,
    async close(drainTimeoutMs = 1_000) {
      if (closed) return;
      closed = true;
      if (drainTimeoutMs > 0) await drain(drainTimeoutMs);
      unsubscribe();
      if (poll) clearInterval(poll);
      await Promise.all(exporters.map((e) => e.stop()));
    },
  };
}
