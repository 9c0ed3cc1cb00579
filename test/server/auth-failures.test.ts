// Rate-limited auth-failure audit (issue 16 §1; src/server/auth-failures.ts) over a real
// SQLite audit log: the first failures of a source are records, the rest one summary per
// window with count, first/last time and reasons; memory and records are bounded.
import { describe, it, expect, afterEach } from 'vitest';
import Database from 'better-sqlite3';
import { openAuditLog, type AuditLog } from '../../src/audit/log.ts';
import { AuthFailureAuditor, rateLimitedAuthFailures } from '../../src/server/auth-failures.ts';
import { silentLogger } from '../../src/log/index.ts';

const open: Array<{ audit: AuditLog; db: Database.Database; auditor?: { close(): void } }> = [];
function world(opts: { perSource?: number; maxSources?: number; maxRecordsPerWindow?: number } = {}) {
  const db = new Database(':memory:');
  const audit = openAuditLog(db, { groupCommit: { maxRecords: 1 } });
  let now = Date.parse('2026-12-02T03:00:00.000Z');
  const clock = () => now;
  const auditor = new AuthFailureAuditor(audit, { ...opts, windowMs: 3_600_000, summaryOperation: 'tls.handshake.summary', what: 'refused TLS handshakes', log: silentLogger(), clock });
  open.push({ audit, db, auditor });
  const fail = (source: string, category = 'no-certificate') => auditor.report(source, category, {
    kind: 'auth-failure', identity: `ip:${source}`, operation: 'tls.handshake', result: 'failure', reason: 'AuthenticationNotSuccessful', detail: `${category}; from ${source}:1`,
  });
  return { audit, auditor, fail, tick: (ms: number) => { now += ms; }, records: () => audit.tail(10_000).filter((r) => r.kind === 'auth-failure') };
}
afterEach(() => {
  for (const w of open.splice(0)) { w.auditor?.close(); w.audit.close(); w.db.close(); }
});

describe('auth-failure audit rate limit', () => {
  it('records the first N of a source, then one summary per window with count, first/last time and reasons', () => {
    const w = world({ perSource: 3 });
    for (let i = 0; i < 3; i++) expect(w.fail('10.0.0.1')).toBe('recorded');
    w.tick(1000);
    for (let i = 0; i < 40; i++) { expect(w.fail('10.0.0.1', i % 4 === 0 ? 'certificate-rejected UNABLE_TO_VERIFY_LEAF_SIGNATURE' : 'no-certificate')).toBe('counted'); w.tick(10); }
    expect(w.fail('10.0.0.2')).toBe('recorded'); // another source has its own allowance
    expect(w.records()).toHaveLength(4);
    w.auditor.endWindow();
    const recs = w.records();
    expect(recs).toHaveLength(5);
    const sum = recs.at(-1)!;
    expect(sum).toMatchObject({ kind: 'auth-failure', identity: '10.0.0.1', operation: 'tls.handshake.summary', result: 'failure', reason: 'AuthenticationNotSuccessful' });
    expect(sum.detail).toContain('40 more refused TLS handshakes from 10.0.0.1 not recorded one by one (limit 3 per 3600 s)');
    expect(sum.detail).toContain('between 2026-12-02T03:00:01.000Z and 2026-12-02T03:00:01.390Z');
    expect(sum.detail).toMatch(/no-certificate 30, certificate-rejected UNABLE_TO_VERIFY_LEAF_SIGNATURE 10|certificate-rejected UNABLE_TO_VERIFY_LEAF_SIGNATURE 10, no-certificate 30/);
    // A new window: individual records again.
    expect(w.fail('10.0.0.1')).toBe('recorded');
    expect(w.audit.verify().ok).toBe(true);
    expect(w.auditor.stats()).toMatchObject({ reported: 45, recorded: 5, summarised: 40, summaries: 1 });
  });

  it('bounds the table of sources and the records per window: a flood from 5 000 addresses writes at most the cap + 1 records', () => {
    const w = world({ perSource: 2, maxSources: 100, maxRecordsPerWindow: 50 });
    for (let i = 0; i < 5000; i++) { w.fail(`10.1.${i >> 8}.${i & 255}`); w.fail(`10.1.${i >> 8}.${i & 255}`); w.fail(`10.1.${i >> 8}.${i & 255}`); }
    expect(w.auditor.stats().sources).toBeLessThanOrEqual(100);
    w.auditor.endWindow();
    const recs = w.records();
    expect(recs.length).toBeLessThanOrEqual(51);
    const overflow = recs.find((r) => r.identity === null && r.operation === 'tls.handshake.summary');
    expect(overflow?.detail).toMatch(/^\d+ refused TLS handshakes from \d+ source\(s\) not recorded one by one/);
    // Nothing lost: individual records + the counts in the summaries = every failure.
    const counted = recs.filter((r) => r.operation === 'tls.handshake.summary').reduce((n, r) => n + Number(/^(\d+)/.exec(r.detail!.replace(/^(\d+) more/, '$1'))![1]), 0);
    expect(recs.filter((r) => r.operation === 'tls.handshake').length + counted).toBe(15_000);
  });

  it('the executor path: auth-failure records of one certificate are limited, other records pass untouched', () => {
    const db = new Database(':memory:');
    const audit = openAuditLog(db, { groupCommit: { maxRecords: 1 } });
    const sink = rateLimitedAuthFailures(audit, { log: silentLogger(), perSource: 2 });
    open.push({ audit, db, auditor: sink });
    for (let i = 0; i < 25; i++) {
      sink.append({ kind: 'auth-failure', identity: 'sha256:abc', operation: 'Get', result: 'failure', reason: 'PermissionDenied', detail: 'identity x is revoked' });
      sink.append({ kind: 'kmip', identity: 'app', operation: 'Get', result: 'success' });
    }
    sink.close();
    const recs = audit.tail(100);
    expect(recs.filter((r) => r.kind === 'kmip')).toHaveLength(25);
    const af = recs.filter((r) => r.kind === 'auth-failure');
    expect(af).toHaveLength(3);
    expect(af[2]).toMatchObject({ identity: 'sha256:abc', operation: 'auth-failure.summary', reason: 'PermissionDenied' });
    expect(af[2]!.detail).toMatch(/^23 more refused messages from sha256:abc/);
  });

  it('the wrapper answers availability from the real log (the engine refuses service while it cannot write)', () => {
    let ok = true;
    const records: unknown[] = [];
    const sink = rateLimitedAuthFailures({ append: (r: unknown) => { records.push(r); }, availability: () => (ok ? { ok: true } : { ok: false, reason: 'disk full' }) } as never, { log: silentLogger() });
    open.push({ audit: { close() {} } as never, db: { close() {} } as never, auditor: sink });
    expect(sink.availability!()).toEqual({ ok: true });
    ok = false;
    expect(sink.availability!()).toEqual({ ok: false, reason: 'disk full' });
  });
});
