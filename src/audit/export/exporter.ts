// SIEM exporters: a bounded buffer per exporter, fed by the audit log's commits, drained by
// an asynchronous sender; a persistent cursor (last delivered seq) per exporter.
//
// The audit log's append path only ever copies committed records into buffers (O(1) per
// record and exporter) — a slow or dead SIEM cannot slow KMIP traffic. When a buffer is
// full, records are not copied: they are already in the store, the exporter counts them
// (droppedFromBuffer) and reads them back from the store, in order, once its buffer has
// drained. Delivery is in seq order and at least once: after a crash or a broken connection
// a few records may be sent twice (the seq in every line identifies them).
import type Database from 'better-sqlite3';
import type { AuditLog } from '../log.ts';
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
  private readonly saveCursor: Database.Statement;
  readonly done: Promise<void>;

  constructor(private readonly log: AuditLog, readonly cfg: ExporterConfig) {
    this.format = formatter(cfg);
    this.transport = transportFor(cfg);
    this.delay = cfg.retry.minDelayMs;
    const db = log.db;
    this.saveCursor = db.prepare('INSERT INTO audit_export_cursor (name, seq, updated) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated = excluded.updated');
    const row = db.prepare('SELECT seq FROM audit_export_cursor WHERE name = ?').get(cfg.name) as { seq: number } | undefined;
    if (row) {
      this.cursor = row.seq;
    } else {
      this.cursor = cfg.from === 'now' ? log.anchor().seq : 0;
      this.persist();
    }
    this.queuedUpTo = this.cursor;
    this.done = this.run();
  }

  /** Called by the audit log after each commit, synchronously: must stay cheap. */
  onCommitted(records: readonly AuditRecord[]): void {
    for (const r of records) {
      if (r.seq <= this.queuedUpTo) continue;
      if (this.catchingUp || this.buffer.length >= this.cfg.bufferSize || r.seq !== this.queuedUpTo + 1) {
        this.droppedFromBuffer++;
        this.catchingUp = true;
        continue;
      }
      this.buffer.push(r);
      this.queuedUpTo = r.seq;
    }
    if (this.idle) this.wake?.();
  }

  private persist(): void {
    // Inside a foreign transaction the write would share its fate; the cursor is saved on
    // the next batch instead (at worst a few records are sent again after a crash).
    if (this.log.db.inTransaction) return;
    this.saveCursor.run(this.cfg.name, this.cursor, new Date().toISOString());
  }

  private refill(): void {
    while (this.catchingUp && this.buffer.length < this.cfg.bufferSize) {
      const page = this.log.readAfter(this.queuedUpTo, Math.min(CATCH_UP_PAGE, this.cfg.bufferSize - this.buffer.length));
      for (const r of page) this.buffer.push(r);
      if (page.length > 0) this.queuedUpTo = page[page.length - 1]!.seq;
      // Everything committed is now buffered; later commits arrive through onCommitted.
      if (page.length === 0) this.catchingUp = false;
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
        this.refill();
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
        this.persist();
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
    return this.log.pendingCount() === 0 && this.cursor >= this.log.lastSeq();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.done;
    try { this.persist(); } catch { /* database already closed: the last saved cursor stands */ }
    await this.transport.close();
  }
}

/**
 * Starts one exporter per config entry (validated again here; throws AuditConfigError).
 * Configuration read from a file (unknown) goes through validateExportConfig() first,
 * whose result this accepts. Each exporter keeps its cursor in audit_export_cursor under
 * its name, so a restart resumes where it stopped.
 */
export function startExporters(log: AuditLog, config: readonly ExporterConfigInput[] | { exporters: readonly ExporterConfigInput[] }): Exporters {
  const configs = validateExportConfig(config);
  const exporters = configs.map((c) => new Exporter(log, c));
  const unsubscribe = log.subscribe((records) => { for (const e of exporters) e.onCommitted(records); });
  let closed = false;

  const drain = async (timeoutMs = 5_000): Promise<boolean> => {
    const until = Date.now() + timeoutMs;
    log.flush();
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
      await Promise.all(exporters.map((e) => e.stop()));
    },
  };
}
