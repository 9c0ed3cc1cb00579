// Audit of refused authentications, rate-limited per source (issue 16 §1): every refused
// TLS handshake (no certificate, a certificate of another CA or otherwise rejected, a
// handshake past its deadline) and every message refused for its certificate (unknown,
// revoked) is an `auth-failure` record — but a flood of them must not fill the disk.
//
// Per key (a source address for handshakes, a certificate fingerprint for messages) and
// per window: the first `perSource` failures are recorded one by one; the rest are
// counted and written at the end of the window as ONE summary record (count, first and
// last time, the reasons with their counts). Nothing is dropped silently: every failure
// is either a record or part of a summary's count.
//
// Bounds: the table of keys holds at most `maxSources` entries (the least recently
// created is folded into an overflow count when a new key needs room: a flood spread
// over many addresses — an IPv6 prefix has billions — cannot grow memory), and all
// records together, individual and summaries, are capped at `maxRecordsPerWindow` per
// window; whatever is over goes into one overflow summary per window. So the audit log
// grows by at most maxRecordsPerWindow + 1 records per window whatever the attacker does.
import type { Logger } from 'pino';
import type { AuditInput } from '../audit/record.ts';
import type { AuditSink } from './executor.ts';

/** Individual records per key per window: enough to see what happened, too few to fill a disk. */
export const AUTH_FAILURE_AUDIT_PER_SOURCE = 10;
/** Length of one counting window; one summary per key per window at most. */
export const AUTH_FAILURE_AUDIT_WINDOW_MS = 60_000;
/** Keys tracked at once (memory bound against floods from many addresses). */
export const AUTH_FAILURE_AUDIT_MAX_SOURCES = 4096;
/** All auth-failure records per window, summaries included (disk bound against distributed floods). */
export const AUTH_FAILURE_AUDIT_MAX_PER_WINDOW = 1000;
/** Distinct reasons listed in one summary; the others are counted as "other". */
const MAX_REASONS_PER_SUMMARY = 8;
/** The audit module's detail limit (src/audit/record.ts FIELD_LIMITS.detail), kept below it. */
const MAX_DETAIL = 1000;

export interface AuthFailureAuditOptions {
  perSource?: number;
  windowMs?: number;
  maxSources?: number;
  maxRecordsPerWindow?: number;
  /** `operation` of summary records (a token, e.g. 'tls.handshake.summary'). */
  summaryOperation: string;
  /** Words for the summary detail: "refused TLS handshakes", "refused messages". */
  what: string;
  log: Logger;
  clock?: () => number;
}

interface Entry {
  recorded: number;
  suppressed: number;
  first: number;
  last: number;
  reasons: Map<string, number>;
  /** The record's ResultReason, for the summary. */
  reason: AuditInput['reason'];
}

export interface AuthFailureAuditStats {
  /** Failures reported, recorded one by one, folded into summaries, summaries written. */
  reported: number;
  recorded: number;
  summarised: number;
  summaries: number;
  /** Keys tracked now. */
  sources: number;
}

export class AuthFailureAuditor {
  private readonly perSource: number;
  private readonly windowMs: number;
  private readonly maxSources: number;
  private readonly maxPerWindow: number;
  private readonly clock: () => number;
  private readonly entries = new Map<string, Entry>();
  private written = 0;
  private overflow = { count: 0, sources: 0, first: 0, last: 0 };
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly counters = { reported: 0, recorded: 0, summarised: 0, summaries: 0 };

  constructor(private readonly sink: AuditSink | undefined, private readonly opts: AuthFailureAuditOptions) {
    const int = (name: string, v: number | undefined, d: number) => {
      if (v === undefined) return d;
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`auth-failure audit option ${name}: expected a positive integer, got ${v}`);
      return v;
    };
    this.perSource = int('perSource', opts.perSource, AUTH_FAILURE_AUDIT_PER_SOURCE);
    this.windowMs = int('windowMs', opts.windowMs, AUTH_FAILURE_AUDIT_WINDOW_MS);
    this.maxSources = int('maxSources', opts.maxSources, AUTH_FAILURE_AUDIT_MAX_SOURCES);
    this.maxPerWindow = int('maxRecordsPerWindow', opts.maxRecordsPerWindow, AUTH_FAILURE_AUDIT_MAX_PER_WINDOW);
    this.clock = opts.clock ?? Date.now;
    this.timer = setInterval(() => this.endWindow(), this.windowMs).unref();
  }

  /**
   * One refused authentication. `key` groups failures (source address, fingerprint);
   * `category` names the reason in summaries ('no-certificate', 'handshake-timeout', …).
   * Returns whether it became a record of its own.
   */
  report(key: string, category: string, record: AuditInput): 'recorded' | 'counted' {
    this.counters.reported++;
    const now = this.clock();
    let e = this.entries.get(key);
    if (e === undefined) {
      if (this.entries.size >= this.maxSources) this.evictOldest();
      e = { recorded: 0, suppressed: 0, first: 0, last: 0, reasons: new Map(), reason: record.reason ?? null };
      this.entries.set(key, e);
    }
    if (!this.closed && e.recorded < this.perSource && this.written < this.maxPerWindow) {
      e.recorded++;
      this.write(record);
      this.counters.recorded++;
      return 'recorded';
    }
    if (e.suppressed === 0) e.first = now;
    e.suppressed++;
    e.last = now;
    const known = e.reasons.has(category) || e.reasons.size < MAX_REASONS_PER_SUMMARY;
    const k = known ? category : 'other';
    e.reasons.set(k, (e.reasons.get(k) ?? 0) + 1);
    this.counters.summarised++;
    if (this.closed) this.summarise(key, e);
    return 'counted';
  }

  stats(): AuthFailureAuditStats {
    return { ...this.counters, sources: this.entries.size };
  }

  /** Writes the summaries of the current window now (the timer does it every window). */
  endWindow(): void {
    // Summaries count against the window they close: with the overflow line, a window
    // never adds more than maxRecordsPerWindow + 1 records.
    for (const [key, e] of this.entries) {
      if (e.suppressed > 0) this.summarise(key, e);
      if (e.recorded === 0 && e.suppressed === 0) this.entries.delete(key); // quiet for a whole window
      else { e.recorded = 0; e.suppressed = 0; e.reasons.clear(); }
    }
    if (this.overflow.count > 0) {
      const o = this.overflow;
      this.write({
        kind: 'auth-failure', identity: null, operation: this.opts.summaryOperation, result: 'failure', reason: 'AuthenticationNotSuccessful',
        detail: `${o.count} ${this.opts.what} from ${o.sources} source(s) not recorded one by one (audit limit of ${this.maxPerWindow} records per ${this.windowMs / 1000} s, or more than ${this.maxSources} sources) between ${iso(o.first)} and ${iso(o.last)}`,
      }, true);
      this.counters.summaries++;
      this.overflow = { count: 0, sources: 0, first: 0, last: 0 };
    }
    this.written = 0;
  }

  /** Writes what is counted and stops the window timer. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.endWindow();
  }

  private summarise(key: string, e: Entry): void {
    if (this.written >= this.maxPerWindow) {
      this.addOverflow(e);
    } else {
      const reasons = [...e.reasons].map(([r, n]) => `${r} ${n}`).join(', ');
      const detail = `${e.suppressed} more ${this.opts.what} from ${key} not recorded one by one (limit ${this.perSource} per ${this.windowMs / 1000} s) between ${iso(e.first)} and ${iso(e.last)}: ${reasons}`;
      this.write({
        kind: 'auth-failure', identity: key, operation: this.opts.summaryOperation, result: 'failure', reason: e.reason ?? 'AuthenticationNotSuccessful',
        detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail,
      });
      this.counters.summaries++;
    }
    e.suppressed = 0;
    e.reasons.clear();
  }

  private addOverflow(e: Entry): void {
    const o = this.overflow;
    if (o.count === 0) o.first = e.first;
    o.count += e.suppressed;
    o.sources++;
    o.first = Math.min(o.first, e.first);
    o.last = Math.max(o.last, e.last);
  }

  private evictOldest(): void {
    const [key, e] = this.entries.entries().next().value as [string, Entry];
    if (e.suppressed > 0) this.addOverflow(e);
    this.entries.delete(key);
  }

  private write(record: AuditInput, force = false): void {
    if (!force) this.written++;
    if (!this.sink) return;
    try {
      this.sink.append(record);
    } catch (err) {
      // A failing audit log is an operator alarm (the log module never drops silently).
      this.opts.log.error({ err, event: 'audit_failed' }, 'could not append an auth-failure audit record');
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * An AuditSink that passes every record through, except `auth-failure` ones, which go
 * through an AuthFailureAuditor keyed by the record's identity (the executor refuses an
 * unknown or revoked certificate at every message: a client that keeps sending must not
 * fill the disk either).
 */
export function rateLimitedAuthFailures(sink: AuditSink, opts: Omit<AuthFailureAuditOptions, 'summaryOperation' | 'what'>): AuditSink & { auditor: AuthFailureAuditor; close(): void } {
  const auditor = new AuthFailureAuditor(sink, { ...opts, summaryOperation: 'auth-failure.summary', what: 'refused messages' });
  const limited: AuditSink & { auditor: AuthFailureAuditor; close(): void } = {
    auditor,
    append(record: AuditInput) {
      if (record.kind !== 'auth-failure') { sink.append(record); return; }
      auditor.report(record.identity ?? 'unknown', record.reason ?? 'unknown', record);
    },
    close: () => auditor.close(),
  };
  // The engine refuses service while the log cannot take records: that answer must come
  // from the real log, not from this wrapper.
  if (sink.availability) limited.availability = () => sink.availability!();
  if (sink.whenDurable) limited.whenDurable = () => sink.whenDurable!();
  return limited;
}
